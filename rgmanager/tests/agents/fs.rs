//! The `fs` agent for real: ext4 and ext2 file systems on loop devices and image files,
//! mounted, checked at every depth, held by a process and unmounted by force, checked with
//! fsck; and `rg_test` running a service with a file system and an init script inside it.
//! Root is needed (CI runs as root).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::storage::{at_depth, ctx, image, mounted, need_root, sh, Loop, Unmount};
use rgmanager::resource::agent::{Agent, AgentError};
use rgmanager::resource::fs::{FsAgent, FsError};

fn agent() -> FsAgent {
    FsAgent {
        retry_wait: Duration::from_millis(300),
    }
}

#[test]
fn ext4_on_a_loop_device_mount_checks_and_forced_unmount() {
    need_root();
    let d = tempfile::tempdir().unwrap();
    let _guard = Unmount(d.path().to_path_buf());
    let img = image(d.path(), "disk.img", 32);
    sh("mkfs.ext4", &["-q", "-F", img.to_str().unwrap()]);
    let lo = Loop::attach(&img);
    // Through a symbolic link, as /dev/vg/lv or /dev/disk/by-id names are.
    let link = d.path().join("disk-link");
    std::os::unix::fs::symlink(&lo.dev, &link).unwrap();
    let mp = d.path().join("data");
    let c = ctx(
        "fs",
        "data",
        &[
            ("name", "data"),
            ("device", link.to_str().unwrap()),
            ("mountpoint", mp.to_str().unwrap()),
            ("fstype", "ext4"),
            ("force_fsck", "1"),
        ],
    );
    let a = agent();
    assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
    // The mount point does not exist yet: start creates it.
    a.start(&c).unwrap();
    assert!(mounted(&mp));
    for depth in [0, 10, 20] {
        a.status(&at_depth(&c, depth)).unwrap();
    }
    // The write check cleaned up after itself.
    let left: Vec<_> = std::fs::read_dir(&mp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".check_writable"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Started again: already mounted, nothing done.
    a.start(&c).unwrap();

    // The same device for another mount point: in use.
    let other = ctx(
        "fs",
        "other",
        &[
            ("device", &lo.dev),
            ("mountpoint", d.path().join("other").to_str().unwrap()),
        ],
    );
    let e = a.start(&other).unwrap_err();
    assert!(
        e.to_string()
            .contains("already in use (the device is mounted on"),
        "{e}"
    );

    // A process working inside the file system keeps it busy.
    let mut holder = Command::new("sleep")
        .arg("300")
        .current_dir(&mp)
        .spawn()
        .unwrap();
    let e = a.stop(&c).unwrap_err();
    assert!(
        matches!(e, AgentError::Fs(FsError::UmountFailed { .. })),
        "{e}"
    );
    assert!(mounted(&mp));
    assert!(
        holder.try_wait().unwrap().is_none(),
        "killed without force_unmount"
    );

    // force_unmount: the holder gets SIGTERM and the unmount goes through.
    let mut forced = c.clone();
    forced.params.push(("force_unmount".into(), "1".into()));
    a.stop(&forced).unwrap();
    assert!(!mounted(&mp));
    let status = holder.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    // Stopping a stopped file system succeeds; status says not running.
    a.stop(&c).unwrap();
    assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));

    // Read-only: the depth-20 write check is skipped (the kernel would refuse it).
    let mut ro = c.clone();
    ro.params.push(("options".into(), "ro".into()));
    a.start(&ro).unwrap();
    a.status(&at_depth(&ro, 20)).unwrap();
    a.stop(&ro).unwrap();
    assert!(!mounted(&mp));
}

