//! The real `clustat` against three real daemons, compared with RHCS's `clustat` output.
//!
//! The reference is the `clustat` sample of the RHCS tutorial in the project's seed 004 (a
//! two-node cluster `web_ha`, one started service). The tutorial's copy lost its runs of spaces,
//! so the comparison has two halves:
//!
//! * words: every line of our output, with runs of blanks collapsed and blank lines dropped,
//!   equals the sample's line with only names and the date substituted (one more member row
//!   and one stopped service, whose rows are formed like the sample's);
//! * columns: every line equals the sample's row laid out with the printf formats of RHCS's
//!   `clustat.c` at 80 columns (member name `%-40.40s`, id `%4d`, service and owner `%-30.30s`,
//!   state `%-14.14s`), written here independently of the code under test.
//!
//! It also checks `-Q`, `-s`, `-m`, `-l`, `-I`, `-i` and `-x` with filters against the daemons,
//! with the original's exit statuses.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{online, started_on, Cluster};

/// The seed 004 sample as the tutorial shows it (runs of spaces collapsed by its publisher).
const SEED: &str = "\
Cluster Status for web_ha @ Sat Feb 22 15:06:43 2014
Member Status: Quorate
Member Name ID Status
------ ---- ---- ------
node1.cluster.com 1 Online, Local, rgmanager
node2.cluster.com 2 Online, rgmanager
Service Name Owner (Last) State
------- ---- ----- ------ -----
service:apache_service node1.cluster.com started
";

/// What the sample's names become in the test cluster.
const SUBST: [(&str, &str); 4] = [
    ("web_ha", "layout"),
    ("node1.cluster.com", "node1"),
    ("node2.cluster.com", "node2"),
    ("service:apache_service", "service:alpha"),
];

