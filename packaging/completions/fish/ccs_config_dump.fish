complete -c ccs_config_dump -s f -d 'dump FILE (default /etc/cluster/cluster.conf)' -r
complete -c ccs_config_dump -s o -d 'write OUTPUT (whole, replaced atomically) instead of printing' -r
complete -c ccs_config_dump -l corosync -d 'print the corosync.conf generated from FILE'
complete -c ccs_config_dump -s V -l version -d 'print the version and exit'
complete -c ccs_config_dump -s h -d 'this help'
