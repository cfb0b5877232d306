//! `clustat`: RHCS's options (`getopt "fIls:m:i:xvQh?"`), plus `--json` and `--socket PATH`.
//!
//! Exit status as the original: 0 normally; `-Q` 0 quorate / 1 not; `-m` 0 online / 1 offline /
//! 255 not found; `-s` 0 if starting, started or stopping, else the state's number (110 stopped,
//! 119 disabled, …), 255 not found; 1 on bad usage or when the local daemon cannot be reached.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::{Getopt, Opt};
use crate::admin::{self, AdminError, Request, Response};
use crate::clustat::{self, full_service_name, Status, View};
use tooldoc::{Group, Page, Row};

/// clustat's documentation: its `--help` rows (RHCS's usage text, byte for byte, plus our
/// `--json`, `--socket` and `--version`), and its man page.
pub fn page() -> Page {
    Page::new("clustat", 8, "cluster status utility")
        .synopsis(&[
            "clustat [-i interval] [-I] [-l] [-m member | -s service] [-x | --json] [-Q] [-v] \
             [--socket path]",
        ])
        .description(
            "clustat shows the cluster as the local rgmanager sees it: the cluster's name and \
             quorum, each member with its node id and state (Online, Local, rgmanager, \
             RG-Master), and each service with its owner and state.\n\n\
             It asks the rgmanager daemon of this node over its admin socket \
             (/var/run/cluster/rgmanager.sock, or $RGMANAGER_SOCKET, or --socket). The text \
             layout, the XML of -x and the exit statuses are those of RHCS's clustat; --json \
             is an addition.",
        )
        .usage_head("usage: clustat <options>\n")
        .group(Group::new(
            4,
            19,
            vec![
                Row::new(
                    "-i <interval>",
                    &[
                        "Refresh every <interval> seconds.  May not be used",
                        "with -x.",
                    ],
                ),
                Row::new("-I", &["Display local node ID and exit"]),
                Row::new("-m <member>", &["Display status of <member> and exit"]),
                Row::new("-s <service>", &["Display status of <service> and exit"]),
                Row::new("-v", &["Display version and exit"]),
                Row::new("-x", &["Dump information as XML"]),
                Row::new("-Q", &["Return 0 if quorate, 1 if not (no output)"]),
                Row::new("-f", &["Enable fast clustat reports"]),
                Row::new("-l", &["Use long format for services"]),
                Row::new("--json", &["Dump information as JSON"]),
                Row::new(
                    "--socket <path>",
                    &["Talk to the daemon listening on <path>"],
                ),
                Row::new("--version", &["Display version and exit"]),
            ],
        ))
        .section(
            "Exit status",
            "0 normally. With -Q: 0 quorate, 1 not. With -m: 0 online, 1 offline, 255 no such \
             member. With -s: 0 if the service is starting, started or stopping, else its state \
             number (110 stopped, 111 stopping, 112 started, 113 starting, 114 failed, 119 \
             disabled, …), 255 no such service.\n\n\
             1 on bad usage or when the local rgmanager cannot be reached.",
        )
        .section(
            "Wire versions",
            "While the members are of different releases (a rolling upgrade), the text \
             layout adds the line \"Wire Version: N\" under \"Member Status\", N being the \
             wire protocol version the cluster talks, and each online member's row ends with \
             \", wire M\", M being the newest version that member speaks. When every member speaks the \
             same, the layout is RHCS's, unchanged.\n\n\
             -x always adds wire=\"N\" to <cluster> and wire=\"M\" to each online <node>, \
             --json a \"wire\" number at the top and in each member (null when not known: an \
             offline member, or the corosync engine).",
        )
        .section(
            "Environment",
            "RGMANAGER_SOCKET: the admin socket to ask instead of \
             /var/run/cluster/rgmanager.sock.",
        )
        .see_also(&["clusvcadm(8)", "rgmanager(8)", "cluster.conf(5)"])
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub nodeid_only: bool,
    pub long: bool,
    pub service: Option<String>,
    pub member: Option<String>,
    pub interval: Option<u64>,
    pub xml: bool,
    pub json: bool,
    pub version: bool,
    pub quorum_only: bool,
    pub socket: Option<PathBuf>,
}

/// What parsing decided: run, or stop with this output and status.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Args),
    Exit { status: i32, stdout: String },
}

/// C's `atoi`: the leading number, 0 when there is none.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let n: i64 = digits
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(18)
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    if neg {
        -n
    } else {
        n
    }
}

