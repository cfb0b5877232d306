//! What each cluster.conf element may carry: the attribute tables the validator checks and
//! `schemas/cluster.rng` mirrors (a test runs both over every fixture so they cannot drift).
//!
//! Resource types (`service`, `ip`, `script`, …) are described by `crate::resource_types`, the
//! table transcribed from the RHCS agents' metadata; this module adds the attributes rgmanager
//! itself understands on every resource and the fixed elements of the file.

/// The type of an attribute value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// Any text.
    Str,
    /// A text that must not be empty (names, identifiers).
    Name,
    /// `1/0/yes/no/true/false/on/off`.
    Bool,
    /// A boolean that RHCS read with `atoi`, so a word there meant 0: accepted with its plain
    /// meaning and a warning.
    AtoiBool,
    /// A non-negative integer that fits 32 bits (cman and rgmanager read them as C ints).
    UInt,
    /// An integer in 1..=4294967295.
    PosInt,
    /// An integer, possibly negative (`post_fail_delay="-1"`).
    Int,
    /// An integer in an inclusive range.
    Range(i64, i64),
    /// One of these words (case-insensitive).
    Enum(&'static [&'static str]),
    /// A time: a number with an optional unit s, m, h, d or w.
    Time,
    /// An IPv4/IPv6 address with an optional `/prefix`.
    IpPrefix,
    /// An IPv4/IPv6 address without a prefix.
    Addr,
    /// An absolute file path.
    AbsPath,
}

/// One attribute of a fixed element.
#[derive(Clone, Copy, Debug)]
pub struct AttrSpec {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
}

const fn opt(name: &'static str, ty: Ty) -> AttrSpec {
    AttrSpec {
        name,
        ty,
        required: false,
    }
}

const fn req(name: &'static str, ty: Ty) -> AttrSpec {
    AttrSpec {
        name,
        ty,
        required: true,
    }
}

/// A fixed element: its attributes, and whether attributes beyond them are expected (fence
/// devices take any agent option) or reported as unknown.
#[derive(Clone, Copy, Debug)]
pub struct ElementSpec {
    pub name: &'static str,
    pub attrs: &'static [AttrSpec],
    pub open: bool,
}

const fn el(name: &'static str, attrs: &'static [AttrSpec]) -> ElementSpec {
    ElementSpec {
        name,
        attrs,
        open: false,
    }
}

const fn open_el(name: &'static str, attrs: &'static [AttrSpec]) -> ElementSpec {
    ElementSpec {
        name,
        attrs,
        open: true,
    }
}

pub const PORT: Ty = Ty::Range(1, 65535);

pub static CLUSTER: ElementSpec = el(
    "cluster",
    &[req("name", Ty::Name), req("config_version", Ty::UInt)],
);

/// The longest cluster name cman accepts.
pub const CLUSTER_NAME_MAX: usize = 15;

pub static CMAN: ElementSpec = el(
    "cman",
    &[
        opt("two_node", Ty::AtoiBool),
        opt("expected_votes", Ty::PosInt),
        opt("upgrading", Ty::Bool),
        opt("disallowed", Ty::Bool),
        opt("quorum_dev_poll", Ty::UInt),
        opt("shutdown_timeout", Ty::UInt),
        opt("port", PORT),
        opt("cluster_id", Ty::UInt),
        opt("broadcast", Ty::Bool),
        opt("transport", Ty::Enum(&["udp", "udpb", "udpu", "rdma"])),
        opt("keyfile", Ty::AbsPath),
        opt("ccsd_poll", Ty::UInt),
        opt("debug_mask", Ty::Str),
        opt("hash_cluster_id", Ty::Bool),
        // Ours: the membership engine, "embedded" (the default) or "corosync".
        opt("engine", Ty::Enum(&["embedded", "corosync"])),
    ],
);

pub static TOTEM: ElementSpec = el(
    "totem",
    &[
        opt("token", Ty::PosInt),
        opt("token_retransmit", Ty::PosInt),
        opt("token_retransmits_before_loss_const", Ty::PosInt),
        opt("hold", Ty::PosInt),
        opt("consensus", Ty::PosInt),
        opt("join", Ty::PosInt),
        opt("merge", Ty::PosInt),
        opt("downcheck", Ty::PosInt),
        opt("fail_recv_const", Ty::PosInt),
        opt("seqno_unchanged_const", Ty::PosInt),
        opt("send_join", Ty::UInt),
        opt("max_messages", Ty::PosInt),
        opt("max_network_delay", Ty::PosInt),
        opt("window_size", Ty::PosInt),
        opt("netmtu", Ty::PosInt),
        opt("miss_count_const", Ty::PosInt),
        opt("rrp_problem_count_timeout", Ty::PosInt),
        opt("rrp_problem_count_threshold", Ty::PosInt),
        opt("rrp_token_expired_timeout", Ty::PosInt),
        opt("rrp_mode", Ty::Enum(&["none", "active", "passive"])),
        opt("secauth", Ty::Enum(&["on", "off"])),
        opt("keyfile", Ty::AbsPath),
        opt("threads", Ty::UInt),
        opt("vsftype", Ty::Str),
    ],
);

