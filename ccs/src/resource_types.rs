//! The classic RHCS (RHEL 5/6) rgmanager resource types and the rules each
//! agent declares for itself: parameters, child ordering, actions and
//! instance limits.
//!
//! Everything here is transcribed by hand from the agents' own `meta-data`
//! XML (the `<parameters>`, `<actions>` and `<special tag="rgmanager">`
//! elements) in the ClusterLabs `resource-agents` repository, folder
//! `rgmanager/src/resources/` (the last RHEL 6 state of the agents, most of
//! them as `*.sh.in`; `lvm`, `samba`, `apache`, `mysql`, `postgres-8`,
//! `tomcat-6`, `named` and `openldap` print a separate `*.metadata` file).
//! Each entry names the file and commit it was read from. `vm` and
//! `service` were cross-checked against `jnpkrn/clufter`
//! `__root__/ccs-flatten/*.metadata`.
//!
//! Deviations from the raw metadata, all deliberate: `recovery`,
//! `depend_mode`, ip `family`, vm `migrate` and netfs `fstype` are narrowed
//! to the words the agent (or rgmanager) accepts, and `restart_expire_time`
//! is typed as a time. Parameters rgmanager adds to every resource itself
//! (`ref`, `__independent_subtree`, `__enforce_timeouts`, `__max_failures`,
//! `__failure_expire_time`, `__max_restarts`, `__restart_expire_time`) are
//! not listed. Times in actions are converted to seconds.
//!
//! After the 22 classic types come the two of rgmanager-rs's own (documented in
//! `docs/resource-agents.md`): `ocf`, any OCF resource agent (`<ocf type="IPaddr2"
//! provider="heartbeat" name="vip" ip="10.0.0.5"/>`, its parameters as attributes), and
//! `systemd`, a systemd unit (`<systemd unit="haproxy.service"/>`). Neither appears in any
//! child list: inside a service they start after its typed children, in document order (the
//! order of a Pacemaker group), and stop in the reverse order before them.

/// How a parameter's value is typed in the agent metadata (`<content type=...>`),
/// refined to an enumeration where the agent only accepts a fixed set of words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    String,
    Boolean,
    Integer,
    /// A time such as `30`, `30s`, `5m` (rgmanager's expand_time: s, m, h, d, w).
    Time,
    Enum(&'static [&'static str]),
}

/// One `<parameter>` of an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    pub primary: bool,
    pub unique: bool,
    /// `inherit="x"` or `inherit="type%x"` as written in the metadata.
    pub inherit: Option<&'static str>,
    /// `<content default=...>` when the metadata gives one.
    pub default: Option<&'static str>,
}

/// One `<child type=... start=N stop=M forbid=1/>` of the agent's `<special tag="rgmanager">`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildRule {
    pub kind: &'static str,
    pub start: Option<u32>,
    pub stop: Option<u32>,
    pub forbid: bool,
}

/// One `<action name= timeout= interval= depth=/>` (times in seconds; None when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionSpec {
    pub name: &'static str,
    pub timeout: Option<u32>,
    pub interval: Option<u32>,
    pub depth: Option<u32>,
}

/// An agent's rules as its metadata declared them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceType {
    pub name: &'static str,
    /// `<special tag="rgmanager"><attributes maxinstances="1" .../>` (None = unlimited).
    pub maxinstances: Option<u32>,
    /// True for types that may be a top-level resource group under `<rm>` (service, vm).
    pub root: bool,
    /// Any attribute the table does not list is a parameter of the agent rather than an
    /// unknown attribute (`ocf`: the OCF agent's own parameters, checked against its
    /// `meta-data` when it runs, not here).
    pub any_params: bool,
    pub params: &'static [Param],
    pub children: &'static [ChildRule],
    pub actions: &'static [ActionSpec],
}

