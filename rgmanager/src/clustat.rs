//! What `clustat` prints, as pure functions of a status snapshot.
//!
//! The daemon answers a status query with a [`Status`]; this module turns it into the text
//! layout, the XML and the exit status of RHCS's `clustat` (reference §d: the printf formats of
//! `clustat.c`, column sizes from the terminal width, last owner in parentheses for stopped
//! services, `[Z]`/`[P]` flags, `-s`/`-m` filters and their exit codes), plus `--json`, our
//! addition. Keeping it free of I/O lets tests pin the layout byte for byte.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::state::{ServiceFlags, ServiceState};

/// Longest host name clustat shows (Linux `MAXHOSTNAMELEN`).
const MAX_NAME: usize = 64;
/// Width of the State column.
const STATE_WIDTH: usize = 14;

/// One row of the member table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub name: String,
    pub nodeid: u32,
    pub online: bool,
    pub local: bool,
    /// Online but not in cluster.conf.
    pub estranged: bool,
    /// rgmanager runs there.
    pub rgmanager: bool,
    /// Central-processing master (shown as `RG-Master` when any node is one). Our
    /// coordinator is that master when cluster.conf asks for `<rm central_processing="1">`;
    /// otherwise RHCS had no master and the rows say `rgmanager`, as in the seed 004 sample.
    pub rg_master: bool,
    pub qdisk: bool,
    /// This member is the coordinator (the lowest node id of the quorate view), whatever
    /// `central_processing` says: shown by `--json`. Missing in the status of an older
    /// daemon.
    #[serde(default)]
    pub coordinator: bool,
    /// The newest wire protocol version the member speaks, that of its release
    /// (docs/wire-versions.md); `None` while offline and in the status of an older daemon.
    #[serde(default)]
    pub wire: Option<u8>,
}

/// One resource group as the cluster knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// Full name, `service:web`.
    pub name: String,
    pub state: ServiceState,
    pub flags: ServiceFlags,
    /// Node ids; 0 = none.
    pub owner: u32,
    pub last_owner: u32,
    pub restarts: u32,
    /// Seconds since the epoch.
    pub last_transition: i64,
}

/// Everything one clustat run shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub cluster_name: String,
    pub cluster_id: u32,
    /// The membership view number.
    pub generation: u64,
    pub quorate: bool,
    /// cluster.conf nodes sorted by node id, then members not in cluster.conf.
    pub members: Vec<MemberStatus>,
    /// `None` when the resource group manager did not answer; sorted by name.
    pub services: Option<Vec<ServiceStatus>>,
    /// When the status was taken (seconds since the epoch), for the header line.
    pub now: i64,
    /// The wire version the cluster talks: the highest every member of the view speaks.
    /// `None` without a view, under corosync, and in the status of an older daemon.
    #[serde(default)]
    pub wire: Option<u8>,
}

/// What to show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// `-m MEMBER`.
    pub member: Option<String>,
    /// `-s SERVICE` (the full name: `service:` is prepended by the caller when missing).
    pub service: Option<String>,
    /// `-l`.
    pub long: bool,
    /// Terminal width (80 when stdout is not a terminal).
    pub cols: usize,
}

/// A service name as clustat takes it: `web` means `service:web`.
pub fn full_service_name(name: &str) -> String {
    if name.contains(':') {
        name.to_string()
    } else {
        format!("service:{name}")
    }
}

impl Status {
    fn name_of(&self, id: u32) -> &str {
        if id == 0 {
            return "none";
        }
        self.members
            .iter()
            .find(|m| m.nodeid == id)
            .map(|m| m.name.as_str())
            .unwrap_or("unknown")
    }

    /// Members clustat shows: not the offline ones that are not in cluster.conf.
    fn shown_members(&self) -> impl Iterator<Item = &MemberStatus> {
        self.members.iter().filter(|m| m.online || !m.estranged)
    }

    fn master_present(&self) -> bool {
        self.members.iter().any(|m| m.rg_master)
    }

