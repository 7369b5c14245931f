//! The dashboard view and the audit API against the real server: the state at a past
//! position or time (by `/audit/state` and by `watchfire replay --until`) equals what the
//! live view showed then, a rebuilt server shows what it showed before its stop, the log
//! pages and filters, the chain check, and `/metrics` as promtool reads it.
//!
//! Waits poll with generous deadlines: the machine running the tests is slow and shared.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::api::{create_token, replay, start_in_process, start_server, wait_for, Api};
use super::helpers::run_cli;
use super::targets::HttpTarget;

/// A live snapshot: the `Watchfire-Position` it was answered with, and the view.
struct Snapshot {
    position: u64,
    view: Value,
}

/// `GET /api/v1/dashboard` after this client's writes.
fn snapshot(api: &Api) -> Snapshot {
    let reply = api.get("/api/v1/dashboard").expect(200, "the dashboard");
    let position = reply.position();
    let view = reply.json();
    assert_eq!(
        view["position"], position,
        "the header names the position the view holds"
    );
    Snapshot { position, view }
}

/// The dashboard once it satisfies `ready`, as a snapshot.
fn snapshot_when(api: &Api, what: &str, ready: impl Fn(&Value) -> bool) -> Snapshot {
    wait_for(what, || {
        let s = snapshot(api);
        ready(&s.view).then_some(s)
    })
}

/// Creates a resource that must answer 201: its id.
fn create(api: &Api, path: &str, body: &Value) -> String {
    let reply = api.post(path, body).expect(201, &format!("POST {path}"));
    reply.json()["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{path} answered without an id"))
        .to_owned()
}

/// Pushes one sample of `hostname` with `cpu` percent (the agent's body, interval 600 s, so
/// the host stays up through a whole test).
fn push(api: &Api, hostname: &str, cpu: f64, counters: [u64; 2]) {
    let body = json!({
        "timestamp": Utc::now(),
        "interval_s": 600,
        "tags": ["prod"],
        "cpu": {"cpu_percent_total": cpu, "load_average": [1.5, 1.2, 1.0]},
        "memory": {"memory_total": 1000, "memory_used": 400, "memory_percent": 40.0},
        "disk": {"partitions": [
            {"mountpoint": "/", "total": 1000, "used": 250, "percent": 25.0},
            {"mountpoint": "/data", "total": 1000, "used": 900, "percent": 90.0}
        ]},
        "io": {"network": {"bytes_sent": counters[0], "bytes_recv": counters[1]}}
    });
    api.post(&format!("/api/v1/hosts/{hostname}/metrics"), &body)
        .expect(200, "a host push");
}

/// The dashboard as `GET /audit/state?at=` answers it: (the position it says, the state).
fn audit_state(api: &Api, at: &str) -> (u64, Value) {
    let reply = api
        .get(&format!("/api/v1/audit/state?at={at}"))
        .expect(200, "the state at a point");
    let body = reply.json();
    let position = body["position"]
        .as_u64()
        .unwrap_or_else(|| panic!("no position in {body}"));
    assert_eq!(reply.position(), position, "header and body agree");
    assert_eq!(body["at"], at, "the answer says what it was asked");
    (position, body["state"].clone())
}

/// The state line `watchfire replay --until` ends with.
fn replay_state(dir: &Path, until: &str) -> Value {
    let dir = dir.to_str().expect("temp dirs are UTF-8");
    let (code, stdout, stderr) = run_cli(&[
        "replay",
        "--data-dir",
        dir,
        "--until",
        until,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "replay --until {until}: {stderr}");
    let last = stdout
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("replay --until {until} printed nothing"));
    let line: Value = serde_json::from_str(last).expect("the state line is JSON");
    assert_eq!(line["type"], "state", "the last line is the state: {line}");
    line
}

fn time(text: &Value) -> DateTime<Utc> {
    text.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {text}"))
}

