//! The seed systems' routes and protocols against the real server, with clients that send
//! exactly what those systems' agents, dashboards and scripts send: the server monitor's
//! agent push and dashboard reads (`/api/metrics`, `/api/servers...`, `/api/health`), the
//! Terminusa API's `/api/v1/metrics/*` and `/api/v1/alerts/*`, and the pipeline
//! dashboard's WebSocket messages (`/ws?protocol=seed004`).
//!
//! Waits poll with generous deadlines: the machine running the tests is slow and shared.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as TimeDelta, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::api::{create_token, replay, wait_for, Api, Reply, ADMIN_TOKEN, PATIENCE};
use super::helpers::TestServer;

/// A time as Python's `datetime.now().isoformat()` writes it: no offset.
fn naive(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// The server monitor agent's body (its API documentation's example, with psutil's full
/// partitions, network and disk I/O counters), sampled at `at`.
fn seed_body(hostname: &str, at: &str, cpu: f64, sent: u64) -> Value {
    json!({
        "hostname": hostname,
        "timestamp": at,
        "cpu": {
            "cpu_percent_total": cpu,
            "cpu_percent_per_core": [40, 50, 43, 48],
            "cpu_count_logical": 4,
            "load_average": [1.5, 1.2, 1.0]
        },
        "memory": {
            "memory_total": 8589934592u64,
            "memory_used": 4294967296u64,
            "memory_percent": 50.0
        },
        "disk": {
            "partitions": [
                {"device": "/dev/sda1", "mountpoint": "/", "fstype": "ext4",
                 "total": 100000000000u64, "used": 40000000000u64, "free": 55000000000u64, "percent": 42.1},
                {"device": "/dev/sdb1", "mountpoint": "/data", "fstype": "xfs",
                 "total": 500000000000u64, "used": 100000000000u64, "free": 400000000000u64, "percent": 20.0}
            ]
        },
        "io": {
            "network": {"bytes_sent": sent, "bytes_recv": 2000000, "packets_sent": 1500,
                        "packets_recv": 2500, "errin": 1, "errout": 2, "dropin": 3, "dropout": 4},
            "disk_io": {"read_count": 100, "write_count": 200, "read_bytes": 4096000,
                        "write_bytes": 8192000, "read_time": 350, "write_time": 700}
        }
    })
}

/// `v` with every number as a float, to compare figures whatever their JSON spelling.
fn floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(floats).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), floats(v))).collect())
        }
        other => other.clone(),
    }
}

fn start(dir: &Path, public_reads: bool) -> TestServer {
    TestServer::start(dir, ADMIN_TOKEN, |s| s.compat.public_reads = public_reads)
}

impl Api {
    /// `POST /api/metrics` with `body` as raw bytes, as the agent sends it.
    fn seed_push(&self, token: &str, body: &[u8]) -> Reply {
        self.send(
            "POST",
            "/api/metrics",
            Some(token),
            &[],
            Some(("application/json", body.to_vec())),
        )
    }

    /// A GET with `token` (or none).
    fn read_as(&self, token: Option<&str>, path: &str) -> Reply {
        self.send("GET", path, token, &[], None)
    }
}

/// The `HostMetricsReported` events of every host stream, as replay prints them.
fn samples(dir: &Path) -> Vec<Value> {
    replay(dir, None)
        .into_iter()
        .filter(|e| e["type"] == "HostMetricsReported")
        .collect()
}

/// A problem+json answer that also carries the seeds' `error`.
fn assert_seed_problem(reply: &Reply, status: u16, mentions: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/problem+json")),
        "problem+json: {:?}",
        reply.header("content-type")
    );
    let body = reply.json();
    assert_eq!(body["status"], status);
    assert_eq!(
        body["error"], body["detail"],
        "the seeds' error is the detail"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains(mentions)),
        "the detail names {mentions:?}: {body}"
    );
}

