//! The catalogue of event types: every fact watchfire can record, with its schema version.
//!
//! Payloads are encoded with bincode, which is not self-describing: add enum variants
//! only at the end, never reorder fields, and when a payload's shape changes, bump its
//! schema version and keep the old shape here so [`Event::decode`] can upcast it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::alerting::*;
use super::chain::Chain;
use super::codec::{self, CodecError};
use super::people::*;
use super::status::*;

/// What a token or user may do; ordered from least to most powerful.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May push host metrics and nothing else.
    Agent,
    /// May read everything but the raw log.
    Viewer,
    /// May change monitors, rules, channels and silences, and ack alerts.
    Operator,
    /// May do everything, including tokens, users and the raw log.
    Admin,
}

impl Role {
    /// The role's name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "agent" => Ok(Role::Agent),
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: use admin, operator, viewer or agent"
            )),
        }
    }
}

/// A data directory was initialised: the first event of every log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemInitialized {
    /// The watchfire version that created the log.
    pub server_version: String,
}

/// The server started serving.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerStarted {
    /// The watchfire version now running.
    pub server_version: String,
    /// The address it listens on.
    pub listen: String,
}

/// The server stopped on request (a crash records nothing: its absence is the evidence).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerStopped {
    /// Why it stopped, such as `SIGTERM`.
    pub reason: String,
}

/// watchfire's own health changed (log writable, disk free, projection lag).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemHealthChanged {
    /// Whether the server is ready now.
    pub ready: bool,
    /// Why it is not, one line a reason; empty when ready.
    pub reasons: Vec<String>,
}

/// Retention removed expired observations from the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetentionApplied {
    /// Observations recorded before this time were removed.
    pub cutoff: DateTime<Utc>,
    /// How many were removed in this run.
    pub removed: u64,
    /// Position of the last removed observation: every observation at or before it is gone.
    pub through_position: u64,
}

/// An API token was created; the log keeps its SHA-256 hash, never the token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenCreated {
    /// The token's id (not secret).
    pub token_id: Uuid,
    /// A name for people.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token's value, hex.
    pub token_hash: String,
    /// After this time the token is refused.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Schema 1 of [`TokenCreated`], before tokens could expire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenCreatedV1 {
    /// The token's id.
    pub token_id: Uuid,
    /// A name for people.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token's value, hex.
    pub token_hash: String,
}

impl From<TokenCreatedV1> for TokenCreated {
    fn from(v1: TokenCreatedV1) -> TokenCreated {
        TokenCreated {
            token_id: v1.token_id,
            name: v1.name,
            role: v1.role,
            token_hash: v1.token_hash,
            expires_at: None,
        }
    }
}

/// An API token was revoked and is refused from now on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRevoked {
    /// The token's id.
    pub token_id: Uuid,
}

/// One check of a monitor ran (an observation: expires with retention).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorChecked {
    /// The monitor.
    pub monitor_id: Uuid,
    /// Whether every expectation held.
    pub ok: bool,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
    /// The HTTP status code, for HTTP checks that got an answer.
    pub status_code: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When the TLS certificate expires, for HTTPS checks.
    pub cert_expires_at: Option<DateTime<Utc>>,
    /// Echo requests sent and replies received, for ping checks (schema 2).
    #[serde(default)]
    pub ping: Option<PingStats>,
}

/// What a ping check's echo requests found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PingStats {
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received in time.
    pub received: u32,
    /// The fastest round trip, in milliseconds; `None` without replies.
    pub rtt_min_ms: Option<f64>,
    /// The mean round trip, in milliseconds; `None` without replies.
    pub rtt_avg_ms: Option<f64>,
    /// The slowest round trip, in milliseconds; `None` without replies.
    pub rtt_max_ms: Option<f64>,
}

impl PingStats {
    /// The share of requests that got no reply, 0 to 100 (100 when none was sent).
    pub fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            return 100.0;
        }
        f64::from(self.sent.saturating_sub(self.received)) * 100.0 / f64::from(self.sent)
    }
}

/// Schema 1 of [`MonitorChecked`], before ping checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorCheckedV1 {
    /// The monitor.
    pub monitor_id: Uuid,
    /// Whether every expectation held.
    pub ok: bool,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
    /// The HTTP status code, for HTTP checks that got an answer.
    pub status_code: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When the TLS certificate expires, for HTTPS checks.
    pub cert_expires_at: Option<DateTime<Utc>>,
}

impl From<MonitorCheckedV1> for MonitorChecked {
    fn from(v1: MonitorCheckedV1) -> MonitorChecked {
        MonitorChecked {
            monitor_id: v1.monitor_id,
            ok: v1.ok,
            latency_ms: v1.latency_ms,
            status_code: v1.status_code,
            error: v1.error,
            cert_expires_at: v1.cert_expires_at,
            ping: None,
        }
    }
}

/// A push monitor received a heartbeat (an observation: expires with retention).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatReceived {
    /// The push monitor.
    pub monitor_id: Uuid,
    /// `true` for `status=up` (the default), `false` for `status=down`.
    pub up: bool,
    /// The `msg` the sender attached.
    pub msg: Option<String>,
    /// The `ping` the sender measured, in milliseconds.
    pub ping_ms: Option<f64>,
}

/// Usage of one mounted filesystem.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiskUsage {
    /// Where it is mounted.
    pub mountpoint: String,
    /// Size in bytes.
    pub total: u64,
    /// Used bytes.
    pub used: u64,
    /// Used share, 0 to 100.
    pub percent: f64,
}

