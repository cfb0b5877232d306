complete -c rgmanager-demo -s f -d 'The cluster.conf --describe shows' -r -F
complete -c rgmanager-demo -l exit -d 'Stop the cluster after the show'
complete -c rgmanager-demo -l describe -d 'Validate the sample (or FILE) and show its model; starts nothing'
complete -c rgmanager-demo -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rgmanager-demo -s V -l version -d 'Print version'
