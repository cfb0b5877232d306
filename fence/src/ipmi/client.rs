//! The I/O edge of IPMI: one UDP socket driving a [`Session`] with real time. Everything protocol
//! lives in the session; this only sends, receives, waits for deadlines and treats ICMP errors as
//! lost datagrams (a BMC that is rebooting answers "port unreachable" for a while).

use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use super::packet::IpmiResponse;
use super::session::{OsEntropy, Output, Session, SessionConfig, SessionError};

/// Why talking to the BMC failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address does not resolve.
    #[error("cannot resolve address: {0}")]
    Resolve(String),
    /// A socket operation failed.
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    /// The session failed (timeout, refusal, authentication).
    #[error("{0}")]
    Session(#[from] SessionError),
}

/// Resolve `host` within `timeout`: name lookup is a network step too, and a dead DNS server can
/// block `getaddrinfo` far longer than a fence action may take. A lookup that overruns is left
/// behind in its thread; the process ends soon after anyway. An address literal (what fencing
/// configurations mostly give) needs no lookup and no thread.
fn resolve(host: &str, port: u16, timeout: Duration) -> Result<SocketAddr, ClientError> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_string();
    std::thread::spawn(move || {
        let r = (name.as_str(), port)
            .to_socket_addrs()
            .map(|mut a| a.next());
        let _ = tx.send(r);
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(Some(a))) => Ok(a),
        Ok(Ok(None)) => Err(ClientError::Resolve(format!("{host}: no address"))),
        Ok(Err(e)) => Err(ClientError::Resolve(format!("{host}: {e}"))),
        Err(_) => Err(ClientError::Resolve(format!(
            "{host}: no answer within {} s",
            timeout.as_secs_f64()
        ))),
    }
}

/// An open RMCP+ session over UDP.
pub struct Client {
    sock: UdpSocket,
    session: Session,
}

impl Client {
    /// Resolve `host:port`, run the handshake and return the established session.
    pub fn connect(host: &str, port: u16, cfg: SessionConfig) -> Result<Client, ClientError> {
        let peer = resolve(host, port, cfg.retransmit * cfg.attempts)?;
        let local: SocketAddr = if peer.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .map_err(|_| ClientError::Resolve(host.to_string()))?;
        let sock = UdpSocket::bind(local)?;
        // Connected: the kernel drops datagrams from anyone but the BMC.
        sock.connect(peer)?;
        let session = Session::new(cfg, Box::new(OsEntropy))?;
        let mut c = Client { sock, session };
        let first = c.session.start(Instant::now())?;
        match c.drive(first)? {
            Output::Established => Ok(c),
            _ => Err(SessionError::NotReady("requests").into()),
        }
    }

    /// Send one request and wait for its response (with retransmissions).
    pub fn request(
        &mut self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
    ) -> Result<IpmiResponse, ClientError> {
        let dg = self.session.request(Instant::now(), netfn, cmd, data)?;
        match self.drive(dg)? {
            Output::Response(r) => Ok(r),
            _ => Err(SessionError::NotReady("a response").into()),
        }
    }

    /// Close the session; errors are only logged (the BMC expires sessions on its own).
    pub fn close(&mut self) {
        match self.session.close(Instant::now()) {
            Ok(Some(dg)) => {
                if let Err(e) = self.drive(dg) {
                    tracing::debug!(error = %e, "Close Session failed");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "Close Session failed"),
        }
    }

    fn send(&self, dg: &[u8]) {
        // A failed send is a lost datagram: the retransmission timer covers it.
        if let Err(e) = self.sock.send(dg) {
            tracing::debug!(error = %e, "send failed");
        }
    }

    /// Send `dg`, then exchange datagrams until the session reports something other than
    /// "keep going".
    fn drive(&mut self, dg: Vec<u8>) -> Result<Output, ClientError> {
        self.send(&dg);
        let mut buf = [0u8; 1024];
        loop {
            let Some(deadline) = self.session.deadline() else {
                // Only a timed-out Close Session ends without a deadline and without an error.
                return Ok(Output::Closed);
            };
            let now = Instant::now();
            if now >= deadline {
                if let Some(dg) = self.session.handle_timeout(now)? {
                    self.send(&dg);
                }
                continue;
            }
            self.sock.set_read_timeout(Some(deadline - now))?;
            match self.sock.recv(&mut buf) {
                Ok(n) => match self.session.handle_datagram(Instant::now(), &buf[..n])? {
                    Output::Nothing => {}
                    Output::Send(dg) => self.send(&dg),
                    done => return Ok(done),
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    // ICMP port unreachable: count it as a lost datagram and wait for the timer.
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_literals_resolve_without_a_lookup() {
        let t = Duration::from_secs(1);
        assert_eq!(
            resolve("127.0.0.1", 623, t).unwrap(),
            "127.0.0.1:623".parse().unwrap()
        );
        assert_eq!(
            resolve("::1", 9623, t).unwrap(),
            "[::1]:9623".parse().unwrap()
        );
        assert_eq!(
            resolve("[fe80::1]", 623, t).unwrap(),
            "[fe80::1]:623".parse().unwrap()
        );
        assert_eq!(resolve("localhost", 623, t).unwrap().port(), 623);
        assert!(matches!(
            resolve("no-such-host.invalid", 623, t),
            Err(ClientError::Resolve(_))
        ));
    }
}
