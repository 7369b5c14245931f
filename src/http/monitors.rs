//! The monitor API: create, list, get, patch, delete, pause, resume, checks, series, and
//! push heartbeats. Bodies parse into [`crate::domain::monitor`]'s commands, whose
//! refusals name the bad field (422); commands answer with the resource, its `ETag` and
//! the `Watchfire-Position` of their last event.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::params::{by, from_json, if_match, parse_time, wait_min_position};
use super::views::{MonitorListView, MonitorView};
use super::{answered, auth, AppState, Problem};
use crate::actors::monitor::Applied;
use crate::command::CommandError;
use crate::domain::monitor::{Heartbeat, MonitorCommand, MonitorInput};
use crate::domain::DomainError;
use crate::events::{Event, Role, StreamId, StreamVersion};

/// Most checks one `checks` query returns.
const MAX_CHECKS: usize = 1000;

/// A command's answer: the resource, its `ETag` and the `Watchfire-Position`.
fn command_response(status: StatusCode, applied: &Applied, state: &AppState) -> HttpResponse {
    let view = state.monitors.read();
    let rollups = view.monitors.get(&applied.state.id).map(|v| &v.rollups);
    let body = MonitorView::at(&applied.state, rollups, state.clock.now());
    let mut res = answered(status, &applied.answer);
    if status == StatusCode::CREATED {
        res.insert_header((
            header::LOCATION,
            format!("/api/v1/monitors/{}", applied.state.id),
        ));
    }
    res.json(body)
}

fn monitor_id(path: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(path).map_err(|_| Problem::not_found("monitor"))
}

/// `POST /api/v1/monitors`.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let input: MonitorInput = from_json(body.into_inner())?;
    let applied = state
        .monitor_registry
        .create(Box::new(input), by(&who))
        .await?;
    Ok(command_response(StatusCode::CREATED, &applied, &state))
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
    let now = state.clock.now();
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
        .ok_or_else(|| Problem::not_found("monitor"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", v.state.version)))
        .json(MonitorView::at(
            &v.state,
            Some(&v.rollups),
            state.clock.now(),
        )))
}

async fn send(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
    command: impl FnOnce(Option<u64>) -> MonitorCommand,
    who: &crate::projections::TokenEntry,
) -> Result<HttpResponse, Problem> {
    let id = monitor_id(id)?;
    let command = command(if_match(req)?);
    let applied = state.monitor_registry.command(id, command, by(who)).await?;
    Ok(command_response(StatusCode::OK, &applied, state))
}

/// `PATCH /api/v1/monitors/{id}`.
pub async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    monitor_id(&path)?;
    let input: MonitorInput = from_json(body.into_inner())?;
    let update = |expected| MonitorCommand::Update {
        input: Box::new(input),
        expected,
    };
    send(&state, &req, &path, update, &who).await
}

/// `DELETE /api/v1/monitors/{id}`.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let delete = |expected| MonitorCommand::Delete { expected };
    send(&state, &req, &path, delete, &who).await
}

/// `POST /api/v1/monitors/{id}/pause`.
pub async fn pause(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let pause = |expected| MonitorCommand::Pause { expected };
    send(&state, &req, &path, pause, &who).await
}

/// `POST /api/v1/monitors/{id}/resume`.
pub async fn resume(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let resume = |expected| MonitorCommand::Resume { expected };
    send(&state, &req, &path, resume, &who).await
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
        .ok_or_else(|| Problem::not_found("monitor"))?;
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
                    "ping": c.ping.as_ref().map(super::views::PingStatsView::from),
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
    let until = parse_time("until", range.until.as_deref())?.unwrap_or_else(|| state.clock.now());
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
        .ok_or_else(|| Problem::not_found("monitor"))?;
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
            CommandError::Domain(DomainError::NotFound(_) | DomainError::Conflict(_)) => {
                Problem::new(StatusCode::NOT_FOUND, "no push monitor has this token")
            }
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(json!({"ok": true})))
}
