complete -c rgm_keygen -s k -d 'Where to write the key' -r -F
complete -c rgm_keygen -s l -d 'Key length in bytes' -r
complete -c rgm_keygen -s f -d 'Replace an existing key file'
complete -c rgm_keygen -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rgm_keygen -s V -l version -d 'Print version'
