//! The host API end to end: agent pushes (and their refusals), rates, the dead man's
//! switch, scraped node_exporters, series and deletion, against the real server.
//!
//! Waits poll with generous deadlines: the machine running the tests is slow and shared.

use std::path::Path;

use chrono::{Duration as TimeDelta, Utc};
use serde_json::{json, Value};

use super::api::{
    create_token as token, replay, start_in_process, start_server, wait_for, Api, ADMIN_TOKEN,
};
use super::helpers::TestServer;
use super::targets::NodeExporter;

/// A full push body as the agent sends it, sampled at `at` with counters `counters`.
fn body(hostname: &str, at: chrono::DateTime<Utc>, counters: [u64; 4]) -> Value {
    json!({
        "hostname": hostname,
        "timestamp": at,
        "cpu": {"cpu_percent_total": 45.2, "cpu_percent_per_core": [40.0, 50.4],
                "cpu_count_logical": 2, "load_average": [1.5, 1.2, 1.0]},
        "memory": {"memory_total": 8_589_934_592u64, "memory_used": 4_294_967_296u64, "memory_percent": 50.0},
        "disk": {"partitions": [{"mountpoint": "/", "total": 1000, "used": 250, "percent": 25.0}]},
        "io": {"network": {"bytes_sent": counters[0], "bytes_recv": counters[1]},
               "disk_io": {"read_bytes": counters[2], "write_bytes": counters[3]}}
    })
}

impl Api {
    /// Pushes `body` for `hostname` with `token`.
    fn push_as(&self, token: &str, hostname: &str, body: &Value) -> super::api::Reply {
        let path = format!("/api/v1/hosts/{hostname}/metrics");
        let bytes = body.to_string().into_bytes();
        self.send(
            "POST",
            &path,
            Some(token),
            &[],
            Some(("application/json", bytes)),
        )
    }

    /// `GET /hosts/{hostname}`, which must answer 200.
    fn host(&self, hostname: &str) -> Value {
        self.get(&format!("/api/v1/hosts/{hostname}"))
            .expect(200, "reading a host")
            .json()
    }
}

/// The `HostMetricsReported` events of a host's stream, as replay prints them.
fn samples(dir: &Path, hostname: &str) -> Vec<Value> {
    replay(dir, Some(&format!("host-{hostname}")))
        .into_iter()
        .filter(|e| e["type"] == "HostMetricsReported")
        .collect()
}

