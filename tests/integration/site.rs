//! The dashboard's files as the real server serves them.

use crate::api::{start_in_process, Api};

#[test]
fn the_dashboard_page_and_its_files_are_served_without_auth() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);

    let page = api
        .send("GET", "/", None, &[], None)
        .expect(200, "the page");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert!(page.body.contains("<div id=\"app\">"), "{}", page.body);

    let scripts: Vec<&str> = page
        .body
        .split("=\"/assets/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(
        !scripts.is_empty(),
        "the page names its assets: {}",
        page.body
    );
    for file in scripts {
        let asset = api
            .send("GET", &format!("/assets/{file}"), None, &[], None)
            .expect(200, file);
        assert!(!asset.body.is_empty(), "{file} has content");
        assert_eq!(
            asset.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{file}"
        );
    }

    let icon = api
        .send("GET", "/favicon.svg", None, &[], None)
        .expect(200, "the icon");
    assert_eq!(icon.header("content-type"), Some("image/svg+xml"));
}

#[test]
fn an_unknown_dashboard_file_is_a_404_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    for path in [
        "/assets/nothing.js",
        "/assets/..%2FCargo.toml",
        "/index.html",
    ] {
        let reply = api.send("GET", path, None, &[], None).expect(404, path);
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json"),
            "{path}"
        );
        assert_eq!(reply.json()["status"], 404, "{path}");
    }
}

#[test]
fn a_422_names_the_field_in_its_own_member() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let reply = api
        .post(
            "/api/v1/monitors",
            &serde_json::json!({"name": "x", "kind": "http", "url": "http://127.0.0.1:1/", "interval_s": 0}),
        )
        .expect(422, "interval 0");
    let problem = reply.json();
    assert_eq!(problem["field"], "interval_s", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("interval_s: ")),
        "{problem}"
    );
}
