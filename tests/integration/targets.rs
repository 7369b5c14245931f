//! Real servers on 127.0.0.1 for check tests: HTTP, HTTPS, TCP and DNS targets.
//!
//! Each target binds a free port, serves from its own thread and runtime (so it keeps
//! answering whatever the test's runtime is doing), takes new behaviour at any time
//! through shared state, and stops when dropped.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// A server's thread and runtime; stopping it drops every task and socket it owns.
struct Runner {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Runner {
    /// Runs the future `serve` makes on a new thread until stopped.
    fn start<F, Fut>(serve: F) -> Runner
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for a test target");
            runtime.block_on(async move {
                tokio::select! {
                    _ = serve() => {}
                    _ = stopped => {}
                }
            });
        });
        Runner {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn bind_tcp() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    listener
}

/// How an HTTP target answers, changeable at any time.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    delay: Duration,
    content_type: String,
    body: String,
}

/// A request an HTTP target received.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    /// The method, such as `POST`.
    pub method: String,
    /// The path, such as `/health`.
    pub path: String,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl SeenRequest {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct HttpState {
    answer: Arc<Mutex<Answer>>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

/// An HTTP server on loopback: any path answers as set, `/redirect` answers 302 to `/`.
pub struct HttpTarget {
    addr: SocketAddr,
    scheme: &'static str,
    state: HttpState,
    _runner: Runner,
}

impl HttpTarget {
    /// Starts answering 200 `ok` (text/plain) at once.
    pub fn start() -> HttpTarget {
        HttpTarget::serve("http", None)
    }

    fn serve(scheme: &'static str, tls: Option<TlsAcceptor>) -> HttpTarget {
        let listener = bind_tcp();
        let addr = listener.local_addr().expect("a bound address");
        let state = HttpState {
            answer: Arc::new(Mutex::new(Answer {
                status: 200,
                delay: Duration::ZERO,
                content_type: "text/plain".to_owned(),
                body: "ok".to_owned(),
            })),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let served = state.clone();
        let runner = Runner::start(move || async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            while let Ok((stream, _)) = listener.accept().await {
                let state = served.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            // A client that rejects the certificate ends the handshake: nothing to serve.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve_connection(stream, state).await;
                            }
                        }
                        None => serve_connection(stream, state).await,
                    }
                });
            }
        });
        HttpTarget {
            addr,
            scheme,
            state,
            _runner: runner,
        }
    }

    /// The URL of `path` (which starts with `/`) on this target.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// Answers with `status` from now on.
    pub fn set_status(&self, status: u16) {
        lock(&self.state.answer).status = status;
    }

    /// Answers with `body` of `content_type` from now on.
    pub fn set_body(&self, content_type: &str, body: &str) {
        let mut answer = lock(&self.state.answer);
        answer.content_type = content_type.to_owned();
        answer.body = body.to_owned();
    }

    /// Answers 500 from now on.
    pub fn fail(&self) {
        self.set_status(500);
    }

    /// Waits `delay` before each answer from now on.
    pub fn slow_down(&self, delay: Duration) {
        lock(&self.state.answer).delay = delay;
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.state.seen).clone()
    }
}