/// Parses the arguments the way getopt(3) did for clustat.
pub fn parse(argv: &[String]) -> Parsed {
    let mut a = Args::default();
    let mut errors = false;
    let mut opts = Getopt::new(argv, "fIls:m:i:xvQh?");
    while let Some(opt) = opts.next() {
        match opt {
            Opt::Long(l) if l == "json" => a.json = true,
            Opt::Long(l) if l == "socket" => match opts.next_word() {
                Some(p) => a.socket = Some(PathBuf::from(p)),
                None => errors = true,
            },
            Opt::Long(l) if l == "help" => {
                return Parsed::Exit {
                    status: 0,
                    stdout: page().usage(),
                }
            }
            Opt::Long(l) if l == "version" => a.version = true,
            Opt::Flag('f') => {}
            Opt::Flag('I') => a.nodeid_only = true,
            Opt::Flag('l') => a.long = true,
            Opt::Flag('v') => a.version = true,
            Opt::Flag('Q') => a.quorum_only = true,
            Opt::Value('s', v) => a.service = Some(full_service_name(&v)),
            Opt::Value('m', v) => a.member = Some(v),
            Opt::Value('i', v) => a.interval = Some(atoi(&v).max(1) as u64),
            Opt::Flag('x') => {
                if a.interval.is_some() {
                    return Parsed::Exit {
                        status: 1,
                        stdout: "Error: Options '-i' and '-x' are mutually exclusive\n".into(),
                    };
                }
                a.xml = true;
            }
            Opt::Flag('h' | '?') => {
                return Parsed::Exit {
                    status: 0,
                    stdout: page().usage(),
                }
            }
            _ => errors = true,
        }
    }
    if errors {
        return Parsed::Exit {
            status: 1,
            stdout: page().usage(),
        };
    }
    Parsed::Run(a)
}

/// The terminal's width when stdout is one, else 80 (as clustat sized its columns).
pub fn terminal_cols() -> usize {
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(libc::STDOUT_FILENO) } != 1 {
        return 80;
    }
    // SAFETY: an all-zero winsize is valid; TIOCGWINSZ writes into the struct we pass.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        80
    }
}

fn fetch(args: &Args) -> Result<Status, AdminError> {
    let path = admin::socket_path(args.socket.as_deref());
    match admin::query(&path, &Request::Status, admin::TIMEOUT)? {
        Response::Status { status } => Ok(status),
        Response::Error { message } => Err(AdminError::Protocol(message)),
        other => Err(AdminError::Protocol(format!("unexpected answer {other:?}"))),
    }
}

fn describe(e: &AdminError) -> String {
    match e {
        AdminError::NotRunning { path, source } => format!(
            "Could not connect to the cluster manager at {}: {source} (is rgmanager running?)",
            path.display()
        ),
        AdminError::Timeout => e.to_string(),
        AdminError::Protocol(m) => format!("Service states unavailable: {m}"),
        AdminError::Io { .. } => format!("Service states unavailable: {e}"),
    }
}

/// Runs clustat; `rounds` bounds the `-i` refresh loop (None = until killed). Returns the exit
/// status (0..=255).
pub fn run_with(
    argv: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
    cols: usize,
    rounds: Option<usize>,
) -> u8 {
    let args = match parse(argv) {
        Parsed::Run(a) => a,
        Parsed::Exit { status, stdout } => {
            let _ = out.write_all(stdout.as_bytes());
            return status as u8;
        }
    };
    if args.version {
        let _ = writeln!(out, "clustat version {}", tooldoc::VERSION);
        return 0;
    }
    let view = View {
        member: args.member.clone(),
        service: args.service.clone(),
        long: args.long,
        cols,
    };
    let mut round = 0;
    loop {
        let status = match fetch(&args) {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(err, "{}", describe(&e));
                return 1;
            }
        };
        if args.quorum_only {
            return u8::from(!status.quorate);
        }
        if args.nodeid_only {
            let id = status.members.iter().find(|m| m.local).map(|m| m.nodeid);
            let _ = writeln!(out, "0x{:08x}", id.unwrap_or(0));
            return 0;
        }
        if args.interval.is_some() {
            // Clear the screen, as clustat -i did through terminfo.
            let _ = out.write_all(b"\x1b[H\x1b[2J");
        }
        let (text, code) = if args.xml {
            clustat::xml(&status, &view)
        } else if args.json {
            clustat::json(&status, &view)
        } else {
            clustat::text(&status, &view)
        };
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        round += 1;
        match args.interval {
            Some(secs) if rounds.is_none_or(|max| round < max) => {
                std::thread::sleep(Duration::from_secs(secs));
            }
            _ => return (code & 0xff) as u8,
        }
    }
}

