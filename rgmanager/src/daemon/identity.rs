//! Which node of cluster.conf is this machine?
//!
//! As cman did when no node name was given: the host name (`uname -n`) is looked up among the
//! clusternode names, first exactly, then without the domain on either side
//! (`node1` ↔ `node1.cluster.com`); failing that, each clusternode name is resolved and the one
//! that resolves to an address of this machine is us. An explicit `--node NAME` must name a
//! clusternode. More than one candidate is an error rather than a guess: two daemons claiming
//! one node is exactly what must not happen.
//!
//! The lookups are passed in, so the choice itself is a pure function.

use std::net::IpAddr;

use ccs::ClusterConf;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("--node {0}: no clusternode of that name in cluster.conf")]
    UnknownNode(String),
    #[error(
        "no clusternode of cluster.conf matches this host (host name \"{hostname}\", addresses {addrs}); start with --node NAME"
    )]
    NoMatch { hostname: String, addrs: String },
    #[error("several clusternodes match this host ({0}); start with --node NAME")]
    Ambiguous(String),
}

/// What is known about this machine.
pub struct Host<'a> {
    pub hostname: &'a str,
    pub addresses: &'a [IpAddr],
}

fn short(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// The name of the clusternode this machine is.
pub fn local_node(
    conf: &ClusterConf,
    explicit: Option<&str>,
    host: &Host<'_>,
    resolve: impl Fn(&str) -> Vec<IpAddr>,
) -> Result<String, IdentityError> {
    let names: Vec<&str> = conf.nodes().iter().map(|n| n.name()).collect();
    if let Some(want) = explicit {
        return names
            .iter()
            .find(|n| **n == want)
            .map(|n| n.to_string())
            .ok_or_else(|| IdentityError::UnknownNode(want.to_string()));
    }
    let pick = |found: Vec<&str>| -> Result<Option<String>, IdentityError> {
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.to_string())),
            many => Err(IdentityError::Ambiguous(many.join(", "))),
        }
    };
    let exact: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.eq_ignore_ascii_case(host.hostname))
        .collect();
    if let Some(n) = pick(exact)? {
        return Ok(n);
    }
    let by_short: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| short(n).eq_ignore_ascii_case(short(host.hostname)))
        .collect();
    if let Some(n) = pick(by_short)? {
        return Ok(n);
    }
    let by_addr: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| resolve(n).iter().any(|a| host.addresses.contains(a)))
        .collect();
    if let Some(n) = pick(by_addr)? {
        return Ok(n);
    }
    Err(IdentityError::NoMatch {
        hostname: host.hostname.to_string(),
        addrs: if host.addresses.is_empty() {
            "none".into()
        } else {
            host.addresses
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf() -> ClusterConf {
        ccs::parse_str(
            r#"<cluster name="c" config_version="1"><clusternodes>
                <clusternode name="node1.cluster.com" nodeid="1"/>
                <clusternode name="node2.cluster.com" nodeid="2"/>
                <clusternode name="db" nodeid="3"/>
            </clusternodes></cluster>"#,
        )
        .unwrap()
    }

    fn none(_: &str) -> Vec<IpAddr> {
        Vec::new()
    }

    fn host<'a>(name: &'a str, addrs: &'a [IpAddr]) -> Host<'a> {
        Host {
            hostname: name,
            addresses: addrs,
        }
    }

    #[test]
    fn explicit_name_must_exist() {
        let c = conf();
        assert_eq!(
            local_node(&c, Some("db"), &host("x", &[]), none),
            Ok("db".into())
        );
        assert_eq!(
            local_node(&c, Some("node9"), &host("x", &[]), none),
            Err(IdentityError::UnknownNode("node9".into()))
        );
    }

    #[test]
    fn host_name_exact_then_short() {
        let c = conf();
        assert_eq!(
            local_node(&c, None, &host("node2.cluster.com", &[]), none),
            Ok("node2.cluster.com".into())
        );
        assert_eq!(
            local_node(&c, None, &host("node1", &[]), none),
            Ok("node1.cluster.com".into())
        );
        assert_eq!(
            local_node(&c, None, &host("db.example.org", &[]), none),
            Ok("db".into())
        );
    }

    #[test]
    fn by_address() {
        let c = conf();
        let mine: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap()];
        let resolve = |n: &str| match n {
            "node2.cluster.com" => vec!["10.0.0.2".parse().unwrap()],
            _ => vec!["10.0.0.9".parse().unwrap()],
        };
        assert_eq!(
            local_node(&c, None, &host("localhost", &mine), resolve),
            Ok("node2.cluster.com".into())
        );
    }

    #[test]
    fn no_match_and_ambiguity_are_errors() {
        let c = conf();
        let e = local_node(&c, None, &host("web9", &[]), none).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no clusternode of cluster.conf matches this host (host name \"web9\", addresses none); start with --node NAME"
        );
        let mine: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap()];
        let everyone = |_: &str| vec!["127.0.0.1".parse().unwrap()];
        assert!(matches!(
            local_node(&c, None, &host("web9", &mine), everyone),
            Err(IdentityError::Ambiguous(_))
        ));
    }
}
