//! The host API: agent pushes (also at Prometheus-agent-style `/api/metrics`), scraped
//! hosts, the list and one host with its latest sample, rollup series, and delete.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{by, from_json, if_match, parse_time, wait_min_position};
use super::{answered, auth, AppState, Problem};
use crate::actors::host::HostApplied;
use crate::domain::host::{
    hostname, pushed_hostname, HostState, HostStatus, Sample, ScrapedHostInput,
};
use crate::domain::sample::PushBody;
use crate::events::{HostMetricsReported, Role};
use crate::projections::TokenEntry;

/// A sample as the API shows it: the push body's names, with the derived rates beside the counters.
pub fn metrics_json(m: &HostMetricsReported) -> Value {
    let [sent, recv, read, written] = m.counters;
    let [tx, rx, read_s, write_s] = m.rates;
    let partitions: Vec<Value> = m
        .disks
        .iter()
        .map(|d| {
            json!({"mountpoint": d.mountpoint, "total": d.total, "used": d.used, "percent": d.percent})
        })
        .collect();
    json!({
        "sampled_at": m.sampled_at,
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
        "disk": {"partitions": partitions},
        "io": {
            "network": {
                "bytes_sent": sent, "bytes_recv": recv,
                "bytes_sent_per_s": tx, "bytes_recv_per_s": rx,
            },
            "disk_io": {
                "read_bytes": read, "write_bytes": written,
                "read_bytes_per_s": read_s, "write_bytes_per_s": write_s,
            },
        },
    })
}

/// A host as the API shows it.
pub fn host_json(h: &HostState) -> Value {
    json!({
        "hostname": h.hostname,
        "status": h.status.as_str(),
        "status_since": h.status_since,
        "source": if h.scrape_url.is_some() { "scrape" } else { "agent" },
        "scrape_url": h.scrape_url,
        "interval_s": h.interval_s,
        "tags": h.tags,
        "stale_after_s": h.window_s(),
        "registered_at": h.registered_at,
        "last_seen": h.last_seen,
        "samples": h.samples,
        "last_error": h.last_error,
        "version": h.version,
        "metrics": h.latest.as_ref().map(metrics_json),
    })
}

fn applied_response(status: StatusCode, applied: &HostApplied) -> HttpResponse {
    let mut res = answered(status, &applied.answer);
    if status == StatusCode::CREATED {
        res.insert_header((
            header::LOCATION,
            format!("/api/v1/hosts/{}", applied.state.hostname),
        ));
    }
    let mut body = host_json(&applied.state);
    if let Some(obj) = body.as_object_mut() {
        obj.insert("duplicate".into(), json!(applied.duplicate));
    }
    res.json(body)
}

async fn record_push(
    state: &AppState,
    who: &TokenEntry,
    hostname: String,
    body: PushBody,
) -> Result<HttpResponse, Problem> {
    let sample = Sample {
        body,
        now: Utc::now(),
    };
    let applied = state.host_registry.push(&hostname, sample, by(who)).await?;
    Ok(applied_response(StatusCode::OK, &applied))
}

/// `POST /api/v1/hosts/{hostname}/metrics`: an agent's sample, answered once it is durable.
pub async fn push(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Agent)?;
    let name = hostname("hostname", &path)?;
    let body: PushBody = from_json(body.into_inner())?;
    let name = pushed_hostname(Some(&name), &body)?;
    record_push(&state, &who, name, body).await
}

/// `POST /api/metrics`: the same push, the hostname inside the body.
pub async fn push_compat(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Agent)?;
    let body: PushBody = from_json(body.into_inner())?;
    let name = pushed_hostname(None, &body)?;
    record_push(&state, &who, name, body).await
}

/// `POST /api/v1/hosts`: a host whose node_exporter the server scrapes.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let input: ScrapedHostInput = from_json(body.into_inner())?;
    let registration = input.registration()?;
    let applied = state
        .host_registry
        .add_scraped(registration, by(&who))
        .await?;
    Ok(applied_response(StatusCode::CREATED, &applied))
}

/// `GET /api/v1/hosts?status=`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.hosts).await?;
    #[derive(Deserialize)]
    struct Filter {
        status: Option<String>,
    }
    let filter = web::Query::<Filter>::from_query(req.query_string())
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let status = match filter.status.as_deref() {
        None => None,
        Some(s) => Some(HostStatus::parse(s).ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                format!("unknown status {s:?}: use pending, up or stale"),
            )
        })?),
    };
    let view = state.hosts.read();
    let items: Vec<Value> = view
        .hosts
        .values()
        .filter(|h| status.is_none_or(|s| h.status == s))
        .map(host_json)
        .collect();
    Ok(HttpResponse::Ok()
        .json(json!({"hosts": items, "position": state.hosts.applied_position().0})))
}

/// `GET /api/v1/hosts/{hostname}`.
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.hosts).await?;
    let name = path.to_ascii_lowercase();
    let view = state.hosts.read();
    let h = view
        .hosts
        .get(&name)
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "no such host"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", h.version)))
        .json(host_json(h)))
}

/// `DELETE /api/v1/hosts/{hostname}`; its history stays in the log.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let name = path.to_ascii_lowercase();
    let applied = state
        .host_registry
        .delete(&name, if_match(&req)?, by(&who))
        .await?;
    Ok(applied_response(StatusCode::OK, &applied))
}

/// `GET /api/v1/hosts/{hostname}/series?metric=&since=&until=&step=`: rollups of one metric.
pub async fn series(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.host_rollups).await?;
    #[derive(Deserialize)]
    struct Query {
        metric: Option<String>,
        since: Option<String>,
        until: Option<String>,
        step: Option<String>,
        #[allow(dead_code)]
        min_position: Option<u64>,
    }
    let q = web::Query::<Query>::from_query(req.query_string())
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let name = path.to_ascii_lowercase();
    if !state.hosts.read().hosts.contains_key(&name) {
        return Err(Problem::new(StatusCode::NOT_FOUND, "no such host"));
    }
    let metric = q.metric.as_deref().ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "metric is required: cpu_percent, memory_percent, load1, disk_percent:<mountpoint>, \
             net_rx_bytes_per_s, net_tx_bytes_per_s, disk_read_bytes_per_s or disk_write_bytes_per_s",
        )
    })?;
    if !is_series_metric(metric) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("unknown metric {metric:?}"),
        ));
    }
    let until = parse_time("until", q.until.as_deref())?.unwrap_or_else(Utc::now);
    let since = parse_time("since", q.since.as_deref())?.unwrap_or(until - Duration::hours(1));
    if since >= until {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "since must be before until",
        ));
    }
    let level = match q.step.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<crate::projections::Level>().map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                format!("step must be 1m, 5m, 1h or 1d, not {s:?}"),
            )
        })?),
    };
    let series = state
        .host_rollups
        .series(&name, metric, since, until, level)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({
        "hostname": name,
        "metric": metric,
        "since": since,
        "until": until,
        "step": series.level.as_str(),
        "points": series.points,
    })))
}

/// Whether `metric` names a host series.
pub(super) fn is_series_metric(metric: &str) -> bool {
    matches!(
        metric,
        "cpu_percent"
            | "memory_percent"
            | "load1"
            | "net_rx_bytes_per_s"
            | "net_tx_bytes_per_s"
            | "disk_read_bytes_per_s"
            | "disk_write_bytes_per_s"
    ) || metric
        .strip_prefix("disk_percent:")
        .is_some_and(|m| !m.is_empty())
}