pub static QUORUMD: ElementSpec = el(
    "quorumd",
    &[
        opt("interval", Ty::PosInt),
        opt("tko", Ty::PosInt),
        opt("tko_up", Ty::PosInt),
        opt("upgrade_wait", Ty::PosInt),
        opt("master_wait", Ty::PosInt),
        opt("votes", Ty::UInt),
        opt("min_score", Ty::UInt),
        opt("label", Ty::Str),
        opt("device", Ty::AbsPath),
        opt("cman_label", Ty::Str),
        opt("status_file", Ty::AbsPath),
        opt("scheduler", Ty::Enum(&["rr", "fifo", "other"])),
        opt("priority", Ty::Int),
        opt("stop_cman", Ty::Bool),
        opt("paranoid", Ty::Bool),
        opt("allow_kill", Ty::Bool),
        opt("reboot", Ty::Bool),
        opt("io_timeout", Ty::Bool),
        opt("max_error_cycles", Ty::UInt),
        opt("use_uptime", Ty::Bool),
        opt("master_wins", Ty::Bool),
        opt("log_level", Ty::Range(0, 7)),
        opt("log_facility", Ty::Str),
    ],
);

pub static HEURISTIC: ElementSpec = el(
    "heuristic",
    &[
        req("program", Ty::Name),
        opt("score", Ty::PosInt),
        opt("interval", Ty::PosInt),
        opt("tko", Ty::PosInt),
    ],
);

pub static FENCE_DAEMON: ElementSpec = el(
    "fence_daemon",
    &[
        opt("post_join_delay", Ty::Int),
        opt("post_fail_delay", Ty::Int),
        opt("override_path", Ty::AbsPath),
        opt("override_time", Ty::UInt),
        opt("clean_start", Ty::AtoiBool),
        opt("skip_undefined", Ty::AtoiBool),
    ],
);

pub static CLUSTERNODES: ElementSpec = el("clusternodes", &[]);

pub static CLUSTERNODE: ElementSpec = el(
    "clusternode",
    &[
        req("name", Ty::Name),
        req("nodeid", Ty::PosInt),
        opt("votes", Ty::UInt),
        opt("weight", Ty::UInt),
        // Our extension: where this node's membership traffic goes (docs/membership.md).
        opt("rgm_addr", Ty::Addr),
        opt("rgm_port", PORT),
        // Our extension: this node's HTTP port when it differs from `<rm http_port>` (several
        // nodes on one machine; docs/http.md).
        opt("rgm_http_port", PORT),
    ],
);

pub static FENCE: ElementSpec = el("fence", &[]);
pub static UNFENCE: ElementSpec = el("unfence", &[]);
pub static METHOD: ElementSpec = el("method", &[req("name", Ty::Name)]);

/// Options of the fence-agents that have a fixed type, checked wherever they are written (on a
/// `fencedevice` or a node's `device`); any other attribute is an agent option passed through.
pub static FENCE_OPTIONS: &[AttrSpec] = &[
    opt("ipport", PORT),
    opt("delay", Ty::UInt),
    opt("power_wait", Ty::UInt),
    opt("power_timeout", Ty::UInt),
    opt("shell_timeout", Ty::UInt),
    opt("login_timeout", Ty::UInt),
    opt("retry_on", Ty::UInt),
    opt("lanplus", Ty::Bool),
    opt("ssh", Ty::Bool),
    opt("secure", Ty::Bool),
    opt("use_sudo", Ty::Bool),
    opt("cipher", Ty::UInt),
    opt(
        "privlvl",
        Ty::Enum(&["callback", "user", "operator", "administrator"]),
    ),
    opt("method", Ty::Enum(&["onoff", "cycle"])),
    opt(
        "action",
        Ty::Enum(&[
            "on", "off", "reboot", "status", "enable", "disable", "list", "monitor",
        ]),
    ),
    opt("identity_file", Ty::AbsPath),
    opt("passwd_script", Ty::AbsPath),
];

pub static DEVICE: ElementSpec = open_el("device", &[req("name", Ty::Name)]);
pub static FENCEDEVICES: ElementSpec = el("fencedevices", &[]);
pub static FENCEDEVICE: ElementSpec = open_el(
    "fencedevice",
    &[req("name", Ty::Name), req("agent", Ty::Name)],
);