#[test]
fn a_first_push_registers_the_host_and_rates_come_from_the_counters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let agent = token(dir.path(), "agent");
    let t0 = Utc::now() - TimeDelta::seconds(20);

    let first = api
        .push_as(
            &agent,
            "web-1",
            &body("web-1", t0, [1_000, 2_000, 3_000, 4_000]),
        )
        .expect(200, "a first push");
    assert!(
        first.position() > 0,
        "answered with the position of a durable event"
    );
    assert_eq!(first.json()["status"], "up");
    let second = body(
        "web-1",
        t0 + TimeDelta::seconds(10),
        [11_000, 4_000, 3_000, 104_000],
    );
    api.push_as(&agent, "web-1", &second)
        .expect(200, "a second push");

    let host = api.host("web-1");
    assert_eq!(host["status"], "up");
    assert_eq!(host["source"], "agent");
    assert_eq!(host["samples"], 2);
    let m = &host["metrics"];
    assert_eq!(m["cpu"]["cpu_percent_total"], 45.2);
    assert_eq!(m["cpu"]["cpu_percent_per_core"], json!([40.0, 50.4]));
    assert_eq!(m["memory"]["memory_percent"], 50.0);
    assert_eq!(m["disk"]["partitions"][0]["mountpoint"], "/");
    let net = &m["io"]["network"];
    assert_eq!(net["bytes_sent"], 11_000);
    assert_eq!(net["bytes_sent_per_s"], 1_000.0, "10,000 bytes over 10 s");
    assert_eq!(net["bytes_recv_per_s"], 200.0);
    assert_eq!(m["io"]["disk_io"]["read_bytes_per_s"], 0.0);
    assert_eq!(m["io"]["disk_io"]["write_bytes_per_s"], 10_000.0);

    // A reboot resets the counters: no rate for that sample rather than a huge spike.
    let rebooted = body("web-1", t0 + TimeDelta::seconds(20), [10, 20, 30, 40]);
    api.push_as(&agent, "web-1", &rebooted)
        .expect(200, "a push after a reboot");
    let net = &api.host("web-1")["metrics"]["io"]["network"];
    assert_eq!(net["bytes_sent"], 10);
    assert_eq!(
        net["bytes_sent_per_s"],
        Value::Null,
        "no rate across a counter reset"
    );

    // The compatibility route takes the hostname from the body; so does the list.
    let compat = body("db-1", t0, [0, 0, 0, 0]);
    api.send(
        "POST",
        "/api/metrics",
        Some(&agent),
        &[],
        Some(("application/json", compat.to_string().into_bytes())),
    )
    .expect(200, "a push to /api/metrics");
    let list = api.get("/api/v1/hosts").expect(200, "listing hosts").json();
    let names: Vec<&str> = list["hosts"]
        .as_array()
        .expect("hosts is an array")
        .iter()
        .filter_map(|h| h["hostname"].as_str())
        .collect();
    assert_eq!(names, ["db-1", "web-1"]);
    assert_eq!(samples(dir.path(), "web-1").len(), 3);

    // A push that names its CPU count without per-core figures keeps the count.
    let mut counted = body("db-1", t0 + TimeDelta::seconds(10), [0, 0, 0, 0]);
    counted["cpu"] = json!({"cpu_percent_total": 12.5, "cpu_count_logical": 16});
    api.push_as(&agent, "db-1", &counted)
        .expect(200, "a push with a CPU count only");
    let cpu = &api.host("db-1")["metrics"]["cpu"];
    assert_eq!(cpu["cpu_count_logical"], 16, "{cpu}");
    assert_eq!(cpu["cpu_percent_per_core"], json!([]), "{cpu}");
}

#[test]
fn a_repeated_sample_is_acknowledged_and_recorded_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let at = Utc::now() - TimeDelta::seconds(5);
    let sample = body("web-1", at, [1, 2, 3, 4]);
    let first = api
        .push_as(ADMIN_TOKEN, "web-1", &sample)
        .expect(200, "first");
    let again = api
        .push_as(ADMIN_TOKEN, "web-1", &sample)
        .expect(200, "again");
    assert_eq!(again.json()["duplicate"], true);
    assert_eq!(first.json()["duplicate"], false);
    assert_eq!(
        samples(dir.path(), "web-1").len(),
        1,
        "a resent sample is not recorded twice"
    );
}

