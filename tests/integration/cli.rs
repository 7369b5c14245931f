//! The real `watchfire` binary end to end: the bootstrap token, the operations routes,
//! shutdown, the data directory lock, `replay` and `verify` (through a running server's
//! socket and on a stopped server's directory), and configuration layering and errors.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{blocking_get, run_cli, Server, BIN};

/// Environment variables a test run might inherit that would change what the server does.
const INHERITED_SETTINGS: &[&str] = &[
    "WATCHFIRE_CONFIG",
    "WATCHFIRE_LISTEN",
    "WATCHFIRE_DATA_DIR",
    "WATCHFIRE_ADMIN_TOKEN",
    "WATCHFIRE_LOG_FORMAT",
    "WATCHFIRE_RETENTION__RAW_DAYS",
    "WATCHFIRE_METRICS__PUBLIC",
    "WATCHFIRE_METRICS__UPTIME_KUMA_NAMES",
];

/// A `watchfire` child started by hand (not through `Server::start`), killed when dropped.
struct Spawned {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Spawned {
    /// Spawns `watchfire args` with `envs` and a clean `WATCHFIRE_*` environment.
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Spawned {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in INHERITED_SETTINGS {
            cmd.env_remove(k);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("watchfire starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let out_pipe = child.stdout.take().expect("stdout is piped");
        let err_pipe = child.stderr.take().expect("stderr is piped");
        for (mut pipe, sink) in [
            (
                Box::new(out_pipe) as Box<dyn Read + Send>,
                Arc::clone(&stdout),
            ),
            (
                Box::new(err_pipe) as Box<dyn Read + Send>,
                Arc::clone(&stderr),
            ),
        ] {
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = sink.lock() {
                        s.extend_from_slice(&buf[..n]);
                    }
                }
            }));
        }
        Spawned {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Waits at most `limit` for the process to exit: its status, stdout and stderr.
    /// Panics (killing the process) when it is still running then.
    fn wait_exit(mut self, limit: Duration) -> (ExitStatus, String, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait works") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "watchfire was still running after {limit:?}; stderr: {}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        (status, self.stdout_text(), self.stderr_text())
    }

    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().expect("stdout lock")).into_owned()
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr lock")).into_owned()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `url` until it answers 200 or `limit` passes.
fn wait_for_200(url: &str, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok((200, _, _)) = blocking_get(url, None) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Waits until some stderr line of `server` satisfies `pred`; panics after `limit`.
fn wait_for_stderr(server: &Server, limit: Duration, what: &str, pred: impl Fn(&str) -> bool) {
    let started = Instant::now();
    while started.elapsed() < limit {
        if server.stderr().iter().any(|l| pred(l)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server never wrote {what} on stderr: {:?}", server.stderr());
}

/// Waits until the server has logged that it serves: everything it wrote before (the
/// bootstrap token included) has been captured by then.
fn wait_serving(server: &Server) {
    wait_for_stderr(
        server,
        Duration::from_secs(60),
        "\"watchfire is serving\"",
        |l| l.contains("watchfire is serving"),
    );
}

/// Whether `line`, trimmed, is a bootstrap token: `wf_` and 64 lowercase hex digits.
fn is_token(line: &str) -> bool {
    let t = line.trim();
    t.len() == 67
        && t.starts_with("wf_")
        && t[3..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// The bootstrap tokens printed on stderr so far.
fn printed_tokens(server: &Server) -> Vec<String> {
    server
        .stderr()
        .iter()
        .filter(|l| is_token(l))
        .map(|l| l.trim().to_owned())
        .collect()
}

/// The single admin token a fresh server printed.
fn admin_token(server: &Server) -> String {
    wait_serving(server);
    let tokens = printed_tokens(server);
    assert_eq!(
        tokens.len(),
        1,
        "exactly one admin token is printed on a fresh data dir; stderr: {:?}",
        server.stderr()
    );
    tokens[0].clone()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn dir_str(dir: &Path) -> &str {
    dir.to_str().expect("temp dirs are UTF-8")
}

/// `watchfire replay --data-dir dir --format json extra...`: exit code, parsed lines, stderr.
fn replay_json(dir: &Path, extra: &[&str]) -> (i32, Vec<Value>, String) {
    let mut args = vec!["replay", "--data-dir", dir_str(dir), "--format", "json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run_cli(&args);
    let lines = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("replay printed a line that is not JSON ({e}): {l}"))
        })
        .collect();
    (code, lines, stderr)
}

/// The replay of the whole log, which must succeed.
fn replay_all(dir: &Path) -> Vec<Value> {
    let (code, lines, stderr) = replay_json(dir, &[]);
    assert_eq!(code, 0, "replay succeeds; stderr: {stderr}");
    assert!(!lines.is_empty(), "the log has events");
    lines
}

fn types(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l["type"].as_str().unwrap_or(""))
        .collect()
}

fn positions(lines: &[Value]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| l["position"].as_u64().expect("every event has a position"))
        .collect()
}

/// Starts a server on `dir`, stops it with SIGTERM and checks that it exited cleanly.
fn start_and_stop(dir: &Path) {
    let server = Server::start(dir, &[], &[]);
    let status = server.terminate();
    assert!(
        status.success(),
        "SIGTERM stops the server cleanly: {status:?}"
    );
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("config file is written");
    path.to_str().expect("temp paths are UTF-8").to_owned()
}

// ---------------------------------------------------------------------------------------
// The bootstrap admin token.

#[test]
fn fresh_data_dir_prints_admin_token_once_and_not_on_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = Server::start(dir.path(), &[], &[]);
    let token = admin_token(&first);
    let status = first.terminate();
    assert!(status.success(), "first server stops cleanly: {status:?}");

    let second = Server::start(dir.path(), &[], &[]);
    wait_serving(&second);
    assert!(
        printed_tokens(&second).is_empty(),
        "a restart on the same data dir prints no token; stderr: {:?}",
        second.stderr()
    );
    assert!(
        !second.stderr().iter().any(|l| l.contains(&token)),
        "the first token is not shown again"
    );
    // The token made on the first start still works after the restart.
    let (status, _, body) =
        blocking_get(&format!("{}/metrics", second.base), Some(&token)).expect("GET /metrics");
    assert_eq!(
        status, 200,
        "the bootstrap token survives a restart: {body}"
    );
}

#[test]
fn admin_token_from_env_works_and_is_not_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = "env-admin-token-0123456789abcdef";
    let server = Server::start(dir.path(), &[("WATCHFIRE_ADMIN_TOKEN", token)], &[]);
    wait_serving(&server);
    assert!(
        printed_tokens(&server).is_empty(),
        "no token is printed when WATCHFIRE_ADMIN_TOKEN is set; stderr: {:?}",
        server.stderr()
    );
    assert!(
        !server.stderr().iter().any(|l| l.contains(token)),
        "the env token is never echoed on stderr"
    );
    let (status, _, body) =
        blocking_get(&format!("{}/metrics", server.base), Some(token)).expect("GET /metrics");
    assert_eq!(status, 200, "the env token is the admin token: {body}");
}

#[test]
fn admin_token_value_never_appears_in_replay_only_its_hash() {
    // A generated token, read while the server runs (through its socket) and after it stops.
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[], &[]);
    let token = admin_token(&server);
    let hash = sha256_hex(&token);
    let check = |lines: &[Value], when: &str| {
        let text = lines
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !text.contains(&token),
            "the token value leaks into replay ({when})"
        );
        let created: Vec<&Value> = lines
            .iter()
            .filter(|l| l["type"] == "TokenCreated")
            .collect();
        assert_eq!(created.len(), 1, "one TokenCreated ({when}): {text}");
        assert_eq!(
            created[0]["data"]["token_hash"].as_str(),
            Some(hash.as_str()),
            "the log keeps the token's sha256 ({when})"
        );
        assert_eq!(created[0]["data"]["role"], "admin", "({when})");
    };
    check(&replay_all(dir.path()), "server running");
    assert!(server.terminate().success());
    check(&replay_all(dir.path()), "server stopped");

    // A token given by WATCHFIRE_ADMIN_TOKEN is kept the same way.
    let dir = tempfile::tempdir().expect("temp dir");
    let token = "wf_env_given_token_for_replay_check_42";
    let server = Server::start(dir.path(), &[("WATCHFIRE_ADMIN_TOKEN", token)], &[]);
    assert!(server.terminate().success());
    let lines = replay_all(dir.path());
    let text = lines
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!text.contains(token), "the env token leaks into replay");
    assert!(text.contains(&sha256_hex(token)), "its hash is in the log");
}