pub static RM: ElementSpec = el(
    "rm",
    &[
        opt("log_level", Ty::Range(0, 7)),
        opt("log_facility", Ty::Str),
        opt("status_child_max", Ty::PosInt),
        opt("status_poll_interval", Ty::PosInt),
        opt("transition_throttling", Ty::UInt),
        opt("central_processing", Ty::Bool),
        opt("disabled", Ty::Bool),
        opt("statistics", Ty::Bool),
        // Our extension: the HTTP listener (`/metrics`, `/health/...`, the status page), off
        // without `http_port`; on each node's own address unless `http_address` says
        // otherwise; HTTPS with both `http_tls_cert` and `http_tls_key` (docs/http.md).
        opt("http_port", PORT),
        opt("http_address", Ty::Addr),
        opt("http_tls_cert", Ty::AbsPath),
        opt("http_tls_key", Ty::AbsPath),
    ],
);

pub static FAILOVERDOMAINS: ElementSpec = el("failoverdomains", &[]);
pub static FAILOVERDOMAIN: ElementSpec = el(
    "failoverdomain",
    &[
        req("name", Ty::Name),
        opt("ordered", Ty::AtoiBool),
        opt("restricted", Ty::AtoiBool),
        opt("nofailback", Ty::AtoiBool),
    ],
);

/// Lowest and highest failover domain priority (1 is the most preferred).
pub const PRIORITY_RANGE: (i64, i64) = (1, 100);

pub static FAILOVERDOMAINNODE: ElementSpec = el(
    "failoverdomainnode",
    &[
        req("name", Ty::Name),
        opt("priority", Ty::Range(PRIORITY_RANGE.0, PRIORITY_RANGE.1)),
    ],
);

pub static RESOURCES: ElementSpec = el("resources", &[]);

pub static ACTION: ElementSpec = el(
    "action",
    &[
        req("name", Ty::Name),
        opt("depth", Ty::Str),
        opt("interval", Ty::Time),
        opt("timeout", Ty::Time),
    ],
);

/// Attributes rgmanager understands on every resource, whatever its type.
pub static RESOURCE_COMMON: &[AttrSpec] = &[
    opt("ref", Ty::Name),
    opt(
        "__independent_subtree",
        Ty::Enum(&["0", "1", "2", "yes", "no", "non-critical"]),
    ),
    opt("__enforce_timeouts", Ty::Bool),
    opt("__max_failures", Ty::UInt),
    opt("__failure_expire_time", Ty::Time),
    opt("__max_restarts", Ty::UInt),
    opt("__restart_expire_time", Ty::Time),
];

/// Elements RHEL 6 files carry that the model keeps without typing them (their content is
/// passed through untouched), so they are not reported as unknown.
pub static KNOWN_UNTYPED: &[(&str, &str)] = &[
    ("cluster", "logging"),
    ("cluster", "dlm"),
    ("cluster", "gfs_controld"),
    ("cluster", "group"),
    ("cluster", "uidgid"),
    ("cluster", "fence_xvmd"),
    ("cluster", "clvmd"),
    ("cman", "multicast"),
    ("cman", "altmulticast"),
    ("totem", "interface"),
    ("clusternode", "altname"),
    ("rm", "events"),
    ("rm", "resource-defaults"),
];

/// Fence agents of the fence-agents and RHEL 6 cluster packages. A device naming another agent
/// is kept with a warning: it runs if such a program is installed.
pub static KNOWN_FENCE_AGENTS: &[&str] = &[
    "fence_ack_manual",
    "fence_alom",
    "fence_apc",
    "fence_apc_snmp",
    "fence_baytech",
    "fence_bladecenter",
    "fence_brocade",
    "fence_bullpap",
    "fence_cisco_mds",
    "fence_cisco_ucs",
    "fence_drac",
    "fence_drac5",
    "fence_eaton_snmp",
    "fence_egenera",
    "fence_eps",
    "fence_gnbd",
    "fence_hpblade",
    "fence_ibmblade",
    "fence_idrac",
    "fence_ifmib",
    "fence_ilo",
    "fence_ilo2",
    "fence_ilo3",
    "fence_ilo4",
    "fence_ilo_mp",
    "fence_imm",
    "fence_intelmodular",
    "fence_ipdu",
    "fence_ipmilan",
    "fence_kdump",
    "fence_ldom",
    "fence_lpar",
    "fence_manual",
    "fence_mcdata",
    "fence_rhevm",
    "fence_rsa",
    "fence_rsb",
    "fence_sanbox2",
    "fence_sanlock",
    "fence_scsi",
    "fence_virsh",
    "fence_virt",
    "fence_vixel",
    "fence_vmware",
    "fence_vmware_soap",
    "fence_wti",
    "fence_xcat",
    "fence_xvm",
    "fence_zvm",
    "fence_zvmip",
];
