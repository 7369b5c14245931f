//! The live dashboard view and the audit routes: the log itself, the dashboard as it was
//! at a past time or position, and the chain check.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::params::wait_min_position;
use super::views::DashboardView;
use super::{auth, AppState, Problem};
use crate::events::{Position, RecordedEvent, Role, StoreError};
use crate::projections::{dashboard_at, position_at};

/// Events a page of `GET /events` holds when the client names no limit.
const DEFAULT_LIMIT: usize = 100;
/// The most events one page holds.
const MAX_LIMIT: usize = 1000;
/// The most events one `GET /events` looks at for its filters; the client goes on from `next_after`.
const SCAN_BUDGET: usize = 100_000;
/// Events read from the log at a time while filtering.
const PAGE: usize = 4096;

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, detail)
}

/// Runs blocking log work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Problem> {
    web::block(work)
        .await
        .map_err(|e| Problem::internal(&e))?
        .map_err(Problem::from)
}

/// A JSON body with the `Watchfire-Position` it holds.
fn at_position(position: u64, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Watchfire-Position", position.to_string()))
        .content_type("application/json")
        .body(body)
}

/// `GET /api/v1/dashboard`: the live dashboard view, with the position it holds.
#[tracing::instrument(skip_all)]
pub async fn dashboard(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.dashboard).await?;
    let (position, body) = {
        let view = state.dashboard.read();
        let body = serde_json::to_vec(&DashboardView::from(&*view))
            .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        (view.position, body)
    };
    Ok(at_position(position, body))
}

/// An event as the audit API shows it (the payload with channel secrets redacted).
pub fn event_json(e: &RecordedEvent) -> Value {
    json!({
        "position": e.position.0,
        "stream": e.stream.as_str(),
        "version": e.version.0,
        "type": e.event_type(),
        "schema_version": e.schema_version,
        "timestamp": e.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "actor": e.actor.0,
        "correlation_id": e.correlation_id,
        "causation": e.causation.map(|p| p.0),
        "chain": e.chain.name(),
        "hash": e.hash.to_string(),
        "data": e.event.payload_json(),
    })
}

/// A page of `GET /events`: the matching events, and where the next page starts.
struct EventPage {
    events: Vec<Value>,
    /// The last position looked at, when the log may hold more after it.
    next_after: Option<u64>,
}

/// `GET /api/v1/events?after=&limit=&stream=&type=`: the log in order (admin).
#[tracing::instrument(skip_all)]
pub async fn events(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Admin)?;
    #[derive(Deserialize)]
    struct Query {
        after: Option<String>,
        limit: Option<String>,
        stream: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let q = web::Query::<Query>::from_query(req.query_string())
        .map_err(|e| bad_request(e.to_string()))?
        .into_inner();
    let after = match q.after.as_deref() {
        None => 0,
        Some(a) => a
            .parse::<u64>()
            .map_err(|_| bad_request(format!("after must be a position, not {a:?}")))?,
    };
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| bad_request(format!("limit must be 1 to {MAX_LIMIT}, not {l:?}")))?,
    };
    let (stream, kind) = (q.stream, q.kind);
    let store = state.store.clone();
    let page = blocking(move || {
        let wanted = |e: &RecordedEvent| {
            stream.as_deref().is_none_or(|s| e.stream.as_str() == s)
                && kind.as_deref().is_none_or(|k| e.event_type() == k)
        };
        let mut page = EventPage {
            events: Vec::new(),
            next_after: None,
        };
        let (mut cursor, mut scanned) = (Position(after), 0usize);
        loop {
            let batch = if stream.is_none() && kind.is_none() {
                limit - page.events.len()
            } else {
                PAGE
            };
            let read = store.read_all(cursor, batch)?;
            if read.is_empty() {
                return Ok(page);
            }
            for e in &read {
                scanned += 1;
                cursor = e.position;
                if wanted(e) {
                    page.events.push(event_json(e));
                    if page.events.len() == limit {
                        page.next_after = Some(cursor.0);
                        return Ok(page);
                    }
                }
                if scanned >= SCAN_BUDGET {
                    page.next_after = Some(cursor.0);
                    return Ok(page);
                }
            }
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({"events": page.events, "next_after": page.next_after})))
}

/// Where `?at=` points: a position, or a time.
enum At {
    Position(Position),
    Time(DateTime<Utc>),
}

fn parse_at(text: &str) -> Result<At, Problem> {
    if let Ok(p) = text.parse::<u64>() {
        return Ok(At::Position(Position(p)));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| At::Time(t.with_timezone(&Utc)))
        .map_err(|_| {
            bad_request(format!(
                "at must be a position or an RFC 3339 time, not {text:?}"
            ))
        })
}

/// `GET /api/v1/audit/state?at=TIME|POSITION`: the dashboard as it was then, folded from the log.
#[tracing::instrument(skip_all)]
pub async fn state_at(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    #[derive(Deserialize)]
    struct Query {
        at: Option<String>,
    }
    let q = web::Query::<Query>::from_query(req.query_string())
        .map_err(|e| bad_request(e.to_string()))?;
    let text =
        q.at.clone()
            .ok_or_else(|| bad_request("at is required: a position or an RFC 3339 time"))?;
    let at = parse_at(&text)?;
    let store = state.store.clone();
    let past = blocking(move || {
        let until = match at {
            At::Position(p) => p,
            At::Time(t) => position_at(&store, t)?,
        };
        dashboard_at(&store, until)
    })
    .await?;
    #[derive(Serialize)]
    struct Past<'a> {
        at: &'a str,
        position: u64,
        state: DashboardView,
    }
    let body = serde_json::to_vec(&Past {
        at: &text,
        position: past.position,
        state: DashboardView::from(&past),
    })
    .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(at_position(past.position, body))
}

/// `GET /api/v1/audit/verify`: both hash chains checked, as `watchfire verify` does.
#[tracing::instrument(skip_all)]
pub async fn verify(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    let store = state.store.clone();
    let report = blocking(move || store.verify()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "intact": report.intact(),
        "checked": report.checked,
        "last_position": report.last_position.0,
        "problem": report.problem.map(|p| json!({"position": p.position.0, "reason": p.reason})),
    })))
}
