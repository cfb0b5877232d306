//! The README's first command, run as a newcomer runs it: the `demo` binary starts its three
//! daemons and the simulated switch, and its output must tell the story in order (the service
//! on node1, node1 fenced through its outlet before anyone takes the service over, the owner
//! changed in `clustat`, the failback), never show the switch's password, and leave no process
//! and no scratch directory behind, both with `--exit` and on Ctrl-C.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the whole show may take on a loaded machine before the test gives up.
const PATIENCE: Duration = Duration::from_secs(300);

/// The demo process, killed on drop whatever the test did; its output gathered by a thread.
struct Demo {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn start(args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        for mut pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Demo { child, out }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    fn wait_output(&self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.output().contains(text) {
            assert!(
                Instant::now() < deadline,
                "the demo never printed {text:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for the exit; the status and the whole output.
    fn wait(&mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not finish:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        // The reader threads drain the pipes once the process is gone.
        std::thread::sleep(Duration::from_millis(300));
        (status, self.output())
    }
}

/// The switch's password, as the sample cluster.conf holds it.
fn password() -> String {
    let conf = ccs::check_str(rgmanager::demo::SAMPLE).conf.unwrap();
    let pw = conf
        .fence_device("pdu")
        .unwrap()
        .attrs
        .get("passwd")
        .unwrap()
        .to_string();
    assert!(pw.len() >= 6, "a password the test can look for: {pw:?}");
    pw
}

fn scratch_dir(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Scratch directory: "))
        .unwrap_or_else(|| panic!("no scratch directory line:\n{out}"))
        .trim()
        .to_string()
}

/// Nothing of the demo is left: no directory, no process whose command line names it.
fn nothing_left(out: &str) {
    let dir = scratch_dir(out);
    assert!(!std::path::Path::new(&dir).exists(), "{dir} is still there");
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(
            !cmdline.contains(&dir),
            "a process of the demo is left: {cmdline}"
        );
    }
}

/// The clustat table printed after `# title`: the service line's words.
fn service_row(out: &str, title: &str) -> Vec<String> {
    let start = out
        .find(&format!("# {title}"))
        .unwrap_or_else(|| panic!("no clustat {title:?}:\n{out}"));
    out[start..]
        .lines()
        .find(|l| l.trim_start().starts_with("service:web"))
        .unwrap_or_else(|| panic!("no service:web row after {title:?}:\n{out}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn position(out: &str, text: &str) -> usize {
    out.find(text)
        .unwrap_or_else(|| panic!("the demo did not print {text:?}:\n{out}"))
}

#[test]
fn the_demo_shows_fencing_before_takeover_then_failback_and_cleans_up() {
    let mut demo = Demo::start(&["--exit"]);
    let (status, out) = demo.wait();
    assert!(status.success(), "exit {status}:\n{out}");

    assert_eq!(
        service_row(&out, "on node2, before"),
        ["service:web", "node1", "started"],
        "{out}"
    );
    let after = service_row(&out, "on node2, after the failover");
    assert!(
        after[1] != "node1" && after[2] == "started",
        "the owner did not change: {after:?}\n{out}"
    );
    assert_eq!(
        service_row(&out, "on node2, after the failback"),
        ["service:web", "node1", "started"],
        "{out}"
    );

    // Fenced through its outlet, then taken over.
    let fencing = position(&out, "fencing node node1");
    let off = position(&out, "outlet 1 off: node1 loses power");
    let success = position(&out, "fence node1 success");
    let takeover = position(
        &out,
        "Taking over service service:web from down member node1",
    );
    assert!(
        fencing < takeover && off < takeover && success < takeover,
        "{out}"
    );
    assert!(
        out.contains(&format!("start node1\n  off node1\n  start {}", after[1])),
        "{out}"
    );
    assert!(!out.contains("DOUBLE"), "the service ran twice:\n{out}");
    assert!(
        out.contains("Relocating service:web to better node node1"),
        "{out}"
    );

    assert!(
        !out.contains(&password()),
        "the password was printed:\n{out}"
    );
    nothing_left(&out);
}

#[test]
fn ctrl_c_stops_the_running_demo_and_cleans_up() {
    let mut demo = Demo::start(&[]);
    demo.wait_output("press Ctrl-C to stop it");
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(
        unsafe { libc::kill(demo.child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let (status, out) = demo.wait();
    assert!(status.success(), "exit {status}:\n{out}");
    assert!(
        out.contains("Stopped; the scratch directory is removed"),
        "{out}"
    );
    assert!(
        !out.contains(&password()),
        "the password was printed:\n{out}"
    );
    nothing_left(&out);
}

#[test]
fn describe_shows_the_sample_without_starting_anything() {
    let out = Command::new(env!("CARGO_BIN_EXE_demo"))
        .arg("--describe")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("configuration validates"), "{text}");
    assert!(text.contains("pdu (fence_apc port=1)"), "{text}");
    assert!(!text.contains(&password()), "{text}");
}
