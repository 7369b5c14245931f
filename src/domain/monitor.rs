//! A monitor: its state as a pure fold over its stream, the transition a check implies,
//! the settings a client sends and their validation, and [`decide`], which says what each
//! command appends.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{expect_version, not_null, DomainError};
use crate::domain::expect as checks;
use crate::events::{
    Event, Expectations, HeartbeatReceived, JsonPathExpectation, MonitorChecked, MonitorConfig,
    MonitorCreated, MonitorKind, MonitorRef, MonitorUpdated, MonitorWentDown, PingSettings,
    PingStats, RecordedEvent,
};

/// Where a monitor is in its lifecycle.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created or resumed, and not yet decided.
    Pending,
    /// Its checks pass.
    Up,
    /// `retries` checks in a row failed.
    Down,
    /// Not checking, on request.
    Paused,
}

impl Status {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Up => "up",
            Status::Down => "down",
            Status::Paused => "paused",
        }
    }
}

/// The last check (or heartbeat) of a monitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastCheck {
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
    /// Echo requests and replies, for a ping check (left out of JSON when none, as before ping checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping: Option<PingStats>,
}

/// Everything a monitor's actor needs to decide, folded from its stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorState {
    /// The monitor.
    pub id: Uuid,
    /// Its settings.
    pub config: MonitorConfig,
    /// The secret of a push monitor's heartbeat URL.
    pub push_token: Option<String>,
    /// Where it is in its lifecycle.
    pub status: Status,
    /// When it entered that status.
    pub status_since: DateTime<Utc>,
    /// Why it is down, when it is.
    pub down_reason: Option<String>,
    /// Whether it was deleted.
    pub deleted: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The version of the last event of its stream.
    pub version: u64,
    /// Failed checks in a row.
    pub failures: u32,
    /// Passed checks in a row.
    pub successes: u32,
    /// The last check or heartbeat.
    pub last_check: Option<LastCheck>,
    /// When its TLS certificate expires, as the last HTTPS check saw it.
    pub cert_expires_at: Option<DateTime<Utc>>,
}

/// A status change a check calls for.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    /// Pending to up.
    WentUp,
    /// Pending or up to down, with the reason.
    WentDown(String),
    /// Down to up.
    Recovered,
}

impl Transition {
    /// The event that records this transition of `monitor_id`.
    pub fn event(&self, monitor_id: Uuid) -> Event {
        match self {
            Transition::WentUp => Event::MonitorWentUp(MonitorRef { monitor_id }),
            Transition::WentDown(reason) => Event::MonitorWentDown(MonitorWentDown {
                monitor_id,
                reason: reason.clone(),
            }),
            Transition::Recovered => Event::MonitorRecovered(MonitorRef { monitor_id }),
        }
    }
}

impl MonitorState {
    /// The state a `MonitorCreated` event starts, or `None` for any other event.
    pub fn start(event: &RecordedEvent) -> Option<MonitorState> {
        let Event::MonitorCreated(c) = &event.event else {
            return None;
        };
        Some(MonitorState::created(c, event.version.0, event.timestamp))
    }

    /// The state of a monitor just created, as stream version `version` at time `at`.
    pub fn created(c: &MonitorCreated, version: u64, at: DateTime<Utc>) -> MonitorState {
        MonitorState {
            id: c.monitor_id,
            config: c.config.clone(),
            push_token: c.push_token.clone(),
            status: if c.paused {
                Status::Paused
            } else {
                Status::Pending
            },
            status_since: at,
            down_reason: None,
            deleted: false,
            created_at: at,
            version,
            failures: 0,
            successes: 0,
            last_check: None,
            cert_expires_at: None,
        }
    }

    /// Folds a recorded event of this monitor's stream into the state.
    pub fn apply(&mut self, event: &RecordedEvent) {
        self.apply_at(
            &event.event,
            event.position.0,
            event.version.0,
            event.timestamp,
        );
    }

    /// Folds an event recorded at `position`, as stream version `version`, at time `at`.
    pub fn apply_at(&mut self, event: &Event, position: u64, version: u64, at: DateTime<Utc>) {
        self.version = version;
        match event {
            Event::MonitorUpdated(u) => self.config = u.config.clone(),
            Event::MonitorPaused(_) => self.enter(Status::Paused, at),
            Event::MonitorResumed(_) => self.enter(Status::Pending, at),
            Event::MonitorDeleted(_) => self.deleted = true,
            Event::MonitorChecked(c) => {
                self.count(c.ok);
                if c.cert_expires_at.is_some() {
                    self.cert_expires_at = c.cert_expires_at;
                }
                self.last_check = Some(LastCheck {
                    at,
                    position,
                    ok: c.ok,
                    latency_ms: c.latency_ms,
                    status_code: c.status_code,
                    error: c.error.clone(),
                    ping: c.ping.clone(),
                });
            }
            Event::HeartbeatReceived(h) => {
                self.count(h.up);
                self.last_check = Some(LastCheck {
                    at,
                    position,
                    ok: h.up,
                    latency_ms: h.ping_ms.unwrap_or(0.0),
                    status_code: None,
                    error: (!h.up).then(|| h.msg.clone().unwrap_or_else(|| "down".to_owned())),
                    ping: None,
                });
            }
            Event::MonitorWentUp(_) | Event::MonitorRecovered(_) => self.enter(Status::Up, at),
            Event::MonitorWentDown(d) => {
                self.enter(Status::Down, at);
                self.down_reason = Some(d.reason.clone());
            }
            _ => {}
        }
    }

