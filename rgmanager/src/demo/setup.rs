//! The demo's pure parts: the sample cluster.conf localised to this run (free ports, scratch
//! directory), the demo service's init script, which daemon log lines the show prints and how,
//! and what a status snapshot says about members and the service. Kept apart from the processes
//! and sockets of [`super::show`] so that they are tested without starting anything.

use std::path::Path;

use crate::clustat::Status;
use crate::state::ServiceState;

use super::DemoError;

/// The sample's membership ports, node1..node3, as written in `demo/cluster.conf`.
pub const SAMPLE_NODE_PORTS: [u16; 3] = [5501, 5503, 5505];
/// The sample's APC switch port.
pub const SAMPLE_PDU_PORT: u16 = 2323;
/// The sample's init script path.
pub const SAMPLE_SCRIPT: &str = "/etc/init.d/demo-web";
/// The demo's service.
pub const SERVICE: &str = "service:web";

/// Replaces `from` by `to` in `text`, which must hold it exactly once: the sample and this code
/// must agree, and a silent miss would run the demo against the sample's fixed ports.
fn replace_once(text: &str, from: &str, to: &str) -> Result<String, DemoError> {
    match text.matches(from).count() {
        1 => Ok(text.replacen(from, to, 1)),
        n => Err(DemoError::Sample(format!(
            "expected {from} once in the sample, found it {n} time(s)"
        ))),
    }
}

/// The sample with this run's membership ports (node1..node3), switch port and script path,
/// checked by the validator.
pub fn localize(
    sample: &str,
    node_ports: &[u16; 3],
    pdu_port: u16,
    script: &Path,
) -> Result<String, DemoError> {
    let mut text = sample.to_string();
    for (old, new) in SAMPLE_NODE_PORTS.iter().zip(node_ports) {
        text = replace_once(
            &text,
            &format!("rgm_port=\"{old}\""),
            &format!("rgm_port=\"{new}\""),
        )?;
    }
    text = replace_once(
        &text,
        &format!("ipport=\"{SAMPLE_PDU_PORT}\""),
        &format!("ipport=\"{pdu_port}\""),
    )?;
    text = replace_once(
        &text,
        &format!("file=\"{SAMPLE_SCRIPT}\""),
        &format!("file=\"{}\"", script.display()),
    )?;
    let report = ccs::check_str(&text);
    if !report.is_valid() {
        let lines: Vec<String> = report
            .diagnostics
            .iter()
            .map(|d| d.render("demo cluster.conf"))
            .collect();
        return Err(DemoError::Sample(lines.join("\n")));
    }
    Ok(text)
}

/// The demo service's init script: it records which node runs the service in `web.running` and
/// every start, stop and refusal in `web.log`, and refuses to start while another node runs it,
/// so that the log proves the service never ran twice. The node's name is read from the parent
/// daemon's command line (`--node NAME`), as the daemon tests' scripts do.
const SCRIPT: &str = r#"#!/bin/sh
# The rgmanager demo's service: records where it runs.
dir='@DIR@'
node=$(tr '\0' '\n' < /proc/$PPID/cmdline | sed -n '/^--node$/{n;p;}')
running=$(cat "$dir/web.running" 2>/dev/null)
case "$1" in
start)
    if [ -n "$running" ] && [ "$running" != "$node" ]; then
        echo "DOUBLE $node while $running runs it" >> "$dir/web.log"
        exit 1
    fi
    echo "$node" > "$dir/web.running"
    echo "start $node" >> "$dir/web.log"
    ;;
stop)
    if [ "$running" = "$node" ]; then
        rm -f "$dir/web.running"
        echo "stop $node" >> "$dir/web.log"
    fi
    ;;
status)
    [ "$running" = "$node" ] || exit 3
    ;;
esac
exit 0
"#;

/// The init script for a scratch directory (a path without `'`: a temporary directory's).
pub fn script_text(dir: &Path) -> String {
    SCRIPT.replace("@DIR@", &dir.display().to_string())
}

/// What of a daemon's log the show prints: membership changes, the coordinator, fencing,
/// takeover and service starts and stops.
const SHOWN: &[&str] = &[
    "State change:",
    "is the coordinator",
    "fencing node",
    "fence ",
    "Taking over",
    "Relocating",
    "Starting service:",
    "Stopping service",
    "Service service:",
    "Quorum",
    "shutting down",
];

