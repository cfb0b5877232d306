//! `name_httpd NAME [PORT]`: a tiny HTTP server that answers every request with `NAME\n`, on
//! every address of its host (so also on a floating IP added later), port 80 by default. The
//! web service of the end-to-end tests: the client knows which node answered.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

fn answer(mut s: TcpStream, body: &[u8]) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 1024];
    let mut seen = Vec::new();
    // Read the request head (up to the blank line), then answer and close.
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 16 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let head = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        eprintln!("usage: name_httpd NAME [PORT]");
        std::process::exit(2);
    };
    let port: u16 = match args.get(1).map(|p| p.parse()) {
        None => 80,
        Some(Ok(p)) => p,
        Some(Err(_)) => {
            eprintln!("name_httpd: bad port {:?}", args[1]);
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("name_httpd: cannot listen on port {port}: {e}");
            std::process::exit(1);
        }
    };
    let body: &'static [u8] = Box::leak(format!("{name}\n").into_bytes().into_boxed_slice());
    for s in listener.incoming().flatten() {
        std::thread::spawn(move || answer(s, body));
    }
}
