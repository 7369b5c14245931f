//! Alerting end to end against the real server: rules over real monitors and host
//! pushes, alerts through their lifecycle, notifications to real local HTTP receivers
//! (webhook, Slack and Discord shapes), retries, acknowledgements, silences and restarts,
//! with the whole chain read back from the log.
//!
//! Waits poll with generous deadlines: the machine running the tests is slow and shared.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::api::{create_token, replay, start_server, wait_for, Api, ADMIN_TOKEN};
use super::helpers::{free_port, Server};
use super::notify::{part, Mode, SmtpServer};
use super::targets::{HttpTarget, SeenRequest};

/// Retries fast enough for a test: 4 attempts, 500 ms then doubling.
const FAST_RETRIES: &[(&str, &str)] = &[
    ("WATCHFIRE_NOTIFICATIONS__MAX_ATTEMPTS", "4"),
    ("WATCHFIRE_NOTIFICATIONS__FIRST_RETRY_MS", "500"),
];

fn start(dir: &Path, extra: &[(&str, &str)]) -> Server {
    let mut envs: Vec<(&str, &str)> = FAST_RETRIES.to_vec();
    envs.extend_from_slice(extra);
    start_server(dir, &envs)
}

impl Api {
    /// Creates a resource that must answer 201: its id.
    fn create_id(&self, path: &str, body: &Value) -> String {
        let reply = self.post(path, body).expect(201, &format!("POST {path}"));
        reply.json()["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{path} answered without an id"))
            .to_owned()
    }

    /// A webhook channel to `url`, signed with `secret`.
    fn webhook(&self, url: &str, secret: &str) -> String {
        self.create_id(
            "/api/v1/channels",
            &json!({"name": "hook", "kind": "webhook", "url": url, "secret": secret}),
        )
    }

    /// Pushes one host sample with `cpu` percent, as admin.
    fn push_cpu(&self, host: &str, cpu: f64) {
        let body =
            json!({"timestamp": Utc::now(), "cpu": {"cpu_percent_total": cpu}, "tags": ["prod"]});
        let path = format!("/api/v1/hosts/{host}/metrics");
        self.send(
            "POST",
            &path,
            Some(ADMIN_TOKEN),
            &[],
            Some(("application/json", body.to_string().into_bytes())),
        )
        .expect(200, "a host push");
    }

    /// The alerts `GET /alerts?{query}` lists.
    fn alerts(&self, query: &str) -> Vec<Value> {
        self.get(&format!("/api/v1/alerts?{query}"))
            .expect(200, "listing alerts")
            .json()["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// The JSON bodies a receiver got, parsed.
fn bodies(target: &HttpTarget) -> Vec<(SeenRequest, Value)> {
    target
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            let v = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            (r, v)
        })
        .collect()
}

/// The events of the log whose type is one of `types`, in order.
fn events_of(dir: &Path, types: &[&str]) -> Vec<Value> {
    replay(dir, None)
        .into_iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| types.contains(&t)))
        .collect()
}

/// Waits until the log holds at least `n` events of type `ty`, and returns them.
///
/// A receiver has a notification a moment before the server records it as
/// sent, so a test that has seen the message waits for its record too.
fn wait_for_events(dir: &Path, ty: &str, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} {ty} events"), || {
        let got = events_of(dir, &[ty]);
        (got.len() >= n).then_some(got)
    })
}

fn time(e: &Value) -> DateTime<Utc> {
    e["timestamp"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("an event without a time: {e}"))
}

