//! The monitor API: create, list, get, patch, delete, pause, resume, checks, series, and
//! push heartbeats. Validation names the bad field (422); commands answer with the
//! resource, its `ETag` and the `Watchfire-Position` of their last event.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::params::{
    by, from_json, if_match, invalid, parse_time, present, wait_min_position, MIN_POSITION_WAIT,
};
use super::views::{MonitorListView, MonitorView};
use super::{auth, AppState, Problem};
use crate::actors::monitor::checks;
use crate::actors::monitor::{Applied, Command, CommandKind, Heartbeat, MonitorError};
use crate::events::{
    Event, Expectations, JsonPathExpectation, MonitorConfig, MonitorKind, Role, StreamId,
    StreamVersion,
};
use crate::projections::{Monitors, ProjectionHandle};

/// A new monitor's timeout when the client sends none (and the interval allows it).
const DEFAULT_TIMEOUT_MS: u32 = 10_000;
/// Most checks one `checks` query returns.
const MAX_CHECKS: usize = 1000;

/// The JSON of a monitor as a client sends it: every field optional, unknown fields refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorInput {
    name: Option<String>,
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
    interval_s: Option<u32>,
    timeout_ms: Option<u32>,
    retries: Option<u32>,
    recover_after: Option<u32>,
    method: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present")]
    body: Option<Option<String>>,
    follow_redirects: Option<bool>,
    ignore_tls_errors: Option<bool>,
    expect: Option<ExpectInput>,
    #[serde(default, deserialize_with = "present")]
    cert_expiry_days: Option<Option<u32>>,
    grace_s: Option<u32>,
    tags: Option<Vec<String>>,
    paused: Option<bool>,
}

/// The `expect` object as a client sends it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectInput {
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonPathInput {
    path: String,
    equals: Value,
}

/// Reads a JSON body into a [`MonitorInput`], with a 422 naming the field it cannot take.
fn parse_input(value: Value) -> Result<MonitorInput, Problem> {
    from_json(value)
}

/// The settings a new monitor gets for what the client left out.
fn defaults(kind: MonitorKind) -> MonitorConfig {
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
    }
}

fn parse_kind(kind: &str) -> Result<MonitorKind, Problem> {
    match kind {
        "http" => Ok(MonitorKind::Http),
        "tcp" => Ok(MonitorKind::Tcp),
        "dns" => Ok(MonitorKind::Dns),
        "push" => Ok(MonitorKind::Push),
        other => Err(invalid(
            "kind",
            format!("unknown kind {other:?}: use http, tcp, dns or push"),
        )),
    }
}

/// Applies `input` over `base` (a new monitor's defaults, or its current settings) and validates the result.
fn merge(input: MonitorInput, base: MonitorConfig) -> Result<MonitorConfig, Problem> {
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
                        .map_err(|e| invalid("expect.json_path.equals", e))?,
                }),
            };
        }
    }
    validate(&c)?;
    Ok(c)
}