/// The `clustat` binary.
pub fn run(argv: &[String]) -> u8 {
    let cols = terminal_cols();
    run_with(
        argv,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
        cols,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clustat::{MemberStatus, ServiceStatus};
    use crate::state::{ServiceFlags, ServiceState};
    use std::os::unix::net::UnixListener;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// RHCS's clustat usage text (with the `--json` and `--socket` lines this project always
    /// had at its end), which ours must start with byte for byte.
    const RHCS_USAGE: &str = "usage: clustat <options>
    -i <interval>      Refresh every <interval> seconds.  May not be used
                       with -x.
    -I                 Display local node ID and exit
    -m <member>        Display status of <member> and exit
    -s <service>       Display status of <service> and exit
    -v                 Display version and exit
    -x                 Dump information as XML
    -Q                 Return 0 if quorate, 1 if not (no output)
    -f                 Enable fast clustat reports
    -l                 Use long format for services
    --json             Dump information as JSON
    --socket <path>    Talk to the daemon listening on <path>
";

    #[test]
    fn usage_and_version() {
        let u = page().usage();
        assert_eq!(
            u,
            format!("{RHCS_USAGE}    --version          Display version and exit\n")
        );
        for flag in ["-v", "--version", "-fv"] {
            let mut out = Vec::new();
            let code = run_with(&args(&[flag]), &mut out, &mut Vec::new(), 80, Some(1));
            assert_eq!(code, 0, "{flag}");
            assert_eq!(
                String::from_utf8_lossy(&out),
                format!("clustat version {}\n", tooldoc::VERSION)
            );
        }
    }

    #[test]
    fn getopt_forms() {
        let Parsed::Run(a) = parse(&args(&["-ls", "web", "-mnode1", "-i", "0"])) else {
            panic!("not run");
        };
        assert!(a.long);
        assert_eq!(a.service.as_deref(), Some("service:web"));
        assert_eq!(a.member.as_deref(), Some("node1"));
        assert_eq!(a.interval, Some(1));
        assert_eq!(
            parse(&args(&["-i", "2", "-x"])),
            Parsed::Exit {
                status: 1,
                stdout: "Error: Options '-i' and '-x' are mutually exclusive\n".into()
            }
        );
        // Only checked in that order, as the original.
        assert!(matches!(parse(&args(&["-x", "-i", "2"])), Parsed::Run(_)));
        assert!(matches!(
            parse(&args(&["-Z"])),
            Parsed::Exit { status: 1, .. }
        ));
        assert!(matches!(
            parse(&args(&["-h"])),
            Parsed::Exit { status: 0, .. }
        ));
        assert!(matches!(
            parse(&args(&["-s"])),
            Parsed::Exit { status: 1, .. }
        ));
    }

    fn status() -> Status {
        Status {
            cluster_name: "web_ha".into(),
            cluster_id: 1,
            generation: 3,
            quorate: true,
            members: vec![MemberStatus {
                name: "node1".into(),
                nodeid: 1,
                online: true,
                local: true,
                rgmanager: true,
                ..Default::default()
            }],
            services: Some(vec![ServiceStatus {
                name: "service:web".into(),
                state: ServiceState::Disabled,
                flags: ServiceFlags::default(),
                owner: 0,
                last_owner: 1,
                restarts: 0,
                last_transition: 0,
            }]),
            now: 0,
            wire: None,
        }
    }

    /// A daemon stand-in answering `n` status requests on a socket in a temp dir.
    fn serve(n: usize) -> (tempfile::TempDir, PathBuf, std::thread::JoinHandle<()>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rgm.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let st = status();
        let h = std::thread::spawn(move || {
            for _ in 0..n {
                let (s, _) = listener.accept().unwrap();
                admin::serve_one(&s, |req| {
                    assert_eq!(req, Request::Status);
                    Response::Status { status: st.clone() }
                })
                .unwrap();
            }
        });
        (dir, path, h)
    }

    fn run_against(path: &std::path::Path, extra: &[&str]) -> (u8, String, String) {
        let mut argv = args(&["--socket", &path.to_string_lossy()]);
        argv.extend(args(extra));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_with(&argv, &mut out, &mut err, 80, Some(1));
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    #[test]
    fn talks_to_the_daemon_and_maps_exit_codes() {
        let (_dir, path, h) = serve(6);
        let (code, out, _) = run_against(&path, &[]);
        assert_eq!(code, 0);
        assert!(
            out.contains(
                " service:web                    (node1)                        disabled      \n"
            ),
            "{out}"
        );
        assert_eq!(run_against(&path, &["-s", "web"]).0, 119);
        assert_eq!(run_against(&path, &["-s", "nope"]).0, 255);
        assert_eq!(run_against(&path, &["-m", "node1"]).0, 0);
        assert_eq!(
            run_against(&path, &["-Q"]),
            (0, String::new(), String::new())
        );
        assert_eq!(run_against(&path, &["-I"]).1, "0x00000001\n");
        h.join().unwrap();
    }

    #[test]
    fn daemon_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.sock");
        let (code, out, err) = run_against(&path, &[]);
        assert_eq!(code, 1);
        assert!(out.is_empty());
        assert!(
            err.starts_with("Could not connect to the cluster manager at "),
            "{err}"
        );
        assert!(err.contains("is rgmanager running?"), "{err}");
    }
}