#[test]
fn a_failing_target_fires_its_rule_notifies_signed_and_resolves_with_the_chain_in_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &[]);
    let api = Api::new(&server);
    let target = HttpTarget::start();
    let hook = HttpTarget::start();
    let slack = HttpTarget::start();
    let discord = HttpTarget::start();
    let secret = "hook-secret-123";
    let hook_id = api.webhook(&hook.url("/hook"), secret);
    let slack_id = api.create_id(
        "/api/v1/channels",
        &json!({"name": "s", "kind": "slack", "webhook_url": slack.url("/services/T/B/X")}),
    );
    let discord_id = api.create_id(
        "/api/v1/channels",
        &json!({"name": "d", "kind": "discord", "webhook_url": discord.url("/api/webhooks/1/x")}),
    );
    let channels = api.get("/api/v1/channels").expect(200, "channels").body;
    assert!(
        !channels.contains(secret),
        "a channel's secret is never answered: {channels}"
    );
    assert!(
        !channels.contains("/services/T/B/X"),
        "a Slack URL is a secret too: {channels}"
    );

    let monitor = api.create_id(
        "/api/v1/monitors",
        &json!({"name": "shop", "kind": "http", "url": target.url("/health"), "interval_s": 1, "timeout_ms": 900}),
    );
    let rule = api.create_id(
        "/api/v1/alert-rules",
        &json!({"name": "shop down", "severity": "critical",
                "condition": {"kind": "monitor_down", "monitor": monitor},
                "channels": [hook_id, slack_id, discord_id], "repeat_interval_s": 0}),
    );
    api.get(&format!("/api/v1/alert-rules/{rule}"))
        .expect(200, "the rule");
    api.get(&format!("/api/v1/monitors/{monitor}"));
    wait_for("the monitor to be up", || {
        (api.get(&format!("/api/v1/monitors/{monitor}")).json()["status"] == "up").then_some(())
    });

    target.set_status(503);
    let firing = wait_for("a firing webhook", || {
        bodies(&hook)
            .into_iter()
            .find(|(_, b)| b["state"] == "firing")
    });
    let (request, body) = firing;
    let expected = watchfire::notify::webhook_signature(secret, request.body.as_bytes());
    assert_eq!(
        request.header("watchfire-signature"),
        Some(expected.as_str()),
        "the signature verifies over the exact body"
    );
    assert!(expected.starts_with("sha256="));
    assert_eq!(body["rule"], "shop down");
    assert_eq!(body["severity"], "critical");
    assert!(
        body["subject"]
            .as_str()
            .unwrap_or_default()
            .contains("shop"),
        "{body}"
    );
    let slack_body = wait_for("a Slack message", || bodies(&slack).into_iter().next());
    assert!(
        slack_body.1["text"].is_string() && slack_body.1["blocks"].is_array(),
        "{}",
        slack_body.1
    );
    let discord_body = wait_for("a Discord message", || bodies(&discord).into_iter().next());
    assert!(
        discord_body.1["embeds"][0]["title"].is_string(),
        "{}",
        discord_body.1
    );

    // The webhook is sent once the firing is in the log; the read model may lag a moment.
    let alerts = wait_for("the firing alert in the API", || {
        let alerts = api.alerts("state=firing");
        (!alerts.is_empty()).then_some(alerts)
    });
    assert_eq!(
        alerts.len(),
        1,
        "one alert for one rule and subject: {alerts:?}"
    );
    let alert_id = alerts[0]["id"].as_str().unwrap_or_default().to_owned();
    let detail = api
        .get(&format!("/api/v1/alerts/{alert_id}"))
        .expect(200, "the alert")
        .json();
    let chain: Vec<&str> = detail["causation_chain"]
        .as_array()
        .map(|c| c.iter().filter_map(|e| e["type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        chain,
        ["AlertFired", "MonitorWentDown", "MonitorChecked"],
        "the chain goes down to the check: {detail}"
    );
    assert_eq!(detail["causation_chain"][2]["data"]["status_code"], 503);

    target.set_status(200);
    wait_for("a resolved webhook", || {
        bodies(&hook)
            .into_iter()
            .find(|(_, b)| b["state"] == "resolved")
    });
    wait_for("the alert to resolve", || {
        (api.get(&format!("/api/v1/alerts/{alert_id}")).json()["state"] == "resolved").then_some(())
    });
    let notified = bodies(&hook);
    assert_eq!(
        notified.len(),
        2,
        "one firing and one resolved notification, each once: {notified:?}"
    );

    // In the log, in order: down, opened and fired (caused by the down), the request
    // (caused by the firing), its delivery, then recovery, resolution and its request.
    let log = events_of(
        dir.path(),
        &[
            "MonitorWentDown",
            "MonitorRecovered",
            "AlertOpened",
            "AlertFired",
            "AlertResolved",
            "NotificationRequested",
        ],
    );
    let types: Vec<&str> = log.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "MonitorWentDown",
            "AlertOpened",
            "AlertFired",
            "NotificationRequested",
            "MonitorRecovered",
            "AlertResolved",
            "NotificationRequested"
        ]
    );
    assert_eq!(
        log[2]["causation"], log[0]["position"],
        "the alert fired because the monitor went down"
    );
    assert_eq!(
        log[3]["causation"], log[2]["position"],
        "the notification was asked for because it fired"
    );
    assert_eq!(
        log[5]["causation"], log[4]["position"],
        "it resolved because the monitor recovered"
    );
    let sent = wait_for_events(dir.path(), "NotificationSent", 6);
    assert_eq!(
        sent.len(),
        6,
        "three channels, two notifications each: {sent:?}"
    );
}

