//! Any node answers any request: on a node of a cluster, a command for a thing another
//! node owns (a monitor's changes and heartbeats, a host's pushes, a channel's changes
//! and test sends, an alert's acknowledgement) is forwarded to that node and its answer relayed.
//! Reads are answered here, from this node's read models, which follow the same log.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use futures_util::StreamExt;

use super::problem::Problem;
use super::AppState;
use crate::cluster::ClusterView;
use crate::events::{Position, StreamId};

/// The header that marks a request one node forwarded to another: it is served where it
/// arrives, never forwarded again.
pub const FORWARDED: &str = "watchfire-forwarded-by";

/// Longest a forwarded request may take, the owner's answer included.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest body forwarded (a host's push is the largest command body).
const MAX_FORWARDED_BODY: usize = 1024 * 1024;

/// Request headers that belong to one connection, not to the request.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "host",
];

/// A client for forwarding, shared by every request of a node.
#[derive(Clone)]
pub struct Forwarder {
    client: reqwest::Client,
}

impl Forwarder {
    /// A client that keeps connections to the other nodes open.
    pub fn new() -> Result<Forwarder, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(FORWARD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Forwarder { client })
    }
}

impl Forwarder {
    /// Acknowledges an open alert at the node that runs its rule, as the holder of
    /// `credential` (a token or login session of a WebSocket client on this node);
    /// answers the log position of the acknowledgement.
    pub async fn ack_at(
        &self,
        cluster: &ClusterView,
        addr: &str,
        credential: &str,
        alert: uuid::Uuid,
        comment: Option<String>,
    ) -> Result<u64, crate::actors::alert::AlertError> {
        use crate::actors::alert::AlertError;
        let answered = self
            .client
            .post(format!("http://{addr}/api/v1/alerts/{alert}/ack"))
            .header(FORWARDED, cluster.node().to_string())
            .bearer_auth(credential)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "comment": comment }).to_string())
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(%addr, error = %e, "cannot forward an acknowledgement");
                AlertError::Unavailable
            })?;
        match answered.status().as_u16() {
            200 => Ok(answered
                .headers()
                .get("watchfire-position")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or_default()),
            404 => Err(AlertError::NotFound),
            409 => Err(AlertError::NotFiring("not firing")),
            _ => Err(AlertError::Unavailable),
        }
    }
}

/// The thing whose owner serves `method path` on a node of a cluster, if it is a command
/// for an owned thing.
pub fn owning_resource(state: &AppState, method: &Method, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let read = method == Method::GET || method == Method::HEAD;
    match segments.as_slice() {
        // Heartbeats may come as GET (Uptime Kuma's push URL).
        ["api", "v1", "push", token] | ["api", "push", token] => {
            let id = *state.monitors.read().push_tokens.get(*token)?;
            Some(StreamId::monitor(id).as_str().to_owned())
        }
        _ if read => None,
        ["api", "v1", "monitors", id] | ["api", "v1", "monitors", id, "pause" | "resume"] => {
            let id = uuid::Uuid::parse_str(id).ok()?;
            Some(StreamId::monitor(id).as_str().to_owned())
        }
        ["api", "v1", "channels", id, ..] => {
            let id = uuid::Uuid::parse_str(id).ok()?;
            Some(StreamId::channel(id).as_str().to_owned())
        }
        ["api", "v1", "alerts", id, "ack"] => {
            let id = uuid::Uuid::parse_str(id).ok()?;
            alert_rule(state, id)
        }
        ["api", "v1", "hosts", hostname] | ["api", "v1", "hosts", hostname, "metrics"] => {
            Some(StreamId::host(hostname).as_str().to_owned())
        }
        _ => None,
    }
}

/// The lease of the rule whose node runs alert `id`, if the alert is known here.
pub fn alert_rule(state: &AppState, id: uuid::Uuid) -> Option<String> {
    let rule = state.alerting.read().alerts.get(&id)?.opened.rule_id;
    Some(StreamId::rule(rule).as_str().to_owned())
}

/// Whether the host a request is about is named in its body (seed 003's push route).
fn host_in_body(method: &Method, path: &str) -> bool {
    method == Method::POST && path == "/api/metrics"
}

