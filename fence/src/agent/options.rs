//! The fence-agents options: one table naming every option (internal key = stdin name, short and
//! long command-line forms, type, default, help), shared by the argv parser, the stdin parser and
//! the metadata generator so the three can never disagree; and [`Options`], the typed result.

use std::collections::BTreeMap;
use std::time::Duration;

use super::FenceError;

/// Value type of an option, as fence-agents' metadata names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Str,
    /// Whole number.
    Integer,
    /// Seconds (we also accept fractions).
    Second,
    /// A flag without value.
    Boolean,
    /// One of a fixed list.
    Select(&'static [&'static str]),
}

/// One option of the table.
#[derive(Debug, Clone, Copy)]
pub struct OptSpec {
    /// Internal key, also the stdin name (`ipaddr`, `login`, `port`, …).
    pub key: &'static str,
    /// Short command-line option.
    pub short: Option<char>,
    /// Long command-line option without `--`.
    pub long: &'static str,
    /// Placeholder shown in the getopt help (`[ip]`); None for flags.
    pub value_name: Option<&'static str>,
    /// Type.
    pub kind: Kind,
    /// Default value, if any.
    pub default: Option<&'static str>,
    /// Help text.
    pub shortdesc: &'static str,
    /// Required for device actions.
    pub required: bool,
    /// Sort order in metadata (fence-agents' `order`).
    pub order: u16,
}

#[allow(clippy::too_many_arguments)] // a table row, read positionally
const fn opt(
    key: &'static str,
    short: Option<char>,
    long: &'static str,
    value_name: Option<&'static str>,
    kind: Kind,
    default: Option<&'static str>,
    shortdesc: &'static str,
    order: u16,
) -> OptSpec {
    OptSpec {
        key,
        short,
        long,
        value_name,
        kind,
        default,
        shortdesc,
        required: false,
        order,
    }
}

use Kind::*;

