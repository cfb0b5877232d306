//! The `ocf` type with Debian's `resource-agents`: `ocf:heartbeat:IPaddr2` in a network
//! namespace and `ocf:heartbeat:Filesystem` on a loop device, started, monitored at depth and
//! stopped by `rg_test` as one service; the meta-data checking the parameters; and, with an OCF
//! agent written for the test in a private `OCF_ROOT`, the environment an agent gets, its exit
//! codes and the meta-data's timeouts. Root is needed (CI runs as root).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::storage::{at_depth, ctx, image, mounted, need_root, sh, Loop, Unmount};
use rgmanager::resource::agent::{Agent, AgentError};
use rgmanager::resource::ocf::{OcfAgent, OcfError};

const HEARTBEAT: &str = "/usr/lib/ocf/resource.d/heartbeat";

fn need_resource_agents() {
    assert!(
        Path::new(HEARTBEAT).join("IPaddr2").exists(),
        "Debian's resource-agents is not installed (scripts/test installs it)"
    );
}

/// A network namespace with a veth end `ha` holding 10.202.N.1/24; deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new(n: u8) -> Netns {
        let name = format!("rgocf-{}-{n}", std::process::id());
        sh("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "add", "ha", "type", "veth", "peer", "name", "pb"]);
        ns.ip(&["link", "set", "lo", "up"]);
        ns.ip(&["link", "set", "ha", "up"]);
        ns.ip(&["link", "set", "pb", "up"]);
        ns.ip(&["addr", "add", &format!("10.202.{n}.1/24"), "dev", "ha"]);
        ns
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        sh("ip", &all)
    }

    fn has_addr(&self, addr: &str) -> bool {
        self.ip(&["-o", "addr", "show", "dev", "ha"])
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(addr))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn ipaddr2_and_filesystem_in_one_service_through_rg_test() {
    need_root();
    need_resource_agents();
    let ns = Netns::new(1);
    let d = tempfile::tempdir().unwrap();
    let _guard = Unmount(d.path().to_path_buf());
    let img = image(d.path(), "ocf.img", 16);
    sh("mkfs.ext4", &["-q", "-F", img.to_str().unwrap()]);
    let lo = Loop::attach(&img);
    let mp = d.path().join("data");
    std::fs::create_dir(&mp).unwrap();
    let conf = d.path().join("cluster.conf");
    // Document order is the order: the file system, then the address (a Pacemaker group).
    std::fs::write(
        &conf,
        format!(
            r#"<?xml version="1.0"?>
<cluster name="c" config_version="1">
  <clusternodes><clusternode name="node1" nodeid="1"/></clusternodes>
  <rm>
    <service name="pcmk">
      <ocf name="data" type="Filesystem" device="{dev}" directory="{mp}" fstype="ext4"/>
      <ocf name="vip" type="IPaddr2" provider="heartbeat" ip="10.202.1.50" cidr_netmask="24">
        <action name="status" depth="10" interval="60" timeout="30"/>
      </ocf>
    </service>
  </rm>
</cluster>
"#,
            dev = lo.dev,
            mp = mp.display()
        ),
    )
    .unwrap();
    // Only the network namespace is entered (`ip netns exec` would also make a mount
    // namespace of its own, and the file system would be mounted in it alone).
    let netns = format!("--net=/run/netns/{}", ns.name);
    let rg_test = |args: &[&str]| crate::storage::rg_test(&["nsenter", &netns], args);
    let c = conf.to_str().unwrap();
    let (rc, out, _) = rg_test(&["noop", c, "start", "service", "pcmk"]);
    assert_eq!(rc, Some(0));
    assert_eq!(
        out,
        "Starting pcmk...\n[start] service:pcmk\n[start] ocf:data\n[start] ocf:vip\nStart of pcmk complete\n"
    );
    let (rc, out, err) = rg_test(&["test", c, "start", "service", "pcmk"]);
    assert_eq!(rc, Some(0), "{out}{err}");
    assert!(mounted(&mp), "{err}");
    assert!(ns.has_addr("10.202.1.50"), "{err}");
    let (rc, out, err) = rg_test(&["test", c, "status", "service", "pcmk"]);
    assert_eq!(rc, Some(0), "{out}{err}");
    assert_eq!(out, "Checking status of pcmk...\nStatus of pcmk is good\n");

    // The address removed behind the agent's back: monitor says not running (exit 7).
    ns.ip(&["addr", "del", "10.202.1.50/24", "dev", "ha"]);
    let (rc, out, err) = rg_test(&["test", c, "status", "ocf", "vip"]);
    assert_eq!(rc, Some(1), "{out}{err}");
    assert!(
        err.contains("status on ocf \"vip\" returned 7 (not running)"),
        "{err}"
    );

    let (rc, out, err) = rg_test(&["test", c, "stop", "service", "pcmk"]);
    assert_eq!(rc, Some(0), "{out}{err}");
    assert!(!mounted(&mp));
    assert!(!ns.has_addr("10.202.1.50"));
    // Stopped twice: still a success.
    let (rc, _, err) = rg_test(&["test", c, "stop", "service", "pcmk"]);
    assert_eq!(rc, Some(0), "{err}");
}

