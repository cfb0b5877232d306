//! OpenIPMI's `ipmi_sim` as a test BMC: a free UDP port on 127.0.0.1, a temp dir for its state,
//! and a chassis helper whose power state (a file) really changes. Shared by the fence tests.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The BMC user's password.
pub const PASSWORD: &str = "password";

/// A running ipmi_sim; killed and reaped on drop, also when a test fails.
pub struct Bmc {
    child: Child,
    pub port: u16,
    power_file: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Drop for Bmc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Get Channel Authentication Capabilities, pre-session: the BMC is up when it answers this.
const AUTH_CAPS: [u8; 23] = [
    0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x20, 0x18, 0xc8, 0x81, 0x00, 0x38,
    0x8e, 0x04, 0xb5,
];

fn answers(port: u16) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    if s.send_to(&AUTH_CAPS, ("127.0.0.1", port)).is_err() {
        return false;
    }
    let mut buf = [0u8; 256];
    s.recv(&mut buf).is_ok()
}

impl Bmc {
    pub fn start() -> Bmc {
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_udp_port();
            let power_file = dir.path().join("power");
            std::fs::write(&power_file, "1\n").unwrap();
            let helper = dir.path().join("chassis-helper");
            // Protocol from OpenIPMI's lanserv/ipmi_sim_chassiscontrol: "<dev> get power" must print
            // "power:0|1"; "<dev> set power 0|1" (also reset/boot, which we accept and ignore).
            std::fs::write(
                &helper,
                format!(
                    r#"#!/bin/sh
STATE='{}'
dev=$1; shift; op=$1; shift
case $op in
  get) for p in "$@"; do case $p in
         power) echo "power:$(cat "$STATE")" ;;
         boot) echo "boot:default" ;;
         *) echo "Invalid parameter: $p"; exit 1 ;;
       esac; done ;;
  set) while [ $# -gt 0 ]; do p=$1; v=$2; shift 2; case $p in
         power) echo "$v" > "$STATE" ;;
         reset|boot|identify) : ;;
         *) echo "Invalid parameter: $p"; exit 1 ;;
       esac; done ;;
  *) exit 1 ;;
esac
exit 0
"#,
                    power_file.display()
                ),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::write(
                dir.path().join("lan.conf"),
                format!(
                    r#"name "testbmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{} 0x20"
  user 2 true "admin" "{PASSWORD}" admin 10 none md2 md5 straight
"#,
                    helper.display()
                ),
            )
            .unwrap();
            std::fs::write(
                dir.path().join("bmc.emu"),
                "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nsel_enable 0x20 50 0x0a\nmc_enable 0x20\n",
            )
            .unwrap();
            let state = dir.path().join("state");
            std::fs::create_dir(&state).unwrap();
            let log = std::fs::File::create(dir.path().join("ipmi_sim.log")).unwrap();
            let child = Command::new("ipmi_sim")
                .arg("-n")
                .arg("-c")
                .arg(dir.path().join("lan.conf"))
                .arg("-f")
                .arg(dir.path().join("bmc.emu"))
                .arg("-s")
                .arg(&state)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("ipmi_sim (Debian package openipmi) must be installed");
            let mut bmc = Bmc {
                child,
                port,
                power_file,
                dir,
            };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if answers(port) {
                    return bmc;
                }
                if let Ok(Some(_)) = bmc.child.try_wait() {
                    break; // e.g. the port was taken meanwhile: try another one
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last_log =
                std::fs::read_to_string(bmc.dir.path().join("ipmi_sim.log")).unwrap_or_default();
        }
        panic!("ipmi_sim did not come up: {last_log}");
    }

    /// Switch the simulated machine on or off behind the agents' back.
    pub fn set_power(&self, on: bool) {
        std::fs::write(&self.power_file, if on { "1\n" } else { "0\n" }).unwrap();
    }

    /// The power state as the helper keeps it: "1" on, "0" off.
    pub fn power_file(&self) -> String {
        std::fs::read_to_string(&self.power_file)
            .unwrap()
            .trim()
            .to_string()
    }

    /// `ipmitool -I lanplus -C 3 ... chassis power status` on the same simulator (password via
    /// the environment, not argv).
    pub fn ipmitool_power(&self) -> String {
        let out = Command::new("ipmitool")
            .args([
                "-I",
                "lanplus",
                "-C",
                "3",
                "-H",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "admin",
                "-E",
            ])
            .args(["chassis", "power", "status"])
            .env("IPMI_PASSWORD", PASSWORD)
            .output()
            .expect("ipmitool (Debian package ipmitool) must be installed");
        assert!(
            out.status.success(),
            "ipmitool failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn args(&self) -> Vec<String> {
        [
            "-a",
            "127.0.0.1",
            "-u",
            &self.port.to_string(),
            "-l",
            "admin",
            "-p",
            PASSWORD,
            "-P",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}
