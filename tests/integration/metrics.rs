//! `/metrics` per monitor and per host, read from the read models: several monitors of
//! every state and kind, names and tags with quotes and backslashes, a host's gauges, all
//! accepted by `promtool check metrics` but for the unit lint of the seed's and Uptime
//! Kuma's names; and those names themselves, Kuma's unprefixed ones only when asked.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::api::{start_in_process, start_server, wait_for, Api};
use super::audit::{promtool, samples};
use super::helpers::free_port;
use super::targets::{HttpTarget, HttpsTarget};

const MONITORS: &str = "/api/v1/monitors";

fn create(api: &Api, body: Value) -> String {
    api.post(MONITORS, &body)
        .expect(201, "creating a monitor")
        .json()["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

fn status_of(api: &Api, id: &str) -> Value {
    api.get(&format!("{MONITORS}/{id}"))
        .expect(200, "a monitor")
        .json()
}

/// Names kept for the dashboards that query them, which promtool's lint would have in
/// base units: the seed's and Uptime Kuma's.
pub(super) const SEED_UNIT_NAMES: [&str; 2] = [
    "watchfire_monitor_check_duration_milliseconds",
    "watchfire_monitor_cert_days_remaining",
];
const KUMA_UNIT_NAME: &str = "monitor_cert_days_remaining";

/// Runs `promtool check metrics` over `text` and fails unless its only complaints are
/// "use base unit" lints of exactly the families `linted` (no parse error, no other lint).
pub(super) fn promtool_lints_only(text: &str, linted: &[&str]) {
    let (code, printed) = promtool(text);
    let lines: Vec<&str> = printed.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut names = BTreeSet::new();
    for line in &lines {
        let name = line
            .split_once(" use base unit \"seconds\" instead of ")
            .map(|(name, _)| name)
            .unwrap_or_else(|| panic!("only unit lints from promtool, not {line:?}\n{text}"));
        names.insert(name);
    }
    let expected: BTreeSet<&str> = linted.iter().copied().collect();
    assert_eq!(names, expected, "linted families: {printed}");
    // 3 is promtool's exit code for lint problems alone; a parse error is 1.
    let want = if linted.is_empty() { 0 } else { 3 };
    assert_eq!(code, want, "promtool's exit: {printed}");
}

/// The value of the one sample of `name` whose labels include `labels`.
fn value(text: &str, name: &str, labels: &[&str]) -> f64 {
    let found = samples(text, name, labels);
    assert_eq!(
        found.len(),
        1,
        "one {name} with {labels:?}: {found:?}\n{text}"
    );
    found[0]
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a number ends {:?}", found[0]))
}

#[test]
fn per_monitor_and_per_host_metrics_pass_promtool_with_escaped_labels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let web = HttpTarget::start();
    let tls = HttpsTarget::start(30);

    let ping = create(
        &api,
        json!({"name": "gw \"core\" \\ 1", "kind": "ping", "host": "127.0.0.1", "interval_s": 2,
               "timeout_ms": 1500, "count": 1, "tags": ["rack \"A\"", "back\\slash"]}),
    );
    let up = create(
        &api,
        json!({"name": "web", "kind": "http", "url": web.url("/"), "interval_s": 1, "timeout_ms": 900}),
    );
    let https = create(
        &api,
        json!({"name": "tls", "kind": "http", "url": tls.url("/"), "interval_s": 2,
               "timeout_ms": 1500, "ignore_tls_errors": true}),
    );
    let closed = free_port();
    let down = create(
        &api,
        json!({"name": "closed", "kind": "tcp", "host": "127.0.0.1", "port": closed, "interval_s": 1, "timeout_ms": 900}),
    );
    let paused = create(
        &api,
        json!({"name": "paused", "kind": "tcp", "host": "127.0.0.1", "port": closed, "paused": true}),
    );
    let pending = create(
        &api,
        json!({"name": "cron", "kind": "push", "interval_s": 3600}),
    );
    api.send(
        "POST",
        "/api/v1/hosts/db-1/metrics",
        Some(super::api::ADMIN_TOKEN),
        &[],
        Some((
            "application/json",
            json!({"hostname": "db-1",
                   "cpu": {"cpu_percent_total": 45.5, "load_average": [1.5, 1.25, 1.0]},
                   "memory": {"memory_total": 8000, "memory_used": 2000, "memory_percent": 25.0},
                   "disk": {"partitions": [{"mountpoint": "/var \"data\"", "total": 100, "used": 50, "percent": 50.0}]}})
            .to_string()
            .into_bytes(),
        )),
    )
    .expect(200, "a host push");

    wait_for("every monitor settled", || {
        let settled = status_of(&api, &ping)["status"] == "up"
            && status_of(&api, &up)["status"] == "up"
            && status_of(&api, &https)["cert_expires_at"].is_string()
            && status_of(&api, &down)["status"] == "down";
        settled.then_some(())
    });
    let text = wait_for("the host in /metrics", || {
        let text = api.get("/metrics").expect(200, "/metrics").body;
        text.contains("watchfire_host_cpu_percent{").then_some(text)
    });

    promtool_lints_only(&text, &SEED_UNIT_NAMES);
    // Uptime Kuma's unprefixed names only when asked (metrics.uptime_kuma_names).
    assert!(
        !text.lines().any(|l| l.starts_with("monitor_")
            || l.starts_with("# TYPE monitor_")
            || l.starts_with("# HELP monitor_")),
        "no Kuma names by default:\n{text}"
    );

    let ping_labels = [
        format!("monitor_id=\"{ping}\""),
        r#"monitor_name="gw \"core\" \\ 1""#.to_owned(),
        r#"monitor_type="ping""#.to_owned(),
        r#"monitor_hostname="127.0.0.1""#.to_owned(),
        r#"monitor_tags="rack \"A\",back\\slash""#.to_owned(),
    ];
    let ping_labels: Vec<&str> = ping_labels.iter().map(String::as_str).collect();
    assert_eq!(value(&text, "watchfire_monitor_status", &ping_labels), 1.0);
    assert!(value(&text, "watchfire_monitor_response_time", &ping_labels) >= 0.0);
    assert_eq!(
        value(&text, "watchfire_monitor_ping_loss_percent", &ping_labels),
        0.0
    );
    let ok = value(
        &text,
        "watchfire_monitor_checks_total",
        &[ping_labels[0], r#"result="ok""#],
    );
    assert!(ok >= 1.0);

    let id = |id: &str| format!("monitor_id=\"{id}\"");
    assert_eq!(value(&text, "watchfire_monitor_status", &[&id(&up)]), 1.0);
    assert_eq!(value(&text, "watchfire_monitor_status", &[&id(&down)]), 0.0);
    assert_eq!(
        value(&text, "watchfire_monitor_status", &[&id(&pending)]),
        2.0
    );
    assert_eq!(
        value(&text, "watchfire_monitor_status", &[&id(&paused)]),
        3.0
    );
    let web_labels = [
        id(&up),
        r#"monitor_type="http""#.to_owned(),
        format!("monitor_url=\"{}\"", web.url("/")),
        r#"monitor_hostname="127.0.0.1""#.to_owned(),
    ];
    let web_labels: Vec<&str> = web_labels.iter().map(String::as_str).collect();
    assert!(value(&text, "watchfire_monitor_response_time", &web_labels) > 0.0);
    assert!(
        value(
            &text,
            "watchfire_monitor_checks_total",
            &[&id(&down), r#"result="failed""#]
        ) >= 1.0
    );
    let left = value(
        &text,
        "watchfire_monitor_cert_expiration_seconds",
        &[&id(&https)],
    );
    let days = left / 86_400.0;
    assert!(
        (29.0..=30.0).contains(&days),
        "30 days, less a moment: {days}"
    );
    assert_eq!(
        value(
            &text,
            "watchfire_monitor_cert_days_remaining",
            &[&id(&https)]
        ),
        30.0,
        "a 30-day certificate, rounded as Uptime Kuma does"
    );
    assert_eq!(
        value(&text, "watchfire_monitor_cert_is_valid", &[&id(&https)]),
        1.0
    );
    for name in [
        "watchfire_monitor_cert_expiration_seconds",
        "watchfire_monitor_cert_days_remaining",
        "watchfire_monitor_cert_is_valid",
    ] {
        assert!(
            samples(&text, name, &[&id(&up)]).is_empty(),
            "plain http has no certificate: {name}"
        );
    }
    // The duration histogram is by kind: a series set per monitor would bloat big scrapes.
    let http = r#"monitor_type="http""#;
    let count = value(
        &text,
        "watchfire_monitor_check_duration_seconds_count",
        &[http],
    );
    let inf = value(
        &text,
        "watchfire_monitor_check_duration_seconds_bucket",
        &[http, r#"le="+Inf""#],
    );
    assert!(count >= 2.0 && inf == count, "{count} {inf}");
    // The seed's name: the same histogram in milliseconds, from the same scrape.
    let ms = "watchfire_monitor_check_duration_milliseconds";
    assert_eq!(value(&text, &format!("{ms}_count"), &[http]), count);
    assert_eq!(
        value(&text, &format!("{ms}_bucket"), &[http, r#"le="+Inf""#]),
        count
    );
    for (s_le, ms_le) in [("0.005", "5"), ("0.25", "250"), ("30", "30000")] {
        assert_eq!(
            value(
                &text,
                &format!("{ms}_bucket"),
                &[http, &format!("le=\"{ms_le}\"")]
            ),
            value(
                &text,
                "watchfire_monitor_check_duration_seconds_bucket",
                &[http, &format!("le=\"{s_le}\"")]
            ),
            "bucket {ms_le} ms"
        );
    }
    let sum_s = value(
        &text,
        "watchfire_monitor_check_duration_seconds_sum",
        &[http],
    );
    let sum_ms = value(&text, &format!("{ms}_sum"), &[http]);
    assert!(
        (sum_ms - sum_s * 1000.0).abs() < 1e-6 * sum_ms.max(1.0),
        "{sum_ms} {sum_s}"
    );
    // The seed's counter: every check of the up http monitor passed.
    assert_eq!(
        value(
            &text,
            "watchfire_monitor_checks_total",
            &[&id(&up), r#"result="failed""#]
        ),
        0.0
    );
    // Active: all but the paused one; no alert rule, so no incident.
    assert_eq!(value(&text, "watchfire_active_monitors", &[]), 5.0);
    assert_eq!(value(&text, "watchfire_active_incidents", &[]), 0.0);

    let host = [r#"host="db-1""#];
    assert_eq!(value(&text, "watchfire_host_up", &host), 1.0);
    assert_eq!(value(&text, "watchfire_host_cpu_percent", &host), 45.5);
    assert_eq!(value(&text, "watchfire_host_memory_percent", &host), 25.0);
    assert_eq!(value(&text, "watchfire_host_load5", &host), 1.25);
    assert_eq!(
        value(
            &text,
            "watchfire_host_disk_used_percent",
            &[host[0], r#"mountpoint="/var \"data\"""#]
        ),
        50.0
    );
    drop(server);
}

#[test]
fn uptime_kuma_names_with_kuma_labels_when_the_environment_asks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(
        dir.path(),
        &[("WATCHFIRE_METRICS__UPTIME_KUMA_NAMES", "true")],
    );
    let api = Api::at(&server.base);
    let tls = HttpsTarget::start(30);
    let https = create(
        &api,
        json!({"name": "tls \"edge\"", "kind": "http", "url": tls.url("/"), "interval_s": 1,
               "timeout_ms": 900, "ignore_tls_errors": true}),
    );
    let closed = free_port();
    let down = create(
        &api,
        json!({"name": "closed", "kind": "tcp", "host": "127.0.0.1", "port": closed,
               "interval_s": 1, "timeout_ms": 900}),
    );
    wait_for("both monitors settled", || {
        let settled = status_of(&api, &https)["status"] == "up"
            && status_of(&api, &https)["cert_expires_at"].is_string()
            && status_of(&api, &down)["status"] == "down";
        settled.then_some(())
    });
    let text = api.get("/metrics").expect(200, "/metrics").body;
    let mut linted = SEED_UNIT_NAMES.to_vec();
    linted.push(KUMA_UNIT_NAME);
    promtool_lints_only(&text, &linted);

    // Exactly Kuma's five labels, in its order, so its dashboards' queries match.
    let tls_labels = format!(
        "{{monitor_name=\"tls \\\"edge\\\"\",monitor_type=\"http\",monitor_url=\"{}\",monitor_hostname=\"127.0.0.1\",monitor_port=\"\"}}",
        tls.url("/")
    );
    let down_labels = format!(
        "{{monitor_name=\"closed\",monitor_type=\"tcp\",monitor_url=\"\",monitor_hostname=\"127.0.0.1\",monitor_port=\"{closed}\"}}"
    );
    let line = |name: &str, labels: &str| -> f64 {
        let prefix = format!("{name}{labels} ");
        let found: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
        assert_eq!(found.len(), 1, "one {prefix}:\n{text}");
        found[0][prefix.len()..]
            .parse()
            .unwrap_or_else(|_| panic!("a number ends {:?}", found[0]))
    };
    assert_eq!(line("monitor_status", &tls_labels), 1.0);
    assert_eq!(line("monitor_status", &down_labels), 0.0);
    assert!(line("monitor_response_time", &tls_labels) > 0.0);
    assert_eq!(line("monitor_cert_days_remaining", &tls_labels), 30.0);
    assert_eq!(line("monitor_cert_is_valid", &tls_labels), 1.0);
    for name in ["monitor_cert_days_remaining", "monitor_cert_is_valid"] {
        assert!(
            !text.contains(&format!("{name}{down_labels}")),
            "a tcp monitor has no certificate: {name}"
        );
    }
    // Our own series are all still there beside Kuma's.
    assert_eq!(
        value(
            &text,
            "watchfire_monitor_status",
            &[&format!("monitor_id=\"{down}\"")]
        ),
        0.0
    );
    assert_eq!(value(&text, "watchfire_active_monitors", &[]), 2.0);
    drop(server);
}
