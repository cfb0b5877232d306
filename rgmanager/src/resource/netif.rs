//! The network I/O of the `ip` agent: interfaces and addresses through rtnetlink
//! (`netlink-packet-route` over a synchronous `netlink-sys` socket; one request per call, no
//! runtime to set up), and the announcements sent after an address is added: gratuitous ARP for
//! IPv4 and an unsolicited neighbour advertisement for IPv6, both from a packet socket.
//!
//! It exists so that the agent never shells out to `ip` or `arping` and so that its decisions
//! ([`super::ip`]) work on plain data ([`Link`]) read here. The frame builders are pure and
//! unit-tested; the functions that touch sockets act on the network namespace of the calling
//! thread.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// One address configured on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub prefix: u8,
    /// IPv6 duplicate address detection found another node with it (`IFA_F_DADFAILED`).
    pub dad_failed: bool,
}

/// An interface as the `ip` agent sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// The link has carrier (`IFF_LOWER_UP`).
    pub carrier: bool,
    /// The hardware address (empty for links without one).
    pub mac: Vec<u8>,
    pub addrs: Vec<IfAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum NetifError {
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("netlink {what}: {source}")]
    Kernel {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("netlink {what}: cannot decode the answer: {detail}")]
    Decode { what: &'static str, detail: String },
    #[error("{what} on interface {index}: {source}")]
    Packet {
        what: &'static str,
        index: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("interface {index} has no Ethernet hardware address")]
    NoHwAddr { index: u32 },
}

/// Sends one request and collects the answer: every message of a dump, or nothing for an
/// acknowledged change. A kernel error becomes [`NetifError::Kernel`].
fn request(
    what: &'static str,
    msg: RouteNetlinkMessage,
    flags: u16,
) -> Result<Vec<RouteNetlinkMessage>, NetifError> {
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(NetifError::Socket)?;
    socket.bind_auto().map_err(NetifError::Socket)?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(NetifError::Socket)?;
    let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
    packet.header.flags = NLM_F_REQUEST | flags;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut buf = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0).map_err(NetifError::Socket)?;

    let mut out = Vec::new();
    // Big enough for any single datagram of a dump (the kernel sizes them to the page).
    let mut rx = vec![0u8; 64 * 1024];
    loop {
        let size = socket
            .recv(&mut &mut rx[..], 0)
            .map_err(NetifError::Socket)?;
        let mut offset = 0;
        while offset < size {
            let msg: NetlinkMessage<RouteNetlinkMessage> =
                NetlinkMessage::deserialize(&rx[offset..size]).map_err(|e| NetifError::Decode {
                    what,
                    detail: e.to_string(),
                })?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        None => Ok(out),
                        Some(_) => Err(NetifError::Kernel {
                            what,
                            source: e.to_io(),
                        }),
                    }
                }
                NetlinkPayload::InnerMessage(m) => out.push(m),
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}

/// Every interface of this network namespace with its addresses, in index order.
pub fn links() -> Result<Vec<Link>, NetifError> {
    let mut links: Vec<Link> = request(
        "link dump",
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        NLM_F_DUMP,
    )?
    .into_iter()
    .filter_map(|m| match m {
        RouteNetlinkMessage::NewLink(l) => Some(l),
        _ => None,
    })
    .map(|l| {
        let mut name = String::new();
        let mut mac = Vec::new();
        for a in l.attributes {
            match a {
                LinkAttribute::IfName(n) => name = n,
                LinkAttribute::Address(m) => mac = m,
                _ => {}
            }
        }
        Link {
            index: l.header.index,
            name,
            up: l.header.flags.contains(LinkFlags::Up),
            carrier: l.header.flags.contains(LinkFlags::LowerUp),
            mac,
            addrs: Vec::new(),
        }
    })
    .collect();
    links.sort_by_key(|l| l.index);
    let addrs = request(
        "address dump",
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        NLM_F_DUMP,
    )?;
    for m in addrs {
        let RouteNetlinkMessage::NewAddress(a) = m else {
            continue;
        };
        // IFA_LOCAL is the address itself (IFA_ADDRESS is the peer on point-to-point links);
        // IPv6 usually sends only IFA_ADDRESS.
        let mut local = None;
        let mut address = None;
        // The header holds the first 8 flag bits; IFA_FLAGS, when sent, all of them.
        let mut dad_failed = a.header.flags.contains(AddressHeaderFlags::Dadfailed);
        for attr in &a.attributes {
            match attr {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Flags(f) => dad_failed |= f.contains(AddressFlags::Dadfailed),
                _ => {}
            }
        }
        let Some(ip) = local.or(address) else {
            continue;
        };
        if let Some(l) = links.iter_mut().find(|l| l.index == a.header.index) {
            l.addrs.push(IfAddr {
                addr: ip,
                prefix: a.header.prefix_len,
                dad_failed,
            });
        }
    }
    Ok(links)
}

