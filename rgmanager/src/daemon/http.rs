//! The daemon's HTTP listener (docs/http.md): the live status page (`/`), Prometheus metrics
//! (`/metrics`) and health checks for load balancers (`/health/node`,
//! `/health/service/NAME`). Read-only: nothing here changes the cluster.
//!
//! Off unless cluster.conf has `<rm http_port>`. It binds the node's own address (its
//! membership address), never every interface unless `<rm http_address>` says so; HTTPS with
//! `http_tls_cert` and `http_tls_key`.
//!
//! The event loop owns the node core; this module never touches it from a connection. After
//! each turn the loop calls [`Http::observe`], which rebuilds one immutable [`Snapshot`] when
//! the core says something changed (or a second went by, for the counters that change without
//! an event) and publishes it on a `watch` channel. Connections read the latest snapshot: a
//! slow or hostile client never holds the loop, and a scrape costs the loop nothing. The
//! connections run as tasks on the daemon's single-threaded runtime: no thread is added.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::rustls;

use crate::clustat;
use crate::node::metrics::{Histogram, Report};
use crate::node::Node;
use crate::state::ServiceState;

/// Connections served at once; more are closed at accept (a page, a few scrapers and load
/// balancers need a handful).
const MAX_CONNECTIONS: usize = 64;
/// Live pages (server-sent event streams) at once: the rest of the connections stay for
/// scrapers and health checks, whatever a browser or a client left open does.
const MAX_STREAMS: usize = 16;
/// A client has this long to send its request head (and to finish the TLS handshake).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The snapshot is rebuilt at least this often while anything looks (counters that move
/// without an event: dropped datagrams, a fence run's age).
const REFRESH: Duration = Duration::from_secs(1);

const INDEX_HTML: &str = include_str!("http/page/index.html");
const APP_JS: &str = include_str!("http/page/app.js");
const APP_CSS: &str = include_str!("http/page/app.css");

/// Why the listener does not start (the daemon runs on without it and says so).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("<rm http_tls_cert> and <rm http_tls_key> go together: the HTTP listener is off")]
    HalfTls,
    #[error("<rm {attr}=\"{value}\">: {why}: the HTTP listener is off")]
    Setting {
        attr: &'static str,
        value: String,
        why: String,
    },
    #[error("HTTP listener on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{}: {why}: the HTTP listener is off", path.display())]
    Tls { path: PathBuf, why: String },
}

/// Where and how to listen, from cluster.conf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub addr: SocketAddr,
    /// Certificate chain and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// The listener's settings for node `node` whose own address is `node_ip`: `None` when
/// cluster.conf has no `<rm http_port>` (the listener is off).
pub fn settings(
    conf: &ccs::ClusterConf,
    node: &str,
    node_ip: IpAddr,
) -> Result<Option<Settings>, HttpError> {
    let Some(rm) = conf.rm.as_ref() else {
        return Ok(None);
    };
    let Some(port) = rm.attrs.get("http_port") else {
        return Ok(None);
    };
    let bad = |attr: &'static str, value: &str, why: String| HttpError::Setting {
        attr,
        value: value.to_string(),
        why,
    };
    let port = ccs::value::parse_uint(port)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("http_port", port, "not a port (1..65535)".into()))?;
    let port = conf
        .node(node)
        .and_then(|n| n.rgm_http_port())
        .unwrap_or(port);
    let ip = match rm.attrs.get("http_address") {
        Some(a) => ccs::value::parse_addr(a.trim()).map_err(|why| bad("http_address", a, why))?,
        None => node_ip,
    };
    let tls = match (rm.attrs.get("http_tls_cert"), rm.attrs.get("http_tls_key")) {
        (Some(c), Some(k)) => Some((PathBuf::from(c.trim()), PathBuf::from(k.trim()))),
        (None, None) => None,
        _ => return Err(HttpError::HalfTls),
    };
    Ok(Some(Settings {
        addr: SocketAddr::new(ip, port),
        tls,
    }))
}