#[test]
fn the_server_monitors_agent_and_dashboard_work_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), false);
    let api = Api::at(&server.base);
    let agent = create_token(dir.path(), "agent");
    let viewer = create_token(dir.path(), "viewer");
    // Whole seconds: the second push spells its time without fractions.
    let t0 = DateTime::from_timestamp(Utc::now().timestamp() - 30, 0).expect("a time");
    let t1 = t0 + TimeDelta::seconds(10);

    let first = seed_body("Server-Name", &naive(t0), 45.2, 1_000_000);
    let reply = api
        .seed_push(&agent, first.to_string().as_bytes())
        .expect(200, "the agent's push");
    assert_eq!(
        reply.json(),
        json!({"status": "success", "hostname": "server-name"}),
        "answered in the seed's shape"
    );
    assert!(reply.position() > 0, "after the sample is durable");
    // Python's isoformat without fractions, too.
    let second_at = t1.format("%Y-%m-%dT%H:%M:%S").to_string();
    let second = seed_body("server-name", &second_at, 55.0, 1_500_000);
    let second_position = api
        .seed_push(&agent, second.to_string().as_bytes())
        .expect(200, "the second push")
        .position();
    let fresh = format!("min_position={second_position}");

    // The health check needs nothing; the dashboard's reads need a viewer.
    let health = api
        .read_as(None, "/api/health")
        .expect(200, "health")
        .json();
    assert_eq!(health["status"], "healthy");
    assert!(health["timestamp"].is_string());
    let refused = api.read_as(None, "/api/servers");
    assert_eq!(refused.status, 401, "reads need a token: {}", refused.body);

    let servers = api
        .read_as(Some(&viewer), &format!("/api/servers?{fresh}"))
        .expect(200, "the server list")
        .json();
    assert_eq!(servers["count"], 1);
    let s = &servers["servers"][0];
    assert_eq!(s["hostname"], "server-name");
    assert_eq!(s["status"], "online");
    assert_eq!(s["cpu_percent"], 55.0);
    assert_eq!(s["memory_percent"], 50.0);
    assert_eq!(s["disk_percent"], 42.1, "the fullest filesystem");
    let at = |v: &Value| {
        DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
            .expect("RFC 3339")
            .with_timezone(&Utc)
    };
    assert_eq!(
        at(&s["last_update"]).timestamp(),
        t1.timestamp(),
        "a time without an offset is UTC"
    );

    // The latest sample reads back as the agent sent it.
    let latest = api
        .read_as(Some(&viewer), "/api/servers/SERVER-NAME/latest")
        .expect(200, "the latest sample")
        .json();
    assert_eq!(latest["hostname"], "server-name");
    assert_eq!(at(&latest["timestamp"]).timestamp(), t1.timestamp());
    // JavaScript reads 40 and 40.0 alike: the per-core figures come back as numbers.
    assert_eq!(floats(&latest["cpu"]), floats(&second["cpu"]));
    assert_eq!(latest["memory"], second["memory"]);
    assert_eq!(latest["disk"], second["disk"]);
    assert_eq!(latest["io"], second["io"]);

    let disks = api
        .read_as(Some(&viewer), "/api/servers/server-name/disks")
        .expect(200, "the disks")
        .json();
    assert_eq!(disks["partitions"], second["disk"]["partitions"]);
    let network = api
        .read_as(Some(&viewer), "/api/servers/server-name/network")
        .expect(200, "the network")
        .json();
    assert_eq!(network["network"], second["io"]["network"]);
    assert_eq!(network["disk_io"], second["io"]["disk_io"]);
    assert_eq!(
        network["rates"]["bytes_sent_per_s"], 50_000.0,
        "500000 bytes over 10 s"
    );

    // History: oldest first, within the hours asked, the newest `limit`.
    let history = api
        .read_as(
            Some(&viewer),
            "/api/servers/server-name/history?hours=1&limit=10",
        )
        .expect(200, "the history")
        .json();
    assert_eq!(history["count"], 2);
    let cpus: Vec<&Value> = history["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| &m["cpu"]["cpu_percent_total"])
        .collect();
    assert_eq!(cpus, [&json!(45.2), &json!(55.0)]);
    let newest = api
        .read_as(Some(&viewer), "/api/servers/server-name/history?limit=1")
        .expect(200, "the newest sample")
        .json();
    assert_eq!(newest["metrics"][0]["cpu"]["cpu_percent_total"], 55.0);
    let none = api
        .read_as(
            Some(&viewer),
            "/api/servers/server-name/history?hours=0.001",
        )
        .expect(200, "a window with no sample")
        .json();
    assert_eq!(none["count"], 0);

    // The log keeps what psutil said beyond usage and bytes.
    let recorded = samples(dir.path());
    assert_eq!(recorded.len(), 2);
    let details = &recorded[1]["data"]["details"];
    assert_eq!(details["filesystems"][1]["fstype"], "xfs");
    assert_eq!(details["network"], json!([1500, 2500, 1, 2, 3, 4]));
    assert_eq!(details["disk_io"], json!([100, 200, 350, 700]));
}

