//! What every resource's handlers read from a request the same way: `If-Match`,
//! `?min_position`, times, JSON bodies with a 422 that names the field.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::Problem;
use crate::events::{Actor as EventActor, Position};
use crate::projections::{LagSource, TokenEntry};

/// A 422 whose detail names the field.
pub fn invalid(field: &str, detail: impl std::fmt::Display) -> Problem {
    Problem {
        field: Some(field.to_owned()),
        ..Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{field}: {detail}"),
        )
    }
}

/// Reads a JSON object into `T`, with a 422 naming the field it cannot take.
pub fn from_json<T: DeserializeOwned>(value: Value) -> Result<T, Problem> {
    if !value.is_object() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        invalid(&field, e.into_inner())
    })
}

/// The version named by `If-Match: "N"`, if the request has one.
pub fn if_match(req: &HttpRequest) -> Result<Option<u64>, Problem> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    let digits = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    digits.parse::<u64>().map(Some).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("If-Match must be a quoted version such as \"3\", not {text:?}"),
        )
    })
}

/// The event actor of an authenticated caller: `user:<name>` for a session, else the token.
pub fn by(entry: &TokenEntry) -> EventActor {
    entry.actor()
}

/// An RFC 3339 time from a query parameter.
pub fn parse_time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, Problem> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        format!("{field} must be an RFC 3339 time: {e}"),
                    )
                })
        })
        .transpose()
}

/// Waits until `read_model` has applied `?min_position=N`, within the read models' one
/// bound (else 503).
pub async fn wait_min_position(
    req: &HttpRequest,
    read_model: &dyn LagSource,
) -> Result<(), Problem> {
    #[derive(Deserialize)]
    struct Min {
        min_position: Option<u64>,
    }
    let Ok(q) = web::Query::<Min>::from_query(req.query_string()) else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "min_position must be a position",
        ));
    };
    if let Some(p) = q.min_position {
        read_model
            .progress()
            .reached(Position(p))
            .await
            .map_err(|e| Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    }
    Ok(())
}