#[test]
fn a_metric_spike_shorter_than_for_s_does_not_fire_and_a_longer_one_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &[]);
    let api = Api::new(&server);
    let hook = HttpTarget::start();
    let hook_id = api.webhook(&hook.url("/h"), "s3cret-s3cret");
    api.push_cpu("db-1", 10.0);
    api.create_id(
        "/api/v1/alert-rules",
        &json!({"name": "cpu hot", "condition": {"kind": "host_metric", "tag": "prod", "metric": "cpu_percent", "op": ">", "threshold": 90, "for_s": 3},
                "channels": [hook_id], "repeat_interval_s": 0}),
    );
    // A one-second spike: opened, then resolved, never fired.
    api.push_cpu("db-1", 99.0);
    std::thread::sleep(Duration::from_millis(1000));
    api.push_cpu("db-1", 20.0);
    wait_for("the short spike's alert to resolve", || {
        let a = api.alerts("");
        (a.len() == 1 && a[0]["state"] == "resolved").then_some(())
    });
    assert_eq!(
        api.alerts("")[0]["fired_at"],
        Value::Null,
        "a spike shorter than for_s does not fire"
    );
    // A spike that holds: fires once for_s has passed.
    for _ in 0..5 {
        api.push_cpu("db-1", 97.0);
        std::thread::sleep(Duration::from_millis(1000));
    }
    wait_for("a firing alert", || {
        (!api.alerts("state=firing").is_empty()).then_some(())
    });
    wait_for("its notification", || {
        bodies(&hook)
            .into_iter()
            .find(|(_, b)| b["state"] == "firing")
    });
    let fired = events_of(dir.path(), &["AlertOpened", "AlertFired", "AlertResolved"]);
    let types: Vec<&str> = fired.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        ["AlertOpened", "AlertResolved", "AlertOpened", "AlertFired"]
    );
    let held = (time(&fired[3]) - time(&fired[2])).num_milliseconds();
    assert!(
        held >= 2_900,
        "it fired only after holding for for_s: {held} ms"
    );
}

#[test]
fn a_dead_channel_retries_with_growing_gaps_then_gives_up_while_another_delivers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &[]);
    let api = Api::new(&server);
    let hook = HttpTarget::start();
    let dead = api.webhook(
        &format!("http://127.0.0.1:{}/nobody", free_port()),
        "dead-dead-dead",
    );
    let alive = api.webhook(&hook.url("/alive"), "alive-alive");
    api.push_cpu("web-1", 10.0);
    api.create_id(
        "/api/v1/alert-rules",
        &json!({"name": "cpu", "condition": {"kind": "host_metric", "host": "web-1", "metric": "cpu_percent", "op": ">=", "threshold": 50},
                "channels": [dead, alive], "repeat_interval_s": 0}),
    );
    api.push_cpu("web-1", 80.0);
    wait_for("the live channel's delivery", || {
        bodies(&hook).into_iter().next()
    });
    let failures = wait_for("the dead channel to give up", || {
        let f = events_of(dir.path(), &["NotificationFailed"]);
        f.iter().any(|e| e["data"]["gave_up"] == true).then_some(f)
    });
    assert_eq!(failures.len(), 4, "max_attempts attempts: {failures:?}");
    let attempts: Vec<u64> = failures
        .iter()
        .filter_map(|e| e["data"]["attempt"].as_u64())
        .collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
    let gaps: Vec<i64> = failures
        .windows(2)
        .map(|w| (time(&w[1]) - time(&w[0])).num_milliseconds())
        .collect();
    assert!(gaps[2] > gaps[0], "the gaps grow: {gaps:?}");
    assert!(
        gaps[0] >= 350,
        "the first retry waits about 500 ms: {gaps:?}"
    );
    let sent = events_of(dir.path(), &["NotificationSent"]);
    assert_eq!(sent.len(), 1);
    assert!(
        time(&sent[0]) < time(&failures[1]),
        "the live channel did not wait for the dead one"
    );
}