    /// The online members do not all speak the same newest wire version: a rolling upgrade
    /// is under way. Only then does the text layout show versions, so that the ordinary
    /// output stays RHCS's byte for byte.
    pub fn mixed_wire(&self) -> bool {
        let mut known = self
            .members
            .iter()
            .filter(|m| m.online)
            .filter_map(|m| m.wire);
        known
            .next()
            .is_some_and(|first| known.any(|other| other != first))
    }
}

/// `printf("%-*.*s", width, width, s)`: left-aligned, padded and cut to `width` characters.
fn field(out: &mut String, s: &str, width: usize) {
    let cut: String = s.chars().take(width).collect();
    let _ = write!(out, "{cut:<width$}");
}

/// The text layout and the exit status (`clustat`, `-m`, `-s`, `-l`).
pub fn text(st: &Status, v: &View) -> (String, i32) {
    let mut out = String::new();
    let (name, svc) = (v.member.as_deref(), v.service.as_deref());
    if svc.is_none() && name.is_none() {
        let _ = writeln!(
            out,
            "Cluster Status for {} @ {}",
            st.cluster_name,
            ctime(st.now)
        );
        let _ = writeln!(
            out,
            "Member Status: {}",
            if st.quorate { "Quorate" } else { "Inquorate" }
        );
        if let Some(w) = st.wire.filter(|_| st.mixed_wire()) {
            let _ = writeln!(out, "Wire Version: {w} (members of different releases)");
        }
        out.push('\n');
        if st.services.is_none() {
            out.push_str(
                "Resource Group Manager not running; no service information available.\n\n",
            );
        }
    }
    let mut ret1 = 0;
    if svc.is_none() || (name.is_some() && svc.is_some()) {
        ret1 = member_table(&mut out, st, name, v.cols);
    }
    let mut ret2 = 0;
    if let Some(services) = &st.services {
        if name.is_none() || svc.is_some() {
            ret2 = service_table(&mut out, st, services, svc, v);
        }
    }
    let code = if name.is_some() && ret1 != 0 {
        ret1
    } else if svc.is_some() && ret2 != 0 {
        ret2
    } else {
        0
    };
    (out, code)
}

fn member_table(out: &mut String, st: &Status, name: Option<&str>, cols: usize) -> i32 {
    let size = (cols / 2).min(MAX_NAME);
    let header = |out: &mut String| {
        out.push(' ');
        field(out, "Member Name", size);
        out.push_str("ID   Status\n ");
        field(out, "------ ----", size);
        out.push_str("---- ------\n");
    };
    if name.is_none() {
        header(out);
    }
    let master = st.master_present();
    let mixed = st.mixed_wire();
    for m in st.shown_members() {
        if let Some(n) = name {
            if m.name != n {
                continue;
            }
            header(out);
        }
        out.push(' ');
        field(out, &m.name, size);
        let _ = write!(
            out,
            " {:>4} {}",
            m.nodeid,
            if m.online { "Online" } else { "Offline" }
        );
        if m.local {
            out.push_str(", Local");
        }
        if m.estranged {
            out.push_str(", Estranged");
        }
        if m.rgmanager {
            out.push_str(match (master, m.rg_master) {
                (false, _) => ", rgmanager",
                (true, true) => ", RG-Master",
                (true, false) => ", RG-Worker",
            });
        }
        if m.qdisk {
            out.push_str(", Quorum Disk");
        }
        if let Some(w) = m.wire.filter(|_| mixed) {
            let _ = write!(out, ", wire {w}");
        }
        out.push('\n');
        if name.is_some() {
            return i32::from(!m.online);
        }
    }
    if name.is_some() {
        return -1;
    }
    out.push('\n');
    0
}

