//! The push, chat, paging and SMS channels (Telegram, ntfy, Gotify, PagerDuty, Teams,
//! Pushover, SMS through Twilio's API) against real local HTTP receivers that check the
//! request each provider documents: method, path, auth, content type and body fields.
//! Then end to end through the real server: every kind notified by one alert, retries of a
//! failing receiver, a 4xx not retried, PagerDuty's incident following an alert through
//! fire, acknowledge and resolve, and the channel API (redaction, tests, refusals).

use std::collections::HashMap;
use std::path::Path;

use chrono::Utc;
use serde_json::{json, Value};
use watchfire::events::{
    GotifySettings, NtfySettings, PagerDutySettings, PushoverSettings, SmsSettings,
    TelegramSettings,
};
use watchfire::notify::{ChannelKind, NotificationState};

use super::api::{replay, start_server, wait_for, Api, ADMIN_TOKEN};
use super::helpers::Server;
use super::notify::{deliver_once, json_body, notification, notifier};
use super::targets::{HttpTarget, SeenRequest};

const BOT_TOKEN: &str = "123456:AAE-secret_bot_token";
const ROUTING_KEY: &str = "R0UTINGKEYsecret0123456789abcdef";
const PUSHOVER_TOKEN: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
const PUSHOVER_USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "twilio-auth-token";
const GOTIFY_TOKEN: &str = "AgotifySecretToken";
const NTFY_TOKEN: &str = "tk_ntfysecrettoken";

/// A form-encoded body's fields, decoded.
fn form(request: &SeenRequest) -> HashMap<String, String> {
    let url = reqwest::Url::parse(&format!("http://form.invalid/?{}", request.body))
        .expect("a form body");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The target's base URL (no trailing slash), for a channel's base URL setting.
fn base(target: &HttpTarget) -> String {
    target.url("/").trim_end_matches('/').to_owned()
}

fn telegram(target: &HttpTarget) -> TelegramSettings {
    TelegramSettings {
        bot_token: BOT_TOKEN.into(),
        chat_id: "-1001234567890".into(),
        message_thread_id: Some(17),
        parse_mode: Some("HTML".into()),
        disable_notification: true,
        api_url: Some(base(target)),
    }
}

fn ntfy(target: &HttpTarget) -> NtfySettings {
    NtfySettings {
        server_url: Some(base(target)),
        topic: "watchfire-ops".into(),
        priority: None,
        tags: vec!["prod".into()],
        token: Some(NTFY_TOKEN.into()),
        username: None,
        password: None,
    }
}

fn gotify(target: &HttpTarget) -> GotifySettings {
    GotifySettings {
        server_url: base(target),
        app_token: GOTIFY_TOKEN.into(),
        priority: None,
    }
}

fn pagerduty(target: &HttpTarget) -> PagerDutySettings {
    PagerDutySettings {
        routing_key: ROUTING_KEY.into(),
        events_url: Some(base(target)),
        source: None,
    }
}

fn pushover(target: &HttpTarget) -> PushoverSettings {
    PushoverSettings {
        token: PUSHOVER_TOKEN.into(),
        user: PUSHOVER_USER.into(),
        device: Some("phone".into()),
        sound: Some("siren".into()),
        priority: Some(2),
        retry: Some(60),
        expire: Some(3600),
        api_url: Some(base(target)),
    }
}

fn sms(target: &HttpTarget) -> SmsSettings {
    SmsSettings {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
        from: Some("+15017122661".into()),
        messaging_service_sid: None,
        to: "+15558675310".into(),
        api_url: Some(base(target)),
    }
}

#[tokio::test]
async fn telegram_receiver_gets_send_message_with_the_token_in_the_path() {
    let target = HttpTarget::start();
    let channel = ChannelKind::Telegram(telegram(&target));
    let request = deliver_once(&target, channel, &notification(NotificationState::Firing)).await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/bot{BOT_TOKEN}/sendMessage"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = json_body(&request);
    assert_eq!(body["chat_id"], json!(-1_001_234_567_890_i64));
    assert_eq!(body["parse_mode"], "HTML");
    assert_eq!(body["disable_notification"], true);
    assert_eq!(body["message_thread_id"], 17);
    let text = body["text"].as_str().expect("a text");
    assert!(
        text.starts_with("<b>🔴 [FIRING critical] shop down: monitor shop</b>"),
        "{text}"
    );
    assert!(text.contains("HTTP 503 from https://shop.example.com/checkout"));
    assert!(text.contains("<a href=\"https://watchfire.example.com/alerts/"));
}

#[tokio::test]
async fn ntfy_receiver_gets_title_priority_tags_and_the_bearer_token() {
    let target = HttpTarget::start();
    let request = deliver_once(
        &target,
        ChannelKind::Ntfy(ntfy(&target)),
        &notification(NotificationState::Firing),
    )
    .await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/watchfire-ops");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {NTFY_TOKEN}").as_str())
    );
    assert_eq!(
        request.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        request.header("title"),
        Some("[FIRING critical] shop down: monitor shop")
    );
    assert_eq!(request.header("priority"), Some("5"));
    assert_eq!(request.header("tags"), Some("rotating_light,prod"));
    assert_eq!(
        request.header("click"),
        Some("https://watchfire.example.com/alerts/5eed0000-0000-4000-8000-000000000001")
    );
    assert!(request.body.contains("Cause: HTTP 503"), "{}", request.body);

    // A resolution with Basic auth rings at the default priority.
    let target = HttpTarget::start();
    let mut settings = ntfy(&target);
    settings.token = None;
    settings.username = Some("ops".into());
    settings.password = Some("pa55word".into());
    let request = deliver_once(
        &target,
        ChannelKind::Ntfy(settings),
        &notification(NotificationState::Resolved),
    )
    .await;
    assert_eq!(
        request.header("authorization"),
        Some("Basic b3BzOnBhNTV3b3Jk")
    );
    assert_eq!(request.header("priority"), Some("3"));
    assert_eq!(request.header("tags"), Some("white_check_mark,prod"));
}

