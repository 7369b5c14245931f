//! Bearer-token authentication against the tokens projection.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::{AppState, Problem};
use crate::events::Role;
use crate::projections::TokenEntry;

/// The SHA-256 hex of a token's value: what the log stores instead of the token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The token of the request's `Authorization: Bearer` header, if it holds at least `role`.
pub fn require(req: &HttpRequest, state: &AppState, role: Role) -> Result<TokenEntry, Problem> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "send Authorization: Bearer <token>",
            )
        })?;
    let value = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "the Authorization header must be Bearer <token>",
            )
        })?;
    let tokens = state.tokens.read();
    let entry = tokens
        .by_hash(&hash_token(value))
        .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, "unknown token"))?;
    if !entry.usable_at(Utc::now()) {
        let why = if entry.revoked_at.is_some() {
            "the token was revoked"
        } else {
            "the token has expired"
        };
        return Err(Problem::new(StatusCode::UNAUTHORIZED, why));
    }
    if entry.role < role {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!(
                "this needs the {} role; the token has {}",
                role.as_str(),
                entry.role.as_str()
            ),
        ));
    }
    Ok(entry.clone())
}
