//! The HTTP edge: every error is a problem+json body, a path served with other methods
//! answers 405 with `Allow`, and an explicit `null` never stands in for a default.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

use super::api::{start_server, Api, Reply, ADMIN_TOKEN};

/// Fails the test unless `reply` is a problem+json body of `status` with its four members.
fn assert_problem(reply: &Reply, status: u16, what: &str) -> Value {
    assert_eq!(reply.status, status, "{what}: body {}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{what}: the content type"
    );
    let body = reply.json();
    assert_eq!(body["status"], status, "{what}: {body}");
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "{what}: no {member} in {body}");
    }
    body
}

#[test]
fn a_known_path_with_a_method_it_does_not_serve_is_405_with_allow() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    for (method, path, allow) in [
        ("DELETE", "/api/v1/monitors", "POST, GET"),
        ("PUT", "/api/v1/tokens", "POST, GET"),
        ("POST", "/health", "GET"),
        (
            "PUT",
            "/api/v1/monitors/7b0e1c9e-8d1c-4d57-9c55-1f0c3c2b6a10",
            "GET, PATCH, DELETE",
        ),
    ] {
        let reply = api.send(method, path, Some(ADMIN_TOKEN), &[], None);
        let what = format!("{method} {path}");
        assert_problem(&reply, 405, &what);
        let mut got: Vec<&str> = reply
            .header("allow")
            .unwrap_or_else(|| panic!("{what}: no Allow header"))
            .split(", ")
            .collect();
        let mut want: Vec<&str> = allow.split(", ").collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{what}: Allow");
    }
}

#[test]
fn an_unknown_path_stays_404_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    for (method, path) in [
        ("GET", "/api/v1/nothing"),
        ("DELETE", "/healthz"),
        ("GET", "/api/v1/monitors/x/y/z"),
    ] {
        let reply = api.send(method, path, Some(ADMIN_TOKEN), &[], None);
        assert_problem(&reply, 404, &format!("{method} {path}"));
        assert!(
            reply.header("allow").is_none(),
            "{method} {path}: a 404 has no Allow"
        );
    }
}

#[test]
fn an_explicit_null_for_a_defaulted_field_is_422_naming_it_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    let before = api.get("/api/v1/monitors").expect(200, "list").json();
    for (field, value) in [
        ("interval_s", json!(null)),
        ("timeout_ms", json!(null)),
        ("tags", json!(null)),
        ("method", json!(null)),
    ] {
        let mut body = json!({"name": "web", "kind": "http", "url": "http://127.0.0.1:9/"});
        body[field] = value;
        let reply = api.post("/api/v1/monitors", &body);
        let problem = assert_problem(&reply, 422, field);
        assert_eq!(problem["field"], field, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains(field)),
            "the detail names {field}: {problem}"
        );
    }
    let after = api.get("/api/v1/monitors").expect(200, "list").json();
    assert_eq!(before, after, "no monitor was created");

    let nested = api.post(
        "/api/v1/monitors",
        &json!({"name": "web", "kind": "http", "url": "http://127.0.0.1:9/", "expect": {"status": null}}),
    );
    let problem = assert_problem(&nested, 422, "expect.status");
    assert_eq!(problem["field"], "expect.status", "{problem}");

    for (path, body, field) in [
        (
            "/api/v1/hosts",
            json!({"hostname": "db1", "scrape_url": "http://127.0.0.1:9/metrics", "interval_s": null}),
            "interval_s",
        ),
        (
            "/api/v1/hosts",
            json!({"hostname": "db1", "scrape_url": "http://127.0.0.1:9/metrics", "stale_after_s": null}),
            "stale_after_s",
        ),
        (
            "/api/v1/alert-rules",
            json!({"name": "down", "condition": {"kind": "monitor_down"}, "repeat_interval_s": null}),
            "repeat_interval_s",
        ),
        (
            "/api/v1/alert-rules",
            json!({"name": "down", "condition": {"kind": "monitor_down"}, "severity": null}),
            "severity",
        ),
        (
            "/api/v1/alert-rules",
            json!({"name": "down", "condition": {"kind": "monitor_down", "for_s": null}}),
            "condition.for_s",
        ),
        (
            "/api/v1/silences",
            json!({"matchers": {"tag": "web"}, "ends_at": "2999-01-01T00:00:00Z", "starts_at": null}),
            "starts_at",
        ),
    ] {
        let before = api.get(path).expect(200, "list").json();
        let reply = api.post(path, &body);
        let problem = assert_problem(&reply, 422, &format!("{path} {field}"));
        assert_eq!(problem["field"], field, "{path}: {problem}");
        let after = api.get(path).expect(200, "list").json();
        assert_eq!(before, after, "{path}: nothing was created");
    }
}