// ---------------------------------------------------------------------------------------
// Operations routes.

#[test]
fn health_is_ok_without_auth_and_ready_reports_ready() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[], &[]);

    let (status, ctype, body) =
        blocking_get(&format!("{}/health", server.base), None).expect("GET /health");
    assert_eq!(status, 200);
    assert!(
        ctype.starts_with("application/json"),
        "content type {ctype}"
    );
    let json: Value = serde_json::from_str(&body).expect("health is JSON");
    assert_eq!(json, serde_json::json!({"status": "ok"}));

    // Projections may trail the first events for a moment after start.
    let started = Instant::now();
    let (status, body) = loop {
        let (status, _, body) =
            blocking_get(&format!("{}/health/ready", server.base), None).expect("GET ready");
        if status == 200 || started.elapsed() > Duration::from_secs(60) {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 200, "the server becomes ready: {body}");
    let json: Value = serde_json::from_str(&body).expect("ready is JSON");
    assert_eq!(json["status"], "ready", "{body}");
    assert!(
        json["position"].as_u64().unwrap_or(0) >= 3,
        "ready reports the durable position: {body}"
    );
    assert_eq!(json["reasons"], serde_json::json!([]), "{body}");
}

fn assert_problem(status: u16, ctype: &str, body: &str, expected: u16) -> Value {
    assert_eq!(status, expected, "status; body: {body}");
    assert!(
        ctype.starts_with("application/problem+json"),
        "errors are problem+json, got {ctype:?}; body: {body}"
    );
    let json: Value = serde_json::from_str(body).expect("problem body is JSON");
    assert_eq!(json["status"], expected, "problem status field: {body}");
    assert!(json["title"].is_string(), "problem has a title: {body}");
    assert!(json["detail"].is_string(), "problem has a detail: {body}");
    json
}