#[test]
fn an_acknowledgement_stops_repeats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &[]);
    let api = Api::new(&server);
    let hook = HttpTarget::start();
    let hook_id = api.webhook(&hook.url("/h"), "secret-secret");
    api.push_cpu("web-1", 99.0);
    api.create_id(
        "/api/v1/alert-rules",
        &json!({"name": "cpu", "condition": {"kind": "host_metric", "host": "web-1", "metric": "cpu_percent", "op": ">", "threshold": 90},
                "channels": [hook_id], "repeat_interval_s": 1}),
    );
    let alert = wait_for("a repeat", || {
        let a = api.alerts("state=firing");
        (a.first()
            .is_some_and(|a| a["repeats"].as_u64().unwrap_or(0) >= 2))
        .then(|| a[0]["id"].as_str().unwrap_or_default().to_owned())
    });
    let viewer = create_token(dir.path(), "viewer");
    let refused = api.send(
        "POST",
        &format!("/api/v1/alerts/{alert}/ack"),
        Some(&viewer),
        &[],
        Some(("application/json", b"{}".to_vec())),
    );
    assert_eq!(refused.status, 403, "a viewer cannot acknowledge");
    api.post(
        &format!("/api/v1/alerts/{alert}/ack"),
        &json!({"comment": "on it"}),
    )
    .expect(200, "acknowledging");
    api.post(&format!("/api/v1/alerts/{alert}/ack"), &json!({}))
        .expect(409, "acknowledging twice");
    let requested = events_of(dir.path(), &["NotificationRequested"]).len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        events_of(dir.path(), &["NotificationRequested"]).len(),
        requested,
        "no repeat after the acknowledgement"
    );
    let detail = api.get(&format!("/api/v1/alerts/{alert}")).json();
    assert_eq!(detail["state"], "acknowledged");
    let ack = detail["timeline"]
        .as_array()
        .and_then(|t| {
            t.iter()
                .find(|e| e["event"] == "AlertAcknowledged")
                .cloned()
        })
        .unwrap_or_default();
    assert_eq!(ack["detail"], "on it");
}

#[test]
fn a_silence_mutes_an_alert_and_it_notifies_when_the_silence_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &[]);
    let api = Api::new(&server);
    let hook = HttpTarget::start();
    let hook_id = api.webhook(&hook.url("/h"), "secret-secret");
    api.push_cpu("web-1", 10.0);
    let ends = Utc::now() + chrono::Duration::seconds(4);
    api.post(
        "/api/v1/silences",
        &json!({"matchers": {"tag": "prod"}, "ends_at": ends, "comment": "deploy"}),
    )
    .expect(201, "a silence");
    api.create_id(
        "/api/v1/alert-rules",
        &json!({"name": "cpu", "condition": {"kind": "host_metric", "tag": "prod", "metric": "cpu_percent", "op": ">", "threshold": 90},
                "channels": [hook_id], "repeat_interval_s": 0}),
    );
    api.push_cpu("web-1", 95.0);
    wait_for("the alert to fire", || {
        (!api.alerts("state=firing").is_empty()).then_some(())
    });
    assert!(bodies(&hook).is_empty(), "a silenced alert notifies nobody");
    assert!(events_of(dir.path(), &["NotificationRequested"]).is_empty());
    let delivered = wait_for("the notification after the silence", || {
        bodies(&hook).into_iter().next()
    });
    assert_eq!(delivered.1["state"], "firing");
    let requested = events_of(dir.path(), &["NotificationRequested"]);
    assert!(
        time(&requested[0]) >= ends,
        "it notified only once the silence ended"
    );
    // A silence lifted early is listed as lifted, and lifting it again finds nothing.
    let later = Utc::now() + chrono::Duration::hours(1);
    let id = api.create_id(
        "/api/v1/silences",
        &json!({"matchers": {"host": "web-1"}, "ends_at": later}),
    );
    api.command("DELETE", &format!("/api/v1/silences/{id}"), None, None)
        .expect(200, "lifting a silence");
    api.command("DELETE", &format!("/api/v1/silences/{id}"), None, None)
        .expect(404, "lifting it twice");
    let listed = api.get("/api/v1/silences").json();
    let lifted = listed["silences"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["id"] == id.as_str()).cloned())
        .unwrap_or_default();
    assert_eq!(lifted["active"], false, "{lifted}");
    assert!(lifted["lifted_at"].is_string(), "{lifted}");
}