fn address_message(index: u32, addr: IpAddr, prefix: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.prefix_len = prefix;
    m.header.scope = AddressScope::Universe;
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(addr));
    m.attributes.push(AddressAttribute::Address(addr));
    m
}

/// Adds `addr/prefix` to interface `index` (fails if it is there already).
pub fn add_address(index: u32, addr: IpAddr, prefix: u8) -> Result<(), NetifError> {
    request(
        "address add",
        RouteNetlinkMessage::NewAddress(address_message(index, addr, prefix)),
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    )
    .map(drop)
}

/// Removes `addr/prefix` from interface `index`; the prefix must be the configured one.
pub fn del_address(index: u32, addr: IpAddr, prefix: u8) -> Result<(), NetifError> {
    request(
        "address delete",
        RouteNetlinkMessage::DelAddress(address_message(index, addr, prefix)),
        NLM_F_ACK,
    )
    .map(drop)
}

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const BROADCAST: [u8; 6] = [0xff; 6];

/// The ARP payload `arping -U` sends: a request whose sender and target protocol addresses
/// are both the announced address, so that every neighbour updates its cache.
pub fn gratuitous_arp(mac: &[u8; 6], ip: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    p[8..14].copy_from_slice(mac);
    p[14..18].copy_from_slice(&ip.octets());
    // arping fills the target hardware address with the broadcast address it sends to.
    p[18..24].copy_from_slice(&BROADCAST);
    p[24..28].copy_from_slice(&ip.octets());
    p
}

/// The all-nodes multicast address an unsolicited advertisement goes to, and its MAC.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

/// An unsolicited neighbour advertisement for `target` (RFC 4861 §7.2.6) as a whole IPv6
/// packet: from `target` to all nodes, hop limit 255, Override set, Solicited clear, with the
/// target link-layer address option.
pub fn unsolicited_na(mac: &[u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(32);
    icmp.extend_from_slice(&[136, 0, 0, 0]); // type NA, code 0, checksum below
    icmp.extend_from_slice(&0x2000_0000u32.to_be_bytes()); // O flag
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[2, 1]); // option: target link-layer address, 8 bytes
    icmp.extend_from_slice(mac);
    let sum = icmpv6_checksum(&target, &ALL_NODES, &icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());

    let mut p = Vec::with_capacity(40 + icmp.len());
    p.extend_from_slice(&0x6000_0000u32.to_be_bytes()); // version 6
    p.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    p.push(58); // next header: ICMPv6
    p.push(255); // hop limit, required for neighbour discovery
    p.extend_from_slice(&target.octets());
    p.extend_from_slice(&ALL_NODES.octets());
    p.extend_from_slice(&icmp);
    p
}

