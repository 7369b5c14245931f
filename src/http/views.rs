//! How the API renders what the read models hold: one serializable type per body the REST
//! routes and the WebSocket topics answer with, each built from its read model by `From`
//! (or, where a figure depends on "now", by a constructor that is handed the time). The
//! OpenAPI document derives its schemas for these bodies from the same types, and the
//! `dashboard` topic's updates are merge patches between two of its views
//! ([`merge_diff`], [`merge_apply`]).
//!
//! The REST types declare their fields in the order the API has always written them
//! (alphabetical); the dashboard's keep the order of its cards.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::domain::host::{HostState, HostStatus};
use crate::domain::monitor::{LastCheck, MonitorState, Status};
use crate::events::{HostMetricsReported, MonitorKind, PingStats, Severity, SubjectKind};
use crate::projections::{
    uptime_figures, AlertCard, AlertStatus, Bucket, Counts, Dashboard, HealthCard, HostCard,
    HostFigures, MonitorCard, Rollups, Uptime,
};

// ---- schemas of the domain's enums, spelled as the API spells them ----

fn one_of(values: &[&str]) -> Schema {
    json_schema!({"type": "string", "enum": values})
}

/// A card's ping stats as the dashboard read model writes them (no derived loss).
fn card_ping(_: &mut SchemaGenerator) -> Schema {
    let ms = json!({"type": ["number", "null"]});
    json_schema!({
        "type": "object",
        "properties": {
            "sent": {"type": "integer", "minimum": 0},
            "received": {"type": "integer", "minimum": 0},
            "rtt_min_ms": ms, "rtt_avg_ms": ms, "rtt_max_ms": ms,
        },
        "required": ["sent", "received"],
    })
}

fn monitor_status(_: &mut SchemaGenerator) -> Schema {
    one_of(&["pending", "up", "down", "paused"])
}

fn monitor_kind(_: &mut SchemaGenerator) -> Schema {
    one_of(&["http", "tcp", "dns", "push", "ping"])
}

fn host_status(_: &mut SchemaGenerator) -> Schema {
    one_of(&["pending", "up", "stale"])
}

fn host_source(_: &mut SchemaGenerator) -> Schema {
    one_of(&["agent", "scrape"])
}

fn alert_state(_: &mut SchemaGenerator) -> Schema {
    one_of(&["pending", "firing", "acknowledged", "resolved"])
}

fn severity(_: &mut SchemaGenerator) -> Schema {
    one_of(&["critical", "warning", "info"])
}

fn subject_kind(_: &mut SchemaGenerator) -> Schema {
    one_of(&["monitor", "host"])
}

// ---- monitors ----

/// Uptime shares, 0 to 1, in the REST body's order; `null` for a window without checks.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct UptimeView {
    /// The last 24 hours.
    #[serde(rename = "24h")]
    pub day: Option<f64>,
    /// The last 30 days.
    #[serde(rename = "30d")]
    pub month: Option<f64>,
    /// The last 7 days.
    #[serde(rename = "7d")]
    pub week: Option<f64>,
}

impl From<&Uptime> for UptimeView {
    fn from(u: &Uptime) -> UptimeView {
        UptimeView {
            day: u.day,
            month: u.month,
            week: u.week,
        }
    }
}

/// A monitor's last check or heartbeat, as the monitor API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "LastCheck")]
pub struct LastCheckView {
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Why it failed.
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub latency_ms: f64,
    /// Whether it passed.
    pub ok: bool,
    /// Its position in the log.
    pub position: u64,
    /// The HTTP status code, if any.
    pub status_code: Option<u16>,
    /// Echo requests and replies, for a ping check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping: Option<PingStatsView>,
}

/// What a ping check's echo requests found.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "PingStats")]
pub struct PingStatsView {
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received in time.
    pub received: u32,
    /// The share of requests without a reply, 0 to 100.
    pub loss_percent: f64,
    /// The fastest round trip, in milliseconds; null without replies.
    pub rtt_min_ms: Option<f64>,
    /// The mean round trip, in milliseconds; null without replies.
    pub rtt_avg_ms: Option<f64>,
    /// The slowest round trip, in milliseconds; null without replies.
    pub rtt_max_ms: Option<f64>,
}

impl From<&PingStats> for PingStatsView {
    fn from(p: &PingStats) -> PingStatsView {
        PingStatsView {
            sent: p.sent,
            received: p.received,
            loss_percent: p.loss_percent(),
            rtt_min_ms: p.rtt_min_ms,
            rtt_avg_ms: p.rtt_avg_ms,
            rtt_max_ms: p.rtt_max_ms,
        }
    }
}

impl From<&LastCheck> for LastCheckView {
    fn from(l: &LastCheck) -> LastCheckView {
        LastCheckView {
            at: l.at,
            error: l.error.clone(),
            latency_ms: l.latency_ms,
            ok: l.ok,
            position: l.position,
            status_code: l.status_code,
            ping: l.ping.as_ref().map(PingStatsView::from),
        }
    }
}

/// A JSON path in an HTTP answer's body and the value it must select.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct JsonPathView {
    /// The value the path must select: any JSON.
    pub equals: Value,
    /// An RFC 9535 JSON path.
    pub path: String,
}

/// What a check expects to count as up.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct ExpectationsView {
    /// A substring the body must contain.
    pub body_contains: Option<String>,
    /// A regular expression the body must match.
    pub body_regex: Option<String>,
    /// What a dns answer must contain.
    pub contains: Option<String>,
    /// A JSON path in the body and the value it must have.
    pub json_path: Option<JsonPathView>,
    /// The slowest acceptable answer, in milliseconds.
    pub max_latency_ms: Option<u32>,
    /// Accepted HTTP statuses or ranges, such as `200-299`.
    pub status: Vec<String>,
}

