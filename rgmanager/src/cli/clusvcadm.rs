//! `clusvcadm`: service requests with RHCS's flags, messages and exit codes
//! (`getopt "lSue:M:d:r:n:c:m:FvR:s:Z:U:qh?"`), plus `--socket PATH`.
//!
//! It prints what the original printed before sending (`Local machine trying to enable
//! service:web...`), then the answer's `rg_strerror` line and, after a start, where the service
//! runs. Exit status: the answer's code (negative codes wrap: -1 → 255), except that "Service is
//! already running" exits 0; 1 for bad usage, an unknown member, or no daemon to ask.

use std::io::Write;
use std::path::PathBuf;

use super::{Getopt, Opt};
use crate::admin::{self, AdminError, LockOp, Request, Response, ServiceAction};
use crate::clustat::{full_service_name, MemberStatus};
use crate::state::RgCode;
use tooldoc::{Group, Page, Row};

/// clusvcadm's documentation: its `--help` rows (RHCS's usage text, byte for byte, then our
/// `--socket` and `--version`) and its man page.
pub fn page() -> Page {
    Page::new(
        "clusvcadm",
        8,
        "cluster user service administration utility",
    )
    .synopsis(&[
        "clusvcadm [-d | -e | -R | -s | -Z | -U | -c] <group> [-q]",
        "clusvcadm -e <group> [-m <member> | -F]",
        "clusvcadm -r <group> [-m <member>]",
        "clusvcadm -M <group> -m <member>",
        "clusvcadm [-l | -u | -S | -v]",
    ])
    .description(
        "clusvcadm asks the cluster to enable, disable, relocate, migrate, restart, stop, \
             freeze, unfreeze or convalesce a service (a resource group of cluster.conf), or \
             to lock and unlock the resource group managers. The request goes to the local \
             rgmanager's admin socket (or $RGMANAGER_SOCKET, or --socket), which forwards it \
             to the cluster's coordinator and answers once it is done.\n\n\
             It prints what RHCS's clusvcadm printed before and after a request \
             (\"Local machine trying to enable service:web...Success\") and exits with its codes. \
             A member given with -m is checked against the membership with clusvcadm's \
             closest-match rule.",
    )
    .usage_head("usage: clusvcadm [command]\n\nResource Group Control Commands:\n")
    .group(Group::new(
        2,
        23,
        vec![
            Row::new("-v", &["Display version and exit"]),
            Row::new(
                "-d <group>",
                &[
                    "Disable <group>.  This stops a group",
                    "until an administrator enables it again,",
                    "the cluster loses and regains quorum, or",
                    "an administrator-defined event script",
                    "explicitly enables it again.",
                ],
            ),
            Row::new("-e <group>", &["Enable <group>"]),
            Row::new(
                "-e <group> -F",
                &[
                    "Enable <group> according to failover",
                    "domain rules (deprecated; always the",
                    "case when using central processing)",
                ],
            ),
            Row::new("-e <group> -m <member>", &["Enable <group> on <member>"]),
            Row::new(
                "-r <group> -m <member>",
                &[
                    "Relocate <group> [to <member>]",
                    "Stops a group and starts it on another",
                    "cluster member.",
                ],
            ),
            Row::new(
                "-M <group> -m <member>",
                &[
                    "Migrate <group> to <member>",
                    "(e.g. for live migration of VMs)",
                ],
            ),
            Row::new("-q", &["Quiet operation"]),
            Row::new("-R <group>", &["Restart a group in place."]),
            Row::new(
                "-s <group>",
                &[
                    "Stop <group>.  This temporarily stops",
                    "a group.  After the next group or",
                    "or cluster member transition, the group",
                    "will be restarted (if possible).",
                ],
            ),
            Row::new(
                "-Z <group>",
                &[
                    "Freeze resource group.  This prevents",
                    "transitions and status checks, and is ",
                    "useful if an administrator needs to ",
                    "administer part of a service without ",
                    "stopping the whole service.",
                ],
            ),
            Row::new(
                "-U <group>",
                &[
                    "Unfreeze (thaw) resource group.  Restores",
                    "a group to normal operation.",
                ],
            ),
            Row::new(
                "-c <group>",
                &[
                    "Convalesce (repair, fix) resource group.",
                    "Attempts to start failed, non-critical ",
                    "resources within a resource group.",
                ],
            ),
        ],
    ))
    .group(
        Group::new(
            2,
            23,
            vec![
                Row::new(
                    "-l",
                    &[
                        "Lock local resource group managers.",
                        "This prevents resource groups from",
                        "starting.",
                    ],
                ),
                Row::new("-S", &["Show lock state"]),
                Row::new(
                    "-u",
                    &[
                        "Unlock resource group managers.",
                        "This allows resource groups to start.",
                    ],
                ),
            ],
        )
        .titled("Resource Group Locking (for cluster Shutdown / Debugging):"),
    )
    .group(
        Group::new(
            2,
            23,
            vec![
                Row::new(
                    "--socket <path>",
                    &["Talk to the daemon listening on <path>"],
                ),
                Row::new("--version", &["Display version and exit"]),
            ],
        )
        .titled("rgmanager-rs additions:"),
    )
    .section(
        "Exit status",
        "The answer's code as RHCS numbered it, wrapped to 0..255 (0 success, 255 = -1 \
             failure, 254 = -2 try again, 253 = -3 can't find the service, …); \
             \"Service is already running\" exits 0. 1 on bad usage, for an unknown member, or \
             when the local rgmanager cannot be reached.",
    )
    .section(
        "Environment",
        "RGMANAGER_SOCKET: the admin socket to ask instead of \
             /var/run/cluster/rgmanager.sock.",
    )
    .see_also(&["clustat(8)", "rgmanager(8)", "cluster.conf(5)"])
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Service {
        action: ServiceAction,
        service: String,
        member: Option<String>,
        domain_rules: bool,
    },
    Lock(LockOp),
    Version,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    pub command: Command,
    pub quiet: bool,
    pub socket: Option<PathBuf>,
}

