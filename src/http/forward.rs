//! Any node answers any request: on a node of a cluster, a command for a thing another
//! node owns (a monitor's changes and heartbeats, a host's pushes, the alerting's
//! channels and acknowledgements) is forwarded to that node and its answer relayed.
//! Reads are answered here, from this node's read models, which follow the same log.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;

use super::problem::Problem;
use super::AppState;
use crate::cluster::{ClusterView, ALERTING};
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

/// The thing whose owner serves `method path` on a node of a cluster, if it is a command
/// for an owned thing.
pub fn owning_resource(state: &AppState, method: &Method, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let read = method == Method::GET || method == Method::HEAD;
    match segments.as_slice() {
        // Heartbeats may come as GET (Uptime Kuma's push URL).
        ["api", "v1", "push", token] | ["api", "push", token] => {
            let monitors = state.monitors.read();
            let id = monitors
                .monitors
                .values()
                .find(|m| m.state.push_token.as_deref() == Some(*token))?
                .state
                .id;
            Some(StreamId::monitor(id).as_str().to_owned())
        }
        _ if read => None,
        ["api", "v1", "monitors", id] | ["api", "v1", "monitors", id, "pause" | "resume"] => {
            let id = uuid::Uuid::parse_str(id).ok()?;
            Some(StreamId::monitor(id).as_str().to_owned())
        }
        ["api", "v1", "channels", ..] | ["api", "v1", "alerts", _, "ack"] => {
            Some(ALERTING.to_owned())
        }
        _ => None,
    }
}

/// Forwards the request to the owner of the thing it is about, when that is another live
/// node; serves it here otherwise.
pub async fn to_owner(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let target = req.app_data::<web::Data<AppState>>().and_then(|state| {
        let cluster = state.cluster.as_ref()?;
        if req.headers().contains_key(FORWARDED) {
            return None;
        }
        let resource = owning_resource(state, req.method(), req.path())?;
        let (_, addr) = cluster.elsewhere(&resource)?;
        Some((cluster.clone(), state.forwarder.clone()?, addr))
    });
    match target {
        None => Ok(next.call(req).await?.map_into_boxed_body()),
        Some((cluster, forwarder, addr)) => {
            let answered = forward(req, &cluster, &forwarder, &addr).await;
            // The caller reads its writes on this node next: wait (bounded) until this
            // node's read models hold what the owner answered.
            let position = answered
                .headers()
                .get("watchfire-position")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if let (Some(p), Some(state)) = (
                position,
                answered.request().app_data::<web::Data<AppState>>(),
            ) {
                for projection in &state.projections {
                    let _ = projection.progress().reached(Position(p)).await;
                }
            }
            Ok(answered)
        }
    }
}

/// Sends `req` to the node at `addr` and answers with what it answered.
async fn forward(
    req: ServiceRequest,
    cluster: &ClusterView,
    forwarder: &Forwarder,
    addr: &str,
) -> ServiceResponse<BoxBody> {
    let (http, mut payload) = req.into_parts();
    let answer = async {
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
        let body = body.freeze();
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