/// A monitor as the monitor API shows it: its settings, status, last check and figures.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Monitor")]
pub struct MonitorView {
    /// Mean check latency over the last 24 hours, in milliseconds.
    pub avg_latency_ms_24h: Option<f64>,
    /// The body an http monitor sends.
    pub body: Option<String>,
    /// When its TLS certificate expires, as the last HTTPS check saw it.
    pub cert_expires_at: Option<DateTime<Utc>>,
    /// Days before a certificate's expiry that count as failing.
    pub cert_expiry_days: Option<u32>,
    /// Echo requests a ping monitor sends per check.
    pub count: Option<u8>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Why it is down, when it is.
    pub down_reason: Option<String>,
    /// What a check expects.
    pub expect: ExpectationsView,
    /// Whether an http monitor follows redirects.
    pub follow_redirects: bool,
    /// Seconds a push monitor may be late beyond its interval.
    pub grace_s: u32,
    /// The headers an http monitor sends.
    pub headers: BTreeMap<String, String>,
    /// What a tcp or dns monitor reaches.
    pub host: Option<String>,
    /// The monitor.
    pub id: Uuid,
    /// Whether an http monitor accepts any certificate.
    pub ignore_tls_errors: bool,
    /// Seconds between checks.
    pub interval_s: u32,
    /// What it checks.
    #[schemars(schema_with = "monitor_kind")]
    pub kind: MonitorKind,
    /// Its last check or heartbeat.
    pub last_check: Option<LastCheckView>,
    /// The most packet loss, in percent, a ping monitor counts as up; null: up while any reply came.
    pub max_loss_percent: Option<u8>,
    /// The method an http monitor uses.
    pub method: String,
    /// What the monitor is called.
    pub name: String,
    /// How long each of a ping monitor's echo requests waits for its reply, in milliseconds.
    pub packet_timeout_ms: Option<u32>,
    /// Whether it is paused.
    pub paused: bool,
    /// A tcp monitor's port.
    pub port: Option<u16>,
    /// A push monitor's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_token: Option<String>,
    /// Where a push monitor's heartbeats go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_url: Option<String>,
    /// The record type a dns monitor asks for.
    pub record_type: Option<String>,
    /// Passing checks in a row that bring it back up.
    pub recover_after: u32,
    /// The resolver a dns monitor asks.
    pub resolver: Option<String>,
    /// Failed checks in a row before it is down.
    pub retries: u32,
    /// Where it is in its lifecycle.
    #[schemars(schema_with = "monitor_status")]
    pub status: Status,
    /// Since when.
    pub status_since: DateTime<Utc>,
    /// Its labels.
    pub tags: Vec<String>,
    /// Milliseconds a check may take.
    pub timeout_ms: u32,
    /// Shares of good checks, 0 to 1.
    pub uptime: UptimeView,
    /// What an http monitor requests.
    pub url: Option<String>,
    /// The stream version, as the ETag gives it.
    pub version: u64,
}

impl MonitorView {
    /// The monitor in `state`, its uptime and latency from `rollups` over the windows
    /// before `now` (the edge passes the wall clock: the API shows figures as of the ask).
    pub fn at(state: &MonitorState, rollups: Option<&Rollups>, now: DateTime<Utc>) -> MonitorView {
        let c = &state.config;
        let (uptime, latency) =
            rollups.map_or((Uptime::default(), None), |r| uptime_figures(r, now));
        let push_url = state
            .push_token
            .as_ref()
            .map(|token| format!("/api/v1/push/{token}"));
        MonitorView {
            avg_latency_ms_24h: latency,
            body: c.body.clone(),
            cert_expires_at: state.cert_expires_at,
            cert_expiry_days: c.cert_expiry_days,
            count: c.ping.as_ref().map(|p| p.count),
            created_at: state.created_at,
            down_reason: state.down_reason.clone(),
            expect: ExpectationsView {
                body_contains: c.expect.body_contains.clone(),
                body_regex: c.expect.body_regex.clone(),
                contains: c.expect.contains.clone(),
                json_path: c.expect.json_path.as_ref().map(|j| JsonPathView {
                    // Validated as JSON when it was set; text that is not shows as null.
                    equals: serde_json::from_str(&j.equals).unwrap_or(Value::Null),
                    path: j.path.clone(),
                }),
                max_latency_ms: c.expect.max_latency_ms,
                status: c.expect.status.clone(),
            },
            follow_redirects: c.follow_redirects,
            grace_s: c.grace_s,
            headers: c.headers.clone(),
            host: c.host.clone(),
            id: state.id,
            ignore_tls_errors: c.ignore_tls_errors,
            interval_s: c.interval_s,
            kind: c.kind,
            last_check: state.last_check.as_ref().map(LastCheckView::from),
            max_loss_percent: c.ping.as_ref().and_then(|p| p.max_loss_percent),
            method: c.method.clone(),
            name: c.name.clone(),
            packet_timeout_ms: c.ping.as_ref().map(|p| p.packet_timeout_ms),
            paused: state.status == Status::Paused,
            port: c.port,
            push_token: state.push_token.clone(),
            push_url,
            record_type: c.record_type.clone(),
            recover_after: c.recover_after,
            resolver: c.resolver.clone(),
            retries: c.retries,
            status: state.status,
            status_since: state.status_since,
            tags: c.tags.clone(),
            timeout_ms: c.timeout_ms,
            uptime: UptimeView::from(&uptime),
            url: c.url.clone(),
            version: state.version,
        }
    }
}

