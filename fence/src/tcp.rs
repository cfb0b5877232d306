//! TCP for the agents that hold a dialog with their device (`fence_apc` over telnet or SSH,
//! `fence_virsh` over SSH): connecting within a time limit, and never making the device wait for
//! our acknowledgements.
//!
//! A device often writes one answer in several pieces: an embedded telnet server in character
//! mode echoes each input character with a write of its own and writes its screen line by line;
//! OpenSSH's sshd leaves Nagle's algorithm on for a session without a pty (fence_virsh's remote
//! shell). Nagle holds every piece after the first until we acknowledge the first one, and
//! Linux delays that ACK (40 ms at least) once a connection has turned interactive, which ours
//! does with our first command. Left alone, every screen or command answer would wait for our
//! delayed-ACK timer. [`ack_now`] after each read sends the pending ACK at once and takes the
//! connection out of delayed-ACK mode; the mode is not sticky (the kernel re-enters it when we
//! send our next command within the ACK timeout), hence once per read. `TCP_NODELAY` on our side
//! keeps our own pieces (a telnet option reply, then a command) from waiting on the device's
//! delayed ACKs in turn.

use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::agent::FenceError;

/// Connect to `host:port` (every address it resolves to, in order) within `limit` each (None:
/// the system's own limit); the stream comes back with `TCP_NODELAY` set.
pub fn connect(host: &str, port: u16, limit: Option<Duration>) -> Result<TcpStream, FenceError> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| FenceError::Login(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = None;
    for a in addrs {
        let r = match limit {
            Some(t) if !t.is_zero() => TcpStream::connect_timeout(&a, t),
            _ => TcpStream::connect(a),
        };
        match r {
            Ok(s) => {
                if let Err(e) = s.set_nodelay(true) {
                    tracing::debug!(error = %e, "TCP_NODELAY not set");
                }
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(FenceError::Login(match last {
        Some(e) => format!("cannot connect: {e}"),
        None => format!("{host} has no address"),
    }))
}

/// Acknowledge what has been received now rather than when the delayed-ACK timer fires
/// (`TCP_QUICKACK`): call after every read. A failure only costs time, so it is not an error.
/// (`fence::ssh` calls it from libssh2's receive callback, on the bare descriptor.)
pub fn ack_now(socket: &impl AsRawFd) {
    if let Err(e) = set_quickack(socket, true) {
        tracing::trace!(error = %e, "TCP_QUICKACK not set");
    }
}

fn set_quickack(socket: &impl AsRawFd, on: bool) -> std::io::Result<()> {
    let v: libc::c_int = on.into();
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live c_int; a bad fd or a
    // socket that is not TCP only makes it return an error.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Test support: whether `socket` is out of delayed-ACK mode (TCP_QUICKACK reads 1), and
/// putting it back in (what sending right after receiving does).
#[cfg(test)]
pub(crate) mod probe {
    use std::os::fd::AsRawFd;

    pub fn quickack(s: &impl AsRawFd) -> libc::c_int {
        let mut v: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let r = unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0);
        v
    }

    pub fn delay_acks(s: &impl AsRawFd) {
        super::set_quickack(s, false).unwrap();
        assert_eq!(quickack(s), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::probe::{delay_acks, quickack};
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// The kernel's own view: a connection put in delayed-ACK mode (TCP_QUICKACK 0, what an
    /// interactive exchange leads to) is out of it right after `ack_now`, and the stream still
    /// carries data both ways.
    #[test]
    fn ack_now_leaves_delayed_ack_mode_and_connect_sets_nodelay() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut c = connect("127.0.0.1", port, Some(Duration::from_secs(2))).unwrap();
        assert!(c.nodelay().unwrap());
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"screen").unwrap();
        let mut buf = [0u8; 6];
        c.read_exact(&mut buf).unwrap();
        delay_acks(&c);
        ack_now(&c);
        assert_eq!(quickack(&c), 1);
        c.write_all(b"1\r\n").unwrap();
        let mut buf = [0u8; 3];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"1\r\n");
    }

    #[test]
    fn connect_errors_are_login_failures() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = connect("127.0.0.1", port, None).unwrap_err();
        assert!(
            matches!(&e, FenceError::Login(m) if m.starts_with("cannot connect:")),
            "{e:?}"
        );
        let e = connect("no-such-host.invalid", 23, None).unwrap_err();
        assert!(
            matches!(&e, FenceError::Login(m) if m.starts_with("cannot resolve no-such-host.invalid")),
            "{e:?}"
        );
    }
}
