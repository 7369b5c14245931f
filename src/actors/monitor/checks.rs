//! Running one check of an `http`, `tcp`, `dns` or `ping` monitor (ping itself is in [`super::ping`]).
//!
//! A check turns a [`MonitorConfig`] into a [`CheckOutcome`] and never fails otherwise:
//! bad settings, network errors and timeouts all become an outcome that is not ok, with a
//! short reason for people. This module knows nothing of events, actors or schedules.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{ResolverBuilder, TokioResolver};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json_path::JsonPath;
use tokio::time::Instant;

use crate::domain::expect::{
    compile_regex, parse_json_path, parse_json_value, parse_record_type, parse_resolver,
    parse_status_range, DnsRecordType,
};
use crate::events::{Expectations, MonitorConfig, MonitorKind, PingStats};

/// The most of an HTTP body a check reads; expectations see only this much.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The most redirects an HTTP check follows when it follows any.
const MAX_REDIRECTS: usize = 10;

/// How many DNS answers a failed `contains` quotes; a reason must stay short.
const SHOWN_ANSWERS: usize = 5;

/// Idle keep-alive connections kept per target (scheme, host and port).
const POOL_IDLE_PER_TARGET: usize = 8;

/// How long an idle keep-alive connection is kept for the next check of its target.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The status codes accepted when a monitor lists none.
const DEFAULT_STATUS: &str = "200-299";

/// The result of one check, before it becomes a `MonitorChecked` event.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckOutcome {
    /// Whether every expectation held.
    pub ok: bool,
    /// Wall time of the check, in milliseconds.
    pub latency_ms: f64,
    /// The HTTP status code, whenever an HTTP answer arrived.
    pub status_code: Option<u16>,
    /// Why the check failed, short and for people; `None` when ok.
    pub error: Option<String>,
    /// When the server's TLS certificate expires, for HTTPS checks that completed a handshake.
    pub cert_expires_at: Option<DateTime<Utc>>,
    /// Echo requests and replies, for ping checks.
    pub ping: Option<PingStats>,
}

/// Why a [`Checker`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// An HTTP client could not be built (its TLS setup failed).
    #[error("cannot build an HTTP client for checks")]
    HttpClient(#[source] reqwest::Error),
}

/// A monitor's settings with what an HTTP check needs of them parsed once: the check of a
/// prepared config parses no URL, header or expectation again.
pub struct PreparedCheck {
    config: MonitorConfig,
    /// The request and expectations of an `http` monitor, or why they are unusable.
    http: Option<Result<HttpPlan, String>>,
}

impl PreparedCheck {
    /// Parses what the checks of `config` need, once.
    pub fn new(config: MonitorConfig) -> PreparedCheck {
        let http = (config.kind == MonitorKind::Http).then(|| HttpPlan::parse(&config));
        PreparedCheck { config, http }
    }

    /// The settings it was prepared from.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }
}

/// An HTTP check's request and expectations, parsed.
struct HttpPlan {
    url: reqwest::Url,
    method: reqwest::Method,
    headers: reqwest::header::HeaderMap,
    body: Option<String>,
    expect: HttpExpectations,
}

impl HttpPlan {
    /// Parses in the order a check reports what is wrong: url, method, headers, expectations.
    fn parse(config: &MonitorConfig) -> Result<HttpPlan, String> {
        let url = config.url.as_deref().ok_or("no url to check")?;
        let url = reqwest::Url::parse(url).map_err(|e| format!("invalid url {url:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("unsupported url scheme {:?}", url.scheme()));
        }
        let method = if config.method.is_empty() {
            reqwest::Method::GET
        } else {
            reqwest::Method::from_bytes(config.method.as_bytes())
                .map_err(|_| format!("invalid HTTP method {:?}", config.method))?
        };
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("invalid value for header {name}"))?;
            headers.append(name, value);
        }
        let body = config.body.clone();
        let expect = HttpExpectations::compile(&config.expect)?;
        Ok(HttpPlan {
            url,
            method,
            headers,
            body,
            expect,
        })
    }
}