#[test]
fn bad_seed_input_gets_a_clear_4xx_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), true);
    let api = Api::at(&server.base);
    let agent = create_token(dir.path(), "agent");
    let now = naive(Utc::now() - TimeDelta::seconds(5));
    api.seed_push(
        &agent,
        seed_body("web-1", &now, 10.0, 1).to_string().as_bytes(),
    )
    .expect(200, "a good push");
    let before = samples(dir.path()).len();

    let malformed = api.seed_push(&agent, br#"{"hostname": "web-1", "cpu": "#);
    assert_eq!(malformed.status, 400, "malformed JSON: {}", malformed.body);
    let mut wrong = seed_body("web-1", &now, 10.0, 2);
    wrong["cpu"]["cpu_percent_total"] = json!("high");
    let reply = api.seed_push(&agent, wrong.to_string().as_bytes());
    assert_eq!(reply.status, 422, "a wrong type: {}", reply.body);
    assert_eq!(reply.json()["field"], "cpu.cpu_percent_total");
    let mut when = seed_body("web-1", "yesterday", 10.0, 2);
    let reply = api.seed_push(&agent, when.to_string().as_bytes());
    assert_eq!(
        reply.status, 422,
        "a timestamp that is none: {}",
        reply.body
    );
    assert_eq!(reply.json()["field"], "timestamp");
    when["timestamp"] = json!(1_762_423_200);
    let reply = api.seed_push(&agent, when.to_string().as_bytes());
    assert_eq!(reply.status, 422, "a number for a time: {}", reply.body);
    let mut packets = seed_body("web-1", &now, 10.0, 2);
    packets["io"]["network"]["packets_sent"] = json!(-1);
    let reply = api.seed_push(&agent, packets.to_string().as_bytes());
    assert_eq!(reply.status, 422, "negative packets: {}", reply.body);
    assert_eq!(reply.json()["field"], "io.network.packets_sent");
    let mut free = seed_body("web-1", &now, 10.0, 2);
    free["disk"]["partitions"][0]["free"] = json!(200000000000u64);
    let reply = api.seed_push(&agent, free.to_string().as_bytes());
    assert_eq!(reply.status, 422, "more free than total: {}", reply.body);
    assert_eq!(reply.json()["field"], "disk.partitions[0].free");
    let nameless = api.seed_push(&agent, br#"{"cpu": {"cpu_percent_total": 1}}"#);
    assert_eq!(nameless.status, 422, "no hostname: {}", nameless.body);
    let anonymous = api.send(
        "POST",
        "/api/metrics",
        None,
        &[],
        Some((
            "application/json",
            seed_body("web-1", &now, 1.0, 3).to_string().into_bytes(),
        )),
    );
    assert_eq!(
        anonymous.status, 401,
        "pushes need a token: {}",
        anonymous.body
    );
    let bad = api.seed_push(
        "wf_not-a-token",
        seed_body("web-1", &now, 1.0, 3).to_string().as_bytes(),
    );
    assert_eq!(bad.status, 401, "a bad token is refused: {}", bad.body);
    assert_eq!(
        samples(dir.path()).len(),
        before,
        "no refused push left a sample"
    );

    // With `compat.public_reads`, the dashboard's reads need no token; bad ones still fail.
    api.read_as(None, "/api/servers")
        .expect(200, "a public read");
    let unknown = api.read_as(None, "/api/servers/nowhere/latest");
    assert_seed_problem(&unknown, 404, "nowhere");
    for part in ["history", "disks", "network"] {
        let reply = api.read_as(None, &format!("/api/servers/nowhere/{part}"));
        assert_seed_problem(&reply, 404, "Server not found");
    }
    for query in [
        "hours=abc",
        "hours=-1",
        "hours=99999",
        "limit=0",
        "limit=5000",
    ] {
        let reply = api.read_as(None, &format!("/api/servers/web-1/history?{query}"));
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{query}");
    }
    // The Terminusa API's reads are never public.
    let refused = api.read_as(None, "/api/v1/metrics/current");
    assert_eq!(refused.status, 401, "{}", refused.body);
    let viewer = create_token(dir.path(), "viewer");
    for (path, status) in [
        ("/api/v1/metrics/current?host=nowhere", 404),
        ("/api/v1/metrics/history", 400),
        ("/api/v1/metrics/history?type=bogus", 400),
        ("/api/v1/metrics/history?type=cpu_percent&since=soon", 400),
        ("/api/v1/metrics/history?type=cpu_percent&host=nowhere", 404),
        ("/api/v1/alerts/history?limit=0", 400),
        ("/api/v1/alerts/history?limit=x", 400),
    ] {
        let reply = api.read_as(Some(&viewer), path);
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{path}");
    }
    assert_eq!(samples(dir.path()).len(), before, "reads change nothing");
}

#[test]
fn with_anonymous_push_the_agent_pushes_without_a_token_and_a_bad_token_is_still_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), ADMIN_TOKEN, |s| s.compat.anonymous_push = true);
    let api = Api::at(&server.base);
    let at = naive(Utc::now() - TimeDelta::seconds(5));
    let body = seed_body("web-1", &at, 12.5, 1).to_string().into_bytes();
    let reply = api
        .send(
            "POST",
            "/api/metrics",
            None,
            &[],
            Some(("application/json", body.clone())),
        )
        .expect(200, "a push without a token");
    assert_eq!(
        reply.json(),
        json!({"status": "success", "hostname": "web-1"})
    );
    let bad = api.seed_push("wf_not-a-token", &body);
    assert_eq!(
        bad.status, 401,
        "a credential sent is checked: {}",
        bad.body
    );
    let recorded = samples(dir.path());
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["actor"], "anonymous");
    // The native push route still needs a token.
    let native = api.send(
        "POST",
        "/api/v1/hosts/web-1/metrics",
        None,
        &[],
        Some(("application/json", body)),
    );
    assert_eq!(native.status, 401, "{}", native.body);
}