/// A host reported its metrics (an observation: expires with retention).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostMetricsReported {
    /// The host.
    pub hostname: String,
    /// When the sample was taken, by the host's clock.
    pub sampled_at: DateTime<Utc>,
    /// CPU busy share over all cores, 0 to 100.
    pub cpu_percent: Option<f64>,
    /// CPU busy share per core.
    pub cpu_percent_per_core: Vec<f64>,
    /// Logical CPUs, as the host said (or as many as `cpu_percent_per_core` has).
    pub cpu_count: Option<u32>,
    /// Load averages over 1, 5 and 15 minutes.
    pub load_average: Option<[f64; 3]>,
    /// Memory size in bytes.
    pub memory_total: Option<u64>,
    /// Used memory in bytes.
    pub memory_used: Option<u64>,
    /// Used memory share, 0 to 100.
    pub memory_percent: Option<f64>,
    /// Every real filesystem.
    pub disks: Vec<DiskUsage>,
    /// Network and disk counters as read (bytes since boot): sent, received, read, written.
    pub counters: [Option<u64>; 4],
    /// Rates derived from the counters, bytes/s: network tx, rx, disk read, write.
    pub rates: [Option<f64>; 4],
    /// What agents that read psutil say beyond the figures above (schema 3).
    #[serde(default)]
    pub details: SampleDetails,
}

/// The facts of a sample beyond usage and byte counters: filesystem types and free space,
/// packet, error and drop counters, disk operation counts and times (schema 3 of
/// [`HostMetricsReported`]; empty when upcast from older ones).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleDetails {
    /// Per filesystem, in the order of `disks`: its device, type and free bytes.
    pub filesystems: Vec<FilesystemDetails>,
    /// Network counters since boot: packets sent, packets received, errors in, errors out,
    /// drops in, drops out.
    pub network: [Option<u64>; 6],
    /// Disk counters since boot: reads, writes, milliseconds reading, milliseconds writing.
    pub disk_io: [Option<u64>; 4],
}

/// The device, type and free space of one mounted filesystem.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FilesystemDetails {
    /// Where it is mounted (the `mountpoint` of its [`DiskUsage`]).
    pub mountpoint: String,
    /// The device it lives on, such as `/dev/sda1`.
    pub device: Option<String>,
    /// Its filesystem type, such as `ext4`.
    pub fstype: Option<String>,
    /// Bytes free to unprivileged users (may be less than `total - used`).
    pub free: Option<u64>,
}

/// Schema 2 of [`HostMetricsReported`], before it kept [`SampleDetails`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostMetricsReportedV2 {
    /// The host.
    pub hostname: String,
    /// When the sample was taken, by the host's clock.
    pub sampled_at: DateTime<Utc>,
    /// CPU busy share over all cores, 0 to 100.
    pub cpu_percent: Option<f64>,
    /// CPU busy share per core.
    pub cpu_percent_per_core: Vec<f64>,
    /// Logical CPUs, as the host said (or as many as `cpu_percent_per_core` has).
    pub cpu_count: Option<u32>,
    /// Load averages over 1, 5 and 15 minutes.
    pub load_average: Option<[f64; 3]>,
    /// Memory size in bytes.
    pub memory_total: Option<u64>,
    /// Used memory in bytes.
    pub memory_used: Option<u64>,
    /// Used memory share, 0 to 100.
    pub memory_percent: Option<f64>,
    /// Every real filesystem.
    pub disks: Vec<DiskUsage>,
    /// Network and disk counters as read (bytes since boot): sent, received, read, written.
    pub counters: [Option<u64>; 4],
    /// Rates derived from the counters, bytes/s: network tx, rx, disk read, write.
    pub rates: [Option<f64>; 4],
}

impl From<HostMetricsReportedV2> for HostMetricsReported {
    fn from(v2: HostMetricsReportedV2) -> HostMetricsReported {
        HostMetricsReported {
            hostname: v2.hostname,
            sampled_at: v2.sampled_at,
            cpu_percent: v2.cpu_percent,
            cpu_percent_per_core: v2.cpu_percent_per_core,
            cpu_count: v2.cpu_count,
            load_average: v2.load_average,
            memory_total: v2.memory_total,
            memory_used: v2.memory_used,
            memory_percent: v2.memory_percent,
            disks: v2.disks,
            counters: v2.counters,
            rates: v2.rates,
            details: SampleDetails::default(),
        }
    }
}

/// How many cores per-core figures stand for; `None` without any.
pub fn core_count(per_core: &[f64]) -> Option<u32> {
    u32::try_from(per_core.len()).ok().filter(|n| *n > 0)
}

/// Schema 1 of [`HostMetricsReported`], before it kept the host's CPU count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostMetricsReportedV1 {
    /// The host.
    pub hostname: String,
    /// When the sample was taken, by the host's clock.
    pub sampled_at: DateTime<Utc>,
    /// CPU busy share over all cores, 0 to 100.
    pub cpu_percent: Option<f64>,
    /// CPU busy share per core.
    pub cpu_percent_per_core: Vec<f64>,
    /// Load averages over 1, 5 and 15 minutes.
    pub load_average: Option<[f64; 3]>,
    /// Memory size in bytes.
    pub memory_total: Option<u64>,
    /// Used memory in bytes.
    pub memory_used: Option<u64>,
    /// Used memory share, 0 to 100.
    pub memory_percent: Option<f64>,
    /// Every real filesystem.
    pub disks: Vec<DiskUsage>,
    /// Network and disk counters as read (bytes since boot): sent, received, read, written.
    pub counters: [Option<u64>; 4],
    /// Rates derived from the counters, bytes/s: network tx, rx, disk read, write.
    pub rates: [Option<f64>; 4],
}