#[test]
fn a_restart_in_the_middle_of_retries_neither_repeats_nor_loses_a_notification() {
    let dir = tempfile::tempdir().expect("temp dir");
    let flaky = HttpTarget::start();
    let steady = HttpTarget::start();
    flaky.set_status(500);
    let slow_retries = [
        ("WATCHFIRE_NOTIFICATIONS__MAX_ATTEMPTS", "20"),
        ("WATCHFIRE_NOTIFICATIONS__FIRST_RETRY_MS", "700"),
    ];
    {
        let server = start_server(dir.path(), &slow_retries);
        let api = Api::new(&server);
        let flaky_id = api.webhook(&flaky.url("/f"), "secret-secret");
        let steady_id = api.webhook(&steady.url("/s"), "secret-secret");
        api.push_cpu("web-1", 10.0);
        api.create_id(
            "/api/v1/alert-rules",
            &json!({"name": "cpu", "condition": {"kind": "host_metric", "host": "web-1", "metric": "cpu_percent", "op": ">", "threshold": 90},
                    "channels": [flaky_id, steady_id], "repeat_interval_s": 0}),
        );
        api.push_cpu("web-1", 95.0);
        wait_for("the steady channel's delivery", || {
            bodies(&steady).into_iter().next()
        });
        wait_for_events(dir.path(), "NotificationFailed", 2);
        // The steady delivery is recorded a moment after its receiver has it: a stop
        // before that would owe it again after the restart.
        wait_for_events(dir.path(), "NotificationSent", 1);
        assert!(server.terminate().success());
    }
    flaky.set_status(200);
    let before = flaky.requests().len();
    let server = start_server(dir.path(), &slow_retries);
    let api = Api::new(&server);
    wait_for("the retry after the restart to deliver", || {
        (flaky.requests().len() > before).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        flaky.requests().len(),
        before + 1,
        "the owed notification is delivered once"
    );
    assert_eq!(
        bodies(&steady).len(),
        1,
        "what was sent before the restart is not sent again"
    );
    let sent = wait_for_events(dir.path(), "NotificationSent", 2);
    assert_eq!(sent.len(), 2, "one delivery per channel: {sent:?}");
    // What each channel owes, once the read model holds the last delivery.
    let last_sent = sent
        .iter()
        .filter_map(|e| e["position"].as_u64())
        .max()
        .unwrap_or(0);
    let channels = api
        .get(&format!("/api/v1/channels?min_position={last_sent}"))
        .expect(200, "the channels")
        .json();
    assert!(
        channels["channels"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["owed"] == 0)),
        "{channels}"
    );
}