/// `GET /monitors`: the monitors, by name, with the position the list holds.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "MonitorList")]
pub struct MonitorListView {
    /// The monitors, by name.
    pub monitors: Vec<MonitorView>,
    /// The position the list holds.
    pub position: u64,
}

// ---- hosts ----

/// A sample's CPU figures.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct CpuView {
    /// Logical cores.
    pub cpu_count_logical: Option<u32>,
    /// Busy share of each core, 0 to 100.
    pub cpu_percent_per_core: Vec<f64>,
    /// Busy share over all cores, 0 to 100.
    pub cpu_percent_total: Option<f64>,
    /// Load averages over 1, 5 and 15 minutes.
    pub load_average: Option<[f64; 3]>,
}

/// A sample's memory figures.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct MemoryView {
    /// Used share, 0 to 100.
    pub memory_percent: Option<f64>,
    /// Bytes in all.
    pub memory_total: Option<u64>,
    /// Bytes used.
    pub memory_used: Option<u64>,
}

/// One filesystem of a sample.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct PartitionView {
    /// Where it is mounted.
    pub mountpoint: String,
    /// Used share, 0 to 100.
    pub percent: f64,
    /// Bytes in all.
    pub total: u64,
    /// Bytes used.
    pub used: u64,
}

/// A sample's filesystems.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct DiskView {
    /// Every filesystem.
    pub partitions: Vec<PartitionView>,
}

/// A sample's network counters, with per-second rates from the sample before.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct NetworkView {
    /// Bytes received.
    pub bytes_recv: Option<u64>,
    /// Bytes received per second.
    pub bytes_recv_per_s: Option<f64>,
    /// Bytes sent.
    pub bytes_sent: Option<u64>,
    /// Bytes sent per second.
    pub bytes_sent_per_s: Option<f64>,
}

/// A sample's disk counters, with per-second rates from the sample before.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct DiskIoView {
    /// Bytes read.
    pub read_bytes: Option<u64>,
    /// Bytes read per second.
    pub read_bytes_per_s: Option<f64>,
    /// Bytes written.
    pub write_bytes: Option<u64>,
    /// Bytes written per second.
    pub write_bytes_per_s: Option<f64>,
}

/// A sample's I/O counters.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct IoView {
    /// Disk reads and writes.
    pub disk_io: DiskIoView,
    /// Network traffic.
    pub network: NetworkView,
}

/// A sample as the host API shows it: the push body's names, with per-second rates beside
/// the counters.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "HostMetrics")]
pub struct HostMetricsView {
    /// CPU.
    pub cpu: CpuView,
    /// Filesystems.
    pub disk: DiskView,
    /// Network and disk I/O.
    pub io: IoView,
    /// Memory.
    pub memory: MemoryView,
    /// When the sample was taken, by the host's clock.
    pub sampled_at: DateTime<Utc>,
}

impl From<&HostMetricsReported> for HostMetricsView {
    fn from(m: &HostMetricsReported) -> HostMetricsView {
        let [sent, recv, read, written] = m.counters;
        let [tx, rx, read_s, write_s] = m.rates;
        HostMetricsView {
            cpu: CpuView {
                cpu_count_logical: m.cpu_count,
                cpu_percent_per_core: m.cpu_percent_per_core.clone(),
                cpu_percent_total: m.cpu_percent,
                load_average: m.load_average,
            },
            disk: DiskView {
                partitions: m
                    .disks
                    .iter()
                    .map(|d| PartitionView {
                        mountpoint: d.mountpoint.clone(),
                        percent: d.percent,
                        total: d.total,
                        used: d.used,
                    })
                    .collect(),
            },
            io: IoView {
                disk_io: DiskIoView {
                    read_bytes: read,
                    read_bytes_per_s: read_s,
                    write_bytes: written,
                    write_bytes_per_s: write_s,
                },
                network: NetworkView {
                    bytes_recv: recv,
                    bytes_recv_per_s: rx,
                    bytes_sent: sent,
                    bytes_sent_per_s: tx,
                },
            },
            memory: MemoryView {
                memory_percent: m.memory_percent,
                memory_total: m.memory_total,
                memory_used: m.memory_used,
            },
            sampled_at: m.sampled_at,
        }
    }
}

/// A host as the host API shows it, with its latest sample in full.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Host")]
pub struct HostView {
    /// In a push's answer: whether it repeated a sample already recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    /// Its name.
    pub hostname: String,
    /// A scraped host's interval, or the one its agent pushes with.
    pub interval_s: Option<u32>,
    /// Why the last scrape failed, until one succeeds.
    pub last_error: Option<String>,
    /// When its last sample was recorded.
    pub last_seen: Option<DateTime<Utc>>,
    /// Its latest sample.
    pub metrics: Option<HostMetricsView>,
    /// When it was (last) registered.
    pub registered_at: DateTime<Utc>,
    /// Samples recorded.
    pub samples: u64,
    /// A scraped host's node_exporter URL.
    pub scrape_url: Option<String>,
    /// Whether an agent pushes its samples or the server scrapes them.
    #[schemars(schema_with = "host_source")]
    pub source: &'static str,
    /// Seconds without a sample before it is stale.
    pub stale_after_s: u32,
    /// Where it is in its lifecycle.
    #[schemars(schema_with = "host_status")]
    pub status: HostStatus,
    /// Since when.
    pub status_since: DateTime<Utc>,
    /// Its labels.
    pub tags: Vec<String>,
    /// The stream version, as the ETag gives it.
    pub version: u64,
}