/// Parsing stopped: print this (to stdout, or stderr) and exit with `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    pub status: u8,
    pub stdout: String,
    pub stderr: String,
}

fn usage() -> Stop {
    Stop {
        status: 1,
        stdout: page().usage(),
        stderr: String::new(),
    }
}

/// The word clusvcadm put in its first line for each request.
fn action_words(a: ServiceAction) -> &'static str {
    match a {
        ServiceAction::Enable => "trying to enable",
        ServiceAction::Disable => "disabling",
        ServiceAction::Relocate => "relocate",
        ServiceAction::Migrate => "migrate",
        ServiceAction::Restart => "trying to restart",
        ServiceAction::Stop => "stopping",
        ServiceAction::Freeze => "freezing",
        ServiceAction::Unfreeze => "unfreezing",
        ServiceAction::Convalesce => "convalescing",
    }
}

/// Parses the arguments as getopt(3) did for clusvcadm. `-l`, `-S`, `-u` and `-v` act at once,
/// as in the original: later options are not read, except our `--socket`, which says where
/// the daemon is wherever it appears.
pub fn parse(argv: &[String]) -> Result<Args, Stop> {
    let mut action = None;
    let mut service: Option<String> = None;
    let mut member: Option<String> = None;
    let mut fod = false;
    let mut quiet = false;
    let mut socket = None;
    let conflict = || Stop {
        status: 1,
        stdout: String::new(),
        stderr: "Cannot use '-F' with '-n' or '-m'\n".into(),
    };
    // The first of -l, -S, -u, -v: what runs, whatever follows.
    let mut first: Option<Command> = None;
    let mut opts = Getopt::new(argv, "lSue:M:d:r:n:c:m:FvR:s:Z:U:qh?");
    while let Some(opt) = opts.next() {
        if let Opt::Long(l) = &opt {
            if l == "socket" {
                socket = Some(PathBuf::from(opts.next_word().ok_or_else(usage)?));
                continue;
            }
        }
        if first.is_some() {
            continue;
        }
        let act = match opt {
            Opt::Long(l) if l == "version" => {
                first = Some(Command::Version);
                continue;
            }
            Opt::Flag('l') => {
                first = Some(Command::Lock(LockOp::Lock));
                continue;
            }
            Opt::Flag('S') => {
                first = Some(Command::Lock(LockOp::Query));
                continue;
            }
            Opt::Flag('u') => {
                first = Some(Command::Lock(LockOp::Unlock));
                continue;
            }
            Opt::Flag('v') => {
                first = Some(Command::Version);
                continue;
            }
            Opt::Flag('F') => {
                if member.is_some() {
                    return Err(conflict());
                }
                fod = true;
                continue;
            }
            Opt::Value('m' | 'n', v) => {
                if fod {
                    return Err(conflict());
                }
                member = Some(v);
                continue;
            }
            Opt::Flag('q') => {
                quiet = true;
                continue;
            }
            Opt::Value(c, v) => (c, v),
            _ => return Err(usage()),
        };
        let a = match act.0 {
            'e' => ServiceAction::Enable,
            'd' => ServiceAction::Disable,
            'r' => ServiceAction::Relocate,
            'M' => ServiceAction::Migrate,
            's' => ServiceAction::Stop,
            'R' => ServiceAction::Restart,
            'Z' => ServiceAction::Freeze,
            'U' => ServiceAction::Unfreeze,
            'c' => ServiceAction::Convalesce,
            _ => return Err(usage()),
        };
        action = Some(a);
        service = Some(act.1);
    }
    if let Some(command) = first {
        return Ok(Args {
            command,
            quiet,
            socket,
        });
    }
    let (Some(action), Some(service)) = (action, service) else {
        return Err(usage());
    };
    if action == ServiceAction::Migrate && member.is_none() {
        return Err(Stop {
            status: 1,
            stdout: "Migration requires a target cluster member\n".into(),
            stderr: String::new(),
        });
    }
    Ok(Args {
        command: Command::Service {
            action,
            service: full_service_name(&service),
            member,
            domain_rules: fod,
        },
        quiet,
        socket,
    })
}