#[test]
fn bad_pushes_each_get_their_status_and_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let agent = token(dir.path(), "agent");
    let now = Utc::now();
    let good = body("web-1", now, [1, 2, 3, 4]);
    let before = replay(dir.path(), None).len();

    let json_bytes = |v: &Value| Some(("application/json", v.to_string().into_bytes()));
    let path = "/api/v1/hosts/web-1/metrics";
    let cases: Vec<(&str, u16, super::api::Reply)> = vec![
        (
            "no token",
            401,
            api.send("POST", path, None, &[], json_bytes(&good)),
        ),
        (
            "unknown token",
            401,
            api.send("POST", path, Some("wf_nope"), &[], json_bytes(&good)),
        ),
        (
            "malformed JSON",
            400,
            api.send(
                "POST",
                path,
                Some(&agent),
                &[],
                Some(("application/json", b"{\"cpu\":".to_vec())),
            ),
        ),
        (
            "not JSON",
            415,
            api.send(
                "POST",
                path,
                Some(&agent),
                &[],
                Some(("text/plain", b"cpu=1".to_vec())),
            ),
        ),
        (
            "a body over 1 MiB",
            413,
            api.send(
                "POST",
                path,
                Some(&agent),
                &[],
                Some(("application/json", vec![b' '; 2 * 1024 * 1024])),
            ),
        ),
    ];
    let cases = cases.into_iter().chain([
        // The agent role is the lowest: it may push, not read or add hosts.
        (
            "an agent reading hosts",
            403,
            api.send("GET", "/api/v1/hosts", Some(&agent), &[], None),
        ),
        (
            "an agent adding a host",
            403,
            api.send(
                "POST",
                "/api/v1/hosts",
                Some(&agent),
                &[],
                json_bytes(&json!({"hostname": "x", "scrape_url": "http://x/metrics"})),
            ),
        ),
    ]);
    for (what, status, reply) in cases {
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json"),
            "{what} answers problem+json"
        );
    }

    let with = |patch: Value| {
        let mut b = good.clone();
        merge(&mut b, patch);
        b
    };
    let invalid: Vec<(&str, &str, Value)> = vec![
        (
            "a negative size",
            "disk.partitions[0].total",
            with(json!({"disk": {"partitions": [{"mountpoint": "/", "total": -1, "used": 0}]}})),
        ),
        (
            "a percentage over 100",
            "cpu.cpu_percent_total",
            with(json!({"cpu": {"cpu_percent_total": 140.0}})),
        ),
        (
            "a core over 100",
            "cpu.cpu_percent_per_core[1]",
            with(json!({"cpu": {"cpu_percent_per_core": [10.0, 100.5]}})),
        ),
        (
            "a disk over 100",
            "disk.partitions[0].percent",
            with(
                json!({"disk": {"partitions": [{"mountpoint": "/", "total": 10, "used": 5, "percent": 250.0}]}}),
            ),
        ),
        (
            "more used than total",
            "memory.memory_used",
            with(json!({"memory": {"memory_total": 10, "memory_used": 20}})),
        ),
        (
            "a timestamp far in the future",
            "timestamp",
            with(json!({"timestamp": now + TimeDelta::days(1)})),
        ),
        (
            "a string for a number",
            "memory.memory_total",
            with(json!({"memory": {"memory_total": "lots"}})),
        ),
        (
            "another host in the body",
            "hostname",
            with(json!({"hostname": "web-2"})),
        ),
        (
            "a negative load",
            "cpu.load_average[0]",
            with(json!({"cpu": {"load_average": [-1.0, 0.0, 0.0]}})),
        ),
    ];
    for (what, field, bad) in invalid {
        let reply = api.push_as(&agent, "web-1", &bad);
        assert_eq!(reply.status, 422, "{what}: {}", reply.body);
        let detail = reply.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            detail.starts_with(field),
            "{what}: the detail names {field}: {detail}"
        );
    }
    for bad_name in ["-web", "web_1", "a..b", "web%20one"] {
        let reply = api.push_as(&agent, bad_name, &json!({}));
        assert_eq!(reply.status, 422, "hostname {bad_name:?}: {}", reply.body);
        assert!(reply.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("hostname"));
    }
    let compat = api.send(
        "POST",
        "/api/metrics",
        Some(&agent),
        &[],
        json_bytes(&json!({"cpu": {}})),
    );
    assert_eq!(
        compat.status, 422,
        "/api/metrics without a hostname: {}",
        compat.body
    );

    let after: Vec<Value> = replay(dir.path(), None)
        .into_iter()
        .filter(|e| e["stream"].as_str().is_some_and(|s| s.starts_with("host-")))
        .collect();
    assert!(
        after.is_empty(),
        "no refused push wrote anything: {after:?}"
    );
    assert!(replay(dir.path(), None).len() >= before);
    api.push_as(&agent, "web-1", &good)
        .expect(200, "the good push after all that");
}

/// Sets the fields of `patch` into `base`, object by object.
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