impl From<&HostState> for HostView {
    fn from(h: &HostState) -> HostView {
        HostView {
            duplicate: None,
            hostname: h.hostname.clone(),
            interval_s: h.interval_s,
            last_error: h.last_error.clone(),
            last_seen: h.last_seen,
            metrics: h.latest.as_ref().map(HostMetricsView::from),
            registered_at: h.registered_at,
            samples: h.samples,
            scrape_url: h.scrape_url.clone(),
            source: if h.scrape_url.is_some() {
                "scrape"
            } else {
                "agent"
            },
            stale_after_s: h.window_s(),
            status: h.status,
            status_since: h.status_since,
            tags: h.tags.clone(),
            version: h.version,
        }
    }
}

/// `GET /hosts`: the hosts with the position the list holds.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "HostList")]
pub struct HostListView {
    /// The hosts.
    pub hosts: Vec<HostView>,
    /// The position the list holds.
    pub position: u64,
}

// ---- alerts ----

/// What an alert is about.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct SubjectView {
    /// The monitor's id or the hostname.
    pub id: String,
    /// A monitor or a host.
    #[schemars(schema_with = "subject_kind")]
    pub kind: SubjectKind,
    /// Its name for people.
    pub name: String,
    /// Its labels when the alert opened.
    pub tags: Vec<String>,
}

/// An alert as the alert API (and the WebSocket `alerts` topic) shows it.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Alert")]
pub struct AlertView {
    /// When someone acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The latest cause, in words.
    pub cause: String,
    /// When it fired.
    pub fired_at: Option<DateTime<Utc>>,
    /// The alert.
    pub id: Uuid,
    /// Whether a firing notification was requested.
    pub notified: bool,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// Repeat notifications requested so far.
    pub repeats: u32,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The rule's name.
    pub rule: String,
    /// Its rule.
    pub rule_id: Uuid,
    /// How urgent it is.
    #[schemars(schema_with = "severity")]
    pub severity: Severity,
    /// Where it is in its lifecycle.
    #[schemars(schema_with = "alert_state")]
    pub state: AlertStatus,
    /// What it is about.
    pub subject: SubjectView,
    /// The stream version.
    pub version: u64,
}

impl From<&crate::projections::AlertView> for AlertView {
    fn from(a: &crate::projections::AlertView) -> AlertView {
        let o = &a.opened;
        AlertView {
            acknowledged_at: a.acknowledged_at,
            cause: a.cause.clone(),
            fired_at: a.fired_at,
            id: o.alert_id,
            notified: a.notified,
            opened_at: a.opened_at,
            repeats: a.repeats,
            resolved_at: a.resolved_at,
            rule: o.rule_name.clone(),
            rule_id: o.rule_id,
            severity: o.severity,
            state: a.status,
            subject: SubjectView {
                id: o.subject_id.clone(),
                kind: o.subject_kind,
                name: o.subject_name.clone(),
                tags: o.tags.clone(),
            },
            version: a.version,
        }
    }
}

/// `GET /alerts` and the `alerts` topic's snapshot: alerts, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "AlertList")]
pub struct AlertListView {
    /// The alerts.
    pub alerts: Vec<AlertView>,
}

// ---- the dashboard ----

/// watchfire's readiness as its self-check last recorded it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthView {
    /// Whether it was ready.
    pub ready: bool,
    /// Why not, one line a reason.
    pub reasons: Vec<String>,
    /// Since when (`null`: ready since the log began).
    pub since: Option<DateTime<Utc>>,
}

impl From<&HealthCard> for HealthView {
    fn from(h: &HealthCard) -> HealthView {
        HealthView {
            ready: h.ready,
            reasons: h.reasons.clone(),
            since: h.since,
        }
    }
}

/// Monitors by status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MonitorCountsView {
    /// Passing.
    pub up: u32,
    /// Failing.
    pub down: u32,
    /// Not yet decided.
    pub pending: u32,
    /// Not checking.
    pub paused: u32,
}

/// Hosts by status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostCountsView {
    /// Reporting.
    pub up: u32,
    /// Silent for their whole window.
    pub stale: u32,
    /// Registered, no sample yet.
    pub pending: u32,
}

/// Open alerts by state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AlertCountsView {
    /// Breached, not yet for long enough.
    pub pending: u32,
    /// Firing and notifying.
    pub firing: u32,
    /// Firing, and someone is on it.
    pub acknowledged: u32,
}

/// How many monitors, hosts and alerts are in each state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CountsView {
    /// Monitors by status.
    pub monitors: MonitorCountsView,
    /// Hosts by status.
    pub hosts: HostCountsView,
    /// Open alerts by state.
    pub alerts: AlertCountsView,
}

impl From<&Counts> for CountsView {
    fn from(c: &Counts) -> CountsView {
        let (m, h, a) = (&c.monitors, &c.hosts, &c.alerts);
        CountsView {
            monitors: MonitorCountsView {
                up: m.up,
                down: m.down,
                pending: m.pending,
                paused: m.paused,
            },
            hosts: HostCountsView {
                up: h.up,
                stale: h.stale,
                pending: h.pending,
            },
            alerts: AlertCountsView {
                pending: a.pending,
                firing: a.firing,
                acknowledged: a.acknowledged,
            },
        }
    }
}

/// Uptime shares on a card, 0 to 1; `null` for a window without checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CardUptimeView {
    /// The last 24 hours.
    #[serde(rename = "24h")]
    pub day: Option<f64>,
    /// The last 7 days.
    #[serde(rename = "7d")]
    pub week: Option<f64>,
    /// The last 30 days.
    #[serde(rename = "30d")]
    pub month: Option<f64>,
}

/// A monitor's last check or heartbeat on its card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CardCheckView {
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Its position in the log.
    pub position: u64,
    /// Whether it passed.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub latency_ms: f64,
    /// The HTTP status code, if any.
    pub status_code: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
    /// Echo requests and replies, for a ping check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "card_ping")]
    pub ping: Option<PingStats>,
}