/// `find_closest_node`: the member sharing the longest prefix with `name`, if there is exactly
/// one such member. Prints what the original printed.
fn closest<'a>(members: &'a [MemberStatus], name: &str, out: &mut String) -> Option<&'a str> {
    let common = |m: &str| {
        m.chars()
            .zip(name.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    let mut best: Vec<(&str, usize)> = members
        .iter()
        .map(|m| (m.name.as_str(), common(&m.name)))
        .filter(|(_, n)| *n > 0)
        .collect();
    best.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    match best.as_slice() {
        [] => {
            out.push_str(&format!("No matches for '{name}' found\n"));
            None
        }
        [(_, a), (_, b), ..] if a == b => {
            out.push_str(&format!(
                "More than one possible match for '{name}' found\n"
            ));
            None
        }
        [(m, _), ..] => {
            out.push_str(&format!("Closest match: '{m}'\n"));
            Some(m)
        }
    }
}

fn connect_error(e: &AdminError) -> String {
    match e {
        AdminError::NotRunning { .. } => "Could not connect to resource group manager\n".into(),
        other => format!("{other}\n"),
    }
}

/// Runs clusvcadm; returns the exit status.
pub fn run_with(argv: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let args = match parse(argv) {
        Ok(a) => a,
        Err(stop) => {
            let _ = out.write_all(stop.stdout.as_bytes());
            let _ = err.write_all(stop.stderr.as_bytes());
            return stop.status;
        }
    };
    // `-q` closed stdout in the original: nothing is printed, errors included.
    let mut sink = std::io::sink();
    let out: &mut dyn Write = if args.quiet { &mut sink } else { out };
    let path = admin::socket_path(args.socket.as_deref());
    match args.command {
        Command::Version => {
            let _ = writeln!(out, "clusvcadm version {}", tooldoc::VERSION);
            0
        }
        Command::Lock(op) => {
            let failed = match op {
                LockOp::Lock => "Lock operation failed",
                LockOp::Unlock => "Unlock operation failed",
                LockOp::Query => "Query operation failed",
            };
            match admin::query(&path, &Request::Lock { lock: op }, admin::TIMEOUT) {
                Ok(Response::Lock { locked }) => {
                    let _ = writeln!(
                        out,
                        "Resource groups {}",
                        if locked { "locked" } else { "unlocked" }
                    );
                    0
                }
                Ok(_) => {
                    let _ = writeln!(out, "{failed}");
                    1
                }
                Err(e) => {
                    let _ = write!(out, "{}", connect_error(&e));
                    let _ = writeln!(out, "{failed}");
                    1
                }
            }
        }
        Command::Service {
            action,
            service,
            mut member,
            domain_rules,
        } => {
            // The member must be in the membership list (closest match otherwise).
            if let Some(name) = member.clone() {
                let members = match admin::query(&path, &Request::Status, admin::TIMEOUT) {
                    Ok(Response::Status { status }) => status.members,
                    Ok(_) => Vec::new(),
                    Err(e) => {
                        let _ = write!(out, "{}", connect_error(&e));
                        return 1;
                    }
                };
                let found = members.iter().find(|m| m.name == name);
                let found = match found {
                    Some(m) => Some(m),
                    None => {
                        let mut text = format!("'{name}' not in membership list\n");
                        let pick = closest(&members, &name, &mut text).map(str::to_string);
                        let _ = out.write_all(text.as_bytes());
                        let Some(pick) = pick else { return 1 };
                        member = Some(pick.clone());
                        members.iter().find(|m| m.name == pick)
                    }
                };
                if action == ServiceAction::Migrate && found.is_some_and(|m| !m.online) {
                    let _ = writeln!(out, "'{}' is offline", member.as_deref().unwrap_or(""));
                    return 1;
                }
            }
            let words = action_words(action);
            let _ = match (action, member.as_deref()) {
                (ServiceAction::Relocate | ServiceAction::Migrate, None) => {
                    write!(out, "Trying to {words} {service}...")
                }
                (ServiceAction::Relocate | ServiceAction::Migrate, Some(m)) => {
                    write!(out, "Trying to {words} {service} to {m}...")
                }
                (_, None) => write!(out, "Local machine {words} {service}..."),
                (_, Some(m)) => write!(out, "Member {m} {words} {service}..."),
            };
            let _ = out.flush();
            let req = Request::Service {
                action,
                service: service.clone(),
                target: member.clone(),
                domain_rules,
            };
            // Requests wait for the work to be done (a start may take a while): no timeout.
            let reply = admin::query(&path, &req, std::time::Duration::from_secs(24 * 3600));
            let (code, owner) = match reply {
                Ok(Response::Service { code, owner }) => (code, owner),
                Ok(Response::Error { message }) => {
                    let _ = writeln!(out, "{message}");
                    return 1;
                }
                Ok(other) => {
                    let _ = writeln!(out, "unexpected answer {other:?}");
                    return 1;
                }
                Err(e) => {
                    let _ = write!(out, "{}", connect_error(&e));
                    return 1;
                }
            };
            let _ = writeln!(out, "{}", code.message());
            if code == RgCode::Running {
                return 0;
            }
            if code != RgCode::Success {
                return (code.code() & 0xff) as u8;
            }
            if matches!(action, ServiceAction::Enable | ServiceAction::Relocate) {
                let owner = owner.unwrap_or_else(|| "unknown".into());
                let warn = member.as_deref().is_some_and(|m| m != owner);
                let _ = writeln!(
                    out,
                    "{}{service} is now running on {owner}",
                    if warn { "Warning: " } else { "" }
                );
            }
            0
        }
    }
}

/// The `clusvcadm` binary.
pub fn run(argv: &[String]) -> u8 {
    run_with(
        argv,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clustat::Status;
    use std::os::unix::net::UnixListener;

    /// RHCS's clusvcadm usage text, which ours must start with byte for byte.
    const RHCS_USAGE: &str = "usage: clusvcadm [command]

Resource Group Control Commands:
  -v                     Display version and exit
  -d <group>             Disable <group>.  This stops a group
                         until an administrator enables it again,
                         the cluster loses and regains quorum, or
                         an administrator-defined event script
                         explicitly enables it again.
  -e <group>             Enable <group>
  -e <group> -F          Enable <group> according to failover
                         domain rules (deprecated; always the
                         case when using central processing)
  -e <group> -m <member> Enable <group> on <member>
  -r <group> -m <member> Relocate <group> [to <member>]
                         Stops a group and starts it on another
                         cluster member.
  -M <group> -m <member> Migrate <group> to <member>
                         (e.g. for live migration of VMs)
  -q                     Quiet operation
  -R <group>             Restart a group in place.
  -s <group>             Stop <group>.  This temporarily stops
                         a group.  After the next group or
                         or cluster member transition, the group
                         will be restarted (if possible).
  -Z <group>             Freeze resource group.  This prevents
                         transitions and status checks, and is 
                         useful if an administrator needs to 
                         administer part of a service without 
                         stopping the whole service.
  -U <group>             Unfreeze (thaw) resource group.  Restores
                         a group to normal operation.
  -c <group>             Convalesce (repair, fix) resource group.
                         Attempts to start failed, non-critical 
                         resources within a resource group.
Resource Group Locking (for cluster Shutdown / Debugging):
  -l                     Lock local resource group managers.
                         This prevents resource groups from
                         starting.
  -S                     Show lock state
  -u                     Unlock resource group managers.
                         This allows resource groups to start.
";

    #[test]
    fn usage_is_rhcs_then_our_additions() {
        let u = page().usage();
        assert!(u.starts_with(RHCS_USAGE), "{u}");
        assert_eq!(
            &u[RHCS_USAGE.len()..],
            "rgmanager-rs additions:\n  --socket <path>        Talk to the daemon listening on <path>\n  \
             --version              Display version and exit\n"
        );
    }

    #[test]
    fn version_names_the_commit() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for flag in ["-v", "--version"] {
            out.clear();
            let code = run_with(&[flag.to_string()], &mut out, &mut err);
            assert_eq!(code, 0);
            assert_eq!(
                String::from_utf8_lossy(&out),
                format!("clusvcadm version {}\n", tooldoc::VERSION)
            );
        }
    }

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parsing() {
        let a = parse(&args(&["-e", "web", "-m", "node2"])).unwrap();
        assert_eq!(
            a.command,
            Command::Service {
                action: ServiceAction::Enable,
                service: "service:web".into(),
                member: Some("node2".into()),
                domain_rules: false
            }
        );
        assert_eq!(
            parse(&args(&["-F", "-e", "vm:g", "-m", "n"]))
                .unwrap_err()
                .stderr,
            "Cannot use '-F' with '-n' or '-m'\n"
        );
        assert_eq!(parse(&args(&[])).unwrap_err().status, 1);
        assert_eq!(parse(&args(&["-h"])).unwrap_err().status, 1);
        assert_eq!(
            parse(&args(&["-M", "vm:g"])).unwrap_err().stdout,
            "Migration requires a target cluster member\n"
        );
        assert_eq!(
            parse(&args(&["-l", "-e", "x"])).unwrap().command,
            Command::Lock(LockOp::Lock)
        );
        assert!(parse(&args(&["-qdweb"])).unwrap().quiet);
        // -S acts at once, but our --socket is read wherever it is.
        let a = parse(&args(&["-S", "-e", "x", "--socket", "/x.sock"])).unwrap();
        assert_eq!(a.command, Command::Lock(LockOp::Query));
        assert_eq!(a.socket, Some(PathBuf::from("/x.sock")));
        assert_eq!(
            parse(&args(&["-u", "-h"])).unwrap().command,
            Command::Lock(LockOp::Unlock)
        );
    }

    /// A daemon stand-in: answers status with two members, and service requests with `code`.
    fn daemon(n: usize, code: RgCode, owner: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rgm.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let owner = owner.to_string();
        std::thread::spawn(move || {
            for _ in 0..n {
                let Ok((s, _)) = listener.accept() else {
                    return;
                };
                let owner = owner.clone();
                let _ = admin::serve_one(&s, move |req| match req {
                    Request::Status => Response::Status {
                        status: Status {
                            cluster_name: "c".into(),
                            cluster_id: 0,
                            generation: 1,
                            quorate: true,
                            members: ["node1.example.com", "node2.example.com", "db1"]
                                .iter()
                                .enumerate()
                                .map(|(i, n)| MemberStatus {
                                    name: n.to_string(),
                                    nodeid: i as u32 + 1,
                                    online: i != 2,
                                    ..Default::default()
                                })
                                .collect(),
                            services: Some(Vec::new()),
                            now: 0,
                            wire: None,
                        },
                    },
                    Request::Service { .. } => Response::Service {
                        code,
                        owner: Some(owner),
                    },
                    Request::Lock { .. } => Response::Lock { locked: true },
                    Request::FenceAck { node } => Response::FenceAck { node, fenced: true },
                    Request::ConfigPush { .. } | Request::ConfigCheck => Response::Error {
                        message: "not a clusvcadm request".into(),
                    },
                });
            }
        });
        (dir, path)
    }

    fn run_at(path: &std::path::Path, extra: &[&str]) -> (u8, String) {
        let mut argv = args(&["--socket", &path.to_string_lossy()]);
        argv.extend(args(extra));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_with(&argv, &mut out, &mut err);
        (code, String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn enable_prints_like_the_original() {
        let (_d, p) = daemon(1, RgCode::Success, "node1.example.com");
        assert_eq!(
            run_at(&p, &["-e", "web"]),
            (
                0,
                "Local machine trying to enable service:web...Success\nservice:web is now running on node1.example.com\n".into()
            )
        );
    }

    #[test]
    fn relocate_to_a_member_that_landed_elsewhere_warns() {
        let (_d, p) = daemon(2, RgCode::Success, "node1.example.com");
        assert_eq!(
            run_at(&p, &["-r", "web", "-m", "node2.example.com"]),
            (
                0,
                "Trying to relocate service:web to node2.example.com...Success\nWarning: service:web is now running on node1.example.com\n".into()
            )
        );
    }

    #[test]
    fn failures_exit_with_the_code() {
        let (_d, p) = daemon(1, RgCode::Frozen, "");
        assert_eq!(
            run_at(&p, &["-d", "web"]),
            (
                245,
                "Local machine disabling service:web...Failure: Service is frozen\n".into()
            )
        );
        let (_d, p) = daemon(1, RgCode::Running, "");
        assert_eq!(run_at(&p, &["-e", "web"]).0, 0);
    }

    #[test]
    fn unknown_member_closest_match() {
        let (_d, p) = daemon(2, RgCode::Success, "node2.example.com");
        let (code, out) = run_at(&p, &["-e", "web", "-m", "node2"]);
        assert_eq!(code, 0);
        assert!(out.starts_with("'node2' not in membership list\nClosest match: 'node2.example.com'\nMember node2.example.com trying to enable service:web...Success\n"), "{out}");
        let (_d, p) = daemon(1, RgCode::Success, "");
        assert_eq!(
            run_at(&p, &["-e", "web", "-m", "node"]),
            (
                1,
                "'node' not in membership list\nMore than one possible match for 'node' found\n"
                    .into()
            )
        );
        let (_d, p) = daemon(1, RgCode::Success, "");
        assert_eq!(
            run_at(&p, &["-e", "web", "-m", "xyz"]),
            (
                1,
                "'xyz' not in membership list\nNo matches for 'xyz' found\n".into()
            )
        );
        let (_d, p) = daemon(1, RgCode::Success, "");
        assert_eq!(
            run_at(&p, &["-M", "vm:g", "-m", "db1"]),
            (1, "'db1' is offline\n".into())
        );
    }

    #[test]
    fn no_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let (code, out) = run_at(&dir.path().join("x.sock"), &["-e", "web"]);
        assert_eq!(code, 1);
        assert_eq!(
            out,
            "Local machine trying to enable service:web...Could not connect to resource group manager\n"
        );
        let (code, out) = run_at(&dir.path().join("x.sock"), &["-q", "-e", "web"]);
        assert_eq!((code, out.as_str()), (1, ""));
    }

    #[test]
    fn lock() {
        let (_d, p) = daemon(1, RgCode::Success, "");
        assert_eq!(run_at(&p, &["-l"]), (0, "Resource groups locked\n".into()));
    }
}