impl From<HostMetricsReportedV1> for HostMetricsReported {
    fn from(v1: HostMetricsReportedV1) -> HostMetricsReported {
        HostMetricsReported {
            hostname: v1.hostname,
            sampled_at: v1.sampled_at,
            cpu_percent: v1.cpu_percent,
            cpu_count: core_count(&v1.cpu_percent_per_core),
            cpu_percent_per_core: v1.cpu_percent_per_core,
            load_average: v1.load_average,
            memory_total: v1.memory_total,
            memory_used: v1.memory_used,
            memory_percent: v1.memory_percent,
            disks: v1.disks,
            counters: v1.counters,
            rates: v1.rates,
            details: SampleDetails::default(),
        }
    }
}

/// A host was registered: by its first push, or added to be scraped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostRegistered {
    /// The host's name, a DNS name.
    pub hostname: String,
    /// The node_exporter `/metrics` URL the server scrapes; `None` for a host that pushes.
    pub scrape_url: Option<String>,
    /// Seconds between samples, when known (scraped hosts, or an agent that says so).
    pub interval_s: Option<u32>,
    /// Seconds of silence after which the host is stale; `None` for three intervals.
    pub stale_after_s: Option<u32>,
    /// Labels alert rules and silences match on.
    pub tags: Vec<String>,
}

/// A host by name, for the events that carry nothing else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostRef {
    /// The host.
    pub hostname: String,
}

/// A host reported nothing for its whole window: the dead man's switch tripped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostWentStale {
    /// The host.
    pub hostname: String,
    /// When its last sample arrived, if one ever did.
    pub last_seen: Option<DateTime<Utc>>,
    /// The window of silence, in seconds, that made it stale.
    pub window_s: u32,
}

/// Scraping a host's node_exporter failed (an observation: expires with retention).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostScrapeFailed {
    /// The host.
    pub hostname: String,
    /// Why, in words.
    pub error: String,
}

/// What a monitor checks.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorKind {
    /// An HTTP(S) request.
    Http,
    /// A TCP connection.
    Tcp,
    /// A DNS lookup.
    Dns,
    /// Heartbeats pushed to the server.
    Push,
    /// ICMP echo requests (ping).
    Ping,
}

impl MonitorKind {
    /// The kind as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorKind::Http => "http",
            MonitorKind::Tcp => "tcp",
            MonitorKind::Dns => "dns",
            MonitorKind::Push => "push",
            MonitorKind::Ping => "ping",
        }
    }
}

/// A JSON path whose value must equal an expected JSON value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonPathExpectation {
    /// An RFC 9535 JSON path, such as `$.status`.
    pub path: String,
    /// The expected value, as JSON text.
    pub equals: String,
}

/// What a check's answer must satisfy to count as up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Expectations {
    /// Accepted HTTP status codes and ranges, such as `200-299` or `301`.
    pub status: Vec<String>,
    /// A substring the body must contain.
    pub body_contains: Option<String>,
    /// A regular expression the body must match.
    pub body_regex: Option<String>,
    /// A JSON path in the body and the value it must have.
    pub json_path: Option<JsonPathExpectation>,
    /// The slowest acceptable answer, in milliseconds.
    pub max_latency_ms: Option<u32>,
    /// A substring one DNS answer must contain.
    pub contains: Option<String>,
}

/// Everything a monitor's owner can set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// A name for people.
    pub name: String,
    /// What it checks.
    pub kind: MonitorKind,
    /// The URL, for `http`.
    pub url: Option<String>,
    /// The host, for `tcp` and `dns`.
    pub host: Option<String>,
    /// The port, for `tcp`.
    pub port: Option<u16>,
    /// The record type, for `dns` (`A`, `AAAA`, `CNAME`, `MX`, `TXT`, `NS`).
    pub record_type: Option<String>,
    /// The DNS server to ask (`ip` or `ip:port`), for `dns`; the system's when unset.
    pub resolver: Option<String>,
    /// Seconds between checks (for `push`: the longest gap between heartbeats).
    pub interval_s: u32,
    /// How long one check may take, in milliseconds.
    pub timeout_ms: u32,
    /// Consecutive failures before the monitor is down.
    pub retries: u32,
    /// Consecutive successes before a down monitor is up again.
    pub recover_after: u32,
    /// The HTTP method.
    pub method: String,
    /// HTTP request headers.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The HTTP request body.
    pub body: Option<String>,
    /// Whether to follow HTTP redirects.
    pub follow_redirects: bool,
    /// Whether to accept any TLS certificate (self-signed, expired, wrong name).
    pub ignore_tls_errors: bool,
    /// What the answer must satisfy.
    pub expect: Expectations,
    /// Warn this many days before the TLS certificate expires.
    pub cert_expiry_days: Option<u32>,
    /// Extra seconds a push monitor waits for a late heartbeat.
    pub grace_s: u32,
    /// Labels for filtering.
    pub tags: Vec<String>,
    /// Packet count, per-packet timeout and loss threshold, for `ping` (schema 2).
    #[serde(default)]
    pub ping: Option<PingSettings>,
}

