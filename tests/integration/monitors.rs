//! The monitor API end to end: the real server over HTTP against real local targets, with
//! the log read back through `watchfire replay` wherever events, their order or their
//! causation matter.
//!
//! Nothing here asserts tight timing: every wait for the server's background work polls
//! with a generous deadline, because the machine running the tests is slow and shared.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::api::{replay, start_in_process, start_server, wait_for, Api, Reply, ADMIN_TOKEN};
use super::targets::{DnsTarget, HttpTarget, HttpsTarget, TcpTarget};

/// The monitors collection.
const MONITORS: &str = "/api/v1/monitors";

/// What the monitor tests ask of the API beyond plain requests.
impl Api {
    /// Creates a monitor, which must answer 201: its id and the answer.
    fn create(&self, body: &Value) -> (String, Reply) {
        let reply = self.post(MONITORS, body).expect(201, "creating a monitor");
        let id = reply.json()["id"]
            .as_str()
            .expect("a created monitor has an id")
            .to_owned();
        (id, reply)
    }

    /// `GET /monitors/{id}`, which must answer 200.
    fn monitor(&self, id: &str) -> Value {
        self.get(&format!("{MONITORS}/{id}"))
            .expect(200, "reading a monitor")
            .json()
    }

    /// Waits until monitor `id` has `status`, and returns it.
    fn wait_status(&self, id: &str, status: &str) -> Value {
        wait_for(&format!("monitor {id} to be {status}"), || {
            let monitor = self.monitor(id);
            (monitor["status"] == status).then_some(monitor)
        })
    }

    /// `GET /monitors/{id}/checks?{query}`, which must answer 200: the checks, newest first.
    fn checks(&self, id: &str, query: &str) -> Vec<Value> {
        let reply = self
            .get(&format!("{MONITORS}/{id}/checks?{query}"))
            .expect(200, "reading checks");
        reply.json()["checks"]
            .as_array()
            .expect("checks is an array")
            .clone()
    }

    /// Waits until monitor `id` has recorded at least `count` checks, and returns them all.
    fn wait_checks(&self, id: &str, count: usize) -> Vec<Value> {
        wait_for(&format!("{count} checks of monitor {id}"), || {
            let checks = self.checks(id, "limit=1000");
            (checks.len() >= count).then_some(checks)
        })
    }

    /// The names of the monitors `GET /monitors?{query}` lists.
    fn list_names(&self, query: &str) -> Vec<String> {
        let reply = self
            .get(&format!("{MONITORS}?{query}"))
            .expect(200, "listing monitors");
        reply.json()["monitors"]
            .as_array()
            .expect("monitors is an array")
            .iter()
            .map(|m| m["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// An http monitor checked every second against `url`.
fn http_monitor(name: &str, url: &str) -> Value {
    json!({"name": name, "kind": "http", "url": url, "interval_s": 1, "timeout_ms": 900})
}

/// `base` with the fields of `extra` set over it.
fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// The events of one monitor's stream, in order.
fn monitor_events(dir: &Path, id: &str) -> Vec<Value> {
    replay(dir, Some(&format!("monitor-{id}")))
}

/// The positions of every event a request could have appended: all but the health
/// checker's and retention's own, which come on their own schedule.
fn request_visible_log(dir: &Path) -> Vec<u64> {
    replay(dir, None)
        .iter()
        .filter(|e| {
            !matches!(
                e["type"].as_str(),
                Some("SystemHealthChanged" | "RetentionApplied")
            )
        })
        .map(|e| e["position"].as_u64().expect("every event has a position"))
        .collect()
}

fn event_type(event: &Value) -> &str {
    event["type"].as_str().unwrap_or_default()
}

fn position_of(event: &Value) -> u64 {
    event["position"]
        .as_u64()
        .expect("every event has a position")
}

fn timestamp_of(event: &Value) -> DateTime<Utc> {
    event["timestamp"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("an event without an RFC 3339 timestamp: {event}"))
}

/// Fails the test unless `reply` is an RFC 9457 problem with `status` whose detail names `field`.
fn assert_problem(reply: &Reply, status: u16, field: Option<&str>, what: &str) {
    assert_eq!(reply.status, status, "{what}: body {}", reply.body);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "{what}: content type {content_type:?}"
    );
    let problem = reply.json();
    assert_eq!(problem["status"], status, "{what}: {}", reply.body);
    assert!(problem["title"].is_string(), "{what}: {}", reply.body);
    assert!(problem["type"].is_string(), "{what}: {}", reply.body);
    if let Some(field) = field {
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(field),
            "{what}: the detail should name {field:?}: {detail:?}"
        );
    }
}

/// Sends a request that must be refused with `status` (naming `field`), and checks that
/// the log is exactly as it was before it.
fn assert_refused(
    dir: &Path,
    what: &str,
    status: u16,
    field: Option<&str>,
    send: impl FnOnce() -> Reply,
) {
    let before = request_visible_log(dir);
    let reply = send();
    assert_problem(&reply, status, field, what);
    assert!(
        reply.header("watchfire-position").is_none(),
        "{what}: a refused request names no position"
    );
    assert_eq!(
        request_visible_log(dir),
        before,
        "{what}: a refused request appends nothing"
    );
}

/// What a check calls for, by the rules of API.md: the first pass makes a pending monitor
/// up; `retries` failures in a row (at least 1) make it down; `recover_after` passes in a
/// row (at least 1) bring it back.
fn transition_due(
    status: &str,
    failures: u32,
    successes: u32,
    retries: u32,
    recover_after: u32,
) -> Option<&'static str> {
    match status {
        "pending" if successes >= 1 => Some("MonitorWentUp"),
        "pending" | "up" if failures >= retries.max(1) => Some("MonitorWentDown"),
        "down" if successes >= recover_after.max(1) => Some("MonitorRecovered"),
        _ => None,
    }
}

/// Runs a monitor's stream through the state machine: every transition must come right
/// after the check (or heartbeat) that calls for it, caused by it, and nowhere else.
/// Returns the transitions in order.
fn assert_transitions_follow_checks(
    events: &[Value],
    retries: u32,
    recover_after: u32,
) -> Vec<String> {
    let mut status = "pending";
    let (mut failures, mut successes) = (0u32, 0u32);
    let mut due: Option<(&str, u64)> = None;
    let mut transitions = Vec::new();
    for event in events {
        let (kind, position) = (event_type(event), position_of(event));
        let was_due = due.take();
        if let Some((want, check)) = was_due {
            assert_eq!(
                kind, want,
                "the check at {check} calls for {want}, but the next event of the stream is {event}"
            );
            assert_eq!(
                event["causation"].as_u64(),
                Some(check),
                "{want} at {position} is caused by the check right before it (at {check}): {event}"
            );
        }
        match kind {
            "MonitorCreated" if event["data"]["paused"] == true => status = "paused",
            "MonitorChecked" | "HeartbeatReceived" => {
                let ok = if kind == "MonitorChecked" {
                    &event["data"]["ok"]
                } else {
                    &event["data"]["up"]
                };
                if *ok == true {
                    successes += 1;
                    failures = 0;
                } else {
                    failures += 1;
                    successes = 0;
                }
                due = transition_due(status, failures, successes, retries, recover_after)
                    .map(|t| (t, position));
            }
            "MonitorWentUp" | "MonitorWentDown" | "MonitorRecovered" => {
                assert!(
                    was_due.is_some(),
                    "{kind} at {position} follows no check that calls for it: {event}"
                );
                status = if kind == "MonitorWentDown" {
                    "down"
                } else {
                    "up"
                };
                (failures, successes) = (0, 0);
                transitions.push(kind.to_owned());
            }
            "MonitorPaused" => {
                status = "paused";
                (failures, successes) = (0, 0);
            }
            "MonitorResumed" => {
                status = "pending";
                (failures, successes) = (0, 0);
            }
            _ => {}
        }
    }
    // A `due` left over is a transition appended after this replay read the log.
    transitions
}

/// The value of the unlabelled Prometheus sample `name`.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn http_monitor_lifecycle_answers_with_location_etag_and_position_and_reads_its_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();

