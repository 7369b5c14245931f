//! Operations routes: liveness, readiness and Prometheus metrics, and the figures the
//! HTTP edge keeps for them (requests by route, WebSocket sessions).

use std::future::Ready;
use std::time::Instant;

use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
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
    let mut body = json!({"position": position, "reasons": reasons});
    if let Some(cluster) = &state.cluster {
        body["node"] = json!(cluster.node());
        body["nodes"] = json!(cluster.nodes().len());
        body["owned"] = json!(cluster.owned());
    }
    if reasons.is_empty() {
        body["status"] = json!("ready");
        HttpResponse::Ok().json(body)
    } else {
        body["status"] = json!("not ready");
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /api/v1/cluster`: the nodes sharing the log (viewer).
pub async fn cluster(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    Ok(HttpResponse::Ok().json(super::views::ClusterStatusView::of(state.cluster.as_ref())))
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
    let mut read_models = String::with_capacity(64 * 1024);
    super::exposition::write_read_models(
        &mut read_models,
        &state.monitors.read(),
        &state.hosts.read(),
        &state.alerting.read(),
        state.clock.now(),
        state.settings.metrics.uptime_kuma_names,
    );
    body.extend_from_slice(read_models.as_bytes());
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
    if let Some(cluster) = &state.cluster {
        let figures = [
            gauge(
                "watchfire_cluster_nodes",
                "Nodes of the cluster alive at this node's last heartbeat.",
                cluster.nodes().len() as f64,
            ),
            gauge(
                "watchfire_cluster_owned",
                "Things (monitors, alerting) this node holds the lease on.",
                cluster.owned() as f64,
            ),
        ];
        for families in figures.into_iter().flatten() {
            out.extend(families);
        }
        if let Ok(info) = prometheus::IntGaugeVec::new(
            prometheus::Opts::new("watchfire_node_info", "This node of the cluster."),
            &["node", "addr"],
        ) {
            info.with_label_values(&[&cluster.node().to_string(), &cluster.addr()])
                .set(1);
            out.extend(info.collect());
        }
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

/// A request no route takes: 405 with `Allow` when its path is served with other
/// methods, else 404.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, Problem> {
    let allowed = super::openapi::methods_at(req.path());
    if allowed.is_empty() {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("no route for {} {}", req.method(), req.path()),
        ));
    }
    let allow = allowed.join(", ");
    let problem = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not serve {}: use {allow}",
            req.path(),
            req.method()
        ),
    );
    let mut res = actix_web::ResponseError::error_response(&problem);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
        res.headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    Ok(res)
}

/// The WebSocket sessions' figures for `/metrics`; the session code keeps them.
#[derive(Clone)]
pub struct WsMetrics {
    /// Sessions open now.
    pub sessions: IntGauge,
    /// Times a session's outbox overflowed and its queued deltas were dropped.
    pub outbox_drops: IntCounter,
}

impl WsMetrics {
    /// New, unregistered figures.
    pub fn new() -> prometheus::Result<WsMetrics> {
        Ok(WsMetrics {
            sessions: IntGauge::new("watchfire_ws_sessions", "WebSocket sessions open.")?,
            outbox_drops: IntCounter::new(
                "watchfire_ws_outbox_drops_total",
                "Times a WebSocket session's outbox overflowed and its queued deltas were dropped.",
            )?,
        })
    }

    /// Registers the figures.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.sessions.clone()))?;
        registry.register(Box::new(self.outbox_drops.clone()))?;
        Ok(())
    }
}

/// Requests by method, route pattern and status, with their latency: an actix-web
/// middleware (`App::wrap`). Routes are the matched patterns (`/api/v1/monitors/{id}`),
/// never raw paths, so ids do not multiply the series.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

/// The route label of a request no route matched.
const UNMATCHED: &str = "unmatched";

impl HttpMetrics {
    /// New, unregistered figures.
    pub fn new() -> prometheus::Result<HttpMetrics> {
        Ok(HttpMetrics {
            requests: IntCounterVec::new(
                Opts::new(
                    "watchfire_http_requests_total",
                    "HTTP requests answered, by method, route pattern and status.",
                ),
                &["method", "route", "status"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "watchfire_http_request_duration_seconds",
                    "Time to answer an HTTP request, by method and route pattern.",
                ),
                &["method", "route"],
            )?,
        })
    }

    /// Registers the figures.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.requests.clone()))?;
        registry.register(Box::new(self.duration.clone()))?;
        Ok(())
    }

    fn observe(&self, method: &str, route: &str, status: StatusCode, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }
}

/// A method as a label: the standard ones by name, any other as `OTHER` (it is client input).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

impl<S, B> Transform<S, ServiceRequest> for HttpMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = MeteredService<S>;
    type InitError = ();
    type Future = Ready<Result<MeteredService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(MeteredService {
            service,
            metrics: self.clone(),
        }))
    }
}

/// The service [`HttpMetrics`] wraps around the app.
pub struct MeteredService<S> {
    service: S,
    metrics: HttpMetrics,
}

impl<S, B> Service<ServiceRequest> for MeteredService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let method = method_label(req.method());
        let route = req.match_pattern();
        let metrics = self.metrics.clone();
        let answer = self.service.call(req);
        Box::pin(async move {
            let answer = answer.await;
            let status = match &answer {
                Ok(res) => res.status(),
                Err(e) => e.as_response_error().status_code(),
            };
            let route = route.as_deref().unwrap_or(UNMATCHED);
            metrics.observe(method, route, status, started.elapsed().as_secs_f64());
            answer
        })
    }
}
