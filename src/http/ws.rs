//! The WebSocket API, `/ws`: live snapshots and updates of the dashboard, alerts, one
//! monitor, one host or the whole log, and alert acknowledgement.
//!
//! A single broadcaster ([`Hub`]) follows the log and fans each event out to the bounded
//! outbox of every session following a topic it updates, never waiting on one; each
//! connection is one actor ([`session::WsSession`]) that drains its outbox into the
//! socket. A session whose outbox overflows loses its backlog and gets fresh snapshots.
//!
//! Written data is bounded too: actix-web-actors hands whatever a session writes during
//! one poll to the HTTP dispatcher, which stops polling the session while its write
//! buffer is full (a client that stops reading). So a session writes at most one outbox
//! (`websocket.outbox` frames) or one catch-up page per poll, and while its client does
//! not read, new frames pile up in the outbox, which overflows, rather than in memory.
//!
//! A client that stops reading altogether stalls its session's actor with it, heartbeat
//! included, so the kernel drops such connections instead: every accepted socket gets
//! `TCP_USER_TIMEOUT` = `websocket.timeout_s` ([`drop_stalled_connections`]), after which
//! data the client leaves unacknowledged (or a window it keeps shut) ends the connection.
//!
//! Frames are limited to 64 KiB: a bigger one is answered with an `error` frame and the
//! session reads on (the codec takes such a frame in whole before dropping it; a frame
//! whose declared length the codec cannot skip repeats its error, and after three in a
//! row the connection is closed).
//!
//! actix-web-actors is deprecated upstream in favour of actix-ws; only this module and
//! `ws/` use it.

mod hub;
mod protocol;
pub mod seed004;
mod session;
mod topics;

use std::any::Any;
use std::time::Duration;

use actix_web::dev::Extensions;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

pub use hub::Hub;
pub use protocol::MAX_MESSAGE_BYTES;

use super::{auth, AppState};
use session::{Dialect, Identity, WsSession};

/// The credential a request carries: its bearer token, else its session cookie.
fn credential(req: &HttpRequest) -> Option<String> {
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    bearer.or_else(|| auth::session_cookie(req))
}

/// Who opens the session, if the upgrade request says: a bad bearer token is refused with
/// 401; no credential, or a stale session cookie, leaves the first message to authenticate.
fn identify(req: &HttpRequest, state: &AppState) -> Result<Option<Identity>, super::Problem> {
    let bearer = req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION);
    match (auth::authenticate(req, state), credential(req)) {
        (Ok(entry), Some(value)) => Ok(Some(Identity {
            entry,
            credential: value.into(),
        })),
        (Err(problem), _) if bearer => Err(problem),
        _ => Ok(None),
    }
}

/// The protocol `?protocol=` asks for: watchfire's own (the default) or `seed004`.
fn dialect(req: &HttpRequest) -> Result<Dialect, super::Problem> {
    #[derive(serde::Deserialize)]
    struct Q {
        protocol: Option<String>,
    }
    let q = web::Query::<Q>::from_query(req.query_string()).map_err(|e| {
        super::Problem::new(actix_web::http::StatusCode::BAD_REQUEST, e.to_string())
    })?;
    match q.protocol.as_deref() {
        None | Some("watchfire") => Ok(Dialect::Native),
        Some(seed004::NAME) => Ok(Dialect::Seed004),
        Some(other) => Err(super::Problem::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            format!("unknown protocol {other:?}: use watchfire (the default) or seed004"),
        )),
    }
}

/// `GET /ws`: upgrades to a WebSocket session.
#[tracing::instrument(skip_all)]
pub async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let dialect = dialect(&req)?;
    let identity = identify(&req, &state)?;
    let session = WsSession::new(state, identity, dialect);
    ws::WsResponseBuilder::new(session, &req, payload)
        .frame_size(MAX_MESSAGE_BYTES)
        .start()
        // A request that is no WebSocket handshake is answered as every other error is.
        .map_err(|e| super::Problem::new(e.error_response().status(), e.to_string()).into())
}

/// For `HttpServer::on_connect`: makes the kernel drop a connection whose client has
/// acknowledged nothing, or kept its receive window shut, for `after`.
pub fn drop_stalled_connections(
    after: Duration,
) -> impl Fn(&dyn Any, &mut Extensions) + Send + Sync {
    move |connection, _| {
        #[cfg(target_os = "linux")]
        if let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
            if let Err(e) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(after)) {
                tracing::debug!(error = %e, "cannot set TCP_USER_TIMEOUT");
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (connection, after);
    }
}