    let created = api.post(
        MONITORS,
        &with(
            http_monitor("shop", &target.url("/health")),
            json!({"tags": ["prod", "web"]}),
        ),
    );
    let created = created.expect(201, "creating an http monitor");
    let body = created.json();
    let id = body["id"].as_str().expect("an id").to_owned();
    Uuid::parse_str(&id).expect("the id is a UUID");
    assert_eq!(
        created.header("location"),
        Some(format!("{MONITORS}/{id}").as_str())
    );
    assert_eq!(
        created.etag_version(),
        body["version"].as_u64().expect("a version")
    );
    assert_eq!(body["name"], "shop");
    assert_eq!(body["kind"], "http");
    assert_eq!(body["url"], target.url("/health"));
    assert_eq!(body["interval_s"], 1);
    assert_eq!(body["timeout_ms"], 900);
    assert_eq!(body["tags"], json!(["prod", "web"]));
    assert_eq!(body["status"], "pending");
    assert_eq!(body["paused"], false);
    assert!(
        body.get("push_token").is_none(),
        "only push monitors have a push token"
    );
    let mut position = created.position();
    assert!(position > 0, "the creation has a position");

    let seen = api
        .get(&format!("{MONITORS}/{id}?min_position={position}"))
        .expect(200, "reading the monitor just created");
    assert_eq!(seen.etag_version(), created.etag_version());
    assert_eq!(seen.json()["name"], "shop");

    let (other_id, other) = api.create(&with(
        http_monitor("blog", &target.url("/")),
        json!({"tags": ["staging"], "paused": true}),
    ));
    assert_eq!(other.json()["status"], "paused");
    assert_eq!(other.json()["paused"], true);

    api.wait_status(&id, "up");
    assert_eq!(api.list_names(""), ["blog", "shop"]);
    assert_eq!(api.list_names("tag=prod"), ["shop"]);
    assert_eq!(api.list_names("tag=staging"), ["blog"]);
    assert!(api.list_names("tag=nothing").is_empty());
    assert_eq!(api.list_names("status=up"), ["shop"]);
    assert_eq!(api.list_names("status=paused"), ["blog"]);
    assert!(api.list_names("status=down").is_empty());
    assert_eq!(
        api.list_names("tag=prod&status=paused"),
        Vec::<String>::new()
    );