/// Every option the framework knows. Agents pick the device-specific ones they support; the
/// common ones (action, verbosity, timeouts, delay…) are always accepted.
pub const ALL: &[OptSpec] = &[
    OptSpec { required: true, ..opt("action", Some('o'), "action", Some("action"), Str, Some("reboot"), "Fencing action", 1) },
    opt("ipaddr", Some('a'), "ip", Some("ip"), Str, None, "IP address or hostname of fencing device", 1),
    opt("ipport", Some('u'), "ipport", Some("port"), Integer, None, "TCP/UDP port to use for connection with device", 1),
    opt("login", Some('l'), "username", Some("name"), Str, None, "Login name", 1),
    opt("passwd", Some('p'), "password", Some("password"), Str, None, "Login password or passphrase", 1),
    opt("passwd_script", Some('S'), "password-script", Some("script"), Str, None, "Script to run to retrieve password", 1),
    opt("port", Some('n'), "plug", Some("id"), Str, None, "Physical plug number on device, UUID or identification of machine", 1),
    opt("secure", Some('x'), "ssh", None, Boolean, None, "Use SSH connection", 1),
    opt("identity_file", Some('k'), "identity-file", Some("filename"), Str, None, "Identity file (private key) for SSH", 1),
    opt("ssh_options", None, "ssh-options", Some("options"), Str, None, "SSH options to use", 1),
    opt("cmd_prompt", Some('c'), "command-prompt", Some("prompt"), Str, None, "Force Python regex for command prompt (accepted for compatibility; the native agent runs commands without a shell prompt)", 1),
    opt("missing_as_off", None, "missing-as-off", None, Boolean, None, "Missing port returns OFF instead of failure", 1),
    opt("known_hosts", None, "known-hosts", Some("path"), Str, None, "known_hosts file the SSH host key is checked against (default: ~/.ssh/known_hosts, or UserKnownHostsFile from --ssh-options)", 1),
    opt("accept_new_host_key", None, "accept-new-host-key", None, Boolean, None, "Accept an SSH host key that is not yet in known_hosts and record it there (a changed key is still refused)", 1),
    opt("lanplus", Some('P'), "lanplus", None, Boolean, Some("0"), "Use Lanplus to improve security of connection", 1),
    opt("cipher", Some('C'), "cipher", Some("cipher"), Str, None, "Ciphersuite to use (same as ipmitool -C parameter)", 1),
    opt("privlvl", Some('L'), "privlvl", Some("level"), Select(&["callback", "user", "operator", "administrator"]), Some("administrator"), "Privilege level on IPMI device", 1),
    opt("method", Some('m'), "method", Some("method"), Select(&["onoff", "cycle"]), Some("onoff"), "Method to fence", 1),
    opt("auth", Some('A'), "auth", Some("auth"), Select(&["md5", "password", "none"]), None, "IPMI Lan Auth type.", 1),
    opt("hexadecimal_kg", None, "hexadecimal-kg", Some("key"), Str, None, "Hexadecimal-encoded Kg key for IPMIv2 authentication", 1),
    opt("target", None, "target", Some("targetaddress"), Str, None, "Bridge IPMI requests to the remote target address", 1),
    opt("switch", Some('s'), "switch", Some("id"), Str, None, "Physical switch number on device", 1),
    opt("settle_delay", None, "settle-delay", Some("seconds"), Second, Some("0"), "Wait X seconds before each command, for units that drop input sent too early", 200),
    opt("quiet", Some('q'), "quiet", None, Boolean, None, "Disable logging to stderr. Does not affect --verbose or --debug-file or logging to syslog.", 50),
    opt("verbose", Some('v'), "verbose", None, Boolean, None, "Verbose mode. Multiple -v flags can be stacked on the command line (e.g., -vvv) to increase verbosity.", 51),
    opt("verbose_level", None, "verbose-level", None, Integer, None, "Level of debugging detail in output. Defaults to the number of --verbose flags specified on the command line, or to 1 if verbose=1 in a stonith device configuration (i.e., on stdin).", 52),
    opt("debug", Some('D'), "debug-file", Some("debugfile"), Str, None, "Write debug information to given file", 52),
    opt("version", Some('V'), "version", None, Boolean, None, "Display version information and exit", 53),
    opt("help", Some('h'), "help", None, Boolean, None, "Display help and exit", 54),
    opt("plug_separator", None, "plug-separator", Some("char"), Str, Some(","), "Separator for plug parameter when specifying more than 1 plug", 100),
    opt("separator", Some('C'), "separator", Some("char"), Str, Some(","), "Separator for CSV created by 'list' operation", 100),
    opt("delay", None, "delay", Some("seconds"), Second, Some("0"), "Wait X seconds before fencing is started", 200),
    opt("disable_timeout", None, "disable-timeout", Some("true/false"), Str, None, "Disable timeout (true/false) (default: true when run from Pacemaker 2.0+)", 200),
    opt("ipmitool_path", None, "ipmitool-path", Some("path"), Str, Some("/usr/bin/ipmitool"), "Path to ipmitool binary (accepted for compatibility; the native agent does not use it)", 200),
    opt("login_timeout", None, "login-timeout", Some("seconds"), Second, Some("5"), "Wait X seconds for cmd prompt after login", 200),
    opt("port_as_ip", None, "port-as-ip", None, Boolean, None, "Make \"port/plug\" to be an alias to IP address", 200),
    opt("power_timeout", None, "power-timeout", Some("seconds"), Second, Some("20"), "Test X seconds for status change after ON/OFF", 200),
    opt("power_wait", None, "power-wait", Some("seconds"), Second, Some("0"), "Wait X seconds after issuing ON/OFF", 200),
    opt("shell_timeout", None, "shell-timeout", Some("seconds"), Second, Some("3"), "Wait X seconds for cmd prompt after issuing command", 200),
    opt("stonith_status_sleep", None, "stonith-status-sleep", Some("seconds"), Second, Some("1"), "Sleep X seconds between status calls during a STONITH action", 200),
    opt("ipmitool_timeout", None, "ipmitool-timeout", Some("timeout"), Str, Some("2"), "Timeout (sec) for IPMI operation", 200),
    opt("retry_on", None, "retry-on", Some("attempts"), Integer, Some("1"), "Count of attempts to retry power on", 200),
    opt("sudo", None, "use-sudo", None, Boolean, None, "Use sudo (without password) when calling 3rd party software", 205),
    opt("sudo_path", None, "sudo-path", Some("path"), Str, Some("/usr/bin/sudo"), "Path to sudo binary", 205),
];

/// Options every agent accepts, whatever its device.
pub const COMMON: &[&str] = &[
    "action",
    "quiet",
    "verbose",
    "verbose_level",
    "debug",
    "version",
    "help",
    "delay",
    "disable_timeout",
    "login_timeout",
    "power_timeout",
    "power_wait",
    "shell_timeout",
    "stonith_status_sleep",
    "retry_on",
];