/// Checks in one hour or day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BucketView {
    /// The bucket's start, in seconds since the Unix epoch.
    pub start: i64,
    /// Checks recorded.
    pub checks: u32,
    /// Checks that passed.
    pub up: u32,
    /// Sum of the checks' latencies, in milliseconds.
    pub latency_sum_ms: f64,
}

/// A monitor's hourly and daily check buckets: its uptime bars.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RollupsView {
    /// The last 48 hours that had checks, oldest first.
    pub hourly: Vec<BucketView>,
    /// The last 91 days that had checks, oldest first.
    pub daily: Vec<BucketView>,
}

fn buckets(b: &std::collections::VecDeque<Bucket>) -> Vec<BucketView> {
    b.iter()
        .map(|b| BucketView {
            start: b.start,
            checks: b.checks,
            up: b.up,
            latency_sum_ms: b.latency_sum_ms,
        })
        .collect()
}

/// One monitor as the dashboard shows it, its figures as of the view's last event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonitorCardView {
    /// The monitor.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// What it checks.
    #[schemars(schema_with = "monitor_kind")]
    pub kind: MonitorKind,
    /// Its labels.
    pub tags: Vec<String>,
    /// Where it is in its lifecycle.
    #[schemars(schema_with = "monitor_status")]
    pub status: Status,
    /// Since when.
    pub status_since: DateTime<Utc>,
    /// Why it is down, when it is.
    pub down_reason: Option<String>,
    /// Its last check or heartbeat.
    pub last_check: Option<CardCheckView>,
    /// When its TLS certificate expires, as the last HTTPS check saw it.
    pub cert_expires_at: Option<DateTime<Utc>>,
    /// Uptime over the windows before the view's `as_of`.
    pub uptime: CardUptimeView,
    /// Mean check latency over the 24 hours before `as_of`, in milliseconds.
    pub avg_latency_ms_24h: Option<f64>,
    /// Hourly and daily check buckets.
    pub rollups: RollupsView,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The version of its stream's last event.
    pub version: u64,
}

impl From<&MonitorCard> for MonitorCardView {
    fn from(c: &MonitorCard) -> MonitorCardView {
        MonitorCardView {
            id: c.id,
            name: c.name.clone(),
            kind: c.kind,
            tags: c.tags.clone(),
            status: c.status,
            status_since: c.status_since,
            down_reason: c.down_reason.clone(),
            last_check: c.last_check.as_ref().map(|l| CardCheckView {
                at: l.at,
                position: l.position,
                ok: l.ok,
                latency_ms: l.latency_ms,
                status_code: l.status_code,
                error: l.error.clone(),
                ping: l.ping.clone(),
            }),
            cert_expires_at: c.cert_expires_at,
            // The card keeps the figures `uptime_figures` gave as of its last refresh.
            uptime: CardUptimeView {
                day: c.uptime.day,
                week: c.uptime.week,
                month: c.uptime.month,
            },
            avg_latency_ms_24h: c.avg_latency_ms_24h,
            rollups: RollupsView {
                hourly: buckets(&c.rollups.hourly),
                daily: buckets(&c.rollups.daily),
            },
            created_at: c.created_at,
            version: c.version,
        }
    }
}

/// A host's latest sample, reduced to what the dashboard shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostFiguresView {
    /// When the sample was taken, by the host's clock.
    pub sampled_at: DateTime<Utc>,
    /// CPU busy share over all cores, 0 to 100.
    pub cpu_percent: Option<f64>,
    /// Used memory share, 0 to 100.
    pub memory_percent: Option<f64>,
    /// The fullest filesystem's used share, 0 to 100.
    pub disk_percent_max: Option<f64>,
    /// Load average over one minute.
    pub load1: Option<f64>,
    /// Network bytes sent per second.
    pub net_tx_bytes_per_s: Option<f64>,
    /// Network bytes received per second.
    pub net_rx_bytes_per_s: Option<f64>,
    /// Disk bytes read per second.
    pub disk_read_bytes_per_s: Option<f64>,
    /// Disk bytes written per second.
    pub disk_write_bytes_per_s: Option<f64>,
}

impl From<&HostFigures> for HostFiguresView {
    fn from(f: &HostFigures) -> HostFiguresView {
        HostFiguresView {
            sampled_at: f.sampled_at,
            cpu_percent: f.cpu_percent,
            memory_percent: f.memory_percent,
            disk_percent_max: f.disk_percent_max,
            load1: f.load1,
            net_tx_bytes_per_s: f.net_tx_bytes_per_s,
            net_rx_bytes_per_s: f.net_rx_bytes_per_s,
            disk_read_bytes_per_s: f.disk_read_bytes_per_s,
            disk_write_bytes_per_s: f.disk_write_bytes_per_s,
        }
    }
}

/// One host as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostCardView {
    /// Its name.
    pub hostname: String,
    /// Where it is in its lifecycle.
    #[schemars(schema_with = "host_status")]
    pub status: HostStatus,
    /// Since when.
    pub status_since: DateTime<Utc>,
    /// When its last sample was recorded.
    pub last_seen: Option<DateTime<Utc>>,
    /// Its labels.
    pub tags: Vec<String>,
    /// Why the last scrape failed, until one succeeds.
    pub last_error: Option<String>,
    /// Its latest sample's figures.
    pub metrics: Option<HostFiguresView>,
    /// Samples recorded.
    pub samples: u64,
    /// When it was (last) registered.
    pub registered_at: DateTime<Utc>,
    /// The version of its stream's last event.
    pub version: u64,
}