    let patched = api
        .command(
            "PATCH",
            &format!("{MONITORS}/{id}"),
            Some(&json!({"name": "shop-renamed", "tags": ["prod"]})),
            None,
        )
        .expect(200, "renaming");
    assert!(patched.position() > position, "positions grow");
    assert!(
        patched.etag_version() > created.etag_version(),
        "versions grow"
    );
    assert_eq!(patched.json()["name"], "shop-renamed");
    assert_eq!(
        patched.json()["url"],
        target.url("/health"),
        "a patch keeps what it does not name"
    );
    // In a patch, null clears an optional field, and a field not sent is kept.
    let limited = api
        .command(
            "PATCH",
            &format!("{MONITORS}/{id}"),
            Some(&json!({"expect": {"max_latency_ms": 5000}, "cert_expiry_days": 10})),
            None,
        )
        .expect(200, "setting optional fields");
    assert_eq!(limited.json()["expect"]["max_latency_ms"], 5000);
    assert_eq!(limited.json()["cert_expiry_days"], 10);
    let cleared = api
        .command(
            "PATCH",
            &format!("{MONITORS}/{id}"),
            Some(&json!({"expect": {"max_latency_ms": null}, "cert_expiry_days": null})),
            None,
        )
        .expect(200, "clearing optional fields with null");
    assert!(
        cleared.json()["expect"]["max_latency_ms"].is_null(),
        "{}",
        cleared.json()
    );
    assert!(
        cleared.json()["cert_expiry_days"].is_null(),
        "{}",
        cleared.json()
    );
    assert_eq!(
        cleared.json()["name"],
        "shop-renamed",
        "what is not sent is kept"
    );
    position = cleared.position();
    let seen = api
        .get(&format!("{MONITORS}/{id}?min_position={position}"))
        .expect(200, "reading after the patch");
    assert_eq!(seen.json()["name"], "shop-renamed");
    assert_eq!(seen.json()["tags"], json!(["prod"]));
    assert!(seen.etag_version() >= patched.etag_version());

    let paused = api
        .command("POST", &format!("{MONITORS}/{id}/pause"), None, None)
        .expect(200, "pausing");
    assert!(paused.position() > position);
    assert!(paused.etag_version() > patched.etag_version());
    assert_eq!(paused.json()["status"], "paused");
    assert_eq!(paused.json()["paused"], true);
    position = paused.position();
    let seen = api
        .get(&format!("{MONITORS}/{id}?min_position={position}"))
        .expect(200, "reading after the pause")
        .json();
    assert_eq!(seen["status"], "paused");
    let both_paused = api
        .get(&format!("{MONITORS}?status=paused&min_position={position}"))
        .expect(200, "listing paused monitors")
        .json();
    assert_eq!(both_paused["monitors"].as_array().map(Vec::len), Some(2));

    let resumed = api
        .command("POST", &format!("{MONITORS}/{id}/resume"), None, None)
        .expect(200, "resuming");
    assert!(resumed.position() > position);
    assert!(resumed.etag_version() > paused.etag_version());
    assert_eq!(resumed.json()["paused"], false);
    assert_ne!(resumed.json()["status"], "paused");
    position = resumed.position();
    let seen = api
        .get(&format!("{MONITORS}/{id}?min_position={position}"))
        .expect(200, "reading after the resume")
        .json();
    assert_ne!(seen["status"], "paused");
    api.wait_status(&id, "up");

    let deleted = api
        .command("DELETE", &format!("{MONITORS}/{id}"), None, None)
        .expect(200, "deleting");
    assert!(deleted.position() > position);
    assert!(deleted.etag_version() > resumed.etag_version());
    position = deleted.position();
    let gone = api.get(&format!("{MONITORS}/{id}?min_position={position}"));
    assert_problem(&gone, 404, None, "reading a deleted monitor");
    assert_eq!(
        api.list_names(&format!("min_position={position}")),
        ["blog"]
    );

    let events = monitor_events(dir.path(), &id);
    let kinds: Vec<&str> = events
        .iter()
        .map(event_type)
        .filter(|t| {
            !matches!(
                *t,
                "MonitorChecked" | "MonitorWentUp" | "MonitorWentDown" | "MonitorRecovered"
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "MonitorCreated",
            "MonitorUpdated",
            "MonitorUpdated",
            "MonitorUpdated",
            "MonitorPaused",
            "MonitorResumed",
            "MonitorDeleted"
        ],
        "the commands' events, in order"
    );
    assert_eq!(
        events.last().map(position_of),
        Some(position),
        "the deletion is the stream's last event: no checks after it"
    );
    let other = api.monitor(&other_id);
    assert_eq!(
        other["status"], "paused",
        "the other monitor is untouched: {other}"
    );
    assert!(
        other["last_check"].is_null(),
        "a monitor created paused is never checked: {other}"
    );
}

#[test]
fn stale_if_match_is_a_409_that_appends_nothing_and_a_current_one_succeeds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    // Paused, so no check appends anything while the log is compared.
    let (id, created) = api.create(&with(
        http_monitor("guarded", &target.url("/")),
        json!({"paused": true}),
    ));
    let path = format!("{MONITORS}/{id}");
    let first = created.etag_version();

    let renamed = api
        .command(
            "PATCH",
            &path,
            Some(&json!({"name": "guarded-2"})),
            Some(first),
        )
        .expect(200, "a patch with the current version");
    let current = renamed.etag_version();
    assert!(current > first);
    assert_eq!(renamed.json()["name"], "guarded-2");

    assert_refused(
        dir.path(),
        "a patch with a stale If-Match",
        409,
        None,
        || {
            api.command(
                "PATCH",
                &path,
                Some(&json!({"name": "lost update"})),
                Some(first),
            )
        },
    );
    assert_refused(
        dir.path(),
        "a resume with a stale If-Match",
        409,
        None,
        || api.command("POST", &format!("{path}/resume"), None, Some(first)),
    );
    assert_refused(
        dir.path(),
        "a delete with a stale If-Match",
        409,
        None,
        || api.command("DELETE", &path, None, Some(first)),
    );
    assert_refused(
        dir.path(),
        "a delete with a version from the future",
        409,
        None,
        || api.command("DELETE", &path, None, Some(current + 5)),
    );
    let seen = api.get(&path).expect(200, "reading after the conflicts");
    assert_eq!(
        seen.etag_version(),
        current,
        "the conflicts changed nothing"
    );
    assert_eq!(seen.json()["name"], "guarded-2");