#[tokio::test]
async fn gotify_receiver_gets_the_key_header_and_the_message() {
    let target = HttpTarget::start();
    let request = deliver_once(
        &target,
        ChannelKind::Gotify(gotify(&target)),
        &notification(NotificationState::Firing),
    )
    .await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/message");
    assert_eq!(request.header("x-gotify-key"), Some(GOTIFY_TOKEN));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = json_body(&request);
    assert_eq!(body["title"], "[FIRING critical] shop down: monitor shop");
    assert_eq!(body["priority"], 8);
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("Subject: monitor shop")));
}

#[tokio::test]
async fn pagerduty_receiver_gets_an_events_v2_trigger() {
    let target = HttpTarget::start();
    target.set_status(202);
    let request = deliver_once(
        &target,
        ChannelKind::PagerDuty(pagerduty(&target)),
        &notification(NotificationState::Firing),
    )
    .await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v2/enqueue");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = json_body(&request);
    assert_eq!(body["routing_key"], ROUTING_KEY);
    assert_eq!(body["event_action"], "trigger");
    assert_eq!(body["dedup_key"], "5eed0000-0000-4000-8000-000000000001");
    let payload = &body["payload"];
    assert_eq!(
        payload["summary"],
        "[FIRING critical] shop down: monitor shop"
    );
    assert_eq!(payload["source"], "monitor shop");
    assert_eq!(payload["severity"], "critical");
    assert_eq!(payload["timestamp"], "2025-06-30T23:59:58Z");
    assert_eq!(
        payload["custom_details"]["cause"],
        "HTTP 503 from https://shop.example.com/checkout"
    );
}

