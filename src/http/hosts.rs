//! The host API: agent pushes (also at Prometheus-agent-style `/api/metrics`), scraped
//! hosts, the list and one host with its latest sample, rollup series, and delete.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{by, from_json, if_match, parse_time, wait_min_position};
use super::views::{HostListView, HostView};
use super::{answered, auth, AppState, Problem};
use crate::actors::host::HostApplied;
use crate::domain::host::{hostname, pushed_hostname, HostStatus, Sample, ScrapedHostInput};
use crate::domain::sample::PushBody;
use crate::events::{Actor, Role};
use crate::projections::TokenEntry;

fn applied_response(status: StatusCode, applied: &HostApplied) -> HttpResponse {
    let mut res = answered(status, &applied.answer);
    if status == StatusCode::CREATED {
        res.insert_header((
            header::LOCATION,
            format!("/api/v1/hosts/{}", applied.state.hostname),
        ));
    }
    res.json(HostView {
        duplicate: Some(applied.duplicate),
        ..HostView::from(&applied.state)
    })
}

async fn record_push(
    state: &AppState,
    who: &TokenEntry,
    hostname: String,
    body: PushBody,
) -> Result<HttpResponse, Problem> {
    let sample = Sample {
        body,
        now: state.clock.now(),
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

/// `POST /api/metrics`: the same push, the hostname inside the body, answered as the
/// server monitor whose agents send it answers: `{"status":"success","hostname"}`.
pub async fn push_compat(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let credentialed =
        req.headers().contains_key(header::AUTHORIZATION) || auth::session_cookie(&req).is_some();
    let actor = if state.settings.compat.anonymous_push && !credentialed {
        Actor("anonymous".to_owned())
    } else {
        by(&auth::require(&req, &state, Role::Agent)?)
    };
    let body: PushBody = from_json(body.into_inner())?;
    let name = pushed_hostname(None, &body)?;
    let sample = Sample {
        body,
        now: state.clock.now(),
    };
    let applied = state.host_registry.push(&name, sample, actor).await?;
    Ok(answered(StatusCode::OK, &applied.answer)
        .json(json!({"status": "success", "hostname": applied.state.hostname})))
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
    Ok(HttpResponse::Ok().json(HostListView {
        hosts: view
            .hosts
            .values()
            .filter(|h| status.is_none_or(|s| h.status == s))
            .map(HostView::from)
            .collect(),
        position: state.hosts.applied_position().0,
    }))
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
        .ok_or_else(|| Problem::not_found("host"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", h.version)))
        .json(HostView::from(h)))
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
        return Err(Problem::not_found("host"));
    }
    let metric = q.metric.as_deref().ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "metric is required: cpu_percent, memory_percent, load1, disk_percent:<mountpoint>, \
             net_rx_bytes_per_s, net_tx_bytes_per_s, disk_read_bytes_per_s or disk_write_bytes_per_s",
        )
    })?;
    if !crate::domain::host::is_series_metric(metric) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("unknown metric {metric:?}"),
        ));
    }
    let until = parse_time("until", q.until.as_deref())?.unwrap_or_else(|| state.clock.now());
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