/// How a `ping` monitor pings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PingSettings {
    /// Echo requests per check, 1 to 10.
    pub count: u8,
    /// How long each request waits for its reply, in milliseconds.
    pub packet_timeout_ms: u32,
    /// The most loss, in percent, that still counts as up; `None`: up while any reply came.
    pub max_loss_percent: Option<u8>,
}

/// Schema 1 of [`MonitorConfig`] (in `MonitorCreated` and `MonitorUpdated` v1), before ping monitors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfigV1 {
    /// A name for people.
    pub name: String,
    /// What it checks.
    pub kind: MonitorKind,
    /// The URL, for `http`.
    pub url: Option<String>,
    /// The host, for `tcp` and `dns`.
    pub host: Option<String>,
    /// The port, for `tcp`.
    pub port: Option<u16>,
    /// The record type, for `dns` (`A`, `AAAA`, `CNAME`, `MX`, `TXT`, `NS`).
    pub record_type: Option<String>,
    /// The DNS server to ask (`ip` or `ip:port`), for `dns`; the system's when unset.
    pub resolver: Option<String>,
    /// Seconds between checks (for `push`: the longest gap between heartbeats).
    pub interval_s: u32,
    /// How long one check may take, in milliseconds.
    pub timeout_ms: u32,
    /// Consecutive failures before the monitor is down.
    pub retries: u32,
    /// Consecutive successes before a down monitor is up again.
    pub recover_after: u32,
    /// The HTTP method.
    pub method: String,
    /// HTTP request headers.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The HTTP request body.
    pub body: Option<String>,
    /// Whether to follow HTTP redirects.
    pub follow_redirects: bool,
    /// Whether to accept any TLS certificate (self-signed, expired, wrong name).
    pub ignore_tls_errors: bool,
    /// What the answer must satisfy.
    pub expect: Expectations,
    /// Warn this many days before the TLS certificate expires.
    pub cert_expiry_days: Option<u32>,
    /// Extra seconds a push monitor waits for a late heartbeat.
    pub grace_s: u32,
    /// Labels for filtering.
    pub tags: Vec<String>,
}

impl From<MonitorConfigV1> for MonitorConfig {
    fn from(v1: MonitorConfigV1) -> MonitorConfig {
        MonitorConfig {
            name: v1.name,
            kind: v1.kind,
            url: v1.url,
            host: v1.host,
            port: v1.port,
            record_type: v1.record_type,
            resolver: v1.resolver,
            interval_s: v1.interval_s,
            timeout_ms: v1.timeout_ms,
            retries: v1.retries,
            recover_after: v1.recover_after,
            method: v1.method,
            headers: v1.headers,
            body: v1.body,
            follow_redirects: v1.follow_redirects,
            ignore_tls_errors: v1.ignore_tls_errors,
            expect: v1.expect,
            cert_expiry_days: v1.cert_expiry_days,
            grace_s: v1.grace_s,
            tags: v1.tags,
            ping: None,
        }
    }
}

/// A monitor was created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorCreated {
    /// The monitor.
    pub monitor_id: Uuid,
    /// Its settings.
    pub config: MonitorConfig,
    /// Whether it starts paused.
    pub paused: bool,
    /// The secret in a push monitor's heartbeat URL.
    pub push_token: Option<String>,
}

/// A monitor's settings were changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorUpdated {
    /// The monitor.
    pub monitor_id: Uuid,
    /// Its settings now, whole.
    pub config: MonitorConfig,
}

/// Schema 1 of [`MonitorCreated`], before ping monitors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorCreatedV1 {
    /// The monitor.
    pub monitor_id: Uuid,
    /// Its settings.
    pub config: MonitorConfigV1,
    /// Whether it starts paused.
    pub paused: bool,
    /// The secret in a push monitor's heartbeat URL.
    pub push_token: Option<String>,
}

impl From<MonitorCreatedV1> for MonitorCreated {
    fn from(v1: MonitorCreatedV1) -> MonitorCreated {
        MonitorCreated {
            monitor_id: v1.monitor_id,
            config: v1.config.into(),
            paused: v1.paused,
            push_token: v1.push_token,
        }
    }
}

/// Schema 1 of [`MonitorUpdated`], before ping monitors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorUpdatedV1 {
    /// The monitor.
    pub monitor_id: Uuid,
    /// Its settings now, whole.
    pub config: MonitorConfigV1,
}

impl From<MonitorUpdatedV1> for MonitorUpdated {
    fn from(v1: MonitorUpdatedV1) -> MonitorUpdated {
        MonitorUpdated {
            monitor_id: v1.monitor_id,
            config: v1.config.into(),
        }
    }
}

/// A monitor was paused, resumed or deleted: only its id changes hands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorRef {
    /// The monitor.
    pub monitor_id: Uuid,
}

/// A monitor went down: the check (its causation) made `retries` consecutive failures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorWentDown {
    /// The monitor.
    pub monitor_id: Uuid,
    /// Why, as the last failed check said (or `no heartbeat`).
    pub reason: String,
}