    let deleted = api
        .command("DELETE", &path, None, Some(current))
        .expect(200, "a delete with the current version");
    assert!(deleted.position() > renamed.position());
    assert_problem(
        &api.get(&format!("{path}?min_position={}", deleted.position())),
        404,
        None,
        "reading the deleted monitor",
    );
}

#[test]
fn bad_requests_answer_their_status_and_leave_the_log_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    let dir = dir.path();
    let valid = with(
        http_monitor("valid", &target.url("/")),
        json!({"paused": true}),
    );
    let (id, _) = api.create(&valid);
    let (deleted_id, _) = api.create(&valid);
    api.command("DELETE", &format!("{MONITORS}/{deleted_id}"), None, None)
        .expect(200, "deleting");
    let json_body = |v: &Value| Some(("application/json", v.to_string().into_bytes()));

    assert_refused(dir, "create without a token", 401, None, || {
        api.send("POST", MONITORS, None, &[], json_body(&valid))
    });
    assert_refused(dir, "create with an unknown token", 401, None, || {
        api.send(
            "POST",
            MONITORS,
            Some("not-a-known-token-0123456789"),
            &[],
            json_body(&valid),
        )
    });
    assert_refused(dir, "list without a token", 401, None, || {
        api.send("GET", MONITORS, None, &[], None)
    });
    assert_refused(dir, "resume with an unknown token", 401, None, || {
        api.send(
            "POST",
            &format!("{MONITORS}/{id}/resume"),
            Some("not-a-known-token-0123456789"),
            &[],
            None,
        )
    });
    assert_refused(dir, "malformed JSON", 400, None, || {
        api.send(
            "POST",
            MONITORS,
            Some(ADMIN_TOKEN),
            &[],
            Some(("application/json", b"{\"name\": ".to_vec())),
        )
    });
    assert_refused(dir, "a malformed JSON patch", 400, None, || {
        api.send(
            "PATCH",
            &format!("{MONITORS}/{id}"),
            Some(ADMIN_TOKEN),
            &[],
            Some(("application/json", b"{,}".to_vec())),
        )
    });
    assert_refused(
        dir,
        "a body that is not application/json",
        415,
        None,
        || {
            api.send(
                "POST",
                MONITORS,
                Some(ADMIN_TOKEN),
                &[],
                Some(("text/plain", valid.to_string().into_bytes())),
            )
        },
    );
    assert_refused(dir, "a body over 1 MiB", 413, None, || {
        let huge = with(valid.clone(), json!({"body": "x".repeat(1024 * 1024 + 16)}));
        api.send("POST", MONITORS, Some(ADMIN_TOKEN), &[], json_body(&huge))
    });
    let invalid: [(&str, Value, Option<&str>); 13] = [
        (
            "interval_s of the wrong type",
            json!({"interval_s": "abc"}),
            Some("interval_s"),
        ),
        ("interval_s 0", json!({"interval_s": 0}), Some("interval_s")),
        (
            "timeout_ms not below the interval",
            json!({"interval_s": 1, "timeout_ms": 1000}),
            Some("timeout_ms"),
        ),
        ("an unknown kind", json!({"kind": "ftp"}), Some("kind")),
        ("a malformed url", json!({"url": "not a url"}), Some("url")),
        (
            "a url without http",
            json!({"url": "ftp://example.com/"}),
            Some("url"),
        ),
        (
            "a bad body_regex",
            json!({"expect": {"body_regex": "(unclosed"}}),
            Some("expect.body_regex"),
        ),
        (
            "a bad json_path",
            json!({"expect": {"json_path": {"path": "$[", "equals": 1}}}),
            Some("expect.json_path.path"),
        ),
        (
            "a backwards status range",
            json!({"expect": {"status": ["299-200"]}}),
            Some("expect.status"),
        ),
        (
            "a status that is no code",
            json!({"expect": {"status": ["2xx"]}}),
            Some("expect.status"),
        ),
        ("an unknown field", json!({"colour": "red"}), Some("colour")),
        (
            "an unknown expect field",
            json!({"expect": {"shade": 1}}),
            Some("shade"),
        ),
        ("a body that is not an object", json!(["http"]), None),
    ];
    for (what, fields, field) in invalid {
        let body = if fields.is_object() {
            with(valid.clone(), fields)
        } else {
            fields
        };
        assert_refused(dir, &format!("create with {what}"), 422, field, || {
            api.post(MONITORS, &body)
        });
    }
    assert_refused(dir, "create without a kind", 422, Some("kind"), || {
        api.post(MONITORS, &json!({"name": "x", "url": target.url("/")}))
    });
    assert_refused(
        dir,
        "patch with interval_s 0",
        422,
        Some("interval_s"),
        || {
            api.command(
                "PATCH",
                &format!("{MONITORS}/{id}"),
                Some(&json!({"interval_s": 0})),
                None,
            )
        },
    );
    assert_refused(
        dir,
        "patch with an unknown field",
        422,
        Some("colour"),
        || {
            api.command(
                "PATCH",
                &format!("{MONITORS}/{id}"),
                Some(&json!({"colour": "red"})),
                None,
            )
        },
    );
    let unknown = Uuid::new_v4();
    for (what, method, path) in [
        ("get an unknown id", "GET", format!("{MONITORS}/{unknown}")),
        ("get a non-UUID id", "GET", format!("{MONITORS}/not-a-uuid")),
        (
            "checks of an unknown id",
            "GET",
            format!("{MONITORS}/{unknown}/checks"),
        ),
        (
            "series of an unknown id",
            "GET",
            format!("{MONITORS}/{unknown}/series"),
        ),
        (
            "delete an unknown id",
            "DELETE",
            format!("{MONITORS}/{unknown}"),
        ),
        (
            "delete a non-UUID id",
            "DELETE",
            format!("{MONITORS}/not-a-uuid"),
        ),
        (
            "pause an unknown id",
            "POST",
            format!("{MONITORS}/{unknown}/pause"),
        ),
        (
            "pause a deleted monitor",
            "POST",
            format!("{MONITORS}/{deleted_id}/pause"),
        ),
        (
            "resume a deleted monitor",
            "POST",
            format!("{MONITORS}/{deleted_id}/resume"),
        ),
        (
            "delete a deleted monitor",
            "DELETE",
            format!("{MONITORS}/{deleted_id}"),
        ),
    ] {
        assert_refused(dir, what, 404, None, || {
            api.command(method, &path, None, None)
        });
    }
    assert_refused(dir, "patch an unknown id", 404, None, || {
        api.command(
            "PATCH",
            &format!("{MONITORS}/{unknown}"),
            Some(&json!({"name": "x"})),
            None,
        )
    });
    assert_refused(dir, "patch a deleted monitor", 404, None, || {
        api.command(
            "PATCH",
            &format!("{MONITORS}/{deleted_id}"),
            Some(&json!({"name": "x"})),
            None,
        )
    });
}