#[tokio::test]
async fn teams_receiver_gets_an_adaptive_card_message() {
    let target = HttpTarget::start();
    target.set_status(202);
    let channel = ChannelKind::Teams {
        webhook_url: target.url("/workflows/abc/triggers/manual/paths/invoke?sig=SECRETSIG"),
    };
    let request = deliver_once(&target, channel, &notification(NotificationState::Firing)).await;
    assert_eq!(request.method, "POST");
    assert!(request
        .path
        .starts_with("/workflows/abc/triggers/manual/paths/invoke"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = json_body(&request);
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert_eq!(attachment["content"]["version"], "1.4");
    assert!(attachment["content"]["body"].is_array());
}

#[tokio::test]
async fn pushover_receiver_gets_the_form_with_retry_and_expire_at_priority_2() {
    let target = HttpTarget::start();
    let request = deliver_once(
        &target,
        ChannelKind::Pushover(pushover(&target)),
        &notification(NotificationState::Firing),
    )
    .await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/1/messages.json");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let f = form(&request);
    assert_eq!(f["token"], PUSHOVER_TOKEN);
    assert_eq!(f["user"], PUSHOVER_USER);
    assert_eq!(f["title"], "[FIRING critical] shop down: monitor shop");
    assert_eq!(f["priority"], "2");
    assert_eq!(f["retry"], "60");
    assert_eq!(f["expire"], "3600");
    assert_eq!(f["device"], "phone");
    assert_eq!(f["sound"], "siren");
    assert!(f["message"].contains("HTTP 503"), "{}", f["message"]);
}

#[tokio::test]
async fn sms_receiver_gets_twilios_form_with_basic_auth_and_a_short_body() {
    let target = HttpTarget::start();
    target.set_status(201);
    let mut n = notification(NotificationState::Firing);
    n.cause = "connection refused ".repeat(20);
    let request = deliver_once(&target, ChannelKind::Sms(sms(&target)), &n).await;
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    );
    assert_eq!(
        request.header("authorization"),
        Some("Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0d2lsaW8tYXV0aC10b2tlbg==")
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let f = form(&request);
    assert_eq!(f["To"], "+15558675310");
    assert_eq!(f["From"], "+15017122661");
    assert!(f["Body"].starts_with("[FIRING critical] shop down: monitor shop - connection refused"));
    assert!(f["Body"].chars().count() <= 160, "{}", f["Body"]);
}

#[tokio::test]
async fn provider_answers_sort_into_transient_and_permanent_without_showing_secrets() {
    let target = HttpTarget::start();
    let channels = [
        ChannelKind::Telegram(telegram(&target)),
        ChannelKind::Ntfy(ntfy(&target)),
        ChannelKind::Gotify(gotify(&target)),
        ChannelKind::PagerDuty(pagerduty(&target)),
        ChannelKind::Pushover(pushover(&target)),
        ChannelKind::Sms(sms(&target)),
    ];
    let n = notification(NotificationState::Firing);
    let notifier = notifier();
    for channel in &channels {
        for (status, transient) in [(500, true), (429, true), (400, false), (401, false)] {
            target.set_status(status);
            let error = notifier
                .deliver(channel, &n)
                .await
                .expect_err("a refusing receiver");
            assert_eq!(
                error.is_transient(),
                transient,
                "{} HTTP {status}: {error}",
                channel.kind_name()
            );
            let shown = error.to_string();
            for secret in [
                "secret_bot_token",
                ROUTING_KEY,
                PUSHOVER_TOKEN,
                AUTH_TOKEN,
                GOTIFY_TOKEN,
                NTFY_TOKEN,
            ] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
    }
}

// ---- through the server ----

/// Retries fast enough for a test: 4 attempts, 500 ms then doubling.
fn start(dir: &Path) -> Server {
    start_server(
        dir,
        &[
            ("WATCHFIRE_NOTIFICATIONS__MAX_ATTEMPTS", "4"),
            ("WATCHFIRE_NOTIFICATIONS__FIRST_RETRY_MS", "500"),
            ("WATCHFIRE_PUBLIC_URL", "https://watchfire.example"),
        ],
    )
}

/// POSTs what must answer 201: its id.
fn created(api: &Api, path: &str, body: &Value) -> String {
    let reply = api.post(path, body).expect(201, &format!("POST {path}"));
    reply.json()["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{path} answered without an id"))
        .to_owned()
}

/// One host sample with `cpu` percent.
fn cpu(api: &Api, host: &str, cpu: f64) {
    let body = json!({"timestamp": Utc::now(), "cpu": {"cpu_percent_total": cpu}});
    api.send(
        "POST",
        &format!("/api/v1/hosts/{host}/metrics"),
        Some(ADMIN_TOKEN),
        &[],
        Some(("application/json", body.to_string().into_bytes())),
    )
    .expect(200, "a host push");
}

/// A rule firing while `host`'s CPU is over 90 %, telling `channels`.
fn cpu_rule(api: &Api, host: &str, channels: &[&str]) {
    created(
        api,
        "/api/v1/alert-rules",
        &json!({"name": "cpu", "severity": "critical",
                "condition": {"kind": "host_metric", "host": host, "metric": "cpu_percent", "op": ">", "threshold": 90},
                "channels": channels, "repeat_interval_s": 0}),
    );
}

/// The events of the log whose type is one of `types`, in order.
fn events_of(dir: &Path, types: &[&str]) -> Vec<Value> {
    replay(dir, None)
        .into_iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| types.contains(&t)))
        .collect()
}