/// Every fact watchfire can record. Add variants only at the end.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    /// See [`SystemInitialized`].
    SystemInitialized(SystemInitialized),
    /// See [`ServerStarted`].
    ServerStarted(ServerStarted),
    /// See [`ServerStopped`].
    ServerStopped(ServerStopped),
    /// See [`SystemHealthChanged`].
    SystemHealthChanged(SystemHealthChanged),
    /// See [`RetentionApplied`].
    RetentionApplied(RetentionApplied),
    /// See [`TokenCreated`].
    TokenCreated(TokenCreated),
    /// See [`TokenRevoked`].
    TokenRevoked(TokenRevoked),
    /// See [`MonitorChecked`].
    MonitorChecked(MonitorChecked),
    /// See [`HeartbeatReceived`].
    HeartbeatReceived(HeartbeatReceived),
    /// See [`HostMetricsReported`] (boxed: it is the largest payload by far).
    HostMetricsReported(Box<HostMetricsReported>),
    /// See [`MonitorCreated`] (boxed: a whole configuration).
    MonitorCreated(Box<MonitorCreated>),
    /// See [`MonitorUpdated`] (boxed: a whole configuration).
    MonitorUpdated(Box<MonitorUpdated>),
    /// A monitor was paused: no checks until it is resumed.
    MonitorPaused(MonitorRef),
    /// A paused monitor was resumed: it checks again, from `pending`.
    MonitorResumed(MonitorRef),
    /// A monitor was deleted; its history stays in the log.
    MonitorDeleted(MonitorRef),
    /// A pending monitor's first successful check (its causation) made it up.
    MonitorWentUp(MonitorRef),
    /// See [`MonitorWentDown`].
    MonitorWentDown(MonitorWentDown),
    /// A down monitor's check (its causation) made `recover_after` consecutive successes.
    MonitorRecovered(MonitorRef),
    /// See [`HostRegistered`].
    HostRegistered(HostRegistered),
    /// A host was deleted; its history stays in the log.
    HostDeleted(HostRef),
    /// See [`HostWentStale`].
    HostWentStale(HostWentStale),
    /// A stale host's sample (its causation) made it up again.
    HostRecovered(HostRef),
    /// See [`HostScrapeFailed`].
    HostScrapeFailed(HostScrapeFailed),
    /// A rule was created.
    AlertRuleCreated(AlertRuleDefined),
    /// A rule's settings were changed.
    AlertRuleUpdated(AlertRuleDefined),
    /// A rule was deleted; its alerts resolve.
    AlertRuleDeleted(IdRef),
    /// See [`ChannelCreated`].
    ChannelCreated(ChannelCreated),
    /// A channel was deleted.
    ChannelDeleted(IdRef),
    /// See [`SilenceCreated`].
    SilenceCreated(SilenceCreated),
    /// A silence was lifted before its end.
    SilenceDeleted(IdRef),
    /// See [`AlertOpened`].
    AlertOpened(AlertOpened),
    /// A pending alert's condition held long enough: it fires.
    AlertFired(AlertChanged),
    /// See [`AlertAcknowledged`].
    AlertAcknowledged(AlertAcknowledged),
    /// An alert's condition cleared (or its rule or subject went away).
    AlertResolved(AlertChanged),
    /// See [`NotificationRequested`].
    NotificationRequested(NotificationRequested),
    /// See [`NotificationSent`].
    NotificationSent(NotificationSent),
    /// See [`NotificationFailed`].
    NotificationFailed(NotificationFailed),
    /// See [`UserCreated`].
    UserCreated(UserCreated),
    /// A user was deleted; their sessions end.
    UserDeleted(UserRef),
    /// See [`SessionOpened`].
    SessionOpened(SessionOpened),
    /// A session ended: its user logged out.
    SessionClosed(IdRef),
    /// A channel's settings changed: the whole new settings, as [`ChannelCreated`] has them.
    ChannelUpdated(ChannelCreated),
    /// A user's role or password changed: the whole user, as [`UserCreated`] has it.
    UserUpdated(UserCreated),
    /// A status page was created: its whole settings.
    StatusPageCreated(StatusPageDefined),
    /// A status page's settings changed: the whole new settings.
    StatusPageUpdated(StatusPageDefined),
    /// A status page was deleted; its history stays in the log.
    StatusPageDeleted(StatusPageRef),
    /// See [`IncidentOpened`].
    IncidentOpened(IncidentOpened),
    /// See [`IncidentUpdated`].
    IncidentUpdated(IncidentUpdated),
    /// See [`MaintenanceScheduled`].
    MaintenanceScheduled(MaintenanceScheduled),
    /// A maintenance announcement changed: the whole announcement as it now is.
    MaintenanceUpdated(MaintenanceScheduled),
    /// A maintenance announcement was cancelled; the public no longer sees it.
    MaintenanceCancelled(MaintenanceRef),
    /// See [`IncidentEdited`].
    IncidentEdited(IncidentEdited),
}

