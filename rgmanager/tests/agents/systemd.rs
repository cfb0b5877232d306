//! The `systemd` type against a real systemd. This machine's PID 1 is not systemd (a
//! container), so the test starts one of its own: Debian's systemd as PID 1 of a new PID and
//! mount namespace, with private tmpfs on /run, /tmp, /var/tmp and /var/log/journal (systemd's
//! boot-time cleaning of /tmp must never reach the host's), booted into an empty target, and
//! test units in /run/systemd/system that have no default dependencies (so nothing of the
//! host's boot is started). The agent runs on a thread that entered that mount namespace,
//! where `systemctl` finds that systemd's socket; `rg_test` runs there through `nsenter`.
//! Root is needed (CI runs as root).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::storage::{ctx, need_root};
use rgmanager::resource::agent::{Agent, AgentError};
use rgmanager::resource::systemd::{SystemdAgent, SystemdError};

/// A systemd of the test's own; killed (with its whole PID namespace) on drop.
struct Systemd {
    unshare: Child,
    pid: i32,
}

const BOOT: &str = r#"set -e
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /var/tmp
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
mkdir -p /run/systemd/system
cat > /run/systemd/system/rgm-test.target <<EOF
[Unit]
Description=rgmanager-rs test target
DefaultDependencies=no
EOF
cat > /run/systemd/system/rgm-web.service <<EOF
[Unit]
DefaultDependencies=no
[Service]
ExecStart=/bin/sleep infinity
StandardOutput=null
StandardError=null
EOF
cat > /run/systemd/system/rgm-broken.service <<EOF
[Unit]
DefaultDependencies=no
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/false
StandardOutput=null
StandardError=null
EOF
cat > /run/systemd/system/rgm-boot.service <<EOF
[Unit]
DefaultDependencies=no
[Service]
ExecStart=/bin/sleep infinity
StandardOutput=null
[Install]
WantedBy=rgm-test.target
EOF
mkdir -p /run/systemd/system/rgm-test.target.wants
ln -s /run/systemd/system/rgm-boot.service /run/systemd/system/rgm-test.target.wants/
exec /lib/systemd/systemd --system --unit=rgm-test.target
"#;

impl Systemd {
    fn boot() -> Systemd {
        need_root();
        let unshare = Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--mount",
                "--mount-proc",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c", BOOT])
            .env("container", "rgmanager-test")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run unshare");
        let deadline = Instant::now() + Duration::from_secs(60);
        // systemd is unshare's child (PID 1 inside).
        let pid = loop {
            let children =
                std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
                    .unwrap_or_default();
            if let Some(p) = children
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
            {
                let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
                if comm.trim() == "systemd" {
                    break p;
                }
            }
            assert!(Instant::now() < deadline, "systemd did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        let sd = Systemd { unshare, pid };
        // Booted when the manager answers and its start-up jobs are done.
        loop {
            let out = sd.systemctl(&["is-system-running"]);
            let word = out.trim();
            if word == "running" || word == "degraded" {
                break;
            }
            assert!(Instant::now() < deadline, "systemd did not boot: {word}");
            std::thread::sleep(Duration::from_millis(100));
        }
        sd
    }

    /// A command run in this systemd's mount and PID namespaces (systemd answers only
    /// clients whose process it can see).
    fn nsenter(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid.to_string(), "-m", "-p"]);
        c
    }

    fn systemctl(&self, args: &[&str]) -> String {
        let out = self.nsenter().arg("systemctl").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn active(&self, unit: &str) -> String {
        self.systemctl(&["show", "-p", "ActiveState", "--value", unit])
            .trim()
            .to_string()
    }

    /// Runs `f` on a thread that entered this systemd's mount namespace, and whose children
    /// are born in its PID namespace.
    fn inside<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let mnt = format!("/proc/{}/ns/mnt", self.pid);
        let pid = format!("/proc/{}/ns/pid", self.pid);
        std::thread::scope(|s| {
            let h = s.spawn(move || {
                let mnt = File::open(&mnt).unwrap();
                let pid = File::open(&pid).unwrap();
                // SAFETY: unshare(CLONE_FS) gives this thread its own root and working
                // directory (setns into a mount namespace requires it); each setns only
                // changes this thread's namespaces (for CLONE_NEWPID, its future children's).
                unsafe {
                    assert_eq!(libc::unshare(libc::CLONE_FS), 0);
                    for (ns, kind) in [(&mnt, libc::CLONE_NEWNS), (&pid, libc::CLONE_NEWPID)] {
                        assert_eq!(
                            libc::setns(ns.as_raw_fd(), kind),
                            0,
                            "setns: {}",
                            std::io::Error::last_os_error()
                        );
                    }
                }
                f()
            });
            match h.join() {
                Ok(v) => v,
                Err(p) => std::panic::resume_unwind(p),
            }
        })
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        // SIGKILL to PID 1 of the namespace ends every process in it.
        // SAFETY: kill(2) on the positive pid of the systemd this test started.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
        }
        let _ = self.unshare.wait();
    }
}

