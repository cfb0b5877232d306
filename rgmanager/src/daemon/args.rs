//! `rgmanager`'s options, as the daemon takes them (`crate::cli::daemon_args` parses the
//! command line into them).

use std::path::PathBuf;

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
    /// `--engine`: the membership engine, overriding `<cman engine>` of cluster.conf.
    pub engine: Option<ccs::model::Engine>,
    /// `--admin-group`: the group that may change things through the admin socket besides
    /// root (default `haclient` when it exists).
    pub admin_group: Option<String>,
}