/// Every event type name with its current schema version, for tools and golden tests.
pub const EVENT_TYPES: &[(&str, u16)] = &[
    ("SystemInitialized", 1),
    ("ServerStarted", 1),
    ("ServerStopped", 1),
    ("SystemHealthChanged", 1),
    ("RetentionApplied", 1),
    ("TokenCreated", 2),
    ("TokenRevoked", 1),
    ("MonitorChecked", 2),
    ("HeartbeatReceived", 1),
    ("HostMetricsReported", 3),
    ("MonitorCreated", 2),
    ("MonitorUpdated", 2),
    ("MonitorPaused", 1),
    ("MonitorResumed", 1),
    ("MonitorDeleted", 1),
    ("MonitorWentUp", 1),
    ("MonitorWentDown", 1),
    ("MonitorRecovered", 1),
    ("HostRegistered", 1),
    ("HostDeleted", 1),
    ("HostWentStale", 1),
    ("HostRecovered", 1),
    ("HostScrapeFailed", 1),
    ("AlertRuleCreated", 1),
    ("AlertRuleUpdated", 1),
    ("AlertRuleDeleted", 1),
    ("ChannelCreated", 2),
    ("ChannelDeleted", 1),
    ("SilenceCreated", 1),
    ("SilenceDeleted", 1),
    ("AlertOpened", 1),
    ("AlertFired", 1),
    ("AlertAcknowledged", 1),
    ("AlertResolved", 1),
    ("NotificationRequested", 1),
    ("NotificationSent", 1),
    ("NotificationFailed", 1),
    ("UserCreated", 1),
    ("UserDeleted", 1),
    ("SessionOpened", 1),
    ("SessionClosed", 1),
    ("ChannelUpdated", 2),
    ("UserUpdated", 1),
    ("StatusPageCreated", 1),
    ("StatusPageUpdated", 1),
    ("StatusPageDeleted", 1),
    ("IncidentOpened", 1),
    ("IncidentUpdated", 1),
    ("MaintenanceScheduled", 1),
    ("MaintenanceUpdated", 1),
    ("MaintenanceCancelled", 1),
    ("IncidentEdited", 1),
];

