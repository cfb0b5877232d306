//! `fs`: a file system of a service, rgmanager's `fs.sh` (with its `fs-lib.sh`).
//!
//! The decisions are pure functions, unit-tested without mounts: reading `/proc/mounts`
//! ([`parse_mounts`]), what the mount table says about our device and mount point
//! ([`mount_state`]), whether a file system needs `fsck` first ([`fsck_needed`]), whether a
//! path lies on the mount ([`is_under`]). The agent reads the table, acts with `mount`,
//! `umount` and `fsck`, and reads the table again.
//!
//! Behaviour, as fs.sh unless said:
//! - `device` is a block device, `LABEL=…` / `UUID=…` (found with `findfs`), or a file
//!   system image (a regular file: `mount` attaches it to a loop device). Devices are
//!   compared by device number, so `/dev/vg/lv`, `/dev/mapper/vg-lv` and `/dev/dm-3` are one
//!   device, and an image by the loop devices backed by it.
//! - start: the mount point is created when missing (a file there is an error); mounted
//!   already on it = success; the device mounted elsewhere, or another device on the mount
//!   point = "already in use", a failure. `fsck -p` runs first for file systems without a
//!   journal (ext2, vfat, msdos, minix, and when `fstype` is not given) or with
//!   `force_fsck`; an exit status above 1 fails the start. Then `mount [-t fstype]
//!   [-o options] device mountpoint`, and the table must show it. fs.sh retried a failed
//!   start three times; a start that failed here fails, and the service's recovery decides.
//! - stop: not mounted = success. Up to three `umount` tries; with `force_unmount`, after the
//!   first failure the processes using the mount (open files, working or root directory,
//!   executable, memory maps; found in `/proc`, as fs.sh did) get SIGTERM, after the second
//!   SIGKILL, and each time the agent waits for them to be gone (fs.sh slept 5 s) before
//!   trying again. Still mounted: with `self_fence` the node reboots at once (fs.sh's
//!   `reboot -fn`), else the stop fails.
//! - status: depth 0: the device is mounted on the mount point (else "not running");
//!   `quick_status` stops there. Depth 10: the mount point can be listed. Depth 20: a file
//!   can be created and removed in it, unless the file system is mounted read-only (fs.sh
//!   looked at the configured options; the mount table is what the kernel actually did).
//!   The read and write checks run on a thread of their own with the operation's time limit:
//!   a dead device makes them hang in the kernel, and the check must fail rather than hang
//!   the service's status.
//! - Not done: NFS lock reclaim (`nfslock`), `nfsrestart` and quotas; `use_findmnt` is not
//!   needed (the mount table is read directly).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::agent::{Agent, AgentError, OpContext};
use super::exec::{self, CmdError, Deadline};

/// What fs.sh waited between two `umount` tries.
pub const RETRY_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("invalid mount point \"{0}\" (must begin with a '/')")]
    BadMountpoint(String),
    #[error("mount point {0} exists but is not a directory")]
    NotADirectory(String),
    #[error("unable to create mount point {mp}: {source}")]
    CreateMountpoint { mp: String, source: std::io::Error },
    #[error("could not match {0} with a real device")]
    DeviceNotFound(String),
    #[error("cannot mount {dev} on {mp}, the device or mount point is already in use ({why})")]
    InUse {
        dev: String,
        mp: String,
        why: String,
    },
    #[error("'fsck -p {dev}' failed, error={code}: {message}")]
    FsckFailed {
        dev: String,
        code: i32,
        message: String,
    },
    #[error("{dev} was mounted on {mp} but the mount table does not show it")]
    NotMountedAfter { dev: String, mp: String },
    #[error("'umount {mp}' failed: {message}")]
    UmountFailed { mp: String, message: String },
    #[error("mount point {mp} is not accessible: {why}")]
    NotAccessible { mp: String, why: String },
    #[error("cannot read the mount table: {0}")]
    MountTable(std::io::Error),
    #[error(transparent)]
    Cmd(#[from] CmdError),
}

impl From<FsError> for AgentError {
    fn from(e: FsError) -> Self {
        AgentError::Fs(e)
    }
}

/// One line of `/proc/mounts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub device: String,
    pub mountpoint: String,
    pub fstype: String,
    pub options: Vec<String>,
}

