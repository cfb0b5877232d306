complete -c clustat -s i -d 'Refresh every <interval> seconds. May not be used with -x.' -r
complete -c clustat -s m -d 'Display status of <member> and exit' -r
complete -c clustat -s s -d 'Display status of <service> and exit' -r
complete -c clustat -l socket -d 'Talk to the daemon listening on <path>' -r
complete -c clustat -s I -d 'Display local node ID and exit'
complete -c clustat -s v -d 'Display version and exit'
complete -c clustat -s x -d 'Dump information as XML'
complete -c clustat -s Q -d 'Return 0 if quorate, 1 if not (no output)'
complete -c clustat -s f -d 'Enable fast clustat reports'
complete -c clustat -s l -d 'Use long format for services'
complete -c clustat -l json -d 'Dump information as JSON'
complete -c clustat -l version -d 'Display version and exit'