/// Checks every field of a monitor's settings, naming the first bad one.
fn validate(c: &MonitorConfig) -> Result<(), Problem> {
    let name = c.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(invalid("name", "must be 1 to 200 characters"));
    }
    if c.interval_s == 0 || c.interval_s > 86_400 {
        return Err(invalid("interval_s", "must be 1 to 86400 seconds"));
    }
    if c.timeout_ms == 0 || u64::from(c.timeout_ms) >= u64::from(c.interval_s) * 1000 {
        return Err(invalid(
            "timeout_ms",
            format!(
                "must be at least 1 and below the interval ({} ms)",
                u64::from(c.interval_s) * 1000
            ),
        ));
    }
    if c.retries > 100 {
        return Err(invalid("retries", "must be at most 100"));
    }
    if c.recover_after > 100 {
        return Err(invalid("recover_after", "must be at most 100"));
    }
    if c.grace_s > 86_400 {
        return Err(invalid("grace_s", "must be at most 86400 seconds"));
    }
    if c.tags.len() > 50 || c.tags.iter().any(|t| t.is_empty() || t.len() > 100) {
        return Err(invalid("tags", "at most 50 tags of 1 to 100 characters"));
    }
    for (i, spec) in c.expect.status.iter().enumerate() {
        checks::parse_status_range(spec).map_err(|e| invalid(&format!("expect.status[{i}]"), e))?;
    }
    if let Some(re) = &c.expect.body_regex {
        checks::validate_regex(re).map_err(|e| invalid("expect.body_regex", e))?;
    }
    if let Some(j) = &c.expect.json_path {
        checks::validate_json_path(&j.path).map_err(|e| invalid("expect.json_path.path", e))?;
    }
    match c.kind {
        MonitorKind::Http => {
            let url = c
                .url
                .as_deref()
                .ok_or_else(|| invalid("url", "an http monitor needs a url"))?;
            let parsed =
                reqwest::Url::parse(url).map_err(|e| invalid("url", format!("{url:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(invalid(
                    "url",
                    "must be an http:// or https:// URL with a host",
                ));
            }
            reqwest::Method::from_bytes(c.method.as_bytes())
                .map_err(|_| invalid("method", format!("{:?} is not an HTTP method", c.method)))?;
            for (k, v) in &c.headers {
                reqwest::header::HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| invalid("headers", format!("{k:?} is not a header name")))?;
                reqwest::header::HeaderValue::from_str(v)
                    .map_err(|_| invalid("headers", format!("the value of {k:?} is not valid")))?;
            }
        }
        MonitorKind::Tcp => {
            host_field(c)?;
            if c.port.is_none_or(|p| p == 0) {
                return Err(invalid(
                    "port",
                    "a tcp monitor needs a port from 1 to 65535",
                ));
            }
        }
        MonitorKind::Dns => {
            host_field(c)?;
            let rt = c
                .record_type
                .as_deref()
                .ok_or_else(|| invalid("record_type", "a dns monitor needs a record_type"))?;
            checks::parse_record_type(rt).map_err(|e| invalid("record_type", e))?;
            if let Some(r) = &c.resolver {
                checks::parse_resolver(r).map_err(|e| invalid("resolver", e))?;
            }
        }
        MonitorKind::Push => {}
    }
    Ok(())
}

fn host_field(c: &MonitorConfig) -> Result<(), Problem> {
    match c.host.as_deref() {
        Some(h) if !h.trim().is_empty() && h.len() <= 253 && !h.contains(char::is_whitespace) => {
            Ok(())
        }
        _ => Err(invalid(
            "host",
            format!("a {} monitor needs a host name or address", c.kind.as_str()),
        )),
    }
}

fn problem_of(e: MonitorError) -> Problem {
    match e {
        MonitorError::Conflict { .. } => Problem::new(StatusCode::CONFLICT, e.to_string()),
        MonitorError::NotFound => Problem::new(StatusCode::NOT_FOUND, "no such monitor"),
        MonitorError::WrongKind(_) => Problem::new(StatusCode::CONFLICT, e.to_string()),
        MonitorError::Store(crate::events::StoreError::Unavailable(_)) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        MonitorError::Store(_) | MonitorError::Unavailable => {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

/// A command's answer: the resource, its `ETag` and the `Watchfire-Position`.
fn command_response(
    status: StatusCode,
    applied: &Applied,
    monitors: &ProjectionHandle<Monitors>,
) -> HttpResponse {
    let view = monitors.read();
    let rollups = view.monitors.get(&applied.state.id).map(|v| &v.rollups);
    let body = MonitorView::at(&applied.state, rollups, Utc::now());
    let mut res = HttpResponse::build(status);
    res.insert_header((header::ETAG, format!("\"{}\"", applied.state.version)));
    res.insert_header(("Watchfire-Position", applied.position.0.to_string()));
    if status == StatusCode::CREATED {
        res.insert_header((
            header::LOCATION,
            format!("/api/v1/monitors/{}", applied.state.id),
        ));
    }
    res.json(body)
}

fn monitor_id(path: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(path).map_err(|_| Problem::new(StatusCode::NOT_FOUND, "no such monitor"))
}

/// `POST /api/v1/monitors`.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let input = parse_input(body.into_inner())?;
    let kind = parse_kind(
        input
            .kind
            .as_deref()
            .ok_or_else(|| invalid("kind", "is required: http, tcp, dns or push"))?,
    )?;
    if input.name.is_none() {
        return Err(invalid("name", "is required"));
    }
    let paused = input.paused.unwrap_or(false);
    let config = merge(input, defaults(kind))?;
    let applied = state
        .monitor_registry
        .create(config, paused, by(&who))
        .await
        .map_err(problem_of)?;
    Ok(command_response(
        StatusCode::CREATED,
        &applied,
        &state.monitors,
    ))
}

/// `GET /api/v1/monitors?tag=&status=`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.monitors).await?;
    #[derive(Deserialize)]
    struct Filter {
        tag: Option<String>,
        status: Option<String>,
    }
    let filter = web::Query::<Filter>::from_query(req.query_string())
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    if let Some(s) = &filter.status {
        if !matches!(s.as_str(), "pending" | "up" | "down" | "paused") {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                format!("unknown status {s:?}: use pending, up, down or paused"),
            ));
        }
    }
    let view = state.monitors.read();
    let now = Utc::now();
    let mut items: Vec<(&String, MonitorView)> = view
        .monitors
        .values()
        .filter(|v| {
            filter
                .tag
                .as_ref()
                .is_none_or(|t| v.state.config.tags.contains(t))
        })
        .filter(|v| {
            filter
                .status
                .as_deref()
                .is_none_or(|s| v.state.status.as_str() == s)
        })
        .map(|v| {
            (
                &v.state.config.name,
                MonitorView::at(&v.state, Some(&v.rollups), now),
            )
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(b.0));
    Ok(HttpResponse::Ok().json(MonitorListView {
        monitors: items.into_iter().map(|(_, v)| v).collect(),
        position: state.monitors.applied_position().0,
    }))
}