#[test]
fn flapping_http_monitor_goes_up_down_and_recovers_each_transition_caused_by_its_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    let (id, _) = api.create(&json!({
        "name": "flappy", "kind": "http", "url": target.url("/"),
        "interval_s": 1, "timeout_ms": 500, "retries": 2, "recover_after": 2,
    }));

    api.wait_status(&id, "up");
    target.fail();
    let down = api.wait_status(&id, "down");
    assert!(
        down["down_reason"].as_str().is_some_and(|r| !r.is_empty()),
        "a down monitor says why: {down}"
    );
    target.set_status(200);
    api.wait_status(&id, "up");

    let events = monitor_events(dir.path(), &id);
    assert_eq!(
        events.first().map(event_type),
        Some("MonitorCreated"),
        "{events:?}"
    );
    let transitions = assert_transitions_follow_checks(&events, 2, 2);
    let mut wanted = ["MonitorWentUp", "MonitorWentDown", "MonitorRecovered"]
        .into_iter()
        .peekable();
    for t in &transitions {
        if wanted.peek() == Some(&t.as_str()) {
            wanted.next();
        }
    }
    assert!(
        wanted.peek().is_none(),
        "up, down and recovered in that order; the transitions were {transitions:?}"
    );

    // The same, spelled out for the first of each transition.
    let find = |kind: &str| {
        events
            .iter()
            .position(|e| event_type(e) == kind)
            .unwrap_or_else(|| panic!("no {kind} in {events:?}"))
    };
    let checked = |i: usize, ok: bool| {
        let e = &events[i];
        event_type(e) == "MonitorChecked" && e["data"]["ok"] == ok
    };
    let up = find("MonitorWentUp");
    assert!(
        up >= 2 && checked(up - 1, true),
        "an ok check makes it up: {events:?}"
    );
    assert!(
        events[1..up]
            .iter()
            .all(|e| event_type(e) == "MonitorChecked"),
        "only checks between creation and going up: {events:?}"
    );
    let down = find("MonitorWentDown");
    assert!(
        down > up + 2 && checked(down - 1, false) && checked(down - 2, false),
        "two failed checks in a row make it down: {events:?}"
    );
    let recovered = find("MonitorRecovered");
    assert!(
        recovered > down + 2 && checked(recovered - 1, true) && checked(recovered - 2, true),
        "two ok checks in a row bring it back: {events:?}"
    );
    for i in [up, down, recovered] {
        assert_eq!(
            events[i]["causation"].as_u64(),
            Some(position_of(&events[i - 1])),
            "{} is caused by the check right before it",
            event_type(&events[i])
        );
    }
    assert!(
        events[down]["data"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "the down event says why: {}",
        events[down]
    );
}

#[test]
fn tcp_monitor_is_up_while_the_port_listens_and_down_once_it_closes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let mut target = TcpTarget::start();
    let (id, _) = api.create(&json!({
        "name": "db", "kind": "tcp", "host": "127.0.0.1", "port": target.port(),
        "interval_s": 1, "timeout_ms": 900,
    }));

    let up = api.wait_status(&id, "up");
    assert_eq!(up["kind"], "tcp");
    assert_eq!(up["port"], target.port());
    assert_eq!(up["last_check"]["ok"], true, "{up}");
    target.close();
    let down = api.wait_status(&id, "down");
    assert_eq!(down["last_check"]["ok"], false, "{down}");
    assert!(down["down_reason"].is_string(), "{down}");
}

#[test]
fn dns_monitor_against_a_chosen_resolver_is_up_when_the_a_record_matches() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = DnsTarget::start();
    target.set_a("svc.watchfire.test", &[Ipv4Addr::new(10, 1, 2, 3)]);
    let dns = |name: &str, contains: &str| {
        json!({
            "name": name, "kind": "dns", "host": "svc.watchfire.test", "record_type": "A",
            "resolver": target.resolver(), "expect": {"contains": contains},
            "interval_s": 2, "timeout_ms": 1500,
        })
    };
    let (matching, created) = api.create(&dns("dns-match", "10.1.2.3"));
    assert_eq!(created.json()["resolver"], target.resolver());
    assert_eq!(created.json()["expect"]["contains"], "10.1.2.3");
    let (other, _) = api.create(&dns("dns-mismatch", "10.9.9.9"));

    let up = api.wait_status(&matching, "up");
    assert_eq!(up["last_check"]["ok"], true, "{up}");
    let down = api.wait_status(&other, "down");
    assert!(
        down["down_reason"]
            .as_str()
            .is_some_and(|r| r.contains("10.9.9.9")),
        "the reason names the missing answer: {down}"
    );
}

