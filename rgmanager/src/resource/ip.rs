//! `ip`: a service's floating IP address, rgmanager's `ip.sh` without its shell-outs.
//!
//! The decisions (which interface takes the address, whether it is already there, what a
//! status check finds) are pure functions over a list of [`Link`]s and are unit-tested
//! without sockets; the agent reads that list through [`super::netif`] (rtnetlink), acts, and
//! reads it again to verify.
//!
//! Behaviour, as `ip.sh` unless said:
//! - start: the address goes on the first *up* interface that already has an address of the
//!   same family whose subnet (by that address's prefix) holds it; without `/prefix` the new
//!   address takes that prefix. An address already configured on this host is a success with
//!   nothing done; configured on another interface than the one its subnet picks is an error
//!   (ip.sh did not look). With `monitor_link` (default on; only `0`/`no` turn it off) an
//!   interface without carrier fails the start. After adding, two gratuitous ARPs (IPv4, as
//!   `arping -U -c 2`) or an unsolicited neighbour advertisement (IPv6) are sent. ip.sh pinged
//!   the address first to detect a collision; we do not (the announcement makes the address
//!   ours, and a duplicate shows up in the neighbours' logs).
//! - stop: removes the address wherever it is on this host and checks it is gone; an address
//!   that is not there is stopped already. After a removal the agent sleeps `sleeptime`
//!   seconds (default 10, `0` = none) as ip.sh did, to let the neighbours' caches age.
//! - status: depth 0: the address is present (else "not running"), has not failed IPv6
//!   duplicate address detection (an addition: the kernel keeps such an address but never
//!   uses it) and, with `monitor_link`, its interface is up with carrier; depth 10 and deeper: the interface is up even without
//!   `monitor_link`. ip.sh pinged its own address at depth 10; a ping to a local address never
//!   leaves the host, so checking the interface state locally answers the same question.

use std::net::IpAddr;
use std::time::Duration;

use super::agent::{Agent, AgentError, OpContext};
use super::netif::{self, IfAddr, Link, NetifError};

/// ip.sh's default `sleeptime`.
pub const DEFAULT_SLEEPTIME: u64 = 10;

/// How many gratuitous ARPs follow an IPv4 add (`arping -c 2`).
pub const GARP_COUNT: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum IpError {
    #[error("address \"{value}\": {reason}")]
    BadAddress { value: String, reason: String },
    #[error("family \"{0}\" is not one of auto, inet, inet6")]
    BadFamily(String),
    #[error("family {family} does not match address {addr}")]
    FamilyMismatch { family: String, addr: String },
    #[error("sleeptime \"{0}\" is not a number of seconds")]
    BadSleeptime(String),
    #[error("no up interface has an address in the same subnet as {addr}")]
    NoInterface { addr: String },
    #[error("{addr} is already configured on {on}, but its subnet belongs to {chosen}")]
    PresentElsewhere {
        addr: String,
        on: String,
        chosen: String,
    },
    #[error("interface {ifname} has no link (no carrier) and monitor_link is on")]
    NoCarrier { ifname: String },
    #[error("interface {ifname} holding {addr} is down")]
    InterfaceDown { ifname: String, addr: String },
    #[error("{addr} on {ifname} failed duplicate address detection: another node has it")]
    Duplicate { addr: String, ifname: String },
    #[error("{addr} is still configured on {ifname} after its removal")]
    StillPresent { addr: String, ifname: String },
    #[error("{addr} was added to {ifname} but is not configured there")]
    NotAdded { addr: String, ifname: String },
    #[error(transparent)]
    Netif(#[from] NetifError),
}

impl From<IpError> for AgentError {
    fn from(e: IpError) -> Self {
        AgentError::Ip(e)
    }
}

/// The agent's parameters, read from the resolved attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpParams {
    pub addr: IpAddr,
    pub prefix: Option<u8>,
    pub monitor_link: bool,
    pub sleeptime: u64,
}

impl IpParams {
    pub fn from_ctx(ctx: &OpContext) -> Result<Self, AgentError> {
        let value = ctx
            .param("address")
            .ok_or(AgentError::MissingParam("address"))?;
        Ok(Self::parse(
            value,
            ctx.param("family"),
            ctx.param("monitor_link"),
            ctx.param("sleeptime"),
        )?)
    }