fn service_table(
    out: &mut String,
    st: &Status,
    services: &[ServiceStatus],
    svc: Option<&str>,
    v: &View,
) -> i32 {
    let size = (v.cols.saturating_sub(STATE_WIDTH + 6) / 2).min(MAX_NAME);
    let header = |out: &mut String| {
        out.push(' ');
        field(out, "Service Name", size);
        out.push(' ');
        field(out, "Owner (Last)", size);
        out.push(' ');
        field(out, "State", STATE_WIDTH);
        out.push_str("\n ");
        field(out, "------- ----", size);
        out.push(' ');
        field(out, "----- ------", size);
        out.push(' ');
        field(out, "-----", STATE_WIDTH);
        out.push('\n');
    };
    if v.long {
        out.push_str("Service Information\n------- -----------\n\n");
    } else if svc.is_none() {
        header(out);
    }
    let mut ret = if svc.is_some() { -1 } else { 0 };
    for s in services {
        if let Some(want) = svc {
            if s.name != want {
                continue;
            }
            if !v.long {
                header(out);
            }
        }
        if v.long {
            long_row(out, st, s);
        } else {
            row(out, st, s, size);
        }
        if svc.is_some() {
            ret = if s.state.is_active() {
                0
            } else {
                s.state.code() as i32
            };
        }
    }
    ret
}

fn row(out: &mut String, st: &Status, s: &ServiceStatus, size: usize) {
    let owner = if s.state.shows_last_owner() {
        let n: String = st
            .name_of(s.last_owner)
            .chars()
            .take(size.saturating_sub(2))
            .collect();
        format!("({n})")
    } else {
        st.name_of(s.owner).chars().take(size).collect()
    };
    let mut state = String::new();
    if s.flags.is_empty() {
        field(&mut state, s.state.as_str(), STATE_WIDTH);
    } else {
        let letters = s.flags.letters();
        field(
            &mut state,
            s.state.as_str(),
            STATE_WIDTH.saturating_sub(2 + letters.len()),
        );
        let _ = write!(state, "[{letters}]");
    }
    out.push(' ');
    field(out, &s.name, size);
    out.push(' ');
    field(out, &owner, size);
    out.push(' ');
    field(out, &state, STATE_WIDTH);
    out.push('\n');
}

fn long_row(out: &mut String, st: &Status, s: &ServiceStatus) {
    let _ = writeln!(out, "Service Name      : {}", s.name);
    let _ = writeln!(
        out,
        "  Current State   : {} ({})",
        s.state.as_str(),
        s.state.code()
    );
    if s.flags.is_empty() {
        let _ = writeln!(out, "  Flags           : none (0)");
    } else {
        let _ = writeln!(
            out,
            "  Flags           : {} ({})",
            s.flags.words(", "),
            s.flags.bits()
        );
    }
    let _ = writeln!(out, "  Owner           : {}", st.name_of(s.owner));
    let _ = writeln!(out, "  Last Owner      : {}", st.name_of(s.last_owner));
    // ctime's newline plus printf's: a blank line after each service.
    let _ = writeln!(out, "  Last Transition : {}\n", ctime(s.last_transition));
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

/// ` wire="N"`, or nothing when the version is not known.
fn wire_attr(wire: Option<u8>) -> String {
    wire.map(|w| format!(" wire=\"{w}\"")).unwrap_or_default()
}

/// `clustat -x`: the XML clustat wrote (version 4.1.1 layout), and the exit status.
pub fn xml(st: &Status, v: &View) -> (String, i32) {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<clustat version=\"4.1.1\">\n");
    let (name, svc) = (v.member.as_deref(), v.service.as_deref());
    if svc.is_none() && name.is_none() {
        // `wire` is our addition, after clustat's attributes (absent when unknown).
        let _ = writeln!(
            out,
            "  <cluster name=\"{}\" id=\"{}\" generation=\"{}\"{}/>",
            xml_escape(&st.cluster_name),
            st.cluster_id,
            st.generation,
            wire_attr(st.wire)
        );
        let groupmember = st.quorate && st.members.iter().any(|m| m.local && m.rgmanager);
        // RHCS printed a stray newline after quorate="0"; kept, since parsers don't mind and
        // byte-for-byte comparisons of old captures do.
        let _ = writeln!(
            out,
            "  <quorum quorate=\"{}\" groupmember=\"{}\"/>",
            if st.quorate { "1" } else { "0\n" },
            u8::from(groupmember)
        );
    }
    let mut ret1 = 0;
    if svc.is_none() || (name.is_some() && svc.is_some()) {
        out.push_str("  <nodes>\n");
        for m in st.shown_members() {
            if name.is_some_and(|n| n != m.name) {
                continue;
            }
            let _ = writeln!(
                out,
                "    <node name=\"{}\" state=\"{}\" local=\"{}\" estranged=\"{}\" rgmanager=\"{}\" rgmanager_master=\"{}\" qdisk=\"{}\" nodeid=\"0x{:08x}\"{}/>",
                xml_escape(&m.name),
                u8::from(m.online),
                u8::from(m.local),
                u8::from(m.estranged),
                u8::from(m.rgmanager),
                u8::from(m.rg_master),
                u8::from(m.qdisk),
                m.nodeid,
                wire_attr(m.wire)
            );
            if name.is_some() {
                ret1 = i32::from(!m.online);
            }
        }
        out.push_str("  </nodes>\n");
    }
    let mut ret2 = -1;
    if let Some(services) = &st.services {
        if name.is_none() || svc.is_some() {
            ret2 = 0;
            out.push_str("  <groups>\n");
            for s in services {
                if svc.is_some_and(|want| want != s.name) {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "    <group name=\"{}\" state=\"{}\" state_str=\"{}\" flags=\"{}\" flags_str=\"{}\" owner=\"{}\" last_owner=\"{}\" restarts=\"{}\" last_transition=\"{}\" last_transition_str=\"{}\"/>",
                    xml_escape(&s.name),
                    s.state.code(),
                    s.state.as_str(),
                    s.flags.bits(),
                    s.flags.words(" "),
                    xml_escape(st.name_of(s.owner)),
                    xml_escape(st.name_of(s.last_owner)),
                    s.restarts,
                    s.last_transition,
                    ctime(s.last_transition)
                );
                if svc.is_some() && !s.state.is_active() {
                    ret2 = s.state.code() as i32;
                }
            }
            out.push_str("  </groups>\n");
        }
    }
    out.push_str("</clustat>\n");
    let code = if name.is_some() && ret1 != 0 {
        ret1
    } else if svc.is_some() && ret2 != 0 {
        ret2
    } else {
        0
    };
    (out, code)
}