#[test]
fn https_monitor_ignoring_tls_errors_is_up_and_shows_the_certificate_expiry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpsTarget::start(30);
    let (id, _) = api.create(&with(
        http_monitor("secure", &target.url("/")),
        json!({"ignore_tls_errors": true}),
    ));
    let (strict, _) = api.create(&http_monitor("strict", &target.url("/")));

    let up = wait_for("the https monitor up with a certificate expiry", || {
        let m = api.monitor(&id);
        (m["status"] == "up" && m["cert_expires_at"].is_string()).then_some(m)
    });
    let expires: DateTime<Utc> = up["cert_expires_at"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("cert_expires_at is an RFC 3339 time: {up}"));
    let off_by = (expires - target.expires_at()).num_seconds().abs();
    assert!(
        off_by <= 60,
        "cert_expires_at {expires} is the certificate's {}",
        target.expires_at()
    );
    let days_ahead = (expires - Utc::now()).num_hours() as f64 / 24.0;
    assert!(
        (29.0..=30.1).contains(&days_ahead),
        "about 30 days ahead, got {days_ahead}"
    );
    let checks = api.checks(&id, "limit=1");
    assert!(checks[0]["cert_expires_at"].is_string(), "{checks:?}");

    // The same self-signed certificate fails a monitor that does not ignore TLS errors.
    let down = api.wait_status(&strict, "down");
    assert_eq!(down["last_check"]["ok"], false, "{down}");
}

#[test]
fn push_monitor_is_up_on_heartbeats_counts_status_down_and_goes_down_without_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let (id, created) = api.create(&json!({
        "name": "nightly", "kind": "push", "interval_s": 2, "grace_s": 1, "timeout_ms": 1000,
    }));
    let body = created.json();
    assert_eq!(body["kind"], "push");
    assert_eq!(body["grace_s"], 1);
    let token = body["push_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a push monitor carries a push_token: {body}"))
        .to_owned();
    assert!(!token.is_empty());
    assert_eq!(
        api.monitor(&id)["push_token"],
        token.as_str(),
        "GET shows the token too"
    );

    for (method, path) in [
        ("GET", format!("/api/v1/push/{token}")),
        ("POST", format!("/api/v1/push/{token}")),
        ("GET", format!("/api/push/{token}")),
        ("POST", format!("/api/push/{token}?msg=hello&ping=12.5")),
    ] {
        let reply = api
            .send(method, &path, None, &[], None)
            .expect(200, &format!("{method} {path}"));
        assert_eq!(reply.json(), json!({"ok": true}), "{method} {path}");
    }
    let up = api.wait_status(&id, "up");
    assert_eq!(up["last_check"]["ok"], true, "{up}");

    api.send(
        "GET",
        &format!("/api/v1/push/{token}?status=down&msg=boom"),
        None,
        &[],
        None,
    )
    .expect(200, "a down heartbeat");
    let down = wait_for("the down heartbeat to count as a failure", || {
        let m = api.monitor(&id);
        (m["last_check"]["ok"] == false).then_some(m)
    });
    assert_eq!(down["last_check"]["error"], "boom", "{down}");
    let down = api.wait_status(&id, "down");
    assert_eq!(
        down["down_reason"], "boom",
        "one failure is enough with retries 1: {down}"
    );
    let newest = &api.checks(&id, "limit=1")[0];
    assert_eq!(newest["ok"], false, "{newest}");
    assert_eq!(newest["heartbeat"], true, "{newest}");

    for path in [
        "/api/v1/push/pt_00000000000000000000000000000000".to_owned(),
        "/api/push/pt_00000000000000000000000000000000".to_owned(),
        format!("/api/v1/push/{token}x"),
    ] {
        let reply = api.send("GET", &path, None, &[], None);
        assert_problem(&reply, 404, None, &format!("a heartbeat to {path}"));
    }

    api.send("POST", &format!("/api/push/{token}"), None, &[], None)
        .expect(200, "an up heartbeat");
    api.wait_status(&id, "up");

    // No more heartbeats: the window of interval_s + grace_s closes.
    let down = api.wait_status(&id, "down");
    assert_eq!(down["down_reason"], "no heartbeat", "{down}");

    let events = monitor_events(dir.path(), &id);
    let transitions = assert_transitions_follow_checks(&events, 1, 1);
    assert_eq!(
        transitions.first().map(String::as_str),
        Some("MonitorWentUp"),
        "the first heartbeats make it up: {transitions:?}"
    );
    let boom = events
        .iter()
        .position(|e| event_type(e) == "MonitorWentDown" && e["data"]["reason"] == "boom")
        .unwrap_or_else(|| panic!("no MonitorWentDown for the boom heartbeat in {events:?}"));
    let beat = &events[boom - 1];
    assert_eq!(event_type(beat), "HeartbeatReceived", "{beat}");
    assert_eq!(beat["data"]["up"], false, "{beat}");
    assert_eq!(events[boom]["causation"].as_u64(), Some(position_of(beat)));
    assert_silence_brought_it_down(&events);
}