/// The host a push body names, if it names one.
fn body_host(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        hostname: String,
    }
    let named: Named = serde_json::from_slice(body).ok()?;
    Some(StreamId::host(&named.hostname).as_str().to_owned())
}

/// Reads a request's body, up to [`MAX_FORWARDED_BODY`].
async fn read_body(payload: &mut actix_web::dev::Payload) -> Result<web::Bytes, Problem> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > MAX_FORWARDED_BODY {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a body may have at most {MAX_FORWARDED_BODY} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Forwards the request to the owner of the thing it is about, when that is another live
/// node; serves it here otherwise.
pub async fn to_owner(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let (Some(cluster), Some(forwarder)) = (&state.cluster, &state.forwarder) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if req.headers().contains_key(FORWARDED) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let mut body = None;
    let resource = if host_in_body(req.method(), req.path()) {
        let bytes = match read_body(&mut req.take_payload()).await {
            Ok(bytes) => bytes,
            Err(p) => return Ok(req.error_response(p)),
        };
        let named = body_host(&bytes);
        body = Some(bytes);
        named
    } else {
        owning_resource(&state, req.method(), req.path())
    };
    let Some((_, addr)) = resource.and_then(|r| cluster.elsewhere(&r)) else {
        if let Some(bytes) = body {
            // The body was read to find its host: put it back for the handler.
            req.set_payload(actix_web::dev::Payload::from(bytes));
        }
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let answered = forward(req, body, cluster, forwarder, &addr).await;
    // The caller reads its writes on this node next: wait (bounded) until this node's
    // read models hold what the owner answered.
    let position = answered
        .headers()
        .get("watchfire-position")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(p) = position {
        // All at once: the wait is as long as the slowest read model's, at most its bound.
        let waits = state
            .projections
            .iter()
            .map(|projection| projection.progress().reached(Position(p)));
        futures_util::future::join_all(waits).await;
    }
    Ok(answered)
}

/// Sends `req` (with `body` if it was read already) to the node at `addr` and answers
/// with what it answered.
async fn forward(
    req: ServiceRequest,
    body: Option<web::Bytes>,
    cluster: &ClusterView,
    forwarder: &Forwarder,
    addr: &str,
) -> ServiceResponse<BoxBody> {
    let (http, mut payload) = req.into_parts();
    let answer = async {
        let body = match body {
            Some(body) => body,
            None => read_body(&mut payload).await?,
        };
        let path = http
            .uri()
            .path_and_query()
            .map_or_else(|| http.path().to_owned(), ToString::to_string);
        let method = reqwest::Method::from_bytes(http.method().as_str().as_bytes())
            .map_err(|e| Problem::new(StatusCode::METHOD_NOT_ALLOWED, e.to_string()))?;
        let mut out = forwarder
            .client
            .request(method, format!("http://{addr}{path}"))
            .header(FORWARDED, cluster.node().to_string())
            .body(body);
        for (name, value) in http.headers() {
            if HOP_BY_HOP.contains(&name.as_str()) || name == header::CONTENT_LENGTH {
                continue;
            }
            out = out.header(name.as_str(), value.as_bytes());
        }
        if let Some(peer) = http.peer_addr() {
            out = out.header("x-forwarded-for", peer.ip().to_string());
        }
        let answered = out.send().await.map_err(|e| {
            tracing::warn!(%addr, error = %e, "cannot forward a request to its owner");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node that owns this is unreachable; try again shortly",
            )
        })?;
        let mut res = HttpResponse::build(
            StatusCode::from_u16(answered.status().as_u16())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        );
        for (name, value) in answered.headers() {
            let name = name.as_str();
            if HOP_BY_HOP.contains(&name) || name == "content-length" {
                continue;
            }
            res.append_header((name, value.as_bytes()));
        }
        let bytes = answered.bytes().await.map_err(|e| {
            Problem::new(
                StatusCode::BAD_GATEWAY,
                format!("the owner's answer was cut short: {e}"),
            )
        })?;
        Ok::<HttpResponse, Problem>(res.body(bytes))
    }
    .await;
    let response = answer.unwrap_or_else(|p| actix_web::ResponseError::error_response(&p));
    ServiceResponse::new(http, response)
}