#[derive(Serialize)]
struct JsonService<'a> {
    name: &'a str,
    state: &'static str,
    state_code: u32,
    flags: Vec<&'static str>,
    owner: Option<&'a str>,
    last_owner: Option<&'a str>,
    restarts: u32,
    last_transition: i64,
}

#[derive(Serialize)]
struct JsonStatus<'a> {
    cluster: &'a str,
    cluster_id: u32,
    generation: u64,
    quorate: bool,
    wire: Option<u8>,
    members: Vec<&'a MemberStatus>,
    services: Option<Vec<JsonService<'a>>>,
}

/// `clustat --json` (our addition): the same content as `-x`, as one JSON object, with the same
/// filters and exit status as the text layout.
pub fn json(st: &Status, v: &View) -> (String, i32) {
    let (name, svc) = (v.member.as_deref(), v.service.as_deref());
    let members: Vec<&MemberStatus> = st
        .shown_members()
        .filter(|m| name.is_none_or(|n| n == m.name))
        .collect();
    let some_name = |id: u32| (id != 0).then(|| st.name_of(id));
    let services = st.services.as_ref().map(|list| {
        list.iter()
            .filter(|s| svc.is_none_or(|want| want == s.name))
            .map(|s| JsonService {
                name: &s.name,
                state: s.state.as_str(),
                state_code: s.state.code(),
                flags: [(s.flags.frozen, "frozen"), (s.flags.partial, "partial")]
                    .into_iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, w)| w)
                    .collect(),
                owner: some_name(s.owner),
                last_owner: some_name(s.last_owner),
                restarts: s.restarts,
                last_transition: s.last_transition,
            })
            .collect()
    });
    let code = match (name, svc) {
        (Some(_), _) if members.is_empty() => -1,
        (Some(_), _) if members.iter().any(|m| !m.online) => 1,
        (_, Some(want)) => match st
            .services
            .as_ref()
            .and_then(|l| l.iter().find(|s| s.name == want))
        {
            None => -1,
            Some(s) if s.state.is_active() => 0,
            Some(s) => s.state.code() as i32,
        },
        _ => 0,
    };
    let j = JsonStatus {
        cluster: &st.cluster_name,
        cluster_id: st.cluster_id,
        generation: st.generation,
        quorate: st.quorate,
        wire: st.wire,
        members,
        services,
    };
    let text =
        serde_json::to_string_pretty(&j).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    (text + "\n", code)
}