/// What every connection reads: one look at the node, taken by the event loop.
#[derive(Debug)]
pub struct Snapshot {
    pub status: clustat::Status,
    pub report: Report,
    /// This node's id.
    pub local: u32,
    /// The status page's JSON (`/api/status`, each server-sent event), made once per look.
    pub page: String,
}

impl Snapshot {
    pub fn take(node: &Node, now: Instant) -> Snapshot {
        let status = node.status(now);
        let report = node.metrics(now);
        let page = page_json(&status, &report);
        Snapshot {
            status,
            report,
            local: node.id(),
            page,
        }
    }

    /// This node is online in a quorate view.
    fn quorate_member(&self) -> bool {
        self.status.quorate
            && self
                .status
                .members
                .iter()
                .any(|m| m.nodeid == self.local && m.online)
    }
}

/// The status page's data: clustat's JSON (the CLI's machine format, unchanged) and what the
/// page shows beyond it.
fn page_json(st: &clustat::Status, r: &Report) -> String {
    let (clustat_text, _) = clustat::json(st, &clustat::View::default());
    let clustat: serde_json::Value =
        serde_json::from_str(&clustat_text).unwrap_or(serde_json::Value::Null);
    let fencing: Vec<serde_json::Value> = r
        .fencing_now
        .iter()
        .map(|(n, s)| serde_json::json!({"node": n, "seconds": s.round()}))
        .collect();
    let events: Vec<&crate::node::metrics::Event> = r.events.iter().rev().collect();
    serde_json::json!({
        "node": r.node,
        "cluster": r.cluster,
        "time": st.now,
        "revision": r.revision,
        "view": r.view_number,
        "quorate": r.quorate,
        "votes": r.votes,
        "expected_votes": r.expected_votes,
        "quorum": r.quorum,
        "config_version": r.config_version,
        "config_hash": r.config_hash,
        "running_here": r.running_here,
        "fencing_now": fencing,
        "events": events,
        "clustat": clustat,
    })
    .to_string()
}

/// The listener's handle, owned by the event loop. Dropping it closes the listener
/// (connections already open finish on their own).
pub struct Http {
    tx: watch::Sender<Arc<Snapshot>>,
    revision: u64,
    built: Instant,
    settings: Settings,
    /// What new connections are served with: replaced on a reload (a renewed certificate)
    /// without closing the socket.
    tls: watch::Sender<Option<tokio_rustls::TlsAcceptor>>,
    task: tokio::task::AbortHandle,
}

impl Drop for Http {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A reload (a new cluster.conf adopted, or SIGHUP: `reread`): the listener follows its
/// settings. The same address keeps its socket, and the TLS files are read again when their
/// names changed or at SIGHUP (a renewed certificate; a file that no longer loads leaves the
/// previous one in use); another address, or TLS turned off or on, opens a new listener; no
/// `http_port` closes it; a listener that could not start is tried again.
pub fn reconfigure(
    http: &mut Option<Http>,
    conf: &ccs::ClusterConf,
    node: &Node,
    node_ip: IpAddr,
    reread: bool,
) {
    let wanted = match settings(conf, node.name(), node_ip) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            None
        }
    };
    if let (Some(h), Some(s)) = (http.as_mut(), wanted.as_ref()) {
        if h.settings.addr == s.addr && h.settings.tls.is_some() == s.tls.is_some() {
            if h.settings.tls != s.tls || reread {
                match s.tls.as_ref().map(|(c, k)| tls_acceptor(c, k)).transpose() {
                    Ok(acceptor) => {
                        if acceptor.is_some() {
                            tracing::info!("HTTPS on {}: certificate and key read again", s.addr);
                        }
                        h.tls.send_replace(acceptor);
                        h.settings = s.clone();
                    }
                    Err(e) => tracing::error!("{e}; the previous certificate stays in use"),
                }
            }
            return;
        }
    }
    if http.is_none() && wanted.is_none() {
        return;
    }
    if let Some(old) = http.take() {
        tracing::info!("HTTP listener on {} closed", old.settings.addr);
    }
    if wanted.is_some() {
        *http = Http::start(conf, node, node_ip);
    }
}

