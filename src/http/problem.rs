//! RFC 9457 problem details: the one shape every error takes at the HTTP edge.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;

use crate::command::{CommandAnswer, CommandError};
use crate::domain::DomainError;
use crate::events::StoreError;

/// An error as the API answers it: `{"type","title","status","detail"}`.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{status} {title}: {detail}")]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// The request body's field at fault, for a 422 (an extension member, as RFC 9457 allows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    /// A problem with `status`, its canonical title and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        let title = status.canonical_reason().unwrap_or("Error").to_owned();
        Problem {
            kind: format!(
                "https://watchfire.dev/problems/{}",
                title.to_lowercase().replace(' ', "-")
            ),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
        }
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        builder.content_type("application/problem+json");
        if self.status == 401 {
            builder.insert_header(("WWW-Authenticate", "Bearer"));
        }
        builder.json(self)
    }
}

/// Turns a JSON body error into a 400, 413 or 415 problem.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let problem = match &err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, err.to_string())
        }
        E::ContentType => Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send application/json"),
        _ => Problem::new(StatusCode::BAD_REQUEST, err.to_string()),
    };
    problem.into()
}

/// What a 500 tells the client: the cause goes to the log, never into the answer.
pub const INTERNAL_DETAIL: &str =
    "the server could not carry out the request; the cause is in its log";

impl Problem {
    /// A 500 whose cause (with its whole source chain) is logged, and not shown.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Problem {
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "internal error");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_DETAIL)
    }
}

impl Problem {
    /// A 404 for a `what` that does not exist, as the domain says it.
    pub fn not_found(what: &'static str) -> Problem {
        DomainError::NotFound(what).into()
    }

    /// A command's error, except that a stream that moved on meanwhile (the log's
    /// expected-version conflict) answers `instead`: what that race means for this command.
    pub fn unless_conflict(e: CommandError, instead: impl FnOnce() -> Problem) -> Problem {
        match e {
            CommandError::Store(StoreError::Conflict { .. }) => instead(),
            other => other.into(),
        }
    }
}

impl From<DomainError> for Problem {
    fn from(e: DomainError) -> Problem {
        match &e {
            DomainError::Invalid { field, .. } => Problem {
                field: Some(field.clone()),
                ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            },
            DomainError::NotFound(_) => Problem::new(StatusCode::NOT_FOUND, e.to_string()),
            DomainError::Conflict(_) | DomainError::VersionMismatch { .. } => {
                Problem::new(StatusCode::CONFLICT, e.to_string())
            }
            DomainError::Forbidden(_) => Problem::new(StatusCode::FORBIDDEN, e.to_string()),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        match &e {
            StoreError::Conflict { .. } => Problem::new(StatusCode::CONFLICT, e.to_string()),
            // A full disk, or a log closing as the server stops: another try may succeed.
            // A log closing, or a lease lost as a thing moves to another node: another
            // try may succeed.
            StoreError::Unavailable(_) | StoreError::Closed | StoreError::Fenced { .. } => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            _ => Problem::internal(&e),
        }
    }
}

impl From<CommandError> for Problem {
    fn from(e: CommandError) -> Problem {
        match e {
            CommandError::Domain(e) => e.into(),
            CommandError::Store(e) => e.into(),
            CommandError::Unavailable(_) => Problem::internal(&e),
            CommandError::Moving(_) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
}

/// A command's answer: `ETag` (the stream's version), `Watchfire-Position`, never cached.
pub fn answered(status: StatusCode, answer: &CommandAnswer) -> HttpResponseBuilder {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::ETAG, format!("\"{}\"", answer.version.0)))
        .insert_header(("Watchfire-Position", answer.position.0.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    res
}