/// `ctime()` without its newline: `Mon Aug  4 09:48:21 2008`, in local time.
pub fn ctime(t: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let tm = local_time(t);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS.get(tm.tm_wday as usize).copied().unwrap_or("???"),
        MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("???"),
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    )
}

fn local_time(t: i64) -> libc::tm {
    let time: libc::time_t = t as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct (its pointer field
    // `tm_zone` may be null), and localtime_r only writes into the struct we pass.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let ok = unsafe { !libc::localtime_r(&time, &mut tm).is_null() };
    if !ok {
        // Out of range for the C library: show the epoch rather than garbage.
        // SAFETY: as above.
        unsafe { libc::gmtime_r(&0, &mut tm) };
    }
    tm
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed004() -> Status {
        Status {
            cluster_name: "web_ha".into(),
            cluster_id: 7,
            generation: 12,
            quorate: true,
            members: vec![
                MemberStatus {
                    name: "node1.cluster.com".into(),
                    nodeid: 1,
                    online: true,
                    rgmanager: true,
                    ..Default::default()
                },
                MemberStatus {
                    name: "node2.cluster.com".into(),
                    nodeid: 2,
                    online: true,
                    local: true,
                    rgmanager: true,
                    ..Default::default()
                },
            ],
            services: Some(vec![ServiceStatus {
                name: "service:apache_service".into(),
                state: ServiceState::Started,
                flags: ServiceFlags::default(),
                owner: 1,
                last_owner: 2,
                restarts: 0,
                last_transition: 0,
            }]),
            now: 0,
            wire: None,
        }
    }

    fn view() -> View {
        View {
            cols: 80,
            ..View::default()
        }
    }

    #[test]
    fn text_layout_matches_the_printf_formats() {
        let (out, code) = text(&seed004(), &view());
        assert_eq!(code, 0);
        let body: Vec<&str> = out.lines().skip(1).collect();
        let expected = [
            "Member Status: Quorate",
            "",
            " Member Name                             ID   Status",
            " ------ ----                             ---- ------",
            " node1.cluster.com                           1 Online, rgmanager",
            " node2.cluster.com                           2 Online, Local, rgmanager",
            "",
            " Service Name                   Owner (Last)                   State         ",
            " ------- ----                   ----- ------                   -----         ",
            " service:apache_service         node1.cluster.com              started       ",
        ];
        assert_eq!(body, expected, "\n{out}");
        assert!(out.starts_with("Cluster Status for web_ha @ "), "{out}");
    }

    #[test]
    fn stopped_service_shows_last_owner_and_flags() {
        let mut st = seed004();
        if let Some(s) = st.services.as_mut().and_then(|v| v.first_mut()) {
            s.state = ServiceState::Stopped;
            s.flags.frozen = true;
        }
        let (out, _) = text(&st, &view());
        assert!(
            out.contains(
                " service:apache_service         (node2.cluster.com)            stopped    [Z]\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn service_filter_and_exit_codes() {
        let mut st = seed004();
        let v = View {
            service: Some(full_service_name("apache_service")),
            ..view()
        };
        let (out, code) = text(&st, &v);
        assert_eq!(code, 0);
        assert!(out.starts_with(" Service Name"), "{out}");
        if let Some(s) = st.services.as_mut().and_then(|v| v.first_mut()) {
            s.state = ServiceState::Disabled;
        }
        assert_eq!(text(&st, &v).1, 119);
        assert_eq!(xml(&st, &v).1, 119);
        assert_eq!(json(&st, &v).1, 119);
        let missing = View {
            service: Some("service:nope".into()),
            ..view()
        };
        assert_eq!(text(&st, &missing).1, -1);
        assert_eq!(json(&st, &missing).1, -1);
    }

    #[test]
    fn member_filter_and_exit_codes() {
        let mut st = seed004();
        st.members[0].online = false;
        st.members[0].rgmanager = false;
        let v = View {
            member: Some("node1.cluster.com".into()),
            ..view()
        };
        let (out, code) = text(&st, &v);
        assert_eq!(code, 1);
        assert_eq!(
            out,
            " Member Name                             ID   Status\n ------ ----                             ---- ------\n node1.cluster.com                           1 Offline\n"
        );
        let nobody = View {
            member: Some("node9".into()),
            ..view()
        };
        assert_eq!(text(&st, &nobody).1, -1);
        assert_eq!(json(&st, &nobody).1, -1);
    }

    #[test]
    fn xml_as_clustat_wrote_it() {
        let (out, code) = xml(&seed004(), &view());
        assert_eq!(code, 0);
        let t = ctime(0);
        let expected = format!(
            "<?xml version=\"1.0\"?>\n<clustat version=\"4.1.1\">\n  <cluster name=\"web_ha\" id=\"7\" generation=\"12\"/>\n  <quorum quorate=\"1\" groupmember=\"1\"/>\n  <nodes>\n    <node name=\"node1.cluster.com\" state=\"1\" local=\"0\" estranged=\"0\" rgmanager=\"1\" rgmanager_master=\"0\" qdisk=\"0\" nodeid=\"0x00000001\"/>\n    <node name=\"node2.cluster.com\" state=\"1\" local=\"1\" estranged=\"0\" rgmanager=\"1\" rgmanager_master=\"0\" qdisk=\"0\" nodeid=\"0x00000002\"/>\n  </nodes>\n  <groups>\n    <group name=\"service:apache_service\" state=\"112\" state_str=\"started\" flags=\"0\" flags_str=\"\" owner=\"node1.cluster.com\" last_owner=\"node2.cluster.com\" restarts=\"0\" last_transition=\"0\" last_transition_str=\"{t}\"/>\n  </groups>\n</clustat>\n"
        );
        assert_eq!(out, expected);
        assert!(ccs::xml::parse(&out).is_ok());
    }

    #[test]
    fn long_format() {
        let (out, _) = text(
            &seed004(),
            &View {
                long: true,
                ..view()
            },
        );
        assert!(out.contains("Service Information\n------- -----------\n\nService Name      : service:apache_service\n  Current State   : started (112)\n  Flags           : none (0)\n  Owner           : node1.cluster.com\n  Last Owner      : node2.cluster.com\n  Last Transition : "), "{out}");
        assert!(out.ends_with("\n\n"), "{out:?}");
    }

    #[test]
    fn no_rgmanager_and_inquorate() {
        let mut st = seed004();
        st.services = None;
        st.quorate = false;
        let (out, _) = text(&st, &view());
        assert!(out.contains("Member Status: Inquorate\n\nResource Group Manager not running; no service information available.\n\n"), "{out}");
        let (x, _) = xml(&st, &view());
        assert!(
            x.contains("<quorum quorate=\"0\n\" groupmember=\"0\"/>"),
            "{x}"
        );
    }

    #[test]
    fn central_processing_master_and_workers() {
        let mut st = seed004();
        st.members[0].rg_master = true;
        st.members[0].coordinator = true;
        let (out, _) = text(&st, &view());
        assert!(
            out.contains(" node1.cluster.com                           1 Online, RG-Master\n"),
            "{out}"
        );
        assert!(
            out.contains(
                " node2.cluster.com                           2 Online, Local, RG-Worker\n"
            ),
            "{out}"
        );
        let (x, _) = xml(&st, &view());
        assert!(x.contains("name=\"node1.cluster.com\" state=\"1\" local=\"0\" estranged=\"0\" rgmanager=\"1\" rgmanager_master=\"1\""), "{x}");
        let (j, _) = json(&st, &view());
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["members"][0]["coordinator"], true);
        assert_eq!(v["members"][1]["coordinator"], false);
        // Without a central-processing master the coordinator is only in --json.
        st.members[0].rg_master = false;
        let (out, _) = text(&st, &view());
        assert!(!out.contains("RG-"), "{out}");
    }

    #[test]
    fn offline_estranged_members_are_hidden_and_names_cut() {
        let mut st = seed004();
        st.members.push(MemberStatus {
            name: "ghost".into(),
            nodeid: 9,
            estranged: true,
            ..Default::default()
        });
        st.members[0].name = "n".repeat(70);
        let (out, _) = text(&st, &view());
        assert!(!out.contains("ghost"), "{out}");
        assert!(
            out.contains(&format!(" {}    1 Online", "n".repeat(40))),
            "{out}"
        );
    }

    #[test]
    fn wire_versions_show_in_text_only_while_the_members_differ() {
        let mut st = seed004();
        st.wire = Some(2);
        for m in &mut st.members {
            m.wire = Some(2);
        }
        // One release everywhere: RHCS's layout, untouched.
        assert_eq!(text(&st, &view()).0, text(&seed004(), &view()).0);
        // node1 still speaks the previous release's protocol: the cluster talks 1.
        st.wire = Some(1);
        st.members[0].wire = Some(1);
        let (out, _) = text(&st, &view());
        let body: Vec<&str> = out.lines().skip(1).take(7).collect();
        let expected = [
            "Member Status: Quorate",
            "Wire Version: 1 (members of different releases)",
            "",
            " Member Name                             ID   Status",
            " ------ ----                             ---- ------",
            " node1.cluster.com                           1 Online, rgmanager, wire 1",
            " node2.cluster.com                           2 Online, Local, rgmanager, wire 2",
        ];
        assert_eq!(body, expected, "\n{out}");
        let v = View {
            member: Some("node2.cluster.com".into()),
            ..view()
        };
        assert!(text(&st, &v)
            .0
            .ends_with(" 2 Online, Local, rgmanager, wire 2\n"));
        // An offline member's last version does not count.
        st.members[0].online = false;
        st.members[0].wire = None;
        assert!(!text(&st, &view()).0.contains("wire"));
    }

    #[test]
    fn wire_versions_in_xml_and_json() {
        let mut st = seed004();
        st.wire = Some(1);
        st.members[0].wire = Some(1);
        st.members[1].wire = Some(2);
        let (x, _) = xml(&st, &view());
        assert!(
            x.contains("<cluster name=\"web_ha\" id=\"7\" generation=\"12\" wire=\"1\"/>"),
            "{x}"
        );
        assert!(x.contains("nodeid=\"0x00000001\" wire=\"1\"/>"), "{x}");
        assert!(x.contains("nodeid=\"0x00000002\" wire=\"2\"/>"), "{x}");
        assert!(ccs::xml::parse(&x).is_ok());
        let (j, _) = json(&st, &view());
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["wire"], 1);
        assert_eq!(v["members"][0]["wire"], 1);
        assert_eq!(v["members"][1]["wire"], 2);
        // Unknown: no attribute, null in JSON.
        st.wire = None;
        st.members[0].wire = None;
        let (x, _) = xml(&st, &view());
        assert!(x.contains("generation=\"12\"/>"), "{x}");
        assert!(x.contains("nodeid=\"0x00000001\"/>"), "{x}");
        let v: serde_json::Value = serde_json::from_str(&json(&st, &view()).0).unwrap();
        assert!(
            v["wire"].is_null() && v["members"][0]["wire"].is_null(),
            "{v}"
        );
    }

    #[test]
    fn an_older_daemons_status_reads_without_versions() {
        let mut old = serde_json::to_value(seed004()).unwrap();
        old.as_object_mut().unwrap().remove("wire");
        for m in old["members"].as_array_mut().unwrap() {
            m.as_object_mut().unwrap().remove("wire");
        }
        let st: Status = serde_json::from_value(old).unwrap();
        assert_eq!(st, seed004());
    }

    #[test]
    fn ctime_layout() {
        let t = ctime(1_217_836_101);
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with("2008"), "{t}");
    }

    #[test]
    fn json_parses() {
        let (out, code) = json(&seed004(), &view());
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["services"][0]["owner"], "node1.cluster.com");
        assert_eq!(v["members"][1]["local"], true);
    }
}