impl Http {
    /// Starts the listener when cluster.conf asks for one; `None` (and the reason in the log)
    /// otherwise. Must run on the daemon's runtime.
    pub fn start(conf: &ccs::ClusterConf, node: &Node, node_ip: IpAddr) -> Option<Http> {
        match Self::try_start(conf, node, node_ip) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        }
    }

    fn try_start(
        conf: &ccs::ClusterConf,
        node: &Node,
        node_ip: IpAddr,
    ) -> Result<Option<Http>, HttpError> {
        let Some(s) = settings(conf, node.name(), node_ip)? else {
            return Ok(None);
        };
        let tls = s
            .tls
            .as_ref()
            .map(|(c, k)| tls_acceptor(c, k))
            .transpose()?;
        let listener = bind(s.addr).map_err(|source| HttpError::Bind {
            addr: s.addr,
            source,
        })?;
        let now = Instant::now();
        let (tx, rx) = watch::channel(Arc::new(Snapshot::take(node, now)));
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(
            "Status page, metrics and health checks on {scheme}://{}/",
            s.addr
        );
        let (tls, tls_rx) = watch::channel(tls);
        let task = tokio::spawn(serve(listener, tls_rx, router(rx))).abort_handle();
        Ok(Some(Http {
            tx,
            revision: node.metrics_revision(),
            built: now,
            settings: s,
            tls,
            task,
        }))
    }

    /// After each turn of the event loop: a new snapshot when something changed.
    pub fn observe(&mut self, node: &Node) {
        let now = Instant::now();
        let revision = node.metrics_revision();
        if revision == self.revision && now.duration_since(self.built) < REFRESH {
            return;
        }
        self.revision = revision;
        self.built = now;
        self.tx.send_replace(Arc::new(Snapshot::take(node, now)));
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(l)
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, HttpError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |path: &Path, why: String| HttpError::Tls {
        path: path.to_path_buf(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect())
        .map_err(|e| fail(cert, format!("no certificate: {e}")))?;
    if certs.is_empty() {
        return Err(fail(cert, "no certificate in the file".into()));
    }
    // The key's content never reaches a message: only whether it could be read.
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| fail(key, format!("no private key: {e}")))?;
    // ring rather than aws-lc-rs: no C toolchain (cmake) in the build. rustls 0.23.48 marks
    // it deprecated for lacking post-quantum key exchange, which a status page can do without.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| fail(key, format!("does not go with the certificate: {e}")))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until the runtime ends (the daemon exits).
async fn serve(
    listener: tokio::net::TcpListener,
    tls: watch::Receiver<Option<tokio_rustls::TlsAcceptor>>,
    app: Router,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors, say: wait instead of spinning.
                tracing::debug!("HTTP listener: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::debug!("HTTP: {peer}: too many connections, closed");
            continue;
        };
        let (app, tls) = (app.clone(), tls.borrow().clone());
        tokio::spawn(async move {
            let _permit = permit;
            let service = TowerToHyperService::new(app);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT);
            let result = match tls {
                None => http.serve_connection(TokioIo::new(stream), service).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => http.serve_connection(TokioIo::new(s), service).await,
                        Ok(Err(e)) => {
                            tracing::debug!("HTTPS: {peer}: handshake: {e}");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!("HTTP: {peer}: {e}");
            }
        });
    }
}

type Snap = watch::Receiver<Arc<Snapshot>>;

/// What the handlers share: the latest snapshot and the live pages' permits.
#[derive(Clone)]
struct App {
    rx: Snap,
    streams: Arc<Semaphore>,
}

fn router(rx: Snap) -> Router {
    let app = App {
        rx,
        streams: Arc::new(Semaphore::new(MAX_STREAMS)),
    };
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route("/api/status", get(api_status))
        .route("/api/events", get(api_events))
        .route("/metrics", get(metrics))
        .route("/health/node", get(health_node))
        .route("/health/service/{name}", get(health_service))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(app)
}

