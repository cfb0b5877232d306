complete -c fence_virsh -s a -l ip -d 'IP address or hostname of fencing device' -r
complete -c fence_virsh -s u -l ipport -d 'TCP/UDP port to use for connection with device' -r
complete -c fence_virsh -s l -l username -d 'Login name' -r
complete -c fence_virsh -s p -l password -d 'Login password or passphrase' -r
complete -c fence_virsh -s S -l password-script -d 'Script to run to retrieve password' -r
complete -c fence_virsh -s n -l plug -d 'Physical plug number on device, UUID or identification of machine' -r
complete -c fence_virsh -l plug-separator -d 'Separator for plug parameter when specifying more than 1 plug' -r
complete -c fence_virsh -s C -l separator -d 'Separator for CSV created by \'list\' operation' -r
complete -c fence_virsh -s k -l identity-file -d 'Identity file (private key) for SSH' -r
complete -c fence_virsh -l ssh-options -d 'SSH options to use' -r
complete -c fence_virsh -s c -l command-prompt -d 'Force Python regex for command prompt (accepted for compatibility; the native agent runs commands without a shell prompt)' -r
complete -c fence_virsh -l sudo-path -d 'Path to sudo binary' -r
complete -c fence_virsh -l known-hosts -d 'known_hosts file the SSH host key is checked against (default: ~/.ssh/known_hosts, or UserKnownHostsFile from --ssh-options)' -r
complete -c fence_virsh -s o -l action -d 'Fencing action' -r
complete -c fence_virsh -s D -l debug-file -d 'Write debug information to given file' -r
complete -c fence_virsh -l delay -d 'Wait X seconds before fencing is started' -r
complete -c fence_virsh -l disable-timeout -d 'Disable timeout (true/false) (default: true when run from Pacemaker 2.0+)' -r
complete -c fence_virsh -l login-timeout -d 'Wait X seconds for cmd prompt after login' -r
complete -c fence_virsh -l power-timeout -d 'Test X seconds for status change after ON/OFF' -r
complete -c fence_virsh -l power-wait -d 'Wait X seconds after issuing ON/OFF' -r
complete -c fence_virsh -l shell-timeout -d 'Wait X seconds for cmd prompt after issuing command' -r
complete -c fence_virsh -l stonith-status-sleep -d 'Sleep X seconds between status calls during a STONITH action' -r
complete -c fence_virsh -l retry-on -d 'Count of attempts to retry power on' -r
complete -c fence_virsh -s x -l ssh -d 'Use SSH connection'
complete -c fence_virsh -l use-sudo -d 'Use sudo (without password) when calling 3rd party software'
complete -c fence_virsh -l missing-as-off -d 'Missing port returns OFF instead of failure'
complete -c fence_virsh -l accept-new-host-key -d 'Accept an SSH host key that is not yet in known_hosts and record it there (a changed key is still refused)'
complete -c fence_virsh -s q -l quiet -d 'Disable logging to stderr. Does not affect --verbose or --debug-file or logging to syslog.'
complete -c fence_virsh -s v -l verbose -d 'Verbose mode. Multiple -v flags can be stacked on the command line (e.g., -vvv) to increase verbosity.'
complete -c fence_virsh -l verbose-level -d 'Level of debugging detail in output. Defaults to the number of --verbose flags specified on the command line, or to 1 if verbose=1 in a stonith device configuration (i.e., on stdin).'
complete -c fence_virsh -s V -l version -d 'Display version information and exit'
complete -c fence_virsh -s h -l help -d 'Display help and exit'