#[test]
fn bad_alerting_requests_get_their_status_and_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &[]);
    let api = Api::new(&server);
    let hook = HttpTarget::start();
    let hook_id = api.webhook(&hook.url("/h"), "secret-secret");
    let alerting_events = || {
        replay(dir.path(), None)
            .into_iter()
            .filter(|e| {
                e["stream"].as_str().is_some_and(|s| {
                    ["rule-", "silence-", "alert-"]
                        .iter()
                        .any(|p| s.starts_with(p))
                })
            })
            .count()
    };
    let before = alerting_events();
    let rule = |c: Value| json!({"name": "r", "condition": c});
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/api/v1/alert-rules",
            rule(json!({"kind": "disk_full"})),
            "condition.kind",
        ),
        (
            "/api/v1/alert-rules",
            rule(json!({"kind": "monitor_down"})),
            "condition.monitor",
        ),
        (
            "/api/v1/alert-rules",
            rule(
                json!({"kind": "monitor_down", "monitor": "00000000-0000-0000-0000-000000000001"}),
            ),
            "condition.monitor",
        ),
        (
            "/api/v1/alert-rules",
            rule(
                json!({"kind": "host_metric", "host": "h", "metric": "cpu_percent", "op": "=>", "threshold": 1}),
            ),
            "condition.op",
        ),
        (
            "/api/v1/alert-rules",
            rule(
                json!({"kind": "host_metric", "host": "h", "metric": "bogus", "op": ">", "threshold": 1}),
            ),
            "condition.metric",
        ),
        (
            "/api/v1/alert-rules",
            json!({"name": "r", "severity": "meh", "condition": {"kind": "host_stale", "host": "h"}}),
            "severity",
        ),
        (
            "/api/v1/alert-rules",
            json!({"name": "r", "condition": {"kind": "host_stale", "host": "h"}, "channels": ["nope"]}),
            "channels[0]",
        ),
        (
            "/api/v1/alert-rules",
            json!({"condition": {"kind": "host_stale", "host": "h"}}),
            "name",
        ),
        (
            "/api/v1/channels",
            json!({"name": "m", "kind": "email", "to": ["not an address"]}),
            "to[0]",
        ),
        (
            "/api/v1/channels",
            json!({"name": "w", "kind": "webhook", "url": "ftp://x"}),
            "url",
        ),
        (
            "/api/v1/channels",
            json!({"kind": "slack", "webhook_url": "https://hooks.slack.com/x"}),
            "name",
        ),
        (
            "/api/v1/silences",
            json!({"matchers": {"tag": "prod"}, "ends_at": "2000-01-01T00:00:00Z"}),
            "ends_at",
        ),
        (
            "/api/v1/silences",
            json!({"matchers": {}, "ends_at": "2999-01-01T00:00:00Z"}),
            "matchers",
        ),
        (
            "/api/v1/silences",
            json!({"matchers": {"colour": "red"}, "ends_at": "2999-01-01T00:00:00Z"}),
            "matchers.colour",
        ),
        (
            "/api/v1/silences",
            json!({"matchers": {"severity": "loud"}, "ends_at": "2999-01-01T00:00:00Z"}),
            "matchers.severity",
        ),
        (
            "/api/v1/silences",
            json!({"matchers": {"monitor": "shop"}, "ends_at": "2999-01-01T00:00:00Z"}),
            "matchers.monitor",
        ),
        (
            "/api/v1/silences",
            json!({"matchers": {"rule": "api down"}, "ends_at": "2999-01-01T00:00:00Z"}),
            "matchers.rule",
        ),
    ];
    for (path, body, field) in cases {
        let reply = api.post(path, &body);
        assert_eq!(reply.status, 422, "{path} {body}: {}", reply.body);
        let detail = reply.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            detail.starts_with(field),
            "{path} {body}: the detail names {field}: {detail}"
        );
    }
    let malformed = api.send(
        "POST",
        "/api/v1/alert-rules",
        Some(ADMIN_TOKEN),
        &[],
        Some(("application/json", b"{\"name\":".to_vec())),
    );
    assert_eq!(malformed.status, 400);
    let nobody = api.send(
        "POST",
        "/api/v1/channels",
        None,
        &[],
        Some(("application/json", b"{}".to_vec())),
    );
    assert_eq!(nobody.status, 401);
    api.get("/api/v1/alerts/00000000-0000-0000-0000-000000000001")
        .expect(404, "an unknown alert");
    api.get("/api/v1/alerts/not-an-id")
        .expect(404, "a malformed alert id");
    api.post(
        "/api/v1/alerts/00000000-0000-0000-0000-000000000001/ack",
        &json!({}),
    )
    .expect(404, "acknowledging an unknown alert");
    api.command(
        "DELETE",
        "/api/v1/silences/00000000-0000-0000-0000-000000000001",
        None,
        None,
    )
    .expect(404, "an unknown silence");
    api.post(
        "/api/v1/channels/00000000-0000-0000-0000-000000000001/test",
        &json!({}),
    )
    .expect(404, "testing an unknown channel");
    assert_eq!(
        alerting_events(),
        before,
        "no refused request wrote anything"
    );

    // The test send goes through the channel now.
    api.post(&format!("/api/v1/channels/{hook_id}/test"), &json!({}))
        .expect(200, "a test send");
    let (_, body) = wait_for("the test notification", || bodies(&hook).into_iter().next());
    assert_eq!(body["state"], "test");
}