#[test]
fn units_started_checked_and_stopped_through_systemctl() {
    let sd = Systemd::boot();
    let a = SystemdAgent;
    let web = ctx("systemd", "rgm-web.service", &[("unit", "rgm-web")]);
    sd.inside(|| {
        assert!(matches!(a.status(&web), Err(AgentError::NotRunning)));
        a.start(&web).unwrap();
    });
    assert_eq!(sd.active("rgm-web.service"), "active");
    sd.inside(|| {
        a.status(&web).unwrap();
        // Started again: already active, a success.
        a.start(&web).unwrap();
    });
    // The unit's process killed: systemd marks the unit failed, status says not running.
    sd.systemctl(&["kill", "--signal=KILL", "rgm-web.service"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sd.active("rgm-web.service") == "active" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    sd.inside(|| {
        assert!(matches!(a.status(&web), Err(AgentError::NotRunning)));
        // A failed unit is stopped; starting it again works.
        a.stop(&web).unwrap();
        a.start(&web).unwrap();
        a.stop(&web).unwrap();
        a.stop(&web).unwrap();
        assert!(matches!(a.status(&web), Err(AgentError::NotRunning)));
    });
    assert_eq!(sd.active("rgm-web.service"), "inactive");

    sd.inside(|| {
        // A unit whose start fails: the error carries systemctl's words.
        let broken = ctx(
            "systemd",
            "rgm-broken.service",
            &[("unit", "rgm-broken.service")],
        );
        let e = a.start(&broken).unwrap_err();
        assert!(
            e.to_string()
                .contains("systemctl start -- rgm-broken.service"),
            "{e}"
        );
        assert!(matches!(a.status(&broken), Err(AgentError::NotRunning)));
        a.stop(&broken).unwrap();
        // A unit systemd does not know.
        let missing = ctx("systemd", "nope.service", &[("unit", "rgm-nope")]);
        let e = a.start(&missing).unwrap_err();
        assert!(
            matches!(e, AgentError::Systemd(SystemdError::NotFound(_))),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "unit rgm-nope.service is not installed (systemd cannot find it)"
        );
        a.stop(&missing).unwrap();
    });

    // rg_test in that namespace: a service made of two units, in document order. (Its
    // cluster.conf is not under /tmp, which is private there.)
    let d = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let conf = d.path().join("cluster.conf");
    std::fs::write(
        &conf,
        r#"<cluster name="c" config_version="1">
  <clusternodes><clusternode name="node1" nodeid="1"/></clusternodes>
  <rm>
    <service name="units">
      <systemd unit="rgm-web.service"/>
      <systemd unit="rgm-boot"/>
    </service>
  </rm>
</cluster>
"#,
    )
    .unwrap();
    let pid = sd.pid.to_string();
    let rg_test = |op: &str| {
        crate::storage::rg_test(
            &["nsenter", "-t", &pid, "-m", "-p"],
            &["test", conf.to_str().unwrap(), op, "service", "units"],
        )
    };
    let (rc, out, err) = rg_test("start");
    assert_eq!(rc, Some(0), "{out}{err}");
    assert_eq!(sd.active("rgm-web.service"), "active");
    // rgm-boot is wanted by the boot target: the start warns that systemd starts it by itself.
    assert!(err.contains("rgm-boot.service is enabled"), "{err}");
    let (rc, out, err) = rg_test("status");
    assert_eq!(rc, Some(0), "{out}{err}");
    let (rc, out, err) = rg_test("stop");
    assert_eq!(rc, Some(0), "{out}{err}");
    assert_eq!(sd.active("rgm-web.service"), "inactive");
    assert_eq!(sd.active("rgm-boot.service"), "inactive");
}

#[test]
fn without_systemd_the_error_says_so() {
    // This machine's PID 1 is not systemd: with no /run/systemd/system here, the agent
    // refuses plainly. (Where the host does run systemd, there is nothing to check.)
    if std::path::Path::new("/run/systemd/system").is_dir() {
        return;
    }
    let e = SystemdAgent
        .start(&ctx("systemd", "x.service", &[("unit", "x")]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "systemd is not running on this node (no /run/systemd/system)"
    );
}