#[test]
fn a_silent_host_goes_stale_within_its_window_and_recovers_on_its_next_sample() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    // An agent that says it pushes every second: its window is three seconds.
    let mut sample = body("quiet-1", Utc::now(), [1, 1, 1, 1]);
    sample["interval_s"] = json!(1);
    api.push_as(ADMIN_TOKEN, "quiet-1", &sample)
        .expect(200, "a push");
    assert_eq!(api.host("quiet-1")["stale_after_s"], 3);
    let stale = wait_for("the host to go stale", || {
        let h = api.host("quiet-1");
        (h["status"] == "stale").then_some(h)
    });
    assert_eq!(stale["samples"], 1);

    let mut next = body("quiet-1", Utc::now(), [2, 2, 2, 2]);
    next["interval_s"] = json!(1);
    let reply = api
        .push_as(ADMIN_TOKEN, "quiet-1", &next)
        .expect(200, "the next push");
    assert_eq!(
        reply.json()["status"],
        "up",
        "the sample that arrives recovers the host"
    );

    let events = replay(dir.path(), Some("host-quiet-1"));
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "HostRegistered",
            "HostMetricsReported",
            "HostWentStale",
            "HostMetricsReported",
            "HostRecovered"
        ]
    );
    assert_eq!(
        events[4]["causation"], events[3]["position"],
        "the recovery is caused by the sample"
    );
    assert_eq!(events[2]["data"]["window_s"], 3);
}

#[test]
fn a_scraped_node_exporter_reports_the_same_metrics_as_the_agent() {
    let exporter = NodeExporter::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let created = api
        .post(
            "/api/v1/hosts",
            &json!({"hostname": "node-1", "scrape_url": exporter.url(), "interval_s": 1}),
        )
        .expect(201, "adding a scraped host");
    assert_eq!(created.header("location"), Some("/api/v1/hosts/node-1"));
    assert_eq!(created.json()["status"], "pending");
    api.post(
        "/api/v1/hosts",
        &json!({"hostname": "node-1", "scrape_url": exporter.url()}),
    )
    .expect(409, "adding it twice");

    // CPU percentages need two scrapes.
    let host = wait_for("two scrapes with a CPU figure", || {
        let h = api.host("node-1");
        h["metrics"]["cpu"]["cpu_percent_total"]
            .is_number()
            .then_some(h)
    });
    assert_eq!(host["status"], "up");
    assert_eq!(host["source"], "scrape");
    let m = &host["metrics"];
    let cpu = m["cpu"]["cpu_percent_total"].as_f64().expect("cpu percent");
    assert!((0.0..=100.0).contains(&cpu), "cpu {cpu}");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(
        m["cpu"]["cpu_percent_per_core"].as_array().map(Vec::len),
        Some(cores),
        "one figure per core"
    );
    assert!(m["cpu"]["load_average"][0].is_number());
    assert!(m["memory"]["memory_total"].as_u64().unwrap_or(0) > 0);
    let mem = m["memory"]["memory_percent"]
        .as_f64()
        .expect("memory percent");
    assert!((0.0..=100.0).contains(&mem));
    assert!(m["io"]["network"]["bytes_recv"].is_u64());
    assert!(m["io"]["network"]["bytes_recv_per_s"].is_number());

    // The same names as an agent's push, and nothing else.
    api.push_as(
        ADMIN_TOKEN,
        "agent-1",
        &body("agent-1", Utc::now(), [1, 2, 3, 4]),
    )
    .expect(200, "an agent push");
    let agent = api.host("agent-1");
    assert_eq!(
        keys(m),
        keys(&agent["metrics"]),
        "scraped and pushed hosts look alike"
    );
}

/// Every key path of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        if let Value::Object(map) = v {
            for (k, child) in map {
                let path = format!("{prefix}{k}");
                out.push(path.clone());
                walk(&format!("{path}."), child, out);
            }
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out.sort();
    out
}

