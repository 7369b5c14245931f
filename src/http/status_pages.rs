//! Status pages: their management API (pages, incidents with updates, maintenance), the
//! public, unauthenticated status JSON and page, and SVG badges of monitors that some
//! public page shows. What the public sees is built here from the read models, and holds
//! only what a page chose to show: no URL, host, port, tag or token of a monitor, and a
//! down monitor's reason only where the page shows errors.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::params::{by, from_json, if_match, wait_min_position};
use super::{answered, auth, site, AppState, Problem};
use crate::command::{execute, fresh, CommandAnswer};
use crate::domain::monitor::Status;
use crate::domain::status_page::{self, StatusPageCommand};
use crate::events::{Event, ExpectedVersion, Role, StreamId, StreamVersion};
use crate::notify::escape_html;
use crate::projections::{IncidentView, MaintenanceView, PageView, Rollups};

/// Resolved incidents the public page shows: those resolved within this many days.
pub const RESOLVED_SHOWN_DAYS: i64 = 7;
/// Days of daily uptime the public page shows.
const DAYS_SHOWN: i64 = 90;

// ---- management ----

fn incident_json(i: &IncidentView) -> Value {
    json!({
        "id": i.id, "title": i.title, "impact": i.impact, "status": i.status,
        "opened_at": i.opened_at, "resolved_at": i.resolved_at,
        "updates": i.updates.iter().rev().map(|u| json!({
            "status": u.status, "message": u.message, "at": u.at,
        })).collect::<Vec<_>>(),
    })
}

fn maintenance_json(m: &MaintenanceView, now: DateTime<Utc>) -> Value {
    json!({
        "id": m.id, "title": m.title, "message": m.message, "starts_at": m.starts_at,
        "ends_at": m.ends_at, "phase": m.phase(now),
    })
}

/// A page as its editors see it: settings, every incident kept and every announcement.
fn page_json(v: &PageView, now: DateTime<Utc>) -> Value {
    let p = &v.page;
    json!({
        "slug": p.slug, "title": p.title, "description": p.description,
        "groups": p.groups.iter().map(|g| json!({"name": g.name, "monitors": g.monitors})).collect::<Vec<_>>(),
        "show_errors": p.show_errors, "created_at": v.created_at, "version": v.version,
        "incidents": v.incidents.iter().rev().map(incident_json).collect::<Vec<_>>(),
        "maintenance": v.maintenance.iter().map(|m| maintenance_json(m, now)).collect::<Vec<_>>(),
    })
}

/// Decides `command` about the page `slug` against the read models as they are now
/// (after everything acknowledged), appends it, and answers the page as it then is.
async fn carry_out(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    command: StatusPageCommand,
) -> Result<(CommandAnswer, Value), Problem> {
    let who = auth::require(req, state, Role::Operator)?;
    fresh(&state.store, state.monitors.progress()).await;
    fresh(&state.store, state.status_pages.progress()).await;
    let (events, expected, slug) = {
        let pages = state.status_pages.read();
        let monitors = state.monitors.read();
        let current = pages.pages.get(slug).map(PageView::state);
        let events = status_page::decide(current.as_ref(), slug, command, &|m| {
            monitors.monitors.contains_key(&m)
        })?;
        // A new page names its slug in its event.
        let slug = match events.first() {
            Some(Event::StatusPageCreated(p)) => p.slug.clone(),
            _ => slug.to_owned(),
        };
        let expected = match pages.versions.get(&slug) {
            Some(v) => ExpectedVersion::Exact(StreamVersion(*v)),
            None => ExpectedVersion::NoStream,
        };
        (events, expected, slug)
    };
    let answer = execute(
        &state.store,
        StreamId::status_page(&slug),
        expected,
        events,
        &by(&who),
    )
    .await?
    .visible_in(state.status_pages.progress())
    .await;
    let now = state.clock.now();
    let body = state.status_pages.read().pages.get(&slug).map_or_else(
        || json!({"slug": slug, "deleted": true}),
        |v| page_json(v, now),
    );
    Ok((answer, body))
}

/// `POST /api/v1/status-pages`.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Operator)?;
    let body = body.into_inner();
    // The page it would be, to find a taken slug; the decision checks the slug itself.
    let slug = body
        .get("slug")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let input = from_json(body)?;
    let (answer, body) = carry_out(&req, &state, &slug, StatusPageCommand::Create(input)).await?;
    let slug = body["slug"].as_str().unwrap_or_default().to_owned();
    Ok(answered(StatusCode::CREATED, &answer)
        .insert_header((header::LOCATION, format!("/api/v1/status-pages/{slug}")))
        .json(body))
}