#[test]
fn filesystem_agent_directly_parameters_checked_by_its_meta_data() {
    need_root();
    need_resource_agents();
    let d = tempfile::tempdir().unwrap();
    let _guard = Unmount(d.path().to_path_buf());
    let img = image(d.path(), "fs.img", 16);
    sh("mkfs.ext4", &["-q", "-F", img.to_str().unwrap()]);
    let lo = Loop::attach(&img);
    let mp = d.path().join("m");
    std::fs::create_dir(&mp).unwrap();
    let a = OcfAgent::default();
    let good = ctx(
        "ocf",
        "fs1",
        &[
            ("name", "fs1"),
            ("type", "Filesystem"),
            ("device", &lo.dev),
            ("directory", mp.to_str().unwrap()),
            ("fstype", "ext4"),
        ],
    );
    // A misspelt parameter: refused before the agent runs, with the agent's parameter list.
    let mut typo = good.clone();
    typo.params.push(("fs_type".into(), "ext4".into()));
    let e = a.start(&typo).unwrap_err();
    assert!(
        matches!(e, AgentError::Ocf(OcfError::UnknownParam { .. })),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("\"fs_type\" is not a parameter of ocf:heartbeat:Filesystem (its parameters: device, directory, fstype"),
        "{e}"
    );
    let mut missing = good.clone();
    missing.params.retain(|(k, _)| k != "directory");
    let e = a.start(&missing).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ocf:heartbeat:Filesystem requires the parameter \"directory\""
    );
    assert!(!mounted(&mp));

    assert!(matches!(a.status(&good), Err(AgentError::NotRunning)));
    a.start(&good).unwrap();
    assert!(mounted(&mp));
    // Depth 0 and the agent's depth 10 (a read of the device).
    a.status(&good).unwrap();
    a.status(&at_depth(&good, 10)).unwrap();
    a.stop(&good).unwrap();
    assert!(!mounted(&mp));
    assert!(matches!(a.status(&good), Err(AgentError::NotRunning)));

    // An agent that is not installed, and a type that would leave the agent directory.
    let mut absent = good.clone();
    absent.params.retain(|(k, _)| k != "type");
    absent.params.push(("type".into(), "NoSuchAgent".into()));
    let e = a.start(&absent).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("OCF agent ocf:heartbeat:NoSuchAgent (/usr/lib/ocf/resource.d/heartbeat/NoSuchAgent) is not installed"),
        "{e}"
    );
    let mut escape = good.clone();
    escape
        .params
        .push(("provider".into(), "../../../bin".into()));
    assert!(matches!(
        a.start(&escape),
        Err(AgentError::Ocf(OcfError::BadName { .. }))
    ));
    drop(lo);
}

