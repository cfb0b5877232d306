//! `rgmanager`'s command line declared with clap (`-f`, `--node`, `-F`, `-d`, `-N`,
//! `--state-dir`, `--socket`, `--key`), parsed into the daemon's [`Args`], plus `--help` and
//! `--version`, and the source of the man page and the completions.
//!
//! `daemon::run::main` (the demo's daemons) and `src/bin/rgmanager.rs` parse with it.

use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser};
use tooldoc::Page;

use super::{parse_clap, Parsed};
use crate::admin;
use crate::daemon::args::{Args, DEFAULT_CONF, DEFAULT_KEY, DEFAULT_STATE_DIR};

/// The exit status of a usage error (what the daemon always used).
pub const USAGE_STATUS: u8 = 2;

const SECTIONS: &[(&str, &str)] = &[
    (
        "Signals",
        "SIGTERM, SIGINT: stop this node's services in reverse order, leave the cluster \
         cleanly (the other nodes take the services over without fencing) and exit 0.\n\
         SIGHUP (systemctl reload): read cluster.conf again from disk; a valid, newer version is \
         adopted here (Reconfiguring) and the other nodes fetch it from this one, as after \
         ccs_sync.",
    ),
    (
        "Exit status",
        "0 after a clean stop; 1 when the daemon cannot start (invalid cluster.conf, unknown \
         node, unreadable key, address in use, another rgmanager running, corosync not \
         reachable with the corosync engine); 2 on bad usage; 3 when corosync went away under \
         the daemon (its services were stopped first; the unit restarts it).",
    ),
    (
        "Files",
        "/etc/cluster/cluster.conf  the cluster configuration\n\
         /etc/cluster/authkey  the cluster key (rgm_keygen), mode 0400\n\
         /var/run/cluster/rgmanager.sock  the admin socket clustat and clusvcadm use\n\
         /var/lib/rgmanager/rgmanager.pid  the pid file\n\
         /var/log/cluster/rgmanager.log  the log file (<logging to_logfile> and logfile)",
    ),
];

/// The declaration; its field names are the daemon's.
#[derive(Parser, Debug)]
#[command(
    name = "rgmanager",
    args_override_self = true,
    version = tooldoc::VERSION,
    about = "the resource group manager: one cluster node's daemon",
    long_about = "rgmanager is the daemon every node of the cluster runs. Together the \
                  daemons form the membership (authenticated with the cluster key), compute \
                  quorum, elect a coordinator that places the services of cluster.conf on \
                  the nodes of their failover domains, fence failed nodes before taking their \
                  services over, run the resource agents (ip, script, ...) and answer clustat \
                  and clusvcadm on the admin socket.\n\n\
                  Under systemd it runs as rgmanager.service (Type=notify): ready once it has \
                  joined a membership view and holds the newest cluster.conf, with a watchdog \
                  that restarts a daemon whose event loop stops answering."
)]
struct Cli {
    /// Cluster configuration.
    #[arg(short = 'f', long = "config", value_name = "FILE", default_value = DEFAULT_CONF)]
    conf: PathBuf,
    /// This node's name in cluster.conf (default: found from the host name and addresses, as
    /// cman did).
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// Stay in the foreground (the only mode: accepted for compatibility).
    #[arg(short = 'F', long)]
    foreground: bool,
    /// Debug logging.
    #[arg(short = 'd', long)]
    debug: bool,
    /// Do not stop every service at start-up (the initial stop makes sure nothing a previous
    /// run left is running unknown to the cluster).
    #[arg(short = 'N')]
    no_initial_stop: bool,
    /// Where the pid file lives.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    /// Admin socket for clustat and clusvcadm.
    #[arg(long, value_name = "PATH", default_value = admin::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Cluster key.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_KEY)]
    key: PathBuf,
    /// Membership engine: embedded (rgmanager's own) or corosync (CPG and votequorum of the
    /// corosync running on this node). Default: <cman engine> of cluster.conf, else embedded.
    #[arg(long, value_name = "ENGINE", value_parser = ["embedded", "corosync"])]
    engine: Option<String>,
    /// The group whose members may change things through the admin socket besides root
    /// (relocate, disable, push configurations, acknowledge fencing); everyone else may only
    /// read the status. Default: haclient when it exists, else the socket directory's group.
    #[arg(long, value_name = "GROUP")]
    admin_group: Option<String>,
}

impl From<Cli> for Args {
    fn from(c: Cli) -> Args {
        Args {
            conf: c.conf,
            node: c.node,
            foreground: c.foreground,
            state_dir: c.state_dir,
            socket: c.socket,
            key: c.key,
            debug: c.debug,
            no_initial_stop: c.no_initial_stop,
            admin_group: c.admin_group,
            engine: c.engine.map(|e| {
                if e == "corosync" {
                    ccs::model::Engine::Corosync
                } else {
                    ccs::model::Engine::Embedded
                }
            }),
        }
    }
}

