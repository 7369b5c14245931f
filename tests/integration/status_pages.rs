//! Status pages end to end: the management API with its refusals, incidents and
//! maintenance, the public JSON, page and WebSocket topic (and what they must never show),
//! and badges. The real server in this process, a real HTTP target, real sockets.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::api::{start_in_process, wait_for, Api, ADMIN_TOKEN, PATIENCE};
use super::helpers::TestServer;
use super::targets::HttpTarget;

/// A secret in the monitored URL that nothing public may show.
const SECRET: &str = "s3cr3t-in-the-url";

fn monitor(api: &Api, name: &str, url: &str, tags: &[&str]) -> String {
    let reply = api
        .post(
            "/api/v1/monitors",
            &json!({"name": name, "kind": "http", "url": url, "interval_s": 1,
                    "timeout_ms": 900, "tags": tags}),
        )
        .expect(201, "a monitor");
    reply.json()["id"].as_str().expect("an id").to_owned()
}

fn public(api: &Api, slug: &str) -> Value {
    api.send("GET", &format!("/api/v1/status/{slug}"), None, &[], None)
        .expect(200, "the public status")
        .json()
}

fn status_of(view: &Value, id: &str) -> Option<String> {
    view["groups"]
        .as_array()?
        .iter()
        .flat_map(|g| g["monitors"].as_array().cloned().unwrap_or_default())
        .find(|m| m["id"] == id)
        .and_then(|m| m["status"].as_str().map(str::to_owned))
}

/// Everything private about a monitor that a public answer must not contain.
fn assert_nothing_private(what: &str, text: &str, private: &[&str]) {
    for p in private {
        assert!(!text.contains(p), "{what} shows {p:?}: {text}");
    }
}

fn field(reply: &super::api::Reply) -> String {
    reply.json()["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_public_status_page_shows_its_monitors_live_and_nothing_private() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    let url = target.url(&format!("/health?token={SECRET}"));
    let shown = monitor(&api, "Checkout", &url, &["team-secret-tag"]);
    let hidden = monitor(&api, "hidden-internal-db", &target.url("/db"), &[]);
    api.post(
        "/api/v1/status-pages",
        &json!({"slug": "acme", "title": "Acme status", "description": "Our shop",
                "groups": [{"name": "Shop", "monitors": [shown]}]}),
    )
    .expect(201, "a status page");

    let up = wait_for("the monitor up on the public page", || {
        let view = public(&api, "acme");
        (status_of(&view, &shown).as_deref() == Some("up")).then_some(view)
    });
    assert_eq!(up["title"], "Acme status");
    assert_eq!(up["status"], "operational");
    let host_port = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let private = [
        SECRET,
        host_port.as_str(),
        "team-secret-tag",
        "hidden-internal-db",
        hidden.as_str(),
        "127.0.0.1",
    ];
    assert_nothing_private("the public JSON", &up.to_string(), &private);

    // The page itself is the dashboard's code, served without a token.
    let page = api
        .send("GET", "/status/acme", None, &[], None)
        .expect(200, "the page");
    assert!(page.body.contains("<html") || page.body.contains("<!doctype"));
    assert_nothing_private("the public page", &page.body, &private);

    let ws = server.base.replacen("http://", "ws://", 1) + "/ws";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let frames = rt.block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str())
            .await
            .expect("the upgrade succeeds without a token");
        let subscribe = json!({"type": "subscribe", "topics": ["status:acme"]});
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .expect("sent");
        let mut frames: Vec<String> = Vec::new();
        let mut failed = false;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let next = tokio::time::timeout_at(deadline, socket.next()).await;
            let Ok(Some(Ok(message))) = next else {
                panic!("the live status did not show the monitor down; read {frames:?}");
            };
            let Message::Text(text) = message else {
                continue;
            };
            let frame: Value = serde_json::from_str(&text).expect("a JSON frame");
            frames.push(text.to_string());
            if frame["type"] == "snapshot" && !failed {
                assert_eq!(frame["topic"], "status:acme");
                assert_eq!(status_of(&frame["data"], &shown).as_deref(), Some("up"));
                target.set_status(500);
                failed = true;
            }
            if frame["type"] == "update" && frame["data"]["status"] == "down" {
                assert_eq!(frame["data"]["monitor_id"], shown.as_str());
                break;
            }
        }
        frames
    });
    assert_nothing_private("the WebSocket frames", &frames.join("\n"), &private);

    let down = public(&api, "acme");
    assert_eq!(status_of(&down, &shown).as_deref(), Some("down"));
    assert_eq!(down["status"], "down");
    let reason = down["groups"][0]["monitors"][0].get("error");
    assert!(reason.is_none(), "errors are hidden by default: {down}");
    api.command(
        "PATCH",
        "/api/v1/status-pages/acme",
        Some(&json!({"show_errors": true})),
        None,
    )
    .expect(200, "errors shown");
    let shown_errors = public(&api, "acme");
    assert!(
        shown_errors["groups"][0]["monitors"][0]["error"].is_string(),
        "a page that shows errors shows the reason: {shown_errors}"
    );
    assert_nothing_private(
        "the JSON with errors",
        &shown_errors.to_string(),
        &private[..1],
    );

    // Without a token, only status topics: anything else ends the session.
    rt.block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str())
            .await
            .expect("the upgrade succeeds");
        let subscribe = json!({"type": "subscribe", "topics": ["status:acme", "dashboard"]});
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .expect("sent");
        let mut closed = false;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while let Ok(Some(next)) = tokio::time::timeout_at(deadline, socket.next()).await {
            match next {
                Ok(Message::Text(text)) => {
                    assert!(!text.contains("snapshot"), "nothing is sent: {text}");
                }
                Ok(Message::Close(_)) | Err(_) => {
                    closed = true;
                    break;
                }
                Ok(_) => {}
            }
        }
        assert!(closed, "the session ends");
    });

    let unknown = api.send("GET", "/api/v1/status/nope", None, &[], None);
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(api.send("GET", "/status/nope", None, &[], None).status, 404);
}