/// Look an option up by internal key.
pub fn spec(key: &str) -> Option<&'static OptSpec> {
    ALL.iter().find(|s| s.key == key)
}

/// The metadata/stdin name of an option: its long form with `_` (e.g. `ip` for `ipaddr`).
pub fn new_name(s: &OptSpec) -> String {
    s.long.replace('-', "_")
}

/// Parse a boolean as fence-agents does on stdin.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "on" | "true" => Some(true),
        "0" | "no" | "off" | "false" => Some(false),
        _ => None,
    }
}

/// A password: prints as `[set]`, so it cannot reach a log or an error by accident.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[set]")
    }
}

/// The requested action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Power on.
    On,
    /// Power off.
    Off,
    /// Off then on (or a cycle with `method=cycle`).
    Reboot,
    /// Report power state.
    Status,
    /// List plugs.
    List,
    /// List plugs with their state.
    ListStatus,
    /// Check that the device answers.
    Monitor,
    /// Print metadata XML.
    Metadata,
    /// Check the parameters only.
    ValidateAll,
    /// Pulse the diagnostic interrupt (NMI), for a crash dump; cannot be confirmed.
    Diag,
}

impl Action {
    /// Parse an action name; `meta-data` is accepted for `metadata`, `enable`/`disable` for
    /// on/off as fence-agents does.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "on" | "enable" => Action::On,
            "off" | "disable" => Action::Off,
            "reboot" => Action::Reboot,
            "status" => Action::Status,
            "list" => Action::List,
            "list-status" => Action::ListStatus,
            "monitor" => Action::Monitor,
            "metadata" | "meta-data" => Action::Metadata,
            "validate-all" => Action::ValidateAll,
            "diag" => Action::Diag,
            _ => return None,
        })
    }
}

/// How a reboot is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Off, confirm off, on, confirm on.
    OnOff,
    /// One power-cycle command (cannot confirm the node was ever off).
    Cycle,
}

/// The parsed options of one agent invocation.
#[derive(Debug, Clone)]
pub struct Options {
    /// Action (default reboot).
    pub action: Action,
    /// Device address.
    pub ipaddr: Option<String>,
    /// Device port (agent default when absent).
    pub ipport: Option<u16>,
    /// User name.
    pub login: Option<String>,
    /// Password (from `passwd`, or the first line of `passwd_script`'s output).
    pub passwd: Option<Secret>,
    /// IPMI BMC key Kg, hex-encoded.
    pub hexadecimal_kg: Option<Secret>,
    /// Script printing the password.
    pub passwd_script: Option<String>,
    /// Plugs (`port`), already split on `plug_separator`.
    pub plugs: Vec<String>,
    /// Separator of `list` output.
    pub separator: String,
    /// Use ssh.
    pub secure: bool,
    /// ssh identity file.
    pub identity_file: Option<String>,
    /// Extra ssh options.
    pub ssh_options: Option<String>,
    /// Status polls after on/off before giving up (fence-agents counts polls, not seconds).
    pub power_timeout: u64,
    /// Sleep after each on/off command.
    pub power_wait: Duration,
    /// Wait for an answer to a command.
    pub shell_timeout: Duration,
    /// Wait for login.
    pub login_timeout: Duration,
    /// Own timeouts disabled (Pacemaker's fencer enforces its own); the three above are then 0.
    pub disable_timeout: bool,
    /// Sleep between status polls.
    pub stonith_status_sleep: Duration,
    /// Extra power-on attempts.
    pub retry_on: u32,
    /// Sleep before off/reboot.
    pub delay: Duration,
    /// Reboot method.
    pub method: Method,
    /// IPMI: lanplus requested.
    pub lanplus: bool,
    /// IPMI: cipher suite.
    pub cipher: Option<u8>,
    /// IPMI: privilege level name.
    pub privlvl: String,
    /// Verbosity (number of -v).
    pub verbose: u8,
    /// Debug log file.
    pub debug_file: Option<String>,
    /// No logging on stderr.
    pub quiet: bool,
    /// Everything else, by internal key (agent-specific options such as `hexadecimal_kg`).
    pub raw: BTreeMap<String, String>,
}

fn seconds(key: &str, v: &str) -> Result<Duration, FenceError> {
    let f: f64 = v.trim().parse().map_err(|_| {
        FenceError::Usage(format!("'{key}' must be a number of seconds, not '{v}'"))
    })?;
    if !f.is_finite() || !(0.0..=86_400.0).contains(&f) {
        return Err(FenceError::Usage(format!("'{key}' out of range: '{v}'")));
    }
    Ok(Duration::from_secs_f64(f))
}