/// `GET /api/v1/status-pages`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.status_pages).await?;
    let now = state.clock.now();
    let pages = state.status_pages.read();
    let items: Vec<Value> = pages.pages.values().map(|v| page_json(v, now)).collect();
    Ok(HttpResponse::Ok().json(json!({"status_pages": items})))
}

/// `GET /api/v1/status-pages/{slug}`.
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.status_pages).await?;
    let now = state.clock.now();
    let pages = state.status_pages.read();
    let page = pages
        .pages
        .get(slug.as_str())
        .ok_or_else(|| Problem::not_found("status page"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", page.version)))
        .json(page_json(page, now)))
}

/// `PATCH /api/v1/status-pages/{slug}`.
pub async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Operator)?;
    let expected = if_match(&req)?;
    let input = from_json(body.into_inner())?;
    let command = StatusPageCommand::Update { input, expected };
    let (answer, body) = carry_out(&req, &state, &slug, command).await?;
    Ok(answered(StatusCode::OK, &answer).json(body))
}

/// `DELETE /api/v1/status-pages/{slug}`.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Operator)?;
    let expected = if_match(&req)?;
    let (answer, _) =
        carry_out(&req, &state, &slug, StatusPageCommand::Delete { expected }).await?;
    Ok(answered(StatusCode::OK, &answer).json(json!({"slug": slug.as_str(), "deleted": true})))
}

/// `POST /api/v1/status-pages/{slug}/incidents`.
pub async fn open_incident(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Operator)?;
    let input = from_json(body.into_inner())?;
    let id = Uuid::new_v4();
    let command = StatusPageCommand::OpenIncident { id, input };
    let (answer, body) = carry_out(&req, &state, &slug, command).await?;
    let incident = item_of(&body, "incidents", id);
    Ok(answered(StatusCode::CREATED, &answer)
        .insert_header((
            header::LOCATION,
            format!("/api/v1/status-pages/{}/incidents/{id}", slug.as_str()),
        ))
        .json(incident))
}

/// `POST /api/v1/status-pages/{slug}/incidents/{id}/updates`.
pub async fn update_incident(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Operator)?;
    let (slug, id) = slug_and_id(path, "incident")?;
    let input = from_json(body.into_inner())?;
    let command = StatusPageCommand::UpdateIncident { id, input };
    let (answer, body) = carry_out(&req, &state, &slug, command).await?;
    Ok(answered(StatusCode::CREATED, &answer).json(item_of(&body, "incidents", id)))
}

/// `POST /api/v1/status-pages/{slug}/maintenance`.
pub async fn schedule_maintenance(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Operator)?;
    let input = from_json(body.into_inner())?;
    let id = Uuid::new_v4();
    let command = StatusPageCommand::ScheduleMaintenance { id, input };
    let (answer, body) = carry_out(&req, &state, &slug, command).await?;
    let item = item_of(&body, "maintenance", id);
    Ok(answered(StatusCode::CREATED, &answer).json(item))
}

/// `PATCH /api/v1/status-pages/{slug}/incidents/{id}`: a new heading or impact.
pub async fn edit_incident(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Operator)?;
    let (slug, id) = slug_and_id(path, "incident")?;
    let input = from_json(body.into_inner())?;
    let command = StatusPageCommand::EditIncident { id, input };
    let (answer, body) = carry_out(&req, &state, &slug, command).await?;
    Ok(answered(StatusCode::OK, &answer).json(item_of(&body, "incidents", id)))
}

/// `PATCH /api/v1/status-pages/{slug}/maintenance/{id}`: change an announcement not ended.
pub async fn edit_maintenance(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Operator)?;
    let (slug, id) = slug_and_id(path, "maintenance")?;
    let input = from_json(body.into_inner())?;
    let now = state.clock.now();
    let command = StatusPageCommand::EditMaintenance { id, input, now };
    let (answer, body) = carry_out(&req, &state, &slug, command).await?;
    let item = item_of(&body, "maintenance", id);
    Ok(answered(StatusCode::OK, &answer).json(item))
}

/// `DELETE /api/v1/status-pages/{slug}/maintenance/{id}`: cancel an announcement not ended.
pub async fn cancel_maintenance(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Operator)?;
    let (slug, id) = slug_and_id(path, "maintenance")?;
    let now = state.clock.now();
    let command = StatusPageCommand::CancelMaintenance { id, now };
    let (answer, _) = carry_out(&req, &state, &slug, command).await?;
    Ok(answered(StatusCode::OK, &answer).json(json!({"id": id, "cancelled": true})))
}