#[test]
fn status_pages_refuse_bad_input_and_change_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    let m = monitor(&api, "Web", &target.url("/"), &[]);
    let create = |body: Value| api.post("/api/v1/status-pages", &body);

    let r = create(json!({"slug": "Bad Slug", "title": "x"}));
    assert_eq!((r.status, field(&r)), (422, "slug".to_owned()));
    let r = create(json!({"slug": "a".repeat(65), "title": "x"}));
    assert_eq!((r.status, field(&r)), (422, "slug".to_owned()));
    let r = create(json!({"slug": "acme"}));
    assert_eq!((r.status, field(&r)), (422, "title".to_owned()));
    let r = create(
        json!({"slug": "acme", "title": "x", "groups": [{"name": "g", "monitors": ["00000000-0000-0000-0000-000000000001"]}]}),
    );
    assert_eq!(
        (r.status, field(&r)),
        (422, "groups[0].monitors[0]".to_owned())
    );
    let r =
        create(json!({"slug": "acme", "title": "x", "groups": [{"name": "g", "monitors": [7]}]}));
    assert_eq!(r.status, 422);
    let r = create(json!({"slug": "acme", "title": 5}));
    assert_eq!((r.status, field(&r)), (422, "title".to_owned()));
    let r = create(json!({"slug": "acme", "title": "x", "colour": "red"}));
    assert_eq!(r.status, 422);
    let r = api.send(
        "POST",
        "/api/v1/status-pages",
        Some(ADMIN_TOKEN),
        &[],
        Some(("application/json", b"{\"slug\": ".to_vec())),
    );
    assert_eq!(r.status, 400, "malformed JSON: {}", r.body);
    let huge = format!(
        "{{\"slug\":\"acme\",\"title\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let r = api.send(
        "POST",
        "/api/v1/status-pages",
        Some(ADMIN_TOKEN),
        &[],
        Some(("application/json", huge.into_bytes())),
    );
    assert_eq!(r.status, 413, "a huge body: {}", r.body);
    let r = api.send(
        "POST",
        "/api/v1/status-pages",
        None,
        &[],
        Some((
            "application/json",
            b"{\"slug\":\"acme\",\"title\":\"x\"}".to_vec(),
        )),
    );
    assert_eq!(r.status, 401);
    let list = api
        .get("/api/v1/status-pages")
        .expect(200, "the list")
        .json();
    assert_eq!(list["status_pages"], json!([]), "nothing was made");

    let made = create(
        json!({"slug": "acme", "title": "Acme", "groups": [{"name": "Web", "monitors": [m]}]}),
    )
    .expect(201, "a page");
    assert_eq!(made.header("location"), Some("/api/v1/status-pages/acme"));
    assert_eq!(
        create(json!({"slug": "acme", "title": "Again"})).status,
        409
    );
    let version = api
        .get("/api/v1/status-pages/acme")
        .expect(200, "the page")
        .etag_version();

    // Incidents: bad ones are refused naming the field, and the page does not move.
    let incidents = "/api/v1/status-pages/acme/incidents";
    let r = api.post(incidents, &json!({"title": "Slow", "status": "panicking"}));
    assert_eq!((r.status, field(&r)), (422, "status".to_owned()));
    let r = api.post(incidents, &json!({"title": ""}));
    assert_eq!((r.status, field(&r)), (422, "title".to_owned()));
    let r = api.post(incidents, &json!({"title": "x", "impact": "apocalyptic"}));
    assert_eq!((r.status, field(&r)), (422, "impact".to_owned()));
    assert_eq!(
        api.post(
            "/api/v1/status-pages/nope/incidents",
            &json!({"title": "x"})
        )
        .status,
        404
    );
    let unchanged = api.get("/api/v1/status-pages/acme").expect(200, "the page");
    assert_eq!(unchanged.etag_version(), version, "refusals change nothing");

    let opened = api
        .post(
            incidents,
            &json!({"title": "Checkout slow", "impact": "major", "message": "Looking"}),
        )
        .expect(201, "an incident")
        .json();
    assert_eq!(opened["status"], "investigating");
    let id = opened["id"].as_str().expect("an id").to_owned();
    let updates = format!("{incidents}/{id}/updates");
    let r = api.post(&updates, &json!({"status": "sleeping", "message": "x"}));
    assert_eq!((r.status, field(&r)), (422, "status".to_owned()));
    let r = api.post(&updates, &json!({"status": "identified"}));
    assert_eq!((r.status, field(&r)), (422, "message".to_owned()));
    assert_eq!(
        api.post(
            &format!("{incidents}/00000000-0000-0000-0000-000000000009/updates"),
            &json!({"status": "identified", "message": "x"})
        )
        .status,
        404
    );
    assert_eq!(
        api.post(
            &format!("{incidents}/not-a-uuid/updates"),
            &json!({"status": "identified", "message": "x"})
        )
        .status,
        404
    );
    api.post(
        &updates,
        &json!({"status": "identified", "message": "A bad deploy"}),
    )
    .expect(201, "an update");
    let resolved = api
        .post(
            &updates,
            &json!({"status": "resolved", "message": "Rolled back"}),
        )
        .expect(201, "resolved")
        .json();
    assert!(resolved["resolved_at"].is_string());
    assert_eq!(resolved["updates"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        resolved["updates"][0]["message"], "Rolled back",
        "newest first"
    );
    let r = api.post(
        &updates,
        &json!({"status": "monitoring", "message": "again"}),
    );
    assert_eq!(
        r.status, 409,
        "a resolved incident takes no update: {}",
        r.body
    );

    // Maintenance.
    let maintenance = "/api/v1/status-pages/acme/maintenance";
    let r = api.post(
        maintenance,
        &json!({"title": "DB", "starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T10:00:00Z"}),
    );
    assert_eq!((r.status, field(&r)), (422, "ends_at".to_owned()));
    let r = api.post(
        maintenance,
        &json!({"title": "DB", "starts_at": "soon", "ends_at": "2030-01-01T10:00:00Z"}),
    );
    assert_eq!((r.status, field(&r)), (422, "starts_at".to_owned()));
    let planned = api
        .post(
            maintenance,
            &json!({"title": "DB upgrade", "message": "Brief", "starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T11:00:00Z"}),
        )
        .expect(201, "maintenance")
        .json();
    assert_eq!(planned["phase"], "upcoming");

    let view = public(&api, "acme");
    assert_eq!(
        view["incidents"][0]["status"], "resolved",
        "resolved lately: shown"
    );
    assert_eq!(view["maintenance"][0]["title"], "DB upgrade");

    // The audit view lists them as events.
    let events = api
        .get("/api/v1/events?limit=1000")
        .expect(200, "events")
        .body;
    for kind in [
        "StatusPageCreated",
        "IncidentOpened",
        "IncidentUpdated",
        "MaintenanceScheduled",
    ] {
        assert!(events.contains(kind), "the log holds {kind}");
    }

    // PATCH and DELETE, with If-Match.
    let r = api.command(
        "PATCH",
        "/api/v1/status-pages/acme",
        Some(&json!({"slug": "other"})),
        None,
    );
    assert_eq!((r.status, field(&r)), (422, "slug".to_owned()));
    let r = api.command(
        "PATCH",
        "/api/v1/status-pages/acme",
        Some(&json!({"title": "New"})),
        Some(0),
    );
    assert_eq!(r.status, 409, "a stale If-Match: {}", r.body);
    assert_eq!(
        api.command(
            "PATCH",
            "/api/v1/status-pages/nope",
            Some(&json!({"title": "New"})),
            None
        )
        .status,
        404
    );
    api.command("DELETE", "/api/v1/status-pages/acme", None, None)
        .expect(200, "deleted");
    assert_eq!(
        api.send("GET", "/api/v1/status/acme", None, &[], None)
            .status,
        404
    );
    assert_eq!(
        api.command("DELETE", "/api/v1/status-pages/acme", None, None)
            .status,
        404
    );
    // The slug is free again.
    create(json!({"slug": "acme", "title": "Acme again"})).expect(201, "made again");
    let again = public(&api, "acme");
    assert_eq!(again["incidents"], json!([]), "a new page starts clean");
}

