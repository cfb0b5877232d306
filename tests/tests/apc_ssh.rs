//! `fence_apc` over SSH end to end: a real OpenSSH `sshd` on a free loopback port with its own
//! host key, whose login runs the APC simulator on the session's terminal (`ForceCommand apc_sim
//! --stdio`, outlets kept in a state file between logins), in both dialects. Debian's real
//! `fence_apc --ssh` drives it first (with `--ssh-options` replacing its protocol-1 default), to
//! show the simulator behind sshd is what the real agent expects; then our native agent does
//! status/off/on/reboot/list with a key and with a password, cross-checked by Debian's agent, and
//! fails cleanly for a wrong password and an unknown host key.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "Apc-ssh-pw-7";
/// Time limits for a loaded 2-core box (an SSH login takes a fraction of a second when quiet).
const LIMITS: &str = "login_timeout=30\nshell_timeout=30\n";

/// A system login with a password, deleted on drop (tests run as root: useradd, chpasswd).
struct User {
    name: String,
}

static USERS: AtomicU32 = AtomicU32::new(0);

impl User {
    fn create(password: &str) -> User {
        let name = format!(
            "as{}x{}",
            std::process::id(),
            USERS.fetch_add(1, Ordering::SeqCst)
        );
        let st = Command::new("useradd")
            .args(["-M", "-d", "/nonexistent", "-s", "/bin/sh", &name])
            .status()
            .expect("useradd");
        assert!(st.success(), "useradd {name} (tests run as root)");
        let user = User { name };
        let mut c = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .expect("chpasswd");
        c.stdin
            .take()
            .unwrap()
            .write_all(format!("{}:{password}\n", user.name).as_bytes())
            .unwrap();
        assert!(c.wait().unwrap().success());
        user
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// sshd whose every login is an APC unit's console; killed on drop (also when a test fails).
struct Unit {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    user: User,
    /// Private key authorized for the user.
    key: PathBuf,
    /// A known_hosts file holding the server's key for `[127.0.0.1]:port`.
    known_hosts: PathBuf,
}

impl Drop for Unit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "apc-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (openssh-client)");
    assert!(st.success());
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-2.0")
}

impl Unit {
    fn start(dialect: &str) -> Unit {
        Unit::start_with(dialect, "")
    }

