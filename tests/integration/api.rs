//! A blocking client of the real server's API for the end-to-end tests, and the log
//! read back through `watchfire replay`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::helpers::{run_cli, Server, TestServer};

/// The admin token every server here starts with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The longest a test waits for something the server does on its own schedule.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// Starts `watchfire serve` on `dir` with [`ADMIN_TOKEN`] and `extra` environment.
pub fn start_server(dir: &Path, extra: &[(&str, &str)]) -> Server {
    let mut envs = vec![("WATCHFIRE_ADMIN_TOKEN", ADMIN_TOKEN)];
    envs.extend_from_slice(extra);
    Server::start(dir, &envs, &[])
}

/// Starts the server in this process (a [`TestServer`]) on `dir` with [`ADMIN_TOKEN`]:
/// for tests that need no separate process.
pub fn start_in_process(dir: &Path) -> TestServer {
    TestServer::start(dir, ADMIN_TOKEN, |_| {})
}

/// Creates a token of `role` with `watchfire token create` (the server may be running).
pub fn create_token(dir: &Path, role: &str) -> String {
    let dir = dir.to_str().expect("temp dirs are UTF-8");
    let (code, stdout, stderr) = run_cli(&[
        "token",
        "--data-dir",
        dir,
        "create",
        "--role",
        role,
        "--name",
        role,
    ]);
    assert_eq!(code, 0, "token create succeeds; stderr: {stderr}");
    let value = stdout.trim().to_owned();
    assert!(value.starts_with("wf_"), "a token is printed: {stdout:?}");
    value
}

/// Polls `probe` every 200 ms until it yields a value, or fails the test after [`PATIENCE`].
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "gave up after {PATIENCE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An HTTP answer as a test reads it.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {}", self.body))
    }

    /// The value of header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Fails the test unless the status is `status`.
    pub fn expect(self, status: u16, what: &str) -> Reply {
        assert_eq!(self.status, status, "{what}: body {}", self.body);
        self
    }

    /// The stream version of `ETag: "N"`, which must be present and quoted.
    pub fn etag_version(&self) -> u64 {
        let etag = self
            .header("etag")
            .unwrap_or_else(|| panic!("no ETag in a command's answer: {}", self.body));
        etag.strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("the ETag {etag:?} is not a quoted version"))
    }

    /// The `Watchfire-Position` header, which must be present and a number.
    pub fn position(&self) -> u64 {
        let position = self.header("watchfire-position").unwrap_or_else(|| {
            panic!("no Watchfire-Position in a command's answer: {}", self.body)
        });
        position
            .parse()
            .unwrap_or_else(|_| panic!("Watchfire-Position {position:?} is not a position"))
    }
}

/// A blocking client of one server's API, authenticated as admin unless told otherwise.
///
/// Like a careful client, it reads its own writes: its monitor queries wait
/// (`?min_position=`) for the highest position its commands were answered with.
pub struct Api {
    pub base: String,
    pub runtime: tokio::runtime::Runtime,
    pub client: reqwest::Client,
    pub written: std::cell::Cell<u64>,
}

impl Api {
    pub fn new(server: &Server) -> Api {
        Api::at(&server.base)
    }

    /// A client of the server at `base` (`http://127.0.0.1:<port>`), such as a [`TestServer`].
    pub fn at(base: &str) -> Api {
        Api {
            base: base.to_owned(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the test client"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                // Under the server's 5 s keep-alive: a connection idle while the test did
                // something else (ran a validator) is not reused as the server closes it.
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .expect("an HTTP client"),
            written: std::cell::Cell::new(0),
        }
    }

    /// Sends one request: `token` as bearer, `body` as (content type, bytes), extra `headers`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path} got no answer: {e}"));
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let written = headers
                .get("watchfire-position")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if let Some(position) = written {
                self.written.set(self.written.get().max(position));
            }
            let body = response
                .text()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: the body cannot be read: {e}"));
            Reply {
                status,
                headers,
                body,
            }
        })
    }

    /// A GET as admin; under `/api/v1`, after this client's own writes.
    pub fn get(&self, path: &str) -> Reply {
        let written = self.written.get();
        if written == 0 || !path.starts_with("/api/v1/") || path.contains("min_position=") {
            return self.send("GET", path, Some(ADMIN_TOKEN), &[], None);
        }
        let joint = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{joint}min_position={written}");
        self.send("GET", &path, Some(ADMIN_TOKEN), &[], None)
    }

    /// A command with an optional JSON body and an optional `If-Match` version.
    pub fn command(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        if_match: Option<u64>,
    ) -> Reply {
        let if_match = if_match.map(|v| format!("\"{v}\""));
        let headers: Vec<(&str, &str)> =
            if_match.iter().map(|v| ("if-match", v.as_str())).collect();
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.send(method, path, Some(ADMIN_TOKEN), &headers, body)
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.command("POST", path, Some(body), None)
    }
}