impl MountEntry {
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// The kernel's escapes in `/proc/mounts` fields (`\040` for a blank, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount table, in mount order.
pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_ascii_whitespace();
            let device = unescape(f.next()?);
            let mountpoint = unescape(f.next()?);
            let fstype = f.next()?.to_string();
            let options = f
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect();
            Some(MountEntry {
                device,
                mountpoint,
                fstype,
                options,
            })
        })
        .collect()
}

/// What the mount table says about our device and mount point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountState {
    /// Our device is what is mounted on our mount point.
    Mounted(MountEntry),
    NotMounted,
    /// Our device is mounted, but on another mount point.
    DeviceElsewhere {
        mountpoint: String,
    },
    /// Another device is mounted on our mount point.
    MountpointTaken {
        device: String,
    },
}

/// Looks our device up in `entries`. `is_ours` tells whether a table entry's device is ours;
/// the mount point must be given without a trailing slash. Where mounts are stacked on one
/// mount point, the last one is what is visible there.
pub fn mount_state(
    entries: &[MountEntry],
    mountpoint: &str,
    is_ours: impl Fn(&MountEntry) -> bool,
) -> MountState {
    if let Some(top) = entries.iter().rev().find(|e| e.mountpoint == mountpoint) {
        if mounted_ours(top, &is_ours) {
            return MountState::Mounted(top.clone());
        }
        if top.fstype != "autofs" {
            return MountState::MountpointTaken {
                device: top.device.clone(),
            };
        }
    }
    match entries.iter().find(|e| mounted_ours(e, &is_ours)) {
        Some(e) => MountState::DeviceElsewhere {
            mountpoint: e.mountpoint.clone(),
        },
        None => MountState::NotMounted,
    }
}

/// An entry that mounts our device (an autofs trigger mounts nothing).
fn mounted_ours(e: &MountEntry, is_ours: &impl Fn(&MountEntry) -> bool) -> bool {
    e.fstype != "autofs" && is_ours(e)
}

/// fs.sh's list: file systems with a journal are mounted without `fsck`; the others, and an
/// unknown or unnamed type, are checked first.
pub fn fsck_needed(fstype: Option<&str>, force: bool) -> bool {
    if force {
        return true;
    }
    !matches!(
        fstype.map(str::trim),
        Some("ext3" | "ext4" | "xfs" | "btrfs" | "reiserfs" | "jfs" | "vxfs")
    )
}

/// True if `path` is `mp` or lies under it.
pub fn is_under(path: &str, mp: &str) -> bool {
    let mp = mp.trim_end_matches('/');
    path == mp || (path.starts_with(mp) && path.as_bytes().get(mp.len()) == Some(&b'/'))
}

/// The agent's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsParams {
    pub device: String,
    /// Absolute, without a trailing slash.
    pub mountpoint: String,
    pub fstype: Option<String>,
    pub options: Option<String>,
    pub force_unmount: bool,
    pub force_fsck: bool,
    pub quick_status: bool,
    pub self_fence: bool,
}

fn flag(ctx: &OpContext, name: &str) -> bool {
    ctx.param(name)
        .and_then(ccs::value::parse_bool)
        .unwrap_or(false)
}

fn non_blank(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl FsParams {
    pub fn from_ctx(ctx: &OpContext) -> Result<Self, AgentError> {
        let device = non_blank(ctx.param("device")).ok_or(AgentError::MissingParam("device"))?;
        let mp =
            non_blank(ctx.param("mountpoint")).ok_or(AgentError::MissingParam("mountpoint"))?;
        if !mp.starts_with('/') {
            return Err(FsError::BadMountpoint(mp).into());
        }
        let trimmed = mp.trim_end_matches('/');
        let mountpoint = if trimmed.is_empty() { "/" } else { trimmed }.to_string();
        Ok(FsParams {
            device,
            mountpoint,
            fstype: non_blank(ctx.param("fstype")),
            options: non_blank(ctx.param("options")),
            force_unmount: flag(ctx, "force_unmount"),
            force_fsck: flag(ctx, "force_fsck"),
            quick_status: flag(ctx, "quick_status"),
            self_fence: flag(ctx, "self_fence"),
        })
    }
}

/// The configured device as the kernel knows it.
#[derive(Clone, Debug)]
pub struct Device {
    /// What `mount` and `fsck` are given.
    pub path: String,
    /// Device numbers that are this device (a block device, or the loop devices backed by an
    /// image).
    pub ids: Vec<u64>,
}

impl Device {
    fn is_ours(&self, e: &MountEntry) -> bool {
        match std::fs::metadata(&e.device) {
            Ok(m) if m.file_type().is_block_device() => self.ids.contains(&m.rdev()),
            _ => e.device == self.path,
        }
    }
}

/// The loop devices attached to `file` (by `/sys/block/loop*/loop/backing_file`).
fn loops_backed_by(file: &Path) -> Vec<u64> {
    let Ok(dir) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("loop") {
            continue;
        }
        let Ok(backing) = std::fs::read_to_string(e.path().join("loop/backing_file")) else {
            continue;
        };
        if Path::new(backing.trim()) != file {
            continue;
        }
        if let Ok(m) = std::fs::metadata(format!("/dev/{name}")) {
            ids.push(m.rdev());
        }
    }
    ids
}