/// No framing, no sniffing, no scripts or styles from elsewhere (the page has none), nothing
/// cached: every answer is about now.
async fn secure_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn api_status(State(app): State<App>) -> Response {
    let page = app.rx.borrow().page.clone();
    json(page)
}

/// Server-sent events: the page's JSON now and after every change; 503 when
/// [`MAX_STREAMS`] pages are open (the page retries by itself).
async fn api_events(State(app): State<App>) -> Response {
    let Ok(permit) = app.streams.clone().try_acquire_owned() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live pages open\n".into(),
        );
    };
    let mut rx = app.rx;
    rx.mark_changed();
    let stream = futures_util::stream::unfold((rx, permit), |(mut rx, permit)| async move {
        rx.changed().await.ok()?;
        let page = rx.borrow_and_update().page.clone();
        Some((
            Ok::<_, Infallible>(SseEvent::default().data(page)),
            (rx, permit),
        ))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn text(code: StatusCode, body: String) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// 200 while this node is a member of a quorate view.
async fn health_node(State(app): State<App>) -> Response {
    let s = app.rx.borrow().clone();
    if s.quorate_member() {
        text(
            StatusCode::OK,
            format!("{}: quorate member\n", s.report.node),
        )
    } else if s.status.quorate {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}: not a member\n", s.report.node),
        )
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}: inquorate\n", s.report.node),
        )
    }
}

/// 200 on the node where the service is started (and quorate), 503 elsewhere, 404 for a
/// service cluster.conf does not have.
async fn health_service(State(app): State<App>, UrlPath(name): UrlPath<String>) -> Response {
    let s = app.rx.borrow().clone();
    let (code, body) = service_health(&s, &name);
    text(code, body)
}

/// The health of service `name` (`web` or `service:web`) as this node sees it.
pub fn service_health(s: &Snapshot, name: &str) -> (StatusCode, String) {
    let full = clustat::full_service_name(name);
    let Some(svc) = s.status.services.iter().flatten().find(|x| x.name == full) else {
        return (StatusCode::NOT_FOUND, format!("{full}: no such service\n"));
    };
    let here = &s.report.node;
    if !s.quorate_member() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{full}: {here} is not a quorate member\n"),
        );
    }
    let owner = s
        .status
        .members
        .iter()
        .find(|m| m.nodeid == svc.owner && svc.owner != 0)
        .map_or("none", |m| m.name.as_str());
    if svc.state == ServiceState::Started && svc.owner == s.local {
        (StatusCode::OK, format!("{full}: started on {here}\n"))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{full}: {} on {owner}, not here\n", svc.state.as_str()),
        )
    }
}

/// OpenMetrics for a scraper that asks for it (Prometheus does), Prometheus' classic text
/// format for everyone else (curl, `promtool check metrics`, older scrapers).
async fn metrics(State(app): State<App>, headers: axum::http::HeaderMap) -> Response {
    let s = app.rx.borrow().clone();
    let open = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match encode_metrics(s) {
        Ok(body) if open => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            classic(&body),
        )
            .into_response(),
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics\n".into(),
        ),
    }
}

/// OpenMetrics text as Prometheus' classic text format: a counter family is named like its
/// samples (`x_total`), and the `# UNIT` and `# EOF` lines go. The samples are the same.
pub fn classic(open: &str) -> String {
    let counters: std::collections::HashSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len() + 16 * counters.len());
    for line in open.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?)));
        match meta.and_then(|(p, rest)| {
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then_some((p, name, tail))
        }) {
            Some((p, name, tail)) => {
                out.push_str(p);
                out.push_str(name);
                out.push_str("_total ");
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// `/metrics` of a snapshot, in the OpenMetrics text format (which Prometheus reads).
pub fn encode_metrics(s: Arc<Snapshot>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Collector(s)));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// The snapshot as Prometheus metric families, written on each scrape.
#[derive(Debug)]
struct Collector(Arc<Snapshot>);

/// One metric value of a family: a counter or a gauge, with its labels.
fn one(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    series: &[(Vec<(&str, String)>, f64)],
) -> Result<(), std::fmt::Error> {
    let mut m = e.encode_descriptor(name, help, unit, kind)?;
    for (labels, v) in series {
        let mut fam = m.encode_family(labels)?;
        value(&mut fam, kind, *v)?;
    }
    Ok(())
}

fn value(m: &mut MetricEncoder, kind: MetricType, v: f64) -> Result<(), std::fmt::Error> {
    match kind {
        MetricType::Counter => {
            m.encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&(v as u64), None)
        }
        _ => m.encode_gauge(&v),
    }
}