/// The entry `id` of the page's list `list` (`incidents`, `maintenance`), or null.
fn item_of(page: &Value, list: &str, id: Uuid) -> Value {
    page[list]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["id"] == json!(id)).cloned())
        .unwrap_or(Value::Null)
}

/// The page slug and entry id of a `{slug}/{what}/{id}` path; an id that is not a UUID
/// names no `what`.
fn slug_and_id(
    path: web::Path<(String, String)>,
    what: &'static str,
) -> Result<(String, Uuid), Problem> {
    let (slug, id) = path.into_inner();
    let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found(what))?;
    Ok((slug, id))
}

// ---- public ----

/// What the public sees of the page `slug` at `now`, or `None` when there is no such page.
pub fn public_view(state: &AppState, slug: &str, now: DateTime<Utc>) -> Option<Value> {
    let pages = state.status_pages.read();
    let page = pages.pages.get(slug)?;
    let monitors = state.monitors.read();
    let (mut total, mut down) = (0usize, 0usize);
    let groups: Vec<Value> = page
        .page
        .groups
        .iter()
        .map(|g| {
            let items: Vec<Value> = g
                .monitors
                .iter()
                .filter_map(|id| monitors.monitors.get(id))
                .filter(|m| !m.state.deleted)
                .map(|m| {
                    let s = &m.state;
                    total += 1;
                    if s.status == Status::Down {
                        down += 1;
                    }
                    let mut item = json!({
                        "id": s.id, "name": s.config.name, "status": s.status.as_str(),
                        "status_since": s.status_since,
                        "uptime_24h": m.rollups.uptime(now, Duration::days(1)),
                        "uptime_30d": m.rollups.uptime(now, Duration::days(30)),
                        "days": days(&m.rollups, now),
                    });
                    if page.page.show_errors && s.status == Status::Down {
                        item["error"] = json!(s.down_reason);
                    }
                    item
                })
                .collect();
            json!({"name": g.name, "monitors": items})
        })
        .collect();
    let since = now - Duration::days(RESOLVED_SHOWN_DAYS);
    let incidents: Vec<Value> = page
        .incidents
        .iter()
        .rev()
        .filter(|i| i.resolved_at.is_none_or(|at| at >= since))
        .map(incident_json)
        .collect();
    let maintenance: Vec<Value> = page
        .maintenance
        .iter()
        .filter(|m| m.phase(now) != "ended")
        .map(|m| maintenance_json(m, now))
        .collect();
    let in_maintenance = page.maintenance.iter().any(|m| m.phase(now) == "active");
    let status = if total > 0 && down == total {
        "down"
    } else if down > 0 {
        "degraded"
    } else if in_maintenance {
        "maintenance"
    } else {
        "operational"
    };
    Some(json!({
        "slug": page.page.slug, "title": page.page.title, "description": page.page.description,
        "status": status, "groups": groups, "incidents": incidents, "maintenance": maintenance,
        "as_of": now,
    }))
}

/// The last [`DAYS_SHOWN`] days that had checks: their date and share of passed checks.
fn days(rollups: &Rollups, now: DateTime<Utc>) -> Vec<Value> {
    let from = (now - Duration::days(DAYS_SHOWN)).timestamp();
    rollups
        .daily
        .iter()
        .filter(|b| b.start + 86_400 > from && b.checks > 0)
        .map(|b| {
            let date = DateTime::from_timestamp(b.start, 0)
                .map(|d| d.date_naive().to_string())
                .unwrap_or_default();
            json!({"date": date, "uptime": f64::from(b.up) / f64::from(b.checks)})
        })
        .collect()
}

/// `GET /api/v1/status/{slug}`: the public status of a page (no auth).
pub async fn public_json(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let view = public_view(&state, &slug, state.clock.now())
        .ok_or_else(|| Problem::not_found("status page"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(view))
}

/// `GET /status/{slug}`: the public status page, drawn by the dashboard's code (no auth).
pub async fn public_page(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    if !state.status_pages.read().pages.contains_key(slug.as_str()) {
        return Err(Problem::not_found("status page"));
    }
    site::index(state).await
}

// ---- badges ----

/// What a badge request may ask for, as Uptime Kuma's badges take it; other parameters of
/// Kuma's (`style`, ...) are let through and ignored, so links made for Kuma keep working.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BadgeQuery {
    label: Option<String>,
    label_color: Option<String>,
    color: Option<String>,
    up_label: Option<String>,
    down_label: Option<String>,
    pending_label: Option<String>,
    paused_label: Option<String>,
    up_color: Option<String>,
    down_color: Option<String>,
    prefix: Option<String>,
    suffix: Option<String>,
    warn_days: Option<u32>,
    down_days: Option<u32>,
    warn_color: Option<String>,
}