#[test]
fn the_state_at_a_past_position_or_time_equals_what_the_live_view_showed_then() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    let monitor = create(
        &api,
        "/api/v1/monitors",
        &json!({"name": "shop", "kind": "http", "url": target.url("/health"), "interval_s": 1,
                "timeout_ms": 900, "retries": 1, "recover_after": 1, "tags": ["prod"]}),
    );
    create(
        &api,
        "/api/v1/alert-rules",
        &json!({"name": "shop down", "severity": "critical",
                "condition": {"kind": "monitor_down", "monitor": monitor}, "repeat_interval_s": 0}),
    );
    push(&api, "web-1", 20.0, [1000, 2000]);

    let mut snapshots = Vec::new();
    snapshots.push(snapshot_when(&api, "the monitor to be up", |v| {
        v["monitors"][&monitor]["status"] == "up"
    }));
    target.set_status(503);
    snapshots.push(snapshot_when(
        &api,
        "the monitor down and its alert open",
        |v| v["monitors"][&monitor]["status"] == "down" && v["counts"]["alerts"]["firing"] == 1,
    ));
    push(&api, "web-1", 80.0, [3000, 5000]);
    snapshots.push(snapshot(&api));
    target.set_status(200);
    snapshots.push(snapshot_when(
        &api,
        "the monitor up again, its alert resolved",
        |v| v["monitors"][&monitor]["status"] == "up" && v["alerts"] == json!({}),
    ));

    // The views say what they should, so the comparisons below compare something.
    let down = &snapshots[1].view;
    let card = &down["monitors"][&monitor];
    assert_eq!(card["name"], "shop");
    assert_eq!(card["kind"], "http");
    assert_eq!(card["last_check"]["ok"], false, "{card}");
    assert!(card["down_reason"].is_string(), "{card}");
    let uptime = card["uptime"]["24h"].as_f64().expect("an uptime figure");
    assert!(
        uptime > 0.0 && uptime < 1.0,
        "some checks passed, some failed: {card}"
    );
    assert_eq!(down["counts"]["monitors"]["down"], 1);
    let alert = down["alerts"]
        .as_object()
        .and_then(|a| a.values().next())
        .cloned()
        .expect("an open alert");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["rule_name"], "shop down");
    assert_eq!(alert["subject_id"], monitor.as_str());
    let host = &snapshots[2].view["hosts"]["web-1"];
    assert_eq!(host["status"], "up");
    assert_eq!(host["metrics"]["cpu_percent"], 80.0);
    assert_eq!(host["metrics"]["disk_percent_max"], 90.0);
    assert_eq!(host["metrics"]["load1"], 1.5);
    assert!(
        host["metrics"]["net_tx_bytes_per_s"].as_f64().is_some(),
        "{host}"
    );
    assert_eq!(snapshots[3].view["counts"]["alerts"]["firing"], 0);
    let positions: Vec<u64> = snapshots.iter().map(|s| s.position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "the log moved on between snapshots: {positions:?}"
    );

    let log = replay(dir.path(), None);
    for (i, s) in snapshots.iter().enumerate() {
        let p = s.position.to_string();
        let (position, state) = audit_state(&api, &p);
        assert_eq!(position, s.position, "snapshot {i}");
        assert_eq!(
            state, s.view,
            "snapshot {i}: /audit/state?at={p} is the live view then"
        );

        let line = replay_state(dir.path(), &p);
        assert_eq!(line["position"], s.position, "snapshot {i}");
        assert_eq!(
            line["data"], s.view,
            "snapshot {i}: replay --until {p} is the live view then"
        );

        // By time: the last event at or before the view's time. Events of one commit share
        // a time, so that may be a later event than the snapshot's own.
        let as_of = time(&s.view["as_of"]);
        let at = s.view["as_of"].as_str().expect("as_of is text").to_owned();
        let last_then = log
            .iter()
            .filter(|e| time(&e["timestamp"]) <= as_of)
            .filter_map(|e| e["position"].as_u64())
            .max()
            .expect("events before the view's time");
        let (position, by_time) = audit_state(&api, &at);
        assert_eq!(position, last_then, "snapshot {i}: at={at}");
        if last_then == s.position {
            assert_eq!(by_time, s.view, "snapshot {i}: /audit/state?at={at}");
        } else {
            assert_eq!(by_time, audit_state(&api, &last_then.to_string()).1);
        }
        assert_eq!(
            replay_state(dir.path(), &at)["data"],
            by_time,
            "replay --until {at}"
        );
    }
    drop(server);
}