/// Runs checks of every kind but `push`; cheap to clone, shares HTTP clients and a DNS resolver cache.
#[derive(Clone)]
pub struct Checker {
    http: Arc<HttpClients>,
    dns: Arc<Resolvers>,
}

/// One client per combination of redirect and certificate policy, since reqwest fixes both per client.
struct HttpClients {
    follow_verify: reqwest::Client,
    follow_accept_any: reqwest::Client,
    stay_verify: reqwest::Client,
    stay_accept_any: reqwest::Client,
}

impl HttpClients {
    fn build() -> Result<HttpClients, CheckError> {
        Ok(HttpClients {
            follow_verify: http_client(true, false)?,
            follow_accept_any: http_client(true, true)?,
            stay_verify: http_client(false, false)?,
            stay_accept_any: http_client(false, true)?,
        })
    }

    fn pick(&self, follow_redirects: bool, ignore_tls_errors: bool) -> &reqwest::Client {
        match (follow_redirects, ignore_tls_errors) {
            (true, false) => &self.follow_verify,
            (true, true) => &self.follow_accept_any,
            (false, false) => &self.stay_verify,
            (false, true) => &self.stay_accept_any,
        }
    }
}

fn http_client(
    follow_redirects: bool,
    ignore_tls_errors: bool,
) -> Result<reqwest::Client, CheckError> {
    let redirects = if follow_redirects {
        reqwest::redirect::Policy::limited(MAX_REDIRECTS)
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_info(true)
        .danger_accept_invalid_certs(ignore_tls_errors)
        .redirect(redirects)
        // Connections are kept alive and reused per target: a fresh one per check cost
        // more CPU than the rest of the check (socket, connect, handshake, close). A check
        // on a reused connection times the request alone, and shows the certificate the
        // connection was opened with; a dead target still fails, as its connections close.
        .pool_max_idle_per_host(POOL_IDLE_PER_TARGET)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .user_agent(concat!("watchfire/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(CheckError::HttpClient)
}

/// The system resolver and one resolver per explicitly configured DNS server.
struct Resolvers {
    system: Result<TokioResolver, String>,
    by_server: Mutex<HashMap<SocketAddr, TokioResolver>>,
}

impl Resolvers {
    fn new() -> Resolvers {
        let system = TokioResolver::builder_tokio()
            .map_err(|e| format!("system DNS configuration unusable: {e}"))
            .and_then(|builder| {
                build_resolver(builder).map_err(|e| format!("system DNS resolver unusable: {e}"))
            });
        Resolvers {
            system,
            by_server: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, server: Option<SocketAddr>) -> Result<TokioResolver, String> {
        let Some(server) = server else {
            return self.system.clone();
        };
        // A poisoned lock only means another check panicked while inserting; the map is still whole.
        let mut by_server = self.by_server.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(resolver) = by_server.get(&server) {
            return Ok(resolver.clone());
        }
        let mut udp = ConnectionConfig::udp();
        udp.port = server.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = server.port();
        let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
            server.ip(),
            true,
            vec![udp, tcp],
        )]);
        let builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        let resolver =
            build_resolver(builder).map_err(|e| format!("DNS resolver {server} unusable: {e}"))?;
        by_server.insert(server, resolver.clone());
        Ok(resolver)
    }
}

fn build_resolver(
    mut builder: ResolverBuilder<TokioRuntimeProvider>,
) -> Result<TokioResolver, NetError> {
    let options = builder.options_mut();
    // A DNS check must ask the server every time: a cached answer would report a dead
    // server as up until its TTL ran out, and /etc/hosts is not DNS.
    options.cache_size = 0;
    options.positive_max_ttl = Some(Duration::ZERO);
    options.negative_max_ttl = Some(Duration::ZERO);
    options.use_hosts_file = ResolveHosts::Never;
    builder.build()
}

/// What a check found before its latency is known and judged.
#[derive(Default)]
struct Probe {
    status_code: Option<u16>,
    cert_expires_at: Option<DateTime<Utc>>,
    ping: Option<PingStats>,
    failure: Option<String>,
}

impl Probe {
    fn failed(reason: impl Into<String>) -> Probe {
        Probe {
            failure: Some(reason.into()),
            ..Probe::default()
        }
    }
}

impl Checker {
    /// Builds the HTTP clients and reads the system DNS configuration.
    pub fn new() -> Result<Checker, CheckError> {
        Ok(Checker {
            http: Arc::new(HttpClients::build()?),
            dns: Arc::new(Resolvers::new()),
        })
    }

    /// Runs one check of `config`; never panics on bad input and never takes (much) longer than config.timeout_ms.
    pub async fn check(&self, config: &MonitorConfig) -> CheckOutcome {
        self.check_prepared(&PreparedCheck::new(config.clone()))
            .await
    }

    /// Runs one check of a prepared config, as [`Checker::check`] does.
    #[tracing::instrument(level = "debug", skip_all, fields(monitor = %prepared.config.name, kind = prepared.config.kind.as_str()))]
    pub async fn check_prepared(&self, prepared: &PreparedCheck) -> CheckOutcome {
        let config = &prepared.config;
        let started = Instant::now();
        let deadline = started + Duration::from_millis(u64::from(config.timeout_ms));
        let timed_out = || Probe::failed(format!("timed out after {} ms", config.timeout_ms));
        let probe = match config.kind {
            MonitorKind::Http => tokio::time::timeout_at(deadline, self.http(prepared, deadline))
                .await
                .unwrap_or_else(|_| timed_out()),
            MonitorKind::Tcp => tokio::time::timeout_at(deadline, tcp(config))
                .await
                .unwrap_or_else(|_| timed_out()),
            MonitorKind::Dns => tokio::time::timeout_at(deadline, self.dns(config))
                .await
                .unwrap_or_else(|_| timed_out()),
            // Ping stops at the deadline itself, counting what is outstanding as lost.
            MonitorKind::Ping => {
                let (ping, failure) = super::ping::check(config, deadline).await;
                Probe {
                    ping,
                    failure,
                    ..Probe::default()
                }
            }
            MonitorKind::Push => {
                Probe::failed("push monitors are not checked: they receive heartbeats")
            }
        };
        // A ping's latency is its mean round trip, as ping(8) and Uptime Kuma report it.
        let latency_ms = probe
            .ping
            .as_ref()
            .and_then(|p| p.rtt_avg_ms)
            .unwrap_or_else(|| started.elapsed().as_secs_f64() * 1000.0);
        let failure = probe.failure.or_else(|| {
            config
                .expect
                .max_latency_ms
                .filter(|&max| latency_ms > f64::from(max))
                .map(|max| format!("latency {latency_ms:.0} ms over {max} ms"))
        });
        CheckOutcome {
            ok: failure.is_none(),
            latency_ms,
            status_code: probe.status_code,
            error: failure,
            cert_expires_at: probe.cert_expires_at,
            ping: probe.ping,
        }
    }

    async fn http(&self, prepared: &PreparedCheck, deadline: Instant) -> Probe {
        let config = &prepared.config;
        let plan = match &prepared.http {
            Some(Ok(plan)) => plan,
            Some(Err(reason)) => return Probe::failed(reason.clone()),
            None => return Probe::failed("not an http monitor"),
        };
        let expect = &plan.expect;
        let client = self
            .http
            .pick(config.follow_redirects, config.ignore_tls_errors);
        let mut request = client
            .request(plan.method.clone(), plan.url.clone())
            .headers(plan.headers.clone());
        if let Some(body) = &plan.body {
            request = request.body(body.clone());
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Probe::failed(describe_http_error(&e)),
        };
        let status = response.status().as_u16();
        let cert_expires_at = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .and_then(certificate_not_after);
        let answered = |failure: Option<String>| Probe {
            status_code: Some(status),
            cert_expires_at,
            ping: None,
            failure,
        };
        let body = match tokio::time::timeout_at(deadline, read_body(&mut response)).await {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => {
                return answered(Some(format!(
                    "reading the body failed: {}",
                    describe_http_error(&e)
                )))
            }
            Err(_) => {
                return answered(Some(format!(
                    "timed out after {} ms reading the body",
                    config.timeout_ms
                )))
            }
        };
        answered(expect.judge(status, &String::from_utf8_lossy(&body)).err())
    }

    async fn dns(&self, config: &MonitorConfig) -> Probe {
        let Some(host) = config.host.as_deref().filter(|h| !h.is_empty()) else {
            return Probe::failed("no host to look up");
        };
        let record_type = match config.record_type.as_deref() {
            Some(spec) => match parse_record_type(spec) {
                Ok(record_type) => record_type,
                Err(reason) => return Probe::failed(reason),
            },
            None => DnsRecordType::A,
        };
        let server = match config.resolver.as_deref().map(parse_resolver).transpose() {
            Ok(server) => server,
            Err(reason) => return Probe::failed(reason),
        };
        let resolver = match self.dns.get(server) {
            Ok(resolver) => resolver,
            Err(reason) => return Probe::failed(reason),
        };
        let wanted = hickory_type(record_type);
        let lookup = match resolver.lookup(host, wanted).await {
            Ok(lookup) => lookup,
            Err(e) => return Probe::failed(describe_dns_error(&e, host, wanted)),
        };
        let answers: Vec<String> = lookup
            .answers()
            .iter()
            .filter(|record| record.record_type() == wanted)
            .filter_map(|record| render_rdata(&record.data))
            .collect();
        if answers.is_empty() {
            return Probe::failed(format!("no {wanted} records for {host}"));
        }
        match &config.expect.contains {
            Some(needle) if !answers.iter().any(|a| a.contains(needle.as_str())) => {
                let mut got = answers[..answers.len().min(SHOWN_ANSWERS)].join(", ");
                if answers.len() > SHOWN_ANSWERS {
                    got.push_str(", …");
                }
                Probe::failed(format!(
                    "no {wanted} answer contains {needle:?} (got {got})"
                ))
            }
            _ => Probe::default(),
        }
    }
}

async fn tcp(config: &MonitorConfig) -> Probe {
    let Some(host) = config.host.as_deref().filter(|h| !h.is_empty()) else {
        return Probe::failed("no host to connect to");
    };
    let Some(port) = config.port else {
        return Probe::failed("no port to connect to");
    };
    // `[::1]` is how people write an IPv6 host next to a port; the resolver wants it bare.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match tokio::net::TcpStream::connect((host, port)).await {
        Ok(_) => Probe::default(),
        Err(e) => Probe::failed(describe_io_error(&e)),
    }
}

