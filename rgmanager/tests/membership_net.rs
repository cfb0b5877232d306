//! The membership transport on real UDP sockets on 127.0.0.1: 3 and 5 nodes in one process
//! converge, a clean stop and a crash are told apart, a node with the wrong key stays out.
//! Real time, with generous limits (a loaded machine may be slow; nothing here measures speed).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rgmanager::membership::net::{self, Node};
use rgmanager::membership::{incarnation_now, Config, Event, Membership, NodeId};

const KEY: &[u8] = b"transport test key of 32 bytes!!";
const TOKEN: Duration = Duration::from_millis(1000);
const PATIENCE: Duration = Duration::from_secs(30);

struct Cluster {
    nodes: BTreeMap<NodeId, Node>,
    log: BTreeMap<NodeId, Vec<Event>>,
}

/// Starts nodes `1..=n` on free ports; `keys` overrides the key of some nodes.
async fn cluster(n: u32, keys: &[(NodeId, &[u8])]) -> Cluster {
    let ids: Vec<NodeId> = (1..=n).collect();
    let mut sockets = BTreeMap::new();
    let mut addrs = BTreeMap::new();
    for id in &ids {
        let s = net::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .unwrap();
        addrs.insert(*id, s.local_addr().unwrap());
        sockets.insert(*id, s);
    }
    let mut nodes = BTreeMap::new();
    for (id, socket) in sockets {
        let cfg = Config::new("nettest", id, &ids, TOKEN, incarnation_now());
        let key = keys.iter().find(|(k, _)| *k == id).map_or(KEY, |(_, k)| *k);
        let core = Membership::new(cfg, key, Instant::now()).unwrap();
        let peers = addrs
            .iter()
            .filter(|(p, _)| **p != id)
            .map(|(p, a)| (*p, *a))
            .collect();
        nodes.insert(id, Node::start(core, socket, peers).unwrap());
    }
    Cluster {
        nodes,
        log: BTreeMap::new(),
    }
}

impl Cluster {
    fn drain(&mut self) {
        for (id, n) in self.nodes.iter_mut() {
            while let Ok(e) = n.events.try_recv() {
                self.log.entry(*id).or_default().push(e);
            }
        }
    }

    /// Whether every node of `group` has the view `group`, all with one number.
    fn agreed(&self, group: &[NodeId]) -> Option<u64> {
        let views: Vec<_> = group
            .iter()
            .map(|id| self.nodes.get(id).and_then(|n| n.status().view))
            .collect();
        let first = views.first()?.as_ref()?;
        views
            .iter()
            .all(|v| {
                v.as_ref()
                    .is_some_and(|v| v.members == group && v.number == first.number)
            })
            .then_some(first.number)
    }