/// A server whose clock moves only when told, started at the answered time, holding
/// the page `ops`; the temp dir keeps its data while it lives.
fn ops_page_on_a_manual_clock() -> (
    tempfile::TempDir,
    std::sync::Arc<watchfire::clock::ManualClock>,
    TestServer,
    chrono::DateTime<chrono::Utc>,
) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let start = chrono::Utc::now();
    let clock = std::sync::Arc::new(watchfire::clock::ManualClock::new(start));
    let server = TestServer::start_with_clock(dir.path(), ADMIN_TOKEN, clock.clone(), |_| {});
    Api::at(&server.base)
        .post(
            "/api/v1/status-pages",
            &json!({"slug": "ops", "title": "Ops"}),
        )
        .expect(201, "a page");
    (dir, clock, server, start)
}

#[test]
fn maintenance_is_upcoming_then_active_then_gone_by_the_servers_clock() {
    let (_dir, clock, server, start) = ops_page_on_a_manual_clock();
    let api = Api::at(&server.base);
    let at = |h: i64| (start + chrono::Duration::hours(h)).to_rfc3339();
    api.post(
        "/api/v1/status-pages/ops/maintenance",
        &json!({"title": "Move", "starts_at": at(1), "ends_at": at(2)}),
    )
    .expect(201, "maintenance");
    let view = public(&api, "ops");
    assert_eq!(view["maintenance"][0]["phase"], "upcoming");
    assert_eq!(view["status"], "operational");
    clock.advance(chrono::Duration::minutes(90));
    let view = public(&api, "ops");
    assert_eq!(view["maintenance"][0]["phase"], "active");
    assert_eq!(view["status"], "maintenance");
    clock.advance(chrono::Duration::hours(1));
    let view = public(&api, "ops");
    assert_eq!(
        view["maintenance"],
        json!([]),
        "ended maintenance is not shown"
    );
}

