//! Operations routes: liveness, readiness and Prometheus metrics.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use prometheus::{Encoder, TextEncoder};
use serde_json::json;

use super::{auth, AppState, Problem};
use crate::events::Role;

/// `GET /health`: the process answers.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /health/ready`: 200 when the log is writable and the read models keep up, else 503 with reasons.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let probe = state.probe.clone();
    let reasons = web::block(move || probe.reasons())
        .await
        .unwrap_or_else(|e| vec![format!("readiness check failed: {e}")]);
    let position = state.store.durable_position().0;
    if reasons.is_empty() {
        HttpResponse::Ok()
            .json(json!({"status": "ready", "position": position, "reasons": reasons}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({"status": "not ready", "position": position, "reasons": reasons}))
    }
}

/// `GET /metrics`: Prometheus text exposition (role viewer, or `metrics.public = true`).
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    if !state.settings.metrics.public {
        auth::require(&req, &state, Role::Viewer)?;
    }
    let mut families = state.registry.gather();
    families.extend(snapshot_figures(&state));
    let mut body = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut body)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}

/// Figures read at scrape time rather than counted as they happen.
fn snapshot_figures(state: &AppState) -> Vec<prometheus::proto::MetricFamily> {
    use prometheus::core::Collector;
    let durable = state.store.durable_position().0;
    let gauge = |name: &str, help: &str, value: f64| {
        let g = prometheus::Gauge::new(name, help).ok()?;
        g.set(value);
        Some(g.collect())
    };
    let mut out: Vec<prometheus::proto::MetricFamily> = Vec::new();
    let sized = [
        gauge(
            "watchfire_log_size_bytes",
            "Bytes the event log takes on disk.",
            state.store.size_on_disk() as f64,
        ),
        gauge(
            "watchfire_log_position",
            "Position of the last durable event.",
            durable as f64,
        ),
        gauge(
            "watchfire_log_writable",
            "1 when the event log accepts appends.",
            if state.store.failure().is_none() {
                1.0
            } else {
                0.0
            },
        ),
    ];
    for families in sized.into_iter().flatten() {
        out.extend(families);
    }
    if let Ok(lag) = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "watchfire_projection_lag_events",
            "Events a projection has yet to apply.",
        ),
        &["projection"],
    ) {
        for p in &state.projections {
            lag.with_label_values(&[p.name()])
                .set(durable.saturating_sub(p.applied().0) as i64);
        }
        out.extend(lag.collect());
    }
    out
}

/// Any unknown route: a 404 problem.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, Problem> {
    Err(Problem::new(
        StatusCode::NOT_FOUND,
        format!("no route for {} {}", req.method(), req.path()),
    ))
}