    fn enter(&mut self, status: Status, at: DateTime<Utc>) {
        self.status = status;
        self.status_since = at;
        self.down_reason = None;
        self.failures = 0;
        self.successes = 0;
    }

    fn count(&mut self, ok: bool) {
        if ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
    }

    /// The transition the last check calls for, given the counters it left.
    pub fn transition(&self) -> Option<Transition> {
        let down_after = self.config.retries.max(1);
        let up_after = self.config.recover_after.max(1);
        let reason = || {
            self.last_check
                .as_ref()
                .and_then(|c| c.error.clone())
                .unwrap_or_else(|| "check failed".to_owned())
        };
        match self.status {
            Status::Pending if self.successes >= 1 => Some(Transition::WentUp),
            Status::Pending | Status::Up if self.failures >= down_after => {
                Some(Transition::WentDown(reason()))
            }
            Status::Down if self.successes >= up_after => Some(Transition::Recovered),
            _ => None,
        }
    }
}

/// A new monitor's timeout when the client sends none (and the interval allows it).
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;

/// Echo requests a ping monitor sends per check unless told otherwise.
pub const DEFAULT_PING_COUNT: u8 = 3;

/// The most echo requests a ping monitor may send per check.
pub const MAX_PING_COUNT: u8 = 10;

/// How long each echo request waits for its reply unless told otherwise (Uptime Kuma's 2 s).
pub const DEFAULT_PACKET_TIMEOUT_MS: u32 = 2_000;

/// The longest a ping monitor's echo request may wait for its reply.
pub const MAX_PACKET_TIMEOUT_MS: u32 = 60_000;

/// The settings a new ping monitor gets for what the client left out.
pub fn default_ping_settings() -> PingSettings {
    PingSettings {
        count: DEFAULT_PING_COUNT,
        packet_timeout_ms: DEFAULT_PACKET_TIMEOUT_MS,
        max_loss_percent: None,
    }
}

/// Deserializes a field that was sent, `null` included, as `Some`: with `#[serde(default)]`
/// an `Option<Option<T>>` then tells "absent" (keep) from `null` (clear) in a PATCH.
fn present<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A monitor's settings as a client sends them: every field optional, unknown fields refused.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorInput {
    #[serde(default, deserialize_with = "not_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "present")]
    url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    host: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    port: Option<Option<u16>>,
    #[serde(default, deserialize_with = "present")]
    record_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    resolver: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    interval_s: Option<u32>,
    #[serde(default, deserialize_with = "not_null")]
    timeout_ms: Option<u32>,
    #[serde(default, deserialize_with = "not_null")]
    retries: Option<u32>,
    #[serde(default, deserialize_with = "not_null")]
    recover_after: Option<u32>,
    #[serde(default, deserialize_with = "not_null")]
    method: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present")]
    body: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    follow_redirects: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    ignore_tls_errors: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    expect: Option<ExpectInput>,
    #[serde(default, deserialize_with = "present")]
    cert_expiry_days: Option<Option<u32>>,
    #[serde(default, deserialize_with = "not_null")]
    grace_s: Option<u32>,
    #[serde(default, deserialize_with = "not_null")]
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    paused: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    count: Option<u32>,
    #[serde(default, deserialize_with = "not_null")]
    packet_timeout_ms: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    max_loss_percent: Option<Option<u32>>,
}

/// The `expect` object as a client sends it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectInput {
    #[serde(default, deserialize_with = "not_null")]
    status: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    body_contains: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    body_regex: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    json_path: Option<Option<JsonPathInput>>,
    #[serde(default, deserialize_with = "present")]
    max_latency_ms: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    contains: Option<Option<String>>,
}

/// A JSON path expectation as a client sends it: `equals` is any JSON value.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonPathInput {
    path: String,
    equals: Value,
}

/// A heartbeat a push monitor's sender reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    /// `status=up` (the default) or `down`.
    pub up: bool,
    /// The sender's message.
    pub msg: Option<String>,
    /// The sender's measured ping, in milliseconds.
    pub ping_ms: Option<f64>,
}

/// What may be asked of a monitor.
#[derive(Clone, Debug)]
pub enum MonitorCommand {
    /// Create a monitor with these settings, under an id and push token chosen by the caller.
    Create {
        /// The new monitor's id.
        monitor_id: Uuid,
        /// The secret of its heartbeat URL, kept only if it is a push monitor.
        push_token: String,
        /// The settings sent; `kind` and `name` are required.
        input: Box<MonitorInput>,
    },
    /// Change the settings sent, keep the others (`PATCH`).
    Update {
        /// The settings sent.
        input: Box<MonitorInput>,
        /// The version the caller saw (`If-Match`), if it sent one.
        expected: Option<u64>,
    },
    /// Stop checking.
    Pause {
        /// The version the caller saw (`If-Match`), if it sent one.
        expected: Option<u64>,
    },
    /// Check again, from `pending`.
    Resume {
        /// The version the caller saw (`If-Match`), if it sent one.
        expected: Option<u64>,
    },
    /// Delete; the history stays in the log.
    Delete {
        /// The version the caller saw (`If-Match`), if it sent one.
        expected: Option<u64>,
    },
    /// A push monitor's sender reports in.
    Heartbeat(Heartbeat),
    /// A check ran (or a push monitor's window closed without a heartbeat).
    RecordCheck(MonitorChecked),
}