impl From<&HostCard> for HostCardView {
    fn from(h: &HostCard) -> HostCardView {
        HostCardView {
            hostname: h.hostname.clone(),
            status: h.status,
            status_since: h.status_since,
            last_seen: h.last_seen,
            tags: h.tags.clone(),
            last_error: h.last_error.clone(),
            metrics: h.metrics.as_ref().map(HostFiguresView::from),
            samples: h.samples,
            registered_at: h.registered_at,
            version: h.version,
        }
    }
}

/// An alert not yet resolved, as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertCardView {
    /// The alert.
    pub id: Uuid,
    /// Its rule.
    pub rule_id: Uuid,
    /// The rule's name when it opened.
    pub rule_name: String,
    /// How urgent it is.
    #[schemars(schema_with = "severity")]
    pub severity: Severity,
    /// Pending, firing or acknowledged.
    #[schemars(schema_with = "alert_state")]
    pub state: AlertStatus,
    /// A monitor or a host.
    #[schemars(schema_with = "subject_kind")]
    pub subject_kind: SubjectKind,
    /// The monitor's id or the hostname.
    pub subject_id: String,
    /// The subject's name for people.
    pub subject_name: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it entered its state.
    pub since: DateTime<Utc>,
    /// The latest cause, in words.
    pub cause: String,
}

impl From<&AlertCard> for AlertCardView {
    fn from(a: &AlertCard) -> AlertCardView {
        AlertCardView {
            id: a.id,
            rule_id: a.rule_id,
            rule_name: a.rule_name.clone(),
            severity: a.severity,
            state: a.state,
            subject_kind: a.subject_kind,
            subject_id: a.subject_id.clone(),
            subject_name: a.subject_name.clone(),
            opened_at: a.opened_at,
            since: a.since,
            cause: a.cause.clone(),
        }
    }
}

/// What the dashboard shows (`GET /dashboard`, the `dashboard` topic's snapshot, and the
/// `state` of `GET /audit/state`), every figure as of the event at `position`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Dashboard")]
pub struct DashboardView {
    /// The log position the view holds.
    pub position: u64,
    /// The time of that event.
    pub as_of: Option<DateTime<Utc>>,
    /// watchfire's own health.
    pub health: HealthView,
    /// Monitors, hosts and alerts by status.
    pub counts: CountsView,
    /// Monitor cards by id.
    pub monitors: BTreeMap<Uuid, MonitorCardView>,
    /// Host cards by hostname.
    pub hosts: BTreeMap<String, HostCardView>,
    /// Open alerts' cards by id.
    pub alerts: BTreeMap<Uuid, AlertCardView>,
}

impl From<&Dashboard> for DashboardView {
    fn from(d: &Dashboard) -> DashboardView {
        DashboardView {
            position: d.position,
            as_of: d.as_of,
            health: HealthView::from(&d.health),
            counts: CountsView::from(&d.counts),
            monitors: d
                .monitors
                .iter()
                .map(|(id, c)| (*id, MonitorCardView::from(c)))
                .collect(),
            hosts: d
                .hosts
                .iter()
                .map(|(name, h)| (name.clone(), HostCardView::from(h)))
                .collect(),
            alerts: d
                .alerts
                .iter()
                .map(|(id, a)| (*id, AlertCardView::from(a)))
                .collect(),
        }
    }
}

/// Which cards of a dashboard a part of its view holds.
#[derive(Clone, Debug, Default)]
pub struct Cards {
    /// Every monitor card, or only these.
    pub all_monitors: bool,
    /// Monitor cards by id.
    pub monitors: Vec<Uuid>,
    /// Host cards by hostname.
    pub hosts: Vec<String>,
    /// Alert cards by id.
    pub alerts: Vec<Uuid>,
}

/// Part of the serialized [`DashboardView`] of `d`: its position, time, health and counts,
/// and the cards `cards` names that `d` has. Where nothing outside those cards changed, the
/// merge diff of two parts is the merge diff of the two whole views.
pub fn dashboard_part(d: &Dashboard, cards: &Cards) -> Value {
    fn value<T: Serialize>(v: T) -> Value {
        // Views hold no map with non-string keys, so serializing them cannot fail.
        serde_json::to_value(v).unwrap_or(Value::Null)
    }
    let monitors: Map<String, Value> = if cards.all_monitors {
        d.monitors
            .iter()
            .map(|(id, c)| (id.to_string(), value(MonitorCardView::from(c))))
            .collect()
    } else {
        cards
            .monitors
            .iter()
            .filter_map(|id| d.monitors.get(id))
            .map(|c| (c.id.to_string(), value(MonitorCardView::from(c))))
            .collect()
    };
    let hosts: Map<String, Value> = cards
        .hosts
        .iter()
        .filter_map(|name| {
            d.hosts
                .get(name)
                .map(|h| (name.clone(), value(HostCardView::from(h))))
        })
        .collect();
    let alerts: Map<String, Value> = cards
        .alerts
        .iter()
        .filter_map(|id| d.alerts.get(id))
        .map(|a| (a.id.to_string(), value(AlertCardView::from(a))))
        .collect();
    let mut part = Map::new();
    part.insert("position".into(), value(d.position));
    part.insert("as_of".into(), value(d.as_of));
    part.insert("health".into(), value(HealthView::from(&d.health)));
    part.insert("counts".into(), value(CountsView::from(&d.counts)));
    part.insert("monitors".into(), Value::Object(monitors));
    part.insert("hosts".into(), Value::Object(hosts));
    part.insert("alerts".into(), Value::Object(alerts));
    Value::Object(part)
}

// ---- their schemas ----

