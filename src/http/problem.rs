//! RFC 9457 problem details: the one shape every error takes at the HTTP edge.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

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
