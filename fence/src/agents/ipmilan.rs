//! `fence_ipmilan`, native: power control over IPMI v2.0 RMCP+ without ipmitool. One session per
//! invocation is reused for every step of the action (status, set, status polls), which is where
//! most of the reference agent's time went (one ipmitool process and handshake per step).
//!
//! Only RMCP+ is spoken: IPMI v1.5 sessions (`lanplus` off, `auth` md5/password) rely on MD5 or
//! clear-text passwords, so `lanplus=0` still opens an RMCP+ session rather than a weaker one.

use std::time::Duration;

use crate::agent::{AgentSpec, FenceDevice, FenceError, Options, PowerState};
use crate::ipmi::client::{Client, ClientError};
use crate::ipmi::crypto::CipherSuite;
use crate::ipmi::packet::completion_text;
use crate::ipmi::session::{Privilege, SessionConfig, SessionError};

const NETFN_CHASSIS: u8 = 0x00;
const CMD_GET_CHASSIS_STATUS: u8 = 0x01;
const CMD_CHASSIS_CONTROL: u8 = 0x02;
/// Chassis Control data bytes (§28.3).
const CONTROL_POWER_DOWN: u8 = 0x00;
const CONTROL_POWER_UP: u8 = 0x01;
const CONTROL_POWER_CYCLE: u8 = 0x02;
const CONTROL_DIAGNOSTIC_INTERRUPT: u8 = 0x04;

/// Cipher suite used when none is given: ipmi_sim (and some BMCs) do not answer Get Channel
/// Cipher Suites, and probing for it is what makes ipmitool stall for 10 s.
pub const DEFAULT_CIPHER: u8 = 3;

/// The agent description used by the CLI and the metadata.
pub static SPEC: AgentSpec = AgentSpec {
    name: "fence_ipmilan",
    shortdesc: "Fence agent for IPMI",
    longdesc: "fence_ipmilan is an I/O Fencing agent which can be used with machines controlled by IPMI. \
This native implementation speaks IPMI v2.0 RMCP+ (lanplus) itself, with cipher suite 3 unless told otherwise. \
WARNING! With method cycle this fence agent might report success before the node is powered off. \
You should use -m/method onoff if your fence device works correctly with that option.",
    vendor_url: "",
    symlinks: &[("fence_ipmilanplus", "Fence agent for IPMIv2 lanplus")],
    options: &[
        "ipaddr",
        "ipport",
        "login",
        "passwd",
        "passwd_script",
        "port",
        "port_as_ip",
        "plug_separator",
        "lanplus",
        "auth",
        "cipher",
        "privlvl",
        "method",
        "hexadecimal_kg",
        "target",
        "ipmitool_path",
        "ipmitool_timeout",
        "sudo",
        "sudo_path",
    ],
    required: &["ipaddr"],
    // ipmitool's own lanplus retransmission interval is 1 s; fence-agents' "2" only lengthened
    // recovery from a lost datagram.
    defaults: &[("ipport", "623"), ("power_wait", "2"), ("ipmitool_timeout", "1")],
    has_plugs: false,
    actions: &["on", "off", "reboot", "status", "monitor", "metadata", "validate-all", "diag"],
    connect,
};

/// A logged-in IPMI session.
pub struct Ipmilan {
    client: Client,
}

fn session_error(e: ClientError) -> FenceError {
    match e {
        ClientError::Session(SessionError::Timeout { .. }) => FenceError::Timeout(e.to_string()),
        ClientError::Session(SessionError::Completion { .. }) => FenceError::Device(e.to_string()),
        other => FenceError::Login(other.to_string()),
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// The session parameters an invocation asks for.
pub fn session_config(opts: &Options) -> Result<SessionConfig, FenceError> {
    let id = opts.cipher.unwrap_or(DEFAULT_CIPHER);
    let suite = CipherSuite::from_id(id).ok_or_else(|| {
        FenceError::Usage(format!(
            "Failed: cipher suite {id} is not supported (use 1, 2, 3, 15, 16 or 17)"
        ))
    })?;
    let privilege = match opts.privlvl.as_str() {
        "callback" => Privilege::Callback,
        "user" => Privilege::User,
        "operator" => Privilege::Operator,
        _ => Privilege::Administrator,
    };
    let kg = match &opts.hexadecimal_kg {
        Some(k) => Some(decode_hex(k.expose()).ok_or_else(|| {
            FenceError::Usage("Failed: hexadecimal_kg is not a hexadecimal string".into())
        })?),
        None => None,
    };
    // ipmitool_timeout is what fence-agents passes to ipmitool -N: the wait before a datagram is
    // sent again. Each step (one request and its answer) gets shell_timeout in total.
    let interval = opts
        .raw
        .get("ipmitool_timeout")
        .map(String::as_str)
        .unwrap_or("1");
    let retransmit = interval
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && (0.01..=60.0).contains(s))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            FenceError::Usage(format!(
                "Failed: ipmitool_timeout must be 0.01 to 60 seconds, not '{interval}'"
            ))
        })?;
    // A zero shell_timeout means no limit (fence-agents' meaning; Pacemaker kills us when its own
    // timeout expires).
    let attempts = if opts.shell_timeout.is_zero() {
        u32::MAX
    } else {
        (opts.shell_timeout.as_secs_f64() / retransmit.as_secs_f64())
            .ceil()
            .max(1.0) as u32
    };
    Ok(SessionConfig {
        username: opts.login.clone().unwrap_or_default().into_bytes(),
        password: opts
            .passwd
            .as_ref()
            .map(|p| p.expose().as_bytes().to_vec())
            .unwrap_or_default(),
        kg,
        suite,
        privilege,
        retransmit,
        attempts,
    })
}

