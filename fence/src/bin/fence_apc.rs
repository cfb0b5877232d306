//! `fence_apc`: the native APC switch fence agent (see `fence::agents::apc`).

fn main() {
    std::process::exit(fence::cli::main(&fence::agents::apc::SPEC));
}
