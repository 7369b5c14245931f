//! The host API: agent pushes (also at Prometheus-agent-style `/api/metrics`), scraped
//! hosts, the list and one host with its latest sample, rollup series, and delete.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{by, from_json, if_match, invalid, parse_time, wait_min_position};
use super::views::{HostListView, HostView};
use super::{auth, AppState, Problem};
use crate::actors::host::sample::{validate_hostname, PushBody};
use crate::actors::host::{HostApplied, HostError, HostStatus};
use crate::events::{HostRegistered, Role};
use crate::projections::TokenEntry;

/// A scraped host's interval when the client sends none.
const DEFAULT_SCRAPE_INTERVAL_S: u32 = 15;
/// The longest interval a scraped host may have: a day.
const MAX_INTERVAL_S: u32 = 86_400;

fn problem_of(e: HostError) -> Problem {
    match e {
        HostError::Conflict { .. } | HostError::Exists(_) => {
            Problem::new(StatusCode::CONFLICT, e.to_string())
        }
        HostError::NotFound => Problem::new(StatusCode::NOT_FOUND, "no such host"),
        HostError::Store(crate::events::StoreError::Unavailable(_)) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        HostError::Store(_) | HostError::Unavailable => {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

/// A hostname from a path or body: a DNS name, compared without case.
fn hostname(field: &str, name: &str) -> Result<String, Problem> {
    validate_hostname(name).map_err(|why| invalid(field, why))?;
    Ok(name.to_ascii_lowercase())
}

fn applied_response(status: StatusCode, applied: &HostApplied) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::ETAG, format!("\"{}\"", applied.state.version)));
    res.insert_header(("Watchfire-Position", applied.position.0.to_string()));
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
    body.validate(Utc::now())
        .map_err(|e| invalid(&e.field, &e.reason))?;
    let applied = state
        .host_registry
        .push(&hostname, body, by(who))
        .await
        .map_err(problem_of)?;
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
    if let Some(named) = &body.hostname {
        if !named.eq_ignore_ascii_case(&name) {
            return Err(invalid(
                "hostname",
                format!("the body names {named:?} but the path {name:?}"),
            ));
        }
    }
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
    let name = body
        .hostname
        .as_deref()
        .ok_or_else(|| invalid("hostname", "is required"))?;
    let name = hostname("hostname", name)?;
    record_push(&state, &who, name, body).await
}

/// The body of `POST /api/v1/hosts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScrapedInput {
    hostname: Option<String>,
    scrape_url: Option<String>,
    interval_s: Option<u32>,
    stale_after_s: Option<u32>,
    tags: Option<Vec<String>>,
}

/// `POST /api/v1/hosts`: a host whose node_exporter the server scrapes.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let input: ScrapedInput = from_json(body.into_inner())?;
    let name = input
        .hostname
        .as_deref()
        .ok_or_else(|| invalid("hostname", "is required"))?;
    let name = hostname("hostname", name)?;
    let url = input
        .scrape_url
        .ok_or_else(|| invalid("scrape_url", "is required: a node_exporter /metrics URL"))?;
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        Ok(_) => return Err(invalid("scrape_url", "must be an http or https URL")),
        Err(e) => return Err(invalid("scrape_url", format!("{url:?} is not a URL: {e}"))),
    }
    let interval_s = input.interval_s.unwrap_or(DEFAULT_SCRAPE_INTERVAL_S);
    if !(1..=MAX_INTERVAL_S).contains(&interval_s) {
        return Err(invalid(
            "interval_s",
            format!("must be from 1 to {MAX_INTERVAL_S} seconds"),
        ));
    }
    if let Some(w) = input.stale_after_s {
        if w < interval_s {
            return Err(invalid(
                "stale_after_s",
                "must be at least the interval: a host is late only after it missed a scrape",
            ));
        }
    }
    let event = HostRegistered {
        hostname: name,
        scrape_url: Some(url),
        interval_s: Some(interval_s),
        stale_after_s: input.stale_after_s,
        tags: input.tags.unwrap_or_default(),
    };
    let applied = state
        .host_registry
        .add_scraped(event, by(&who))
        .await
        .map_err(problem_of)?;
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
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "no such host"))?;
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
        .await
        .map_err(problem_of)?;
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
