//! The daemon's HTTP listener with real processes (docs/http.md): three `rgmanager` daemons on
//! 127.0.0.1, each answering HTTP on its own port (`<rm http_port>`, `rgm_http_port`).
//!
//! Before and after a failover (the owner killed with SIGKILL, acknowledged with
//! `fence_ack_manual` as no fence device is configured, the service taken over):
//! - `/health/service/web` answers 200 on the owner only, 503 elsewhere, and flips with the
//!   takeover; `/health/node` answers 200 on quorate members; an unknown service is a 404;
//! - at most 16 live pages (event streams) at once, and health checks still answer then;
//! - `/metrics` shows the membership, the owner, the fence run, the failover's phases and the
//!   service's transitions moving as they should, and Debian's `promtool check metrics`
//!   accepts it;
//! - Debian's HAProxy, checking `/health/service/web` on each node, sends its clients to the
//!   owner only, and to the new owner after the takeover;
//! - the status page, in Debian's headless Chromium driven through chromedriver (WebDriver),
//!   shows three members and the owner, then the new owner without a reload; a screenshot is
//!   left in the test's output directory (`target/tmp/http-status-page*.png`).
//!
//! The browser part needs `chromium` and `chromedriver` (scripts/test installs them).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{fence_ack_manual, online, started_on, Cluster, PATIENCE};

const NODES: [&str; 3] = ["node1", "node2", "node3"];

/// One HTTP/1.1 GET on 127.0.0.1:`port`: status code and body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // Bodies here are small and not chunked unless streamed (`/api/events`, not read here).
    (code, body.to_string())
}

/// The value of the sample `name{labels}` (labels as written, in order) in `/metrics`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == series).then(|| v.parse().ok())?
    })
}

fn promtool_accepts(metrics: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package) is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `what` until it holds or the test's patience runs out.
fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Three nodes, `web` preferring node1 then node2; each node's HTTP port. No daemon running.
fn configured() -> (Cluster, Vec<u16>) {
    let c = Cluster::new(3);
    // HTTP on the TCP port of other free pairs, not next to any of the cluster's ports.
    let http: Vec<u16> = loop {
        let p = common::port_pairs(3);
        if p.iter().all(|h| c.ports.iter().all(|q| h.abs_diff(*q) > 2)) {
            break p.iter().map(|x| x + 1).collect();
        }
    };
    let web = c.script("web");
    let mut nodes = c.nodes_xml(|_| String::new());
    for (p, h) in c.ports.iter().zip(&http) {
        nodes = nodes.replace(
            &format!("rgm_port=\"{p}\""),
            &format!("rgm_port=\"{p}\" rgm_http_port=\"{h}\""),
        );
    }
    c.write_conf(&format!(
        r#"<?xml version="1.0"?>
<cluster name="httptest" config_version="1">
  <cman expected_votes="3"/>
  <totem token="3000"/>
  <fence_daemon clean_start="1"/>
  <clusternodes>
{nodes}  </clusternodes>
  <rm http_port="1">
    <failoverdomains>
      <failoverdomain name="d_web" ordered="1">
        <failoverdomainnode name="node1" priority="1"/>
        <failoverdomainnode name="node2" priority="2"/>
        <failoverdomainnode name="node3" priority="3"/>
      </failoverdomain>
    </failoverdomains>
    <service name="web" domain="d_web">
      <script name="web" file="{}"/>
    </service>
  </rm>
</cluster>
"#,
        web.display()
    ));
    (c, http)
}

fn health(http: &[u16], svc: &str) -> Vec<u16> {
    http.iter()
        .map(|p| get(*p, &format!("/health/service/{svc}")).0)
        .collect()
}