/// The settings a new monitor of `kind` gets for what the client left out.
pub fn defaults(kind: MonitorKind) -> MonitorConfig {
    MonitorConfig {
        name: String::new(),
        kind,
        url: None,
        host: None,
        port: None,
        record_type: None,
        resolver: None,
        interval_s: 60,
        timeout_ms: DEFAULT_TIMEOUT_MS,
        retries: 1,
        recover_after: 1,
        method: "GET".to_owned(),
        headers: BTreeMap::new(),
        body: None,
        follow_redirects: true,
        ignore_tls_errors: false,
        expect: Expectations::default(),
        cert_expiry_days: Some(14),
        grace_s: 0,
        tags: Vec::new(),
        ping: (kind == MonitorKind::Ping).then(default_ping_settings),
    }
}

/// A monitor kind as the API spells it.
pub fn parse_kind(kind: &str) -> Result<MonitorKind, DomainError> {
    match kind {
        "http" => Ok(MonitorKind::Http),
        "tcp" => Ok(MonitorKind::Tcp),
        "dns" => Ok(MonitorKind::Dns),
        "push" => Ok(MonitorKind::Push),
        "ping" => Ok(MonitorKind::Ping),
        other => Err(DomainError::invalid(
            "kind",
            format!("unknown kind {other:?}: use http, tcp, dns, ping or push"),
        )),
    }
}

impl MonitorInput {
    /// Applies the fields sent over `base` (a new monitor's defaults, or its current
    /// settings) and validates the result.
    pub fn merge(self, base: MonitorConfig) -> Result<MonitorConfig, DomainError> {
        let input = self;
        let mut c = base;
        if let Some(name) = input.name {
            c.name = name;
        }
        if let Some(v) = input.url {
            c.url = v;
        }
        if let Some(v) = input.host {
            c.host = v;
        }
        if let Some(v) = input.port {
            c.port = v;
        }
        if let Some(v) = input.record_type {
            c.record_type = v;
        }
        if let Some(v) = input.resolver {
            c.resolver = v;
        }
        if let Some(v) = input.interval_s {
            c.interval_s = v;
        }
        match input.timeout_ms {
            Some(v) => c.timeout_ms = v,
            // Unasked, the timeout follows a shorter interval: 80% of it, at most 10 s.
            None if u64::from(c.timeout_ms) >= u64::from(c.interval_s) * 1000 => {
                c.timeout_ms = (c.interval_s.saturating_mul(800)).clamp(1, DEFAULT_TIMEOUT_MS);
            }
            None => {}
        }
        if let Some(v) = input.retries {
            c.retries = v;
        }
        if let Some(v) = input.recover_after {
            c.recover_after = v;
        }
        if let Some(v) = input.method {
            c.method = v.to_ascii_uppercase();
        }
        if let Some(v) = input.headers {
            c.headers = v;
        }
        if let Some(v) = input.body {
            c.body = v;
        }
        if let Some(v) = input.follow_redirects {
            c.follow_redirects = v;
        }
        if let Some(v) = input.ignore_tls_errors {
            c.ignore_tls_errors = v;
        }
        if let Some(v) = input.cert_expiry_days {
            c.cert_expiry_days = v;
        }
        if let Some(v) = input.grace_s {
            c.grace_s = v;
        }
        if let Some(v) = input.tags {
            c.tags = v;
        }
        merge_ping(
            &mut c,
            input.count,
            input.packet_timeout_ms,
            input.max_loss_percent,
        )?;
        if let Some(e) = input.expect {
            if let Some(v) = e.status {
                c.expect.status = v;
            }
            if let Some(v) = e.body_contains {
                c.expect.body_contains = v;
            }
            if let Some(v) = e.body_regex {
                c.expect.body_regex = v;
            }
            if let Some(v) = e.max_latency_ms {
                c.expect.max_latency_ms = v;
            }
            if let Some(v) = e.contains {
                c.expect.contains = v;
            }
            if let Some(v) = e.json_path {
                c.expect.json_path = match v {
                    None => None,
                    Some(j) => Some(JsonPathExpectation {
                        path: j.path,
                        equals: serde_json::to_string(&j.equals)
                            .map_err(|e| DomainError::invalid("expect.json_path.equals", e))?,
                    }),
                };
            }
        }
        validate(&c)?;
        Ok(c)
    }
}