/// `GET /api/v1/monitors/{id}`.
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.monitors).await?;
    let id = monitor_id(&path)?;
    let view = state.monitors.read();
    let v = view
        .monitors
        .get(&id)
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "no such monitor"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", v.state.version)))
        .json(MonitorView::at(&v.state, Some(&v.rollups), Utc::now())))
}

async fn send(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
    kind: CommandKind,
    role_entry: &crate::projections::TokenEntry,
) -> Result<HttpResponse, Problem> {
    let id = monitor_id(id)?;
    let command = Command {
        kind,
        if_match: if_match(req)?,
        by: by(role_entry),
    };
    let applied = state
        .monitor_registry
        .command(id, command)
        .await
        .map_err(problem_of)?;
    Ok(command_response(StatusCode::OK, &applied, &state.monitors))
}

/// `PATCH /api/v1/monitors/{id}`.
pub async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let id = monitor_id(&path)?;
    let input = parse_input(body.into_inner())?;
    if input.kind.is_some() {
        return Err(invalid(
            "kind",
            "cannot change: create a new monitor instead",
        ));
    }
    if input.paused.is_some() {
        return Err(invalid(
            "paused",
            "use POST /monitors/{id}/pause or /resume",
        ));
    }
    // A monitor created a moment ago may not be in the read model yet: let it catch up.
    let durable = state.store.durable_position();
    let _ = state
        .monitors
        .progress()
        .reached(durable, MIN_POSITION_WAIT)
        .await;
    let current = state
        .monitors
        .read()
        .monitors
        .get(&id)
        .map(|v| v.state.config.clone())
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "no such monitor"))?;
    let config = merge(input, current)?;
    send(
        &state,
        &req,
        &path,
        CommandKind::Update(Box::new(config)),
        &who,
    )
    .await
}

/// `DELETE /api/v1/monitors/{id}`.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    send(&state, &req, &path, CommandKind::Delete, &who).await
}

/// `POST /api/v1/monitors/{id}/pause`.
pub async fn pause(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    send(&state, &req, &path, CommandKind::Pause, &who).await
}

/// `POST /api/v1/monitors/{id}/resume`.
pub async fn resume(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    send(&state, &req, &path, CommandKind::Resume, &who).await
}

#[derive(Deserialize)]
struct Range {
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    #[allow(dead_code)]
    min_position: Option<u64>,
}

/// `GET /api/v1/monitors/{id}/checks?since=&until=&limit=`: raw results, newest first.
pub async fn checks(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.monitors).await?;
    let id = monitor_id(&path)?;
    let range = web::Query::<Range>::from_query(req.query_string())
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let since = parse_time("since", range.since.as_deref())?;
    let until = parse_time("until", range.until.as_deref())?;
    let limit = range.limit.unwrap_or(100).clamp(1, MAX_CHECKS);
    let version = state
        .monitors
        .read()
        .monitors
        .get(&id)
        .map(|v| v.state.version)
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "no such monitor"))?;
    let store = state.store.clone();
    let found = web::block(move || newest_checks(&store, id, version, since, until, limit))
        .await
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({"checks": found})))
}

