//! OpenIPMI's `ipmi_sim` as the BMC of a test host: a real IPMI v1.5/v2.0 (RMCP+) LAN endpoint
//! whose chassis power is a file, and whose power changes run the host's power hooks: a
//! power-off runs the "off" hook (for a namespace host, [`crate::hosts::power_off_script`]:
//! every process frozen, killed, the link down), a power-on runs the "on" hook (the host boots).
//! `chassis reset` / power cycle runs both. This is what lets a fencing test check that a
//! fenced node really stopped, and a failback test bring it back, through the real protocol
//! and the real fence agent.
//!
//! The simulator listens on `addr:port`, in a network namespace when one is given (the switch
//! of [`crate::hosts::Hosts`], where a BMC stays reachable while its host is off). User 2 is
//! `admin` with the given password, administrator privilege, cipher suites 0–3 and 17 as
//! ipmi_sim offers them (it does not answer Get Channel Cipher Suites: clients must be told the
//! suite, 3). Facts: /work/shared/reference/peers/ipmi_sim and OpenIPMI's `ipmi_lan(5)`.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::hosts::{in_netns, HostError, Result};

/// What a BMC is and does.
#[derive(Clone, Debug)]
pub struct BmcSpec {
    pub addr: Ipv4Addr,
    /// 0: pick a free port (only without a namespace; 623 is the usual one in a namespace).
    pub port: u16,
    pub password: String,
    /// The namespace ipmi_sim runs in (`None`: this one).
    pub netns: Option<String>,
    /// `sh -c` text run when the power goes from on to off.
    pub on_power_off: String,
    /// `sh -c` text run when the power goes from off to on (`$D` is the BMC's directory, where
    /// the file `power` holds the state).
    pub on_power_on: String,
    /// Power at start.
    pub powered: bool,
}

impl BmcSpec {
    /// A BMC on 127.0.0.1 with a free port and no hooks.
    pub fn loopback(password: &str) -> BmcSpec {
        BmcSpec {
            addr: Ipv4Addr::LOCALHOST,
            port: 0,
            password: password.to_string(),
            netns: None,
            on_power_off: String::new(),
            on_power_on: String::new(),
            powered: true,
        }
    }
}

/// A running ipmi_sim; killed and reaped on drop.
pub struct Bmc {
    child: Child,
    pub addr: Ipv4Addr,
    pub port: u16,
    pub dir: tempfile::TempDir,
    power_file: PathBuf,
}

impl Drop for Bmc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Get Channel Authentication Capabilities, pre-session (RMCP, IPMI 1.5 framing): the BMC is
/// up when it answers this.
const AUTH_CAPS: [u8; 23] = [
    0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x20, 0x18, 0xc8, 0x81, 0x00, 0x38,
    0x8e, 0x04, 0xb5,
];

fn answers(addr: Ipv4Addr, port: u16) -> bool {
    let Ok(s) = UdpSocket::bind((addr, 0)) else {
        return false;
    };
    if s.set_read_timeout(Some(Duration::from_millis(200)))
        .is_err()
    {
        return false;
    }
    if s.send_to(&AUTH_CAPS, SocketAddrV4::new(addr, port))
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 256];
    s.recv(&mut buf).is_ok()
}

fn free_udp_port(addr: Ipv4Addr) -> Result<u16> {
    UdpSocket::bind((addr, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(|source| HostError::Io {
            what: format!("no free UDP port on {addr}"),
            source,
        })
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    std::fs::write(path, text)
        .and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)))
        .map_err(|source| HostError::Io {
            what: format!("cannot write {}", path.display()),
            source,
        })
}

/// The chassis_control program: ipmi_sim runs it as `PROG 0x20 get power` (answer
/// `power:0|1`) and `PROG 0x20 set power 0|1` (also `reset 1`, `boot X`, `identify …`).
const HELPER: &str = r#"#!/bin/sh
D='@DIR@'
export D
dev=$1; shift; op=$1; shift
case $op in
  get) for p in "$@"; do case $p in
         power) echo "power:$(cat "$D/power")" ;;
         boot) echo "boot:default" ;;
         *) echo "Invalid parameter: $p"; exit 1 ;;
       esac; done ;;
  set) while [ $# -gt 0 ]; do p=$1; v=$2; shift 2; case $p in
         power)
           old=$(cat "$D/power")
           echo "$(date +%s.%N) power $v (was $old)" >> "$D/events"
           # Off: the power file says 0 only once the host is dead, as a real BMC reads
           # the power state off only after the machine lost it.
           if [ "$old" = 1 ] && [ "$v" = 0 ]; then sh "$D/off.sh"; fi
           echo "$v" > "$D/power"
           if [ "$old" = 0 ] && [ "$v" = 1 ]; then sh "$D/on.sh"; fi ;;
         reset)
           old=$(cat "$D/power")
           echo "$(date +%s.%N) reset (was $old)" >> "$D/events"
           if [ "$old" = 1 ]; then sh "$D/off.sh"; sh "$D/on.sh"; fi ;;
         boot|identify) : ;;
         *) echo "Invalid parameter: $p"; exit 1 ;;
       esac; done ;;
  *) exit 1 ;;