/// Fields that move on a start, whatever the log held: which position and time a view is
/// at (the start and stop are events), and watchfire's own health (it may record a change
/// while its read models catch up).
const MOVES_ON_START: &[&str] = &["position", "as_of", "health"];

fn without(mut view: Value, fields: &[&str]) -> Value {
    if let Some(obj) = view.as_object_mut() {
        for f in fields {
            obj.remove(*f);
        }
    }
    view
}

/// What the API shows, with the fields that move on a start left out.
fn everything(api: &Api) -> [Value; 4] {
    let get = |path: &str| api.get(path).expect(200, path).json();
    [
        without(get("/api/v1/dashboard"), MOVES_ON_START),
        // The listings' `position` is the read model's, which the start and stop move on.
        without(get("/api/v1/monitors"), &["position"]),
        without(get("/api/v1/hosts"), &["position"]),
        get("/api/v1/alerts"),
    ]
}

#[test]
fn a_server_rebuilt_from_the_log_shows_what_it_showed_before_its_stop() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = HttpTarget::start();
    let before = {
        let server = start_server(dir.path(), &[]);
        let api = Api::new(&server);
        let monitor = create(
            &api,
            "/api/v1/monitors",
            &json!({"name": "shop", "kind": "http", "url": target.url("/"), "interval_s": 1,
                    "timeout_ms": 900, "retries": 1, "recover_after": 1}),
        );
        create(
            &api,
            "/api/v1/alert-rules",
            &json!({"name": "busy", "severity": "warning", "repeat_interval_s": 0,
                    "condition": {"kind": "host_metric", "host": "web-1", "metric": "cpu_percent", "op": ">", "threshold": 50}}),
        );
        push(&api, "web-1", 20.0, [1000, 2000]);
        push(&api, "db-1", 10.0, [10, 20]);
        snapshot_when(&api, "the monitor up", |v| {
            v["monitors"][&monitor]["status"] == "up"
        });
        target.set_status(500);
        snapshot_when(&api, "the monitor down", |v| {
            v["monitors"][&monitor]["status"] == "down"
        });
        target.set_status(200);
        snapshot_when(&api, "the monitor up again", |v| {
            v["monitors"][&monitor]["status"] == "up"
        });
        push(&api, "web-1", 95.0, [3000, 6000]);
        snapshot_when(&api, "the cpu alert firing", |v| {
            v["counts"]["alerts"]["firing"] == 1
        });
        // Paused, the monitor checks nothing more: nothing but the stop and start moves on.
        api.command(
            "POST",
            &format!("/api/v1/monitors/{monitor}/pause"),
            None,
            None,
        )
        .expect(200, "pausing");
        let view = snapshot(&api).view;
        assert_eq!(view["counts"]["monitors"]["paused"], 1, "{view}");
        assert!(view["monitors"][&monitor]["uptime"]["24h"]
            .as_f64()
            .is_some());
        let before = everything(&api);
        assert!(server.terminate().success(), "a clean stop");
        before
    };

    let (code, _, stderr) = run_cli(&[
        "replay",
        "--data-dir",
        dir.path().to_str().expect("UTF-8"),
        "--rebuild",
    ]);
    assert_eq!(code, 0, "rebuild: {stderr}");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    let after = everything(&api);
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert_eq!(a, b, "view {i} is the same after the rebuild and start");
    }
    // And the live view at the end of the log is the log folded to there.
    let live = snapshot(&api);
    let (_, past) = audit_state(&api, &live.position.to_string());
    assert_eq!(past, live.view);
    drop(server);
}