/// Every classic RHCS resource type, in the order of the list above, then ours.
pub static RESOURCE_TYPES: &[ResourceType] = &[
    // rgmanager/src/resources/service.sh.in @ 8dd0ea74
    ResourceType {
        name: "service",
        maxinstances: Some(1),
        root: true,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: true,
                primary: true,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "domain",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "autostart",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("1"),
            },
            Param {
                name: "exclusive",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("0"),
            },
            Param {
                name: "nfslock",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("0"),
            },
            Param {
                name: "nfs_client_cache",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("0"),
            },
            Param {
                name: "recovery",
                kind: ParamKind::Enum(&["restart", "relocate", "disable", "restart-disable"]),
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("restart"),
            },
            Param {
                name: "depend",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "depend_mode",
                kind: ParamKind::Enum(&["hard", "soft"]),
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("hard"),
            },
            Param {
                name: "max_restarts",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("0"),
            },
            Param {
                name: "restart_expire_time",
                kind: ParamKind::Time,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("0"),
            },
            Param {
                name: "priority",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("0"),
            },
        ],
        children: &[
            ChildRule {
                kind: "lvm",
                start: Some(1),
                stop: Some(9),
                forbid: false,
            },
            ChildRule {
                kind: "fs",
                start: Some(2),
                stop: Some(8),
                forbid: false,
            },
            ChildRule {
                kind: "clusterfs",
                start: Some(3),
                stop: Some(7),
                forbid: false,
            },
            ChildRule {
                kind: "netfs",
                start: Some(4),
                stop: Some(6),
                forbid: false,
            },
            ChildRule {
                kind: "nfsexport",
                start: Some(5),
                stop: Some(5),
                forbid: false,
            },
            ChildRule {
                kind: "nfsclient",
                start: Some(6),
                stop: Some(4),
                forbid: false,
            },
            ChildRule {
                kind: "ip",
                start: Some(7),
                stop: Some(2),
                forbid: false,
            },
            ChildRule {
                kind: "smb",
                start: Some(8),
                stop: Some(3),
                forbid: false,
            },
            ChildRule {
                kind: "script",
                start: Some(9),
                stop: Some(1),
                forbid: false,
            },
        ],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "reconfig",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "recover",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "reload",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/vm.sh.in @ af419dfb
    ResourceType {
        name: "vm",
        maxinstances: Some(1),
        root: true,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "domain",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "autostart",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("1"),
            },
            Param {
                name: "exclusive",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("0"),
            },
            Param {
                name: "recovery",
                kind: ParamKind::Enum(&["restart", "relocate", "disable", "restart-disable"]),
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "migration_mapping",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "use_virsh",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "xmlfile",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "migrate",
                kind: ParamKind::Enum(&["live", "pause"]),
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("live"),
            },
            Param {
                name: "migrate_options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "tunnelled",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "path",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "snapshot",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "depend",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "depend_mode",
                kind: ParamKind::Enum(&["hard", "soft"]),
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("hard"),
            },
            Param {
                name: "max_restarts",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("0"),
            },
            Param {
                name: "restart_expire_time",
                kind: ParamKind::Time,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("0"),
            },
            Param {
                name: "status_program",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "hypervisor",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("auto"),
            },
            Param {
                name: "hypervisor_uri",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("auto"),
            },
            Param {
                name: "migration_uri",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("auto"),
            },
            Param {
                name: "no_kill",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("false"),
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(300),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(120),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(30),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(30),
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(20),
                interval: Some(60),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(20),
                interval: Some(60),
                depth: Some(10),
            },
            ActionSpec {
                name: "reconfig",
                timeout: Some(10),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "migrate",
                timeout: Some(600),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/ip.sh.in @ af419dfb
    ResourceType {
        name: "ip",
        maxinstances: Some(1),
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "address",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "family",
                kind: ParamKind::Enum(&["auto", "inet", "inet6"]),
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "monitor_link",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("1"),
            },
            Param {
                name: "nfslock",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%nfslock"),
                default: None,
            },
            Param {
                name: "sleeptime",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "disable_rdisc",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "prefer_interface",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
        ],
        children: &[
            ChildRule {
                kind: "nfsclient",
                start: None,
                stop: None,
                forbid: true,
            },
            ChildRule {
                kind: "nfsexport",
                start: None,
                stop: None,
                forbid: true,
            },
        ],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(20),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(20),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(20),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(20),
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(20),
                interval: Some(60),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(20),
                interval: Some(60),
                depth: Some(10),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(20),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(20),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/script.sh.in @ a1d410ae
    ResourceType {
        name: "script",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "file",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "service_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%name"),
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(0),
                interval: Some(30),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(0),
                interval: Some(30),
                depth: None,
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/fs.sh.in @ 8dd0ea74
    ResourceType {
        name: "fs",
        maxinstances: Some(1),
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "mountpoint",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "device",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "fstype",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "force_unmount",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "quick_status",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "self_fence",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "nfslock",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("nfslock"),
                default: None,
            },
            Param {
                name: "nfsrestart",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "fsid",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "force_fsck",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "use_findmnt",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
        ],
        children: &[
            ChildRule {
                kind: "fs",
                start: Some(1),
                stop: Some(3),
                forbid: false,
            },
            ChildRule {
                kind: "clusterfs",
                start: Some(1),
                stop: Some(3),
                forbid: false,
            },
            ChildRule {
                kind: "nfsexport",
                start: Some(3),
                stop: Some(1),
                forbid: false,
            },
        ],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(900),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(30),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(30),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(30),
                depth: Some(10),
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(60),
                depth: Some(20),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(60),
                depth: Some(20),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/clusterfs.sh.in @ af419dfb
    ResourceType {
        name: "clusterfs",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "mountpoint",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "device",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "fstype",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "force_unmount",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "self_fence",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "fsid",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "nfslock",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%nfslock"),
                default: None,
            },
            Param {
                name: "nfsrestart",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "use_findmnt",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
        ],
        children: &[
            ChildRule {
                kind: "fs",
                start: Some(1),
                stop: Some(3),
                forbid: false,
            },
            ChildRule {
                kind: "clusterfs",
                start: Some(1),
                stop: Some(3),
                forbid: false,
            },
            ChildRule {
                kind: "nfsexport",
                start: Some(3),
                stop: Some(1),
                forbid: false,
            },
        ],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(900),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(30),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(600),
                depth: Some(20),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(600),
                depth: Some(20),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/netfs.sh.in @ a1d410ae
    ResourceType {
        name: "netfs",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "mountpoint",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "host",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "export",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "fstype",
                kind: ParamKind::Enum(&["nfs", "nfs4", "cifs"]),
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("nfs"),
            },
            Param {
                name: "no_unmount",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "force_unmount",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "self_fence",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "use_findmnt",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
        ],
        children: &[
            ChildRule {
                kind: "nfsexport",
                start: None,
                stop: None,
                forbid: true,
            },
            ChildRule {
                kind: "nfsclient",
                start: None,
                stop: None,
                forbid: true,
            },
        ],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(900),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(30),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(600),
                depth: Some(20),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(600),
                depth: Some(20),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/lvm.metadata @ 02fc3916
    ResourceType {
        name: "lvm",
        maxinstances: Some(1),
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "vg_name",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "lv_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "self_fence",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "nfslock",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%nfslock"),
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(5),
                interval: Some(3600),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(5),
                interval: Some(3600),
                depth: None,
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(30),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/nfsserver.sh.in @ 8dd0ea74
    ResourceType {
        name: "nfsserver",
        maxinstances: Some(1),
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "path",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("mountpoint"),
                default: None,
            },
            Param {
                name: "nfspath",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(".clumanager/nfs"),
            },
            Param {
                name: "statdport",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "krbhost",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
        ],
        children: &[
            ChildRule {
                kind: "nfsexport",
                start: None,
                stop: None,
                forbid: true,
            },
            ChildRule {
                kind: "nfsserver",
                start: None,
                stop: None,
                forbid: true,
            },
            ChildRule {
                kind: "nfsclient",
                start: Some(1),
                stop: Some(2),
                forbid: false,
            },
            ChildRule {
                kind: "ip",
                start: Some(2),
                stop: Some(1),
                forbid: false,
            },
        ],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "recover",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(5),
                interval: Some(30),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(5),
                interval: Some(30),
                depth: None,
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(30),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/nfsexport.sh.in @ a1d410ae
    ResourceType {
        name: "nfsexport",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "device",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("device"),
                default: None,
            },
            Param {
                name: "path",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("mountpoint"),
                default: None,
            },
            Param {
                name: "fsid",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("fsid"),
                default: None,
            },
        ],
        children: &[
            ChildRule {
                kind: "nfsexport",
                start: None,
                stop: None,
                forbid: true,
            },
            ChildRule {
                kind: "nfsclient",
                start: None,
                stop: None,
                forbid: false,
            },
        ],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "recover",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(5),
                interval: Some(3600),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(5),
                interval: Some(3600),
                depth: None,
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(30),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/nfsclient.sh.in @ 2534ae0e
    ResourceType {
        name: "nfsclient",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "target",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "path",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("path"),
                default: None,
            },
            Param {
                name: "svcname",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%name"),
                default: None,
            },
            Param {
                name: "fsid",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("fsid"),
                default: None,
            },
            Param {
                name: "options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "allow_recover",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "service_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%name"),
                default: None,
            },
            Param {
                name: "use_cache",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%nfs_client_cache"),
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(90),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "recover",
                timeout: Some(90),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(5),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(5),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(30),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/smb.sh.in @ 8dd0ea74
    ResourceType {
        name: "smb",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "workgroup",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("LINUXCLUSTER"),
            },
            Param {
                name: "service_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%name"),
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(0),
                interval: Some(30),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(0),
                interval: Some(30),
                depth: None,
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/samba.metadata @ cf5a004e
    ResourceType {
        name: "samba",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "config_file",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("/etc/samba/smb.conf"),
            },
            Param {
                name: "smbd_options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "nmbd_options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "shutdown_wait",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "service_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%name"),
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(0),
                interval: Some(30),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(0),
                interval: Some(30),
                depth: None,
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/apache.metadata @ 8cdc1def
    ResourceType {
        name: "apache",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "server_root",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("/etc/httpd"),
            },
            Param {
                name: "config_file",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("conf/httpd.conf"),
            },
            Param {
                name: "httpd_options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "shutdown_wait",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "service_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%name"),
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(1),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(1),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/mysql.metadata @ a656372b
    ResourceType {
        name: "mysql",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "config_file",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("/etc/my.cnf"),
            },
            Param {
                name: "listen_address",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "mysqld_options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "startup_wait",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("30"),
            },
            Param {
                name: "shutdown_wait",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "service_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%name"),
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/postgres-8.metadata @ 7bf35d0d
    ResourceType {
        name: "postgres-8",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "config_file",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("/var/lib/pgsql/data/postgresql.conf"),
            },
            Param {
                name: "postmaster_user",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("postgres"),
            },
            Param {
                name: "postmaster_options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("-D /var/lib/pgsql/data"),
            },
            Param {
                name: "shutdown_wait",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "service_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%name"),
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/tomcat-6.metadata @ 5fa84b73
    ResourceType {
        name: "tomcat-6",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "config_file",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("/etc/tomcat6/tomcat6.conf"),
            },
            Param {
                name: "shutdown_wait",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("30"),
            },
            Param {
                name: "service_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%name"),
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/named.metadata @ 4b757b72
    ResourceType {
        name: "named",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "config_file",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("/etc/named.conf"),
            },
            Param {
                name: "named_sdb",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("0"),
            },
            Param {
                name: "named_working_dir",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("/var/named"),
            },
            Param {
                name: "named_options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "update_source",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "shutdown_wait",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("5"),
            },
            Param {
                name: "service_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%name"),
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/openldap.metadata @ cf5a004e
    ResourceType {
        name: "openldap",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "config_file",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("/etc/openldap/slapd.conf"),
            },
            Param {
                name: "url_list",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("ldap:///"),
            },
            Param {
                name: "slapd_options",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "shutdown_wait",
                kind: ParamKind::Integer,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "service_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: Some("service%name"),
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(60),
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(300),
                depth: Some(10),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(0),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/oracledb.sh.in @ 8dd0ea74
    ResourceType {
        name: "oracledb",
        maxinstances: Some(1),
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: false,
                primary: true,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "listener_name",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "user",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "home",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "type",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "vhost",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "tns_admin",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: true,
                inherit: None,
                default: None,
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(900),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(90),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "recover",
                timeout: Some(990),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(30),
                interval: Some(30),
                depth: Some(10),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(30),
                interval: Some(30),
                depth: Some(10),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/SAPInstance @ c6d7ca7a
    ResourceType {
        name: "SAPInstance",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "InstanceName",
                kind: ParamKind::String,
                required: true,
                primary: true,
                unique: true,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "DIR_EXECUTABLE",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "DIR_PROFILE",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "START_PROFILE",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "START_WAITTIME",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("3600"),
            },
            Param {
                name: "AUTOMATIC_RECOVER",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("false"),
            },
            Param {
                name: "PRE_START_USEREXIT",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "POST_START_USEREXIT",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "PRE_STOP_USEREXIT",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "POST_STOP_USEREXIT",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(180),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(240),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(60),
                interval: Some(120),
                depth: Some(0),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(60),
                interval: Some(120),
                depth: Some(0),
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "methods",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager/src/resources/SAPDatabase @ c6d7ca7a
    ResourceType {
        name: "SAPDatabase",
        maxinstances: None,
        root: false,
        any_params: false,
        params: &[
            Param {
                name: "SID",
                kind: ParamKind::String,
                required: true,
                primary: true,
                unique: true,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "DIR_EXECUTABLE",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "DBTYPE",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "NETSERVICENAME",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "DBJ2EE_ONLY",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("false"),
            },
            Param {
                name: "JAVA_HOME",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "STRICT_MONITORING",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("false"),
            },
            Param {
                name: "AUTOMATIC_RECOVER",
                kind: ParamKind::Boolean,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("false"),
            },
            Param {
                name: "DIR_BOOTSTRAP",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "DIR_SECSTORE",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "DB_JARS",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "PRE_START_USEREXIT",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "POST_START_USEREXIT",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "PRE_STOP_USEREXIT",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
            Param {
                name: "POST_STOP_USEREXIT",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some(""),
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(1800),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(1800),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(60),
                interval: Some(120),
                depth: Some(0),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(60),
                interval: Some(120),
                depth: Some(0),
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "methods",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager-rs: any OCF resource agent, `$OCF_ROOT/resource.d/<provider>/<type>`. The
    // timeouts left at 0 are taken from the agent's own meta-data when it runs.
    ResourceType {
        name: "ocf",
        maxinstances: None,
        root: false,
        any_params: true,
        params: &[
            Param {
                name: "name",
                kind: ParamKind::String,
                required: true,
                primary: true,
                unique: true,
                inherit: None,
                default: None,
            },
            Param {
                name: "type",
                kind: ParamKind::String,
                required: true,
                primary: false,
                unique: false,
                inherit: None,
                default: None,
            },
            Param {
                name: "provider",
                kind: ParamKind::String,
                required: false,
                primary: false,
                unique: false,
                inherit: None,
                default: Some("heartbeat"),
            },
        ],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: None,
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: None,
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: None,
                interval: Some(60),
                depth: Some(0),
            },
            ActionSpec {
                name: "monitor",
                timeout: None,
                interval: Some(60),
                depth: Some(0),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "validate-all",
                timeout: Some(30),
                interval: None,
                depth: None,
            },
        ],
    },
    // rgmanager-rs: a systemd unit, started and stopped through systemctl. A unit belongs to
    // one service (two would stop it under each other). Timeouts leave room for systemd's
    // own default of 90 s per job.
    ResourceType {
        name: "systemd",
        maxinstances: Some(1),
        root: false,
        any_params: false,
        params: &[Param {
            name: "unit",
            kind: ParamKind::String,
            required: true,
            primary: true,
            unique: true,
            inherit: None,
            default: None,
        }],
        children: &[],
        actions: &[
            ActionSpec {
                name: "start",
                timeout: Some(120),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "stop",
                timeout: Some(120),
                interval: None,
                depth: None,
            },
            ActionSpec {
                name: "status",
                timeout: Some(10),
                interval: Some(30),
                depth: Some(0),
            },
            ActionSpec {
                name: "monitor",
                timeout: Some(10),
                interval: Some(30),
                depth: Some(0),
            },
            ActionSpec {
                name: "meta-data",
                timeout: Some(5),
                interval: None,
                depth: None,
            },
        ],
    },
];

/// The rules of the type named `name` (exact, case-sensitive), if it is a known type.
/// (A hash lookup: the validator and tree builder ask for every resource of a file.)
pub fn resource_type(name: &str) -> Option<&'static ResourceType> {
    static BY_NAME: std::sync::OnceLock<
        rustc_hash::FxHashMap<&'static str, &'static ResourceType>,
    > = std::sync::OnceLock::new();
    BY_NAME
        .get_or_init(|| RESOURCE_TYPES.iter().map(|t| (t.name, t)).collect())
        .get(name)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Classic agents shipped next to these ones that this table does not describe.
    const OTHER_KINDS: &[&str] = &[
        "ASEHAagent",
        "bind-mount",
        "db2",
        "drbd",
        "orainstance",
        "oralistener",
        "oradg",
        "tomcat-5",
    ];

    fn param(t: &ResourceType, name: &str) -> Param {
        match t.params.iter().find(|p| p.name == name) {
            Some(p) => *p,
            None => panic!("{} has no parameter {}", t.name, name),
        }
    }

    fn get(name: &str) -> &'static ResourceType {
        match resource_type(name) {
            Some(t) => t,
            None => panic!("no resource type {name}"),
        }
    }

    #[test]
    fn all_types_present_in_order() {
        let names: Vec<&str> = RESOURCE_TYPES.iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "service",
                "vm",
                "ip",
                "script",
                "fs",
                "clusterfs",
                "netfs",
                "lvm",
                "nfsserver",
                "nfsexport",
                "nfsclient",
                "smb",
                "samba",
                "apache",
                "mysql",
                "postgres-8",
                "tomcat-6",
                "named",
                "openldap",
                "oracledb",
                "SAPInstance",
                "SAPDatabase",
                "ocf",
                "systemd",
            ]
        );
        assert!(resource_type("Service").is_none());
        assert!(resource_type("sapinstance").is_none());
    }

    #[test]
    fn type_names_and_param_names_unique() {
        for (i, a) in RESOURCE_TYPES.iter().enumerate() {
            for b in &RESOURCE_TYPES[i + 1..] {
                assert_ne!(a.name, b.name);
            }
            for (j, p) in a.params.iter().enumerate() {
                for q in &a.params[j + 1..] {
                    assert_ne!(p.name, q.name, "duplicate parameter in {}", a.name);
                }
            }
        }
    }

    #[test]
    fn only_service_and_vm_are_root() {
        for t in RESOURCE_TYPES {
            assert_eq!(t.root, t.name == "service" || t.name == "vm", "{}", t.name);
        }
    }

    #[test]
    fn service_child_levels() {
        let svc = get("service");
        let levels: Vec<(&str, Option<u32>, Option<u32>)> = svc
            .children
            .iter()
            .map(|c| (c.kind, c.start, c.stop))
            .collect();
        assert_eq!(
            levels,
            [
                ("lvm", Some(1), Some(9)),
                ("fs", Some(2), Some(8)),
                ("clusterfs", Some(3), Some(7)),
                ("netfs", Some(4), Some(6)),
                ("nfsexport", Some(5), Some(5)),
                ("nfsclient", Some(6), Some(4)),
                ("ip", Some(7), Some(2)),
                ("smb", Some(8), Some(3)),
                ("script", Some(9), Some(1)),
            ]
        );
        assert!(svc.children.iter().all(|c| !c.forbid));
        assert_eq!(svc.maxinstances, Some(1));
        let name = param(svc, "name");
        assert!(name.required && name.primary && name.unique);
        assert_eq!(
            param(svc, "recovery").kind,
            ParamKind::Enum(&["restart", "relocate", "disable", "restart-disable"])
        );
        assert_eq!(param(svc, "restart_expire_time").kind, ParamKind::Time);
    }

    #[test]
    fn ip_address_and_limits() {
        let ip = get("ip");
        assert_eq!(ip.maxinstances, Some(1));
        let addr = param(ip, "address");
        assert!(addr.primary && addr.unique && !addr.required);
        assert_eq!(ip.params.iter().filter(|p| p.primary).count(), 1);
        assert_eq!(
            param(ip, "family").kind,
            ParamKind::Enum(&["auto", "inet", "inet6"])
        );
        assert_eq!(param(ip, "nfslock").inherit, Some("service%nfslock"));
        for kind in ["nfsclient", "nfsexport"] {
            assert!(ip.children.iter().any(|c| c.kind == kind && c.forbid));
        }
        let deep = ip
            .actions
            .iter()
            .find(|a| a.name == "status" && a.depth == Some(10));
        assert_eq!(deep.and_then(|a| a.interval), Some(60));
    }

    #[test]
    fn script_file_and_service_name() {
        let script = get("script");
        let file = param(script, "file");
        assert!(file.required && file.unique && !file.primary);
        assert_eq!(param(script, "service_name").inherit, Some("service%name"));
        assert_eq!(script.maxinstances, None);
        let status = script.actions.iter().find(|a| a.name == "status");
        assert_eq!(
            status.map(|a| (a.timeout, a.interval)),
            Some((Some(0), Some(30)))
        );
    }

    #[test]
    fn fs_children_and_times() {
        let fs = get("fs");
        let levels: Vec<(&str, Option<u32>, Option<u32>)> = fs
            .children
            .iter()
            .map(|c| (c.kind, c.start, c.stop))
            .collect();
        assert_eq!(
            levels,
            [
                ("fs", Some(1), Some(3)),
                ("clusterfs", Some(1), Some(3)),
                ("nfsexport", Some(3), Some(1)),
            ]
        );
        assert_eq!(param(fs, "force_unmount").kind, ParamKind::Boolean);
        let status = fs.actions.iter().find(|a| a.name == "status");
        assert_eq!(status.and_then(|a| a.interval), Some(60));
        let start = fs.actions.iter().find(|a| a.name == "start");
        assert_eq!(start.and_then(|a| a.timeout), Some(900));
    }

    #[test]
    fn vm_rules() {
        let vm = get("vm");
        assert!(vm.root);
        assert_eq!(vm.maxinstances, Some(1));
        assert!(vm.children.is_empty());
        assert_eq!(
            param(vm, "migrate").kind,
            ParamKind::Enum(&["live", "pause"])
        );
        assert_eq!(param(vm, "migrate").default, Some("live"));
        assert_eq!(
            param(vm, "depend_mode").kind,
            ParamKind::Enum(&["hard", "soft"])
        );
        let migrate = vm.actions.iter().find(|a| a.name == "migrate");
        assert_eq!(migrate.and_then(|a| a.timeout), Some(600));
    }

    #[test]
    fn every_child_kind_is_known() {
        for t in RESOURCE_TYPES {
            for c in t.children {
                assert!(
                    resource_type(c.kind).is_some() || OTHER_KINDS.contains(&c.kind),
                    "{} names unknown child type {}",
                    t.name,
                    c.kind
                );
                if c.forbid {
                    assert!(c.start.is_none() && c.stop.is_none());
                }
            }
        }
    }

    #[test]
    fn our_types_take_any_parameter_and_no_child_level() {
        for t in RESOURCE_TYPES {
            assert_eq!(t.any_params, t.name == "ocf", "{}", t.name);
            for c in t.children {
                assert!(c.kind != "ocf" && c.kind != "systemd", "{}", t.name);
            }
        }
        let ocf = get("ocf");
        assert!(param(ocf, "name").primary);
        assert!(param(ocf, "type").required);
        assert_eq!(param(ocf, "provider").default, Some("heartbeat"));
        let sd = get("systemd");
        assert!(param(sd, "unit").primary && param(sd, "unit").unique);
        assert_eq!(sd.maxinstances, Some(1));
    }

    #[test]
    fn every_type_has_start_stop_and_a_primary_param() {
        for t in RESOURCE_TYPES {
            assert!(t.actions.iter().any(|a| a.name == "start"), "{}", t.name);
            assert!(t.actions.iter().any(|a| a.name == "stop"), "{}", t.name);
            assert_eq!(
                t.params.iter().filter(|p| p.primary).count(),
                1,
                "{}",
                t.name
            );
            for p in t.params {
                if let ParamKind::Enum(words) = p.kind {
                    if let Some(d) = p.default {
                        assert!(words.contains(&d), "{}.{}", t.name, p.name);
                    }
                }
            }
        }
    }
}