/// The JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of the bodies these types
/// serialize, by component name, with every schema they refer to: for the OpenAPI
/// document's `components/schemas`, where their `$ref`s point.
pub fn component_schemas() -> Map<String, Value> {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    // What the API answers: a member skipped when empty is not required.
    settings.contract = schemars::generate::Contract::Serialize;
    let mut generator = settings.into_generator();
    generator.subschema_for::<MonitorView>();
    generator.subschema_for::<MonitorListView>();
    generator.subschema_for::<HostView>();
    generator.subschema_for::<HostListView>();
    generator.subschema_for::<AlertView>();
    generator.subschema_for::<AlertListView>();
    generator.subschema_for::<DashboardView>();
    generator.subschema_for::<ClusterStatusView>();
    generator.take_definitions(true)
}

// ---- the cluster ----

/// The nodes sharing the log, as `GET /api/v1/cluster` answers them.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Cluster")]
pub struct ClusterStatusView {
    /// Whether this server is a node of a cluster (a shared log on PostgreSQL).
    pub clustered: bool,
    /// This node's id, on a cluster.
    pub node: Option<Uuid>,
    /// Every live node, by id.
    pub nodes: Vec<NodeView>,
}

/// One live node of the cluster.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Node")]
pub struct NodeView {
    /// The node's id (kept in its data directory).
    pub id: Uuid,
    /// Where it serves HTTP, for requests forwarded to it.
    pub addr: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_s: f64,
    /// How many things (monitors, hosts, rules, channels) it holds leases on.
    pub owned: usize,
    /// How many alert rules it runs the alerts of.
    pub rules: usize,
    /// How many notification channels it delivers for.
    pub channels: usize,
    /// Whether it is the node that answered.
    pub this: bool,
}

impl ClusterStatusView {
    /// What a node knows of its cluster, or a single node's answer.
    pub fn of(cluster: Option<&crate::cluster::ClusterView>) -> ClusterStatusView {
        let Some(cluster) = cluster else {
            return ClusterStatusView {
                clustered: false,
                node: None,
                nodes: Vec::new(),
            };
        };
        let me = cluster.node();
        let owned = cluster.owned_by_node();
        let rules = cluster.owned_by_node_with_prefix("rule-");
        let channels = cluster.owned_by_node_with_prefix("channel-");
        ClusterStatusView {
            clustered: true,
            node: Some(me),
            nodes: cluster
                .nodes()
                .into_iter()
                .map(|n| NodeView {
                    owned: owned.get(&n.id).copied().unwrap_or(0),
                    rules: rules.get(&n.id).copied().unwrap_or(0),
                    channels: channels.get(&n.id).copied().unwrap_or(0),
                    this: n.id == me,
                    id: n.id,
                    addr: n.addr,
                    started_at: n.started_at,
                    heartbeat_age_s: n.heartbeat_age_s,
                })
                .collect(),
        }
    }
}

// ---- JSON merge patches (RFC 7386) ----

/// The merge patch that turns `old` into `new`, or `None` when they are equal. A member
/// whose value is `null` in `new` reads as absent: a merge patch cannot set a `null`.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, before) in old {
                match new.get(key) {
                    None | Some(Value::Null) if !before.is_null() => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    None | Some(Value::Null) => {}
                    Some(after) => {
                        if let Some(p) = merge_diff(before, after) {
                            patch.insert(key.clone(), p);
                        }
                    }
                }
            }
            for (key, after) in new {
                if !old.contains_key(key) && !after.is_null() {
                    patch.insert(key.clone(), without_nulls(after));
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (old, new) if old == new => None,
        // Anything but an object into an object replaces whole; an object patch applied to
        // a non-object starts from an empty object, so it is the object without its nulls.
        (_, new) => Some(without_nulls(new)),
    }
}

