//! `nfsexport` and `nfsclient` with nfs-utils' `exportfs` (Debian nfs-kernel-server).
//!
//! What this machine's kernel allows: it is built without the NFS server and client
//! (`nfsd` and `nfs` are not in /proc/filesystems, and it loads no modules), so no NFS server
//! runs and nothing can be mounted over NFS here. The export table is kept by `exportfs`
//! (`/var/lib/nfs/etab`) whether or not the kernel serves it, so the client exports are
//! tested for real through it; the server check of `nfsexport` is tested to refuse here and
//! to pass where the kernel has nfsd and the server runs. A client mount in a namespace is
//! blocked by the same kernel.

use std::process::Command;

use crate::storage::{ctx, need_root};
use rgmanager::resource::agent::{Agent, AgentError};
use rgmanager::resource::nfs::{parse_exportfs, NfsClientAgent, NfsExportAgent};
use rgmanager::resource::Forest;

fn exportfs_v() -> String {
    let out = Command::new("exportfs").arg("-v").output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the test's export whatever happens.
struct Unexport(String);

impl Drop for Unexport {
    fn drop(&mut self) {
        let _ = Command::new("exportfs").args(["-u", &self.0]).output();
    }
}

#[test]
fn client_exports_in_the_export_table() {
    need_root();
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("export");
    std::fs::create_dir(&path).unwrap();
    let p = path.to_str().unwrap();
    // A private network of its own per run, so that runs never meet in the table.
    let target = format!("10.206.{}.0/24", std::process::id() % 250);
    let _guard = Unexport(format!("{target}:{p}"));
    let a = NfsClientAgent;
    let c = ctx(
        "nfsclient",
        "lan",
        &[
            ("name", "lan"),
            ("target", &target),
            ("path", p),
            ("fsid", "4711"),
            ("options", "rw,no_root_squash,sync"),
        ],
    );
    assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
    a.start(&c).unwrap();
    let table = exportfs_v();
    let line = parse_exportfs(&table)
        .into_iter()
        .find(|e| e.path == p && e.client == target)
        .map(|e| e.options)
        .unwrap_or_else(|| panic!("{p} {target} not exported:\n{table}"));
    // The inherited fsid and the client's options reached the kernel's table.
    assert!(line.contains("fsid=4711"), "{line}");
    assert!(line.contains("no_root_squash"), "{line}");
    a.status(&c).unwrap();
    a.stop(&c).unwrap();
    assert!(!exportfs_v().contains(&target));
    assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
    // Stopping an export that is not there is a success.
    a.stop(&c).unwrap();

    // The world (`*`) is listed as <world>.
    let world = ctx(
        "nfsclient",
        "all",
        &[
            ("name", "all"),
            ("target", "*"),
            ("path", p),
            ("options", "ro"),
        ],
    );
    let _guard2 = Unexport(format!("*:{p}"));
    a.start(&world).unwrap();
    a.status(&world).unwrap();
    a.stop(&world).unwrap();
    assert!(matches!(a.status(&world), Err(AgentError::NotRunning)));

    // An option exportfs would not know is refused before anything is exported.
    let bad = ctx(
        "nfsclient",
        "bad",
        &[
            ("name", "bad"),
            ("target", &target),
            ("path", p),
            ("options", "rw,turbo"),
        ],
    );
    assert_eq!(
        a.start(&bad).unwrap_err().to_string(),
        "export option turbo is invalid"
    );
    assert!(!exportfs_v().contains(&target));

    // rg_test runs a client in a service.
    let conf = d.path().join("cluster.conf");
    std::fs::write(
        &conf,
        format!(
            r#"<cluster name="c" config_version="1"><rm>
  <service name="nfs"><nfsclient name="lan" target="{target}" path="{p}" options="ro"/></service>
</rm></cluster>"#
        ),
    )
    .unwrap();
    let rg = |op: &str| {
        crate::storage::rg_test(&[], &["test", conf.to_str().unwrap(), op, "service", "nfs"])
    };
    let (rc, out, err) = rg("start");
    assert_eq!(rc, Some(0), "{out}{err}");
    assert!(exportfs_v().contains(&target));
    let (rc, out, err) = rg("status");
    assert_eq!(rc, Some(0), "{out}{err}");
    let (rc, out, err) = rg("stop");
    assert_eq!(rc, Some(0), "{out}{err}");
    assert!(!exportfs_v().contains(&target));
}

#[test]
fn the_export_needs_the_nfs_server() {
    need_root();
    let d = tempfile::tempdir().unwrap();
    let c = ctx(
        "nfsexport",
        "exp",
        &[("name", "exp"), ("path", d.path().to_str().unwrap())],
    );
    let kernel_nfsd = std::fs::read_to_string("/proc/filesystems")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().last() == Some("nfsd"));
    let a = NfsExportAgent;
    if kernel_nfsd {
        // Where the kernel has nfsd, the agent starts the server if it must.
        a.start(&c).unwrap();
        a.status(&c).unwrap();
    } else {
        // Blocked here: no nfsd in the kernel; the start tries and says what is missing.
        let e = a.start(&c).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("NFS server is not running on this node (nfsd"),
            "{e}"
        );
        assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
    }
    a.stop(&c).unwrap();
    // A path that is not a directory.
    let e = a
        .start(&ctx("nfsexport", "x", &[("path", "/nonexistent/x")]))
        .unwrap_err();
    assert_eq!(e.to_string(), "/nonexistent/x is not a directory");
}

#[test]
fn path_and_fsid_inherited_from_the_file_system() {
    let conf = ccs::parse_str(
        r#"<cluster name="c" config_version="1"><rm>
          <service name="nfs">
            <fs name="data" device="/dev/sdb1" mountpoint="/srv/data" fsid="9">
              <nfsexport name="exp">
                <nfsclient name="lan" target="10.0.0.0/24" options="rw"/>
              </nfsexport>
            </fs>
          </service></rm></cluster>"#,
    )
    .unwrap();
    let f = Forest::build(&conf);
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    let client = f
        .nodes
        .iter()
        .position(|n| f.resources[n.res].kind == "nfsclient")
        .unwrap();
    let attrs = f.resolved_attrs(client);
    let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("path"), Some("/srv/data"));
    assert_eq!(get("fsid"), Some("9"));
    assert_eq!(get("svcname"), Some("nfs"));
}
