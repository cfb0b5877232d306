complete -c fence_ipmilan -s a -l ip -d 'IP address or hostname of fencing device' -r
complete -c fence_ipmilan -s u -l ipport -d 'TCP/UDP port to use for connection with device' -r
complete -c fence_ipmilan -s l -l username -d 'Login name' -r
complete -c fence_ipmilan -s p -l password -d 'Login password or passphrase' -r
complete -c fence_ipmilan -s S -l password-script -d 'Script to run to retrieve password' -r
complete -c fence_ipmilan -s n -l plug -d 'Physical plug number on device, UUID or identification of machine' -r
complete -c fence_ipmilan -l plug-separator -d 'Separator for plug parameter when specifying more than 1 plug' -r
complete -c fence_ipmilan -s A -l auth -d 'IPMI Lan Auth type.' -r
complete -c fence_ipmilan -s C -l cipher -d 'Ciphersuite to use (same as ipmitool -C parameter)' -r
complete -c fence_ipmilan -s L -l privlvl -d 'Privilege level on IPMI device' -r
complete -c fence_ipmilan -s m -l method -d 'Method to fence' -r
complete -c fence_ipmilan -l hexadecimal-kg -d 'Hexadecimal-encoded Kg key for IPMIv2 authentication' -r
complete -c fence_ipmilan -l target -d 'Bridge IPMI requests to the remote target address' -r
complete -c fence_ipmilan -l ipmitool-path -d 'Path to ipmitool binary (accepted for compatibility; the native agent does not use it)' -r
complete -c fence_ipmilan -l ipmitool-timeout -d 'Timeout (sec) for IPMI operation' -r
complete -c fence_ipmilan -l sudo-path -d 'Path to sudo binary' -r
complete -c fence_ipmilan -s o -l action -d 'Fencing action' -r
complete -c fence_ipmilan -s D -l debug-file -d 'Write debug information to given file' -r
complete -c fence_ipmilan -l delay -d 'Wait X seconds before fencing is started' -r
complete -c fence_ipmilan -l disable-timeout -d 'Disable timeout (true/false) (default: true when run from Pacemaker 2.0+)' -r
complete -c fence_ipmilan -l login-timeout -d 'Wait X seconds for cmd prompt after login' -r
complete -c fence_ipmilan -l power-timeout -d 'Test X seconds for status change after ON/OFF' -r
complete -c fence_ipmilan -l power-wait -d 'Wait X seconds after issuing ON/OFF' -r
complete -c fence_ipmilan -l shell-timeout -d 'Wait X seconds for cmd prompt after issuing command' -r
complete -c fence_ipmilan -l stonith-status-sleep -d 'Sleep X seconds between status calls during a STONITH action' -r
complete -c fence_ipmilan -l retry-on -d 'Count of attempts to retry power on' -r
complete -c fence_ipmilan -l port-as-ip -d 'Make "port/plug" to be an alias to IP address'
complete -c fence_ipmilan -s P -l lanplus -d 'Use Lanplus to improve security of connection'
complete -c fence_ipmilan -l use-sudo -d 'Use sudo (without password) when calling 3rd party software'
complete -c fence_ipmilan -s q -l quiet -d 'Disable logging to stderr. Does not affect --verbose or --debug-file or logging to syslog.'
complete -c fence_ipmilan -s v -l verbose -d 'Verbose mode. Multiple -v flags can be stacked on the command line (e.g., -vvv) to increase verbosity.'
complete -c fence_ipmilan -l verbose-level -d 'Level of debugging detail in output. Defaults to the number of --verbose flags specified on the command line, or to 1 if verbose=1 in a stonith device configuration (i.e., on stdin).'
complete -c fence_ipmilan -s V -l version -d 'Display version information and exit'
complete -c fence_ipmilan -s h -l help -d 'Display help and exit'
