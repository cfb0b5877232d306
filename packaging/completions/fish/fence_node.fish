complete -c fence_node -s f -d 'cluster.conf to read (default /etc/cluster/cluster.conf)' -r
complete -c fence_node -s r -l rounds -d 'rounds over all methods before giving up (default 1; 0 = until success)' -r
complete -c fence_node -l retry-delay -d 'wait between rounds (default 5, as fenced)' -r
complete -c fence_node -s t -l agent-timeout -d 'time limit of one external agent run (default 120; 0 = none)' -r
complete -c fence_node -l post-fail-delay -d 'wait the configuration\'s post_fail_delay before the first round'
complete -c fence_node -s v -d 'log what the agents do'
complete -c fence_node -s h -d 'print this help'
complete -c fence_node -s V -d 'print the version'
