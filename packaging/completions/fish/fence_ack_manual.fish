complete -c fence_ack_manual -l socket -d 'Talk to the daemon listening on PATH' -r -F
complete -c fence_ack_manual -s n -d 'Accepted for compatibility with `fence_ack_manual -n NODE`'
complete -c fence_ack_manual -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fence_ack_manual -s V -l version -d 'Print version'