/// The `NotificationSent` / `NotificationFailed` events of one channel.
fn outcomes(dir: &Path, channel: &str) -> Vec<Value> {
    events_of(dir, &["NotificationSent", "NotificationFailed"])
        .into_iter()
        .filter(|e| e["data"]["channel_id"] == channel)
        .collect()
}

/// Each new kind's API body, pointing at `target`.
fn channel_bodies(target: &HttpTarget) -> Vec<Value> {
    let base = base(target);
    vec![
        json!({"name": "tg", "kind": "telegram", "bot_token": BOT_TOKEN, "chat_id": "-100200300", "api_url": base}),
        json!({"name": "nt", "kind": "ntfy", "server_url": base, "topic": "ops", "token": NTFY_TOKEN}),
        json!({"name": "go", "kind": "gotify", "server_url": base, "app_token": GOTIFY_TOKEN}),
        json!({"name": "pd", "kind": "pagerduty", "routing_key": ROUTING_KEY, "events_url": base}),
        json!({"name": "te", "kind": "teams", "webhook_url": format!("{base}/workflows/x?sig=SECRETSIG")}),
        json!({"name": "po", "kind": "pushover", "token": PUSHOVER_TOKEN, "user": PUSHOVER_USER, "api_url": base}),
        json!({"name": "sm", "kind": "sms", "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
               "from": "+15017122661", "to": "+15558675310", "api_url": base}),
    ]
}

#[test]
fn every_new_kind_hears_a_firing_alert_and_a_failing_receiver_is_retried_until_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path());
    let api = Api::new(&server);
    let targets: Vec<HttpTarget> = (0..7).map(|_| HttpTarget::start()).collect();
    let ids: Vec<String> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| created(&api, "/api/v1/channels", &channel_bodies(t)[i]))
        .collect();
    // The Telegram receiver fails with 500 first; Gotify refuses with 401 for good.
    targets[0].set_status(500);
    targets[2].set_status(401);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    cpu(&api, "web-1", 99.0);
    cpu_rule(&api, "web-1", &refs);

    wait_for("a failed first attempt at Telegram", || {
        outcomes(dir.path(), &ids[0]).first().cloned()
    });
    targets[0].set_status(200);
    let telegram = wait_for("Telegram's retry to be sent", || {
        let o = outcomes(dir.path(), &ids[0]);
        o.iter()
            .any(|e| e["type"] == "NotificationSent")
            .then_some(o)
    });
    assert_eq!(telegram[0]["type"], "NotificationFailed");
    assert_eq!(telegram[0]["data"]["gave_up"], false);
    let sent = telegram
        .iter()
        .find(|e| e["type"] == "NotificationSent")
        .expect("sent");
    assert!(sent["data"]["attempt"].as_u64().unwrap_or(0) >= 2, "{sent}");
    let first = json_body(&targets[0].requests()[0]);
    let last = json_body(targets[0].requests().last().expect("a request"));
    assert_eq!(first, last, "a retry sends the same message");

    for (i, id) in ids.iter().enumerate() {
        if i == 2 {
            continue;
        }
        let o = wait_for("each channel to record a sent notification", || {
            let o = outcomes(dir.path(), id);
            o.iter()
                .any(|e| e["type"] == "NotificationSent")
                .then_some(o)
        });
        assert!(!o.is_empty());
        assert!(!targets[i].requests().is_empty(), "channel {i} got nothing");
    }
    let gotify = wait_for("Gotify's refusal", || {
        outcomes(dir.path(), &ids[2]).first().cloned()
    });
    assert_eq!(gotify["type"], "NotificationFailed");
    assert_eq!(gotify["data"]["gave_up"], true, "a 401 is not retried");
    assert_eq!(gotify["data"]["attempt"], 1);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(targets[2].requests().len(), 1, "no retry after a 4xx");
    assert_eq!(outcomes(dir.path(), &ids[2]).len(), 1);
}

