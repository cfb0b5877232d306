complete -c ccs_config_dump -s f -d 'dump FILE (default /etc/cluster/cluster.conf)' -r
complete -c ccs_config_dump -s V -l version -d 'print the version and exit'
complete -c ccs_config_dump -s h -d 'this help'