/// `device` resolved: `LABEL=`/`UUID=` through `findfs`, symbolic links followed.
pub fn resolve_device(dl: &Deadline, spec: &str) -> Result<Device, FsError> {
    let path = if spec.starts_with("LABEL=") || spec.starts_with("UUID=") {
        let ran = exec::check(dl, &exec::base_env(), "findfs", &[spec])
            .map_err(|_| FsError::DeviceNotFound(spec.to_string()))?;
        ran.stdout.trim().to_string()
    } else {
        spec.to_string()
    };
    let real =
        std::fs::canonicalize(&path).map_err(|_| FsError::DeviceNotFound(spec.to_string()))?;
    let meta = std::fs::metadata(&real).map_err(|_| FsError::DeviceNotFound(spec.to_string()))?;
    let ids = if meta.file_type().is_block_device() {
        vec![meta.rdev()]
    } else if meta.is_file() {
        loops_backed_by(&real)
    } else {
        return Err(FsError::DeviceNotFound(spec.to_string()));
    };
    Ok(Device {
        path: real.to_string_lossy().into_owned(),
        ids,
    })
}

/// The mount table now.
pub fn read_mounts() -> Result<Vec<MountEntry>, FsError> {
    std::fs::read_to_string("/proc/mounts")
        .map(|t| parse_mounts(&t))
        .map_err(FsError::MountTable)
}

/// The canonical form of the mount point (symbolic links followed, as fs.sh's `readlink -f`).
fn canonical_mp(mp: &str) -> String {
    std::fs::canonicalize(mp)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| mp.to_string())
}

/// Processes using anything under `mp`: open files, working and root directories,
/// executables and memory maps (fs.sh's `kill_procs_using_mount`). This process is never
/// among them.
pub fn holders(mp: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(proc_dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in proc_dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let base = e.path();
        let link_under = |p: PathBuf| {
            std::fs::read_link(p)
                .map(|t| is_under(&t.to_string_lossy(), mp))
                .unwrap_or(false)
        };
        let mut uses = ["cwd", "root", "exe"]
            .iter()
            .any(|l| link_under(base.join(l)));
        if !uses {
            if let Ok(fds) = std::fs::read_dir(base.join("fd")) {
                uses = fds.flatten().any(|fd| link_under(fd.path()));
            }
        }
        if !uses {
            if let Ok(maps) = std::fs::read_to_string(base.join("maps")) {
                uses = maps.lines().any(|l| {
                    l.split_ascii_whitespace()
                        .nth(5)
                        .is_some_and(|p| is_under(p, mp))
                });
            }
        }
        if uses {
            out.push(pid);
        }
    }
    out
}

/// Runs `f` on a thread of its own and waits at most `limit` for it: a file system on a dead
/// device blocks its callers in the kernel, and a status check must answer. A thread that
/// never returns is left behind (it cannot be killed; it ends when the kernel gives up).
fn with_limit<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("fs-check".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    rx.recv_timeout(limit).ok()
}

/// The `fs` agent.
#[derive(Clone, Debug)]
pub struct FsAgent {
    /// The wait between `umount` tries (and for killed holders to go): fs.sh's 5 s; tests
    /// shorten it.
    pub retry_wait: Duration,
}

impl Default for FsAgent {
    fn default() -> Self {
        FsAgent {
            retry_wait: RETRY_WAIT,
        }
    }
}

