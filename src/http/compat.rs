//! The routes and shapes of the systems watchfire replaces, so their dashboards and scripts
//! work unchanged: the Flask server monitor's reads (`/api/servers...`, `/api/health`; its
//! agent's push is `hosts::push_compat`) and the Terminusa monitoring API's
//! `/api/v1/metrics/current|history` and `/api/v1/alerts/active|history`. Everything here
//! reads the read models (or, for a host's history, its stream); acknowledgements go
//! through the native `POST /api/v1/alerts/{id}/ack`.
//!
//! Errors are problem+json with the seeds' `error` member beside the RFC 9457 ones.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{parse_time, wait_min_position};
use super::{auth, AppState, Problem};
use crate::domain::host::{is_series_metric, HostState, HostStatus};
use crate::events::{Event, HostMetricsReported, Role, StreamId, StreamVersion};
use crate::projections::AlertView;

/// Most samples one history read answers.
const MAX_HISTORY: usize = 1000;
/// Most hours one history read reaches back.
const MAX_HISTORY_HOURS: f64 = 24.0 * 90.0;
/// Most hosts one metrics history read covers.
const MAX_SERIES_HOSTS: usize = 100;
/// Most alerts one alert history read answers.
const MAX_ALERTS: usize = 1000;

/// A problem answered as problem+json that also carries the seeds' `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SeedProblem(pub Problem);

impl From<Problem> for SeedProblem {
    fn from(p: Problem) -> SeedProblem {
        SeedProblem(p)
    }
}

impl ResponseError for SeedProblem {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = serde_json::to_value(&self.0).unwrap_or_else(|_| json!({}));
        if let Some(object) = body.as_object_mut() {
            object.insert("error".into(), Value::String(self.0.detail.clone()));
        }
        let mut builder = HttpResponse::build(self.status_code());
        builder.content_type("application/problem+json");
        if self.0.status == 401 {
            builder.insert_header(("WWW-Authenticate", "Bearer"));
        }
        builder.json(body)
    }
}

fn bad_request(detail: impl Into<String>) -> SeedProblem {
    SeedProblem(Problem::new(StatusCode::BAD_REQUEST, detail))
}

fn server_not_found(hostname: &str) -> SeedProblem {
    SeedProblem(Problem::new(
        StatusCode::NOT_FOUND,
        format!("Server not found: {hostname}"),
    ))
}

/// Lets the request read: anyone with `[compat] public_reads`, else a viewer.
fn may_read(req: &HttpRequest, state: &AppState) -> Result<(), SeedProblem> {
    if state.settings.compat.public_reads {
        return Ok(());
    }
    auth::require(req, state, Role::Viewer)?;
    Ok(())
}

fn query<T: for<'de> Deserialize<'de>>(req: &HttpRequest) -> Result<T, SeedProblem> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| bad_request(e.to_string()))
}

// ---- the server monitor (Flask) ----

/// How the server monitor names a host's status.
fn server_status(status: HostStatus) -> &'static str {
    match status {
        HostStatus::Up => "online",
        HostStatus::Stale => "offline",
        HostStatus::Pending => "pending",
    }
}

/// One partition as the agent sent it, with what the sample kept of its device, type and
/// free space (`free` is `total - used` when the agent did not say).
fn partitions_json(m: &HostMetricsReported) -> Vec<Value> {
    m.disks
        .iter()
        .map(|d| {
            let details = m
                .details
                .filesystems
                .iter()
                .find(|f| f.mountpoint == d.mountpoint);
            json!({
                "device": details.and_then(|f| f.device.clone()),
                "mountpoint": d.mountpoint,
                "fstype": details.and_then(|f| f.fstype.clone()),
                "total": d.total,
                "used": d.used,
                "free": details.and_then(|f| f.free).unwrap_or(d.total.saturating_sub(d.used)),
                "percent": d.percent,
            })
        })
        .collect()
}

fn network_json(m: &HostMetricsReported) -> Value {
    let [packets_sent, packets_recv, errin, errout, dropin, dropout] = m.details.network;
    json!({
        "bytes_sent": m.counters[0], "bytes_recv": m.counters[1],
        "packets_sent": packets_sent, "packets_recv": packets_recv,
        "errin": errin, "errout": errout, "dropin": dropin, "dropout": dropout,
    })
}

fn disk_io_json(m: &HostMetricsReported) -> Value {
    let [read_count, write_count, read_time, write_time] = m.details.disk_io;
    json!({
        "read_count": read_count, "write_count": write_count,
        "read_bytes": m.counters[2], "write_bytes": m.counters[3],
        "read_time": read_time, "write_time": write_time,
    })
}