/// Applies the ping settings sent; they are refused for a monitor of another kind.
fn merge_ping(
    c: &mut MonitorConfig,
    count: Option<u32>,
    packet_timeout_ms: Option<u32>,
    max_loss_percent: Option<Option<u32>>,
) -> Result<(), DomainError> {
    if c.kind != MonitorKind::Ping {
        let sent = [
            ("count", count.is_some()),
            ("packet_timeout_ms", packet_timeout_ms.is_some()),
            ("max_loss_percent", max_loss_percent.is_some()),
        ];
        return match sent.iter().find(|(_, sent)| *sent) {
            Some((field, _)) => Err(DomainError::invalid(*field, "is only for ping monitors")),
            None => Ok(()),
        };
    }
    let ping = c.ping.get_or_insert_with(default_ping_settings);
    if let Some(v) = count {
        ping.count = u8::try_from(v)
            .ok()
            .filter(|n| (1..=MAX_PING_COUNT).contains(n))
            .ok_or_else(|| {
                DomainError::invalid("count", format!("must be 1 to {MAX_PING_COUNT} packets"))
            })?;
    }
    if let Some(v) = packet_timeout_ms {
        ping.packet_timeout_ms = v;
    }
    if let Some(v) = max_loss_percent {
        ping.max_loss_percent = match v {
            None => None,
            Some(p) => Some(u8::try_from(p).ok().filter(|p| *p <= 100).ok_or_else(|| {
                DomainError::invalid("max_loss_percent", "must be 0 to 100 percent")
            })?),
        };
    }
    Ok(())
}

/// Checks every field of a monitor's settings, naming the first bad one.
pub fn validate(c: &MonitorConfig) -> Result<(), DomainError> {
    let name = c.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(DomainError::invalid("name", "must be 1 to 200 characters"));
    }
    if c.interval_s == 0 || c.interval_s > 86_400 {
        return Err(DomainError::invalid(
            "interval_s",
            "must be 1 to 86400 seconds",
        ));
    }
    if c.timeout_ms == 0 || u64::from(c.timeout_ms) >= u64::from(c.interval_s) * 1000 {
        return Err(DomainError::invalid(
            "timeout_ms",
            format!(
                "must be at least 1 and below the interval ({} ms)",
                u64::from(c.interval_s) * 1000
            ),
        ));
    }
    if c.retries > 100 {
        return Err(DomainError::invalid("retries", "must be at most 100"));
    }
    if c.recover_after > 100 {
        return Err(DomainError::invalid("recover_after", "must be at most 100"));
    }
    if c.grace_s > 86_400 {
        return Err(DomainError::invalid(
            "grace_s",
            "must be at most 86400 seconds",
        ));
    }
    if c.tags.len() > 50 || c.tags.iter().any(|t| t.is_empty() || t.len() > 100) {
        return Err(DomainError::invalid(
            "tags",
            "at most 50 tags of 1 to 100 characters",
        ));
    }
    for (i, spec) in c.expect.status.iter().enumerate() {
        checks::parse_status_range(spec)
            .map_err(|e| DomainError::invalid(format!("expect.status[{i}]"), e))?;
    }
    if let Some(re) = &c.expect.body_regex {
        checks::validate_regex(re).map_err(|e| DomainError::invalid("expect.body_regex", e))?;
    }
    if let Some(j) = &c.expect.json_path {
        checks::validate_json_path(&j.path)
            .map_err(|e| DomainError::invalid("expect.json_path.path", e))?;
    }
    match c.kind {
        MonitorKind::Http => {
            let url = c
                .url
                .as_deref()
                .ok_or_else(|| DomainError::invalid("url", "an http monitor needs a url"))?;
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| DomainError::invalid("url", format!("{url:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(DomainError::invalid(
                    "url",
                    "must be an http:// or https:// URL with a host",
                ));
            }
            reqwest::Method::from_bytes(c.method.as_bytes()).map_err(|_| {
                DomainError::invalid("method", format!("{:?} is not an HTTP method", c.method))
            })?;
            for (k, v) in &c.headers {
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                    DomainError::invalid("headers", format!("{k:?} is not a header name"))
                })?;
                reqwest::header::HeaderValue::from_str(v).map_err(|_| {
                    DomainError::invalid("headers", format!("the value of {k:?} is not valid"))
                })?;
            }
        }
        MonitorKind::Tcp => {
            host_field(c)?;
            if c.port.is_none_or(|p| p == 0) {
                return Err(DomainError::invalid(
                    "port",
                    "a tcp monitor needs a port from 1 to 65535",
                ));
            }
        }
        MonitorKind::Dns => {
            host_field(c)?;
            let rt = c.record_type.as_deref().ok_or_else(|| {
                DomainError::invalid("record_type", "a dns monitor needs a record_type")
            })?;
            checks::parse_record_type(rt).map_err(|e| DomainError::invalid("record_type", e))?;
            if let Some(r) = &c.resolver {
                checks::parse_resolver(r).map_err(|e| DomainError::invalid("resolver", e))?;
            }
        }
        MonitorKind::Ping => {
            host_field(c)?;
            let ping = c.ping.as_ref().ok_or_else(|| {
                DomainError::invalid("count", "a ping monitor needs its ping settings")
            })?;
            if !(1..=MAX_PING_COUNT).contains(&ping.count) {
                return Err(DomainError::invalid(
                    "count",
                    format!("must be 1 to {MAX_PING_COUNT} packets"),
                ));
            }
            if ping.packet_timeout_ms == 0 || ping.packet_timeout_ms > MAX_PACKET_TIMEOUT_MS {
                return Err(DomainError::invalid(
                    "packet_timeout_ms",
                    format!("must be 1 to {MAX_PACKET_TIMEOUT_MS} ms"),
                ));
            }
            if ping.max_loss_percent.is_some_and(|p| p > 100) {
                return Err(DomainError::invalid(
                    "max_loss_percent",
                    "must be 0 to 100 percent",
                ));
            }
        }
        MonitorKind::Push => {}
    }
    Ok(())
}