#[test]
fn a_scrape_that_fails_is_recorded_and_the_host_goes_stale() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let closed = super::helpers::free_port();
    api.post(
        "/api/v1/hosts",
        &json!({"hostname": "gone-1", "scrape_url": format!("http://127.0.0.1:{closed}/metrics"),
                "interval_s": 1, "stale_after_s": 3}),
    )
    .expect(201, "adding a host nobody serves");
    let host = wait_for("the host to go stale", || {
        let h = api.host("gone-1");
        (h["status"] == "stale").then_some(h)
    });
    let error = host["last_error"].as_str().unwrap_or_default().to_owned();
    assert!(
        error.contains("cannot scrape"),
        "the failure is shown: {error}"
    );
    for (body, field) in [
        (
            json!({"hostname": "x", "scrape_url": "ftp://x/metrics"}),
            "scrape_url",
        ),
        (
            json!({"hostname": "x", "scrape_url": "not a url"}),
            "scrape_url",
        ),
        (json!({"hostname": "x"}), "scrape_url"),
        (
            json!({"hostname": "x_y", "scrape_url": "http://x/metrics"}),
            "hostname",
        ),
        (
            json!({"hostname": "x", "scrape_url": "http://x/metrics", "interval_s": 0}),
            "interval_s",
        ),
        (
            json!({"hostname": "x", "scrape_url": "http://x/metrics", "interval_s": 10, "stale_after_s": 5}),
            "stale_after_s",
        ),
        (
            json!({"hostname": "x", "scrape_url": "http://x/metrics", "colour": "red"}),
            "colour",
        ),
    ] {
        let reply = api.post("/api/v1/hosts", &body);
        assert_eq!(reply.status, 422, "{body}: {}", reply.body);
        let detail = reply.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            detail.contains(field),
            "{body}: the detail names {field}: {detail}"
        );
    }
}

#[test]
fn a_deleted_host_is_gone_and_its_next_push_registers_it_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let first = api
        .push_as(
            ADMIN_TOKEN,
            "web-1",
            &body("web-1", Utc::now(), [1, 1, 1, 1]),
        )
        .expect(200, "a push");
    let version = first.etag_version();
    api.command("DELETE", "/api/v1/hosts/web-1", None, Some(version + 7))
        .expect(409, "a stale If-Match");
    api.command("DELETE", "/api/v1/hosts/web-1", None, Some(version))
        .expect(200, "deleting");
    api.get("/api/v1/hosts/web-1").expect(404, "a deleted host");
    api.command("DELETE", "/api/v1/hosts/web-1", None, None)
        .expect(404, "deleting twice");
    api.push_as(
        ADMIN_TOKEN,
        "web-1",
        &body("web-1", Utc::now(), [2, 2, 2, 2]),
    )
    .expect(200, "a push after the delete");
    let host = api.host("web-1");
    assert_eq!(host["samples"], 1, "a host registered anew starts afresh");
    let types: Vec<String> = replay(dir.path(), Some("host-web-1"))
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        types,
        [
            "HostRegistered",
            "HostMetricsReported",
            "HostDeleted",
            "HostRegistered",
            "HostMetricsReported"
        ]
    );
}

#[test]
fn hosts_keep_their_status_and_latest_sample_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = Utc::now() - TimeDelta::seconds(3);
    {
        let server = start_server(dir.path(), &[]);
        let api = Api::new(&server);
        api.push_as(ADMIN_TOKEN, "web-1", &body("web-1", at, [5, 5, 5, 5]))
            .expect(200, "a push");
        api.host("web-1");
        assert!(server.terminate().success());
    }
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    let host = api.host("web-1");
    assert_eq!(host["status"], "up");
    assert_eq!(host["metrics"]["io"]["network"]["bytes_sent"], 5);
    // The actor knows its last sample: the same one again is a duplicate, a newer one has rates.
    let again = api
        .push_as(ADMIN_TOKEN, "web-1", &body("web-1", at, [5, 5, 5, 5]))
        .expect(200, "the same sample");
    assert_eq!(again.json()["duplicate"], true);
    let later = body("web-1", at + TimeDelta::seconds(1), [105, 5, 5, 5]);
    let reply = api
        .push_as(ADMIN_TOKEN, "web-1", &later)
        .expect(200, "a newer sample");
    assert_eq!(
        reply.json()["metrics"]["io"]["network"]["bytes_sent_per_s"],
        100.0
    );
}

