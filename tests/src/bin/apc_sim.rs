//! `apc_sim --dialect v3|v6 [--port N] [--user U] [--password P] [--outlets N] [--state-file F]
//! [--char-mode] [--stdio]`: the APC switch simulator (`cluster_tests::apc_sim`) on 127.0.0.1;
//! prints `listening PORT`. With `--stdio`, one already logged-in session on stdin/stdout instead
//! (the console of a unit reached by SSH: run it as the login's `ForceCommand`). With
//! `--char-mode`, the unit writes as a telnet server in character mode on an ordinary TCP stack
//! (an echo write per input character, a write per screen line, Nagle on): every screen waits
//! for the client's ACK of its first byte (`apc_sim::Writes::CharMode`).

use std::io::Write;

use cluster_tests::apc_sim::{outlets, serve_stdio, serve_writes, Config, Dialect, Writes};

fn main() {
    let mut cfg = Config {
        dialect: Dialect::V3,
        user: "apc".into(),
        password: "apc".into(),
        outlets: 8,
        state_file: None,
    };
    let mut port: u16 = 0;
    let mut stdio = false;
    let mut writes = Writes::Whole;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || match it.next() {
            Some(v) => v.clone(),
            None => {
                eprintln!("apc_sim: {a} needs a value");
                std::process::exit(1);
            }
        };
        let bad = |what: &str| -> ! {
            eprintln!("apc_sim: bad {what}");
            std::process::exit(1)
        };
        match a.as_str() {
            "--dialect" => {
                cfg.dialect = match value().as_str() {
                    "v3" => Dialect::V3,
                    "v6" => Dialect::V6,
                    _ => bad("dialect (v3 or v6)"),
                }
            }
            "--port" => port = value().parse().unwrap_or_else(|_| bad("port")),
            "--user" => cfg.user = value(),
            "--password" => cfg.password = value(),
            "--outlets" => cfg.outlets = value().parse().unwrap_or_else(|_| bad("outlet count")),
            "--state-file" => cfg.state_file = Some(value().into()),
            "--stdio" => stdio = true,
            "--char-mode" => writes = Writes::CharMode,
            other => bad(&format!("argument {other}")),
        }
    }
    if stdio {
        if let Err(e) = serve_stdio(cfg, writes) {
            eprintln!("apc_sim: {e}");
            std::process::exit(1);
        }
        return;
    }
    let listener = match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("apc_sim: cannot listen on port {port}: {e}");
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    println!("listening {port}");
    let _ = std::io::stdout().flush();
    let shared = outlets(cfg.outlets);
    serve_writes(listener, cfg, shared, None, writes);
}