fn histogram(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Vec<(&str, String)>, &Histogram)],
) -> Result<(), std::fmt::Error> {
    let mut m = e.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    for (labels, h) in series {
        let mut buckets: Vec<(f64, u64)> = h
            .bounds
            .iter()
            .copied()
            .zip(h.counts.iter().copied())
            .collect();
        let below: u64 = h.counts.iter().sum();
        buckets.push((f64::INFINITY, h.count.saturating_sub(below)));
        m.encode_family(labels)?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                h.sum, h.count, &buckets, None,
            )?;
    }
    Ok(())
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let s = &self.0;
        let r = &s.report;
        let g = |v: f64| vec![(Vec::new(), v)];
        let b = |v: bool| if v { 1.0 } else { 0.0 };
        let e = &mut e;
        one(
            e,
            "rgmanager_members",
            "Members of the current view",
            None,
            Gauge,
            &g(r.members.len() as f64),
        )?;
        one(
            e,
            "rgmanager_configured_nodes",
            "Nodes in cluster.conf",
            None,
            Gauge,
            &g(r.configured_nodes as f64),
        )?;
        one(
            e,
            "rgmanager_view_number",
            "Number of the installed membership view",
            None,
            Gauge,
            &g(r.view_number as f64),
        )?;
        one(
            e,
            "rgmanager_quorate",
            "1 while this node is in a quorate view",
            None,
            Gauge,
            &g(b(r.quorate)),
        )?;
        one(
            e,
            "rgmanager_votes",
            "Votes of the current view's members",
            None,
            Gauge,
            &g(r.votes as f64),
        )?;
        one(
            e,
            "rgmanager_expected_votes",
            "Expected votes",
            None,
            Gauge,
            &g(r.expected_votes as f64),
        )?;
        one(
            e,
            "rgmanager_quorum_votes",
            "Votes needed for quorum",
            None,
            Gauge,
            &g(r.quorum as f64),
        )?;
        one(
            e,
            "rgmanager_coordinator",
            "1 while this node coordinates the cluster",
            None,
            Gauge,
            &g(b(r.coordinator)),
        )?;
        one(
            e,
            "rgmanager_config_version",
            "config_version of the cluster.conf in force",
            None,
            Gauge,
            &g(r.config_version as f64),
        )?;
        one(
            e,
            "rgmanager_config",
            "The cluster.conf in force: its version and the first 16 hex digits of its SHA-256",
            None,
            Gauge,
            &[(
                vec![
                    ("version", r.config_version.to_string()),
                    ("hash", r.config_hash.chars().take(16).collect()),
                ],
                1.0,
            )],
        )?;

        let services = s.status.services.as_deref().unwrap_or(&[]);
        let mut states = Vec::new();
        let mut owners = Vec::new();
        let mut restarts = Vec::new();
        for svc in services {
            for st in ServiceState::ALL {
                states.push((
                    vec![
                        ("service", svc.name.clone()),
                        ("state", st.as_str().to_string()),
                    ],
                    b(svc.state == st),
                ));
            }
            if let Some(m) = s
                .status
                .members
                .iter()
                .find(|m| m.nodeid == svc.owner && svc.owner != 0)
            {
                owners.push((
                    vec![("service", svc.name.clone()), ("node", m.name.clone())],
                    1.0,
                ));
            }
            restarts.push((vec![("service", svc.name.clone())], svc.restarts as f64));
        }
        one(
            e,
            "rgmanager_service_state",
            "1 for the state each service is in",
            None,
            Gauge,
            &states,
        )?;
        one(
            e,
            "rgmanager_service_owner",
            "The node that owns each service",
            None,
            Gauge,
            &owners,
        )?;
        one(
            e,
            "rgmanager_service_restarts",
            "Restarts counted against each service's restart policy",
            None,
            Gauge,
            &restarts,
        )?;
        let names_here: Vec<_> = services
            .iter()
            .map(|x| {
                (
                    vec![("service", x.name.clone())],
                    b(r.running_here
                        .iter()
                        .any(|h| *h == x.name || clustat::full_service_name(h) == x.name)),
                )
            })
            .collect();
        one(
            e,
            "rgmanager_service_running_here",
            "1 for services this node's agents run",
            None,
            Gauge,
            &names_here,
        )?;
        let by_service = |v: &[(String, u64)]| -> Vec<(Vec<(&str, String)>, f64)> {
            v.iter()
                .map(|(n, c)| (vec![("service", clustat::full_service_name(n))], *c as f64))
                .collect()
        };
        one(
            e,
            "rgmanager_service_transitions",
            "Changes of each service's state or owner seen here",
            None,
            Counter,
            &by_service(&r.transitions),
        )?;
        one(
            e,
            "rgmanager_status_check_failures",
            "Periodic status checks that found a service failed here",
            None,
            Counter,
            &by_service(&r.status_failures),
        )?;

        let per_node =
            |f: fn(&crate::node::metrics::FenceStats) -> u64| -> Vec<(Vec<(&str, String)>, f64)> {
                r.fence
                    .iter()
                    .map(|(n, st)| (vec![("node", n.clone())], f(st) as f64))
                    .collect()
            };
        one(
            e,
            "rgmanager_fence_attempts",
            "Fence runs this node started against each node",
            None,
            Counter,
            &per_node(|s| s.attempts),
        )?;
        one(
            e,
            "rgmanager_fence_successes",
            "Fence runs that confirmed the node's power-off",
            None,
            Counter,
            &per_node(|s| s.successes),
        )?;
        one(
            e,
            "rgmanager_fence_failures",
            "Fence runs that ended unconfirmed",
            None,
            Counter,
            &per_node(|s| s.failures),
        )?;
        let fence_h: Vec<_> = r
            .fence
            .iter()
            .map(|(n, st)| (vec![("node", n.clone())], &st.duration))
            .collect();
        histogram(
            e,
            "rgmanager_fence_duration",
            "From a fence run's start to the power-off's confirmation",
            &fence_h,
        )?;
        histogram(
            e,
            "rgmanager_failover_fenced",
            "From a node's failure to its fencing",
            &[(Vec::new(), &r.failover_fenced)],
        )?;
        histogram(
            e,
            "rgmanager_failover_started",
            "From a node's failure to each of its services started elsewhere",
            &[(Vec::new(), &r.failover_started)],
        )?;

        let ops: Vec<_> = r
            .ops
            .iter()
            .map(|(svc, op, st)| {
                (
                    vec![
                        ("service", clustat::full_service_name(svc)),
                        ("operation", op.to_string()),
                    ],
                    st.operations as f64,
                )
            })
            .collect();
        let fails: Vec<_> = r
            .ops
            .iter()
            .map(|(svc, op, st)| {
                (
                    vec![
                        ("service", clustat::full_service_name(svc)),
                        ("operation", op.to_string()),
                    ],
                    st.failures as f64,
                )
            })
            .collect();
        one(
            e,
            "rgmanager_agent_operations",
            "Resource agent operations run here",
            None,
            Counter,
            &ops,
        )?;
        one(
            e,
            "rgmanager_agent_failures",
            "Resource agent operations that failed here",
            None,
            Counter,
            &fails,
        )?;
        let op_h: Vec<_> = r
            .op_duration
            .iter()
            .map(|(op, h)| (vec![("operation", op.to_string())], h))
            .collect();
        histogram(
            e,
            "rgmanager_agent_duration",
            "Duration of resource agent operations run here",
            &op_h,
        )?;

        let dropped: Vec<_> = r
            .dropped
            .iter()
            .map(|(ch, why, n)| {
                (
                    vec![("channel", ch.to_string()), ("reason", why.to_string())],
                    *n as f64,
                )
            })
            .collect();
        one(
            e,
            "rgmanager_datagrams_dropped",
            "Datagrams dropped, by channel and reason",
            None,
            Counter,
            &dropped,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(rm: &str, node1: &str) -> ccs::ClusterConf {
        ccs::parse_str(&format!(
            r#"<cluster name="c" config_version="1"><clusternodes>
<clusternode name="n1" nodeid="1" {node1}/><clusternode name="n2" nodeid="2"/>
</clusternodes><rm {rm}/></cluster>"#
        ))
        .unwrap()
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    #[test]
    fn off_without_http_port_and_on_the_node_address_by_default() {
        assert_eq!(settings(&conf("", ""), "n1", IP).unwrap(), None);
        assert_eq!(
            settings(&conf(r#"http_address="0.0.0.0""#, ""), "n1", IP).unwrap(),
            None
        );
        let s = settings(&conf(r#"http_port="8084""#, ""), "n1", IP)
            .unwrap()
            .unwrap();
        assert_eq!(s.addr, "10.0.0.1:8084".parse().unwrap());
        assert_eq!(s.tls, None);
    }

    #[test]
    fn node_port_address_and_tls_from_the_configuration() {
        let c = conf(
            r#"http_port="8084" http_address="::1" http_tls_cert="/c.pem" http_tls_key="/k.pem""#,
            r#"rgm_http_port="9000""#,
        );
        let s = settings(&c, "n1", IP).unwrap().unwrap();
        assert_eq!(s.addr, "[::1]:9000".parse().unwrap());
        assert_eq!(s.tls, Some(("/c.pem".into(), "/k.pem".into())));
        // n2 has no port of its own.
        assert_eq!(settings(&c, "n2", IP).unwrap().unwrap().addr.port(), 8084);
    }

    #[test]
    fn settings_that_cannot_work_say_why() {
        let half = conf(r#"http_port="8084" http_tls_cert="/c.pem""#, "");
        assert!(matches!(settings(&half, "n1", IP), Err(HttpError::HalfTls)));
        let e = settings(&conf(r#"http_port="0""#, ""), "n1", IP).unwrap_err();
        assert_eq!(
            e.to_string(),
            "<rm http_port=\"0\">: not a port (1..65535): the HTTP listener is off"
        );
        let e = settings(&conf(r#"http_port="80" http_address="web1""#, ""), "n1", IP)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("<rm http_address=\"web1\">: "), "{e}");
    }

    #[test]
    fn tls_files_that_do_not_load_name_the_file_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(&key, "SECRET-KEY-MATERIAL").unwrap();
        let e = tls_acceptor(&cert, &key).err().unwrap().to_string();
        assert!(e.starts_with(&format!("{}: ", cert.display())), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
    }

    #[test]
    fn classic_text_names_counter_families_like_their_samples() {
        let open = "# HELP a_b Things.\n# TYPE a_b counter\na_b_total{x=\"1\"} 3\n\
                    # HELP d Durations.\n# TYPE d histogram\n# UNIT d seconds\nd_seconds_sum 1.0\n\
                    # HELP g A gauge.\n# TYPE g gauge\ng 2\n# EOF\n";
        assert_eq!(
            classic(open),
            "# HELP a_b_total Things.\n# TYPE a_b_total counter\na_b_total{x=\"1\"} 3\n\
             # HELP d Durations.\n# TYPE d histogram\nd_seconds_sum 1.0\n\
             # HELP g A gauge.\n# TYPE g gauge\ng 2\n"
        );
    }
}