#[test]
fn a_monitor_that_goes_down_emails_once_and_emails_again_when_it_recovers() {
    let smtp = SmtpServer::start(Mode::Plain, false);
    let port = smtp.port.to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(
        dir.path(),
        &[
            ("WATCHFIRE_SMTP__HOST", "127.0.0.1"),
            ("WATCHFIRE_SMTP__PORT", &port),
            ("WATCHFIRE_SMTP__FROM", "watchfire@example.com"),
            ("WATCHFIRE_PUBLIC_URL", "https://watchfire.example"),
        ],
    );
    let api = Api::new(&server);
    let target = HttpTarget::start();
    let mail = api.create_id(
        "/api/v1/channels",
        &json!({"name": "ops", "kind": "email", "to": ["ops@example.com"]}),
    );
    let monitor = api.create_id(
        "/api/v1/monitors",
        &json!({"name": "shop", "kind": "http", "url": target.url("/"), "interval_s": 1, "timeout_ms": 900}),
    );
    api.create_id(
        "/api/v1/alert-rules",
        &json!({"name": "shop down", "severity": "critical",
                "condition": {"kind": "monitor_down", "monitor": monitor},
                "channels": [mail], "repeat_interval_s": 0}),
    );
    wait_for("the monitor to be up", || {
        (api.get(&format!("/api/v1/monitors/{monitor}")).json()["status"] == "up").then_some(())
    });
    target.set_status(500);
    let firing = smtp.next_message();
    let subject = firing["subject"].as_str().unwrap_or_default().to_owned();
    assert!(
        subject.contains("FIRING") && subject.contains("shop down"),
        "{subject}"
    );
    assert_eq!(firing["to"], "ops@example.com");
    let text = part(&firing, "text/plain");
    for needle in [
        "monitor shop",
        "firing",
        "critical",
        "status 500",
        "https://watchfire.example/#/alerts/",
    ] {
        assert!(text.contains(needle), "the text names {needle:?}:\n{text}");
    }
    assert!(part(&firing, "text/html").contains("monitor shop"));
    target.set_status(200);
    let resolved = smtp.next_message();
    let subject = resolved["subject"].as_str().unwrap_or_default().to_owned();
    assert!(
        subject.contains("RESOLVED"),
        "the second email is the resolution: {subject}"
    );
    let sent = wait_for_events(dir.path(), "NotificationSent", 2);
    assert_eq!(sent.len(), 2, "one firing and one resolved email: {sent:?}");
}

#[test]
fn a_stale_host_and_an_expiring_certificate_fire_and_resolve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &[]);
    let api = Api::new(&server);
    let hook = HttpTarget::start();
    let hook_id = api.webhook(&hook.url("/h"), "secret-secret");
    let https = super::targets::HttpsTarget::start(3);
    let monitor = api.create_id(
        "/api/v1/monitors",
        &json!({"name": "tls", "kind": "http", "url": https.url("/"), "interval_s": 1, "timeout_ms": 900,
                "ignore_tls_errors": true, "tags": ["edge"]}),
    );
    let cert_rule = api.create_id(
        "/api/v1/alert-rules",
        &json!({"name": "cert soon", "condition": {"kind": "cert_expiry", "tag": "edge", "days": 14},
                "channels": [hook_id], "repeat_interval_s": 0}),
    );
    let stale_rule = api.create_id(
        "/api/v1/alert-rules",
        &json!({"name": "host gone", "condition": {"kind": "host_stale", "host": "quiet-1"},
                "channels": [hook_id], "repeat_interval_s": 0}),
    );
    let push = |n: u64| {
        let body =
            json!({"timestamp": Utc::now(), "interval_s": 1, "io": {"network": {"bytes_sent": n}}});
        api.send(
            "POST",
            "/api/v1/hosts/quiet-1/metrics",
            Some(ADMIN_TOKEN),
            &[],
            Some(("application/json", body.to_string().into_bytes())),
        )
        .expect(200, "a push");
    };
    push(1);
    let firing = wait_for("both alerts to fire", || {
        let a = api.alerts("state=firing");
        (a.len() == 2).then_some(a)
    });
    let subjects: Vec<&str> = firing
        .iter()
        .filter_map(|a| a["subject"]["name"].as_str())
        .collect();
    assert!(
        subjects.contains(&"tls") && subjects.contains(&"quiet-1"),
        "{firing:?}"
    );
    let cert = firing
        .iter()
        .find(|a| a["rule_id"] == cert_rule.as_str())
        .expect("the certificate alert");
    let cert_id = cert["id"].as_str().unwrap_or_default().to_owned();
    assert!(
        cert["cause"]
            .as_str()
            .unwrap_or_default()
            .contains("days left"),
        "{cert}"
    );
    let stale = firing
        .iter()
        .find(|a| a["rule_id"] == stale_rule.as_str())
        .expect("the stale alert");
    let stale_id = stale["id"].as_str().unwrap_or_default().to_owned();
    push(2);
    wait_for("the stale alert to resolve", || {
        (api.get(&format!("/api/v1/alerts/{stale_id}")).json()["state"] == "resolved").then_some(())
    });
    // A rule changed to a threshold the certificate clears resolves its alert.
    api.command(
        "PATCH",
        &format!("/api/v1/alert-rules/{cert_rule}"),
        Some(&json!({"condition": {"kind": "cert_expiry", "monitor": monitor, "days": 1}})),
        Some(99),
    )
    .expect(409, "a stale If-Match");
    api.command(
        "PATCH",
        &format!("/api/v1/alert-rules/{cert_rule}"),
        Some(&json!({"condition": {"kind": "cert_expiry", "monitor": monitor, "days": 1}})),
        None,
    )
    .expect(200, "changing the rule");
    // This very alert: the silent host goes stale again three seconds after its push, and
    // fires a new alert of its own.
    wait_for("the certificate alert to resolve", || {
        (api.get(&format!("/api/v1/alerts/{cert_id}")).json()["state"] == "resolved").then_some(())
    });
}