#[test]
fn metrics_require_a_viewer_token_and_expose_store_figures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[], &[]);
    let token = admin_token(&server);
    let url = format!("{}/metrics", server.base);

    let (status, ctype, body) = blocking_get(&url, None).expect("GET /metrics");
    assert_problem(status, &ctype, &body, 401);

    let wrong = format!("wf_{}", "0".repeat(64));
    let (status, ctype, body) = blocking_get(&url, Some(&wrong)).expect("GET /metrics");
    assert_problem(status, &ctype, &body, 401);

    let (status, ctype, body) = blocking_get(&url, Some(&token)).expect("GET /metrics");
    assert_eq!(status, 200, "the admin token reads metrics: {body}");
    assert!(ctype.starts_with("text/plain"), "content type {ctype}");
    for name in [
        "watchfire_events_appended_total",
        "watchfire_append_duration_seconds_bucket",
        "watchfire_commit_batch_events",
        "watchfire_log_size_bytes",
    ] {
        assert!(body.contains(name), "/metrics lacks {name}:\n{body}");
    }
    // SystemInitialized, TokenCreated and ServerStarted were appended before serving.
    let appended = body
        .lines()
        .find_map(|l| l.strip_prefix("watchfire_events_appended_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("the appended counter has a value");
    assert!(appended >= 3.0, "at least 3 events counted, got {appended}");
}

#[test]
fn metrics_are_public_when_config_file_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf_dir = tempfile::tempdir().expect("temp dir");
    let config = write_file(
        conf_dir.path(),
        "watchfire.toml",
        "[metrics]\npublic = true\n",
    );
    let server = Server::start(dir.path(), &[], &["--config", &config]);
    let (status, _, body) =
        blocking_get(&format!("{}/metrics", server.base), None).expect("GET /metrics");
    assert_eq!(status, 200, "public metrics need no token: {body}");
    assert!(body.contains("watchfire_events_appended_total"), "{body}");
}

#[test]
fn unknown_route_is_a_404_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[], &[]);
    let (status, ctype, body) =
        blocking_get(&format!("{}/no/such/route", server.base), None).expect("GET unknown");
    let json = assert_problem(status, &ctype, &body, 404);
    assert!(
        json["detail"]
            .as_str()
            .unwrap_or("")
            .contains("/no/such/route"),
        "the detail names the path: {body}"
    );
}

// ---------------------------------------------------------------------------------------
// Shutdown and the data directory lock.