/// A sample in the shape its agent pushed it (times in RFC 3339, UTC).
fn sample_json(m: &HostMetricsReported) -> Value {
    json!({
        "hostname": m.hostname,
        "timestamp": m.sampled_at,
        "cpu": {
            "cpu_percent_total": m.cpu_percent,
            "cpu_percent_per_core": m.cpu_percent_per_core,
            "cpu_count_logical": m.cpu_count,
            "load_average": m.load_average,
        },
        "memory": {
            "memory_total": m.memory_total,
            "memory_used": m.memory_used,
            "memory_percent": m.memory_percent,
        },
        "disk": {"partitions": partitions_json(m)},
        "io": {"network": network_json(m), "disk_io": disk_io_json(m)},
    })
}

fn server_json(h: &HostState) -> Value {
    let latest = h.latest.as_ref();
    json!({
        "hostname": h.hostname,
        "status": server_status(h.status),
        "last_seen": h.last_seen,
        "last_update": latest.map(|m| m.sampled_at),
        "cpu_percent": latest.and_then(|m| m.cpu_percent),
        "memory_percent": latest.and_then(|m| m.memory_percent),
        "disk_percent": latest.and_then(|m| m.disks.iter().map(|d| d.percent).reduce(f64::max)),
    })
}

/// `GET /api/health`: liveness in the server monitor's shape (no auth, as `/health`).
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "healthy", "timestamp": state.clock.now()}))
}

