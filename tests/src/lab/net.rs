//! The observer's two views of the floating address, neither of which asks a daemon:
//!
//! - [`AddrSocket`]: a rtnetlink socket opened inside a host's namespace and kept, so that one
//!   sweep over every host (an address dump each) takes well under a millisecond; holders seen
//!   in one sweep held the address at the same moment, near enough (an address moves only
//!   after its old holder was powered off or stopped, which takes far longer than a sweep).
//! - [`ArpProbe`]: from the client's namespace, an ARP request for the address every round, and
//!   every answer collected: two hardware addresses answering one request are two hosts that
//!   hold the address (the kernel answers even for a host whose processes are stopped).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::hosts::{in_netns, HostError, Result};

fn io(what: &str, source: std::io::Error) -> HostError {
    HostError::Io {
        what: what.to_string(),
        source,
    }
}

/// A rtnetlink socket living in one host's namespace.
pub struct AddrSocket {
    socket: Socket,
    seq: u32,
}

impl AddrSocket {
    /// Opens the socket in namespace `ns` (sockets stay in the namespace they were made in).
    pub fn open(ns: &str) -> Result<AddrSocket> {
        let socket = in_netns(Some(ns), || -> std::io::Result<Socket> {
            let mut s = Socket::new(NETLINK_ROUTE)?;
            s.bind_auto()?;
            s.connect(&SocketAddr::new(0, 0))?;
            Ok(s)
        })?
        .map_err(|e| io(&format!("netlink socket in {ns}"), e))?;
        // A dump is answered at once; never wait for ever on a lost one.
        let tv = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: setsockopt on a socket we own with a timeval of the right size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io("SO_RCVTIMEO", std::io::Error::last_os_error()));
        }
        Ok(AddrSocket { socket, seq: 0 })
    }

    /// The IPv4 addresses of every interface of the namespace, now.
    pub fn v4(&mut self) -> std::io::Result<Vec<Ipv4Addr>> {
        self.seq = self.seq.wrapping_add(1);
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        let mut packet = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::from(RouteNetlinkMessage::GetAddress(m)),
        );
        packet.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        packet.header.sequence_number = self.seq;
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut out = Vec::new();
        let mut rx = vec![0u8; 64 * 1024];
        loop {
            let size = self.socket.recv(&mut &mut rx[..], 0)?;
            let mut offset = 0;
            while offset < size {
                let msg: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&rx[offset..size]).map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                    })?;
                let len = msg.header.length as usize;
                // An answer to an earlier dump that timed out: skip it.
                let ours = msg.header.sequence_number == self.seq;
                match msg.payload {
                    NetlinkPayload::Done(_) if ours => return Ok(out),
                    NetlinkPayload::Error(e) if ours => {
                        return Err(e.to_io());
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) if ours => {
                        for attr in a.attributes {
                            if let AddressAttribute::Local(IpAddr::V4(ip)) = attr {
                                out.push(ip);
                            }
                        }
                    }
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }
}

/// A host's `eth0` hardware address, as `ip -o link` shows it (`aa:bb:…`).
pub fn mac(ns: &str) -> Result<[u8; 6]> {
    let out = crate::hosts::run("ip", &["-n", ns, "-o", "link", "show", "dev", "eth0"])?;
    let text = out
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_default();
    parse_mac(text).ok_or_else(|| HostError::Command {
        command: format!("ip -n {ns} link show dev eth0"),
        stderr: format!("no hardware address in {out:?}"),
    })
}

pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut parts = text.split(':');
    for b in m.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

pub fn show_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

const ETH_P_ARP: u16 = 0x0806;

/// An ARP request from `sha`/`spa` for `tpa` (the 28-byte payload; the kernel adds the
/// Ethernet header of a `SOCK_DGRAM` packet socket).
pub fn arp_request(sha: &[u8; 6], spa: Ipv4Addr, tpa: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    p[8..14].copy_from_slice(sha);
    p[14..18].copy_from_slice(&spa.octets());
    p[24..28].copy_from_slice(&tpa.octets());
    p
}