/// Checks a push monitor's stream: the last down is caused by a "no heartbeat" check that
/// came no earlier than interval_s + grace_s (3 s) after the last heartbeat.
fn assert_silence_brought_it_down(events: &[Value]) {
    let down = events
        .iter()
        .rposition(|e| event_type(e) == "MonitorWentDown")
        .unwrap_or_else(|| panic!("no MonitorWentDown in {events:?}"));
    assert_eq!(events[down]["data"]["reason"], "no heartbeat");
    let check = &events[down - 1];
    assert_eq!(event_type(check), "MonitorChecked", "{check}");
    assert_eq!(check["data"]["error"], "no heartbeat", "{check}");
    assert_eq!(events[down]["causation"].as_u64(), Some(position_of(check)));
    let beat = events[..down]
        .iter()
        .rev()
        .find(|e| event_type(e) == "HeartbeatReceived")
        .unwrap_or_else(|| panic!("no heartbeat in {events:?}"));
    let silence = timestamp_of(check) - timestamp_of(beat);
    assert!(
        silence >= chrono::Duration::milliseconds(2900),
        "down only after interval_s + grace_s without a heartbeat, not after {silence}"
    );
    let beats: Vec<&Value> = events
        .iter()
        .filter(|e| event_type(e) == "HeartbeatReceived")
        .collect();
    assert_eq!(
        beats.len(),
        6,
        "every accepted heartbeat is recorded: {beats:?}"
    );
    assert_eq!(beats[3]["data"]["msg"], "hello");
    assert_eq!(beats[3]["data"]["ping_ms"], 12.5);
    assert_eq!(beats[4]["data"]["up"], false);
    assert_eq!(beats[4]["data"]["msg"], "boom");
}

#[test]
fn panicking_check_is_recorded_as_failed_and_its_actor_restarts_while_others_carry_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[("WATCHFIRE_TEST_PANIC_MONITOR", "boom")]);
    let api = Api::new(&server);
    let target = HttpTarget::start();
    let (boom, _) = api.create(&http_monitor("boom", &target.url("/")));
    let (calm, _) = api.create(&http_monitor("calm", &target.url("/")));

    let restarts = wait_for("a restart counted in /metrics", || {
        let text = api
            .get("/metrics")
            .expect(200, "metrics with the token")
            .body;
        metric(&text, "watchfire_monitor_restarts_total").filter(|&n| n > 0.0)
    });
    assert!(restarts >= 1.0);
    let calm_checks = api.wait_checks(&calm, 4);
    assert!(
        calm_checks.iter().all(|c| c["ok"] == true),
        "the other monitor's checks pass: {calm_checks:?}"
    );
    assert_eq!(api.monitor(&calm)["status"], "up");
    let health = api
        .send("GET", "/health", None, &[], None)
        .expect(200, "liveness");
    assert_eq!(health.json()["status"], "ok");

    let first = api.wait_checks(&boom, 1).len();
    // Several more checks over several seconds: each panic stops the actor, and its
    // supervisor brings it back to check again.
    let checks = api.wait_checks(&boom, first + 4);
    for check in &checks {
        assert_eq!(check["ok"], false, "{check}");
        assert!(
            check["error"]
                .as_str()
                .is_some_and(|e| e.contains("panicked")),
            "the failure says the check panicked: {check}"
        );
    }
    let boom_state = api.monitor(&boom);
    assert_eq!(boom_state["status"], "down", "{boom_state}");
    assert!(
        boom_state["down_reason"]
            .as_str()
            .is_some_and(|r| r.contains("panicked")),
        "{boom_state}"
    );

    let events = monitor_events(dir.path(), &boom);
    let recorded = events
        .iter()
        .filter(|e| event_type(e) == "MonitorChecked")
        .count();
    assert!(
        recorded >= first + 4,
        "every panicked check is in the log: {events:?}"
    );
    assert_transitions_follow_checks(&events, 1, 1);
    assert_eq!(
        api.monitor(&calm)["status"],
        "up",
        "the other monitor stays up"
    );
}

#[test]
fn restarted_server_keeps_monitor_statuses_and_keeps_checking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let healthy = HttpTarget::start();
    let broken = HttpTarget::start();
    broken.fail();
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    let (up_id, _) = api.create(&http_monitor("healthy", &healthy.url("/")));
    let (down_id, _) = api.create(&http_monitor("broken", &broken.url("/")));
    let before_up = api.wait_status(&up_id, "up");
    let before_down = api.wait_status(&down_id, "down");
    drop(api);
    let status = server.terminate();
    assert!(
        status.success(),
        "SIGTERM stops the server cleanly: {status:?}"
    );

    let last_position = |m: &Value| m["last_check"]["position"].as_u64().unwrap_or(0);
    let (up_seen, down_seen) = (last_position(&before_up), last_position(&before_down));
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    let after_up = api.monitor(&up_id);
    let after_down = api.monitor(&down_id);
    assert_eq!(
        after_up["status"], "up",
        "right after the restart: {after_up}"
    );
    assert_eq!(
        after_down["status"], "down",
        "right after the restart: {after_down}"
    );
    assert_eq!(after_down["down_reason"], before_down["down_reason"]);
    assert!(last_position(&after_up) >= up_seen);
    assert!(after_up["version"].as_u64() >= before_up["version"].as_u64());

    wait_for("new checks of both monitors after the restart", || {
        let (up, down) = (api.monitor(&up_id), api.monitor(&down_id));
        (last_position(&up) > up_seen && last_position(&down) > down_seen).then_some(())
    });
    assert_eq!(api.monitor(&up_id)["status"], "up");
    assert_eq!(api.monitor(&down_id)["status"], "down");
}