/// The compiled form of the expectations an HTTP answer must meet.
struct HttpExpectations {
    status: Vec<RangeInclusive<u16>>,
    status_text: String,
    body_contains: Option<String>,
    body_regex: Option<regex::Regex>,
    json_path: Option<(String, JsonPath, serde_json::Value)>,
}

impl HttpExpectations {
    fn compile(expect: &Expectations) -> Result<HttpExpectations, String> {
        let specs: Vec<&str> = if expect.status.is_empty() {
            vec![DEFAULT_STATUS]
        } else {
            expect.status.iter().map(String::as_str).collect()
        };
        let status = specs
            .iter()
            .map(|spec| parse_status_range(spec))
            .collect::<Result<Vec<_>, _>>()?;
        let body_regex = expect
            .body_regex
            .as_deref()
            .map(compile_regex)
            .transpose()?;
        let json_path = match &expect.json_path {
            Some(jp) => Some((
                jp.path.clone(),
                parse_json_path(&jp.path)?,
                parse_json_value(&jp.equals)?,
            )),
            None => None,
        };
        Ok(HttpExpectations {
            status,
            status_text: specs.join(", "),
            body_contains: expect.body_contains.clone(),
            body_regex,
            json_path,
        })
    }

    /// `Err` says the first expectation that does not hold.
    fn judge(&self, status: u16, body: &str) -> Result<(), String> {
        if !self.status.iter().any(|range| range.contains(&status)) {
            return Err(format!("status {status} not in {}", self.status_text));
        }
        if let Some(needle) = &self.body_contains {
            if !body.contains(needle) {
                return Err(format!("body does not contain {needle:?}"));
            }
        }
        if let Some(re) = &self.body_regex {
            if !re.is_match(body) {
                return Err(format!("body does not match {:?}", re.as_str()));
            }
        }
        if let Some((text, path, expected)) = &self.json_path {
            let value: serde_json::Value = serde_json::from_str(body)
                .map_err(|e| format!("body is not JSON ({e}), so {text} cannot be read"))?;
            match path.query(&value).first() {
                None => return Err(format!("{text} matches nothing, expected {expected}")),
                Some(found) if found != expected => {
                    return Err(format!("{text} is {found}, expected {expected}"))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

async fn read_body(response: &mut reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY_BYTES {
            break;
        }
    }
    Ok(body)
}

fn certificate_not_after(der: &[u8]) -> Option<DateTime<Utc>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
}

/// A short reason for an HTTP failure: the innermost cause says the most.
fn describe_http_error(e: &reqwest::Error) -> String {
    if e.is_redirect() {
        return format!("more than {MAX_REDIRECTS} redirects");
    }
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    let mut innermost: &(dyn StdError + 'static) = e;
    let mut next: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(cause) = next {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(short) = short_io_reason(io) {
                return short.to_owned();
            }
        }
        innermost = cause;
        next = cause.source();
    }
    if e.is_connect() {
        format!("connect failed: {innermost}")
    } else {
        innermost.to_string()
    }
}

fn describe_io_error(e: &std::io::Error) -> String {
    short_io_reason(e).map_or_else(|| e.to_string(), str::to_owned)
}

fn short_io_reason(e: &std::io::Error) -> Option<&'static str> {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => Some("connection refused"),
        ErrorKind::ConnectionReset => Some("connection reset"),
        ErrorKind::ConnectionAborted => Some("connection aborted"),
        ErrorKind::HostUnreachable => Some("host unreachable"),
        ErrorKind::NetworkUnreachable => Some("network unreachable"),
        _ => None,
    }
}

fn describe_dns_error(e: &NetError, host: &str, wanted: RecordType) -> String {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(no))
            if no.response_code == ResponseCode::NXDomain =>
        {
            format!("{host} does not exist (NXDOMAIN)")
        }
        NetError::Dns(DnsError::NoRecordsFound(_)) => format!("no {wanted} records for {host}"),
        NetError::Dns(DnsError::ResponseCode(code)) => {
            format!("DNS server answered {}", code.to_str())
        }
        NetError::Timeout => "DNS server did not answer".to_owned(),
        NetError::Io(io) => describe_io_error(io),
        other => format!("DNS lookup failed: {other}"),
    }
}

/// An answer as text: what `expect.contains` is matched against.
fn render_rdata(data: &RData) -> Option<String> {
    match data {
        RData::A(a) => Some(a.0.to_string()),
        RData::AAAA(aaaa) => Some(aaaa.0.to_string()),
        RData::CNAME(name) => Some(name.0.to_string()),
        RData::NS(name) => Some(name.0.to_string()),
        RData::MX(mx) => Some(format!("{} {}", mx.preference, mx.exchange)),
        RData::TXT(txt) => Some(
            txt.txt_data
                .iter()
                .map(|part| String::from_utf8_lossy(part))
                .collect(),
        ),
        _ => None,
    }
}

/// The resolver's name for a record type.
fn hickory_type(t: DnsRecordType) -> RecordType {
    match t {
        DnsRecordType::A => RecordType::A,
        DnsRecordType::Aaaa => RecordType::AAAA,
        DnsRecordType::Cname => RecordType::CNAME,
        DnsRecordType::Mx => RecordType::MX,
        DnsRecordType::Txt => RecordType::TXT,
        DnsRecordType::Ns => RecordType::NS,
    }
}