#[test]
fn badges_are_served_only_for_monitors_a_public_page_shows() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    let m = monitor(&api, "Web", &target.url("/"), &[]);
    let badge = |path: &str| api.send("GET", path, None, &[], None);
    let not_public = badge(&format!("/api/badge/{m}/status"));
    let unknown = badge("/api/badge/00000000-0000-0000-0000-000000000001/status");
    assert_eq!((not_public.status, unknown.status), (404, 404));
    assert_eq!(
        not_public.body, unknown.body,
        "no hint that the monitor exists"
    );
    assert_eq!(badge("/api/badge/junk/status").status, 404);

    api.post(
        "/api/v1/status-pages",
        &json!({"slug": "acme", "title": "Acme", "groups": [{"name": "Web", "monitors": [m]}]}),
    )
    .expect(201, "a page");
    let status = wait_for("the monitor up on its badge", || {
        let r = badge(&format!("/api/badge/{m}/status?upLabel=Fine"));
        (r.status == 200 && r.body.contains("Fine")).then_some(r)
    });
    assert_eq!(
        status.header("content-type"),
        Some("image/svg+xml; charset=utf-8")
    );
    assert!(status
        .header("cache-control")
        .is_some_and(|c| c.contains("max-age=60")));
    assert!(status.body.starts_with("<svg") && status.body.contains("Status"));

    let labelled = badge(&format!("/api/badge/{m}/status?label=%3Cscript%3E%26"))
        .expect(200, "a labelled badge");
    assert!(labelled.body.contains("&lt;script&gt;&amp;"));
    assert!(!labelled.body.contains("<script>"));

    for window in ["", "/24h", "/7d", "/30d", "/24", "/720"] {
        let r = badge(&format!("/api/badge/{m}/uptime{window}")).expect(200, "an uptime badge");
        assert!(r.body.contains('%') || r.body.contains("N/A"), "{}", r.body);
        let r = badge(&format!("/api/badge/{m}/ping{window}")).expect(200, "a ping badge");
        assert!(
            r.body.contains("ms") || r.body.contains("N/A"),
            "{}",
            r.body
        );
    }
    let r = badge(&format!("/api/badge/{m}/uptime/forever"));
    assert_eq!((r.status, field(&r)), (400, "duration".to_owned()));
    let r = badge(&format!("/api/badge/{m}/status?color=red%22%3E"));
    assert_eq!((r.status, field(&r)), (400, "color".to_owned()));
    let r = badge(&format!("/api/badge/{m}/status?label={}", "x".repeat(101)));
    assert_eq!((r.status, field(&r)), (400, "label".to_owned()));

    api.command("DELETE", "/api/v1/status-pages/acme", None, None)
        .expect(200, "deleted");
    assert_eq!(badge(&format!("/api/badge/{m}/status")).status, 404);
}