#[test]
fn an_absent_defaulted_field_still_takes_its_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    let created = api
        .post(
            "/api/v1/monitors",
            &json!({"name": "web", "kind": "http", "url": "http://127.0.0.1:9/"}),
        )
        .expect(201, "create");
    assert_eq!(created.json()["interval_s"], 60, "{}", created.body);
}

#[test]
fn a_websocket_request_without_upgrade_is_a_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    let reply = api.send("GET", "/ws", None, &[], None);
    let problem = assert_problem(&reply, 400, "GET /ws without Upgrade");
    assert!(
        problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{problem}"
    );
}

/// The address `host:port` of a server's base URL.
fn address(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Sends `bytes` on a fresh connection and reads the answer until the server closes it.
fn raw_exchange(base: &str, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(address(base)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a read timeout");
    stream.write_all(bytes).expect("sends");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Fails the test unless the raw `answer` is one problem+json answer of `status`.
fn assert_raw_problem(answer: &str, status: u16, what: &str) {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{what}: no complete answer: {answer:?}"));
    assert!(
        head.starts_with(&format!("HTTP/1.1 {status} ")),
        "{what}: the status line: {head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("\r\ncontent-type: application/problem+json"),
        "{what}: the content type: {head}"
    );
    assert!(
        lower.contains(&format!("\r\ncontent-length: {}", body.len())),
        "{what}: the length: {head}"
    );
    let problem: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e}): {body:?}"));
    assert_eq!(problem["status"], status, "{what}: {problem}");
    for member in ["type", "title", "detail"] {
        assert!(
            problem[member].is_string(),
            "{what}: no {member} in {problem}"
        );
    }
}

#[test]
fn requests_the_dispatcher_refuses_are_answered_with_problems() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let malformed = raw_exchange(&server.base, b"GARBAGE\r\n\r\n");
    assert_raw_problem(&malformed, 400, "a malformed request line");

    let two_lengths = raw_exchange(
        &server.base,
        b"POST /api/v1/monitors HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    );
    assert_raw_problem(&two_lengths, 400, "two different Content-Length headers");

    let mut many = b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec();
    for n in 0..200 {
        many.extend_from_slice(format!("X-Flood-{n}: 1\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_raw_problem(&raw_exchange(&server.base, &many), 431, "too many headers");

    let mut large = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Large: ".to_vec();
    large.extend(std::iter::repeat_n(b'a', 200 * 1024));
    large.extend_from_slice(b"\r\n\r\n");
    assert_raw_problem(
        &raw_exchange(&server.base, &large),
        431,
        "a header too large",
    );
}

#[test]
fn a_head_that_arrives_too_slowly_is_a_408_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    // Never finished: the server's client request timeout (5 s) answers it.
    let answer = raw_exchange(&server.base, b"GET /health HTTP/1.1\r\nHost: x\r\n");
    assert_raw_problem(&answer, 408, "a slow head");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let mut stream = TcpStream::connect(address(&server.base)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a read timeout");
    for round in 0..3 {
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("sends");
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
            let n = stream.read(&mut chunk).expect("reads");
            assert!(
                n > 0,
                "round {round}: the server closed a kept-alive connection"
            );
            answer.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&answer).into_owned();
        assert!(text.starts_with("HTTP/1.1 200 "), "round {round}: {text}");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head");
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .and_then(|v| v.trim().parse().ok())
            .expect("a content length");
        let mut have = body.len();
        while have < length {
            let n = stream.read(&mut chunk).expect("reads the body");
            assert!(n > 0, "round {round}: the body was cut");
            have += n;
        }
    }
}