#[test]
fn sigterm_exits_zero_and_records_server_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[], &[]);
    let status = server.terminate();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");

    let lines = replay_all(dir.path());
    let kinds = types(&lines);
    assert_eq!(
        kinds[0], "SystemInitialized",
        "the log starts with its creation"
    );
    let started = kinds
        .iter()
        .position(|t| *t == "ServerStarted")
        .unwrap_or_else(|| panic!("no ServerStarted in {kinds:?}"));
    let last = lines.last().expect("events");
    assert_eq!(last["type"], "ServerStopped", "the last event: {kinds:?}");
    assert!(
        started < lines.len() - 1,
        "started before stopped: {kinds:?}"
    );
    assert_eq!(last["data"]["reason"], "SIGTERM", "{last}");
    assert_eq!(last["stream"], "system", "{last}");

    let (code, stdout, stderr) = run_cli(&["verify", "--data-dir", dir_str(dir.path())]);
    assert_eq!(code, 0, "verify after a clean stop: {stdout} {stderr}");
    assert!(stdout.contains("intact"), "{stdout}");
}

#[test]
fn serve_on_port_0_writes_the_bound_address_and_removes_it_when_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[], &[]);
    let file = watchfire::events::DataDir::listen_addr_path(dir.path());
    let written = std::fs::read_to_string(&file).expect("listen.addr is there while serving");
    let addr: std::net::SocketAddr = written.trim().parse().expect("it holds an address");
    assert_ne!(addr.port(), 0, "the port the system chose, not 0");
    assert_eq!(server.base, format!("http://{addr}"));
    assert!(server.terminate().success(), "the server stops cleanly");
    assert!(!file.exists(), "a stopped server leaves no address behind");
}

#[test]
fn second_server_on_same_data_dir_exits_quickly_saying_in_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _first = Server::start(dir.path(), &[], &[]);
    let listen = "127.0.0.1:0".to_owned();
    let started = Instant::now();
    let second = Spawned::start(
        &[
            "serve",
            "--data-dir",
            dir_str(dir.path()),
            "--listen",
            &listen,
        ],
        &[],
    );
    let (status, _, stderr) = second.wait_exit(Duration::from_secs(15));
    assert!(
        !status.success(),
        "a second server must not run: {status:?}; {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it exits quickly, took {:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains("in use by another watchfire process"),
        "stderr says why: {stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// replay and verify.

#[test]
fn verify_and_replay_work_while_server_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[], &[]);

    let (code, stdout, stderr) = run_cli(&["verify", "--data-dir", dir_str(dir.path())]);
    assert_eq!(code, 0, "verify through the server: {stdout} {stderr}");
    assert!(stdout.contains("intact"), "{stdout}");

    let lines = replay_all(dir.path());
    let pos = positions(&lines);
    let expected: Vec<u64> = (1..=pos.len() as u64).collect();
    assert_eq!(pos, expected, "positions are 1, 2, 3... in order");
    assert!(
        pos.len() >= 3,
        "at least the bootstrap events and the start"
    );
    let kinds = types(&lines);
    assert_eq!(&kinds[..2], &["SystemInitialized", "TokenCreated"]);
    assert!(kinds.contains(&"ServerStarted"), "{kinds:?}");
    assert!(
        !kinds.contains(&"state"),
        "no state line without --until: {kinds:?}"
    );

    // The server is unharmed by the readers.
    let (status, _, _) = blocking_get(&format!("{}/health", server.base), None).expect("health");
    assert_eq!(status, 200);
}

#[test]
fn replay_until_position_stops_there_and_prints_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    start_and_stop(dir.path());
    let all = replay_all(dir.path());
    assert!(all.len() >= 4, "a started and stopped log has 4+ events");
    let until = 2u64;

    let (code, lines, stderr) = replay_json(dir.path(), &["--until", &until.to_string()]);
    assert_eq!(code, 0, "{stderr}");
    let (state, events) = lines.split_last().expect("replay printed lines");
    assert_eq!(
        state["type"], "state",
        "the last line is the state: {state}"
    );
    assert_eq!(state["position"], until, "{state}");
    assert_eq!(state["data"]["position"], until, "{state}");
    assert_eq!(positions(events), vec![1, 2], "events up to --until only");
    assert_eq!(events, &all[..2], "the same events as the full replay");
    assert!(
        !types(events).contains(&"state"),
        "a single state line, at the end"
    );

    // --until the last position: every event, then the state there.
    let last = *positions(&all).last().expect("positions");
    let (code, lines, _) = replay_json(dir.path(), &["--until", &last.to_string()]);
    assert_eq!(code, 0);
    assert_eq!(lines.len(), all.len() + 1);
    assert_eq!(lines.last().expect("state")["position"], last);
}

