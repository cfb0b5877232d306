//! `fence_virsh`: the native libvirt-over-SSH fence agent (see `fence::agents::virsh`).

fn main() {
    std::process::exit(fence::cli::main(&fence::agents::virsh::SPEC));
}
