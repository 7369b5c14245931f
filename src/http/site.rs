//! The dashboard's files: the `web/` build embedded at compile time (see
//! `build.rs`), or a directory named by `web_dir` for working on the dashboard.

use std::path::Path;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};

use super::{AppState, Problem};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// `GET /`: the dashboard's page (no auth: it signs in with the API).
pub async fn index(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    serve(&state, "index.html")
}

/// `GET /assets/{file}`: a script, style sheet or font of the build, named by its hash.
pub async fn asset(
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    serve(&state, &format!("assets/{}", file.into_inner()))
}

/// `GET /favicon.svg`: the icon the page starts with (it redraws it with the count of monitors down).
pub async fn favicon(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    serve(&state, "favicon.svg")
}

fn serve(state: &AppState, name: &str) -> Result<HttpResponse, Problem> {
    let body = match &state.settings.web_dir {
        Some(dir) => from_dir(dir, name)?,
        None => embedded::ASSETS
            .iter()
            .find(|(path, _)| *path == name)
            .map(|(_, bytes)| bytes.to_vec())
            .ok_or_else(|| missing(name))?,
    };
    // Hashed names never change content; the page itself must be fetched fresh to pick up a new build.
    let cache = if name.starts_with("assets/") && state.settings.web_dir.is_none() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type(name))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body))
}

fn from_dir(dir: &Path, name: &str) -> Result<Vec<u8>, Problem> {
    // Only plain names below the directory: no `..`, no absolute paths.
    if name
        .split('/')
        .any(|part| part.is_empty() || part == ".." || part.starts_with('.'))
    {
        return Err(missing(name));
    }
    std::fs::read(dir.join(name)).map_err(|_| missing(name))
}

fn missing(name: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        format!("the dashboard has no file {name}"),
    )
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_build_has_a_page_that_loads_its_script() {
        let (_, page) = embedded::ASSETS
            .iter()
            .find(|(path, _)| *path == "index.html")
            .expect("index.html is embedded");
        let page = String::from_utf8_lossy(page);
        let script = page
            .split("src=\"/")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the page loads a script");
        assert!(
            embedded::ASSETS.iter().any(|(path, _)| *path == script),
            "{script} is embedded"
        );
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "nothing is fetched from elsewhere"
        );
    }

    #[test]
    fn a_web_dir_refuses_names_that_climb_out() {
        let dir = std::env::temp_dir();
        for name in ["../etc/passwd", "assets/../../x", ".env", "assets//x"] {
            let problem = from_dir(&dir, name).expect_err("refused");
            assert_eq!(problem.status, 404, "{name}");
        }
    }

    #[test]
    fn files_are_served_with_their_type() {
        assert_eq!(
            content_type("assets/index-1.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
    }
}