    pub fn parse(
        address: &str,
        family: Option<&str>,
        monitor_link: Option<&str>,
        sleeptime: Option<&str>,
    ) -> Result<Self, IpError> {
        let (addr, prefix) =
            ccs::value::parse_ip_prefix(address.trim()).map_err(|reason| IpError::BadAddress {
                value: address.to_string(),
                reason,
            })?;
        match family.map(str::trim).unwrap_or("") {
            "" | "auto" => {}
            "inet" if addr.is_ipv4() => {}
            "inet6" if addr.is_ipv6() => {}
            f @ ("inet" | "inet6") => {
                return Err(IpError::FamilyMismatch {
                    family: f.to_string(),
                    addr: addr.to_string(),
                })
            }
            other => return Err(IpError::BadFamily(other.to_string())),
        }
        // ip.sh: `[ "$OCF_RESKEY_monitor_link" = "no" ] || [ ... = "0" ]` turns it off, any
        // other value leaves it on.
        let monitor_link = !matches!(
            monitor_link
                .map(|m| m.trim().to_ascii_lowercase())
                .as_deref(),
            Some("0" | "no")
        );
        let sleeptime = match sleeptime.map(str::trim) {
            None | Some("") => DEFAULT_SLEEPTIME,
            Some(s) => {
                ccs::value::parse_uint(s).ok_or_else(|| IpError::BadSleeptime(s.to_string()))?
            }
        };
        Ok(IpParams {
            addr,
            prefix,
            monitor_link,
            sleeptime,
        })
    }
}

/// `IPv4` or `IPv6`, as ip.sh's log lines say.
pub fn family_name(addr: &IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}

/// Whether `a` and `b` (same family) share their first `prefix` bits.
pub fn same_subnet(a: &IpAddr, b: &IpAddr, prefix: u8) -> bool {
    fn masked_eq(x: &[u8], y: &[u8], prefix: u8) -> bool {
        let bits = usize::from(prefix).min(x.len() * 8);
        let (full, rest) = (bits / 8, bits % 8);
        if x[..full] != y[..full] {
            return false;
        }
        rest == 0 || {
            let mask = 0xffu8 << (8 - rest);
            x[full] & mask == y[full] & mask
        }
    }
    match (a, b) {
        (IpAddr::V4(x), IpAddr::V4(y)) => masked_eq(&x.octets(), &y.octets(), prefix),
        (IpAddr::V6(x), IpAddr::V6(y)) => masked_eq(&x.octets(), &y.octets(), prefix),
        _ => false,
    }
}

/// Every place the address is configured on this host.
pub fn locate<'a>(addr: &IpAddr, links: &'a [Link]) -> Vec<(&'a Link, &'a IfAddr)> {
    links
        .iter()
        .flat_map(|l| l.addrs.iter().map(move |a| (l, a)))
        .filter(|(_, a)| a.addr == *addr)
        .collect()
}

/// The interface that takes `addr`: the first up one with another address whose subnet holds
/// it, and that address's prefix.
pub fn choose_interface<'a>(addr: &IpAddr, links: &'a [Link]) -> Option<(&'a Link, u8)> {
    links.iter().filter(|l| l.up).find_map(|l| {
        l.addrs
            .iter()
            .find(|a| a.addr != *addr && same_subnet(&a.addr, addr, a.prefix))
            .map(|a| (l, a.prefix))
    })
}

/// What a start has to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartPlan {
    /// Configured already on this interface: nothing to do.
    AlreadyPresent { ifname: String },
    /// Add `addr/prefix` to the interface.
    Add {
        index: u32,
        ifname: String,
        prefix: u8,
    },
}

pub fn plan_start(p: &IpParams, links: &[Link]) -> Result<StartPlan, IpError> {
    let chosen = choose_interface(&p.addr, links);
    let present = locate(&p.addr, links);
    if let Some((on, _)) = present.first() {
        return match chosen {
            Some((c, _)) if !present.iter().any(|(l, _)| l.index == c.index) => {
                Err(IpError::PresentElsewhere {
                    addr: p.addr.to_string(),
                    on: on.name.clone(),
                    chosen: c.name.clone(),
                })
            }
            Some((c, _)) => Ok(StartPlan::AlreadyPresent {
                ifname: c.name.clone(),
            }),
            None => Ok(StartPlan::AlreadyPresent {
                ifname: on.name.clone(),
            }),
        };
    }
    let Some((link, if_prefix)) = chosen else {
        return Err(IpError::NoInterface {
            addr: p.addr.to_string(),
        });
    };
    if p.monitor_link && !link.carrier {
        return Err(IpError::NoCarrier {
            ifname: link.name.clone(),
        });
    }
    Ok(StartPlan::Add {
        index: link.index,
        ifname: link.name.clone(),
        prefix: p.prefix.unwrap_or(if_prefix),
    })
}

