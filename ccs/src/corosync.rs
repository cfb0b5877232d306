//! `corosync.conf` from `cluster.conf`, the way cman derived its corosync configuration
//! (`cman-preconfig.c`), for corosync 3 with the knet transport.
//!
//! One source of truth: the administrator edits cluster.conf; corosync's file is generated from
//! it (`ccs_config_dump --corosync`). What cman did and what we do:
//! - cluster name, nodes, node ids and votes carry over; a node's ring address is its `rgm_addr`
//!   when given, else its name (corosync resolves it); an `<altname name=…>` is a second knet
//!   link (cman's second ring), passive as cman ran it.
//! - `expected_votes` as cluster.conf gives it (cman's default, the sum of votes, otherwise).
//! - `two_node="1"` keeps cman's meaning: quorum of one vote, and **no** `wait_for_all` (votequorum
//!   turns it on with `two_node` unless told otherwise); our startup fencing covers what
//!   `wait_for_all` guards against, as cman's fenced did.
//! - `<totem token>` keeps its meaning by turning off `token_coefficient` (corosync would add
//!   650 ms per node beyond two). Without one, the embedded engine's 1000 ms is used, so the two
//!   engines fail over alike. knet's link pings are set inside `interface {}` (at the top level
//!   corosync ignores them): every token/3 (at least 100 ms), timing out after twice the token
//!   (at least 1 s); corosync's derived values caused spurious splits at short tokens.
//! - `<totem consensus>` and `join` are passed on when given; corosync's defaults otherwise (cman's
//!   token + 2000 ms consensus would undo a short token).
//! - Encryption always: `aes256`/`sha256` with corosync's key file (`<cman keyfile>`, else
//!   `/etc/corosync/authkey`). Quorum disks have no corosync 3 equivalent: refused, not dropped.

use std::fmt::Write as _;

use crate::model::ClusterConf;
use crate::xml::Node;

/// The embedded engine's token when cluster.conf names none (milliseconds).
pub const DEFAULT_TOKEN_MS: u64 = 1000;
/// Corosync's key when `<cman keyfile>` names none.
pub const DEFAULT_KEYFILE: &str = "/etc/corosync/authkey";

/// Where the generated file puts what corosync writes.
#[derive(Clone, Debug)]
pub struct Options {
    /// `logging { logfile }`; `None` logs to syslog only.
    pub logfile: Option<String>,
    /// `system { state_dir }`; `None` leaves corosync's default.
    pub state_dir: Option<String>,
    /// The key file; `None` takes `<cman keyfile>` or [`DEFAULT_KEYFILE`].
    pub keyfile: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            logfile: Some("/var/log/cluster/corosync.log".into()),
            state_dir: None,
            keyfile: None,
        }
    }
}

/// Why no corosync.conf can be made: each names the node or element.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("the cluster has no name")]
    NoName,
    #[error("the cluster has no nodes")]
    NoNodes,
    #[error("node \"{0}\" has no nodeid (corosync needs one for every node)")]
    NoNodeId(String),
    #[error("node \"{node}\": {what} \"{value}\" cannot be written into corosync.conf")]
    BadValue {
        node: String,
        what: &'static str,
        value: String,
    },
    #[error(
        "<quorumd> (a quorum disk) has no corosync 3 equivalent: remove it or run the embedded \
         engine"
    )]
    QuorumDisk,
}