/// Pushes a hot sample for `web-1` and a rule that fires on it; the firing alert's id.
fn firing_alert(api: &Api, agent: &str) -> String {
    let at = naive(Utc::now() - TimeDelta::seconds(5));
    api.seed_push(
        agent,
        seed_body("web-1", &at, 97.0, 1).to_string().as_bytes(),
    )
    .expect(200, "a hot sample");
    api.post(
        "/api/v1/alert-rules",
        &json!({"name": "cpu hot", "severity": "warning",
                "condition": {"kind": "host_metric", "host": "web-1", "metric": "cpu_percent",
                              "op": ">", "threshold": 90, "for_s": 0}}),
    )
    .expect(201, "a rule");
    wait_for("the alert to fire", || {
        let active = api
            .get("/api/v1/alerts/active")
            .expect(200, "active")
            .json();
        let first = &active["alerts"][0];
        (first["status"] == "firing").then(|| first["id"].as_str().unwrap_or_default().to_owned())
    })
}

#[test]
fn the_terminusa_aliases_read_metrics_and_alerts_and_ack_through_the_command_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), false);
    let api = Api::at(&server.base);
    let agent = create_token(dir.path(), "agent");
    let alert = firing_alert(&api, &agent);

    let active = api
        .get("/api/v1/alerts/active")
        .expect(200, "active")
        .json();
    assert_eq!(active["count"], 1);
    let a = &active["alerts"][0];
    assert_eq!(a["severity"], "warning");
    assert_eq!(a["acknowledged"], false);
    assert!(a["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("cpu hot: ")));
    assert!(a["created_at"].is_string());

    let current = api
        .get("/api/v1/metrics/current?host=web-1&type=cpu_percent")
        .expect(200, "current metrics")
        .json();
    assert_eq!(current["metrics"].as_array().map(Vec::len), Some(1));
    assert_eq!(current["metrics"][0]["value"], 97.0);
    assert_eq!(current["metrics"][0]["tags"]["host"], "web-1");
    let all = api.get("/api/v1/metrics/current").expect(200, "all").json();
    let types: Vec<&str> = all["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|m| m["type"].as_str())
        .collect();
    assert!(
        types.contains(&"disk_percent:/data") && types.contains(&"load1"),
        "{types:?}"
    );
    let history = wait_for("the rollup of the sample", || {
        let h = api
            .get("/api/v1/metrics/history?type=cpu_percent&host=web-1")
            .expect(200, "history")
            .json();
        (h["metrics"].as_array().is_some_and(|m| !m.is_empty())).then_some(h)
    });
    assert_eq!(history["metrics"][0]["value"], 97.0);
    assert_eq!(history["type"], "cpu_percent");

    // The Terminusa dashboard acks with an empty POST; a viewer may not.
    let viewer = create_token(dir.path(), "viewer");
    let ack = format!("/api/v1/alerts/{alert}/ack");
    let refused = api.send("POST", &ack, Some(&viewer), &[], None);
    assert_eq!(refused.status, 403, "{}", refused.body);
    let unknown = api.send(
        "POST",
        "/api/v1/alerts/00000000-0000-0000-0000-000000000001/ack",
        Some(ADMIN_TOKEN),
        &[],
        None,
    );
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let done = api
        .send("POST", &ack, Some(ADMIN_TOKEN), &[], None)
        .expect(200, "an ack without a body");
    assert_eq!(done.json()["acknowledged"], true);
    assert_eq!(done.json()["state"], "acknowledged");
    let acks = replay(dir.path(), Some(&format!("alert-{alert}")))
        .into_iter()
        .filter(|e| e["type"] == "AlertAcknowledged")
        .count();
    assert_eq!(acks, 1, "one AlertAcknowledged in the alert's stream");
    let again = api.send("POST", &ack, Some(ADMIN_TOKEN), &[], None);
    assert_eq!(again.status, 409, "twice: {}", again.body);

    let active = api
        .get("/api/v1/alerts/active")
        .expect(200, "active")
        .json();
    assert_eq!(active["alerts"][0]["acknowledged"], true);
    assert_eq!(active["alerts"][0]["status"], "acknowledged");
    let history = api
        .get("/api/v1/alerts/history?limit=10")
        .expect(200, "alert history")
        .json();
    assert_eq!(history["alerts"][0]["id"], alert.as_str());
    // `/alerts/{id}` still answers for ids, and the aliases did not take it over.
    api.get(&format!("/api/v1/alerts/{alert}"))
        .expect(200, "one alert");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `/ws?protocol=seed004`, with a bearer token when given.
async fn seed_socket(base: &str, token: Option<&str>) -> Socket {
    let url = format!(
        "{}/ws?protocol=seed004",
        base.replacen("http://", "ws://", 1)
    );
    let mut request = url.into_client_request().expect("a WebSocket request");
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
    }
    tokio_tungstenite::connect_async(request)
        .await
        .expect("the upgrade succeeds")
        .0
}

/// Reads JSON frames until one satisfies `found`; every frame read, that one last.
async fn until(socket: &mut Socket, what: &str, found: impl Fn(&Value) -> bool) -> Vec<Value> {
    let started = Instant::now();
    let mut seen = Vec::new();
    while started.elapsed() < PATIENCE {
        let next = tokio::time::timeout(Duration::from_secs(1), socket.next()).await;
        let Ok(Some(frame)) = next else { continue };
        match frame.expect("the connection holds") {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).expect("JSON frames");
                let done = found(&value);
                seen.push(value);
                if done {
                    return seen;
                }
            }
            Message::Close(_) => panic!("closed while waiting for {what}; read {seen:?}"),
            _ => {}
        }
    }
    panic!("gave up waiting for {what}; read {seen:?}");
}