/// What a status check finds wrong.
#[derive(Debug)]
pub enum StatusFault {
    NotRunning,
    Failed(IpError),
}

pub fn check_status(p: &IpParams, links: &[Link], depth: u32) -> Result<(), StatusFault> {
    let present = locate(&p.addr, links);
    let Some((link, a)) = present.first() else {
        return Err(StatusFault::NotRunning);
    };
    if a.dad_failed {
        return Err(StatusFault::Failed(IpError::Duplicate {
            addr: p.addr.to_string(),
            ifname: link.name.clone(),
        }));
    }
    if (p.monitor_link || depth >= 10) && !link.up {
        return Err(StatusFault::Failed(IpError::InterfaceDown {
            ifname: link.name.clone(),
            addr: p.addr.to_string(),
        }));
    }
    if p.monitor_link && !link.carrier {
        return Err(StatusFault::Failed(IpError::NoCarrier {
            ifname: link.name.clone(),
        }));
    }
    Ok(())
}

/// The `ip` agent.
#[derive(Debug, Default)]
pub struct IpAgent;

impl IpAgent {
    fn announce(ctx: &OpContext, link: &Link, addr: &IpAddr) {
        let sent = match addr {
            IpAddr::V4(v4) => netif::send_gratuitous_arp(link.index, &link.mac, *v4, GARP_COUNT),
            IpAddr::V6(v6) => netif::send_unsolicited_na(link.index, &link.mac, *v6),
        };
        // As ip.sh (arping's status was not checked): the address is up, a failed
        // announcement only delays the neighbours' updates.
        if let Err(e) = sent {
            tracing::warn!(service = %ctx.service, resource = %ctx.resource, "[ip] {e}");
        }
    }
}