#[test]
fn the_log_pages_and_filters_refuses_bad_numbers_and_viewers_and_verifies_intact() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let secret = "hook-secret-never-shown";
    create(
        &api,
        "/api/v1/channels",
        &json!({"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook/path-secret", "secret": secret}),
    );
    create(
        &api,
        "/api/v1/monitors",
        &json!({"name": "idle", "kind": "tcp", "host": "127.0.0.1", "port": 9, "paused": true}),
    );
    push(&api, "web-1", 20.0, [1, 2]);

    let page = |query: &str| {
        api.get(&format!("/api/v1/events{query}"))
            .expect(200, query)
            .json()
    };
    let events_of = |body: &Value| body["events"].as_array().cloned().unwrap_or_default();
    let all = page("");
    let events = events_of(&all);
    assert!(
        events.len() >= 6,
        "bootstrap, start, channel, monitor, host: {all}"
    );
    assert!(
        all["next_after"].is_null(),
        "the whole log fits a page of 100: {all}"
    );
    let positions: Vec<u64> = events
        .iter()
        .filter_map(|e| e["position"].as_u64())
        .collect();
    assert_eq!(positions, (1..=events.len() as u64).collect::<Vec<_>>());
    let first = &events[0];
    assert_eq!(first["type"], "SystemInitialized");
    assert_eq!(first["stream"], "system");
    assert_eq!(first["version"], 0);
    assert_eq!(first["schema_version"], 1);
    assert_eq!(first["actor"], "system");
    assert_eq!(first["chain"], "facts");
    for field in ["timestamp", "correlation_id", "data", "hash"] {
        assert!(!first[field].is_null(), "{field} in {first}");
    }
    assert!(first.get("causation").is_some(), "{first}");
    // The same events as the log itself holds.
    let log = replay(dir.path(), None);
    for (e, l) in events.iter().zip(&log) {
        for field in ["position", "stream", "type", "timestamp", "hash", "data"] {
            assert_eq!(e[field], l[field], "{field}");
        }
    }

    // Pages of 2, each after the last one's next_after, give the same events.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let body = page(&format!("?after={after}&limit=2"));
        let got = events_of(&body);
        assert!(got.len() <= 2);
        paged.extend(got);
        match body["next_after"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(paged, events);

    let of_type = events_of(&page("?type=TokenCreated"));
    assert_eq!(of_type.len(), 1, "{of_type:?}");
    let system = events_of(&page("?stream=system&limit=1000"));
    assert!(!system.is_empty() && system.iter().all(|e| e["stream"] == "system"));
    assert!(events_of(&page("?type=NoSuchEvent")).is_empty());
    assert!(events_of(&page("?stream=no-such-stream&type=TokenCreated")).is_empty());
    let channel = events_of(&page("?type=ChannelCreated"));
    assert_eq!(channel.len(), 1);
    assert_eq!(channel[0]["data"]["config"]["secret"], "<redacted>");
    let whole = api.get("/api/v1/events?limit=1000").body;
    assert!(
        !whole.contains(secret) && !whole.contains("path-secret"),
        "{whole}"
    );

    for bad in [
        "?after=abc",
        "?after=-1",
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?limit=-5",
    ] {
        let reply = api.get(&format!("/api/v1/events{bad}"));
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
    }
    for bad in ["garbage", "2024-13-01T00:00:00Z", "-3"] {
        let reply = api.get(&format!("/api/v1/audit/state?at={bad}"));
        assert_eq!(reply.status, 400, "at={bad}: {}", reply.body);
    }
    assert_eq!(api.get("/api/v1/audit/state").status, 400, "at is required");

    let viewer = create_token(dir.path(), "viewer");
    let as_viewer = |path: &str| api.send("GET", path, Some(&viewer), &[], None);
    assert_eq!(
        as_viewer("/api/v1/events").status,
        403,
        "the log is for admins"
    );
    assert_eq!(as_viewer("/api/v1/dashboard").status, 200);
    assert_eq!(as_viewer("/api/v1/audit/state?at=3").status, 200);
    let verify = as_viewer("/api/v1/audit/verify");
    assert_eq!(verify.status, 200, "{}", verify.body);
    let report = verify.json();
    assert_eq!(report["intact"], true, "{report}");
    assert!(report["problem"].is_null());
    assert!(
        report["checked"].as_u64() >= Some(events.len() as u64),
        "{report}"
    );
    assert!(
        report["last_position"].as_u64() >= positions.last().copied(),
        "{report}"
    );
    for path in [
        "/api/v1/events",
        "/api/v1/dashboard",
        "/api/v1/audit/verify",
    ] {
        assert_eq!(api.send("GET", path, None, &[], None).status, 401, "{path}");
    }

    // A position before anything is the empty view; one past the end, the latest.
    let (position, empty) = audit_state(&api, "0");
    assert_eq!(position, 0);
    assert_eq!(empty["monitors"], json!({}));
    let (position, _) = audit_state(&api, "99999999");
    assert!(position >= positions.last().copied().unwrap_or(0));
    drop(server);
}