    /// `sim_flags`: more options for the simulator behind sshd (e.g. ` --char-mode`).
    fn start_with(dialect: &str, sim_flags: &str) -> Unit {
        std::fs::create_dir_all("/run/sshd").unwrap();
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            // The login user runs the simulator from here and writes its state file.
            chmod(d, 0o755);
            let host = d.join("host_ed25519");
            keygen(&host);
            let key = d.join("client_key");
            keygen(&key);
            std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
            let sim = d.join("apc_sim");
            std::fs::copy(env!("CARGO_BIN_EXE_apc_sim"), &sim).unwrap();
            chmod(&sim, 0o755);
            let state = d.join("outlets");
            std::fs::write(&state, "11111111\n").unwrap();
            chmod(&state, 0o666);
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let pubkey = std::fs::read_to_string(d.join("host_ed25519.pub")).unwrap();
            let host_key: Vec<&str> = pubkey.split_whitespace().take(2).collect();
            let known_hosts = d.join("known_hosts");
            std::fs::write(
                &known_hosts,
                format!("[127.0.0.1]:{port} {}\n", host_key.join(" ")),
            )
            .unwrap();
            let cfg = d.join("sshd_config");
            std::fs::write(
                &cfg,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile none\n\
                     UsePAM no\nStrictModes no\nPubkeyAuthentication yes\n\
                     PasswordAuthentication yes\nKbdInteractiveAuthentication no\n\
                     AuthorizedKeysFile {ak}\nMaxStartups 100\nMaxSessions 100\nLogLevel VERBOSE\n\
                     ForceCommand {sim} --stdio --dialect {dialect} --state-file {state}{sim_flags}\n",
                    host = host.display(),
                    ak = d.join("authorized_keys").display(),
                    sim = sim.display(),
                    state = state.display(),
                ),
            )
            .unwrap();
            let log = std::fs::File::create(d.join("sshd.log")).unwrap();
            let child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("/usr/sbin/sshd (openssh-server)");
            let mut unit = Unit {
                child,
                port,
                dir,
                user: User::create(PASSWORD),
                key,
                known_hosts,
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if answers(port) {
                    return unit;
                }
                if let Ok(Some(_)) = unit.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last_log =
                std::fs::read_to_string(unit.dir.path().join("sshd.log")).unwrap_or_default();
            // Dropped: killed; try another port.
        }
        panic!("sshd did not start:\n{last_log}");
    }

    /// Outlet states as `1`/`0`.
    fn outlets(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("outlets"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// The stdin parameters of an SSH login with the test key, checked against our known_hosts.
    fn key_params(&self) -> String {
        format!(
            "{LIMITS}ipaddr=127.0.0.1\nipport={}\nlogin={}\nsecure=1\nidentity_file={}\n\
             ssh_options=-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes\n",
            self.port,
            self.user.name,
            self.key.display(),
            self.known_hosts.display()
        )
    }

    fn password_params(&self, password: &str) -> String {
        format!(
            "{LIMITS}ipaddr=127.0.0.1\nipport={}\nlogin={}\nsecure=1\npasswd={password}\n\
             ssh_options=-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes\n",
            self.port,
            self.user.name,
            self.known_hosts.display()
        )
    }
}

/// Debian's fence_apc with `params` on stdin.
fn debian(params: &str) -> Output {
    assert!(
        Path::new("/usr/sbin/fence_apc").exists(),
        "Debian's fence_apc (package fence-agents) must be installed"
    );
    let mut c = Command::new("/usr/sbin/fence_apc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(params.as_bytes())
        .unwrap();
    c.wait_with_output().unwrap()
}

#[track_caller]
fn expect(out: &Output, code: i32, stdout: &str) {
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim_end()
        ),
        (Some(code), stdout),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Our fence_apc, in-process through the CLI code its binary runs: (exit, stdout, stderr).
fn native(params: &str) -> (i32, String, String) {
    use fence::agents::apc::SPEC;
    let parsed = fence::cli::parse_stdin(&SPEC, params);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = fence::cli::execute(
        &SPEC,
        parsed,
        &mut fence::agent::RealClock,
        &mut out,
        &mut err,
    );
    (
        code,
        String::from_utf8_lossy(&out).trim_end().to_string(),
        String::from_utf8_lossy(&err).trim_end().to_string(),
    )
}

#[track_caller]
fn ours(got: (i32, String, String), code: i32, stdout: &str) {
    assert_eq!((got.0, got.1.as_str()), (code, stdout), "stderr: {}", got.2);
}

/// Debian's agent over SSH: status, off, on, reboot, list on the unit behind sshd.
fn debian_walk(dialect: &str) {
    let unit = Unit::start(dialect);
    let k = unit.key_params();
    expect(
        &debian(&format!("{k}port=3\naction=status\n")),
        0,
        "Status: ON",
    );
    expect(
        &debian(&format!("{k}port=3\naction=off\n")),
        0,
        "Success: Powered OFF",
    );
    assert_eq!(unit.outlets(), "11011111");
    expect(
        &debian(&format!("{k}port=3\naction=status\n")),
        2,
        "Status: OFF",
    );
    expect(
        &debian(&format!("{k}port=3\naction=on\n")),
        0,
        "Success: Powered ON",
    );
    assert_eq!(unit.outlets(), "11111111");
    expect(
        &debian(&format!("{k}port=5\naction=reboot\n")),
        0,
        "Success: Rebooted",
    );
    assert_eq!(unit.outlets(), "11111111");
    let list: Vec<String> = (1..=8).map(|n| format!("{n},Outlet {n}")).collect();
    expect(&debian(&format!("{k}action=list\n")), 0, &list.join("\n"));
    // And with the password instead of the key.
    let p = unit.password_params(PASSWORD);
    expect(
        &debian(&format!("{p}port=2\naction=off\n")),
        0,
        "Success: Powered OFF",
    );
    assert_eq!(unit.outlets(), "10111111");
}

#[test]
fn debian_fence_apc_over_ssh_drives_the_v3_menus() {
    debian_walk("v3");
}

#[test]
fn debian_fence_apc_over_ssh_drives_the_v6_command_line() {
    debian_walk("v6");
}

/// Our agent's status, off, on and reboot on `unit` with the login `k`, each checked against the
/// unit's outlets (and once by Debian's agent).
fn power_walk(unit: &Unit, k: &str) {
    ours(
        native(&format!("{k}port=3\naction=status\n")),
        0,
        "Status: ON",
    );
    ours(
        native(&format!("{k}port=3\naction=off\n")),
        0,
        "Success: Powered OFF",
    );
    assert_eq!(unit.outlets(), "11011111");
    // Debian's agent sees what ours did.
    expect(
        &debian(&format!("{k}port=3\naction=status\n")),
        2,
        "Status: OFF",
    );
    ours(
        native(&format!("{k}port=3\naction=status\n")),
        2,
        "Status: OFF",
    );
    ours(
        native(&format!("{k}port=3\naction=off\n")),
        0,
        "Success: Already OFF",
    );
    ours(
        native(&format!("{k}port=3\naction=on\n")),
        0,
        "Success: Powered ON",
    );
    assert_eq!(unit.outlets(), "11111111");
    ours(
        native(&format!("{k}port=6\naction=reboot\n")),
        0,
        "Success: Rebooted",
    );
    assert_eq!(unit.outlets(), "11111111");
}

fn native_walk(dialect: &str, on_word: &str) {
    let unit = Unit::start(dialect);
    let k = unit.key_params();
    power_walk(&unit, &k);
    let list: Vec<String> = (1..=8).map(|n| format!("{n},Outlet {n}")).collect();
    ours(native(&format!("{k}action=list\n")), 0, &list.join("\n"));
    let list: Vec<String> = (1..=8)
        .map(|n| format!("{n},Outlet {n},{on_word}"))
        .collect();
    ours(
        native(&format!("{k}action=list-status\n")),
        0,
        &list.join("\n"),
    );

    // A password login, fence_apc's default ssh_options (protocol 1, blowfish: ignored) and a
    // known_hosts given directly.
    let p = format!(
        "{LIMITS}ipaddr=127.0.0.1\nipport={}\nlogin={}\nsecure=1\npasswd={PASSWORD}\n\
         ssh_options=-1 -c blowfish\nknown_hosts={}\n",
        unit.port,
        unit.user.name,
        unit.known_hosts.display()
    );
    ours(
        native(&format!("{p}port=7\naction=off\n")),
        0,
        "Success: Powered OFF",
    );
    assert_eq!(unit.outlets(), "11111101");

    // A wrong password: one line naming the device and the reason, exit 1, never the secret.
    let (code, out, err) = native(&format!(
        "{}port=7\naction=on\n",
        unit.password_params("Wr0ng-secret")
    ));
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.starts_with(&format!(
            "fence_apc: 127.0.0.1:{}: Unable to connect/login to fencing device: password not accepted for {}",
            unit.port, unit.user.name
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("Wr0ng-secret"), "{err}");
    assert_eq!(unit.outlets(), "11111101");

    // An unknown host key is refused before any login; a changed one too.
    let empty = unit.dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let strange = format!(
        "{LIMITS}ipaddr=127.0.0.1\nipport={}\nlogin={}\nsecure=1\nidentity_file={}\nknown_hosts={}\n",
        unit.port,
        unit.user.name,
        unit.key.display(),
        empty.display()
    );
    let (code, _, err) = native(&format!("{strange}port=7\naction=on\n"));
    assert_eq!(code, 1);
    assert!(err.contains("unknown host key"), "{err}");
    assert_eq!(std::fs::read_to_string(&empty).unwrap(), "");
    let other = unit.dir.path().join("other_key");
    keygen(&other);
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let other_pub: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    std::fs::write(
        &empty,
        format!("[127.0.0.1]:{} {}\n", unit.port, other_pub.join(" ")),
    )
    .unwrap();
    let (code, _, err) = native(&format!(
        "{strange}port=7\naction=on\naccept_new_host_key=1\n"
    ));
    assert_eq!(code, 1);
    assert!(err.contains("HOST KEY CHANGED"), "{err}");
    assert_eq!(unit.outlets(), "11111101");
    // Recorded only when asked.
    std::fs::write(&empty, "").unwrap();
    ours(
        native(&format!(
            "{strange}port=7\naction=on\naccept_new_host_key=1\n"
        )),
        0,
        "Success: Powered ON",
    );
    assert!(std::fs::read_to_string(&empty)
        .unwrap()
        .starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", unit.port)));
    assert_eq!(unit.outlets(), "11111111");

    // An unknown outlet is refused on the unit.
    let (code, _, err) = native(&format!("{k}port=12\naction=off\n"));
    assert_eq!(code, 1);
    assert!(
        err.contains("Unable to obtain correct plug status or plug is not available"),
        "{err}"
    );
}

#[test]
fn native_fence_apc_over_ssh_drives_the_v3_menus() {
    native_walk("v3", "ON");
}

#[test]
fn native_fence_apc_over_ssh_drives_the_v6_command_line() {
    native_walk("v6", "On");
}

/// A unit behind sshd writing as a real one does (an echo per character, a write per screen
/// line): the screens reach us in several SSH packets.
#[test]
fn native_fence_apc_over_ssh_drives_char_mode_units() {
    for dialect in ["v3", "v6"] {
        let unit = Unit::start_with(dialect, " --char-mode");
        let k = unit.key_params();
        power_walk(&unit, &k);
    }
}