/// A 400 naming the query parameter (or path segment) at fault.
fn bad_query(field: &str, detail: impl std::fmt::Display) -> Problem {
    Problem {
        field: Some(field.to_owned()),
        ..Problem::new(StatusCode::BAD_REQUEST, format!("{field}: {detail}"))
    }
}

/// Longest text a badge takes from its query.
const MAX_BADGE_TEXT: usize = 100;

fn badge_text(field: &str, value: Option<&str>) -> Result<Option<String>, Problem> {
    match value {
        Some(v) if v.chars().count() > MAX_BADGE_TEXT => Err(bad_query(
            field,
            format!("has at most {MAX_BADGE_TEXT} characters"),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

/// A colour as a badge may take it: a name or a hex code (`#` optional).
fn badge_color(field: &str, value: Option<&str>, default: &str) -> Result<String, Problem> {
    let Some(v) = value else {
        return Ok(default.to_owned());
    };
    let hex = v.strip_prefix('#').unwrap_or(v);
    let is_hex = matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit());
    let is_name = !v.is_empty() && v.len() <= 20 && v.chars().all(|c| c.is_ascii_alphabetic());
    if is_hex {
        Ok(format!("#{hex}"))
    } else if is_name {
        Ok(named_color(v))
    } else {
        Err(bad_query(
            field,
            "use a colour name or a hex code such as #4c1",
        ))
    }
}

/// shields.io's colour names.
fn named_color(name: &str) -> String {
    match name {
        "brightgreen" => "#4c1",
        "green" => "#97ca00",
        "yellow" => "#dfb317",
        "yellowgreen" => "#a4a61d",
        "orange" => "#fe7d37",
        "red" => "#e05d44",
        "blue" => "#007ec6",
        "grey" | "gray" => "#555",
        "lightgrey" | "lightgray" => "#9f9f9f",
        other => other,
    }
    .to_owned()
}

/// Roughly how wide `text` is in 11 px Verdana.
fn text_width(text: &str) -> u32 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '!' | '|' | '\'' | ' ' => 4,
            'm' | 'w' | 'M' | 'W' | '%' => 10,
            c if c.is_ascii_uppercase() || c.is_ascii_digit() => 8,
            _ => 7,
        })
        .sum()
}

/// A shields.io "flat" badge.
pub fn badge_svg(label: &str, value: &str, label_color: &str, color: &str) -> String {
    let (lw, vw) = (text_width(label) + 10, text_width(value) + 10);
    let w = lw + vw;
    let (l, v) = (escape_html(label), escape_html(value));
    let (lx, vx) = (lw * 5, lw * 10 + vw * 5);
    let (ltl, vtl) = ((lw - 10) * 10, (vw - 10) * 10);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{l}: {v}"><title>{l}: {v}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="{label_color}"/><rect x="{lw}" width="{vw}" height="20" fill="{color}"/><rect width="{w}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110"><text aria-hidden="true" x="{lx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" textLength="{ltl}">{l}</text><text x="{lx}" y="140" transform="scale(.1)" fill="#fff" textLength="{ltl}">{l}</text><text aria-hidden="true" x="{vx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" textLength="{vtl}">{v}</text><text x="{vx}" y="140" transform="scale(.1)" fill="#fff" textLength="{vtl}">{v}</text></g></svg>"##,
        label_color = escape_html(label_color),
        color = escape_html(color),
    )
}

/// A badge window: `24h`, `7d`, `30d`, or a number of hours as Uptime Kuma takes it
/// (`24`, `168`, `720`); at most 90 days, what the daily rollups hold.
fn badge_window(text: &str) -> Result<Duration, Problem> {
    let hours = if let Some(d) = text.strip_suffix('d') {
        d.parse::<i64>().ok().map(|d| d * 24)
    } else {
        text.strip_suffix('h').unwrap_or(text).parse::<i64>().ok()
    };
    match hours {
        Some(h) if (1..=90 * 24).contains(&h) => Ok(Duration::hours(h)),
        _ => Err(bad_query(
            "duration",
            format!("{text:?}: use 24h, 7d, 30d or a number of hours up to 2160"),
        )),
    }
}