#[test]
fn series_pick_their_step_from_the_range_and_hold_the_pushed_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    // Six samples a minute apart, ending now: cpu 10, 20, ..., 60.
    let now = Utc::now();
    for i in 0..6i64 {
        let mut b = body("web-1", now - TimeDelta::minutes(5 - i), [0, 0, 0, 0]);
        b["cpu"]["cpu_percent_total"] = json!((i + 1) as f64 * 10.0);
        api.push_as(ADMIN_TOKEN, "web-1", &b).expect(200, "a push");
    }
    let since = (now - TimeDelta::minutes(10)).to_rfc3339();
    let until = (now + TimeDelta::minutes(1)).to_rfc3339();
    let query = |extra: &str| {
        let path = format!(
            "/api/v1/hosts/web-1/series?metric=cpu_percent&since={}&until={}{extra}",
            urlencode(&since),
            urlencode(&until)
        );
        api.get(&path).expect(200, "a series").json()
    };
    let fine = query("");
    assert_eq!(fine["step"], "1m", "a short range gets minutes: {fine}");
    let points = fine["points"].as_array().expect("points");
    let values: Vec<f64> = points.iter().filter_map(|p| p["last"].as_f64()).collect();
    assert_eq!(values, [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
    let hourly = query("&step=1h");
    let total: u64 = hourly["points"]
        .as_array()
        .map_or(0, |p| p.iter().filter_map(|p| p["count"].as_u64()).sum());
    assert_eq!(total, 6, "an hour's buckets hold every sample: {hourly}");
    let max = hourly["points"]
        .as_array()
        .and_then(|p| p.iter().filter_map(|p| p["max"].as_f64()).reduce(f64::max));
    assert_eq!(max, Some(60.0));
    let wide = api
        .get(&format!(
            "/api/v1/hosts/web-1/series?metric=cpu_percent&since={}",
            urlencode(&(now - TimeDelta::days(20)).to_rfc3339())
        ))
        .expect(200, "a wide series")
        .json();
    assert_eq!(wide["step"], "1h", "twenty days get hours: {wide}");
    let disk = api
        .get("/api/v1/hosts/web-1/series?metric=disk_percent:/")
        .expect(200, "a disk series")
        .json();
    assert_eq!(disk["points"][0]["last"], 25.0);
    api.get("/api/v1/hosts/web-1/series?metric=bogus")
        .expect(400, "an unknown metric");
    api.get("/api/v1/hosts/web-1/series")
        .expect(400, "no metric");
    api.get("/api/v1/hosts/web-1/series?metric=cpu_percent&step=2m")
        .expect(400, "an unknown step");
    api.get("/api/v1/hosts/nope/series?metric=cpu_percent")
        .expect(404, "an unknown host");
}

/// Percent-encodes the `+` and `:` of an RFC 3339 time for a query string.
fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[test]
fn retention_removes_samples_older_than_raw_days_by_the_servers_clock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = std::sync::Arc::new(watchfire::clock::ManualClock::new(Utc::now()));
    let server = TestServer::start_with_clock(dir.path(), ADMIN_TOKEN, clock.clone(), |s| {
        s.retention.raw_days = 1;
        s.retention.interval_s = 10;
    });
    let api = Api::at(&server.base);
    let agent = token(dir.path(), "agent");
    let at = Utc::now() - TimeDelta::seconds(20);
    api.push_as(&agent, "old-1", &body("old-1", at, [1, 2, 3, 4]))
        .expect(200, "a push");
    assert_eq!(
        samples(dir.path(), "old-1").len(),
        1,
        "the sample is recorded"
    );

    // Two days pass on the server's clock in no time: the next pass (on its real 10 s
    // timer) finds the sample older than a day.
    clock.advance(TimeDelta::days(2));
    wait_for("the sample to expire", || {
        samples(dir.path(), "old-1").is_empty().then_some(())
    });
    let applied: Vec<Value> = replay(dir.path(), Some("system"))
        .into_iter()
        .filter(|e| e["type"] == "RetentionApplied")
        .collect();
    assert!(!applied.is_empty(), "the pass is recorded");
}