/// `GET /api/servers`: every host with its status and headline figures, by name.
pub async fn servers(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SeedProblem> {
    may_read(&req, &state)?;
    wait_min_position(&req, &state.hosts).await?;
    let view = state.hosts.read();
    let servers: Vec<Value> = view.hosts.values().map(server_json).collect();
    Ok(HttpResponse::Ok().json(json!({"count": servers.len(), "servers": servers})))
}

/// The host `path` names with its latest sample, or the seed's 404.
fn latest_of(
    state: &AppState,
    hostname: &str,
) -> Result<(HostState, HostMetricsReported), SeedProblem> {
    let name = hostname.to_ascii_lowercase();
    let view = state.hosts.read();
    let host = view
        .hosts
        .get(&name)
        .ok_or_else(|| server_not_found(hostname))?;
    let latest = host.latest.clone().ok_or_else(|| {
        SeedProblem(Problem::new(
            StatusCode::NOT_FOUND,
            format!("No metrics yet for server {hostname}"),
        ))
    })?;
    Ok((host.clone(), latest))
}

/// `GET /api/servers/{hostname}/latest`: the latest sample as the agent pushed it.
pub async fn latest(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, SeedProblem> {
    may_read(&req, &state)?;
    wait_min_position(&req, &state.hosts).await?;
    let (_, m) = latest_of(&state, &path)?;
    Ok(HttpResponse::Ok().json(sample_json(&m)))
}

/// `GET /api/servers/{hostname}/disks`: the latest sample's partitions.
pub async fn disks(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, SeedProblem> {
    may_read(&req, &state)?;
    wait_min_position(&req, &state.hosts).await?;
    let (_, m) = latest_of(&state, &path)?;
    Ok(HttpResponse::Ok().json(json!({
        "hostname": m.hostname, "timestamp": m.sampled_at, "partitions": partitions_json(&m),
    })))
}

/// `GET /api/servers/{hostname}/network`: the latest sample's network and disk I/O counters,
/// with the rates derived from the sample before it.
pub async fn network(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, SeedProblem> {
    may_read(&req, &state)?;
    wait_min_position(&req, &state.hosts).await?;
    let (_, m) = latest_of(&state, &path)?;
    let [tx, rx, read, write] = m.rates;
    Ok(HttpResponse::Ok().json(json!({
        "hostname": m.hostname, "timestamp": m.sampled_at,
        "network": network_json(&m), "disk_io": disk_io_json(&m),
        "rates": {
            "bytes_sent_per_s": tx, "bytes_recv_per_s": rx,
            "read_bytes_per_s": read, "write_bytes_per_s": write,
        },
    })))
}

/// `GET /api/servers/{hostname}/history?hours=&limit=`: the newest `limit` samples of the
/// last `hours`, oldest first, each as the agent pushed it.
pub async fn history(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, SeedProblem> {
    may_read(&req, &state)?;
    wait_min_position(&req, &state.hosts).await?;
    #[derive(Deserialize)]
    struct Q {
        hours: Option<f64>,
        limit: Option<usize>,
        #[allow(dead_code)]
        min_position: Option<u64>,
    }
    let q: Q = query(&req)?;
    let hours = q.hours.unwrap_or(1.0);
    if !hours.is_finite() || hours <= 0.0 || hours > MAX_HISTORY_HOURS {
        return Err(bad_request(format!(
            "hours must be a number above 0 and at most {MAX_HISTORY_HOURS}"
        )));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_HISTORY).contains(&limit) {
        return Err(bad_request(format!("limit must be 1 to {MAX_HISTORY}")));
    }
    let name = path.to_ascii_lowercase();
    let version = state
        .hosts
        .read()
        .hosts
        .get(&name)
        .map(|h| h.version)
        .ok_or_else(|| server_not_found(&path))?;
    let since = state.clock.now() - Duration::milliseconds((hours * 3_600_000.0) as i64);
    let store = state.store.clone();
    let stream = StreamId::host(&name);
    let mut found = web::block(move || newest_samples(&store, &stream, version, since, limit))
        .await
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| Problem::internal(&e))?;
    found.reverse();
    Ok(HttpResponse::Ok().json(json!({
        "hostname": name, "hours": hours, "count": found.len(), "metrics": found,
    })))
}

/// Reads a host's stream backwards for its newest samples taken from `since` (blocking).
fn newest_samples(
    store: &crate::events::EventStore,
    stream: &StreamId,
    version: u64,
    since: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Value>, crate::events::StoreError> {
    const PAGE: u64 = 256;
    let mut out = Vec::new();
    let mut high = version;
    loop {
        let low = high.saturating_sub(PAGE - 1);
        let page = store.read_stream(stream, StreamVersion(low), (high - low + 1) as usize)?;
        for e in page.iter().rev() {
            if e.version.0 > high {
                continue;
            }
            if let Event::HostMetricsReported(m) = &e.event {
                if m.sampled_at < since {
                    // Samples arrive in the order they were taken, bar clock skew: the
                    // recording time bounds the walk.
                    if e.timestamp < since {
                        return Ok(out);
                    }
                    continue;
                }
                out.push(sample_json(m));
                if out.len() >= limit {
                    return Ok(out);
                }
            } else if e.timestamp < since {
                return Ok(out);
            }
        }
        if low == 0 {
            return Ok(out);
        }
        high = low - 1;
    }
}

// ---- the Terminusa monitoring API ----

/// The metric points of a host's latest sample, named as series are.
fn sample_points(m: &HostMetricsReported) -> Vec<(String, f64)> {
    let mut points = Vec::new();
    let mut put = |name: String, value: Option<f64>| {
        if let Some(v) = value {
            points.push((name, v));
        }
    };
    put("cpu_percent".into(), m.cpu_percent);
    put("memory_percent".into(), m.memory_percent);
    put("load1".into(), m.load_average.map(|l| l[0]));
    for d in &m.disks {
        put(format!("disk_percent:{}", d.mountpoint), Some(d.percent));
    }
    let [tx, rx, read, write] = m.rates;
    put("net_tx_bytes_per_s".into(), tx);
    put("net_rx_bytes_per_s".into(), rx);
    put("disk_read_bytes_per_s".into(), read);
    put("disk_write_bytes_per_s".into(), write);
    points
}

/// `GET /api/v1/metrics/current?host=&type=`: every host's latest figures as
/// `{"timestamp","type","value","tags"}` points.
pub async fn metrics_current(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SeedProblem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.hosts).await?;
    #[derive(Deserialize)]
    struct Q {
        host: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
        #[allow(dead_code)]
        min_position: Option<u64>,
    }
    let q: Q = query(&req)?;
    let host = q.host.map(|h| h.to_ascii_lowercase());
    let view = state.hosts.read();
    if let Some(h) = &host {
        if !view.hosts.contains_key(h) {
            return Err(server_not_found(h));
        }
    }
    let mut metrics = Vec::new();
    for h in view.hosts.values() {
        if host.as_ref().is_some_and(|want| *want != h.hostname) {
            continue;
        }
        let Some(m) = &h.latest else { continue };
        for (kind, value) in sample_points(m) {
            if q.kind.as_ref().is_some_and(|want| *want != kind) {
                continue;
            }
            metrics.push(json!({
                "timestamp": m.sampled_at, "type": kind, "value": value,
                "tags": {"host": h.hostname},
            }));
        }
    }
    Ok(HttpResponse::Ok().json(json!({"timestamp": state.clock.now(), "metrics": metrics})))
}

/// `GET /api/v1/metrics/history?type=&host=&since=&until=`: one metric's rollups (the
/// average of each bucket), per host, oldest first.
pub async fn metrics_history(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SeedProblem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.host_rollups).await?;
    #[derive(Deserialize)]
    struct Q {
        host: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
        since: Option<String>,
        until: Option<String>,
        #[allow(dead_code)]
        min_position: Option<u64>,
    }
    let q: Q = query(&req)?;
    let kind = q.kind.ok_or_else(|| {
        bad_request("type is required: cpu_percent, memory_percent, load1, disk_percent:<mountpoint>, net_rx_bytes_per_s, net_tx_bytes_per_s, disk_read_bytes_per_s or disk_write_bytes_per_s")
    })?;
    if !is_series_metric(&kind) {
        return Err(bad_request(format!("unknown metric type {kind:?}")));
    }
    let until = parse_time("until", q.until.as_deref())?.unwrap_or_else(|| state.clock.now());
    let since = parse_time("since", q.since.as_deref())?.unwrap_or(until - Duration::hours(1));
    if since >= until {
        return Err(bad_request("since must be before until"));
    }
    let hosts: Vec<String> = {
        let view = state.hosts.read();
        match q.host.map(|h| h.to_ascii_lowercase()) {
            Some(h) if view.hosts.contains_key(&h) => vec![h],
            Some(h) => return Err(server_not_found(&h)),
            None => view.hosts.keys().take(MAX_SERIES_HOSTS).cloned().collect(),
        }
    };
    let mut metrics = Vec::new();
    for host in hosts {
        let series = state
            .host_rollups
            .series(&host, &kind, since, until, None)
            .map_err(|e| Problem::internal(&e))?;
        for p in series.points {
            metrics.push(json!({
                "timestamp": p.t, "type": kind, "value": p.avg, "tags": {"host": host},
            }));
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "type": kind, "since": since, "until": until, "metrics": metrics,
    })))
}

/// An alert as the Terminusa API shows it: `id`, `severity`, `message`, `created_at`, and
/// where it is in its lifecycle.
fn alert_json(a: &AlertView) -> Value {
    let o = &a.opened;
    json!({
        "id": o.alert_id,
        "severity": o.severity,
        "message": format!("{}: {}", o.rule_name, a.cause),
        "created_at": a.opened_at,
        "status": a.status.as_str(),
        "acknowledged": a.acknowledged_at.is_some(),
        "acknowledged_at": a.acknowledged_at,
        "resolved_at": a.resolved_at,
        "rule": o.rule_name,
        "subject": o.subject_name,
    })
}

/// `GET /api/v1/alerts/active`: every alert not yet resolved, newest first.
pub async fn alerts_active(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SeedProblem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.alerting).await?;
    let view = state.alerting.read();
    let mut alerts: Vec<&AlertView> = view
        .alerts
        .values()
        .filter(|a| a.resolved_at.is_none())
        .collect();
    alerts.sort_by_key(|a| std::cmp::Reverse(a.opened_at));
    let alerts: Vec<Value> = alerts.into_iter().map(alert_json).collect();
    Ok(HttpResponse::Ok().json(json!({"count": alerts.len(), "alerts": alerts})))
}

/// `GET /api/v1/alerts/history?since=&limit=`: every alert, resolved or not, newest first.
pub async fn alerts_history(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SeedProblem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.alerting).await?;
    #[derive(Deserialize)]
    struct Q {
        since: Option<String>,
        limit: Option<usize>,
        #[allow(dead_code)]
        min_position: Option<u64>,
    }
    let q: Q = query(&req)?;
    let since = parse_time("since", q.since.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_ALERTS).contains(&limit) {
        return Err(bad_request(format!("limit must be 1 to {MAX_ALERTS}")));
    }
    let view = state.alerting.read();
    let mut alerts: Vec<&AlertView> = view
        .alerts
        .values()
        .filter(|a| since.is_none_or(|t| a.opened_at >= t))
        .collect();
    alerts.sort_by_key(|a| std::cmp::Reverse(a.opened_at));
    let alerts: Vec<Value> = alerts.into_iter().take(limit).map(alert_json).collect();
    Ok(HttpResponse::Ok().json(json!({"count": alerts.len(), "alerts": alerts})))
}