#[test]
fn metrics_health_and_the_page_follow_a_failover() {
    let (mut c, http) = configured();
    for n in NODES {
        c.start(n);
    }
    c.wait_for(&NODES, "web started on node1", |v| {
        started_on(v, "service:web", "node1")
    });
    let port = |n: &str| http[NODES.iter().position(|x| *x == n).unwrap()];

    // Health checks: the owner only, on every node's view.
    eventually("200 from node1 only", || {
        health(&http, "web") == [200, 503, 503]
    });
    let (code, body) = get(port("node1"), "/health/service/service:web");
    assert_eq!(
        (code, body.as_str()),
        (200, "service:web: started on node1\n")
    );
    let (code, body) = get(port("node2"), "/health/service/web");
    assert_eq!(code, 503);
    assert_eq!(body, "service:web: started on node1, not here\n");
    assert_eq!(get(port("node2"), "/health/service/nope").0, 404);
    for p in &http {
        assert_eq!(
            get(*p, "/health/node"),
            (
                200,
                format!(
                    "{}: quorate member\n",
                    NODES[http.iter().position(|x| x == p).unwrap()]
                )
            )
        );
    }

    // Live pages are capped; health checks still answer while the cap is reached.
    let streams: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port("node2"))).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(s, "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut head = [0u8; 12];
            s.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 200");
            s
        })
        .collect();
    assert_eq!(get(port("node2"), "/api/events").0, 503);
    assert_eq!(get(port("node2"), "/health/node").0, 200);
    drop(streams);

    // HAProxy sends the clients to the owner only.
    let lb = Haproxy::start(&c, &http);
    eventually("HAProxy sends every request to node1", || {
        lb.all_to("node1")
    });

    // Metrics before the failover, seen from node2 (the next owner).
    let before = get(port("node2"), "/metrics").1;
    promtool_accepts(&before);
    assert_eq!(sample(&before, "rgmanager_members"), Some(3.0));
    assert_eq!(sample(&before, "rgmanager_quorate"), Some(1.0));
    assert_eq!(sample(&before, "rgmanager_expected_votes"), Some(3.0));
    assert_eq!(
        sample(
            &before,
            r#"rgmanager_service_owner{service="service:web",node="node1"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &before,
            r#"rgmanager_service_state{service="service:web",state="started"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&before, "rgmanager_failover_started_seconds_count"),
        Some(0.0)
    );
    let transitions_before = sample(
        &before,
        r#"rgmanager_service_transitions_total{service="service:web"}"#,
    )
    .unwrap_or(0.0);
    assert!(
        before.contains("rgmanager_config{version=\"1\",hash=\""),
        "{before}"
    );
    assert!(
        !before.contains("authkey") && !before.contains(&c.dir.path().display().to_string()),
        "no paths or secrets in /metrics"
    );

    // The page in a real browser, from node3 (it survives the failover).
    let page = Browser::open(&format!("http://127.0.0.1:{}/", port("node3")));
    page.wait_for("three members online and web on node1", |d| {
        d["members"] == serde_json::json!(["node1", "node2", "node3"])
            && d["online"] == 3
            && d["owner"] == "node1"
    });
    page.screenshot("http-status-page-before.png");

    // Failover: node1 dies, nothing can fence it, the administrator acknowledges it.
    c.kill9("node1");
    c.wait_for(&["node2", "node3"], "node1 gone", |v| !online(v, "node1"));
    eventually("node2 starts fencing node1", || {
        let m = get(port("node2"), "/metrics").1;
        sample(&m, r#"rgmanager_fence_attempts_total{node="node1"}"#).unwrap_or(0.0) >= 1.0
    });
    assert_eq!(
        health(&http[1..], "web"),
        [503, 503],
        "not taken over before fencing"
    );
    // What an administrator makes sure of before the acknowledgement: node1's service is off.
    let _ = std::fs::remove_file(c.path("web.running"));
    let (code, out) = fence_ack_manual(&mut c, "node3", "node1", "absolutely\n");
    assert_eq!(code, 0, "{out}");
    c.wait_for(&["node2", "node3"], "web taken over by node2", |v| {
        started_on(v, "service:web", "node2")
    });
    eventually("200 from node2 only", || {
        health(&http[1..], "web") == [200, 503]
    });
    assert_eq!(get(port("node3"), "/health/node").0, 200);
    eventually("HAProxy follows the takeover to node2", || {
        lb.all_to("node2")
    });

    let after = get(port("node2"), "/metrics").1;
    promtool_accepts(&after);
    assert_eq!(sample(&after, "rgmanager_members"), Some(2.0));
    assert_eq!(sample(&after, "rgmanager_coordinator"), Some(1.0));
    assert_eq!(
        sample(
            &after,
            r#"rgmanager_service_owner{service="service:web",node="node2"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "rgmanager_failover_fenced_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "rgmanager_failover_started_seconds_count"),
        Some(1.0)
    );
    assert!(
        sample(
            &after,
            r#"rgmanager_service_transitions_total{service="service:web"}"#
        )
        .unwrap_or(0.0)
            > transitions_before,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"rgmanager_agent_operations_total{service="service:web",operation="start"}"#
        ),
        Some(1.0),
        "{after}"
    );

    // The page followed without a reload.
    page.wait_for("web on node2, node1 offline", |d| {
        d["owner"] == "node2" && d["online"] == 2 && d["kept"] == true
    });
    let events = page.text("#events");
    assert!(
        events.contains("node1 failed holding service:web"),
        "{events}"
    );
    assert!(events.contains("node1 fenced"), "{events}");
    assert!(events.contains("taken over"), "{events}");
    page.screenshot("http-status-page-after.png");
}

/// Debian's HAProxy in front of three stand-in web servers (one per node, answering with the
/// node's name), each checked with `option httpchk GET /health/service/web` on its node's
/// HTTP port, as docs/http.md tells an operator to set it up.
struct Haproxy {
    child: std::process::Child,
    port: u16,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Haproxy {
    fn start(c: &Cluster, http: &[u16]) -> Haproxy {
        let ports: Vec<u16> = common::port_pairs(NODES.len() + 1)
            .iter()
            .map(|p| p + 1)
            .collect();
        let mut servers = String::new();
        for (i, n) in NODES.iter().enumerate() {
            let l = std::net::TcpListener::bind(("127.0.0.1", ports[i])).unwrap();
            let name = n.to_string();
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
                    let mut s = s;
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf);
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                        name.len()
                    );
                }
            });
            servers += &format!(
                "    server {n} 127.0.0.1:{} check port {}\n",
                ports[i], http[i]
            );
        }
        let port = ports[NODES.len()];
        let cfg = c.path("haproxy.cfg");
        std::fs::write(
            &cfg,
            format!(
                "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
                 timeout server 5s\n\nfrontend fe\n    bind 127.0.0.1:{port}\n    \
                 default_backend web\n\nbackend web\n    option httpchk GET /health/service/web\n    \
                 http-check expect status 200\n    default-server inter 300ms fall 1 rise 1\n{servers}"
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (Debian's package) is installed");
        Haproxy { child, port }
    }

    /// Five requests in a row through HAProxy all reach `node`'s server.
    fn all_to(&self, node: &str) -> bool {
        (0..5).all(|_| {
            TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && get(self.port, "/") == (200, node.to_string())
        })
    }
}

/// Headless Chromium through chromedriver, both Debian's.
struct Browser {
    rt: tokio::runtime::Runtime,
    client: fantoccini::Client,
    driver: std::process::Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.rt.block_on(async move {
            tokio::time::timeout(Duration::from_secs(10), client.close()).await
        });
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// What the test reads off the page, by the DOM (no page internals).
const READ_PAGE: &str = r#"
const rows = [...document.querySelectorAll('#members tbody tr')];
const web = document.querySelector('#services tr[data-service="service:web"] .owner');
// Set on the first read: still there later means the page was never reloaded.
const kept = window.__rgmMark === true;
window.__rgmMark = true;
return {
  members: rows.map(r => r.dataset.member),
  online: rows.filter(r => r.classList.contains('online')).length,
  owner: web ? web.textContent : null,
  live: document.getElementById('live').textContent,
  kept: kept,
};
"#;

impl Browser {
    fn open(url: &str) -> Browser {
        let port = common::port_pairs(1)[0] + 1;
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) is installed");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let caps: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1000,900"]
                }
            }))
            .unwrap();
        let client = rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                match fantoccini::ClientBuilder::new(connector)
                    .capabilities(caps.clone())
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await
                {
                    Ok(c) => break c,
                    Err(e) if Instant::now() > deadline => panic!("chromedriver: {e}"),
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        let b = Browser { rt, client, driver };
        b.rt.block_on(b.client.goto(url)).unwrap();
        b
    }

    /// The page's data as [`READ_PAGE`] reads it.
    fn read(&self) -> serde_json::Value {
        self.rt
            .block_on(self.client.execute(READ_PAGE, vec![]))
            .unwrap()
    }

    fn wait_for(&self, what: &str, ok: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let d = self.read();
            if ok(&d) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "page: timed out waiting for {what}: {d}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn text(&self, css: &str) -> String {
        self.rt.block_on(async {
            let e = self
                .client
                .find(fantoccini::Locator::Css(css))
                .await
                .unwrap();
            e.text().await.unwrap()
        })
    }

    /// A PNG for a person to look at, in the test's output directory.
    fn screenshot(&self, name: &str) {
        let png = self.rt.block_on(self.client.screenshot()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }
}

