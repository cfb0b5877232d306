complete -c rgmanager -s f -l config -d 'Cluster configuration' -r -F
complete -c rgmanager -l node -d 'This node\'s name in cluster.conf (default: found from the host name and addresses, as cman did)' -r
complete -c rgmanager -l state-dir -d 'Where the pid file lives' -r -F
complete -c rgmanager -l socket -d 'Admin socket for clustat and clusvcadm' -r -F
complete -c rgmanager -l key -d 'Cluster key' -r -F
complete -c rgmanager -l engine -d 'Membership engine: embedded (rgmanager\'s own) or corosync (CPG and votequorum of the corosync running on this node). Default: <cman engine> of cluster.conf, else embedded' -r -f -a "embedded\t''
corosync\t''"
complete -c rgmanager -l admin-group -d 'The group whose members may change things through the admin socket besides root (relocate, disable, push configurations, acknowledge fencing); everyone else may only read the status. Default: haclient when it exists, else the socket directory\'s group' -r
complete -c rgmanager -s F -l foreground -d 'Stay in the foreground (the only mode: accepted for compatibility)'
complete -c rgmanager -s d -l debug -d 'Debug logging'
complete -c rgmanager -s N -d 'Do not stop every service at start-up (the initial stop makes sure nothing a previous run left is running unknown to the cluster)'
complete -c rgmanager -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rgmanager -s V -l version -d 'Print version'