esac
exit 0
"#;

impl Bmc {
    pub fn start(spec: &BmcSpec) -> Result<Bmc> {
        let mut last = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("rgm-bmc-")
                .tempdir()
                .map_err(|source| HostError::Io {
                    what: "cannot create a temporary directory".into(),
                    source,
                })?;
            let d = dir.path();
            let port = match spec.port {
                0 => free_udp_port(spec.addr)?,
                p => p,
            };
            let power_file = d.join("power");
            write_file(&power_file, if spec.powered { "1\n" } else { "0\n" }, 0o644)?;
            write_file(&d.join("off.sh"), &spec.on_power_off, 0o755)?;
            write_file(&d.join("on.sh"), &spec.on_power_on, 0o755)?;
            let helper = d.join("chassis-helper");
            write_file(
                &helper,
                &HELPER.replace("@DIR@", &d.display().to_string()),
                0o755,
            )?;
            write_file(
                &d.join("lan.conf"),
                &format!(
                    r#"name "testbmc"
set_working_mc 0x20
  startlan 1
    addr {addr} {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{helper} 0x20"
  user 2 true "admin" "{password}" admin 10 none md2 md5 straight
"#,
                    addr = spec.addr,
                    helper = helper.display(),
                    password = spec.password,
                ),
                0o600,
            )?;
            write_file(
                &d.join("bmc.emu"),
                "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\n\
                 sel_enable 0x20 50 0x0a\nmc_enable 0x20\n",
                0o644,
            )?;
            let state = d.join("state");
            std::fs::create_dir(&state).map_err(|source| HostError::Io {
                what: format!("cannot create {}", state.display()),
                source,
            })?;
            let log =
                std::fs::File::create(d.join("ipmi_sim.log")).map_err(|source| HostError::Io {
                    what: "cannot create the ipmi_sim log".into(),
                    source,
                })?;
            let log2 = log.try_clone().map_err(|source| HostError::Io {
                what: "cannot share the ipmi_sim log".into(),
                source,
            })?;
            let mut cmd = match &spec.netns {
                Some(ns) => {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", ns, "ipmi_sim"]);
                    c
                }
                None => Command::new("ipmi_sim"),
            };
            // Its own process group: a Ctrl-C meant for a long run (the lab) must not kill the
            // BMCs under it.
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
            cmd.arg("-n")
                .arg("-c")
                .arg(d.join("lan.conf"))
                .arg("-f")
                .arg(d.join("bmc.emu"))
                .arg("-s")
                .arg(&state)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2);
            let child = cmd.spawn().map_err(|source| HostError::Io {
                what: "cannot start ipmi_sim (Debian package openipmi)".into(),
                source,
            })?;
            let mut bmc = Bmc {
                child,
                addr: spec.addr,
                port,
                power_file,
                dir,
            };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                let up = in_netns(spec.netns.as_deref(), || answers(spec.addr, port))?;
                if up {
                    return Ok(bmc);
                }
                if let Ok(Some(_)) = bmc.child.try_wait() {
                    break; // the port was taken meanwhile, say: try another one
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last = std::fs::read_to_string(bmc.dir.path().join("ipmi_sim.log")).unwrap_or_default();
        }
        Err(HostError::Timeout(format!(
            "ipmi_sim never answered on {}: {last}",
            spec.addr
        )))
    }

    /// Whether the chassis is powered.
    pub fn powered(&self) -> bool {
        std::fs::read_to_string(&self.power_file).is_ok_and(|s| s.trim() == "1")
    }

    /// Sets the power as a Chassis Control command would (running the hooks), without going
    /// through the network: an administrator pressing the power button.
    pub fn set_power(&self, on: bool) -> Result<()> {
        crate::hosts::run(
            &self.dir.path().join("chassis-helper").display().to_string(),
            &["0x20", "set", "power", if on { "1" } else { "0" }],
        )?;
        Ok(())
    }

    /// The power changes so far, one line each (`<unix time> power 0 (was 1)`, `… reset (was 1)`).
    pub fn events(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("events")).unwrap_or_default()
    }
}