/// A daemon log line as the show prints it (` node2 | 09:05:26.123 fencing node node1`), or
/// `None` for a line the show leaves out. A line holding `secret` is never shown (the daemons
/// do not log passwords; this keeps a mistake from reaching a newcomer's terminal).
pub fn log_line(node: &str, raw: &str, secret: &str) -> Option<String> {
    if !secret.is_empty() && raw.contains(secret) {
        return None;
    }
    // tracing's format: `2026-11-22T09:05:26.123456Z  INFO message`.
    let mut words = raw.splitn(2, char::is_whitespace);
    let stamp = words.next()?;
    let rest = words.next()?.trim_start();
    let (level, message) = rest.split_once(char::is_whitespace)?;
    let message = message.trim_start();
    if !SHOWN.iter().any(|s| message.contains(s)) {
        return None;
    }
    let time = stamp
        .split_once('T')
        .map(|(_, t)| t.trim_end_matches('Z'))
        .map(|t| match t.find('.') {
            Some(dot) => &t[..(dot + 4).min(t.len())],
            None => t,
        })
        .unwrap_or(stamp);
    let level = if level == "INFO" {
        String::new()
    } else {
        format!("{level} ")
    };
    Some(format!("  {node:>6} | {time} {level}{message}"))
}

/// A line of the demo's own (`switch`, `demo`) in the layout of [`log_line`].
pub fn demo_line(who: &str, time: &str, message: &str) -> String {
    format!("  {who:>6} | {time} {message}")
}

/// The time of a line made by [`log_line`] or [`demo_line`] (for ordering one batch).
pub fn line_time(line: &str) -> &str {
    line.split_once(" | ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("")
}

/// Whether `name` is a member whose resource group manager runs, in `st`.
pub fn online(st: &Status, name: &str) -> bool {
    st.members
        .iter()
        .any(|m| m.name == name && m.online && m.rgmanager)
}

/// The node running the demo service (started), in `st`.
pub fn runs_on(st: &Status) -> Option<String> {
    let svc = st.services.as_ref()?.iter().find(|s| s.name == SERVICE)?;
    if svc.state != ServiceState::Started {
        return None;
    }
    st.members
        .iter()
        .find(|m| m.nodeid == svc.owner)
        .map(|m| m.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::SAMPLE;

    #[test]
    fn the_sample_is_localised_and_still_valid() {
        let text = localize(
            SAMPLE,
            &[40001, 40003, 40005],
            40100,
            Path::new("/tmp/x/web.sh"),
        )
        .unwrap();
        let conf = ccs::check_str(&text).conf.unwrap();
        let ports: Vec<Option<u16>> = conf.nodes().iter().map(|n| n.rgm_port()).collect();
        assert_eq!(ports, vec![Some(40001), Some(40003), Some(40005)]);
        assert!(text.contains("ipport=\"40100\""));
        assert!(text.contains("file=\"/tmp/x/web.sh\""));
        assert_eq!(conf.post_fail_delay(), 0);
        assert_eq!(conf.totem_token_ms(), Some(1000));
    }

    #[test]
    fn a_sample_that_drifted_is_refused() {
        let drifted = SAMPLE.replace("rgm_port=\"5503\"", "rgm_port=\"5507\"");
        let e = localize(&drifted, &[1, 2, 3], 4, Path::new("/x")).unwrap_err();
        assert!(e.to_string().contains("rgm_port=\"5503\""), "{e}");
    }

    #[test]
    fn log_lines_are_filtered_and_shortened() {
        let raw = "2026-11-22T09:05:26.123456Z  INFO fencing node node1";
        assert_eq!(
            log_line("node2", raw, "pw").as_deref(),
            Some("   node2 | 09:05:26.123 fencing node node1")
        );
        let raw = "2026-11-22T09:05:26.123456Z ERROR fence node1 failed";
        assert_eq!(
            log_line("node2", raw, "pw").as_deref(),
            Some("   node2 | 09:05:26.123 ERROR fence node1 failed")
        );
        assert_eq!(
            line_time(&demo_line("switch", "09:05:26.120", "outlet 1 off")),
            "09:05:26.120"
        );
        assert_eq!(
            log_line(
                "node2",
                "2026-11-22T09:05:26Z  INFO Resource Group Manager Starting",
                "pw"
            ),
            None
        );
        assert_eq!(
            log_line("node2", "2026-11-22T09:05:26Z  INFO fence x pw", "pw"),
            None
        );
    }

    #[test]
    fn the_script_names_the_directory() {
        let s = script_text(Path::new("/tmp/demo.1"));
        assert!(s.starts_with("#!/bin/sh\n") && s.contains("dir='/tmp/demo.1'"));
    }
}