#[test]
fn maintenance_is_edited_and_cancelled_and_incidents_are_edited_with_refusals() {
    let (_dir, clock, server, start) = ops_page_on_a_manual_clock();
    let api = Api::at(&server.base);
    let at = |h: i64| (start + chrono::Duration::hours(h)).to_rfc3339();
    let planned = api
        .post(
            "/api/v1/status-pages/ops/maintenance",
            &json!({"title": "Move", "starts_at": at(1), "ends_at": at(2)}),
        )
        .expect(201, "maintenance")
        .json();
    let id = planned["id"].as_str().expect("an id").to_owned();
    let path = format!("/api/v1/status-pages/ops/maintenance/{id}");
    let patch = |path: &str, body: Value| api.command("PATCH", path, Some(&body), None);

    // Refusals change nothing.
    let r = patch(&path, json!({"ends_at": at(0)}));
    assert_eq!((r.status, field(&r)), (422, "ends_at".to_owned()));
    let r = patch(&path, json!({"title": ""}));
    assert_eq!((r.status, field(&r)), (422, "title".to_owned()));
    let r = patch(&path, json!({"starts_at": "soon"}));
    assert_eq!((r.status, field(&r)), (422, "starts_at".to_owned()));
    let r = patch(&path, json!({"colour": "red"}));
    assert_eq!(r.status, 422, "an unknown field: {}", r.body);
    let unknown = "/api/v1/status-pages/ops/maintenance/00000000-0000-0000-0000-000000000001";
    assert_eq!(patch(unknown, json!({"title": "x"})).status, 404);
    assert_eq!(
        patch(
            "/api/v1/status-pages/ops/maintenance/junk",
            json!({"title": "x"})
        )
        .status,
        404
    );
    assert_eq!(
        patch(
            &format!("/api/v1/status-pages/nope/maintenance/{id}"),
            json!({"title": "x"})
        )
        .status,
        404
    );
    assert_eq!(api.command("DELETE", unknown, None, None).status, 404);
    let view = public(&api, "ops");
    assert_eq!(view["maintenance"][0]["title"], "Move", "nothing changed");

    // An edit shows on the public page.
    let edited = patch(&path, json!({"title": "Move racks", "ends_at": at(3)}))
        .expect(200, "edited")
        .json();
    assert_eq!(edited["title"], "Move racks");
    assert_eq!(edited["phase"], "upcoming");
    let view = public(&api, "ops");
    assert_eq!(view["maintenance"][0]["title"], "Move racks");
    assert_eq!(
        view["maintenance"][0]["ends_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp()),
        Some((start + chrono::Duration::hours(3)).timestamp())
    );

    // Cancelled: gone from the public page, and cannot be cancelled twice.
    api.command("DELETE", &path, None, None)
        .expect(200, "cancelled");
    assert_eq!(public(&api, "ops")["maintenance"], json!([]));
    assert_eq!(api.command("DELETE", &path, None, None).status, 404);
    assert_eq!(patch(&path, json!({"title": "x"})).status, 404);

    // An ended announcement is history: neither edited nor cancelled.
    let past = api
        .post(
            "/api/v1/status-pages/ops/maintenance",
            &json!({"title": "Past", "starts_at": at(1), "ends_at": at(2)}),
        )
        .expect(201, "maintenance")
        .json();
    clock.advance(chrono::Duration::hours(3));
    let past = format!(
        "/api/v1/status-pages/ops/maintenance/{}",
        past["id"].as_str().expect("an id")
    );
    assert_eq!(patch(&past, json!({"title": "x"})).status, 409);
    assert_eq!(api.command("DELETE", &past, None, None).status, 409);

    // Incidents: title and impact change; the status only by updates.
    let incident = api
        .post(
            "/api/v1/status-pages/ops/incidents",
            &json!({"title": "Slow", "impact": "minor", "message": "Looking"}),
        )
        .expect(201, "an incident")
        .json();
    let ipath = format!(
        "/api/v1/status-pages/ops/incidents/{}",
        incident["id"].as_str().expect("an id")
    );
    let r = patch(&ipath, json!({"impact": "dire"}));
    assert_eq!((r.status, field(&r)), (422, "impact".to_owned()));
    let r = patch(&ipath, json!({"title": " "}));
    assert_eq!((r.status, field(&r)), (422, "title".to_owned()));
    assert_eq!(patch(&ipath, json!({"status": "resolved"})).status, 422);
    assert_eq!(
        patch(
            "/api/v1/status-pages/ops/incidents/00000000-0000-0000-0000-000000000001",
            json!({"title": "x"})
        )
        .status,
        404
    );
    let edited = patch(
        &ipath,
        json!({"title": "Slow in Europe", "impact": "major"}),
    )
    .expect(200, "edited")
    .json();
    assert_eq!(
        (edited["title"].as_str(), edited["impact"].as_str()),
        (Some("Slow in Europe"), Some("major"))
    );
    assert_eq!(edited["status"], "investigating", "the status is kept");
    let view = public(&api, "ops");
    assert_eq!(view["incidents"][0]["title"], "Slow in Europe");

    let events = api
        .get("/api/v1/events?limit=1000")
        .expect(200, "events")
        .body;
    for kind in [
        "MaintenanceUpdated",
        "MaintenanceCancelled",
        "IncidentEdited",
    ] {
        assert!(events.contains(kind), "the log holds {kind}");
    }
}

#[test]
fn response_and_certificate_badges_follow_the_last_check_and_only_for_public_monitors() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let https = super::targets::HttpsTarget::start(10);
    let reply = api
        .post(
            "/api/v1/monitors",
            &json!({"name": "tls", "kind": "http", "url": https.url("/"), "interval_s": 1,
                    "timeout_ms": 900, "ignore_tls_errors": true}),
        )
        .expect(201, "a monitor");
    let m = reply.json()["id"].as_str().expect("an id").to_owned();
    let badge = |path: &str| api.send("GET", path, None, &[], None);
    for kind in ["response", "cert-exp", "avg-response/24h"] {
        assert_eq!(
            badge(&format!("/api/badge/{m}/{kind}")).status,
            404,
            "{kind}: not on a page"
        );
    }
    api.post(
        "/api/v1/status-pages",
        &json!({"slug": "acme", "title": "Acme", "groups": [{"name": "Web", "monitors": [m]}]}),
    )
    .expect(201, "a page");
    let cert = wait_for("the certificate on its badge", || {
        let r = badge(&format!("/api/badge/{m}/cert-exp"));
        (r.status == 200 && r.body.contains("days")).then_some(r)
    });
    assert!(cert.body.contains("Cert Exp."), "{}", cert.body);
    assert!(
        cert.body.contains("9 days") || cert.body.contains("10 days"),
        "{}",
        cert.body
    );
    assert!(
        cert.body.contains("#dfb317"),
        "within 14 days: a warning: {}",
        cert.body
    );
    let r =
        badge(&format!("/api/badge/{m}/cert-exp?warnDays=5&downDays=2")).expect(200, "thresholds");
    assert!(r.body.contains("#4c1"), "beyond both: up: {}", r.body);
    let r = badge(&format!(
        "/api/badge/{m}/cert-exp?downDays=30&downColor=purple"
    ))
    .expect(200, "thresholds");
    assert!(r.body.contains("purple"), "{}", r.body);
    let r = badge(&format!("/api/badge/{m}/cert-exp?warnDays=soon"));
    assert_eq!(r.status, 400, "{}", r.body);

    let r = badge(&format!("/api/badge/{m}/response?label=Latency")).expect(200, "response");
    assert!(
        r.body.contains("Latency") && r.body.contains("ms"),
        "{}",
        r.body
    );
    let r = badge(&format!("/api/badge/{m}/avg-response/7d")).expect(200, "average");
    assert!(
        r.body.contains("ms") || r.body.contains("N/A"),
        "{}",
        r.body
    );
    let r = badge(&format!("/api/badge/{m}/avg-response/forever"));
    assert_eq!((r.status, field(&r)), (400, "duration".to_owned()));
    assert_eq!(badge("/api/badge/junk/cert-exp").status, 404);

    // A plain HTTP monitor has no certificate.
    let target = HttpTarget::start();
    let plain = monitor(&api, "Plain", &target.url("/"), &[]);
    api.command(
        "PATCH",
        "/api/v1/status-pages/acme",
        Some(&json!({"groups": [{"name": "Web", "monitors": [m, plain]}]})),
        None,
    )
    .expect(200, "patched");
    let r = badge(&format!("/api/badge/{plain}/cert-exp")).expect(200, "no certificate");
    assert!(r.body.contains("N/A"), "{}", r.body);
}