/// HTTPS with the certificate and key cluster.conf names (a one-node cluster): curl checks the
/// certificate against itself as the CA; plain HTTP on that port gets no answer.
#[test]
fn https_with_the_configured_certificate() {
    let c = Cluster::new(1);
    let http = common::port_pairs(1)[0] + 1;
    let (cert, key) = (c.path("http.crt"), c.path("http.key"));
    let make_cert = || {
        let out = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    make_cert();
    let nodes = c.nodes_xml(|_| String::new());
    let conf = |version: u32, port: u16| {
        format!(
            r#"<?xml version="1.0"?>
<cluster name="httpstest" config_version="{version}">
  <cman expected_votes="1"/>
  <clusternodes>
{nodes}  </clusternodes>
  <rm http_port="{port}" http_tls_cert="{}" http_tls_key="{}"/>
</cluster>
"#,
            cert.display(),
            key.display()
        )
    };
    c.write_conf(&conf(1, http));
    let mut c = c;
    c.start("node1");
    let url = format!("https://127.0.0.1:{http}/health/node");
    let curl = |extra: &[&str], url: &str| {
        Command::new("curl")
            .args(["-s", "-o", "-", "-w", " %{http_code}", "--max-time", "5"])
            .args(extra)
            .arg(url)
            .output()
            .unwrap()
    };
    let cacert = cert.display().to_string();
    eventually("node1 answers 200 over HTTPS", || {
        String::from_utf8_lossy(&curl(&["--cacert", &cacert], &url).stdout)
            == "node1: quorate member\n 200"
    });
    let plain = curl(&[], &format!("http://127.0.0.1:{http}/health/node"));
    assert!(
        !String::from_utf8_lossy(&plain.stdout).ends_with(" 200"),
        "plain HTTP is not answered on the HTTPS port"
    );
    assert!(c
        .log_of("node1")
        .contains(&format!("on https://127.0.0.1:{http}/")));

    // A renewed certificate is read at SIGHUP (`systemctl reload`), on the same socket.
    let old_cert = c.path("old.crt");
    std::fs::copy(&cert, &old_cert).unwrap();
    make_cert();
    c.signal("node1", libc::SIGHUP);
    eventually("node1 serves the renewed certificate", || {
        String::from_utf8_lossy(&curl(&["--cacert", &cacert], &url).stdout)
            == "node1: quorate member\n 200"
    });
    let old = old_cert.display().to_string();
    assert!(
        !String::from_utf8_lossy(&curl(&["--cacert", &old], &url).stdout).ends_with(" 200"),
        "the old certificate is no longer served"
    );
    // Another port in a new version of cluster.conf: the listener moves there.
    let moved = loop {
        let p = common::port_pairs(1)[0] + 1;
        if p != http {
            break p;
        }
    };
    c.write_conf(&conf(2, moved));
    c.signal("node1", libc::SIGHUP);
    let moved_url = format!("https://127.0.0.1:{moved}/health/node");
    eventually("node1 answers on the new port", || {
        String::from_utf8_lossy(&curl(&["--cacert", &cacert], &moved_url).stdout)
            == "node1: quorate member\n 200"
    });
    eventually("the old port is closed", || {
        curl(&["--cacert", &cacert], &url).status.code() == Some(7)
    });
}