#[test]
fn checks_come_newest_first_within_their_range_and_series_rolls_them_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    let (id, _) = api.create(&http_monitor("series", &target.url("/")));
    api.wait_checks(&id, 5);
    // Paused, the list stands still while it is compared.
    let paused = api
        .command("POST", &format!("{MONITORS}/{id}/pause"), None, None)
        .expect(200, "pausing");
    let all = api.checks(
        &id,
        &format!("limit=1000&min_position={}", paused.position()),
    );
    let newest = api.checks(&id, "limit=3");
    assert_eq!(newest.len(), 3, "{newest:?}");
    assert_eq!(newest[..], all[..3], "limit keeps the newest");
    let positions: Vec<u64> = all
        .iter()
        .map(|c| c["position"].as_u64().expect("a position"))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] > w[1]),
        "newest first: {positions:?}"
    );
    assert_eq!(
        api.monitor(&id)["last_check"]["position"].as_u64(),
        positions.first().copied(),
        "the newest check is the monitor's last"
    );
    for check in &all {
        assert!(
            check["at"].is_string() && check["latency_ms"].is_number(),
            "{check}"
        );
        assert_eq!(check["ok"], true, "{check}");
        assert_eq!(check["status_code"], 200, "{check}");
    }

    assert!(
        api.checks(&id, "since=2999-01-01T00:00:00Z").is_empty(),
        "nothing in the future"
    );
    let since_oldest = all
        .last()
        .and_then(|c| c["at"].as_str())
        .expect("a time")
        .to_owned();
    assert_eq!(
        api.checks(
            &id,
            &format!("limit=1000&since={}", since_oldest.replace('+', "%2B"))
        )
        .len(),
        all.len(),
        "since the oldest check takes them all"
    );
    assert!(
        api.checks(&id, "until=2000-01-01T00:00:00Z").is_empty(),
        "nothing before 2000"
    );
    for query in ["since=yesterday", "until=soon", "limit=many"] {
        let reply = api.get(&format!("{MONITORS}/{id}/checks?{query}"));
        assert_problem(&reply, 400, None, &format!("checks?{query}"));
    }

    let series = api
        .get(&format!("{MONITORS}/{id}/series"))
        .expect(200, "the series")
        .json();
    let points = series["points"].as_array().expect("points is an array");
    assert!(!points.is_empty(), "{series}");
    let counted: u64 = points
        .iter()
        .map(|p| p["checks"].as_u64().unwrap_or(0))
        .sum();
    let passed: u64 = points.iter().map(|p| p["up"].as_u64().unwrap_or(0)).sum();
    assert!(
        points.iter().any(|p| p["checks"].as_u64() > Some(0)),
        "{series}"
    );
    assert_eq!(
        counted,
        all.len() as u64,
        "every check is in the rollups: {series}"
    );
    assert_eq!(passed, all.len() as u64, "every check passed: {series}");
    for query in ["since=yesterday", "since=2999-01-01T00:00:00Z"] {
        let reply = api.get(&format!("{MONITORS}/{id}/series?{query}"));
        assert_problem(&reply, 400, None, &format!("series?{query}"));
    }
}

#[test]
fn patched_interval_takes_effect_and_pause_stops_checks_until_resume() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    let (id, _) = api.create(&json!({
        "name": "slow", "kind": "http", "url": target.url("/"), "interval_s": 60, "timeout_ms": 900,
    }));
    let patched = api
        .command(
            "PATCH",
            &format!("{MONITORS}/{id}"),
            Some(&json!({"interval_s": 1})),
            None,
        )
        .expect(200, "patching the interval");
    assert_eq!(patched.json()["interval_s"], 1);
    assert_eq!(patched.json()["timeout_ms"], 900);
    // At most one check could come in the first minute at the old interval.
    api.wait_checks(&id, 3);

    let paused = api
        .command("POST", &format!("{MONITORS}/{id}/pause"), None, None)
        .expect(200, "pausing");
    let at_pause = api
        .checks(
            &id,
            &format!("limit=1000&min_position={}", paused.position()),
        )
        .len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        api.checks(&id, "limit=1000").len(),
        at_pause,
        "no checks while paused"
    );
    assert_eq!(api.monitor(&id)["status"], "paused");
    let events = monitor_events(dir.path(), &id);
    let late: Vec<&Value> = events
        .iter()
        .filter(|e| position_of(e) > paused.position())
        .collect();
    assert!(late.is_empty(), "nothing after the pause: {late:?}");

    let resumed = api
        .command("POST", &format!("{MONITORS}/{id}/resume"), None, None)
        .expect(200, "resuming");
    assert!(resumed.position() > paused.position());
    api.wait_checks(&id, at_pause + 2);
    api.wait_status(&id, "up");
    let events = monitor_events(dir.path(), &id);
    assert_transitions_follow_checks(&events, 1, 1);
}

#[test]
fn unsent_timeout_follows_a_short_interval_and_a_sent_one_is_kept_or_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    // No timeout sent: 10 s by default, 80% of an interval too short for that.
    let (_, long) = api.create(&json!({"name": "long", "kind": "push", "interval_s": 60}));
    assert_eq!(long.json()["timeout_ms"], 10_000);
    let (id, short) = api.create(&json!({"name": "short", "kind": "push", "interval_s": 2}));
    assert_eq!(short.json()["timeout_ms"], 1600);
    // Patching the interval down brings an unsent timeout along; a sent one is checked.
    let (long_id, _) = api.create(&json!({"name": "l2", "kind": "push", "interval_s": 60}));
    let patched = api
        .command(
            "PATCH",
            &format!("{MONITORS}/{long_id}"),
            Some(&json!({"interval_s": 5})),
            None,
        )
        .expect(200, "patching the interval");
    assert_eq!(patched.json()["timeout_ms"], 4000);
    let refused = api.command(
        "PATCH",
        &format!("{MONITORS}/{id}"),
        Some(&json!({"interval_s": 5, "timeout_ms": 5000})),
        None,
    );
    assert_problem(
        &refused,
        422,
        Some("timeout_ms"),
        "a sent timeout at the interval",
    );
}