#[test]
fn an_image_file_a_label_and_a_broken_ext2() {
    need_root();
    let d = tempfile::tempdir().unwrap();
    let _guard = Unmount(d.path().to_path_buf());
    // An image named directly: mount attaches a loop device, the agent finds it again.
    let img = image(d.path(), "img.ext4", 16);
    sh(
        "mkfs.ext4",
        &["-q", "-F", "-L", "rgmtestfs", img.to_str().unwrap()],
    );
    let mp = d.path().join("img");
    let c = ctx(
        "fs",
        "img",
        &[
            ("device", img.to_str().unwrap()),
            ("mountpoint", mp.to_str().unwrap()),
            ("fstype", "ext4"),
        ],
    );
    let a = agent();
    a.start(&c).unwrap();
    assert!(mounted(&mp));
    a.status(&at_depth(&c, 20)).unwrap();
    a.stop(&c).unwrap();
    assert!(!mounted(&mp));

    // LABEL= is found with findfs on the attached device.
    let lo = Loop::attach(&img);
    let by_label = ctx(
        "fs",
        "img",
        &[
            ("device", "LABEL=rgmtestfs"),
            ("mountpoint", mp.to_str().unwrap()),
        ],
    );
    a.start(&by_label).unwrap();
    let table = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        table.contains(&format!("{} {}", lo.dev, mp.display())),
        "{table}"
    );
    a.stop(&by_label).unwrap();
    drop(lo);

    // ext2 has no journal: fsck -p runs first, and a broken superblock fails the start
    // before any mount is tried.
    let bad = image(d.path(), "bad.ext2", 8);
    sh("mkfs.ext2", &["-q", "-F", bad.to_str().unwrap()]);
    let lo = Loop::attach(&bad);
    let ext2 = ctx(
        "fs",
        "old",
        &[
            ("device", &lo.dev),
            ("mountpoint", d.path().join("old").to_str().unwrap()),
            ("fstype", "ext2"),
        ],
    );
    a.start(&ext2).unwrap();
    a.stop(&ext2).unwrap();
    // The primary superblock overwritten with zeros.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&bad).unwrap();
        f.seek(SeekFrom::Start(1024)).unwrap();
        f.write_all(&[0u8; 1024]).unwrap();
        f.sync_all().unwrap();
    }
    let e = a.start(&ext2).unwrap_err();
    assert!(
        matches!(e, AgentError::Fs(FsError::FsckFailed { code, .. }) if code > 1),
        "{e}"
    );
    assert!(e.to_string().starts_with("'fsck -p /dev/loop"), "{e}");
    assert!(!mounted(&d.path().join("old")));

    // A mount point that is a file, and a device that does not exist.
    let file = d.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let e = a
        .start(&ctx(
            "fs",
            "f",
            &[("device", &lo.dev), ("mountpoint", file.to_str().unwrap())],
        ))
        .unwrap_err();
    assert!(
        e.to_string().contains("exists but is not a directory"),
        "{e}"
    );
    let nodev = ctx(
        "fs",
        "n",
        &[
            ("device", "/dev/does-not-exist"),
            ("mountpoint", d.path().join("n").to_str().unwrap()),
        ],
    );
    let e = a.start(&nodev).unwrap_err();
    assert_eq!(
        e.to_string(),
        "could not match /dev/does-not-exist with a real device"
    );
    // Stopping it is a success (nothing of it can be mounted), its status "not running".
    a.stop(&nodev).unwrap();
    assert!(matches!(a.status(&nodev), Err(AgentError::NotRunning)));
}

#[test]
fn rg_test_runs_a_service_with_a_file_system_and_a_script_in_it() {
    need_root();
    let d = tempfile::tempdir().unwrap();
    let _guard = Unmount(d.path().to_path_buf());
    let img = image(d.path(), "svc.img", 16);
    sh("mkfs.ext4", &["-q", "-F", img.to_str().unwrap()]);
    let lo = Loop::attach(&img);
    let mp = d.path().join("srv");
    // The script writes into the file system: it must start after the mount and stop before
    // the unmount.
    let script = d.path().join("app");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nM={mp}/app.running\ncase \"$1\" in\n start) touch $M ;;\n stop) rm -f $M ;;\n status) [ -e $M ] || exit 3 ;;\nesac\nexit 0\n",
            mp = mp.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = d.path().join("cluster.conf");
    std::fs::write(
        &conf,
        format!(
            r#"<?xml version="1.0"?>
<cluster name="c" config_version="1">
  <clusternodes><clusternode name="node1" nodeid="1"/></clusternodes>
  <rm>
    <service name="svc">
      <script name="app" file="{script}"/>
      <fs name="srv" device="{dev}" mountpoint="{mp}" fstype="ext4"/>
    </service>
  </rm>
</cluster>
"#,
            script = script.display(),
            dev = lo.dev,
            mp = mp.display()
        ),
    )
    .unwrap();
    let rg_test = |op: &str| {
        crate::storage::rg_test(&[], &["test", conf.to_str().unwrap(), op, "service", "svc"])
    };
    let (rc, out, err) = rg_test("start");
    assert_eq!(rc, Some(0), "{out}{err}");
    assert_eq!(out, "Starting svc...\nStart of svc complete\n");
    assert!(mp.join("app.running").exists());
    let (rc, out, err) = rg_test("status");
    assert_eq!(rc, Some(0), "{out}{err}");
    let (rc, out, err) = rg_test("stop");
    assert_eq!(rc, Some(0), "{out}{err}");
    assert!(!mounted(&mp));
    // The script's marker was removed before the unmount, so it is not on the device now.
    sh("mount", &[&lo.dev, mp.to_str().unwrap()]);
    let left = Path::new(&mp).join("app.running").exists();
    sh("umount", &[mp.to_str().unwrap()]);
    assert!(!left, "the script was stopped after the unmount");
}