/// An OCF agent of the test's own, in a private OCF_ROOT: it records its environment and exits
/// as told by a file.
fn test_agent(root: &Path) {
    let dir = root.join("resource.d/acme");
    std::fs::create_dir_all(&dir).unwrap();
    let log = root.join("calls");
    let script = format!(
        r#"#!/bin/sh
case "$1" in
meta-data) echo meta-data >> {log}; cat <<'EOF'
<?xml version="1.0"?>
<resource-agent name="Probe" version="1.0">
<parameters>
<parameter name="state" required="1"><content type="string"/></parameter>
<parameter name="delay"><content type="integer" default="0"/></parameter>
</parameters>
<actions>
<action name="start" timeout="2s"/>
<action name="stop" timeout="20s"/>
<action name="monitor" depth="0" timeout="15s" interval="10s"/>
</actions>
</resource-agent>
EOF
exit 0 ;;
esac
env | grep -E '^(OCF_|PATH=|HOME=)' | sort > {root}/env.$1
echo "$1 $OCF_CHECK_LEVEL" >> {log}
[ -n "$OCF_RESKEY_delay" ] && sleep "$OCF_RESKEY_delay"
exit $(cat "$OCF_RESKEY_state")
"#,
        root = root.display(),
        log = log.display()
    );
    let p = dir.join("Probe");
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn environment_exit_codes_and_meta_data_timeouts() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("ocf");
    test_agent(&root);
    let state = d.path().join("rc");
    let a = OcfAgent::with_root(&root);
    let mut c = ctx(
        "ocf",
        "p1",
        &[
            ("name", "p1"),
            ("type", "Probe"),
            ("provider", "acme"),
            ("state", state.to_str().unwrap()),
        ],
    );
    // No <action timeout> in cluster.conf: the agent's own limits apply.
    c.timeout = Some(Duration::from_secs(300));
    c.timeout_hint = 0;
    std::fs::write(&state, "0").unwrap();
    a.start(&c).unwrap();
    let env = std::fs::read_to_string(root.join("env.start")).unwrap();
    for want in [
        format!("OCF_ROOT={}", root.display()),
        "OCF_RA_VERSION_MAJOR=1".into(),
        "OCF_RA_VERSION_MINOR=0".into(),
        "OCF_RESOURCE_INSTANCE=p1".into(),
        "OCF_RESOURCE_TYPE=Probe".into(),
        "OCF_RESOURCE_PROVIDER=acme".into(),
        format!("OCF_RESKEY_state={}", state.display()),
        "OCF_RESKEY_CRM_meta_timeout=2000".into(),
        "OCF_RESKEY_CRM_meta_interval=0".into(),
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing from\n{env}");
    }
    // Our own attributes are not the agent's parameters, and nothing of ours leaks in.
    assert!(!env.contains("OCF_RESKEY_name"), "{env}");
    assert!(!env.contains("OCF_RESKEY_type"), "{env}");
    assert!(!env.contains("HOME="), "{env}");

    let mut st = at_depth(&c, 10);
    st.interval = 60;
    a.status(&st).unwrap();
    let env = std::fs::read_to_string(root.join("env.monitor")).unwrap();
    assert!(env.contains("OCF_CHECK_LEVEL=10\n"), "{env}");
    assert!(
        env.contains("OCF_RESKEY_CRM_meta_interval=60000\n"),
        "{env}"
    );
    assert!(env.contains("OCF_RESKEY_CRM_meta_timeout=15000\n"), "{env}");

    std::fs::write(&state, "7").unwrap();
    assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
    a.stop(&c).unwrap();
    std::fs::write(&state, "6").unwrap();
    let e = a.start(&c).unwrap_err();
    assert!(matches!(e, AgentError::Failed { code: 6, .. }), "{e}");
    assert_eq!(e.to_string(), "ocf:acme:Probe start exited with status 6");
    std::fs::write(&state, "8").unwrap();
    let e = a.status(&c).unwrap_err();
    assert!(e.to_string().contains("promoted instance (exit 8)"), "{e}");

    // The meta-data's start timeout (2 s) kills a start that hangs.
    std::fs::write(&state, "0").unwrap();
    let mut slow = c.clone();
    slow.params.push(("delay".into(), "30".into()));
    let t = Instant::now();
    let e = a.start(&slow).unwrap_err();
    assert!(matches!(e, AgentError::Timeout { secs: 2, .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(20));
    // An <action timeout> in cluster.conf wins over the meta-data.
    slow.timeout = Some(Duration::from_secs(1));
    slow.timeout_hint = 1;
    let e = a.start(&slow).unwrap_err();
    assert!(matches!(e, AgentError::Timeout { secs: 1, .. }), "{e}");
    // __enforce_timeouts="0": no limit at all.
    let mut free = c.clone();
    free.params.push(("delay".into(), "3".into()));
    free.timeout = None;
    a.start(&free).unwrap();
    // meta-data was read once for all these calls.
    let calls = std::fs::read_to_string(root.join("calls")).unwrap();
    assert_eq!(calls.matches("meta-data").count(), 1, "{calls}");
}
