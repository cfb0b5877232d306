//! Free port pairs on loopback for clusters started on one machine (the demo, the tests): a
//! membership port and the next one, where the daemon's messages (UDP) and configuration sync
//! (TCP) listen.
//!
//! The ports are picked below the kernel's ephemeral range (`ip_local_port_range`), not by
//! binding port 0: a port handed out by the kernel is free only until the next outgoing
//! connection of any process takes it, and between the pick and the daemon's bind that happened
//! (a TCP client's ephemeral port on the daemon's sync port: "Address already in use"). Below
//! that range only a program that asks for a port by number can take it, and the start is
//! random, so concurrent pickers rarely try the same ports at all.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

/// The lowest port tried.
const LOW: u16 = 10_000;

/// `n` ports `p` such that UDP `p`, UDP `p + 1` and TCP `p + 1` are free on 127.0.0.1, no two
/// pairs overlapping. The sockets of each pair are held while the next ones are picked.
pub fn free_port_pairs(n: usize) -> io::Result<Vec<u16>> {
    let high = ephemeral_low().saturating_sub(2);
    let span = u64::from(high.saturating_sub(LOW));
    if span < 64 {
        return ephemeral_pairs(n);
    }
    let mut x = seed();
    let mut held: Vec<(UdpSocket, UdpSocket, TcpListener)> = Vec::new();
    let mut ports = Vec::new();
    let mut tries = 0u32;
    while ports.len() < n {
        tries += 1;
        if tries > 10_000 {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "no free port pair found on 127.0.0.1",
            ));
        }
        // xorshift64: cheap, and distinct processes start from distinct seeds.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = LOW + (x % span) as u16;
        if ports.iter().any(|q: &u16| p.abs_diff(*q) < 2) {
            continue;
        }
        if let Ok(pair) = bind_pair(p) {
            held.push(pair);
            ports.push(p);
        }
    }
    Ok(ports)
}

fn bind_pair(p: u16) -> io::Result<(UdpSocket, UdpSocket, TcpListener)> {
    let at = |port: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    Ok((
        UdpSocket::bind(at(p))?,
        UdpSocket::bind(at(p + 1))?,
        TcpListener::bind(at(p + 1))?,
    ))
}

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|w| w.parse().ok()))
        .unwrap_or(32_768)
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let s = nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    if s == 0 {
        1
    } else {
        s
    }
}

/// Where the ephemeral range starts too low to stay below it: ports the kernel hands out.
fn ephemeral_pairs(n: usize) -> io::Result<Vec<u16>> {
    let mut held = Vec::new();
    let mut ports: Vec<u16> = Vec::new();
    for _ in 0..10_000 {
        if ports.len() == n {
            return Ok(ports);
        }
        let p = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?
            .local_addr()?
            .port();
        if p >= u16::MAX - 1 || ports.iter().any(|q| p.abs_diff(*q) < 2) {
            continue;
        }
        if let Ok(pair) = bind_pair(p) {
            held.push(pair);
            ports.push(p);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port pair found on 127.0.0.1",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_distinct_free_and_below_the_ephemeral_range() {
        let ports = free_port_pairs(16).unwrap();
        assert_eq!(ports.len(), 16);
        for (i, p) in ports.iter().enumerate() {
            for q in &ports[i + 1..] {
                assert!(p.abs_diff(*q) >= 2, "{ports:?}");
            }
            assert!(*p + 1 < ephemeral_low() || ephemeral_low() < LOW + 66);
            // Released on return: a daemon can bind them.
            bind_pair(*p).unwrap();
        }
    }
}