/// The ICMPv6 checksum over the pseudo-header and the message (checksum field zero).
pub fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            sum += u32::from(w);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends `payload` as one frame of `proto` to `dst_mac` out of interface `index`, from a
/// datagram packet socket (the kernel writes the Ethernet header).
fn send_frame(
    what: &'static str,
    index: u32,
    proto: u16,
    dst_mac: &[u8; 6],
    payload: &[u8],
) -> Result<(), NetifError> {
    let err = |source| NetifError::Packet {
        what,
        index,
        source,
    };
    let ifindex = i32::try_from(index)
        .map_err(|_| err(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
    // SAFETY: plain socket(2); the descriptor is owned (and closed) by `fd` right away.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            i32::from(proto.to_be()),
        )
    };
    if raw < 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value to fill in.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto.to_be();
    sll.sll_ifindex = ifindex;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(dst_mac);
    // SAFETY: the buffer and the address are valid for the lengths given.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            payload.as_ptr().cast(),
            payload.len(),
            0,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn eth_mac(index: u32, mac: &[u8]) -> Result<[u8; 6], NetifError> {
    <[u8; 6]>::try_from(mac).map_err(|_| NetifError::NoHwAddr { index })
}

/// Gratuitous ARP as `arping -U -c COUNT`: `count` announcements, one second apart as arping
/// paces them. The first is sent before this returns (its error is the caller's); the repeats
/// (for a neighbour that missed the first) go from a thread of their own, so that a takeover
/// does not wait a second per repeat before the next resource starts — ip.sh waited for
/// arping, which is one reason an RHCS takeover took seconds.
pub fn send_gratuitous_arp(
    index: u32,
    mac: &[u8],
    ip: Ipv4Addr,
    count: u32,
) -> Result<(), NetifError> {
    let mac = eth_mac(index, mac)?;
    let frame = gratuitous_arp(&mac, ip);
    if count == 0 {
        return Ok(());
    }
    send_frame("gratuitous ARP", index, ETH_P_ARP, &BROADCAST, &frame)?;
    if count > 1 {
        std::thread::spawn(move || {
            for _ in 1..count {
                std::thread::sleep(std::time::Duration::from_secs(1));
                if let Err(e) = send_frame("gratuitous ARP", index, ETH_P_ARP, &BROADCAST, &frame) {
                    tracing::debug!("repeated gratuitous ARP for {ip}: {e}");
                    return;
                }
            }
        });
    }
    Ok(())
}

/// One unsolicited neighbour advertisement for `ip` to all nodes.
pub fn send_unsolicited_na(index: u32, mac: &[u8], ip: Ipv6Addr) -> Result<(), NetifError> {
    let mac = eth_mac(index, mac)?;
    let packet = unsolicited_na(&mac, ip);
    send_frame(
        "unsolicited neighbour advertisement",
        index,
        ETH_P_IPV6,
        &ALL_NODES_MAC,
        &packet,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

    #[test]
    fn gratuitous_arp_layout() {
        let p = gratuitous_arp(&MAC, Ipv4Addr::new(10, 200, 1, 100));
        assert_eq!(&p[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&p[8..14], &MAC);
        assert_eq!(&p[14..18], &[10, 200, 1, 100]);
        assert_eq!(&p[18..24], &[0xff; 6]);
        assert_eq!(&p[24..28], &[10, 200, 1, 100]);
    }

    #[test]
    fn unsolicited_na_layout_and_checksum() {
        let target: Ipv6Addr = "fd00:200::100".parse().unwrap();
        let p = unsolicited_na(&MAC, target);
        assert_eq!(p.len(), 40 + 32);
        assert_eq!(p[0] >> 4, 6);
        assert_eq!(u16::from_be_bytes([p[4], p[5]]), 32);
        assert_eq!((p[6], p[7]), (58, 255));
        assert_eq!(&p[8..24], &target.octets());
        assert_eq!(&p[24..40], &ALL_NODES.octets());
        let icmp = &p[40..];
        assert_eq!((icmp[0], icmp[1]), (136, 0));
        assert_eq!(icmp[4], 0x20, "override only");
        assert_eq!(&icmp[8..24], &target.octets());
        assert_eq!(&icmp[24..26], &[2, 1]);
        assert_eq!(&icmp[26..32], &MAC);
        // A correct checksum makes the sum over pseudo-header and message come out as 0.
        assert_eq!(icmpv6_checksum(&target, &ALL_NODES, icmp), 0);
        let mut broken = icmp.to_vec();
        broken[30] ^= 1;
        assert_ne!(icmpv6_checksum(&target, &ALL_NODES, &broken), 0);
    }

    #[test]
    fn checksum_of_a_known_message() {
        // Worked by hand: the 16-bit words are ::1 (1), ::2 (2), the length (2), the next
        // header (58) and the message (1), 64 in all; the checksum is its complement.
        let src = Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1);
        let dst = Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 2);
        let msg = [0x00, 0x01];
        assert_eq!(icmpv6_checksum(&src, &dst, &msg), !0x40u16);
    }

    #[test]
    fn link_needs_an_ethernet_address() {
        assert!(matches!(
            eth_mac(3, &[]),
            Err(NetifError::NoHwAddr { index: 3 })
        ));
        assert_eq!(eth_mac(3, &MAC).unwrap(), MAC);
    }
}