fn host_field(c: &MonitorConfig) -> Result<(), DomainError> {
    match c.host.as_deref() {
        Some(h) if !h.trim().is_empty() && h.len() <= 253 && !h.contains(char::is_whitespace) => {
            Ok(())
        }
        _ => Err(DomainError::invalid(
            "host",
            format!("a {} monitor needs a host name or address", c.kind.as_str()),
        )),
    }
}

/// Whether `event` is a status change that follows the facts before it (and is recorded
/// after them, caused by the last of them).
pub fn is_transition(event: &Event) -> bool {
    matches!(
        event,
        Event::MonitorWentUp(_) | Event::MonitorWentDown(_) | Event::MonitorRecovered(_)
    )
}

/// The observation `fact` and, after it, the transition it calls for in `state`.
fn with_transition(state: &MonitorState, fact: Event) -> Vec<Event> {
    let mut after = state.clone();
    after.apply_at(&fact, 0, state.version + 1, state.status_since);
    let transition = after.transition().map(|t| t.event(state.id));
    std::iter::once(fact).chain(transition).collect()
}

/// What `command` appends to a monitor in `state` (`None`: no such monitor yet), or why
/// it is refused. An empty list means the command changes nothing (pausing a paused monitor).
pub fn decide(
    state: Option<&MonitorState>,
    command: MonitorCommand,
) -> Result<Vec<Event>, DomainError> {
    let live = state.filter(|s| !s.deleted);
    let found = || live.ok_or(DomainError::NotFound("monitor"));
    match command {
        MonitorCommand::Create {
            monitor_id,
            push_token,
            input,
        } => {
            if live.is_some() {
                return Err(DomainError::Conflict("the monitor exists already".into()));
            }
            let kind = parse_kind(input.kind.as_deref().ok_or_else(|| {
                DomainError::invalid("kind", "is required: http, tcp, dns, ping or push")
            })?)?;
            if input.name.is_none() {
                return Err(DomainError::invalid("name", "is required"));
            }
            let paused = input.paused.unwrap_or(false);
            let config = input.merge(defaults(kind))?;
            let push_token = (config.kind == MonitorKind::Push).then_some(push_token);
            Ok(vec![Event::MonitorCreated(Box::new(MonitorCreated {
                monitor_id,
                config,
                paused,
                push_token,
            }))])
        }
        MonitorCommand::Update { input, expected } => {
            if input.kind.is_some() {
                return Err(DomainError::invalid(
                    "kind",
                    "cannot change: create a new monitor instead",
                ));
            }
            if input.paused.is_some() {
                return Err(DomainError::invalid(
                    "paused",
                    "use POST /monitors/{id}/pause or /resume",
                ));
            }
            let s = found()?;
            let config = input.merge(s.config.clone())?;
            expect_version("monitor", expected, s.version)?;
            Ok(vec![Event::MonitorUpdated(Box::new(MonitorUpdated {
                monitor_id: s.id,
                config,
            }))])
        }
        MonitorCommand::Pause { expected } => {
            let s = found()?;
            expect_version("monitor", expected, s.version)?;
            Ok(match s.status {
                Status::Paused => vec![],
                _ => vec![Event::MonitorPaused(MonitorRef { monitor_id: s.id })],
            })
        }
        MonitorCommand::Resume { expected } => {
            let s = found()?;
            expect_version("monitor", expected, s.version)?;
            Ok(match s.status {
                Status::Paused => vec![Event::MonitorResumed(MonitorRef { monitor_id: s.id })],
                _ => vec![],
            })
        }
        MonitorCommand::Delete { expected } => {
            let s = found()?;
            expect_version("monitor", expected, s.version)?;
            Ok(vec![Event::MonitorDeleted(MonitorRef { monitor_id: s.id })])
        }
        MonitorCommand::Heartbeat(beat) => {
            let s = found()?;
            if s.config.kind != MonitorKind::Push {
                return Err(DomainError::Conflict("not a push monitor".into()));
            }
            let fact = Event::HeartbeatReceived(HeartbeatReceived {
                monitor_id: s.id,
                up: beat.up,
                msg: beat.msg,
                ping_ms: beat.ping_ms,
            });
            // A paused monitor keeps its heartbeats but does not change status.
            Ok(match s.status {
                Status::Paused => vec![fact],
                _ => with_transition(s, fact),
            })
        }
        MonitorCommand::RecordCheck(checked) => {
            let s = found()?;
            if s.status == Status::Paused {
                return Ok(vec![]);
            }
            let fact = Event::MonitorChecked(MonitorChecked {
                monitor_id: s.id,
                ..checked
            });
            Ok(with_transition(s, fact))
        }
    }
}