fn integer<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, FenceError> {
    v.trim()
        .parse()
        .map_err(|_| FenceError::Usage(format!("'{key}' must be an integer, not '{v}'")))
}

impl Options {
    /// Build typed options from raw `key -> value` pairs (flags present map to "1"), applying the
    /// table defaults and then `defaults` (the agent's own, e.g. ipmilan's `power_wait=2`).
    pub fn from_raw(
        mut raw: BTreeMap<String, String>,
        defaults: &[(&str, &str)],
    ) -> Result<Options, FenceError> {
        // As fence-agents: over SSH the port defaults to 22, whatever the telnet default is.
        let secure = raw
            .get("secure")
            .map(String::as_str)
            .or_else(|| {
                defaults
                    .iter()
                    .find(|(k, _)| *k == "secure")
                    .map(|(_, v)| *v)
            })
            .and_then(parse_bool)
            .unwrap_or(false);
        if secure && !raw.contains_key("ipport") {
            raw.insert("ipport".into(), "22".into());
        }
        // Explicit values first, then the agent's defaults, then the table's.
        for (k, v) in defaults {
            raw.entry(k.to_string()).or_insert_with(|| v.to_string());
        }
        for s in ALL {
            if let Some(d) = s.default {
                raw.entry(s.key.to_string())
                    .or_insert_with(|| d.to_string());
            }
        }
        Self::typed(raw)
    }