/// `promtool check metrics` over `text`: (exit code, everything it printed).
pub(super) fn promtool(text: &str) -> (i32, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/test.sh installs Debian's prometheus package)");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("promtool reads the exposition");
    let out = child.wait_with_output().expect("promtool finishes");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), printed)
}

/// The sample lines of `name` whose labels include every one of `labels`.
pub(super) fn samples<'a>(text: &'a str, name: &str, labels: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .collect()
}

#[test]
fn metrics_pass_promtool_and_count_requests_by_route_pattern() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    let monitor = create(
        &api,
        "/api/v1/monitors",
        &json!({"name": "shop", "kind": "http", "url": target.url("/"), "interval_s": 1, "timeout_ms": 900}),
    );
    let missing = "0b7e9a43-3f7c-4d62-9a51-8f1d2c3b4a5e";
    assert_eq!(api.get(&format!("/api/v1/monitors/{missing}")).status, 404);
    api.get("/api/v1/dashboard").expect(200, "the dashboard");
    assert_eq!(api.get("/no/such/route").status, 404);
    wait_for("a check recorded", || {
        let m = api.get(&format!("/api/v1/monitors/{monitor}")).json();
        (m["status"] == "up").then_some(())
    });

    // The monitor's actor counts a check a moment after the read model has its event.
    let text = wait_for("the check counted in /metrics", || {
        let text = api.get("/metrics").expect(200, "/metrics").body;
        let counted = samples(&text, "watchfire_check_duration_seconds_count", &[])
            .iter()
            .any(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) >= Some(1.0));
        counted.then_some(text)
    });
    // The seed's and Uptime Kuma's names are kept in their units, which promtool lints;
    // nothing else may draw a complaint.
    let linted: Vec<&str> = super::metrics::SEED_UNIT_NAMES
        .into_iter()
        .filter(|name| text.lines().any(|l| l.starts_with(name)))
        .collect();
    super::metrics::promtool_lints_only(&text, &linted);

    let route = r#"route="/api/v1/monitors/{id}""#;
    assert_eq!(
        samples(
            &text,
            "watchfire_http_requests_total",
            &[route, r#"method="GET""#, r#"status="404""#]
        )
        .len(),
        1,
        "the 404 counted under its route pattern:\n{text}"
    );
    assert!(!text.contains(missing), "never a raw path");
    assert!(!samples(
        &text,
        "watchfire_http_requests_total",
        &[r#"route="unmatched""#, r#"status="404""#]
    )
    .is_empty());
    assert!(!samples(
        &text,
        "watchfire_http_request_duration_seconds_count",
        &[r#"route="/api/v1/dashboard""#, r#"method="GET""#]
    )
    .is_empty());
    assert!(!samples(&text, "watchfire_checks_total", &[r#"result="ok""#]).is_empty());
    assert!(!samples(&text, "watchfire_checks_total", &[r#"result="failed""#]).is_empty());
    let checked = samples(&text, "watchfire_check_duration_seconds_count", &[]);
    assert!(
        checked
            .iter()
            .any(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) >= Some(1.0)),
        "{checked:?}"
    );
    assert_eq!(samples(&text, "watchfire_ws_sessions", &[]).len(), 1);
    assert_eq!(
        samples(&text, "watchfire_ws_outbox_drops_total", &[]).len(),
        1
    );
    assert_eq!(
        samples(
            &text,
            "watchfire_projection_lag_events",
            &[r#"projection="dashboard""#]
        )
        .len(),
        1
    );
    drop(server);
}
