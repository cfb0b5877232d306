//! A hypervisor for the fence_virsh tests: OpenSSH's `sshd` on 127.0.0.1 at a free port, with its
//! own host key, config and authorized key in a temp dir, and a test `virsh` first on the login's
//! PATH (sshd's `SetEnv`) that keeps each domain's state in a file and prints what libvirt 9's
//! virsh prints. Killed on drop, also when a test fails; a password user made for a test is
//! deleted on drop too.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running sshd with a test virsh behind it.
pub struct Hypervisor {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// Private key authorized for root.
    pub key: PathBuf,
    /// A known_hosts file holding the server's key for `[127.0.0.1]:port`.
    pub known_hosts: PathBuf,
    /// The host key line (`type base64`).
    pub host_key: String,
}

impl Drop for Hypervisor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "fence-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (openssh-client)");
    assert!(st.success());
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// What libvirt 9's virsh prints for the commands fence_virsh runs; state in one file per domain.
fn virsh_script(dir: &Path) -> String {
    let state = dir.join("state").display().to_string();
    let calls = dir.join("calls").display().to_string();
    format!(
        r#"#!/bin/sh
S='{state}'
echo "$*" >> '{calls}'
cmd=$1; shift
missing() {{ echo "error: failed to get domain '$1'" >&2; exit 1; }}
case $cmd in
  list)
    printf ' %-4s %-7s %s\n' Id Name State
    echo '-----------------------'
    i=0
    for f in "$S"/*; do
      n=$(basename "$f"); st=$(cat "$f"); i=$((i+1))
      if [ "$st" = "shut off" ]; then id=-; else id=$i; fi
      printf ' %-4s %-7s %s\n' "$id" "$n" "$st"
    done
    echo ;;
  domstate)
    [ -f "$S/$1" ] || missing "$1"
    cat "$S/$1"; echo ;;
  start)
    [ -f "$S/$1" ] || missing "$1"
    if [ "$(cat "$S/$1")" = running ]; then
      echo "error: Failed to start domain '$1'" >&2
      echo "error: Requested operation is not valid: domain is already active" >&2; exit 1
    fi
    echo running > "$S/$1"; echo "Domain '$1' started"; echo ;;
  destroy)
    [ -f "$S/$1" ] || missing "$1"
    if [ "$(cat "$S/$1")" != running ]; then
      echo "error: Failed to destroy domain '$1'" >&2
      echo "error: Requested operation is not valid: domain is not running" >&2; exit 1
    fi
    echo 'shut off' > "$S/$1"; echo "Domain '$1' destroyed"; echo ;;
  *) echo "error: unknown command: '$cmd'" >&2; exit 1 ;;
esac
"#
    )
}

fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-2.0")
}

impl Hypervisor {
    /// sshd with domains node1, node2 running and node3 shut off.
    pub fn start() -> Hypervisor {
        let mut last_log = String::new();
        std::fs::create_dir_all("/run/sshd").unwrap();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            // The password user must reach the test virsh and its state.
            chmod(d, 0o755);
            let host = d.join("host_ed25519");
            keygen(&host);
            let key = d.join("client_key");
            keygen(&key);
            std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
            let bin = d.join("bin");
            std::fs::create_dir(&bin).unwrap();
            std::fs::write(bin.join("virsh"), virsh_script(d)).unwrap();
            chmod(&bin.join("virsh"), 0o755);
            let state = d.join("state");
            std::fs::create_dir(&state).unwrap();
            chmod(&state, 0o777);
            for (n, s) in [
                ("node1", "running"),
                ("node2", "running"),
                ("node3", "shut off"),
            ] {
                std::fs::write(state.join(n), format!("{s}\n")).unwrap();
                chmod(&state.join(n), 0o666);
            }
            std::fs::write(d.join("calls"), "").unwrap();
            chmod(&d.join("calls"), 0o666);
            let port = free_tcp_port();
            let pubkey = std::fs::read_to_string(d.join("host_ed25519.pub")).unwrap();
            let host_key = pubkey
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            let known_hosts = d.join("known_hosts");
            std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_key}\n")).unwrap();
            let cfg = d.join("sshd_config");
            std::fs::write(
                &cfg,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile none\n\
                     UsePAM no\nStrictModes no\nPermitRootLogin yes\nPubkeyAuthentication yes\n\
                     PasswordAuthentication yes\nKbdInteractiveAuthentication no\n\
                     AuthorizedKeysFile {ak}\nSetEnv PATH={bin}:/usr/sbin:/usr/bin:/sbin:/bin\n\
                     MaxStartups 100\nMaxSessions 100\nLogLevel VERBOSE\n",
                    host = host.display(),
                    ak = d.join("authorized_keys").display(),
                    bin = bin.display(),
                ),
            )
            .unwrap();
            let log = std::fs::File::create(d.join("sshd.log")).unwrap();
            let child = Command::new("/usr/sbin/sshd")
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("/usr/sbin/sshd (openssh-server)");
            let mut hv = Hypervisor {
                child,
                port,
                dir,
                key,
                known_hosts,
                host_key,
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if answers(port) {
                    return hv;
                }
                if let Ok(Some(_)) = hv.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last_log = hv.log();
            // Dropped: killed; try another port.
        }
        panic!("sshd did not start:\n{last_log}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The state file content of a domain (`running`, `shut off`).
    pub fn state(&self, domain: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("state").join(domain))
            .unwrap()
            .trim()
            .to_string()
    }

    pub fn set_state(&self, domain: &str, state: &str) {
        std::fs::write(
            self.dir.path().join("state").join(domain),
            format!("{state}\n"),
        )
        .unwrap();
    }

    /// Every virsh command line run so far.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn clear_calls(&self) {
        std::fs::write(self.dir.path().join("calls"), "").unwrap();
    }

    /// Options for our agent and Debian's: address, port, root, the test key.
    pub fn key_args(&self) -> Vec<String> {
        vec![
            "-a".into(),
            "127.0.0.1".into(),
            "--ipport".into(),
            self.port.to_string(),
            "-l".into(),
            "root".into(),
            "-k".into(),
            self.key.display().to_string(),
        ]
    }

    /// fence_virsh's default `--ssh-options` plus a strict check against our known_hosts.
    pub fn ssh_options(&self) -> String {
        format!(
            "--ssh-options=-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -t '/bin/bash -c \"PS1=\\[EXPECT\\]# /bin/bash --noprofile --norc\"'",
            self.known_hosts.display()
        )
    }
}

/// A login with a password, for as long as the value lives (needs root: useradd, chpasswd).
pub struct PasswordUser {
    pub name: String,
}

static USERS: AtomicU32 = AtomicU32::new(0);

impl PasswordUser {
    pub fn create(password: &str) -> PasswordUser {
        let name = format!(
            "fv{}x{}",
            std::process::id(),
            USERS.fetch_add(1, Ordering::SeqCst)
        );
        let st = Command::new("useradd")
            .args(["-M", "-d", "/nonexistent", "-s", "/bin/sh", &name])
            .status()
            .expect("useradd");
        assert!(st.success(), "useradd {name} (tests run as root)");
        let user = PasswordUser { name };
        let mut c = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .expect("chpasswd");
        use std::io::Write;
        c.stdin
            .take()
            .unwrap()
            .write_all(format!("{}:{password}\n", user.name).as_bytes())
            .unwrap();
        assert!(c.wait().unwrap().success());
        user
    }
}

impl Drop for PasswordUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}