    async fn wait_agreed(&mut self, group: &[NodeId]) -> u64 {
        let start = Instant::now();
        loop {
            self.drain();
            if let Some(n) = self.agreed(group) {
                return n;
            }
            if start.elapsed() > PATIENCE {
                let views: Vec<_> = self.nodes.iter().map(|(id, n)| (*id, n.status())).collect();
                panic!("{group:?} did not converge: {views:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn saw(&self, id: NodeId, e: &Event) -> bool {
        self.log.get(&id).is_some_and(|l| l.contains(e))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn three_nodes_converge_and_a_clean_stop_is_a_clean_leave() {
    let mut c = cluster(3, &[]).await;
    let first = c.wait_agreed(&[1, 2, 3]).await;
    let n3 = c.nodes.remove(&3).unwrap();
    n3.leave().await;
    let second = c.wait_agreed(&[1, 2]).await;
    assert!(second > first);
    for id in [1, 2] {
        assert!(c.saw(id, &Event::LeftCleanly(3)), "{:?}", c.log.get(&id));
        assert!(!c.saw(id, &Event::Failed(3)));
        assert_eq!(c.nodes[&id].status().counters.rejected(), 0);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn five_nodes_converge_and_a_crash_is_a_failure() {
    let mut c = cluster(5, &[]).await;
    let first = c.wait_agreed(&[1, 2, 3, 4, 5]).await;
    c.nodes.remove(&2).unwrap().kill();
    let second = c.wait_agreed(&[1, 3, 4, 5]).await;
    assert!(second > first);
    for id in [1, 3, 4, 5] {
        assert!(c.saw(id, &Event::Failed(2)), "{:?}", c.log.get(&id));
        assert!(!c.saw(id, &Event::LeftCleanly(2)));
    }
    // The config version travels in the heartbeats.
    assert_eq!(c.nodes[&3].status().config_versions.get(&1), Some(&0));
    c.nodes[&1].set_config_version(9);
    let start = Instant::now();
    while c.nodes[&3].status().config_versions.get(&1) != Some(&9) {
        assert!(start.elapsed() < PATIENCE, "config version not seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(c.agreed(&[1, 3, 4, 5]), Some(second));
}

#[tokio::test(flavor = "current_thread")]
async fn a_node_with_the_wrong_key_stays_out() {
    let mut c = cluster(4, &[(4, b"a different key, 32 bytes long!!")]).await;
    c.wait_agreed(&[1, 2, 3]).await;
    c.wait_agreed(&[4]).await;
    // Let a few more heartbeats be refused, then look at the counters.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for id in [1, 2, 3] {
        let s = c.nodes[&id].status();
        assert!(s.counters.bad_mac > 0, "node {id}: {:?}", s.counters);
        assert!(s.counters.accepted > 0);
        assert!(!c.saw(id, &Event::Joined(4)));
    }
    assert!(c.nodes[&4].status().counters.bad_mac > 0);
}

#[test]
fn addresses_from_cluster_conf() {
    let conf = ccs::parse_str(
        r#"<cluster name="c" config_version="1"><cman port="6000"/><clusternodes>
        <clusternode name="a" nodeid="1" rgm_addr="127.0.0.1" rgm_port="5411"/>
        <clusternode name="b" nodeid="2" rgm_addr="::1"/>
        <clusternode name="localhost" nodeid="3"/>
        </clusternodes></cluster>"#,
    )
    .unwrap();
    let a = net::node_addrs(&conf).unwrap();
    assert_eq!(a[&1], "127.0.0.1:5411".parse().unwrap());
    assert_eq!(a[&2], "[::1]:6000".parse().unwrap());
    assert_eq!(a[&3], "127.0.0.1:6000".parse().unwrap());
    let conf = ccs::parse_str(
        r#"<cluster name="c" config_version="1"><clusternodes>
        <clusternode name="a" nodeid="1" rgm_addr="127.0.0.1"/>
        <clusternode name="no-such-host.invalid" nodeid="2"/>
        </clusternodes></cluster>"#,
    )
    .unwrap();
    let err = net::node_addrs(&conf).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "node \"no-such-host.invalid\" has no rgm_addr and its name does not resolve"
        ),
        "{err}"
    );
}

#[test]
fn which_node_this_machine_is() {
    // 192.0.2.0/24 is TEST-NET-1: never an address of this machine.
    let conf = ccs::parse_str(
        r#"<cluster name="c" config_version="1"><clusternodes>
        <clusternode name="node1.example.com" nodeid="1" rgm_addr="192.0.2.1"/>
        <clusternode name="node2.example.com" nodeid="2" rgm_addr="127.0.0.1"/>
        <clusternode name="node3.example.com" nodeid="3" rgm_addr="192.0.2.3"/>
        </clusternodes></cluster>"#,
    )
    .unwrap();
    // By name, full or short.
    assert_eq!(
        net::local_node(&conf, "node3.example.com").unwrap(),
        "node3.example.com"
    );
    assert_eq!(
        net::local_node(&conf, "node1").unwrap(),
        "node1.example.com"
    );
    assert_eq!(
        net::local_node(&conf, "node1.other.org").unwrap(),
        "node1.example.com"
    );
    // By address: only node2's is on this machine.
    assert_eq!(
        net::local_node(&conf, "elsewhere").unwrap(),
        "node2.example.com"
    );
    // Several nodes on loopback: the name has to be given.
    let conf = ccs::parse_str(
        r#"<cluster name="c" config_version="1"><clusternodes>
        <clusternode name="a" nodeid="1" rgm_addr="127.0.0.1" rgm_port="5501"/>
        <clusternode name="b" nodeid="2" rgm_addr="127.0.0.1" rgm_port="5502"/>
        </clusternodes></cluster>"#,
    )
    .unwrap();
    let err = net::local_node(&conf, "elsewhere").unwrap_err().to_string();
    assert_eq!(
        err,
        "several clusternodes match this host (a, b); start with --node NAME"
    );
    let conf = ccs::parse_str(
        r#"<cluster name="c" config_version="1"><clusternodes>
        <clusternode name="a" nodeid="1" rgm_addr="192.0.2.1"/>
        </clusternodes></cluster>"#,
    )
    .unwrap();
    let err = net::local_node(&conf, "elsewhere").unwrap_err().to_string();
    assert!(
        err.starts_with(
            "no clusternode of cluster.conf matches this host (host name \"elsewhere\")"
        ),
        "{err}"
    );
    assert!(net::hostname().is_some_and(|h| !h.is_empty()));
}
