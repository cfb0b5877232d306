//! `rgmanager` as `rgmanager.service` runs it: a one-node cluster started with systemd's
//! `NOTIFY_SOCKET` and `WATCHDOG_USEC` pointing at a socket the test listens on. READY comes
//! once the node is in its view, with a STATUS line; WATCHDOG pings follow at half the
//! interval; the agents' scripts do not inherit the notification variables; SIGHUP
//! (`systemctl reload`) reads an edited cluster.conf again (RELOADING, READY) without killing
//! the daemon; SIGTERM stops it with status 0 (STOPPING).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Cluster, PATIENCE};

fn recv_until(sock: &UnixDatagram, what: &str, want: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + PATIENCE;
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if want(&m) {
                return m;
            }
        }
    }
    panic!("no notification {what} within {PATIENCE:?}");
}

#[test]
fn ready_watchdog_reload_and_stop_under_systemds_protocol() {
    let c = Cluster::new(1);
    let script = c.path("probe.sh");
    let probe = c.path("probe.env");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$1\" in\nstart) echo \"NOTIFY_SOCKET=${{NOTIFY_SOCKET:-unset}} \
             WATCHDOG_USEC=${{WATCHDOG_USEC:-unset}}\" > {} ;;\nesac\nexit 0\n",
            probe.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = c.write_conf(&format!(
        "<?xml version=\"1.0\"?>\n<cluster name=\"sdtest\" config_version=\"1\">\n  \
         <clusternodes>\n{}  </clusternodes>\n  <cman expected_votes=\"1\"/>\n  <rm>\n    \
         <service name=\"probe\"><script name=\"probe\" file=\"{}\"/></service>\n  </rm>\n\
         </cluster>\n",
        c.nodes_xml(|_| String::new()),
        script.display()
    ));
    let notify_path = c.path("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let log = c.path("node1.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rgmanager"))
        .arg("-f")
        .arg(&conf)
        .args(["--node", "node1", "--state-dir"])
        .arg(c.path("state"))
        .arg("--socket")
        .arg(c.path("node1.sock"))
        .arg("--key")
        .arg(&c.key)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("RGMANAGER_LOG", "stderr")
        // WatchdogSec=2s: a ping every second.
        .env("WATCHDOG_USEC", "2000000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    struct Kill(i32);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SAFETY: kill(2) of our own child, which may have exited already.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let _guard = Kill(pid);

    let ready = recv_until(&notify, "READY=1", |m| m.contains("READY=1"));
    assert!(
        ready.contains("STATUS=Quorate, 1 of 1 members online; coordinator node1;"),
        "{ready}"
    );
    let t0 = Instant::now();
    recv_until(&notify, "WATCHDOG=1", |m| m == "WATCHDOG=1");
    recv_until(&notify, "WATCHDOG=1", |m| m == "WATCHDOG=1");
    // Two pings at about a second apart (never slower than the 2 s watchdog).
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());

    // The service's script ran without systemd's variables.
    let end = Instant::now() + PATIENCE;
    while !probe.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        std::fs::read_to_string(&probe).unwrap(),
        "NOTIFY_SOCKET=unset WATCHDOG_USEC=unset\n"
    );

    // systemctl reload after an edit of cluster.conf: the daemon reads it again (RELOADING,
    // then READY), adopts the newer version, lives on and keeps pinging.
    let edited = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("config_version=\"1\"", "config_version=\"2\"");
    std::fs::write(&conf, edited).unwrap();
    // SAFETY: kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    recv_until(&notify, "RELOADING=1 after SIGHUP", |m| m == "RELOADING=1");
    recv_until(&notify, "READY=1 after the reload", |m| m == "READY=1");
    recv_until(&notify, "WATCHDOG=1 after SIGHUP", |m| m == "WATCHDOG=1");
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP killed the daemon"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("read from disk, replacing version 1") && text.contains("Reconfiguring"),
        "{text}"
    );

    // systemctl stop.
    // SAFETY: kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let end = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
}