impl super::Aggregate for MonitorState {
    fn stream(&self) -> crate::events::StreamId {
        crate::events::StreamId::monitor(self.id)
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn apply_at(&mut self, event: &Event, position: u64, version: u64, at: DateTime<Utc>) {
        MonitorState::apply_at(self, event, position, version, at)
    }

    fn is_consequence(event: &Event) -> bool {
        is_transition(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    const ID: Uuid = Uuid::from_u128(7);

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid time")
    }

    fn input(v: Value) -> Box<MonitorInput> {
        Box::new(serde_json::from_value(v).expect("a monitor body"))
    }

    fn create(v: Value) -> MonitorCommand {
        MonitorCommand::Create {
            monitor_id: ID,
            push_token: "pt_secret".into(),
            input: input(v),
        }
    }

    /// The state after `events`, folded as versions 0, 1, 2, ... of the monitor's stream.
    fn given(events: &[Event]) -> Option<MonitorState> {
        let mut state: Option<MonitorState> = None;
        for (v, e) in events.iter().enumerate() {
            let v = v as u64;
            match (&mut state, e) {
                (None, Event::MonitorCreated(c)) => state = Some(MonitorState::created(c, v, t0())),
                (Some(s), e) => s.apply_at(e, v + 1, v, t0()),
                (None, _) => panic!("a stream starts with MonitorCreated"),
            }
        }
        state
    }

    fn created(v: Value) -> Vec<Event> {
        decide(None, create(v)).expect("created")
    }

    fn http() -> Vec<Event> {
        created(json!({"name": "web", "kind": "http", "url": "http://example.com/"}))
    }

    fn push() -> Vec<Event> {
        created(json!({"name": "cron", "kind": "push", "interval_s": 60}))
    }

    fn invalid_field(result: Result<Vec<Event>, DomainError>) -> String {
        match result {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn check(ok: bool) -> MonitorCommand {
        MonitorCommand::RecordCheck(MonitorChecked {
            monitor_id: Uuid::nil(),
            ok,
            latency_ms: 5.0,
            status_code: None,
            error: (!ok).then(|| "refused".to_owned()),
            cert_expires_at: None,
            ping: None,
        })
    }

    #[test]
    fn create_fills_the_defaults_and_keeps_no_push_token_for_an_http_monitor() {
        let events = http();
        let [Event::MonitorCreated(c)] = events.as_slice() else {
            panic!("one MonitorCreated, got {events:?}");
        };
        assert_eq!(c.monitor_id, ID);
        assert_eq!(c.config.interval_s, 60);
        assert_eq!(c.config.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(c.push_token, None);
        assert!(!c.paused);
    }

    #[test]
    fn create_of_a_ping_monitor_fills_the_ping_defaults_and_update_changes_what_was_sent() {
        let events = created(json!({"name": "gw", "kind": "ping", "host": "10.0.0.1"}));
        let [Event::MonitorCreated(c)] = events.as_slice() else {
            panic!("one MonitorCreated, got {events:?}");
        };
        assert_eq!(c.config.ping, Some(default_ping_settings()));
        let state = given(&events);
        let update = MonitorCommand::Update {
            input: input(json!({"count": 10, "max_loss_percent": 20})),
            expected: None,
        };
        let updated = decide(state.as_ref(), update).expect("updated");
        let [Event::MonitorUpdated(u)] = updated.as_slice() else {
            panic!("one MonitorUpdated, got {updated:?}");
        };
        let ping = u.config.ping.as_ref().expect("ping settings");
        assert_eq!(
            (ping.count, ping.packet_timeout_ms, ping.max_loss_percent),
            (10, DEFAULT_PACKET_TIMEOUT_MS, Some(20))
        );
    }

    #[test]
    fn ping_settings_out_of_range_or_on_another_kind_are_refused_naming_the_field() {
        let ping = |extra: Value| {
            let mut body = json!({"name": "gw", "kind": "ping", "host": "::1"});
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            decide(None, create(body))
        };
        assert_eq!(invalid_field(ping(json!({"count": 0}))), "count");
        assert_eq!(invalid_field(ping(json!({"count": 11}))), "count");
        assert_eq!(invalid_field(ping(json!({"count": 1000}))), "count");
        assert_eq!(invalid_field(ping(json!({"host": ""}))), "host");
        assert_eq!(invalid_field(ping(json!({"host": "a b"}))), "host");
        assert_eq!(
            invalid_field(ping(json!({"packet_timeout_ms": 0}))),
            "packet_timeout_ms"
        );
        assert_eq!(
            invalid_field(ping(json!({"max_loss_percent": 101}))),
            "max_loss_percent"
        );
        let http_with_count = decide(
            None,
            create(json!({"name": "w", "kind": "http", "url": "http://example.com/", "count": 3})),
        );
        assert_eq!(invalid_field(http_with_count), "count");
    }

    #[test]
    fn create_of_a_push_monitor_keeps_the_token_it_was_given() {
        let events = push();
        let [Event::MonitorCreated(c)] = events.as_slice() else {
            panic!("one MonitorCreated, got {events:?}");
        };
        assert_eq!(c.push_token.as_deref(), Some("pt_secret"));
    }

    #[test]
    fn create_with_a_short_interval_shortens_the_default_timeout() {
        let events =
            created(json!({"name": "n", "kind": "tcp", "host": "h", "port": 1, "interval_s": 5}));
        let [Event::MonitorCreated(c)] = events.as_slice() else {
            panic!("one MonitorCreated, got {events:?}");
        };
        assert_eq!(c.config.timeout_ms, 4000);
    }

    #[test]
    fn create_refuses_an_interval_of_zero_naming_interval_s() {
        let r = decide(
            None,
            create(json!({"name": "n", "kind": "push", "interval_s": 0})),
        );
        assert_eq!(invalid_field(r), "interval_s");
    }

    #[test]
    fn create_refuses_a_missing_kind_an_unknown_kind_and_a_missing_name() {
        assert_eq!(
            invalid_field(decide(None, create(json!({"name": "n"})))),
            "kind"
        );
        assert_eq!(
            invalid_field(decide(None, create(json!({"name": "n", "kind": "ftp"})))),
            "kind"
        );
        assert_eq!(
            invalid_field(decide(None, create(json!({"kind": "push"})))),
            "name"
        );
    }

    #[test]
    fn create_refuses_bad_urls_hosts_ports_tags_and_expectations_naming_each() {
        let cases = [
            (json!({"name": "n", "kind": "http"}), "url"),
            (
                json!({"name": "n", "kind": "http", "url": "ftp://x/"}),
                "url",
            ),
            (json!({"name": "n", "kind": "tcp", "port": 80}), "host"),
            (json!({"name": "n", "kind": "tcp", "host": "h"}), "port"),
            (
                json!({"name": "n", "kind": "dns", "host": "h"}),
                "record_type",
            ),
            (json!({"name": "n", "kind": "push", "tags": [""]}), "tags"),
            (
                json!({"name": "n", "kind": "push", "timeout_ms": 60000}),
                "timeout_ms",
            ),
            (
                json!({"name": "n", "kind": "http", "url": "http://x/", "expect": {"status": ["abc"]}}),
                "expect.status[0]",
            ),
            (json!({"name": " ", "kind": "push"}), "name"),
        ];
        for (body, field) in cases {
            assert_eq!(
                invalid_field(decide(None, create(body.clone()))),
                field,
                "{body}"
            );
        }
    }

    #[test]
    fn create_of_a_monitor_that_exists_is_a_conflict() {
        let state = given(&http());
        let r = decide(state.as_ref(), create(json!({"name": "n", "kind": "push"})));
        assert!(matches!(r, Err(DomainError::Conflict(_))), "{r:?}");
    }

    #[test]
    fn update_changes_what_was_sent_and_keeps_the_rest() {
        let state = given(&http());
        let events = decide(
            state.as_ref(),
            MonitorCommand::Update {
                input: input(json!({"interval_s": 30, "tags": ["prod"]})),
                expected: Some(0),
            },
        )
        .expect("updated");
        let [Event::MonitorUpdated(u)] = events.as_slice() else {
            panic!("one MonitorUpdated, got {events:?}");
        };
        assert_eq!(u.monitor_id, ID);
        assert_eq!(u.config.interval_s, 30);
        assert_eq!(u.config.tags, vec!["prod".to_owned()]);
        assert_eq!(u.config.url.as_deref(), Some("http://example.com/"));
    }

    #[test]
    fn update_with_a_stale_version_is_a_version_mismatch() {
        let mut events = http();
        events.push(Event::MonitorPaused(MonitorRef { monitor_id: ID }));
        let r = decide(
            given(&events).as_ref(),
            MonitorCommand::Update {
                input: input(json!({"interval_s": 30})),
                expected: Some(0),
            },
        );
        assert_eq!(
            r,
            Err(DomainError::VersionMismatch {
                what: "monitor",
                expected: 0,
                actual: 1
            })
        );
    }

    #[test]
    fn update_refuses_an_interval_below_the_minimum_naming_interval_s() {
        let r = decide(
            given(&http()).as_ref(),
            MonitorCommand::Update {
                input: input(json!({"interval_s": 0})),
                expected: None,
            },
        );
        assert_eq!(invalid_field(r), "interval_s");
    }

    #[test]
    fn update_refuses_kind_and_paused_before_looking_for_the_monitor() {
        let kind = MonitorCommand::Update {
            input: input(json!({"kind": "tcp"})),
            expected: None,
        };
        assert_eq!(invalid_field(decide(None, kind)), "kind");
        let paused = MonitorCommand::Update {
            input: input(json!({"paused": true})),
            expected: None,
        };
        assert_eq!(
            invalid_field(decide(given(&http()).as_ref(), paused)),
            "paused"
        );
    }

    #[test]
    fn update_of_a_monitor_that_does_not_exist_is_not_found() {
        let r = decide(
            None,
            MonitorCommand::Update {
                input: input(json!({"interval_s": 30})),
                expected: None,
            },
        );
        assert_eq!(r, Err(DomainError::NotFound("monitor")));
    }

    #[test]
    fn pause_pauses_and_pausing_again_appends_nothing() {
        let mut events = http();
        let paused = decide(
            given(&events).as_ref(),
            MonitorCommand::Pause { expected: Some(0) },
        )
        .expect("paused");
        assert_eq!(
            paused,
            vec![Event::MonitorPaused(MonitorRef { monitor_id: ID })]
        );
        events.extend(paused);
        let again = decide(
            given(&events).as_ref(),
            MonitorCommand::Pause { expected: None },
        );
        assert_eq!(again, Ok(vec![]));
    }

    #[test]
    fn pause_with_a_stale_version_is_a_version_mismatch() {
        let r = decide(
            given(&http()).as_ref(),
            MonitorCommand::Pause { expected: Some(3) },
        );
        assert!(
            matches!(r, Err(DomainError::VersionMismatch { .. })),
            "{r:?}"
        );
    }

    #[test]
    fn resume_resumes_a_paused_monitor_and_does_nothing_to_a_running_one() {
        let mut events = http();
        let running = decide(
            given(&events).as_ref(),
            MonitorCommand::Resume { expected: None },
        );
        assert_eq!(running, Ok(vec![]));
        events.push(Event::MonitorPaused(MonitorRef { monitor_id: ID }));
        let resumed = decide(
            given(&events).as_ref(),
            MonitorCommand::Resume { expected: Some(1) },
        );
        assert_eq!(
            resumed,
            Ok(vec![Event::MonitorResumed(MonitorRef { monitor_id: ID })])
        );
    }

    #[test]
    fn resume_of_a_deleted_monitor_is_not_found() {
        let mut events = http();
        events.push(Event::MonitorDeleted(MonitorRef { monitor_id: ID }));
        let r = decide(
            given(&events).as_ref(),
            MonitorCommand::Resume { expected: None },
        );
        assert_eq!(r, Err(DomainError::NotFound("monitor")));
    }

    #[test]
    fn delete_deletes_and_deleting_twice_is_not_found() {
        let mut events = http();
        let deleted = decide(
            given(&events).as_ref(),
            MonitorCommand::Delete { expected: Some(0) },
        )
        .expect("deleted");
        assert_eq!(
            deleted,
            vec![Event::MonitorDeleted(MonitorRef { monitor_id: ID })]
        );
        events.extend(deleted);
        let twice = decide(
            given(&events).as_ref(),
            MonitorCommand::Delete { expected: None },
        );
        assert_eq!(twice, Err(DomainError::NotFound("monitor")));
    }

    #[test]
    fn a_heartbeat_of_a_pending_push_monitor_records_it_and_brings_it_up() {
        let beat = Heartbeat {
            up: true,
            msg: None,
            ping_ms: Some(3.0),
        };
        let events =
            decide(given(&push()).as_ref(), MonitorCommand::Heartbeat(beat)).expect("beat");
        assert_eq!(
            events,
            vec![
                Event::HeartbeatReceived(HeartbeatReceived {
                    monitor_id: ID,
                    up: true,
                    msg: None,
                    ping_ms: Some(3.0),
                }),
                Event::MonitorWentUp(MonitorRef { monitor_id: ID }),
            ]
        );
        assert!(!is_transition(&events[0]) && is_transition(&events[1]));
    }

    #[test]
    fn a_down_heartbeat_of_a_paused_push_monitor_changes_no_status() {
        let mut events = push();
        events.push(Event::MonitorPaused(MonitorRef { monitor_id: ID }));
        let beat = Heartbeat {
            up: false,
            msg: Some("disk full".into()),
            ping_ms: None,
        };
        let decided =
            decide(given(&events).as_ref(), MonitorCommand::Heartbeat(beat)).expect("beat");
        assert_eq!(decided.len(), 1);
        assert!(matches!(decided[0], Event::HeartbeatReceived(_)));
    }

    #[test]
    fn a_heartbeat_for_an_http_monitor_is_a_conflict() {
        let beat = Heartbeat {
            up: true,
            msg: None,
            ping_ms: None,
        };
        let r = decide(given(&http()).as_ref(), MonitorCommand::Heartbeat(beat));
        assert_eq!(r, Err(DomainError::Conflict("not a push monitor".into())));
    }

    #[test]
    fn a_failed_check_of_an_up_monitor_records_it_and_takes_it_down_with_the_reason() {
        let mut events = http();
        events.push(Event::MonitorWentUp(MonitorRef { monitor_id: ID }));
        let decided = decide(given(&events).as_ref(), check(false)).expect("recorded");
        assert_eq!(decided.len(), 2);
        let Event::MonitorChecked(c) = &decided[0] else {
            panic!("a check first, got {decided:?}");
        };
        assert_eq!(
            c.monitor_id, ID,
            "the monitor's own id, whatever the command said"
        );
        assert_eq!(
            decided[1],
            Event::MonitorWentDown(MonitorWentDown {
                monitor_id: ID,
                reason: "refused".into()
            })
        );
    }

    #[test]
    fn a_passed_check_of_an_up_monitor_records_only_the_check() {
        let mut events = http();
        events.push(Event::MonitorWentUp(MonitorRef { monitor_id: ID }));
        let decided = decide(given(&events).as_ref(), check(true)).expect("recorded");
        assert_eq!(decided.len(), 1);
    }

    #[test]
    fn a_check_of_a_paused_monitor_records_nothing_and_of_a_deleted_one_is_not_found() {
        let mut events = http();
        events.push(Event::MonitorPaused(MonitorRef { monitor_id: ID }));
        assert_eq!(decide(given(&events).as_ref(), check(false)), Ok(vec![]));
        events.push(Event::MonitorDeleted(MonitorRef { monitor_id: ID }));
        assert_eq!(
            decide(given(&events).as_ref(), check(false)),
            Err(DomainError::NotFound("monitor"))
        );
    }
}