impl Event {
    /// The type name stored in the envelope.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::SystemInitialized(_) => "SystemInitialized",
            Event::ServerStarted(_) => "ServerStarted",
            Event::ServerStopped(_) => "ServerStopped",
            Event::SystemHealthChanged(_) => "SystemHealthChanged",
            Event::RetentionApplied(_) => "RetentionApplied",
            Event::TokenCreated(_) => "TokenCreated",
            Event::TokenRevoked(_) => "TokenRevoked",
            Event::MonitorChecked(_) => "MonitorChecked",
            Event::HeartbeatReceived(_) => "HeartbeatReceived",
            Event::MonitorCreated(_) => "MonitorCreated",
            Event::MonitorUpdated(_) => "MonitorUpdated",
            Event::MonitorPaused(_) => "MonitorPaused",
            Event::MonitorResumed(_) => "MonitorResumed",
            Event::MonitorDeleted(_) => "MonitorDeleted",
            Event::MonitorWentUp(_) => "MonitorWentUp",
            Event::MonitorWentDown(_) => "MonitorWentDown",
            Event::MonitorRecovered(_) => "MonitorRecovered",
            Event::HostMetricsReported(_) => "HostMetricsReported",
            Event::HostRegistered(_) => "HostRegistered",
            Event::HostDeleted(_) => "HostDeleted",
            Event::HostWentStale(_) => "HostWentStale",
            Event::HostRecovered(_) => "HostRecovered",
            Event::HostScrapeFailed(_) => "HostScrapeFailed",
            Event::AlertRuleCreated(_) => "AlertRuleCreated",
            Event::AlertRuleUpdated(_) => "AlertRuleUpdated",
            Event::AlertRuleDeleted(_) => "AlertRuleDeleted",
            Event::ChannelCreated(_) => "ChannelCreated",
            Event::ChannelDeleted(_) => "ChannelDeleted",
            Event::SilenceCreated(_) => "SilenceCreated",
            Event::SilenceDeleted(_) => "SilenceDeleted",
            Event::AlertOpened(_) => "AlertOpened",
            Event::AlertFired(_) => "AlertFired",
            Event::AlertAcknowledged(_) => "AlertAcknowledged",
            Event::AlertResolved(_) => "AlertResolved",
            Event::NotificationRequested(_) => "NotificationRequested",
            Event::NotificationSent(_) => "NotificationSent",
            Event::NotificationFailed(_) => "NotificationFailed",
            Event::UserCreated(_) => "UserCreated",
            Event::UserDeleted(_) => "UserDeleted",
            Event::SessionOpened(_) => "SessionOpened",
            Event::SessionClosed(_) => "SessionClosed",
            Event::ChannelUpdated(_) => "ChannelUpdated",
            Event::UserUpdated(_) => "UserUpdated",
            Event::StatusPageCreated(_) => "StatusPageCreated",
            Event::StatusPageUpdated(_) => "StatusPageUpdated",
            Event::StatusPageDeleted(_) => "StatusPageDeleted",
            Event::IncidentOpened(_) => "IncidentOpened",
            Event::IncidentUpdated(_) => "IncidentUpdated",
            Event::MaintenanceScheduled(_) => "MaintenanceScheduled",
            Event::MaintenanceUpdated(_) => "MaintenanceUpdated",
            Event::MaintenanceCancelled(_) => "MaintenanceCancelled",
            Event::IncidentEdited(_) => "IncidentEdited",
        }
    }

    /// The schema version this build writes for the event's type.
    pub fn schema_version(&self) -> u16 {
        let name = self.type_name();
        EVENT_TYPES
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(1, |(_, v)| *v)
    }

    /// Observations expire with retention and live on their own hash chain; facts are kept forever.
    pub fn chain(&self) -> Chain {
        match self {
            Event::MonitorChecked(_)
            | Event::HeartbeatReceived(_)
            | Event::HostMetricsReported(_)
            | Event::HostScrapeFailed(_) => Chain::Observations,
            _ => Chain::Facts,
        }
    }

    /// The payload's bytes in the current schema.
    pub fn encode_payload(&self) -> Vec<u8> {
        match self {
            Event::SystemInitialized(p) => codec::encode_payload(p),
            Event::ServerStarted(p) => codec::encode_payload(p),
            Event::ServerStopped(p) => codec::encode_payload(p),
            Event::SystemHealthChanged(p) => codec::encode_payload(p),
            Event::RetentionApplied(p) => codec::encode_payload(p),
            Event::TokenCreated(p) => codec::encode_payload(p),
            Event::TokenRevoked(p) => codec::encode_payload(p),
            Event::MonitorChecked(p) => codec::encode_payload(p),
            Event::HeartbeatReceived(p) => codec::encode_payload(p),
            Event::HostMetricsReported(p) => codec::encode_payload(p),
            Event::MonitorCreated(p) => codec::encode_payload(p),
            Event::MonitorUpdated(p) => codec::encode_payload(p),
            Event::MonitorPaused(p) => codec::encode_payload(p),
            Event::MonitorResumed(p) => codec::encode_payload(p),
            Event::MonitorDeleted(p) => codec::encode_payload(p),
            Event::MonitorWentUp(p) => codec::encode_payload(p),
            Event::MonitorWentDown(p) => codec::encode_payload(p),
            Event::MonitorRecovered(p) => codec::encode_payload(p),
            Event::HostRegistered(p) => codec::encode_payload(p),
            Event::HostDeleted(p) => codec::encode_payload(p),
            Event::HostWentStale(p) => codec::encode_payload(p),
            Event::HostRecovered(p) => codec::encode_payload(p),
            Event::HostScrapeFailed(p) => codec::encode_payload(p),
            Event::AlertRuleCreated(p) => codec::encode_payload(p),
            Event::AlertRuleUpdated(p) => codec::encode_payload(p),
            Event::AlertRuleDeleted(p) => codec::encode_payload(p),
            Event::ChannelCreated(p) => codec::encode_payload(p),
            Event::ChannelDeleted(p) => codec::encode_payload(p),
            Event::SilenceCreated(p) => codec::encode_payload(p),
            Event::SilenceDeleted(p) => codec::encode_payload(p),
            Event::AlertOpened(p) => codec::encode_payload(p),
            Event::AlertFired(p) => codec::encode_payload(p),
            Event::AlertAcknowledged(p) => codec::encode_payload(p),
            Event::AlertResolved(p) => codec::encode_payload(p),
            Event::NotificationRequested(p) => codec::encode_payload(p),
            Event::NotificationSent(p) => codec::encode_payload(p),
            Event::NotificationFailed(p) => codec::encode_payload(p),
            Event::UserCreated(p) => codec::encode_payload(p),
            Event::UserDeleted(p) => codec::encode_payload(p),
            Event::SessionOpened(p) => codec::encode_payload(p),
            Event::SessionClosed(p) => codec::encode_payload(p),
            Event::ChannelUpdated(p) => codec::encode_payload(p),
            Event::UserUpdated(p) => codec::encode_payload(p),
            Event::StatusPageCreated(p) => codec::encode_payload(p),
            Event::StatusPageUpdated(p) => codec::encode_payload(p),
            Event::StatusPageDeleted(p) => codec::encode_payload(p),
            Event::IncidentOpened(p) => codec::encode_payload(p),
            Event::IncidentUpdated(p) => codec::encode_payload(p),
            Event::MaintenanceScheduled(p) => codec::encode_payload(p),
            Event::MaintenanceUpdated(p) => codec::encode_payload(p),
            Event::MaintenanceCancelled(p) => codec::encode_payload(p),
            Event::IncidentEdited(p) => codec::encode_payload(p),
        }
    }

    /// Decodes a payload written as `type_name` at `schema`, upcasting old schemas to the current one.
    pub fn decode(type_name: &str, schema: u16, payload: &[u8]) -> Result<Event, CodecError> {
        use codec::decode_payload as d;
        let event = match (type_name, schema) {
            ("SystemInitialized", 1) => Event::SystemInitialized(d(payload)?),
            ("ServerStarted", 1) => Event::ServerStarted(d(payload)?),
            ("ServerStopped", 1) => Event::ServerStopped(d(payload)?),
            ("SystemHealthChanged", 1) => Event::SystemHealthChanged(d(payload)?),
            ("RetentionApplied", 1) => Event::RetentionApplied(d(payload)?),
            ("TokenCreated", 1) => Event::TokenCreated(d::<TokenCreatedV1>(payload)?.into()),
            ("TokenCreated", 2) => Event::TokenCreated(d(payload)?),
            ("TokenRevoked", 1) => Event::TokenRevoked(d(payload)?),
            ("MonitorChecked", 1) => Event::MonitorChecked(d::<MonitorCheckedV1>(payload)?.into()),
            ("MonitorChecked", 2) => Event::MonitorChecked(d(payload)?),
            ("HeartbeatReceived", 1) => Event::HeartbeatReceived(d(payload)?),
            ("HostMetricsReported", 1) => {
                Event::HostMetricsReported(Box::new(d::<HostMetricsReportedV1>(payload)?.into()))
            }
            ("HostMetricsReported", 2) => {
                Event::HostMetricsReported(Box::new(d::<HostMetricsReportedV2>(payload)?.into()))
            }
            ("HostMetricsReported", 3) => Event::HostMetricsReported(d(payload)?),
            ("MonitorCreated", 1) => {
                Event::MonitorCreated(Box::new(d::<MonitorCreatedV1>(payload)?.into()))
            }
            ("MonitorCreated", 2) => Event::MonitorCreated(d(payload)?),
            ("MonitorUpdated", 1) => {
                Event::MonitorUpdated(Box::new(d::<MonitorUpdatedV1>(payload)?.into()))
            }
            ("MonitorUpdated", 2) => Event::MonitorUpdated(d(payload)?),
            ("MonitorPaused", 1) => Event::MonitorPaused(d(payload)?),
            ("MonitorResumed", 1) => Event::MonitorResumed(d(payload)?),
            ("MonitorDeleted", 1) => Event::MonitorDeleted(d(payload)?),
            ("MonitorWentUp", 1) => Event::MonitorWentUp(d(payload)?),
            ("MonitorWentDown", 1) => Event::MonitorWentDown(d(payload)?),
            ("MonitorRecovered", 1) => Event::MonitorRecovered(d(payload)?),
            ("HostRegistered", 1) => Event::HostRegistered(d(payload)?),
            ("HostDeleted", 1) => Event::HostDeleted(d(payload)?),
            ("HostWentStale", 1) => Event::HostWentStale(d(payload)?),
            ("HostRecovered", 1) => Event::HostRecovered(d(payload)?),
            ("HostScrapeFailed", 1) => Event::HostScrapeFailed(d(payload)?),
            ("AlertRuleCreated", 1) => Event::AlertRuleCreated(d(payload)?),
            ("AlertRuleUpdated", 1) => Event::AlertRuleUpdated(d(payload)?),
            ("AlertRuleDeleted", 1) => Event::AlertRuleDeleted(d(payload)?),
            ("ChannelCreated", 1) => Event::ChannelCreated(d::<ChannelCreatedV1>(payload)?.into()),
            ("ChannelCreated", 2) => Event::ChannelCreated(d(payload)?),
            ("ChannelDeleted", 1) => Event::ChannelDeleted(d(payload)?),
            ("SilenceCreated", 1) => Event::SilenceCreated(d(payload)?),
            ("SilenceDeleted", 1) => Event::SilenceDeleted(d(payload)?),
            ("AlertOpened", 1) => Event::AlertOpened(d(payload)?),
            ("AlertFired", 1) => Event::AlertFired(d(payload)?),
            ("AlertAcknowledged", 1) => Event::AlertAcknowledged(d(payload)?),
            ("AlertResolved", 1) => Event::AlertResolved(d(payload)?),
            ("NotificationRequested", 1) => Event::NotificationRequested(d(payload)?),
            ("NotificationSent", 1) => Event::NotificationSent(d(payload)?),
            ("NotificationFailed", 1) => Event::NotificationFailed(d(payload)?),
            ("UserCreated", 1) => Event::UserCreated(d(payload)?),
            ("UserDeleted", 1) => Event::UserDeleted(d(payload)?),
            ("SessionOpened", 1) => Event::SessionOpened(d(payload)?),
            ("SessionClosed", 1) => Event::SessionClosed(d(payload)?),
            ("ChannelUpdated", 1) => Event::ChannelUpdated(d::<ChannelCreatedV1>(payload)?.into()),
            ("ChannelUpdated", 2) => Event::ChannelUpdated(d(payload)?),
            ("UserUpdated", 1) => Event::UserUpdated(d(payload)?),
            ("StatusPageCreated", 1) => Event::StatusPageCreated(d(payload)?),
            ("StatusPageUpdated", 1) => Event::StatusPageUpdated(d(payload)?),
            ("StatusPageDeleted", 1) => Event::StatusPageDeleted(d(payload)?),
            ("IncidentOpened", 1) => Event::IncidentOpened(d(payload)?),
            ("IncidentUpdated", 1) => Event::IncidentUpdated(d(payload)?),
            ("MaintenanceScheduled", 1) => Event::MaintenanceScheduled(d(payload)?),
            ("MaintenanceUpdated", 1) => Event::MaintenanceUpdated(d(payload)?),
            ("MaintenanceCancelled", 1) => Event::MaintenanceCancelled(d(payload)?),
            ("IncidentEdited", 1) => Event::IncidentEdited(d(payload)?),
            (name, schema) => {
                return Err(CodecError::UnknownType {
                    type_name: name.to_owned(),
                    schema,
                })
            }
        };
        Ok(event)
    }

    /// The payload as JSON, for replay output and the audit API; channel secrets redacted.
    pub fn payload_json(&self) -> serde_json::Value {
        let redacted = match self {
            Event::ChannelCreated(c) => Some(Event::ChannelCreated(redacted_channel(c))),
            Event::ChannelUpdated(c) => Some(Event::ChannelUpdated(redacted_channel(c))),
            Event::UserCreated(u) => Some(Event::UserCreated(without_hash(u))),
            Event::UserUpdated(u) => Some(Event::UserUpdated(without_hash(u))),
            _ => None,
        };
        let event = redacted.as_ref().unwrap_or(self);
        match serde_json::to_value(event) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("data").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        }
    }
}

/// A channel's settings as they may be shown: the secret and the URL's path hidden.
fn redacted_channel(c: &ChannelCreated) -> ChannelCreated {
    let mut c = c.clone();
    c.config.secret = c.config.secret.map(|_| "<redacted>".to_owned());
    c.config.url = c.config.url.map(|u| redact_url(&u));
    c.config.settings = c.config.settings.map(|s| s.redacted(redact_url));
    c
}

/// A user as they may be shown: no password hash.
fn without_hash(u: &UserCreated) -> UserCreated {
    UserCreated {
        password_hash: "<redacted>".to_owned(),
        ..u.clone()
    }
}

/// A URL cut after its host (webhook URLs carry their credential in the path).
fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{scheme}://{host}/…")
        }
        None => "<redacted>".to_owned(),
    }
}
