//! `rgmanager`'s command line.

use std::path::PathBuf;

use crate::admin;

pub const DEFAULT_CONF: &str = "/etc/cluster/cluster.conf";
pub const DEFAULT_KEY: &str = "/etc/cluster/authkey";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/rgmanager";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    pub conf: PathBuf,
    pub node: Option<String>,
    pub foreground: bool,
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    pub key: PathBuf,
    /// `-d`: debug logging.
    pub debug: bool,
    /// `-N`: no initial stop of every service at start-up (RHCS's `-N`).
    pub no_initial_stop: bool,
}

pub fn usage(arg0: &str) -> String {
    format!(
        "usage: {arg0} [-F] [-d] [-N] [-f cluster.conf] [--node NAME] [--state-dir DIR] \
         [--socket PATH] [--key FILE]\n\
         \x20 -f FILE          cluster configuration (default {DEFAULT_CONF})\n\
         \x20 --node NAME      this node's name in cluster.conf (default: found from the host name\n\
         \x20                  and addresses, as cman did)\n\
         \x20 -F               stay in the foreground (the only mode: accepted for compatibility)\n\
         \x20 -d               debug logging\n\
         \x20 -N               do not stop every service at start-up (the initial stop makes\n\
         \x20                  sure nothing a previous run left is running unknown)\n\
         \x20 --state-dir DIR  where the pid file lives (default {DEFAULT_STATE_DIR})\n\
         \x20 --socket PATH    admin socket for clustat (default {})\n\
         \x20 --key FILE       cluster key (default {DEFAULT_KEY})\n",
        admin::DEFAULT_SOCKET
    )
}

/// `Ok(None)` for `-h`/`--help`.
pub fn parse(argv: &[String]) -> Result<Option<Args>, String> {
    let mut a = Args {
        conf: PathBuf::from(DEFAULT_CONF),
        node: None,
        foreground: false,
        state_dir: PathBuf::from(DEFAULT_STATE_DIR),
        socket: PathBuf::from(admin::DEFAULT_SOCKET),
        key: PathBuf::from(DEFAULT_KEY),
        debug: false,
        no_initial_stop: false,
    };
    let mut it = argv.iter();
    while let Some(w) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("option {name} needs a value"))
        };
        match w.as_str() {
            "-h" | "--help" => return Ok(None),
            "-F" | "--foreground" => a.foreground = true,
            "-d" | "--debug" => a.debug = true,
            "-N" => a.no_initial_stop = true,
            "-f" | "--config" => a.conf = PathBuf::from(value(w)?),
            "--node" => a.node = Some(value(w)?),
            "--state-dir" => a.state_dir = PathBuf::from(value(w)?),
            "--socket" => a.socket = PathBuf::from(value(w)?),
            "--key" => a.key = PathBuf::from(value(w)?),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(Some(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn defaults_and_options() {
        let a = parse(&[]).unwrap().unwrap();
        assert_eq!(a.conf, PathBuf::from(DEFAULT_CONF));
        assert_eq!(a.socket, PathBuf::from(admin::DEFAULT_SOCKET));
        assert!(!a.foreground && a.node.is_none() && !a.no_initial_stop);
        assert!(parse(&v(&["-N"])).unwrap().unwrap().no_initial_stop);
        let a = parse(&v(&[
            "-F",
            "-f",
            "c.conf",
            "--node",
            "n2",
            "--state-dir",
            "s",
            "--socket",
            "x.sock",
            "--key",
            "k",
        ]))
        .unwrap()
        .unwrap();
        assert!(a.foreground);
        assert_eq!(a.conf, PathBuf::from("c.conf"));
        assert_eq!(a.node.as_deref(), Some("n2"));
        assert_eq!(a.state_dir, PathBuf::from("s"));
        assert_eq!(a.socket, PathBuf::from("x.sock"));
        assert_eq!(a.key, PathBuf::from("k"));
        assert_eq!(parse(&v(&["--help"])), Ok(None));
        assert!(parse(&v(&["--node"]))
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(&v(&["-x"])).unwrap_err().contains("unknown"));
    }
}