#[test]
fn replay_until_time_before_anything_prints_no_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    start_and_stop(dir.path());
    let (code, lines, stderr) = replay_json(dir.path(), &["--until", "2000-01-01T00:00:00Z"]);
    assert_eq!(code, 0, "{stderr}");
    let events: Vec<&Value> = lines.iter().filter(|l| l["type"] != "state").collect();
    assert!(events.is_empty(), "no events before 2000: {events:?}");
    assert_eq!(lines.len(), 1, "only the state line: {lines:?}");
    assert_eq!(lines[0]["position"], 0, "the state before anything");

    // A time after everything includes every event.
    let all = replay_all(dir.path());
    let (code, lines, _) = replay_json(dir.path(), &["--until", "2999-01-01T00:00:00Z"]);
    assert_eq!(code, 0);
    assert_eq!(&lines[..lines.len() - 1], &all[..]);
}

#[test]
fn replay_until_garbage_exits_2_with_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    start_and_stop(dir.path());
    let (code, stdout, stderr) = run_cli(&[
        "replay",
        "--data-dir",
        dir_str(dir.path()),
        "--until",
        "garbage",
    ]);
    assert_eq!(code, 2, "stdout: {stdout} stderr: {stderr}");
    assert!(
        stderr.contains("garbage") && stderr.contains("neither a position nor an RFC 3339 time"),
        "the message says what --until takes: {stderr}"
    );
    assert!(stdout.is_empty(), "nothing is printed: {stdout}");
}

#[test]
fn replay_stream_filter_prints_only_that_stream_and_no_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    start_and_stop(dir.path());
    let all = replay_all(dir.path());
    assert!(
        all.iter().any(|l| l["stream"] != "system"),
        "the log has events outside the system stream (the token's)"
    );

    let (code, lines, stderr) = replay_json(dir.path(), &["--stream", "system"]);
    assert_eq!(code, 0, "{stderr}");
    let expected: Vec<Value> = all
        .iter()
        .filter(|l| l["stream"] == "system")
        .cloned()
        .collect();
    assert_eq!(lines, expected, "exactly the system stream's events");
    assert!(!types(&lines).contains(&"state"));

    // With --until too, the state line is still left out.
    let last = *positions(&all).last().expect("positions");
    let (code, lines, _) = replay_json(
        dir.path(),
        &["--stream", "system", "--until", &last.to_string()],
    );
    assert_eq!(code, 0);
    assert!(lines.iter().all(|l| l["stream"] == "system"), "{lines:?}");
    assert!(
        !types(&lines).contains(&"state"),
        "no state line with --stream"
    );
}