impl Agent for IpAgent {
    fn kind(&self) -> &'static str {
        "ip"
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let p = IpParams::from_ctx(ctx)?;
        let links = netif::links().map_err(IpError::from)?;
        let (index, ifname, prefix) = match plan_start(&p, &links)? {
            StartPlan::AlreadyPresent { ifname } => {
                tracing::info!(service = %ctx.service, resource = %ctx.resource,
                    "[ip] {} is already configured on {ifname}", p.addr);
                return Ok(());
            }
            StartPlan::Add {
                index,
                ifname,
                prefix,
            } => (index, ifname, prefix),
        };
        tracing::info!(service = %ctx.service, resource = %ctx.resource,
            "[ip] Adding {} address {}/{prefix} to {ifname}", family_name(&p.addr), p.addr);
        netif::add_address(index, p.addr, prefix).map_err(IpError::from)?;
        let links = netif::links().map_err(IpError::from)?;
        let Some((link, _)) = locate(&p.addr, &links)
            .into_iter()
            .find(|(l, _)| l.index == index)
        else {
            return Err(IpError::NotAdded {
                addr: p.addr.to_string(),
                ifname,
            }
            .into());
        };
        Self::announce(ctx, link, &p.addr);
        Ok(())
    }

    fn stop(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let p = IpParams::from_ctx(ctx)?;
        let links = netif::links().map_err(IpError::from)?;
        let present = locate(&p.addr, &links);
        if present.is_empty() {
            tracing::debug!(service = %ctx.service, resource = %ctx.resource,
                "[ip] {} is not configured", p.addr);
            return Ok(());
        }
        for (link, a) in &present {
            tracing::info!(service = %ctx.service, resource = %ctx.resource,
                "[ip] Removing {} address {}/{} from {}", family_name(&a.addr), a.addr, a.prefix, link.name);
            if let Err(e) = netif::del_address(link.index, a.addr, a.prefix) {
                // Checked below: the address may have gone in the meantime.
                tracing::warn!(service = %ctx.service, resource = %ctx.resource, "[ip] {e}");
            }
        }
        let links = netif::links().map_err(IpError::from)?;
        if let Some((link, _)) = locate(&p.addr, &links).first() {
            return Err(IpError::StillPresent {
                addr: p.addr.to_string(),
                ifname: link.name.clone(),
            }
            .into());
        }
        if p.sleeptime > 0 {
            std::thread::sleep(Duration::from_secs(p.sleeptime));
        }
        Ok(())
    }

    fn status(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let p = IpParams::from_ctx(ctx)?;
        let links = netif::links().map_err(IpError::from)?;
        check_status(&p, &links, ctx.depth).map_err(|f| match f {
            StatusFault::NotRunning => AgentError::NotRunning,
            StatusFault::Failed(e) => AgentError::Ip(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, up: bool, carrier: bool, addrs: &[&str]) -> Link {
        Link {
            index,
            name: name.to_string(),
            up,
            carrier,
            mac: vec![2, 0, 0, 0, 0, index as u8],
            addrs: addrs
                .iter()
                .map(|a| {
                    let (ip, p) = ccs::value::parse_ip_prefix(a).unwrap();
                    IfAddr {
                        addr: ip,
                        prefix: p.unwrap(),
                        dad_failed: false,
                    }
                })
                .collect(),
        }
    }

    fn params(addr: &str) -> IpParams {
        IpParams::parse(addr, None, None, None).unwrap()
    }

    fn host() -> Vec<Link> {
        vec![
            link(1, "lo", true, true, &["127.0.0.1/8", "::1/128"]),
            link(2, "eth0", true, true, &["10.0.0.5/24", "fd00:1::5/64"]),
            link(3, "eth1", true, true, &["192.168.7.2/23"]),
            link(4, "eth2", false, false, &["172.16.0.1/16"]),
            link(5, "eth3", true, true, &["10.0.0.77/24"]),
        ]
    }

    #[test]
    fn params_defaults_and_errors() {
        let p = params("10.0.0.100");
        assert_eq!(p.prefix, None);
        assert!(p.monitor_link);
        assert_eq!(p.sleeptime, 10);
        let p = IpParams::parse("fd00::1/64", Some("inet6"), Some("no"), Some("0")).unwrap();
        assert_eq!(p.prefix, Some(64));
        assert!(!p.monitor_link);
        assert_eq!(p.sleeptime, 0);
        for off in ["0", "no", "NO"] {
            assert!(
                !IpParams::parse("10.0.0.1", None, Some(off), None)
                    .unwrap()
                    .monitor_link
            );
        }
        // ip.sh only knows 0 and no.
        for on in ["1", "yes", "off", ""] {
            assert!(
                IpParams::parse("10.0.0.1", None, Some(on), None)
                    .unwrap()
                    .monitor_link
            );
        }
        assert!(matches!(
            IpParams::parse("10.0.0.1", Some("inet6"), None, None),
            Err(IpError::FamilyMismatch { .. })
        ));
        assert!(matches!(
            IpParams::parse("10.0.0.1", Some("ipx"), None, None),
            Err(IpError::BadFamily(_))
        ));
        assert!(matches!(
            IpParams::parse("10.0.0.1/33", None, None, None),
            Err(IpError::BadAddress { .. })
        ));
        assert!(matches!(
            IpParams::parse("10.0.0.1", None, None, Some("soon")),
            Err(IpError::BadSleeptime(_))
        ));
    }

    #[test]
    fn subnets() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(same_subnet(&a("10.0.0.5"), &a("10.0.0.100"), 24));
        assert!(!same_subnet(&a("10.0.1.5"), &a("10.0.0.100"), 24));
        assert!(same_subnet(&a("192.168.7.2"), &a("192.168.6.9"), 23));
        assert!(!same_subnet(&a("192.168.7.2"), &a("192.168.5.9"), 23));
        assert!(same_subnet(&a("1.2.3.4"), &a("9.9.9.9"), 0));
        assert!(same_subnet(&a("fd00:1::5"), &a("fd00:1::abcd"), 64));
        assert!(!same_subnet(&a("fd00:1::5"), &a("fd00:2::5"), 64));
        assert!(!same_subnet(&a("10.0.0.5"), &a("fd00:1::5"), 0));
        assert!(same_subnet(&a("10.0.0.5"), &a("10.0.0.5"), 32));
    }

    #[test]
    fn start_picks_first_up_interface_in_the_subnet_and_its_prefix() {
        let links = host();
        assert_eq!(
            plan_start(&params("10.0.0.100"), &links).unwrap(),
            StartPlan::Add {
                index: 2,
                ifname: "eth0".into(),
                prefix: 24
            }
        );
        assert_eq!(
            plan_start(&params("192.168.6.1"), &links).unwrap(),
            StartPlan::Add {
                index: 3,
                ifname: "eth1".into(),
                prefix: 23
            }
        );
        // A given prefix is kept; the interface is still the one whose subnet holds it.
        assert_eq!(
            plan_start(&params("10.0.0.100/28"), &links).unwrap(),
            StartPlan::Add {
                index: 2,
                ifname: "eth0".into(),
                prefix: 28
            }
        );
        assert_eq!(
            plan_start(&params("fd00:1::100"), &links).unwrap(),
            StartPlan::Add {
                index: 2,
                ifname: "eth0".into(),
                prefix: 64
            }
        );
    }

    #[test]
    fn start_skips_down_interfaces_and_fails_without_a_subnet() {
        let links = host();
        // eth2 holds 172.16/16 but is down.
        let e = plan_start(&params("172.16.3.3"), &links).unwrap_err();
        assert!(matches!(e, IpError::NoInterface { .. }), "{e}");
        let e = plan_start(&params("203.0.113.9/24"), &links).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no up interface has an address in the same subnet as 203.0.113.9"
        );
        let e = plan_start(&params("fd00:9::1/64"), &links).unwrap_err();
        assert!(matches!(e, IpError::NoInterface { .. }), "{e}");
    }

    #[test]
    fn start_with_monitor_link_needs_carrier() {
        let mut links = host();
        links[1].carrier = false;
        let e = plan_start(&params("10.0.0.100"), &links).unwrap_err();
        assert_eq!(
            e.to_string(),
            "interface eth0 has no link (no carrier) and monitor_link is on"
        );
        let p = IpParams::parse("10.0.0.100", None, Some("0"), None).unwrap();
        assert!(matches!(
            plan_start(&p, &links).unwrap(),
            StartPlan::Add { index: 2, .. }
        ));
    }

    #[test]
    fn start_of_a_configured_address_is_a_no_op_or_an_error_elsewhere() {
        let mut links = host();
        links[1].addrs.push(IfAddr {
            addr: "10.0.0.100".parse().unwrap(),
            prefix: 24,
            dad_failed: false,
        });
        assert_eq!(
            plan_start(&params("10.0.0.100"), &links).unwrap(),
            StartPlan::AlreadyPresent {
                ifname: "eth0".into()
            }
        );
        // The same address on eth3 (also in 10.0.0.0/24, but after eth0): not where it belongs.
        let mut links = host();
        links[4].addrs.push(IfAddr {
            addr: "10.0.0.100".parse().unwrap(),
            prefix: 24,
            dad_failed: false,
        });
        let e = plan_start(&params("10.0.0.100"), &links).unwrap_err();
        assert_eq!(
            e.to_string(),
            "10.0.0.100 is already configured on eth3, but its subnet belongs to eth0"
        );
        // Present somewhere with no subnet to choose from: it is ours already.
        let mut links = host();
        links[2].addrs.push(IfAddr {
            addr: "198.51.100.1".parse().unwrap(),
            prefix: 32,
            dad_failed: false,
        });
        assert_eq!(
            plan_start(&params("198.51.100.1"), &links).unwrap(),
            StartPlan::AlreadyPresent {
                ifname: "eth1".into()
            }
        );
    }

    #[test]
    fn status_fails_on_a_duplicate_ipv6_address() {
        let mut links = host();
        let p = params("fd00:1::100");
        links[1].addrs.push(IfAddr {
            addr: p.addr,
            prefix: 64,
            dad_failed: false,
        });
        check_status(&p, &links, 0).unwrap();
        links[1].addrs.last_mut().unwrap().dad_failed = true;
        let Err(StatusFault::Failed(e)) = check_status(&p, &links, 0) else {
            panic!("a failed DAD must fail the status");
        };
        assert_eq!(
            e.to_string(),
            "fd00:1::100 on eth0 failed duplicate address detection: another node has it"
        );
    }

    #[test]
    fn status_by_depth_and_monitor_link() {
        let mut links = host();
        let p = params("10.0.0.100");
        assert!(matches!(
            check_status(&p, &links, 0),
            Err(StatusFault::NotRunning)
        ));
        links[4].addrs.push(IfAddr {
            addr: "10.0.0.100".parse().unwrap(),
            prefix: 24,
            dad_failed: false,
        });
        check_status(&p, &links, 0).unwrap();
        check_status(&p, &links, 10).unwrap();
        links[4].carrier = false;
        assert!(matches!(
            check_status(&p, &links, 0),
            Err(StatusFault::Failed(IpError::NoCarrier { .. }))
        ));
        let nomon = IpParams::parse("10.0.0.100", None, Some("no"), None).unwrap();
        check_status(&nomon, &links, 0).unwrap();
        links[4].up = false;
        check_status(&nomon, &links, 0).unwrap();
        assert!(matches!(
            check_status(&nomon, &links, 10),
            Err(StatusFault::Failed(IpError::InterfaceDown { .. }))
        ));
        assert!(matches!(
            check_status(&p, &links, 0),
            Err(StatusFault::Failed(IpError::InterfaceDown { .. }))
        ));
    }
}
