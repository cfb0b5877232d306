complete -c clusvcadm -s d -d 'Disable <group>. This stops a group until an administrator enables it again, the cluster loses and regains quorum, or an administrator-defined event script explicitly enables it again.' -r
complete -c clusvcadm -s e -d 'Enable <group>' -r
complete -c clusvcadm -s m -d 'Enable <group> on <member>' -r
complete -c clusvcadm -s r -d 'Relocate <group> [to <member>] Stops a group and starts it on another cluster member.' -r
complete -c clusvcadm -s M -d 'Migrate <group> to <member> (e.g. for live migration of VMs)' -r
complete -c clusvcadm -s R -d 'Restart a group in place.' -r
complete -c clusvcadm -s s -d 'Stop <group>. This temporarily stops a group. After the next group or or cluster member transition, the group will be restarted (if possible).' -r
complete -c clusvcadm -s Z -d 'Freeze resource group. This prevents transitions and status checks, and is useful if an administrator needs to administer part of a service without stopping the whole service.' -r
complete -c clusvcadm -s U -d 'Unfreeze (thaw) resource group. Restores a group to normal operation.' -r
complete -c clusvcadm -s c -d 'Convalesce (repair, fix) resource group. Attempts to start failed, non-critical resources within a resource group.' -r
complete -c clusvcadm -l socket -d 'Talk to the daemon listening on <path>' -r
complete -c clusvcadm -s v -d 'Display version and exit'
complete -c clusvcadm -s F -d 'Enable <group> according to failover domain rules (deprecated; always the case when using central processing)'
complete -c clusvcadm -s q -d 'Quiet operation'
complete -c clusvcadm -s l -d 'Lock local resource group managers. This prevents resource groups from starting.'
complete -c clusvcadm -s S -d 'Show lock state'
complete -c clusvcadm -s u -d 'Unlock resource group managers. This allows resource groups to start.'
complete -c clusvcadm -l version -d 'Display version and exit'