/// The monitor a badge is of, if some public page shows it: else 404, as for no monitor.
fn public_monitor(state: &AppState, id: &str) -> Result<crate::projections::MonitorView, Problem> {
    let id = Uuid::parse_str(id).map_err(|_| Problem::not_found("monitor"))?;
    if !state.status_pages.read().is_public(id) {
        return Err(Problem::not_found("monitor"));
    }
    state
        .monitors
        .read()
        .monitors
        .get(&id)
        .filter(|m| !m.state.deleted)
        .cloned()
        .ok_or_else(|| Problem::not_found("monitor"))
}

fn query(req: &HttpRequest) -> Result<BadgeQuery, Problem> {
    web::Query::<BadgeQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.to_string()))
}

fn svg(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(body)
}

/// Renders a badge whose value is `value` (in `default_color` unless the query says).
fn value_badge(
    q: &BadgeQuery,
    default_label: &str,
    value: Option<String>,
    default_color: &str,
) -> Result<HttpResponse, Problem> {
    let label = badge_text("label", q.label.as_deref())?.unwrap_or_else(|| default_label.into());
    let prefix = badge_text("prefix", q.prefix.as_deref())?.unwrap_or_default();
    let suffix = badge_text("suffix", q.suffix.as_deref())?;
    let label_color = badge_color("labelColor", q.label_color.as_deref(), "#555")?;
    let (value, color) = match value {
        Some(v) => (
            format!("{prefix}{v}{}", suffix.unwrap_or_default()),
            badge_color("color", q.color.as_deref(), default_color)?,
        ),
        None => ("N/A".to_owned(), "#9f9f9f".to_owned()),
    };
    Ok(svg(badge_svg(&label, &value, &label_color, &color)))
}

/// `GET /api/badge/{id}/status`: up, down, pending or paused (no auth).
pub async fn badge_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let m = public_monitor(&state, &id)?;
    let q = query(&req)?;
    let label = badge_text("label", q.label.as_deref())?.unwrap_or_else(|| "Status".into());
    let label_color = badge_color("labelColor", q.label_color.as_deref(), "#555")?;
    let (value, color) = match m.state.status {
        Status::Up => (
            badge_text("upLabel", q.up_label.as_deref())?.unwrap_or_else(|| "Up".into()),
            badge_color("upColor", q.up_color.as_deref(), "#4c1")?,
        ),
        Status::Down => (
            badge_text("downLabel", q.down_label.as_deref())?.unwrap_or_else(|| "Down".into()),
            badge_color("downColor", q.down_color.as_deref(), "#e05d44")?,
        ),
        Status::Pending => (
            badge_text("pendingLabel", q.pending_label.as_deref())?
                .unwrap_or_else(|| "Pending".into()),
            "#dfb317".to_owned(),
        ),
        Status::Paused => (
            badge_text("pausedLabel", q.paused_label.as_deref())?
                .unwrap_or_else(|| "Paused".into()),
            "#9f9f9f".to_owned(),
        ),
    };
    let color = badge_color("color", q.color.as_deref(), &color)?;
    Ok(svg(badge_svg(&label, &value, &label_color, &color)))
}

/// `GET /api/badge/{id}/uptime` and `.../uptime/{duration}`: the share of passed checks (no auth).
pub async fn badge_uptime(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let m = public_monitor(&state, req.match_info().get("id").unwrap_or_default())?;
    let duration = req.match_info().get("duration").unwrap_or("24h").to_owned();
    let window = badge_window(&duration)?;
    let q = query(&req)?;
    let uptime = m.rollups.uptime(state.clock.now(), window);
    let color = match uptime {
        Some(u) if u >= 0.995 => "#4c1",
        Some(u) if u >= 0.98 => "#97ca00",
        Some(u) if u >= 0.95 => "#dfb317",
        _ => "#e05d44",
    };
    let value = uptime.map(|u| {
        let pct = format!("{:.2}", u * 100.0);
        format!("{}%", pct.trim_end_matches('0').trim_end_matches('.'))
    });
    value_badge(&q, &format!("Uptime ({duration})"), value, color)
}

/// `GET /api/badge/{id}/ping` and `.../ping/{duration}`: the mean response time (no auth).
pub async fn badge_ping(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let m = public_monitor(&state, req.match_info().get("id").unwrap_or_default())?;
    let duration = req.match_info().get("duration").unwrap_or("24h").to_owned();
    let window = badge_window(&duration)?;
    let q = query(&req)?;
    let ms = m.rollups.mean_latency_ms(state.clock.now(), window);
    let value = ms.map(|ms| format!("{}ms", ms.round()));
    value_badge(&q, &format!("Avg. Response ({duration})"), value, "#007ec6")
}