/// An ARP payload's (operation, sender hardware address, sender protocol address).
pub fn arp_sender(p: &[u8]) -> Option<(u16, [u8; 6], Ipv4Addr)> {
    if p.len() < 28 || p[4] != 6 || p[5] != 4 {
        return None;
    }
    let op = u16::from_be_bytes([p[6], p[7]]);
    let mut sha = [0u8; 6];
    sha.copy_from_slice(&p[8..14]);
    let spa = Ipv4Addr::new(p[14], p[15], p[16], p[17]);
    Some((op, sha, spa))
}

/// A packet socket on the client's `eth0` that asks who has the address.
pub struct ArpProbe {
    fd: OwnedFd,
    ifindex: i32,
    request: [u8; 28],
}

impl ArpProbe {
    /// Opens it in namespace `ns`, asking for `vip` as `me` (the client's address).
    pub fn open(ns: &str, me: Ipv4Addr, vip: Ipv4Addr) -> Result<ArpProbe> {
        let sha = mac(ns)?;
        let (fd, ifindex) = in_netns(Some(ns), || -> std::io::Result<(OwnedFd, i32)> {
            // SAFETY: plain socket(2); the descriptor is owned at once.
            let raw = unsafe {
                libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                    i32::from(ETH_P_ARP.to_be()),
                )
            };
            if raw < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh descriptor nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            // SAFETY: a NUL-terminated name.
            let ifindex = unsafe { libc::if_nametoindex(c"eth0".as_ptr()) } as i32;
            if ifindex == 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: sockaddr_ll is plain data; zero is a valid start.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = ETH_P_ARP.to_be();
            sll.sll_ifindex = ifindex;
            // SAFETY: bind with a sockaddr_ll of its size.
            let rc = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok((fd, ifindex))
        })?
        .map_err(|e| io(&format!("ARP socket in {ns}"), e))?;
        Ok(ArpProbe {
            fd,
            ifindex,
            request: arp_request(&sha, me, vip),
        })
    }

    /// One round: the request broadcast, then every answer from the address within `window`.
    /// The hardware addresses that answered.
    pub fn round(&self, vip: Ipv4Addr, window: Duration) -> std::io::Result<BTreeSet<[u8; 6]>> {
        // SAFETY: sockaddr_ll is plain data.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = ETH_P_ARP.to_be();
        to.sll_ifindex = self.ifindex;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        // SAFETY: sendto with our buffer and a sockaddr_ll of its size.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                self.request.as_ptr().cast(),
                self.request.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            // The client's own link down (never done by the lab) or a full queue: no round.
            return if e.raw_os_error() == Some(libc::ENOBUFS) {
                Ok(BTreeSet::new())
            } else {
                Err(e)
            };
        }
        let deadline = Instant::now() + window;
        let mut seen = BTreeSet::new();
        let mut buf = [0u8; 128];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(seen);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, 1000) as i32;
            // SAFETY: poll on one pollfd we own.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                continue;
            }
            // SAFETY: recv into our buffer, never more than its length.
            let got = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if got < 0 {
                continue;
            }
            if let Some((2, sha, spa)) = arp_sender(&buf[..got as usize]) {
                if spa == vip {
                    seen.insert(sha);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_frames() {
        let me = [2, 0, 0, 0, 0, 9];
        let p = arp_request(
            &me,
            Ipv4Addr::new(10, 0, 0, 9),
            Ipv4Addr::new(10, 0, 0, 100),
        );
        assert_eq!(arp_sender(&p), Some((1, me, Ipv4Addr::new(10, 0, 0, 9))));
        assert_eq!(&p[24..28], &[10, 0, 0, 100]);
        assert_eq!(arp_sender(&p[..20]), None);
        assert_eq!(parse_mac("02:00:0a:ff:00:01"), Some([2, 0, 10, 255, 0, 1]));
        assert_eq!(parse_mac("02:00:0a:ff:00"), None);
        assert_eq!(show_mac(&[2, 0, 10, 255, 0, 1]), "02:00:0a:ff:00:01");
    }
}