fn state_of(dev: &Device, mp: &str) -> Result<MountState, FsError> {
    Ok(mount_state(&read_mounts()?, mp, |e| dev.is_ours(e)))
}

fn log(ctx: &OpContext, msg: &str) {
    tracing::info!(service = %ctx.service, resource = %ctx.resource, "{msg}");
}

fn warn(ctx: &OpContext, msg: &str) {
    tracing::warn!(service = %ctx.service, resource = %ctx.resource, "{msg}");
}

impl FsAgent {
    fn start_fs(&self, ctx: &OpContext, p: &FsParams) -> Result<(), FsError> {
        let dl = Deadline::of(ctx);
        let mp_path = Path::new(&p.mountpoint);
        match std::fs::metadata(mp_path) {
            Ok(m) if !m.is_dir() => return Err(FsError::NotADirectory(p.mountpoint.clone())),
            Ok(_) => {}
            Err(_) => {
                log(ctx, &format!("Creating mount point {}", p.mountpoint));
                std::fs::create_dir_all(mp_path).map_err(|source| FsError::CreateMountpoint {
                    mp: p.mountpoint.clone(),
                    source,
                })?;
            }
        }
        let mp = canonical_mp(&p.mountpoint);
        let dev = resolve_device(&dl, &p.device)?;
        match state_of(&dev, &mp)? {
            MountState::Mounted(_) => {
                tracing::debug!("{} already mounted", dev.path);
                return Ok(());
            }
            MountState::NotMounted => {}
            MountState::DeviceElsewhere { mountpoint } => {
                return Err(FsError::InUse {
                    dev: dev.path,
                    mp,
                    why: format!("the device is mounted on {mountpoint}"),
                })
            }
            MountState::MountpointTaken { device } => {
                return Err(FsError::InUse {
                    dev: dev.path,
                    mp,
                    why: format!("{device} is mounted there"),
                })
            }
        }
        if fsck_needed(p.fstype.as_deref(), p.force_fsck) {
            tracing::debug!("Running fsck on {}", dev.path);
            let ran = exec::run(&dl, &exec::base_env(), "fsck", &["-p", &dev.path])?;
            let code = exec::code(&ran);
            if code > 1 {
                return Err(FsError::FsckFailed {
                    dev: dev.path,
                    code,
                    message: exec::last_line(&ran),
                });
            }
        }
        log(ctx, &format!("mounting {} on {mp}", dev.path));
        let mut args: Vec<&str> = Vec::new();
        if let Some(t) = &p.fstype {
            args.extend(["-t", t.as_str()]);
        }
        if let Some(o) = &p.options {
            args.extend(["-o", o.as_str()]);
        }
        args.extend([dev.path.as_str(), mp.as_str()]);
        exec::check(&dl, &exec::base_env(), "mount", &args)?;
        // An image was attached to a loop device by mount: look its number up again.
        let dev = resolve_device(&dl, &p.device)?;
        match state_of(&dev, &mp)? {
            MountState::Mounted(_) => Ok(()),
            _ => Err(FsError::NotMountedAfter { dev: dev.path, mp }),
        }
    }

