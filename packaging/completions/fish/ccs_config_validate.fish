complete -c ccs_config_validate -s f -d 'validate FILE (default /etc/cluster/cluster.conf)' -r
complete -c ccs_config_validate -s R -d 'also require config_version to be newer than OLD_VERSION' -r
complete -c ccs_config_validate -s q -d 'quiet: print nothing, report through the exit status'
complete -c ccs_config_validate -l json -d 'print the findings as JSON'
complete -c ccs_config_validate -s V -l version -d 'print the version and exit'
complete -c ccs_config_validate -s h -d 'this help'