#[test]
fn pagerduty_follows_an_alert_through_fire_acknowledge_and_resolve_with_one_dedup_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path());
    let api = Api::new(&server);
    let pd = HttpTarget::start();
    pd.set_status(202);
    let push = HttpTarget::start();
    let pd_id = created(
        &api,
        "/api/v1/channels",
        &json!({"name": "pd", "kind": "pagerduty", "routing_key": ROUTING_KEY, "events_url": base(&pd)}),
    );
    let ntfy_id = created(
        &api,
        "/api/v1/channels",
        &json!({"name": "phone", "kind": "ntfy", "server_url": base(&push), "topic": "ops"}),
    );
    cpu(&api, "db-1", 99.0);
    cpu_rule(&api, "db-1", &[&pd_id, &ntfy_id]);

    let trigger = wait_for("the trigger", || pd.requests().first().map(json_body));
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], ROUTING_KEY);
    let alert = trigger["dedup_key"]
        .as_str()
        .expect("a dedup_key")
        .to_owned();
    assert_eq!(trigger["payload"]["source"], "host db-1");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert!(trigger["payload"]["summary"]
        .as_str()
        .is_some_and(|s| s.contains("FIRING")));

    api.post(
        &format!("/api/v1/alerts/{alert}/ack"),
        &json!({"comment": "looking"}),
    )
    .expect(200, "acknowledging: the dedup_key is the alert's id");
    let ack = wait_for("the acknowledge", || pd.requests().get(1).map(json_body));
    assert_eq!(
        ack,
        json!({"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": alert})
    );

    cpu(&api, "db-1", 10.0);
    let resolve = wait_for("the resolve", || pd.requests().get(2).map(json_body));
    assert_eq!(
        resolve,
        json!({"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": alert})
    );
    let sent = wait_for("three PagerDuty events recorded as sent", || {
        let o = outcomes(dir.path(), &pd_id);
        (o.iter().filter(|e| e["type"] == "NotificationSent").count() >= 3).then_some(o)
    });
    assert!(sent.iter().all(|e| e["data"]["alert_id"] == alert.as_str()));

    // The phone push heard the firing and the resolution, not the acknowledgement.
    wait_for("the phone's two pushes", || {
        (push.requests().len() >= 2).then_some(())
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    let titles: Vec<String> = push
        .requests()
        .iter()
        .map(|r| r.header("title").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles[0].starts_with("[FIRING critical]"), "{titles:?}");
    assert!(titles[1].starts_with("[RESOLVED]"), "{titles:?}");
    assert_eq!(pd.requests().len(), 3);
}

#[test]
fn new_kinds_are_read_redacted_tested_patched_and_bad_ones_refused_changing_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path());
    let api = Api::new(&server);
    let target = HttpTarget::start();
    let secrets = [
        "secret_bot_token",
        ROUTING_KEY,
        PUSHOVER_TOKEN,
        PUSHOVER_USER,
        AUTH_TOKEN,
        GOTIFY_TOKEN,
        NTFY_TOKEN,
        "SECRETSIG",
    ];
    let mut ids = Vec::new();
    for body in channel_bodies(&target) {
        let reply = api.post("/api/v1/channels", &body).expect(201, "creating");
        for secret in secrets {
            assert!(!reply.body.contains(secret), "{}", reply.body);
        }
        assert_eq!(reply.json()["kind"], body["kind"]);
        ids.push(reply.json()["id"].as_str().expect("an id").to_owned());
    }
    let listed = api.get("/api/v1/channels").expect(200, "listing");
    let events = api.get("/api/v1/events?limit=1000").expect(200, "the log");
    for shown in [&listed.body, &events.body] {
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
    }
    let telegram = listed.json()["channels"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["kind"] == "telegram").cloned())
        .expect("the telegram channel");
    assert_eq!(telegram["chat_id"], "-100200300");
    assert_eq!(telegram["has_bot_token"], true);

    // A test notification through each kind reaches the receiver.
    for (i, id) in ids.iter().enumerate() {
        api.post(&format!("/api/v1/channels/{id}/test"), &json!({}))
            .expect(200, "a test notification");
        assert_eq!(target.requests().len(), i + 1);
    }
    let tg_test = json_body(&target.requests()[0]);
    assert!(tg_test["text"]
        .as_str()
        .is_some_and(|t| t.contains("[TEST]")));

    // A patch changes one field and keeps the token.
    let patched = api
        .command(
            "PATCH",
            &format!("/api/v1/channels/{}", ids[0]),
            Some(&json!({"chat_id": "@watchfire_ops"})),
            None,
        )
        .expect(200, "patching the chat");
    assert_eq!(patched.json()["chat_id"], "@watchfire_ops");
    api.post(&format!("/api/v1/channels/{}/test", ids[0]), &json!({}))
        .expect(200, "a test after the patch");
    let last = target.requests().last().cloned().expect("a request");
    assert_eq!(last.path, format!("/bot{BOT_TOKEN}/sendMessage"));
    assert_eq!(json_body(&last)["chat_id"], "@watchfire_ops");

    // Refusals name the field and append nothing.
    let count = || events_of(dir.path(), &["ChannelCreated", "ChannelUpdated"]).len();
    let before = count();
    let base = base(&target);
    for (body, field) in [
        (
            json!({"name": "t", "kind": "telegram", "bot_token": BOT_TOKEN}),
            "chat_id",
        ),
        (
            json!({"name": "t", "kind": "telegram", "bot_token": BOT_TOKEN, "chat_id": ""}),
            "chat_id",
        ),
        (
            json!({"name": "t", "kind": "telegram", "bot_token": "nope", "chat_id": "1"}),
            "bot_token",
        ),
        (
            json!({"name": "t", "kind": "telegram", "bot_token": BOT_TOKEN, "chat_id": "1", "api_url": "ftp://x"}),
            "api_url",
        ),
        (
            json!({"name": "t", "kind": "telegram", "bot_token": BOT_TOKEN, "chat_id": true}),
            "chat_id",
        ),
        (
            json!({"name": "n", "kind": "ntfy", "topic": "a/b"}),
            "topic",
        ),
        (
            json!({"name": "n", "kind": "ntfy", "topic": "ok", "priority": 9}),
            "priority",
        ),
        (
            json!({"name": "g", "kind": "gotify", "server_url": "not a url", "app_token": "x"}),
            "server_url",
        ),
        (
            json!({"name": "g", "kind": "gotify", "server_url": base}),
            "app_token",
        ),
        (
            json!({"name": "p", "kind": "pagerduty", "routing_key": "short"}),
            "routing_key",
        ),
        (
            json!({"name": "m", "kind": "teams", "webhook_url": "javascript:x"}),
            "webhook_url",
        ),
        (
            json!({"name": "o", "kind": "pushover", "token": PUSHOVER_TOKEN, "user": PUSHOVER_USER, "priority": 2}),
            "retry",
        ),
        (
            json!({"name": "s", "kind": "sms", "account_sid": "AC1", "auth_token": "t", "from": "+15017122661", "to": "+15558675310"}),
            "account_sid",
        ),
        (
            json!({"name": "s", "kind": "sms", "account_sid": ACCOUNT_SID, "auth_token": "t", "to": "+15558675310"}),
            "from",
        ),
        (
            json!({"name": "s", "kind": "sms", "account_sid": ACCOUNT_SID, "auth_token": "t", "from": "+15017122661", "to": "555"}),
            "to",
        ),
    ] {
        let reply = api.post("/api/v1/channels", &body);
        assert_eq!(reply.status, 422, "{body}: {}", reply.body);
        assert_eq!(reply.json()["field"], field, "{body}: {}", reply.body);
        assert!(
            reply
                .header("content-type")
                .is_some_and(|c| c.contains("problem+json")),
            "{body}"
        );
    }
    let reply = api.command(
        "PATCH",
        &format!("/api/v1/channels/{}", ids[3]),
        Some(&json!({"routing_key": "short"})),
        None,
    );
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.json()["field"], "routing_key");
    let reply = api.command(
        "PATCH",
        &format!("/api/v1/channels/{}", ids[3]),
        Some(&json!({"chat_id": "1"})),
        None,
    );
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.json()["field"], "chat_id");
    assert_eq!(count(), before, "no refused request wrote anything");
}
