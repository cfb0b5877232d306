//! The `lvm` agent with real LVM on loop devices, in an LVM configuration of the test's own
//! (`LVM_SYSTEM_DIR`: only the test's loop device is scanned, `volume_list` holds `@node1`,
//! no metadata backups in /etc/lvm).
//!
//! What this machine's kernel allows: it has no device-mapper (not in `/proc/misc`, and no
//! module loading), so no logical volume can be activated here. The volume group's
//! ownership (tags claimed, refused, stripped, released), the setup check and a whole
//! start/status/stop of a volume group without logical volumes are tested for real; the
//! activation of a logical volume is tested to fail with LVM's own reason, and to succeed where
//! device-mapper exists.

use std::path::Path;
use std::sync::Arc;

use crate::storage::{ctx, image, need_root, Loop};
use rgmanager::resource::agent::{Agent, AgentError};
use rgmanager::resource::lvm::{LvmAgent, LvmError, Members};

#[derive(Debug)]
struct View(Vec<&'static str>);

impl Members for View {
    fn is_member(&self, node: &str) -> Option<bool> {
        Some(self.0.contains(&node))
    }
}

fn lvm(conf_dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("lvm")
        .args(args)
        .env("LVM_SYSTEM_DIR", conf_dir)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lvm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A volume group on a loop device, removed on drop.
struct Vg {
    name: String,
    conf: std::path::PathBuf,
    _lo: Loop,
}

impl Drop for Vg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("lvm")
            .args(["vgremove", "-ff", "-y", &self.name])
            .env("LVM_SYSTEM_DIR", &self.conf)
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .output();
    }
}

fn conf_dir(d: &Path, dev: &str, volume_list: Option<&str>) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = d.join(format!("lvm-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let activation = volume_list
        .map(|v| format!("activation {{\n volume_list = [ {v} ]\n}}\n"))
        .unwrap_or_default();
    std::fs::write(
        dir.join("lvm.conf"),
        format!(
            "devices {{\n filter = [ \"a|^{dev}$|\", \"r|.*|\" ]\n use_devicesfile = 0\n}}\n\
             backup {{\n backup = 0\n archive = 0\n}}\n{activation}"
        ),
    )
    .unwrap();
    dir
}

#[test]
fn a_volume_group_claimed_by_tag_checked_and_released() {
    need_root();
    let d = tempfile::tempdir().unwrap();
    let img = image(d.path(), "pv.img", 16);
    let lo = Loop::attach(&img);
    let conf = conf_dir(d.path(), &lo.dev, Some("\"@node1\""));
    let name = format!("rgmvg{}", std::process::id());
    lvm(&conf, &["pvcreate", "-q", &lo.dev]);
    lvm(&conf, &["vgcreate", "-q", &name, &lo.dev]);
    let vg = Vg {
        name: name.clone(),
        conf: conf.clone(),
        _lo: lo,
    };
    let tags = || {
        lvm(&conf, &["vgs", "--noheadings", "-o", "vg_tags", &name])
            .trim()
            .to_string()
    };
    let view = |m: Vec<&'static str>| -> Option<Arc<dyn Members>> { Some(Arc::new(View(m))) };
    let agent = |members| LvmAgent {
        system_dir: Some(conf.clone()),
        members,
    };
    let c = ctx("lvm", "havg", &[("name", "havg"), ("vg_name", &name)]);

    let a = agent(view(vec!["node1", "node2"]));
    assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
    a.start(&c).unwrap();
    assert_eq!(tags(), "node1");
    a.status(&c).unwrap();
    // Started again: ours already.
    a.start(&c).unwrap();
    a.stop(&c).unwrap();
    assert_eq!(tags(), "");
    assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));

    // node2 holds it and is a member: refused, its tag stays.
    lvm(&conf, &["vgchange", "--addtag", "node2", &name]);
    let e = a.start(&c).unwrap_err();
    assert!(
        matches!(e, AgentError::Lvm(LvmError::OwnedByMember { .. })),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!("volume group {name} is owned by node2, a cluster member")
    );
    assert_eq!(tags(), "node2");
    // Its status here: not ours.
    let e = a.status(&c).unwrap_err();
    assert!(
        e.to_string().contains("is not owned by this node (node1)"),
        "{e}"
    );
    // The membership unknown (rg_test): refused too, with the way out.
    let e = agent(None).start(&c).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("clear it with `vgchange --deltag node2 {name}`")),
        "{e}"
    );
    assert_eq!(tags(), "node2");
    // node2 left the cluster (failed and fenced): its tag is stripped and ours added.
    agent(view(vec!["node1"])).start(&c).unwrap();
    assert_eq!(tags(), "node1");
    a.stop(&c).unwrap();

    // The setup check: no volume_list, or one without our tag, or naming the group.
    for (list, why) in [
        (None, "\"volume_list\" not specified in lvm.conf"),
        (Some("\"@node9\""), "@node1 missing from \"volume_list\""),
    ] {
        let bad = LvmAgent {
            system_dir: Some(conf_dir(d.path(), &storage_dev(&vg), list)),
            members: view(vec!["node1"]),
        };
        let e = bad.start(&c).unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }
    assert_eq!(tags(), "");

    // rg_test takes LVM_SYSTEM_DIR from its environment and the node name from the host.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let host_conf = conf_dir(
        d.path(),
        &storage_dev(&vg),
        Some(&format!("\"@{host}\", \"x\"")),
    );
    let cluster = d.path().join("cluster.conf");
    std::fs::write(
        &cluster,
        format!(
            r#"<cluster name="c" config_version="1"><rm>
  <service name="storage"><lvm name="havg" vg_name="{name}"/></service>
</rm></cluster>"#
        ),
    )
    .unwrap();
    let rg = |op: &str| {
        crate::storage::rg_test(
            &["env", &format!("LVM_SYSTEM_DIR={}", host_conf.display())],
            &["test", cluster.to_str().unwrap(), op, "service", "storage"],
        )
    };
    let (rc, out, err) = rg("start");
    assert_eq!(rc, Some(0), "{out}{err}");
    assert_eq!(tags(), host);
    let (rc, out, err) = rg("status");
    assert_eq!(rc, Some(0), "{out}{err}");
    let (rc, out, err) = rg("stop");
    assert_eq!(rc, Some(0), "{out}{err}");
    assert_eq!(tags(), "");
    drop(vg);
}