async fn serve_connection<S>(stream: S, state: HttpState)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| answer(request, state.clone()));
    // A client that hangs up early (a check timing out) is not the target's problem.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn answer(
    request: Request<Incoming>,
    state: HttpState,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let headers = request
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = request.into_body().collect().await?.to_bytes();
    lock(&state.seen).push(SeenRequest {
        method,
        path: path.clone(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let answer = lock(&state.answer).clone();
    if path == "/redirect" {
        return Ok(Response::builder()
            .status(StatusCode::FOUND)
            .header("location", "/")
            .body(Full::new(Bytes::new()))
            .unwrap_or_default());
    }
    tokio::time::sleep(answer.delay).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok(Response::builder()
        .status(status)
        .header("content-type", answer.content_type)
        .body(Full::new(Bytes::from(answer.body)))
        .unwrap_or_default())
}

/// An [`HttpTarget`] over TLS with a self-signed certificate for `127.0.0.1` and `localhost`.
pub struct HttpsTarget {
    http: HttpTarget,
    expires_at: DateTime<Utc>,
}

impl HttpsTarget {
    /// Starts with a fresh certificate whose notAfter is `valid_days` from now.
    pub fn start(valid_days: i64) -> HttpsTarget {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs();
        let now = i64::try_from(now).expect("the clock fits in i64");
        let expires_unix = now + valid_days * 86_400;
        let expires_at = DateTime::from_timestamp(expires_unix, 0).expect("a representable expiry");

        let key = rcgen::KeyPair::generate().expect("a key pair");
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("valid subject names");
        // rcgen takes a `time` date; adding a std Duration to its epoch avoids depending on `time`.
        let expires_secs = u64::try_from(expires_unix).expect("an expiry after 1970");
        params.not_after = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(expires_secs);
        let cert = params.self_signed(&key).expect("a self-signed certificate");

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("default TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key.into())
            .expect("the certificate matches its key");
        let http = HttpTarget::serve("https", Some(TlsAcceptor::from(Arc::new(config))));
        HttpsTarget { http, expires_at }
    }

    /// The notAfter of the certificate this target shows.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

/// Controlled exactly like an [`HttpTarget`]; only the scheme and certificate differ.
impl Deref for HttpsTarget {
    type Target = HttpTarget;

    fn deref(&self) -> &HttpTarget {
        &self.http
    }
}

/// A TCP listener on loopback that accepts every connection until closed.
pub struct TcpTarget {
    addr: SocketAddr,
    runner: Runner,
}

impl TcpTarget {
    /// Starts accepting at once.
    pub fn start() -> TcpTarget {
        let listener = bind_tcp();
        let addr = listener.local_addr().expect("a bound address");
        let runner = Runner::start(move || async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            while let Ok((stream, _)) = listener.accept().await {
                drop(stream);
            }
        });
        TcpTarget { addr, runner }
    }

    /// The port it listens on (and, after [`TcpTarget::close`], refuses on).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops listening: connections are refused from now on.
    pub fn close(&mut self) {
        self.runner.stop();
    }
}

/// Records by (lower-case name without the final dot, type).
type Zone = HashMap<(String, RecordType), Vec<RData>>;

/// A UDP DNS server on loopback answering the records set on it, NXDOMAIN for unknown names.
pub struct DnsTarget {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    _runner: Runner,
}

impl DnsTarget {
    /// Starts with no records: every name is NXDOMAIN.
    pub fn start() -> DnsTarget {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free loopback port");
        socket.set_nonblocking(true).expect("a non-blocking socket");
        let addr = socket.local_addr().expect("a bound address");
        let zone = Arc::new(Mutex::new(Zone::new()));
        let served = zone.clone();
        let runner = Runner::start(move || async move {
            let socket = tokio::net::UdpSocket::from_std(socket).expect("a tokio socket");
            let mut buf = vec![0u8; 4096];
            while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let reply = reply_to(&query, &lock(&served));
                if let Ok(bytes) = reply.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        DnsTarget {
            addr,
            zone,
            _runner: runner,
        }
    }

    /// The `ip:port` to put in a monitor's `resolver`.
    pub fn resolver(&self) -> String {
        self.addr.to_string()
    }

    /// Makes `name` answer these A records (replacing any).
    pub fn set_a(&self, name: &str, addrs: &[Ipv4Addr]) {
        let records = addrs.iter().map(|a| RData::A(A(*a))).collect();
        lock(&self.zone).insert((zone_key(name), RecordType::A), records);
    }

    /// Makes `name` answer these TXT records, one string each (replacing any).
    pub fn set_txt(&self, name: &str, texts: &[&str]) {
        let records = texts
            .iter()
            .map(|t| RData::TXT(TXT::new(vec![(*t).to_owned()])))
            .collect();
        lock(&self.zone).insert((zone_key(name), RecordType::TXT), records);
    }
}

fn zone_key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn reply_to(query: &Message, zone: &Zone) -> Message {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.message_type = MessageType::Response;
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_queries(query.queries.iter().cloned());
    let Some(question) = query.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply;
    };
    let name = zone_key(&question.name().to_ascii());
    let known = zone.keys().any(|(n, _)| *n == name);
    match zone.get(&(name, question.query_type())) {
        Some(records) => {
            for data in records {
                reply.add_answer(Record::from_rdata(
                    Name::clone(question.name()),
                    60,
                    data.clone(),
                ));
            }
        }
        // The name exists with other types: an empty NOERROR answer.
        None if known => {}
        None => reply.metadata.response_code = ResponseCode::NXDomain,
    }
    reply
}

/// Where Debian's `prometheus-node-exporter` package puts the exporter (`scripts/test.sh` installs it).
pub const NODE_EXPORTER_BIN: &str = "/usr/bin/prometheus-node-exporter";

/// A real node_exporter on loopback, with only the collectors a scrape maps; killed when dropped.
pub struct NodeExporter {
    addr: SocketAddr,
    child: std::process::Child,
}

impl NodeExporter {
    /// Starts the exporter on a free port and waits (up to 30 s) until `/metrics` answers 200.
    pub fn start() -> NodeExporter {
        assert!(
            std::path::Path::new(NODE_EXPORTER_BIN).exists(),
            "{NODE_EXPORTER_BIN} is missing: scripts/test.sh installs Debian's prometheus-node-exporter"
        );
        // The port is free when asked for but not held: another process may take it before
        // the exporter binds, so a start that fails that way is tried again on a new port.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let addr = bind_tcp().local_addr().expect("a bound address");
            match NodeExporter::spawn(addr) {
                Ok(exporter) => return exporter,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("node_exporter did not start: {last_failure}");
    }

    fn spawn(addr: SocketAddr) -> Result<NodeExporter, String> {
        let log = std::env::var_os("TEST_LOG").is_some();
        let child = std::process::Command::new(NODE_EXPORTER_BIN)
            .arg(format!("--web.listen-address={addr}"))
            // Only what the scrape mapping reads: no collector that needs root, systemd, D-Bus
            // or hardware a container lacks, and so nothing that fails on every scrape.
            .args([
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.loadavg",
                "--collector.meminfo",
                "--collector.filesystem",
                "--collector.netdev",
                "--collector.diskstats",
                "--log.level=warn",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(if log {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            })
            .spawn()
            .map_err(|e| format!("cannot run {NODE_EXPORTER_BIN}: {e}"))?;
        // Dropped on failure below, which kills the child.
        let mut exporter = NodeExporter { addr, child };
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = exporter.child.try_wait() {
                return Err(format!("it exited with {status} (listening on {addr})"));
            }
            if metrics_answer(addr) {
                return Ok(exporter);
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(format!("/metrics on {addr} did not answer within 30 s"))
    }

    /// The full URL of its `/metrics`, as a host's `scrape_url`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `GET /metrics` on `addr` answers 200 (plain HTTP/1.0, so no client or runtime is needed).
fn metrics_answer(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && head.ends_with(b" 200")
}
