//! `fence_node NODE [-f cluster.conf]`: fence one node as cluster.conf says (see `fence::node_cli`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = fence::node_cli::run(&args, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}