/// Wraps the derive's matches so that `parse_clap` can hand back the daemon's own `Args`.
struct DaemonArgs(Args);

impl FromArgMatches for DaemonArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Cli::from_arg_matches(m).map(|c| DaemonArgs(c.into()))
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// The clap command (man page, completions).
pub fn command() -> clap::Command {
    Cli::command().after_help(tooldoc::after_help(SECTIONS))
}

/// The man page.
pub fn page() -> Page {
    Page::from_clap(&command(), 8, SECTIONS).see_also(&[
        "clustat(8)",
        "clusvcadm(8)",
        "ccs_sync(8)",
        "rgm_keygen(8)",
        "fence_node(8)",
        "cluster.conf(5)",
    ])
}

/// Parses the daemon's arguments (without the program name). Help and version go to `out`,
/// usage errors to `err` with [`USAGE_STATUS`].
pub fn parse(argv: &[String], out: &mut dyn Write, err: &mut dyn Write) -> Parsed<Args> {
    match parse_clap::<DaemonArgs>(command(), "rgmanager", argv, USAGE_STATUS, out, err) {
        Parsed::Run(DaemonArgs(a)) => Parsed::Run(a),
        Parsed::Exit(c) => Parsed::Exit(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn run(a: &[&str]) -> (Option<Args>, u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = parse(&v(a), &mut out, &mut err);
        let out = String::from_utf8(out).unwrap();
        let err = String::from_utf8(err).unwrap();
        match r {
            Parsed::Run(a) => (Some(a), 0, out, err),
            Parsed::Exit(c) => (None, c, out, err),
        }
    }

    #[test]
    fn options_and_defaults() {
        let (a, code, _, err) = run(&[]);
        assert_eq!(code, 0, "{err}");
        let a = a.unwrap();
        assert_eq!(a.conf, PathBuf::from(DEFAULT_CONF));
        assert_eq!(a.socket, PathBuf::from(admin::DEFAULT_SOCKET));
        assert_eq!(a.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(a.key, PathBuf::from(DEFAULT_KEY));
        assert!(!a.foreground && !a.debug && !a.no_initial_stop && a.node.is_none());
        let (a, code, _, err) = run(&[
            "-F",
            "-d",
            "-N",
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
        ]);
        assert_eq!(code, 0, "{err}");
        let a = a.unwrap();
        assert!(a.foreground && a.debug && a.no_initial_stop);
        assert_eq!(a.conf, PathBuf::from("c.conf"));
        assert_eq!(a.node.as_deref(), Some("n2"));
        assert_eq!(a.state_dir, PathBuf::from("s"));
        assert_eq!(a.socket, PathBuf::from("x.sock"));
        assert_eq!(a.key, PathBuf::from("k"));
        let (a, _, _, _) = run(&["--config", "d.conf", "--foreground", "--debug"]);
        let a = a.unwrap();
        assert!(a.foreground && a.debug);
        assert_eq!(a.conf, PathBuf::from("d.conf"));
    }

    #[test]
    fn help_version_and_errors() {
        let (_, code, out, _) = run(&["--version"]);
        assert_eq!(
            (code, out),
            (0, format!("rgmanager {}\n", tooldoc::VERSION))
        );
        let (_, code, out, _) = run(&["-h"]);
        assert_eq!(code, 0);
        assert!(out.contains("--state-dir <DIR>"), "{out}");
        assert!(out.contains("SIGHUP"), "{out}");
        let (_, code, _, err) = run(&["--node"]);
        assert_eq!(code, USAGE_STATUS);
        assert!(err.contains("--node <NAME>"), "{err}");
        let (_, code, _, err) = run(&["-x"]);
        assert_eq!(code, USAGE_STATUS);
        assert!(err.contains("unexpected argument '-x'"), "{err}");
    }

    #[test]
    fn the_page_lists_every_option_with_its_default() {
        let r = page().roff();
        for f in [
            "\\-\\-node NAME",
            "\\-\\-state\\-dir DIR",
            "\\-F, \\-\\-foreground",
        ] {
            assert!(r.contains(f), "{f}: {r}");
        }
        assert!(r.contains("(default /etc/cluster/cluster.conf)"), "{r}");
        assert!(r.contains(".SH \"SIGNALS\"\nSIGTERM"), "{r}");
        assert!(r.contains("exit 0.\n.br\nSIGHUP"), "{r}");
    }
}