/// The corosync.conf for `conf`.
pub fn corosync_conf(conf: &ClusterConf, opts: &Options) -> Result<String, Error> {
    let name = conf.name().trim();
    if name.is_empty() {
        return Err(Error::NoName);
    }
    check_word("cluster", "cluster name", name)?;
    if conf.quorumd.is_some() {
        return Err(Error::QuorumDisk);
    }
    let nodes = conf.nodes();
    if nodes.is_empty() {
        return Err(Error::NoNodes);
    }
    struct N {
        name: String,
        id: u32,
        votes: u32,
        ring0: String,
        ring1: Option<String>,
    }
    let mut list = Vec::new();
    for n in nodes {
        let id = n.nodeid().ok_or_else(|| Error::NoNodeId(n.name().into()))?;
        check_word(n.name(), "name", n.name())?;
        let ring0 = match n.rgm_addr() {
            Some(a) => a.to_string(),
            None => n.name().to_string(),
        };
        let ring1 = altname(&n.extra);
        if let Some(a) = &ring1 {
            check_word(n.name(), "altname", a)?;
        }
        list.push(N {
            name: n.name().into(),
            id,
            votes: n.votes(),
            ring0,
            ring1,
        });
    }
    let two_links = list.iter().any(|n| n.ring1.is_some());
    let token = conf.totem_token_ms().unwrap_or(DEFAULT_TOKEN_MS);
    let totem_num = |attr: &str| -> Option<u64> {
        conf.totem
            .as_ref()
            .and_then(|t| t.attrs.get(attr))
            .and_then(|v| v.trim().parse().ok())
    };
    let keyfile = opts
        .keyfile
        .clone()
        .or_else(|| {
            conf.cman
                .as_ref()
                .and_then(|c| c.attrs.get("keyfile"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| DEFAULT_KEYFILE.into());
    check_word("cman", "keyfile", &keyfile)?;

    // `writeln!` into a String cannot fail; the results are ignored on purpose.
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Generated from cluster.conf (config_version {}) by ccs_config_dump --corosync.\n\
         # Edit cluster.conf, not this file: the next generation overwrites it.",
        conf.config_version().unwrap_or(0)
    );
    s.push_str("totem {\n    version: 2\n");
    let _ = writeln!(s, "    cluster_name: {name}");
    s.push_str("    transport: knet\n");
    let _ = writeln!(s, "    token: {token}");
    s.push_str("    token_coefficient: 0\n");
    for attr in ["consensus", "join", "max_messages", "window_size", "netmtu"] {
        if let Some(v) = totem_num(attr) {
            let _ = writeln!(s, "    {attr}: {v}");
        }
    }
    s.push_str("    crypto_cipher: aes256\n    crypto_hash: sha256\n");
    let _ = writeln!(s, "    keyfile: {keyfile}");
    if two_links {
        s.push_str("    link_mode: passive\n");
    }
    let ping_interval = (token / 3).max(100);
    let ping_timeout = (token * 2).max(1000);
    for link in 0..if two_links { 2 } else { 1 } {
        let _ = writeln!(
            s,
            "    interface {{\n        linknumber: {link}\n        knet_ping_interval: \
             {ping_interval}\n        knet_ping_timeout: {ping_timeout}\n    }}"
        );
    }
    s.push_str("}\n\nnodelist {\n");
    for n in &list {
        let _ = writeln!(
            s,
            "    node {{\n        name: {}\n        nodeid: {}\n        quorum_votes: {}\n        \
             ring0_addr: {}",
            n.name, n.id, n.votes, n.ring0
        );
        if let Some(r1) = &n.ring1 {
            let _ = writeln!(s, "        ring1_addr: {r1}");
        }
        s.push_str("    }\n");
    }
    s.push_str("}\n\nquorum {\n    provider: corosync_votequorum\n");
    let _ = writeln!(s, "    expected_votes: {}", conf.expected_votes());
    if conf.two_node() {
        s.push_str("    two_node: 1\n    wait_for_all: 0\n");
    }
    s.push_str("}\n\nlogging {\n    to_syslog: yes\n    timestamp: on\n");
    match &opts.logfile {
        Some(f) => {
            check_word("logging", "logfile", f)?;
            let _ = writeln!(s, "    to_logfile: yes\n    logfile: {f}");
        }
        None => s.push_str("    to_logfile: no\n"),
    }
    s.push_str("}\n");
    if let Some(d) = &opts.state_dir {
        check_word("system", "state_dir", d)?;
        let _ = writeln!(s, "\nsystem {{\n    state_dir: {d}\n}}");
    }
    Ok(s)
}

/// The first `<altname name=…>` of a node, if any.
fn altname(extra: &[Node]) -> Option<String> {
    extra.iter().find_map(|n| match n {
        Node::Element(e) if e.name == "altname" => e
            .attrs
            .get("name")
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty()),
        _ => None,
    })
}

/// corosync.conf has no quoting: a value with blanks, braces, `#` or a colon-space would change
/// the file's structure, so it is refused rather than written.
fn check_word(node: &str, what: &'static str, value: &str) -> Result<(), Error> {
    let bad = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '{' | '}' | '#'));
    if bad {
        return Err(Error::BadValue {
            node: node.into(),
            what,
            value: value.escape_default().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> ClusterConf {
        crate::parse_str(text).unwrap()
    }

    const THREE: &str = r#"<cluster name="web" config_version="7">
        <totem token="300"/>
        <clusternodes>
          <clusternode name="node1" nodeid="1" rgm_addr="10.0.0.1"><altname name="192.168.1.1"/></clusternode>
          <clusternode name="node2" nodeid="2" votes="2"/>
          <clusternode name="node3" nodeid="3"/>
        </clusternodes></cluster>"#;

    #[test]
    fn three_nodes_with_a_second_link_and_a_short_token() {
        let out = corosync_conf(&conf(THREE), &Options::default()).unwrap();
        let expected = "\
# Generated from cluster.conf (config_version 7) by ccs_config_dump --corosync.
# Edit cluster.conf, not this file: the next generation overwrites it.
totem {
    version: 2
    cluster_name: web
    transport: knet
    token: 300
    token_coefficient: 0
    crypto_cipher: aes256
    crypto_hash: sha256
    keyfile: /etc/corosync/authkey
    link_mode: passive
    interface {
        linknumber: 0
        knet_ping_interval: 100
        knet_ping_timeout: 1000
    }
    interface {
        linknumber: 1
        knet_ping_interval: 100
        knet_ping_timeout: 1000
    }
}

nodelist {
    node {
        name: node1
        nodeid: 1
        quorum_votes: 1
        ring0_addr: 10.0.0.1
        ring1_addr: 192.168.1.1
    }
    node {
        name: node2
        nodeid: 2
        quorum_votes: 2
        ring0_addr: node2
    }
    node {
        name: node3
        nodeid: 3
        quorum_votes: 1
        ring0_addr: node3
    }
}

quorum {
    provider: corosync_votequorum
    expected_votes: 4
}

logging {
    to_syslog: yes
    timestamp: on
    to_logfile: yes
    logfile: /var/log/cluster/corosync.log
}
";
        assert_eq!(out, expected);
    }

    #[test]
    fn two_node_keeps_cmans_meaning_without_wait_for_all() {
        let c = conf(
            r#"<cluster name="pair" config_version="2">
            <cman two_node="1" expected_votes="1" keyfile="/etc/cluster/corokey"/>
            <totem consensus="1200"/>
            <clusternodes><clusternode name="a" nodeid="1"/><clusternode name="b" nodeid="2"/>
            </clusternodes></cluster>"#,
        );
        let opts = Options {
            logfile: None,
            state_dir: Some("/run/corosync-a".into()),
            keyfile: None,
        };
        let out = corosync_conf(&c, &opts).unwrap();
        assert!(out.contains("    token: 1000\n    token_coefficient: 0\n    consensus: 1200\n"));
        assert!(out.contains("keyfile: /etc/cluster/corokey\n"));
        assert!(out.contains("knet_ping_interval: 333\n        knet_ping_timeout: 2000\n"));
        assert!(out.contains("expected_votes: 1\n    two_node: 1\n    wait_for_all: 0\n"));
        assert!(out.contains("to_logfile: no\n"));
        assert!(out.ends_with("system {\n    state_dir: /run/corosync-a\n}\n"));
        assert!(!out.contains("link_mode"));
    }

    #[test]
    fn what_corosync_cannot_take_is_refused_by_name() {
        let no_id = conf(
            r#"<cluster name="c" config_version="1"><clusternodes>
            <clusternode name="a" nodeid="1"/><clusternode name="b"/></clusternodes></cluster>"#,
        );
        assert_eq!(
            corosync_conf(&no_id, &Options::default()),
            Err(Error::NoNodeId("b".into()))
        );
        let blank = conf(
            r#"<cluster name="c" config_version="1"><clusternodes>
            <clusternode name="a" nodeid="1"><altname name="x {y"/></clusternode>
            </clusternodes></cluster>"#,
        );
        let e = corosync_conf(&blank, &Options::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "node \"a\": altname \"x {y\" cannot be written into corosync.conf"
        );
        let qdisk = conf(
            r#"<cluster name="c" config_version="1"><quorumd label="q"/><clusternodes>
            <clusternode name="a" nodeid="1"/></clusternodes></cluster>"#,
        );
        assert_eq!(
            corosync_conf(&qdisk, &Options::default()),
            Err(Error::QuorumDisk)
        );
        let empty = conf(r#"<cluster name="c" config_version="1"/>"#);
        assert_eq!(
            corosync_conf(&empty, &Options::default()),
            Err(Error::NoNodes)
        );
    }
}