/// `v` with every `null` object member dropped, at any depth: what applying it as a merge
/// patch to nothing gives.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `target` with the merge patch `patch` applied (RFC 7386).
pub fn merge_apply(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (key, value) in patch {
            if value.is_null() {
                t.remove(key);
            } else {
                merge_apply(t.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// JSON values shaped like views: objects of a few keys, so that consecutive ones share
    /// members, nested, with nulls, numbers, strings and arrays.
    fn view_like() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (0u32..4).prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[abcd]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn a_diff_of_equal_values_is_none_and_of_changed_members_names_only_them() {
        let old = json!({"a": 1, "b": {"c": [1, 2], "d": "x"}, "e": null});
        assert_eq!(merge_diff(&old, &old), None);
        let new = json!({"a": 1, "b": {"c": [1, 2, 3]}, "f": {"g": null, "h": 2}});
        let patch = merge_diff(&old, &new).expect("a patch");
        assert_eq!(
            patch,
            json!({"b": {"c": [1, 2, 3], "d": null}, "f": {"h": 2}})
        );
        let mut folded = old.clone();
        merge_apply(&mut folded, &patch);
        assert_eq!(
            folded,
            json!({"a": 1, "b": {"c": [1, 2, 3]}, "e": null, "f": {"h": 2}})
        );
    }

    #[test]
    fn applying_follows_rfc_7386_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, result) in cases {
            let mut applied = target.clone();
            merge_apply(&mut applied, &patch);
            assert_eq!(applied, result, "{patch} onto {target}");
        }
    }

    proptest! {
        /// Folding the diffs of a sequence of view-like values onto the first gives the
        /// last, but for `null` members, which a merge patch cannot set.
        #[test]
        fn folding_the_diffs_of_a_sequence_onto_its_first_value_gives_its_last(
            values in prop::collection::vec(view_like(), 1..8)
        ) {
            let mut folded = values[0].clone();
            for pair in values.windows(2) {
                let patch = merge_diff(&pair[0], &pair[1]);
                if let Some(patch) = &patch {
                    merge_apply(&mut folded, patch);
                }
                prop_assert_eq!(without_nulls(&folded), without_nulls(&pair[1]), "after {:?}", patch);
            }
        }

        /// Without `null` members, the round trip is exact.
        #[test]
        fn a_diff_applied_to_its_old_value_gives_the_new_one_exactly(
            old in view_like(), new in view_like()
        ) {
            let (old, new) = (without_nulls(&old), without_nulls(&new));
            let mut applied = old.clone();
            if let Some(patch) = merge_diff(&old, &new) {
                merge_apply(&mut applied, &patch);
            }
            prop_assert_eq!(applied, new);
        }
    }

    /// The JSON of `body`, and the same with every object's members sorted by name (how the
    /// API's bodies were written before they had types).
    fn as_written_and_sorted<T: Serialize>(body: &T) -> (String, String) {
        let written = serde_json::to_string(body).expect("a view serializes");
        let value: Value = serde_json::from_str(&written).expect("its JSON reads back");
        (written, value.to_string())
    }

    #[test]
    fn rest_bodies_write_their_members_in_the_order_the_api_always_has() {
        use crate::events::{AlertOpened, HostRegistered, RecordedEvent};
        use crate::projections::dashboard_fixtures::{created, event, recorded, BASE_S};

        let now = DateTime::from_timestamp(BASE_S + 60, 0).expect("a time");
        let mut monitor = MonitorState::start(&recorded(1, BASE_S, created(Uuid::from_u128(1))))
            .expect("a monitor");
        monitor.push_token = Some("pt".to_owned());
        monitor.apply(&recorded(2, BASE_S + 1, event(1, 0, BASE_S + 1, 12.5)));
        let mut rollups = Rollups::default();
        rollups.record(now, true, 3.0);
        let body = MonitorView::at(&monitor, Some(&rollups), now);
        assert_eq!(
            body.uptime.day,
            Some(1.0),
            "uptime as of the time handed in"
        );
        let (written, sorted) = as_written_and_sorted(&MonitorListView {
            monitors: vec![body],
            position: 2,
        });
        assert_eq!(written, sorted);

        let registered = HostRegistered {
            hostname: "h0".to_owned(),
            scrape_url: None,
            interval_s: Some(10),
            stale_after_s: None,
            tags: vec!["prod".to_owned()],
        };
        let mut host = HostState::registered(&registered, 1, now);
        let sample: RecordedEvent = recorded(3, BASE_S + 2, event(7, 0, BASE_S + 2, 55.0));
        host.apply(&sample);
        let mut host = HostView::from(&host);
        assert!(host.metrics.is_some(), "the sample's figures");
        host.duplicate = Some(false);
        let (written, sorted) = as_written_and_sorted(&HostListView {
            hosts: vec![host],
            position: 3,
        });
        assert_eq!(written, sorted);

        let alert = crate::projections::AlertView {
            opened: AlertOpened {
                alert_id: Uuid::from_u128(7),
                rule_id: Uuid::from_u128(8),
                rule_name: "r".to_owned(),
                severity: Severity::Warning,
                subject_kind: SubjectKind::Host,
                subject_id: "h0".to_owned(),
                subject_name: "h0".to_owned(),
                tags: Vec::new(),
                cause: "hot".to_owned(),
            },
            status: AlertStatus::Firing,
            opened_at: now,
            fired_at: Some(now),
            acknowledged_at: None,
            resolved_at: None,
            cause: "hotter".to_owned(),
            notified: true,
            repeats: 0,
            last_notified_at: None,
            version: 2,
            timeline: Vec::new(),
        };
        let (written, sorted) = as_written_and_sorted(&AlertListView {
            alerts: vec![AlertView::from(&alert)],
        });
        assert_eq!(written, sorted);
        assert!(
            written.contains(r#""state":"firing""#) && written.contains(r#""severity":"warning""#)
        );
    }

    proptest! {
        /// The dashboard's view writes exactly the JSON its read model does (the snapshot
        /// and `GET /dashboard` bodies from before the view had a type of its own).
        #[test]
        fn the_dashboard_view_writes_what_the_dashboard_model_does(
            steps in prop::collection::vec((0u8..15, 0..crate::projections::dashboard_fixtures::MONITORS, 0i64..9000, 0.0f64..2000.0), 1..60)
        ) {
            use crate::projections::dashboard_fixtures::{created, event, recorded, BASE_S, MONITORS};
            use crate::projections::Projection;
            let mut dashboard = Dashboard::default();
            let mut at = BASE_S;
            let mut position = 0;
            for m in 0..MONITORS {
                position += 1;
                dashboard.apply(&recorded(position, at, created(Uuid::from_u128(m + 1))));
            }
            for (kind, m, gap, latency) in steps {
                at += if gap > 6000 { gap } else { gap % 90 };
                position += 1;
                dashboard.apply(&recorded(position, at, event(kind, m, at, latency)));
                let view = serde_json::to_string(&DashboardView::from(&dashboard));
                let model = serde_json::to_string(&dashboard);
                prop_assert_eq!(view.ok(), model.ok());
            }
        }
    }

    #[test]
    fn the_derived_schemas_name_every_body_and_refer_only_to_schemas_they_hold() {
        let schemas = component_schemas();
        for name in [
            "Monitor",
            "MonitorList",
            "Host",
            "HostList",
            "Alert",
            "AlertList",
            "Dashboard",
        ] {
            assert!(schemas.contains_key(name), "{name} is derived");
        }
        let text = Value::Object(schemas.clone()).to_string();
        for target in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = target.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "{name} is referred to and held");
        }
    }
}