#[test]
fn replay_rebuild_works_when_stopped_and_refuses_while_running() {
    let dir = tempfile::tempdir().expect("temp dir");
    start_and_stop(dir.path());
    let before = replay_all(dir.path());
    let (code, lines, stderr) = replay_json(dir.path(), &["--rebuild"]);
    assert_eq!(code, 0, "rebuild on a stopped dir: {stderr}");
    assert!(stderr.contains("rebuilt"), "stderr says so: {stderr}");
    assert_eq!(lines, before, "rebuilding changes no event");

    // The server starts on the rebuilt read models; the old token still authenticates.
    let server = Server::start(dir.path(), &[], &[]);
    let (code, _, stderr) = replay_json(dir.path(), &["--rebuild"]);
    assert_eq!(code, 2, "rebuild while running: {stderr}");
    assert!(
        stderr.contains("needs the server stopped"),
        "stderr says the server must be stopped: {stderr}"
    );
    assert!(server.terminate().success());
    let (code, stdout, stderr) = run_cli(&["verify", "--data-dir", dir_str(dir.path())]);
    assert_eq!(
        code, 0,
        "the log is intact after rebuilds: {stdout} {stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// Configuration.

/// The address a server on `data_dir` reports in its `listen.addr`, once it has written it.
fn wait_for_listen_addr(data_dir: &Path, limit: Duration) -> Option<std::net::SocketAddr> {
    let file = watchfire::events::DataDir::listen_addr_path(data_dir);
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Ok(addr)) = std::fs::read_to_string(&file).map(|t| t.trim().parse()) {
            return Some(addr);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn config_layers_flag_beats_env_beats_file() {
    let conf_dir = tempfile::tempdir().expect("temp dir");
    // Three loopback addresses, each with port 0: which one the server bound tells which
    // layer won, and no port is chosen before the server binds it.
    let (a, b, c) = ("127.0.0.2", "127.0.0.3", "127.0.0.4");
    let addr = |ip: &str| format!("{ip}:0");
    let config = write_file(
        conf_dir.path(),
        "watchfire.toml",
        &format!("listen = \"{}\"\n", addr(a)),
    );
    let env_listen = addr(b);
    let flag_listen = addr(c);

    let cases: [(&str, bool, bool, &str); 3] = [
        ("file, env and flag", true, true, c),
        ("file and env", true, false, b),
        ("file only", false, false, a),
    ];
    for (name, with_env, with_flag, expected) in cases {
        let data = tempfile::tempdir().expect("temp dir");
        let mut args = vec![
            "serve",
            "--config",
            &config,
            "--data-dir",
            dir_str(data.path()),
        ];
        if with_flag {
            args.extend_from_slice(&["--listen", &flag_listen]);
        }
        let envs: Vec<(&str, &str)> = if with_env {
            vec![("WATCHFIRE_LISTEN", env_listen.as_str())]
        } else {
            vec![]
        };
        let server = Spawned::start(&args, &envs);
        let bound = wait_for_listen_addr(data.path(), Duration::from_secs(60));
        let bound = bound.unwrap_or_else(|| {
            panic!(
                "{name}: the server reports no address; stderr: {}",
                server.stderr_text()
            )
        });
        assert_eq!(
            bound.ip().to_string(),
            expected,
            "{name}: the server listens on {expected}"
        );
        let up = wait_for_200(&format!("http://{bound}/health"), Duration::from_secs(60));
        assert!(
            up,
            "{name}: the server listens on {bound}; stderr: {}",
            server.stderr_text()
        );
        for other in [a, b, c].into_iter().filter(|ip| *ip != expected) {
            let port = bound.port();
            assert!(
                blocking_get(&format!("http://{other}:{port}/health"), None).is_err(),
                "{name}: nothing listens on {other}:{port}"
            );
        }
        drop(server);
    }
}

#[test]
fn config_out_of_range_env_value_exits_2_naming_the_key() {
    let data = tempfile::tempdir().expect("temp dir");
    let listen = "127.0.0.1:0".to_owned();
    let (status, _, stderr) = Spawned::start(
        &[
            "serve",
            "--data-dir",
            dir_str(data.path()),
            "--listen",
            &listen,
        ],
        &[("WATCHFIRE_RETENTION__RAW_DAYS", "0")],
    )
    .wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("invalid configuration"), "{stderr}");
    assert!(
        stderr.contains("retention.raw_days"),
        "names the key: {stderr}"
    );
    assert!(
        std::fs::read_dir(data.path())
            .expect("data dir")
            .next()
            .is_none(),
        "a bad config touches no data"
    );
}

#[test]
fn config_unknown_key_in_file_exits_2_naming_it() {
    let data = tempfile::tempdir().expect("temp dir");
    let conf_dir = tempfile::tempdir().expect("temp dir");
    let config = write_file(conf_dir.path(), "bad.toml", "[retention]\nraw_dayz = 3\n");
    let listen = "127.0.0.1:0".to_owned();
    let (status, _, stderr) = Spawned::start(
        &[
            "serve",
            "--config",
            &config,
            "--data-dir",
            dir_str(data.path()),
            "--listen",
            &listen,
        ],
        &[],
    )
    .wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("invalid configuration"), "{stderr}");
    assert!(
        stderr.contains("raw_dayz"),
        "names the unknown key: {stderr}"
    );
}

#[test]
fn config_missing_file_exits_2_naming_it() {
    let data = tempfile::tempdir().expect("temp dir");
    let listen = "127.0.0.1:0".to_owned();
    let (status, _, stderr) = Spawned::start(
        &[
            "serve",
            "--config",
            "/nonexistent.toml",
            "--data-dir",
            dir_str(data.path()),
            "--listen",
            &listen,
        ],
        &[],
    )
    .wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("/nonexistent.toml"),
        "names the file: {stderr}"
    );
}
