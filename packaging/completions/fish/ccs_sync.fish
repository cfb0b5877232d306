complete -c ccs_sync -s f -d 'The configuration to push' -r -F
complete -c ccs_sync -l socket -d 'Talk to the daemon listening on PATH' -r -F
complete -c ccs_sync -l check -d 'Only report each node\'s config_version'
complete -c ccs_sync -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ccs_sync -s V -l version -d 'Print version'