fn storage_dev(vg: &Vg) -> String {
    vg._lo.dev.clone()
}

#[test]
fn a_logical_volume_is_activated_only_where_device_mapper_exists() {
    need_root();
    let d = tempfile::tempdir().unwrap();
    let img = image(d.path(), "pv.img", 16);
    let lo = Loop::attach(&img);
    let conf = conf_dir(d.path(), &lo.dev, Some("\"@node1\""));
    let name = format!("rgmlv{}", std::process::id());
    lvm(&conf, &["pvcreate", "-q", &lo.dev]);
    lvm(&conf, &["vgcreate", "-q", &name, &lo.dev]);
    let _vg = Vg {
        name: name.clone(),
        conf: conf.clone(),
        _lo: lo,
    };
    // Without device-mapper LVM can still write an LV into the metadata (not activated).
    lvm(
        &conf,
        &[
            "lvcreate",
            "--driverloaded",
            "n",
            "-an",
            "-Zn",
            "-L",
            "4M",
            "-n",
            "data",
            &name,
        ],
    );
    let a = LvmAgent {
        system_dir: Some(conf.clone()),
        members: None,
    };
    let c = ctx(
        "lvm",
        "halv",
        &[("name", "halv"), ("vg_name", &name), ("lv_name", "data")],
    );
    let lv_tags = || {
        lvm(
            &conf,
            &[
                "lvs",
                "--noheadings",
                "-o",
                "lv_tags",
                &format!("{name}/data"),
            ],
        )
        .trim()
        .to_string()
    };
    let res = a.start(&c);
    // The LV was claimed by tag before the activation either way.
    assert_eq!(lv_tags(), "node1");
    // The kernel has device-mapper when /proc/misc lists it (LVM may have made a
    // /dev/mapper/control node that leads nowhere).
    let dm = std::fs::read_to_string("/proc/misc")
        .unwrap_or_default()
        .contains("device-mapper");
    if dm {
        res.unwrap();
        a.status(&c).unwrap();
        a.stop(&c).unwrap();
        assert_eq!(lv_tags(), "");
    } else {
        // Blocked here: the kernel has no device-mapper. LVM's reason is in the error.
        let e = res.unwrap_err();
        assert!(e.to_string().contains("lvchange -ay"), "{e}");
        assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
        // The stop after the failed start releases the claim.
        a.stop(&c).unwrap();
        assert_eq!(lv_tags(), "");
    }
}
