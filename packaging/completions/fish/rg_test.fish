# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_rg_test_global_optspecs
    string join \n h/help V/version
end

function __fish_rg_test_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_rg_test_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rg_test_using_subcommand
    set -l cmd (__fish_rg_test_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c rg_test -n "__fish_rg_test_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rg_test -n "__fish_rg_test_needs_command" -s V -l version -d 'Print version'
complete -c rg_test -n "__fish_rg_test_needs_command" -f -a "test" -d 'Show the resources and trees of FILE, or run an operation on one resource here'
complete -c rg_test -n "__fish_rg_test_needs_command" -f -a "noop" -d 'Print the agent calls an operation would make, in order, without running them'
complete -c rg_test -n "__fish_rg_test_needs_command" -f -a "rules" -d 'Print the resource types and the order of their children'
complete -c rg_test -n "__fish_rg_test_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rg_test -n "__fish_rg_test_using_subcommand test" -s h -l help -d 'Print help'
complete -c rg_test -n "__fish_rg_test_using_subcommand noop" -s h -l help -d 'Print help'
complete -c rg_test -n "__fish_rg_test_using_subcommand rules" -s h -l help -d 'Print help'
complete -c rg_test -n "__fish_rg_test_using_subcommand help; and not __fish_seen_subcommand_from test noop rules help" -f -a "test" -d 'Show the resources and trees of FILE, or run an operation on one resource here'
complete -c rg_test -n "__fish_rg_test_using_subcommand help; and not __fish_seen_subcommand_from test noop rules help" -f -a "noop" -d 'Print the agent calls an operation would make, in order, without running them'
complete -c rg_test -n "__fish_rg_test_using_subcommand help; and not __fish_seen_subcommand_from test noop rules help" -f -a "rules" -d 'Print the resource types and the order of their children'
complete -c rg_test -n "__fish_rg_test_using_subcommand help; and not __fish_seen_subcommand_from test noop rules help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
