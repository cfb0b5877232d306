//! What the storage agents' tests share: root, loop devices over image files (detached by a
//! drop guard, also when an assertion fails), file systems made on them, and agent contexts.
//!
//! A module of the `agents` test binary (`tests/agents/main.rs`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rgmanager::resource::agent::OpContext;

/// These tests mount file systems and attach loop devices: root is required (CI has it).
pub fn need_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test attaches loop devices and mounts file systems: run it as root"
    );
}

/// Runs a command that must succeed; its stdout.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An image file of `mib` MiB in `dir`.
pub fn image(dir: &Path, name: &str, mib: u64) -> PathBuf {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(mib << 20).unwrap();
    p
}

/// A loop device attached to an image; detached on drop.
pub struct Loop {
    pub dev: String,
}

impl Loop {
    pub fn attach(image: &Path) -> Loop {
        let dev = sh("losetup", &["-f", "--show", image.to_str().unwrap()])
            .trim()
            .to_string();
        assert!(dev.starts_with("/dev/loop"), "{dev}");
        Loop { dev }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        // A file system left mounted by a failed test goes first (lazily: its holders may
        // still run), then the device.
        if let Ok(m) = std::fs::read_to_string("/proc/mounts") {
            for l in m.lines() {
                let mut f = l.split_whitespace();
                if f.next() == Some(self.dev.as_str()) {
                    if let Some(mp) = f.next() {
                        let _ = Command::new("umount").args(["-l", mp]).status();
                    }
                }
            }
        }
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// Unmounts whatever is still mounted under `dir` (lazily) when dropped: the guard of a test
/// that mounts images without a loop device of its own.
pub struct Unmount(pub PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let dir = self.0.to_string_lossy().into_owned();
        if let Ok(m) = std::fs::read_to_string("/proc/mounts") {
            for l in m.lines().rev() {
                if let Some(mp) = l.split_whitespace().nth(1) {
                    if mp.starts_with(&dir) {
                        let _ = Command::new("umount").args(["-l", mp]).status();
                    }
                }
            }
        }
    }
}

/// A context for a resource `kind:name` of service `svc` with `params`.
pub fn ctx(kind: &str, name: &str, params: &[(&str, &str)]) -> OpContext {
    OpContext {
        service: "service:svc".into(),
        resource: format!("{kind}:{name}"),
        kind: kind.into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timeout: Some(Duration::from_secs(60)),
        timeout_hint: 60,
        depth: 0,
        interval: 0,
        refcnt: 0,
        node: "node1".into(),
        service_ips: Vec::new(),
    }
}

pub fn at_depth(c: &OpContext, depth: u32) -> OpContext {
    let mut c = c.clone();
    c.depth = depth;
    c
}

/// Whether `mp` is a mount point in the mount table now.
pub fn mounted(mp: &Path) -> bool {
    let mp = mp.to_string_lossy();
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(&*mp))
}

/// Runs `rg_test ARGS`, behind `prefix` when given (`nsenter --net=…` to run it inside a
/// namespace): exit code, stdout, stderr.
pub fn rg_test(prefix: &[&str], args: &[&str]) -> (Option<i32>, String, String) {
    let bin = env!("CARGO_BIN_EXE_rg_test");
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let out = cmd.args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
