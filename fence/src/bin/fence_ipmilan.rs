//! `fence_ipmilan`: the native IPMI-over-LAN fence agent (see `fence::agents::ipmilan`).

fn main() {
    std::process::exit(fence::cli::main(&fence::agents::ipmilan::SPEC));
}