#[test]
fn a_seed004_dashboard_gets_its_named_messages_and_acks_an_alert() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), false);
    let api = Api::at(&server.base);
    let agent = create_token(dir.path(), "agent");
    let operator = create_token(dir.path(), "operator");
    let alert = firing_alert(&api, &agent);

    // An unknown protocol is refused before the upgrade.
    let refused = api.send(
        "GET",
        "/ws?protocol=socket.io",
        Some(ADMIN_TOKEN),
        &[],
        None,
    );
    assert_eq!(refused.status, 400, "{}", refused.body);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        // Authenticated by its first message, as on the native protocol.
        let mut socket = seed_socket(&server.base, None).await;
        socket
            .send(Message::text(
                json!({"type": "auth", "token": operator}).to_string(),
            ))
            .await
            .expect("sent");
        let mut seen = Vec::new();
        for kind in [
            "metrics_update",
            "status_update",
            "alerts_update",
            "health_check_complete",
        ] {
            if !seen.iter().any(|f: &Value| f["type"] == kind) {
                seen.extend(until(&mut socket, kind, |f| f["type"] == kind).await);
            }
        }
        let of = |kind: &str| {
            seen.iter()
                .find(|f| f["type"] == kind)
                .cloned()
                .unwrap_or_else(|| panic!("no {kind}"))
        };
        let metrics = of("metrics_update");
        assert!(metrics["timestamp"].is_string());
        for field in [
            "totalModulesProcessed",
            "totalResourcesGenerated",
            "averageProcessingTime",
            "successRate",
            "errorRate",
            "resourcesByType",
            "qualityScores",
            "performance",
        ] {
            assert!(
                metrics["data"].get(field).is_some(),
                "metrics_update has {field}"
            );
        }
        assert_eq!(metrics["data"]["totalResourcesGenerated"], 1, "one host");
        assert_eq!(metrics["data"]["health"]["status"], "healthy");
        let status = of("status_update");
        assert_eq!(status["data"]["isRunning"], true);
        assert!(status["data"]["uptime"].is_u64());
        let alerts = of("alerts_update");
        let first = &alerts["data"][0];
        assert_eq!(first["id"], alert.as_str());
        assert_eq!(first["type"], "host");
        assert_eq!(first["resourceId"], "web-1");
        assert_eq!(first["severity"], "warning");
        assert_eq!(first["acknowledged"], false);
        assert!(first["message"].is_string() && first["timestamp"].is_string());
        let health = of("health_check_complete");
        assert_eq!(health["data"]["status"], "healthy");
        assert_eq!(health["data"]["issues"], json!([]));

        // Junk gets an error frame, and the session reads on.
        for junk in [
            "not json",
            "[1]",
            r#"{"type":"subscribe","topics":["alerts"]}"#,
            r#"{"type":"ack","alertId":"nope"}"#,
            r#"{"type":"ack"}"#,
        ] {
            socket.send(Message::text(junk)).await.expect("sent");
            let frames = until(&mut socket, "an error", |f| f["type"] == "error").await;
            let error = frames.last().expect("the error");
            assert!(
                error["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{junk}: {error}"
            );
        }

        socket
            .send(Message::text(
                json!({"type": "ack", "alertId": alert}).to_string(),
            ))
            .await
            .expect("sent");
        let frames = until(&mut socket, "the ack", |f| f["type"] == "ack").await;
        let acked = frames.last().expect("the ack");
        assert_eq!(acked["data"]["alertId"], alert.as_str());
        assert_eq!(acked["data"]["acknowledged"], true);
        assert!(acked["data"]["position"].as_u64().is_some_and(|p| p > 0));
        until(&mut socket, "the acknowledged alert", |f| {
            f["type"] == "alerts_update" && f["data"][0]["acknowledged"] == true
        })
        .await;
        // A second ack of the same alert is refused with a reason.
        socket
            .send(Message::text(
                json!({"type": "ack", "alertId": alert}).to_string(),
            ))
            .await
            .expect("sent");
        until(&mut socket, "the refusal", |f| f["type"] == "error").await;

        // A viewer's session reads but may not ack.
        let mut viewer = seed_socket(&server.base, Some(&create_token(dir.path(), "viewer"))).await;
        until(&mut viewer, "alerts", |f| f["type"] == "alerts_update").await;
        viewer
            .send(Message::text(
                json!({"type": "ack", "alertId": alert}).to_string(),
            ))
            .await
            .expect("sent");
        let frames = until(&mut viewer, "the refusal", |f| f["type"] == "error").await;
        assert!(frames
            .last()
            .and_then(|f| f["detail"].as_str())
            .is_some_and(|d| d.contains("operator")));
    });
    let acks = replay(dir.path(), Some(&format!("alert-{alert}")))
        .into_iter()
        .filter(|e| e["type"] == "AlertAcknowledged")
        .count();
    assert_eq!(
        acks, 1,
        "the WebSocket ack went through the command path once"
    );
}