/// Reads a monitor's stream backwards for its newest checks in `[since, until]` (blocking).
fn newest_checks(
    store: &crate::events::EventStore,
    id: Uuid,
    version: u64,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: usize,
) -> Result<Vec<Value>, crate::events::StoreError> {
    const PAGE: u64 = 256;
    let stream = StreamId::monitor(id);
    let mut out = Vec::new();
    let mut high = version;
    loop {
        let low = high.saturating_sub(PAGE - 1);
        let page = store.read_stream(&stream, StreamVersion(low), (high - low + 1) as usize)?;
        for e in page.iter().rev() {
            if e.version.0 > high {
                continue;
            }
            if since.is_some_and(|s| e.timestamp < s) {
                return Ok(out);
            }
            if until.is_some_and(|u| e.timestamp > u) {
                continue;
            }
            let item = match &e.event {
                Event::MonitorChecked(c) => json!({
                    "position": e.position.0, "at": e.timestamp, "ok": c.ok, "latency_ms": c.latency_ms,
                    "status_code": c.status_code, "error": c.error, "cert_expires_at": c.cert_expires_at,
                }),
                Event::HeartbeatReceived(h) => json!({
                    "position": e.position.0, "at": e.timestamp, "ok": h.up, "latency_ms": h.ping_ms,
                    "status_code": null, "error": if h.up { Value::Null } else { json!(h.msg.clone().unwrap_or_else(|| "down".to_owned())) },
                    "heartbeat": true, "msg": h.msg,
                }),
                _ => continue,
            };
            out.push(item);
            if out.len() >= limit {
                return Ok(out);
            }
        }
        if low == 0 {
            return Ok(out);
        }
        high = low - 1;
    }
}

/// `GET /api/v1/monitors/{id}/series?since=&until=`: latency and uptime rollups.
pub async fn series(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.monitors).await?;
    let id = monitor_id(&path)?;
    let range = web::Query::<Range>::from_query(req.query_string())
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let until = parse_time("until", range.until.as_deref())?.unwrap_or_else(Utc::now);
    let since =
        parse_time("since", range.since.as_deref())?.unwrap_or(until - chrono::Duration::hours(24));
    if since >= until {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "since must be before until",
        ));
    }
    let view = state.monitors.read();
    let v = view
        .monitors
        .get(&id)
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "no such monitor"))?;
    let (resolution, buckets) = v.rollups.series(since, until);
    let points: Vec<Value> = buckets
        .iter()
        .map(|b| {
            json!({
                "start": DateTime::from_timestamp(b.start, 0),
                "checks": b.checks,
                "up": b.up,
                "uptime": f64::from(b.up) / f64::from(b.checks.max(1)),
                "avg_latency_ms": b.latency_sum_ms / f64::from(b.checks.max(1)),
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .json(json!({"resolution": resolution, "since": since, "until": until, "points": points})))
}

/// `GET|POST /api/v1/push/{token}?status=up|down&msg=&ping=` (and `/api/push/{token}`).
pub async fn push(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    #[derive(Deserialize)]
    struct Beat {
        status: Option<String>,
        msg: Option<String>,
        ping: Option<String>,
    }
    let q = web::Query::<Beat>::from_query(req.query_string())
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let up = match q.status.as_deref() {
        None | Some("up") => true,
        Some("down") => false,
        Some(other) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                format!("status must be up or down, not {other:?}"),
            ))
        }
    };
    let ping_ms = match q.ping.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(
            p.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "ping must be a number of milliseconds",
                    )
                })?,
        ),
    };
    let msg = q
        .msg
        .clone()
        .filter(|m| !m.is_empty())
        .map(|m| m.chars().take(1000).collect());
    state
        .monitor_registry
        .heartbeat(&path, Heartbeat { up, msg, ping_ms })
        .await
        .map_err(|e| match e {
            MonitorError::NotFound | MonitorError::WrongKind(_) => {
                Problem::new(StatusCode::NOT_FOUND, "no push monitor has this token")
            }
            other => problem_of(other),
        })?;
    Ok(HttpResponse::Ok().json(json!({"ok": true})))
}