#[test]
fn a_channel_patch_renames_it_and_sends_to_its_new_url_and_bad_patches_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), &[]);
    let api = Api::new(&server);
    let old = HttpTarget::start();
    let new = HttpTarget::start();
    let id = api.webhook(&old.url("/old"), "first-secret");
    let path = format!("/api/v1/channels/{id}");
    let changed_events = || events_of(dir.path(), &["ChannelUpdated"]).len();

    // Refused: each answers its status, names the field, and appends nothing.
    for (body, status, field) in [
        (json!({"kind": "slack"}), 422, Some("kind")),
        (json!({"url": "ftp://x"}), 422, Some("url")),
        (
            json!({"webhook_url": "https://x"}),
            422,
            Some("webhook_url"),
        ),
        (json!({"name": ""}), 422, Some("name")),
        (json!({"name": 7}), 422, Some("name")),
        (json!(["not", "an", "object"]), 422, None),
    ] {
        let reply = api.command("PATCH", &path, Some(&body), None);
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        if let Some(field) = field {
            assert_eq!(reply.json()["field"], field, "{body}: {}", reply.body);
        }
    }
    api.command(
        "PATCH",
        "/api/v1/channels/00000000-0000-0000-0000-000000000001",
        Some(&json!({"name": "x"})),
        None,
    )
    .expect(404, "patching an unknown channel");
    api.command("PATCH", &path, Some(&json!({"name": "x"})), Some(7))
        .expect(409, "a stale If-Match");
    assert_eq!(changed_events(), 0, "no refused patch wrote anything");

    // A new name and URL; the secret, not sent, stays.
    let patched = api
        .command(
            "PATCH",
            &path,
            Some(&json!({"name": "on-call", "url": new.url("/new")})),
            None,
        )
        .expect(200, "patching the channel");
    assert_eq!(patched.json()["name"], "on-call");
    assert_eq!(patched.json()["has_secret"], true, "{}", patched.body);
    let listed = api.get("/api/v1/channels").expect(200, "listing channels");
    assert_eq!(listed.json()["channels"][0]["name"], "on-call");
    assert_eq!(changed_events(), 1);

    api.post(&format!("{path}/test"), &json!({}))
        .expect(200, "a test send after the patch");
    let (seen, body) = wait_for("the test notification at the new URL", || {
        bodies(&new).into_iter().next()
    });
    assert_eq!(body["state"], "test");
    assert!(
        seen.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("watchfire-signature")),
        "still signed with the secret it kept"
    );
    assert!(bodies(&old).is_empty(), "nothing went to the old URL");

    // null removes the secret; the log shows the change with secrets redacted.
    let unsigned = api
        .command("PATCH", &path, Some(&json!({"secret": null})), None)
        .expect(200, "removing the secret");
    assert_eq!(unsigned.json()["has_secret"], false, "{}", unsigned.body);
    let events = api
        .get("/api/v1/events?type=ChannelUpdated")
        .expect(200, "the log");
    assert!(
        !events.body.contains("first-secret") && !events.body.contains("/new"),
        "secrets and URL paths are redacted: {}",
        events.body
    );
}
