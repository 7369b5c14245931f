//! Authentication against the tokens projection: an API token as `Authorization: Bearer`,
//! or the session cookie `POST /api/v1/login` sets; then the role a route needs.

use actix_web::http::{header, StatusCode};
use actix_web::HttpRequest;

use super::{AppState, Problem};
use crate::config::AuthSettings;
use crate::events::Role;
use crate::projections::TokenEntry;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "watchfire_session";

pub use crate::domain::token::hash_token;

fn unauthorized(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, detail)
}

/// The value of the session cookie the request carries, if any.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that hands the client a session lasting `max_age_s`.
pub fn session_set_cookie(value: &str, max_age_s: i64, settings: &AuthSettings) -> String {
    let secure = if settings.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    )
}

/// The `Set-Cookie` value that makes the client forget its session.
pub fn session_clear_cookie(settings: &AuthSettings) -> String {
    session_set_cookie("", 0, settings)
}

/// The credential with value `value` (an API token, or a session's cookie value), if usable now.
pub fn authenticate_token(value: &str, state: &AppState) -> Result<TokenEntry, Problem> {
    let value = value.trim();
    if value.is_empty() {
        return Err(unauthorized("the token is empty"));
    }
    state
        .tokens
        .read()
        .authenticate(&hash_token(value), state.clock.now())
        .map_err(|why| unauthorized(why.to_string()))
}

/// Who sent the request, whatever their role: the bearer token if the request has an
/// `Authorization` header (a bad one is refused even beside a good cookie), else the
/// session cookie.
pub fn authenticate(req: &HttpRequest, state: &AppState) -> Result<TokenEntry, Problem> {
    if let Some(header) = req.headers().get(header::AUTHORIZATION) {
        let value = header
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be Bearer <token>"))?;
        return authenticate_token(value, state);
    }
    match session_cookie(req) {
        Some(value) => {
            let entry = authenticate_token(&value, state)?;
            if entry.user.is_none() {
                return Err(unauthorized(
                    "the session cookie holds no session: log in at POST /api/v1/login",
                ));
            }
            Ok(entry)
        }
        None => Err(unauthorized(
            "send Authorization: Bearer <token>, or log in at POST /api/v1/login",
        )),
    }
}

/// Who sent the request, if their token or session holds at least `role`.
pub fn require(req: &HttpRequest, state: &AppState, role: Role) -> Result<TokenEntry, Problem> {
    let entry = authenticate(req, state)?;
    if entry.role < role {
        let holder = if entry.user.is_some() {
            "the user"
        } else {
            "the token"
        };
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!(
                "this needs the {} role; {holder} has {}",
                role.as_str(),
                entry.role.as_str()
            ),
        ));
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "a=1; watchfire_session=abc ; b=2"))
            .to_http_request();
        assert_eq!(session_cookie(&req).as_deref(), Some("abc"));
        let none = TestRequest::default()
            .insert_header((header::COOKIE, "watchfire_sessionx=1"))
            .to_http_request();
        assert_eq!(session_cookie(&none), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_only_when_configured() {
        let mut settings = AuthSettings::default();
        let plain = session_set_cookie("v", 60, &settings);
        assert_eq!(
            plain,
            "watchfire_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        settings.secure_cookie = true;
        assert!(session_clear_cookie(&settings).ends_with("Max-Age=0; Secure"));
    }
}