fn connect(opts: &Options) -> Result<Box<dyn FenceDevice>, FenceError> {
    let host = opts
        .ipaddr
        .clone()
        .ok_or_else(|| FenceError::Usage("Failed: You have to enter fence address".into()))?;
    let port = opts.ipport.unwrap_or(623);
    if opts.raw.contains_key("target") {
        return Err(FenceError::Unsupported("IPMI bridging (target)"));
    }
    let cfg = session_config(opts)?;
    tracing::debug!(host = %host, port, config = ?cfg, "opening RMCP+ session");
    let client = Client::connect(&host, port, cfg).map_err(session_error)?;
    Ok(Box::new(Ipmilan { client }))
}

impl Ipmilan {
    fn chassis(&mut self, cmd: u8, data: &[u8], what: &str) -> Result<Vec<u8>, FenceError> {
        let r = self
            .client
            .request(NETFN_CHASSIS, cmd, data)
            .map_err(session_error)?;
        if r.completion != 0 {
            return Err(FenceError::Device(format!(
                "{what}: {}",
                completion_text(r.completion)
            )));
        }
        Ok(r.data)
    }
}

impl FenceDevice for Ipmilan {
    fn get_power(&mut self, _plug: Option<&str>) -> Result<PowerState, FenceError> {
        let data = self.chassis(CMD_GET_CHASSIS_STATUS, &[], "Get Chassis Status")?;
        // Current Power State, bit 0: system power is on.
        match data.first() {
            Some(b) if b & 1 == 1 => Ok(PowerState::On),
            Some(_) => Ok(PowerState::Off),
            None => Err(FenceError::Device(
                "Get Chassis Status: empty answer".into(),
            )),
        }
    }

    fn set_power(&mut self, _plug: Option<&str>, state: PowerState) -> Result<(), FenceError> {
        let control = match state {
            PowerState::On => CONTROL_POWER_UP,
            PowerState::Off => CONTROL_POWER_DOWN,
        };
        self.chassis(CMD_CHASSIS_CONTROL, &[control], "Chassis Control")
            .map(|_| ())
    }

    fn power_cycle(&mut self, _plug: Option<&str>) -> Result<bool, FenceError> {
        self.chassis(
            CMD_CHASSIS_CONTROL,
            &[CONTROL_POWER_CYCLE],
            "Chassis Control (cycle)",
        )
        .map(|_| true)
    }

    fn diag(&mut self, _plug: Option<&str>) -> Result<bool, FenceError> {
        self.chassis(
            CMD_CHASSIS_CONTROL,
            &[CONTROL_DIAGNOSTIC_INTERRUPT],
            "Chassis Control (diag)",
        )
        .map(|_| true)
    }

    fn logout(&mut self) {
        self.client.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn opts(pairs: &[(&str, &str)]) -> Options {
        let raw: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Options::from_raw(raw, SPEC.defaults).unwrap()
    }

    #[test]
    fn session_defaults() {
        let c = session_config(&opts(&[("login", "admin"), ("passwd", "pw")])).unwrap();
        assert_eq!(c.suite.id, 3);
        assert_eq!(c.privilege, Privilege::Administrator);
        assert_eq!((c.retransmit, c.attempts), (Duration::from_secs(1), 3));
        assert_eq!(c.password, b"pw");
        assert!(!format!("{c:?}").contains("pw\""));
    }

    #[test]
    fn session_options() {
        let c = session_config(&opts(&[
            ("cipher", "17"),
            ("privlvl", "OPERATOR"),
            ("hexadecimal_kg", "0a0B"),
        ]))
        .unwrap();
        assert_eq!(c.suite.id, 17);
        assert_eq!(c.privilege, Privilege::Operator);
        assert_eq!(c.kg, Some(vec![0x0a, 0x0b]));
        assert!(session_config(&opts(&[("cipher", "0")])).is_err());
        assert!(session_config(&opts(&[("hexadecimal_kg", "xyz")])).is_err());
        let c = session_config(&opts(&[
            ("ipmitool_timeout", "0.25"),
            ("shell_timeout", "2"),
        ]))
        .unwrap();
        assert_eq!((c.retransmit, c.attempts), (Duration::from_millis(250), 8));
        assert!(session_config(&opts(&[("ipmitool_timeout", "0")])).is_err());
        let c = session_config(&opts(&[("disable_timeout", "1")])).unwrap();
        assert_eq!(c.attempts, u32::MAX);
    }

    #[test]
    fn ipmilan_defaults() {
        let o = opts(&[]);
        assert_eq!(o.ipport, Some(623));
        assert_eq!(o.power_wait, Duration::from_secs(2));
    }
}