fn collapse(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `ctime()` without its newline: `Sat Feb 22 15:06:43 2014`.
fn is_ctime(s: &str) -> bool {
    let b = s.as_bytes();
    let alpha = |r: std::ops::Range<usize>| r.clone().all(|i| b[i].is_ascii_alphabetic());
    let digit = |r: std::ops::Range<usize>| r.clone().all(|i| b[i].is_ascii_digit());
    b.len() == 24
        && alpha(0..3)
        && b[3] == b' '
        && alpha(4..7)
        && b[7] == b' '
        && (b[8] == b' ' || b[8].is_ascii_digit())
        && digit(9..10)
        && b[10] == b' '
        && digit(11..13)
        && b[13] == b':'
        && digit(14..16)
        && b[16] == b':'
        && digit(17..19)
        && b[19] == b' '
        && digit(20..24)
}

/// The sample's lines with the test cluster's names and `date`, plus what a third member and
/// a disabled service add (formed like the sample's rows; RHCS shows the last owner of a
/// stopped or disabled service in parentheses).
fn expected_words(date: &str) -> Vec<String> {
    let mut lines: Vec<String> = SEED
        .lines()
        .map(|l| {
            let mut l = l.to_string();
            for (from, to) in SUBST {
                l = l.replace(from, to);
            }
            if let Some(at) = l.find(" @ ") {
                // Words, like the output they are compared with: ctime pads a one-digit day
                // (`Dec  1`).
                l = format!("{} @ {}", &l[..at], collapse(date));
            }
            l
        })
        .collect();
    lines.insert(6, "node3 3 Online, rgmanager".into());
    lines.push("service:beta (node2) disabled".into());
    lines
}

/// `printf(" %-*.*s", w, w, s)`-style field: cut to `w`, padded to `w`.
fn pad(s: &str, w: usize) -> String {
    let cut: String = s.chars().take(w).collect();
    format!("{cut:<w$}")
}

/// The same lines laid out with clustat.c's printf formats at 80 columns.
fn expected_columns(date: &str) -> Vec<String> {
    // build_member_field_size: cols / 2; build_service_field_sizes: (cols - (14 + 6)) / 2.
    let (node, svc, state) = (40, 30, 14);
    let member =
        |name: &str, id: u32, status: &str| format!(" {} {id:>4} {status}", pad(name, node));
    let service = |name: &str, owner: &str, st: &str| {
        format!(
            " {} {} {}",
            pad(name, svc),
            pad(owner, svc),
            pad(&pad(st, state), state)
        )
    };
    vec![
        format!("Cluster Status for layout @ {date}"),
        "Member Status: Quorate".into(),
        String::new(),
        format!(" {}{:<4} {}", pad("Member Name", node), "ID", "Status"),
        format!(" {}{:<4} {}", pad("------ ----", node), "----", "------"),
        member("node1", 1, "Online, Local, rgmanager"),
        member("node2", 2, "Online, rgmanager"),
        member("node3", 3, "Online, rgmanager"),
        String::new(),
        format!(
            " {} {} {}",
            pad("Service Name", svc),
            pad("Owner (Last)", svc),
            pad("State", state)
        ),
        format!(
            " {} {} {}",
            pad("------- ----", svc),
            pad("----- ------", svc),
            pad("-----", state)
        ),
        service("service:alpha", "node1", "started"),
        service("service:beta", "(node2)", "disabled"),
    ]
}

fn configured() -> Cluster {
    let c = Cluster::new(3);
    let alpha = c.script("alpha");
    let beta = c.script("beta");
    let nodes = c.nodes_xml(|_| String::new());
    c.write_conf(&format!(
        r#"<?xml version="1.0"?>
<cluster name="layout" config_version="1">
  <totem token="3000"/>
  <clusternodes>
{nodes}  </clusternodes>
  <rm>
    <failoverdomains>
      <failoverdomain name="d_alpha" ordered="1">
        <failoverdomainnode name="node1" priority="1"/>
        <failoverdomainnode name="node2" priority="2"/>
      </failoverdomain>
      <failoverdomain name="d_beta" ordered="1">
        <failoverdomainnode name="node2" priority="1"/>
        <failoverdomainnode name="node3" priority="2"/>
      </failoverdomain>
    </failoverdomains>
    <service name="alpha" domain="d_alpha">
      <script name="alpha" file="{}"/>
    </service>
    <service name="beta" domain="d_beta">
      <script name="beta" file="{}"/>
    </service>
  </rm>
</cluster>
"#,
        alpha.display(),
        beta.display()
    ));
    c
}

/// Three daemons; alpha started on node1, beta disabled (last owner node2).
fn up() -> Cluster {
    let mut c = configured();
    for n in ["node1", "node2", "node3"] {
        c.start(n);
    }
    let all = ["node1", "node2", "node3"];
    c.wait_for(&all, "three members, both services home", |v| {
        v["quorate"] == true
            && all.iter().all(|n| online(v, n))
            && started_on(v, "service:alpha", "node1")
            && started_on(v, "service:beta", "node2")
    });
    let (code, out) = c.clusvcadm("node1", &["-d", "beta"]);
    assert_eq!(code, 0, "{out}");
    c.wait_for(&all, "beta disabled", |v| {
        common::service(v, "service:beta")
            .is_some_and(|s| s["state"] == "disabled" && s["last_owner"] == "node2")
    });
    c
}

#[test]
fn clustat_text_matches_the_seed_sample_layout() {
    let mut c = up();
    let (code, out) = c.clustat_args("node1", &[]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let date = lines[0]
        .rsplit_once(" @ ")
        .map(|(_, d)| d)
        .unwrap_or_default();
    assert!(is_ctime(date), "{:?}", lines[0]);

    // Words: the sample's lines, names and date substituted.
    let words: Vec<String> = lines
        .iter()
        .map(|l| collapse(l))
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(words, expected_words(date), "\n{out}");

    // Columns: clustat.c's formats at 80 columns, byte for byte (blank lines included, and the
    // trailing spaces of the padded State column).
    let want = expected_columns(date);
    for (i, (got, want)) in lines.iter().zip(&want).enumerate() {
        assert_eq!(got, want, "line {i}:\n{out}");
    }
    assert_eq!(lines.len(), want.len(), "\n{out}");
    assert!(out.ends_with('\n'));
}

/// Runs `clustat ARGS` on node1 until its output holds `rounds` screens (or a generous
/// deadline) and returns what it printed; it must still be running then.
fn clustat_rounds(c: &mut Cluster, args: &[&str], rounds: usize) -> String {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    let socket = c.daemon("node1").socket.clone();
    let mut child = Command::new(env!("CARGO_BIN_EXE_clustat"))
        .args(args)
        .arg("--socket")
        .arg(&socket)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let text = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = Arc::clone(&text);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let deadline = Instant::now() + common::PATIENCE;
    let mut alive = true;
    while text.lock().unwrap().matches("\x1b[H\x1b[2J").count() < rounds
        && Instant::now() < deadline
    {
        alive &= child.try_wait().unwrap().is_none();
        std::thread::sleep(Duration::from_millis(100));
    }
    alive &= child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let out = text.lock().unwrap().clone();
    assert!(alive, "clustat {args:?} exited:\n{out}");
    out
}

#[test]
fn clustat_options_against_the_daemons() {
    let mut c = up();
    // -Q: no output, 0 when quorate.
    assert_eq!(c.clustat_args("node2", &["-Q"]), (0, String::new()));
    // -I: the local node id.
    assert_eq!(c.clustat_args("node3", &["-I"]), (0, "0x00000003\n".into()));

    // -s: the header and the row; 0 when started, the state's number otherwise, 255 unknown.
    let (code, out) = c.clustat_args("node2", &["-s", "alpha"]);
    assert_eq!(code, 0, "{out}");
    let rows: Vec<String> = out.lines().map(collapse).collect();
    assert_eq!(
        rows,
        [
            "Service Name Owner (Last) State",
            "------- ---- ----- ------ -----",
            "service:alpha node1 started"
        ],
        "{out}"
    );
    assert_eq!(c.clustat_args("node2", &["-s", "service:beta"]).0, 119);
    assert_eq!(c.clustat_args("node2", &["-s", "nope"]).0, 255);

    // -m: the header and the row; 0 online, 255 unknown.
    let (code, out) = c.clustat_args("node2", &["-m", "node3"]);
    assert_eq!(code, 0, "{out}");
    let rows: Vec<String> = out.lines().map(collapse).collect();
    assert_eq!(
        rows,
        [
            "Member Name ID Status",
            "------ ---- ---- ------",
            "node3 3 Online, rgmanager"
        ],
        "{out}"
    );
    assert_eq!(c.clustat_args("node2", &["-m", "node9"]).0, 255);

    // -l: the long service records.
    let (code, out) = c.clustat_args("node3", &["-l"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "Service Information\n------- -----------\n\n\
             Service Name      : service:alpha\n\
             \x20 Current State   : started (112)\n\
             \x20 Flags           : none (0)\n\
             \x20 Owner           : node1\n\
             \x20 Last Owner      : none\n\
             \x20 Last Transition : "
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "Service Name      : service:beta\n\
             \x20 Current State   : disabled (119)\n\
             \x20 Flags           : none (0)\n\
             \x20 Owner           : none\n\
             \x20 Last Owner      : node2\n"
        ),
        "{out}"
    );

    // -x with -s: no <cluster>/<quorum>, no <nodes>; the group with the state's exit status.
    let (code, out) = c.clustat_args("node1", &["-x", "-s", "beta"]);
    assert_eq!(code, 119, "{out}");
    let x = ccs::xml::parse(&out).unwrap();
    let names: Vec<&str> = x.elements().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["groups"], "{out}");
    // -x with -m: only <nodes>.
    let (code, out) = c.clustat_args("node1", &["-x", "-m", "node2"]);
    assert_eq!(code, 0, "{out}");
    let x = ccs::xml::parse(&out).unwrap();
    let names: Vec<&str> = x.elements().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["nodes"], "{out}");
    // -x alone: <cluster> carries cman's id for the name "layout".
    let (code, out) = c.clustat_args("node1", &["-x"]);
    assert_eq!(code, 0, "{out}");
    let x = ccs::xml::parse(&out).unwrap();
    let id = x
        .elements()
        .find(|e| e.name == "cluster")
        .and_then(|e| e.attrs.get("id"));
    assert_eq!(id, Some("6770"), "{out}");
    // -i and -x are exclusive (in that order).
    let (code, out) = c.clustat_args("node1", &["-i", "1", "-x"]);
    assert_eq!(
        (code, out.as_str()),
        (1, "Error: Options '-i' and '-x' are mutually exclusive\n")
    );

    // -i 1: the screen is cleared and the status printed again every second.
    let out = clustat_rounds(&mut c, &["-i", "1"], 2);
    let rounds = out.matches("\x1b[H\x1b[2J").count();
    assert!(rounds >= 2, "{rounds} rounds:\n{out}");
    assert!(
        out.matches("Cluster Status for layout @ ").count() >= 2,
        "{out}"
    );

    // A member that left: -m says Offline with status 1, and the table shows it.
    c.terminate("node3");
    c.wait_for(&["node1"], "node3 offline", |v| !online(v, "node3"));
    let (code, out) = c.clustat_args("node1", &["-m", "node3"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.lines().nth(2).map(collapse).as_deref(),
        Some("node3 3 Offline"),
        "{out}"
    );
}

#[test]
fn clustat_without_a_daemon() {
    let c = configured();
    let socket = c.path("nobody.sock");
    let out = Command::new(env!("CARGO_BIN_EXE_clustat"))
        .arg("--socket")
        .arg(&socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is rgmanager running?"), "{err}");
}

/// With `<rm central_processing="1">` RHCS's clustat named the event master `RG-Master` and the
/// other rgmanager nodes `RG-Worker`; our coordinator is that master. `--json` names the
/// coordinator whatever the configuration.
#[test]
fn central_processing_shows_the_coordinator_as_rg_master() {
    let mut c = Cluster::new(2);
    let alpha = c.script("alpha");
    let nodes = c.nodes_xml(|_| String::new());
    c.write_conf(&format!(
        r#"<?xml version="1.0"?>
<cluster name="central" config_version="1">
  <cman two_node="1" expected_votes="1"/>
  <totem token="3000"/>
  <clusternodes>
{nodes}  </clusternodes>
  <rm central_processing="1">
    <service name="alpha">
      <script name="alpha" file="{}"/>
    </service>
  </rm>
</cluster>
"#,
        alpha.display()
    ));
    c.start("node1");
    c.start("node2");
    let both = ["node1", "node2"];
    c.wait_for(&both, "two members, alpha started", |v| {
        v["quorate"] == true
            && both.iter().all(|n| online(v, n))
            && common::service(v, "service:alpha").is_some_and(|s| s["state"] == "started")
    });
    for n in both {
        let v = c.clustat(n).unwrap();
        assert_eq!(common::member(&v, "node1").unwrap()["coordinator"], true);
        assert_eq!(common::member(&v, "node2").unwrap()["coordinator"], false);
    }
    let (code, out) = c.clustat_args("node2", &[]);
    assert_eq!(code, 0, "{out}");
    let rows: Vec<String> = out.lines().map(collapse).collect();
    assert!(
        rows.contains(&"node1 1 Online, RG-Master".to_string()),
        "{out}"
    );
    assert!(
        rows.contains(&"node2 2 Online, Local, RG-Worker".to_string()),
        "{out}"
    );
    let (_, out) = c.clustat_args("node2", &["-x"]);
    let x = ccs::xml::parse(&out).unwrap();
    let masters: Vec<(&str, &str)> = x
        .elements()
        .filter(|e| e.name == "nodes")
        .flat_map(|e| e.elements())
        .map(|n| {
            (
                n.attrs.get("name").unwrap_or(""),
                n.attrs.get("rgmanager_master").unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(masters, [("node1", "1"), ("node2", "0")], "{out}");
}
