//! Which node of cluster.conf is this machine?
//!
//! As cman did when no node name was given: the host name (`uname -n`) is looked up among the
//! clusternode names, first exactly, then without the domain on either side
//! (`node1` ↔ `node1.cluster.com`); failing that, the clusternode whose address is one of this
//! machine's is us (the caller says which are: `membership::net` tries to bind them). An explicit `--node NAME` must name a
//! clusternode. More than one candidate is an error rather than a guess: two daemons claiming
//! one node is exactly what must not happen.
//!
//! The address lookup is passed in, so the choice itself is a pure function.

use ccs::model::ClusterNode;
use ccs::ClusterConf;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("--node {0}: no clusternode of that name in cluster.conf")]
    UnknownNode(String),
    #[error(
        "no clusternode of cluster.conf matches this host (host name \"{0}\") by name or address; start with --node NAME"
    )]
    NoMatch(String),
    #[error("several clusternodes match this host ({0}); start with --node NAME")]
    Ambiguous(String),
}

fn short(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// The name of the clusternode this machine is.
pub fn local_node(
    conf: &ClusterConf,
    explicit: Option<&str>,
    hostname: &str,
    is_local: impl Fn(&ClusterNode) -> bool,
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
        .filter(|n| n.eq_ignore_ascii_case(hostname))
        .collect();
    if let Some(n) = pick(exact)? {
        return Ok(n);
    }
    let by_short: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| short(n).eq_ignore_ascii_case(short(hostname)))
        .collect();
    if let Some(n) = pick(by_short)? {
        return Ok(n);
    }
    let by_addr: Vec<&str> = conf
        .nodes()
        .iter()
        .filter(|n| is_local(n))
        .map(|n| n.name())
        .collect();
    if let Some(n) = pick(by_addr)? {
        return Ok(n);
    }
    Err(IdentityError::NoMatch(hostname.to_string()))
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

    fn none(_: &ClusterNode) -> bool {
        false
    }

    #[test]
    fn explicit_name_must_exist() {
        let c = conf();
        assert_eq!(local_node(&c, Some("db"), "x", none), Ok("db".into()));
        assert_eq!(
            local_node(&c, Some("node9"), "x", none),
            Err(IdentityError::UnknownNode("node9".into()))
        );
    }

    #[test]
    fn host_name_exact_then_short() {
        let c = conf();
        assert_eq!(
            local_node(&c, None, "node2.cluster.com", none),
            Ok("node2.cluster.com".into())
        );
        assert_eq!(
            local_node(&c, None, "node1", none),
            Ok("node1.cluster.com".into())
        );
        assert_eq!(
            local_node(&c, None, "db.example.org", none),
            Ok("db".into())
        );
    }

    #[test]
    fn by_address() {
        let c = conf();
        let mine = |n: &ClusterNode| n.name() == "node2.cluster.com";
        assert_eq!(
            local_node(&c, None, "localhost", mine),
            Ok("node2.cluster.com".into())
        );
    }

    #[test]
    fn no_match_and_ambiguity_are_errors() {
        let c = conf();
        let e = local_node(&c, None, "web9", none).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no clusternode of cluster.conf matches this host (host name \"web9\") by name or address; start with --node NAME"
        );
        assert_eq!(
            local_node(&c, None, "web9", |_| true),
            Err(IdentityError::Ambiguous(
                "node1.cluster.com, node2.cluster.com, db".into()
            ))
        );
    }
}