/// Every event of the log (or of `stream`), in order, as `watchfire replay --format json` prints it.
pub fn replay(dir: &Path, stream: Option<&str>) -> Vec<Value> {
    let dir = dir.to_str().expect("temp dirs are UTF-8");
    let mut args = vec!["replay", "--data-dir", dir, "--format", "json"];
    if let Some(stream) = stream {
        args.extend(["--stream", stream]);
    }
    let (code, stdout, stderr) = run_cli(&args);
    assert_eq!(code, 0, "replay succeeds; stderr: {stderr}");
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("replay printed a line that is not JSON ({e}): {l}"))
        })
        .collect()
}

#[test]
fn in_process_server_answers_the_api_and_records_why_it_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), ADMIN_TOKEN, |_| {});
    let api = Api::at(&server.base);
    let listed = api.get("/api/v1/monitors");
    assert_eq!(listed.status, 200, "{}", listed.body);
    let refused = api.send("GET", "/api/v1/monitors", Some("wf_not-a-token"), &[], None);
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(server.data_dir, dir.path());

    assert_eq!(server.stop("test over"), Ok(()), "the server stops cleanly");
    let last = replay(dir.path(), Some("system"))
        .pop()
        .expect("the system stream has events");
    assert_eq!(last["type"], "ServerStopped", "{last}");
    assert_eq!(last["data"]["reason"], "test over", "{last}");
}

#[test]
fn token_expiry_follows_the_injected_clock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = std::sync::Arc::new(watchfire::clock::ManualClock::new(chrono::Utc::now()));
    let server = TestServer::start_with_clock(dir.path(), ADMIN_TOKEN, clock.clone(), |_| {});
    let api = Api::at(&server.base);
    let now = watchfire::clock::Clock::now(clock.as_ref());

    // In the future by the system's clock, but not by the server's: refused, nothing made.
    clock.advance(chrono::Duration::hours(3));
    let early = serde_json::json!({
        "name": "early", "role": "viewer",
        "expires_at": (now + chrono::Duration::hours(2)).to_rfc3339(),
    });
    let refused = api.post("/api/v1/tokens", &early);
    assert_eq!(refused.status, 422, "{}", refused.body);
    let listed = api.get("/api/v1/tokens");
    assert!(
        !listed.body.contains("\"early\""),
        "no token is made: {}",
        listed.body
    );

    let expiring = serde_json::json!({
        "name": "expiring", "role": "viewer",
        "expires_at": (now + chrono::Duration::hours(4)).to_rfc3339(),
    });
    let created = api.post("/api/v1/tokens", &expiring);
    assert_eq!(created.status, 201, "{}", created.body);
    let token: Value = serde_json::from_str(&created.body).expect("a JSON body");
    let token = token["token"]
        .as_str()
        .expect("the token's value")
        .to_owned();
    let before = api.send("GET", "/api/v1/monitors", Some(&token), &[], None);
    assert_eq!(
        before.status, 200,
        "usable before it expires: {}",
        before.body
    );

    clock.advance(chrono::Duration::hours(2));
    let after = api.send("GET", "/api/v1/monitors", Some(&token), &[], None);
    assert_eq!(
        after.status, 401,
        "refused once the clock passes expiry: {}",
        after.body
    );
}