    fn stop_fs(&self, ctx: &OpContext, p: &FsParams) -> Result<(), FsError> {
        let dl = Deadline::of(ctx);
        let mp = canonical_mp(&p.mountpoint);
        let dev = match resolve_device(&dl, &p.device) {
            Ok(d) => d,
            // No such device: nothing of it can be mounted.
            Err(FsError::DeviceNotFound(d)) => {
                log(ctx, &format!("{d} is not mounted (no such device)"));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut last = String::new();
        for attempt in 1..=3 {
            match state_of(&dev, &mp)? {
                MountState::Mounted(_) => {}
                MountState::NotMounted => {
                    log(ctx, &format!("{} is not mounted", dev.path));
                    return Ok(());
                }
                MountState::DeviceElsewhere { mountpoint } => {
                    warn(
                        ctx,
                        &format!(
                            "{} is mounted on {mountpoint}, not on {mp}; not ours to unmount",
                            dev.path
                        ),
                    );
                    return Ok(());
                }
                MountState::MountpointTaken { device } => {
                    warn(
                        ctx,
                        &format!(
                            "{device} is mounted on {mp}, not {}; not ours to unmount",
                            dev.path
                        ),
                    );
                    return Ok(());
                }
            }
            if attempt == 1 {
                // SAFETY: sync(2) takes no arguments and cannot fail.
                unsafe { libc::sync() };
            }
            log(ctx, &format!("unmounting {mp}"));
            let ran = exec::run(&dl, &exec::base_env(), "umount", &[&mp])?;
            if exec::code(&ran) == 0 {
                return Ok(());
            }
            last = exec::last_line(&ran);
            tracing::debug!("umount failed: {last}");
            let wait = dl.within(self.retry_wait);
            if !p.force_unmount {
                wait.poll(Duration::from_millis(100), || false);
                continue;
            }
            let pids = holders(&mp);
            let (sig, word) = if attempt == 1 {
                (libc::SIGTERM, "SIGTERM")
            } else {
                (libc::SIGKILL, "SIGKILL")
            };
            warn(ctx, &format!("Sending {word} to processes on {mp}"));
            for &pid in &pids {
                exec::signal(pid, sig);
            }
            exec::wait_gone(&wait, &pids);
        }
        match state_of(&dev, &mp)? {
            MountState::Mounted(_) => {}
            _ => return Ok(()),
        }
        if p.self_fence {
            tracing::error!(service = %ctx.service, resource = %ctx.resource, "umount failed - REBOOTING");
            reboot_now();
        }
        Err(FsError::UmountFailed { mp, message: last })
    }

    fn status_fs(&self, ctx: &OpContext, p: &FsParams) -> Result<(), AgentError> {
        let dl = Deadline::of(ctx);
        let mp = canonical_mp(&p.mountpoint);
        let Ok(dev) = resolve_device(&dl, &p.device) else {
            return Err(AgentError::NotRunning);
        };
        let entry = match state_of(&dev, &mp)? {
            MountState::Mounted(e) => e,
            _ => {
                warn(ctx, &format!("{} is not mounted on {mp}", p.device));
                return Err(AgentError::NotRunning);
            }
        };
        if p.quick_status {
            return Ok(());
        }
        let depth = ctx.depth;
        let node = ctx.node.clone();
        let limit = ctx
            .timeout
            .unwrap_or(Duration::from_secs(ctx.timeout_hint.max(30)));
        let check_mp = mp.clone();
        let result = with_limit(limit, move || {
            alive(&check_mp, depth, entry.read_only(), &node)
        });
        match result {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => Err(FsError::NotAccessible { mp, why }.into()),
            None => Err(FsError::NotAccessible {
                mp,
                why: format!("no answer within {} s", limit.as_secs()),
            }
            .into()),
        }
    }
}

/// fs-lib's `is_alive`: a directory; at depth 10 readable; at depth 20 writable (unless
/// mounted read-only).
fn alive(mp: &str, depth: u32, read_only: bool, node: &str) -> Result<(), String> {
    let meta = std::fs::metadata(mp).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err("not a directory".to_string());
    }
    if depth < 10 {
        return Ok(());
    }
    std::fs::read_dir(mp).map_err(|e| format!("failed read test: {e}"))?;
    if depth < 20 || read_only {
        return Ok(());
    }
    let node = if node.is_empty() { "node" } else { node };
    let file = tempfile::Builder::new()
        .prefix(&format!(".check_writable.{node}."))
        .tempfile_in(mp)
        .map_err(|e| format!("failed write test: {e}"))?;
    file.close().map_err(|e| format!("failed write test: {e}"))
}

/// fs.sh's `reboot -fn` for `self_fence`: no clean shutdown, the node must go at once.
fn reboot_now() {
    // SAFETY: sync(2) and reboot(2) take no pointers; reboot only returns on failure.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_AUTOBOOT);
    }
}