/// `GET /api/badge/{id}/avg-response/{duration}`: Uptime Kuma's name for the mean
/// response time badge (no auth).
pub async fn badge_avg_response(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    badge_ping(req, state).await
}

/// `GET /api/badge/{id}/response`: the last check's response time (no auth).
pub async fn badge_response(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let m = public_monitor(&state, &id)?;
    let q = query(&req)?;
    let value = m
        .state
        .last_check
        .as_ref()
        .map(|c| format!("{}ms", c.latency_ms.round()));
    value_badge(&q, "Response", value, "#007ec6")
}

/// Days before a certificate's end at which the badge turns to warning, as Kuma's default.
const CERT_WARN_DAYS: u32 = 14;
/// Days before a certificate's end at which the badge turns to down, as Kuma's default.
const CERT_DOWN_DAYS: u32 = 7;

/// The colour of a certificate with `days` left: down, warning or up by the thresholds.
fn cert_color(days: i64, warn_days: u32, down_days: u32) -> CertLevel {
    if days <= i64::from(down_days) {
        CertLevel::Down
    } else if days <= i64::from(warn_days) {
        CertLevel::Warn
    } else {
        CertLevel::Up
    }
}

/// How near a certificate's end is.
#[derive(Debug, PartialEq, Eq)]
enum CertLevel {
    /// Far.
    Up,
    /// Within the warning days.
    Warn,
    /// Within the down days, or past.
    Down,
}

/// `GET /api/badge/{id}/cert-exp`: days until the TLS certificate expires (no auth),
/// coloured by `warnDays` (14) and `downDays` (7) as Uptime Kuma's badge.
pub async fn badge_cert_exp(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let m = public_monitor(&state, &id)?;
    let q = query(&req)?;
    let warn_days = q.warn_days.unwrap_or(CERT_WARN_DAYS);
    let down_days = q.down_days.unwrap_or(CERT_DOWN_DAYS);
    let days = m
        .state
        .cert_expires_at
        .map(|at| (at - state.clock.now()).num_days());
    let color = match days.map(|d| cert_color(d, warn_days, down_days)) {
        Some(CertLevel::Up) | None => badge_color("upColor", q.up_color.as_deref(), "#4c1")?,
        Some(CertLevel::Warn) => badge_color("warnColor", q.warn_color.as_deref(), "#dfb317")?,
        Some(CertLevel::Down) => badge_color("downColor", q.down_color.as_deref(), "#e05d44")?,
    };
    let value = days.map(|d| match d {
        d if d < 0 => "expired".to_owned(),
        1 => "1 day".to_owned(),
        d => format!("{d} days"),
    });
    value_badge(&q, "Cert Exp.", value, &color)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_colours_follow_the_warning_and_down_days() {
        assert_eq!(cert_color(30, 14, 7), CertLevel::Up);
        assert_eq!(cert_color(14, 14, 7), CertLevel::Warn);
        assert_eq!(cert_color(7, 14, 7), CertLevel::Down);
        assert_eq!(cert_color(-3, 14, 7), CertLevel::Down);
    }

    #[test]
    fn badge_text_is_escaped() {
        let svg = badge_svg("<b>&", "\"x'", "#555", "#4c1");
        assert!(svg.contains("&lt;b&gt;&amp;"));
        assert!(svg.contains("&quot;x&#39;"));
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn badge_windows_take_hours_and_days_up_to_ninety_days() {
        assert_eq!(badge_window("24h").ok(), Some(Duration::hours(24)));
        assert_eq!(badge_window("7d").ok(), Some(Duration::days(7)));
        assert_eq!(badge_window("720").ok(), Some(Duration::hours(720)));
        assert!(badge_window("91d").is_err());
        assert!(badge_window("0").is_err());
        assert!(badge_window("soon").is_err());
    }

    #[test]
    fn badge_colours_are_names_or_hex_codes_only() {
        assert_eq!(
            badge_color("color", Some("ff0000"), "#4c1").ok().as_deref(),
            Some("#ff0000")
        );
        assert_eq!(
            badge_color("color", Some("red"), "#4c1").ok().as_deref(),
            Some("#e05d44")
        );
        assert!(badge_color("color", Some("red\"/><script>"), "#4c1").is_err());
    }
}