    fn typed(mut raw: BTreeMap<String, String>) -> Result<Options, FenceError> {
        // Secrets leave the raw map at once, so that printing the options cannot show them.
        let passwd = raw.remove("passwd").map(Secret::new);
        let hexadecimal_kg = raw.remove("hexadecimal_kg").map(Secret::new);
        for (k, v) in &raw {
            if let Some(Kind::Select(choices)) = spec(k).map(|s| s.kind) {
                if !choices.iter().any(|c| c.eq_ignore_ascii_case(v.trim())) {
                    return Err(FenceError::Usage(format!(
                        "'{k}' must be one of {}, not '{v}'",
                        choices.join("/")
                    )));
                }
            }
        }
        let get = |k: &str| {
            raw.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let flag = |k: &str| raw.get(k).and_then(|v| parse_bool(v)).unwrap_or(false);
        let action_s = get("action").unwrap_or_else(|| "reboot".into());
        let action = Action::parse(&action_s)
            .ok_or_else(|| FenceError::Usage(format!("Unrecognised action '{action_s}'")))?;
        let sep = raw
            .get("plug_separator")
            .cloned()
            .unwrap_or_else(|| ",".into());
        let plugs = match get("port") {
            Some(p) if !sep.is_empty() => p
                .split(sep.as_str())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            Some(p) => vec![p],
            None => vec![],
        };
        let cipher = match get("cipher") {
            Some(c) => Some(integer::<u8>("cipher", &c)?),
            None => None,
        };
        let method = match get("method")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "cycle" => Method::Cycle,
            _ => Method::OnOff,
        };
        let ipport = match get("ipport") {
            Some(p) => Some(integer::<u16>("ipport", &p)?),
            None => None,
        };
        let verbose = match get("verbose_level") {
            Some(l) => integer::<u8>("verbose_level", &l)?,
            None => get("verbose")
                .and_then(|v| v.parse::<u8>().ok())
                .unwrap_or(0),
        };
        let sec = |k: &str| seconds(k, &get(k).unwrap_or_else(|| "0".into()));
        // Under Pacemaker the agent's own timeouts are off (0 = no limit): the fencer enforces one.
        let disable_timeout = raw
            .get("disable_timeout")
            .and_then(|v| parse_bool(v))
            .unwrap_or(false);
        let limit = |k: &str| {
            if disable_timeout {
                Ok(Duration::ZERO)
            } else {
                sec(k)
            }
        };
        Ok(Options {
            action,
            ipaddr: get("ipaddr"),
            ipport,
            login: get("login"),
            passwd,
            hexadecimal_kg,
            passwd_script: get("passwd_script"),
            plugs,
            separator: raw.get("separator").cloned().unwrap_or_else(|| ",".into()),
            secure: flag("secure"),
            identity_file: get("identity_file"),
            ssh_options: get("ssh_options"),
            power_timeout: limit("power_timeout")?.as_secs(),
            power_wait: sec("power_wait")?,
            shell_timeout: limit("shell_timeout")?,
            login_timeout: limit("login_timeout")?,
            disable_timeout,
            stonith_status_sleep: sec("stonith_status_sleep")?,
            retry_on: integer("retry_on", &get("retry_on").unwrap_or_else(|| "1".into()))?,
            delay: sec("delay")?,
            method,
            lanplus: flag("lanplus"),
            cipher,
            privlvl: get("privlvl")
                .unwrap_or_else(|| "administrator".into())
                .to_ascii_lowercase(),
            verbose,
            debug_file: get("debug"),
            quiet: flag("quiet"),
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_fence_agents_defaults() {
        let o = Options::from_raw(raw(&[]), &[]).unwrap();
        assert_eq!(o.action, Action::Reboot);
        assert_eq!(o.power_timeout, 20);
        assert_eq!(o.power_wait, Duration::ZERO);
        assert_eq!(o.shell_timeout, Duration::from_secs(3));
        assert_eq!(o.login_timeout, Duration::from_secs(5));
        assert_eq!(o.retry_on, 1);
        assert_eq!(o.delay, Duration::ZERO);
        assert_eq!(o.method, Method::OnOff);
        assert_eq!(o.privlvl, "administrator");
        assert_eq!(o.separator, ",");
    }

    #[test]
    fn ssh_changes_the_default_port_only() {
        let telnet = [("ipport", "23")];
        let o = Options::from_raw(raw(&[]), &telnet).unwrap();
        assert_eq!(o.ipport, Some(23));
        let o = Options::from_raw(raw(&[("secure", "1")]), &telnet).unwrap();
        assert_eq!(o.ipport, Some(22));
        let o = Options::from_raw(raw(&[("secure", "1"), ("ipport", "2222")]), &telnet).unwrap();
        assert_eq!(o.ipport, Some(2222));
        let o = Options::from_raw(raw(&[("secure", "0")]), &telnet).unwrap();
        assert_eq!(o.ipport, Some(23));
        let o = Options::from_raw(raw(&[]), &[("secure", "1")]).unwrap();
        assert_eq!(o.ipport, Some(22));
    }

    #[test]
    fn agent_defaults_yield_to_explicit_values() {
        let o = Options::from_raw(raw(&[]), &[("power_wait", "2")]).unwrap();
        assert_eq!(o.power_wait, Duration::from_secs(2));
        let o = Options::from_raw(raw(&[("power_wait", "0")]), &[("power_wait", "2")]).unwrap();
        assert_eq!(o.power_wait, Duration::ZERO);
    }

    #[test]
    fn disable_timeout_zeroes_the_timeouts() {
        let o = Options::from_raw(
            raw(&[("disable_timeout", "true"), ("shell_timeout", "7")]),
            &[],
        )
        .unwrap();
        assert!(o.disable_timeout);
        assert_eq!(
            (o.power_timeout, o.shell_timeout, o.login_timeout),
            (0, Duration::ZERO, Duration::ZERO)
        );
        let o = Options::from_raw(
            raw(&[("disable_timeout", "false"), ("shell_timeout", "7")]),
            &[],
        )
        .unwrap();
        assert_eq!(o.shell_timeout, Duration::from_secs(7));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(Options::from_raw(raw(&[("action", "explode")]), &[]).is_err());
        assert!(Options::from_raw(raw(&[("power_timeout", "soon")]), &[]).is_err());
        assert!(Options::from_raw(raw(&[("method", "kick")]), &[]).is_err());
        assert!(Options::from_raw(raw(&[("ipport", "70000")]), &[]).is_err());
        assert!(Options::from_raw(raw(&[("cipher", "x")]), &[]).is_err());
    }

    #[test]
    fn plugs_split_and_secret_hidden() {
        let o = Options::from_raw(
            raw(&[
                ("port", "1, 2,3"),
                ("passwd", "s3cret"),
                ("hexadecimal_kg", "abcd"),
                ("action", "meta-data"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(o.plugs, vec!["1", "2", "3"]);
        assert_eq!(o.action, Action::Metadata);
        assert!(!format!("{o:?}").contains("s3cret"));
        assert!(!format!("{o:?}").contains("abcd"));
        assert_eq!(o.passwd.unwrap().expose(), "s3cret");
    }
}