impl Agent for FsAgent {
    fn kind(&self) -> &'static str {
        "fs"
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let p = FsParams::from_ctx(ctx)?;
        Ok(self.start_fs(ctx, &p)?)
    }

    fn stop(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let p = FsParams::from_ctx(ctx)?;
        Ok(self.stop_fs(ctx, &p)?)
    }

    fn status(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let p = FsParams::from_ctx(ctx)?;
        self.status_fs(ctx, &p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "sysfs /sys sysfs rw,nosuid 0 0\n\
        /dev/loop3 /srv/my\\040data ext4 rw,relatime 0 0\n\
        /dev/sdb1 /mnt/x xfs ro,relatime 0 0\n\
        systemd-1 /mnt/auto autofs rw 0 0\n\
        /dev/sdc1 /mnt/auto ext4 rw 0 0\n\
        /dev/sdb1 /mnt/y xfs rw 0 0\n";

    #[test]
    fn mount_table_lines_with_escapes() {
        let m = parse_mounts(TABLE);
        assert_eq!(m.len(), 6);
        assert_eq!(m[1].mountpoint, "/srv/my data");
        assert_eq!(m[1].fstype, "ext4");
        assert!(m[2].read_only());
        assert!(!m[1].read_only());
        assert_eq!(unescape("a\\011b\\134c\\012"), "a\tb\\c\n");
        // Not an escape: kept as written.
        assert_eq!(unescape("a\\9b\\04"), "a\\9b\\04");
    }

    #[test]
    fn states_of_device_and_mount_point() {
        let m = parse_mounts(TABLE);
        let dev = |d: &'static str| move |e: &MountEntry| e.device == d;
        assert!(matches!(
            mount_state(&m, "/srv/my data", dev("/dev/loop3")),
            MountState::Mounted(e) if e.fstype == "ext4"
        ));
        assert_eq!(
            mount_state(&m, "/srv/z", dev("/dev/sdz")),
            MountState::NotMounted
        );
        assert_eq!(
            mount_state(&m, "/srv/z", dev("/dev/loop3")),
            MountState::DeviceElsewhere {
                mountpoint: "/srv/my data".into()
            }
        );
        assert_eq!(
            mount_state(&m, "/mnt/x", dev("/dev/loop3")),
            MountState::MountpointTaken {
                device: "/dev/sdb1".into()
            }
        );
        // Stacked: the last mount on a mount point is the visible one.
        assert!(matches!(
            mount_state(&m, "/mnt/auto", dev("/dev/sdc1")),
            MountState::Mounted(_)
        ));
        // The same device on two mount points: mounted on ours is what counts.
        assert!(matches!(
            mount_state(&m, "/mnt/y", dev("/dev/sdb1")),
            MountState::Mounted(_)
        ));
        // An autofs trigger alone is not a mount of anything.
        let auto = parse_mounts("systemd-1 /mnt/a autofs rw 0 0\n");
        assert_eq!(
            mount_state(&auto, "/mnt/a", dev("/dev/sdc1")),
            MountState::NotMounted
        );
    }

    #[test]
    fn fsck_for_file_systems_without_a_journal() {
        for t in ["ext3", "ext4", "xfs", "btrfs"] {
            assert!(!fsck_needed(Some(t), false), "{t}");
            assert!(fsck_needed(Some(t), true), "{t}");
        }
        for t in [
            Some("ext2"),
            Some("vfat"),
            Some("minix"),
            Some("weirdfs"),
            None,
        ] {
            assert!(fsck_needed(t, false), "{t:?}");
        }
    }

    #[test]
    fn paths_under_a_mount_point() {
        assert!(is_under("/srv/data", "/srv/data"));
        assert!(is_under("/srv/data/x/y", "/srv/data/"));
        assert!(!is_under("/srv/database", "/srv/data"));
        assert!(!is_under("/srv", "/srv/data"));
        assert!(is_under("/srv/data/log (deleted)", "/srv/data"));
    }

    #[test]
    fn parameters() {
        let ctx = |pairs: &[(&str, &str)]| OpContext {
            params: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..OpContext::default()
        };
        let p = FsParams::from_ctx(&ctx(&[
            ("device", "/dev/sdb1"),
            ("mountpoint", "/srv/data/"),
            ("force_unmount", "yes"),
            ("fstype", " "),
        ]))
        .unwrap();
        assert_eq!(p.mountpoint, "/srv/data");
        assert!(p.force_unmount && !p.force_fsck && !p.self_fence);
        assert_eq!(p.fstype, None);
        let e = FsParams::from_ctx(&ctx(&[("device", "/dev/sdb1"), ("mountpoint", "srv")]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid mount point \"srv\" (must begin with a '/')"
        );
        assert!(matches!(
            FsParams::from_ctx(&ctx(&[("mountpoint", "/srv")])),
            Err(AgentError::MissingParam("device"))
        ));
    }
}
