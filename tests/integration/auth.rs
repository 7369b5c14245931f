//! Authentication end to end, against the real server: every route against every kind of
//! credential, login sessions and their cookie, throttled logins, users and tokens with
//! their refusals, and no secret in any answer, log line or replay.
//!
//! Waits poll with generous deadlines; nothing here depends on how fast the server is.

use std::net::IpAddr;
use std::path::Path;

use chrono::{Duration as TimeDelta, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::api::{create_token, replay, start_server, wait_for, Api, Reply, ADMIN_TOKEN};

/// What a route lets in.
#[derive(Copy, Clone, Debug)]
enum Access {
    /// Anyone, with or without credentials.
    Public,
    /// A token or a session of at least this rank.
    AtLeast(Rank),
    /// A login session (the cookie) of any role, and nothing else.
    Session,
}

/// The roles, ordered like the server's.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Agent,
    Viewer,
    Operator,
    Admin,
}

use Access::{AtLeast, Public, Session};
use Rank::{Admin, Agent, Operator, Viewer};

/// One row of [`ROUTE_ACCESS`].
struct RouteCase {
    /// The HTTP method.
    method: &'static str,
    /// The route as `src/http/mod.rs` declares it (with `/api/v1` for the scoped ones).
    route: &'static str,
    /// The path requested: `{monitor}`, `{push_token}`, `{host}`, `{rule}`, `{alert}`,
    /// `{silence}`, `{channel}`, `{user}` and `{token}` are filled in with real (or, for
    /// deletes that must not succeed, unknown) ids.
    path: &'static str,
    /// The JSON body sent with POST and PATCH: one the admin's request gets past
    /// authentication with (any answer but 401 or 403 will do).
    body: &'static str,
    /// Who may call it.
    access: Access,
}

const fn case(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: &'static str,
    access: Access,
) -> RouteCase {
    RouteCase {
        method,
        route,
        path,
        body,
        access,
    }
}

/// EVERY route of `src/http/mod.rs` `configure` and who may call it: reading is viewer,
/// changing is operator, users, tokens and the raw log are admin, pushes are agent,
/// health and push heartbeats are public. Add a row with every new route;
/// `every_route_of_configure_is_in_the_role_matrix` fails until you do.
#[rustfmt::skip]
const ROUTE_ACCESS: &[RouteCase] = &[
    case("GET", "/", "/", "", Public),
    case("GET", "/favicon.svg", "/favicon.svg", "", Public),
    case("GET", "/health", "/health", "", Public),
    case("GET", "/health/ready", "/health/ready", "", Public),
    case("GET", "/metrics", "/metrics", "", AtLeast(Viewer)),
    case("GET", "/api/v1/cluster", "/api/v1/cluster", "", AtLeast(Viewer)),
    // monitors
    case("POST", "/api/v1/monitors", "/api/v1/monitors", "{}", AtLeast(Operator)),
    case("GET", "/api/v1/monitors", "/api/v1/monitors", "", AtLeast(Viewer)),
    case("GET", "/api/v1/monitors/{id}", "/api/v1/monitors/{monitor}", "", AtLeast(Viewer)),
    case("PATCH", "/api/v1/monitors/{id}", "/api/v1/monitors/{monitor}", r#"{"interval_s": 0}"#, AtLeast(Operator)),
    case("POST", "/api/v1/monitors/{id}/pause", "/api/v1/monitors/{monitor}/pause", "{}", AtLeast(Operator)),
    case("POST", "/api/v1/monitors/{id}/resume", "/api/v1/monitors/{monitor}/resume", "{}", AtLeast(Operator)),
    case("GET", "/api/v1/monitors/{id}/checks", "/api/v1/monitors/{monitor}/checks", "", AtLeast(Viewer)),
    case("GET", "/api/v1/monitors/{id}/series", "/api/v1/monitors/{monitor}/series", "", AtLeast(Viewer)),
    case("DELETE", "/api/v1/monitors/{id}", "/api/v1/monitors/{monitor}", "", AtLeast(Operator)),
    // push heartbeats: the push token is the secret
    case("GET", "/api/v1/push/{token}", "/api/v1/push/{push_token}", "", Public),
    case("POST", "/api/v1/push/{token}", "/api/v1/push/{push_token}", "{}", Public),
    case("GET", "/api/push/{token}", "/api/push/{push_token}", "", Public),
    case("POST", "/api/push/{token}", "/api/push/{push_token}", "{}", Public),
    // hosts
    case("POST", "/api/v1/hosts", "/api/v1/hosts", "{}", AtLeast(Operator)),
    case("GET", "/api/v1/hosts", "/api/v1/hosts", "", AtLeast(Viewer)),
    case("GET", "/api/v1/hosts/{hostname}", "/api/v1/hosts/{host}", "", AtLeast(Viewer)),
    case("POST", "/api/v1/hosts/{hostname}/metrics", "/api/v1/hosts/{host}/metrics", r#"{"hostname": "not-this-host"}"#, AtLeast(Agent)),
    case("POST", "/api/metrics", "/api/metrics", "{}", AtLeast(Agent)),
    case("GET", "/api/v1/hosts/{hostname}/series", "/api/v1/hosts/{host}/series?metric=cpu_percent", "", AtLeast(Viewer)),
    case("DELETE", "/api/v1/hosts/{hostname}", "/api/v1/hosts/{host}", "", AtLeast(Operator)),
    // alerting
    case("POST", "/api/v1/alert-rules", "/api/v1/alert-rules", "{}", AtLeast(Operator)),
    case("GET", "/api/v1/alert-rules", "/api/v1/alert-rules", "", AtLeast(Viewer)),
    case("GET", "/api/v1/alert-rules/{id}", "/api/v1/alert-rules/{rule}", "", AtLeast(Viewer)),
    case("PATCH", "/api/v1/alert-rules/{id}", "/api/v1/alert-rules/{rule}", r#"{"severity": "nope"}"#, AtLeast(Operator)),
    case("DELETE", "/api/v1/alert-rules/{id}", "/api/v1/alert-rules/{rule}", "", AtLeast(Operator)),
    case("GET", "/api/v1/alerts", "/api/v1/alerts", "", AtLeast(Viewer)),
    case("GET", "/api/v1/alerts/{id}", "/api/v1/alerts/{alert}", "", AtLeast(Viewer)),
    case("POST", "/api/v1/alerts/{id}/ack", "/api/v1/alerts/{alert}/ack", "{}", AtLeast(Operator)),
    case("POST", "/api/v1/silences", "/api/v1/silences", "{}", AtLeast(Operator)),
    case("GET", "/api/v1/silences", "/api/v1/silences", "", AtLeast(Viewer)),
    case("DELETE", "/api/v1/silences/{id}", "/api/v1/silences/{silence}", "", AtLeast(Operator)),
    case("POST", "/api/v1/channels", "/api/v1/channels", "{}", AtLeast(Operator)),
    case("GET", "/api/v1/channels", "/api/v1/channels", "", AtLeast(Viewer)),
    case("POST", "/api/v1/channels/{id}/test", "/api/v1/channels/{channel}/test", "{}", AtLeast(Operator)),
    case("PATCH", "/api/v1/channels/{id}", "/api/v1/channels/{channel}", r#"{"kind": "nope"}"#, AtLeast(Operator)),
    case("DELETE", "/api/v1/channels/{id}", "/api/v1/channels/{channel}", "", AtLeast(Operator)),
    // people and credentials
    case("POST", "/api/v1/login", "/api/v1/login", "{}", Public),
    case("POST", "/api/v1/logout", "/api/v1/logout", "", Session),
    case("GET", "/api/v1/me", "/api/v1/me", "", AtLeast(Agent)),
    case("POST", "/api/v1/users", "/api/v1/users", r#"{"username": "Not Valid"}"#, AtLeast(Admin)),
    case("GET", "/api/v1/users", "/api/v1/users", "", AtLeast(Admin)),
    case("PATCH", "/api/v1/users/{name}", "/api/v1/users/{user}", r#"{"role": "nope"}"#, AtLeast(Admin)),
    case("DELETE", "/api/v1/users/{name}", "/api/v1/users/{user}", "", AtLeast(Admin)),
    case("POST", "/api/v1/tokens", "/api/v1/tokens", r#"{"name": "x", "role": "root"}"#, AtLeast(Admin)),
    case("GET", "/api/v1/tokens", "/api/v1/tokens", "", AtLeast(Admin)),
    case("DELETE", "/api/v1/tokens/{id}", "/api/v1/tokens/{token}", "", AtLeast(Admin)),
    // status pages: managed like monitors; the public status, page and badges need nothing
    case("POST", "/api/v1/status-pages", "/api/v1/status-pages", "{}", AtLeast(Operator)),
    case("GET", "/api/v1/status-pages", "/api/v1/status-pages", "", AtLeast(Viewer)),
    case("GET", "/api/v1/status-pages/{slug}", "/api/v1/status-pages/nope", "", AtLeast(Viewer)),
    case("PATCH", "/api/v1/status-pages/{slug}", "/api/v1/status-pages/nope", r#"{"title": ""}"#, AtLeast(Operator)),
    case("DELETE", "/api/v1/status-pages/{slug}", "/api/v1/status-pages/nope", "", AtLeast(Operator)),
    case("POST", "/api/v1/status-pages/{slug}/incidents", "/api/v1/status-pages/nope/incidents", "{}", AtLeast(Operator)),
    case("POST", "/api/v1/status-pages/{slug}/incidents/{id}/updates", "/api/v1/status-pages/nope/incidents/{monitor}/updates", "{}", AtLeast(Operator)),
    case("POST", "/api/v1/status-pages/{slug}/maintenance", "/api/v1/status-pages/nope/maintenance", "{}", AtLeast(Operator)),
    case("PATCH", "/api/v1/status-pages/{slug}/maintenance/{id}", "/api/v1/status-pages/nope/maintenance/{monitor}", "{}", AtLeast(Operator)),
    case("DELETE", "/api/v1/status-pages/{slug}/maintenance/{id}", "/api/v1/status-pages/nope/maintenance/{monitor}", "", AtLeast(Operator)),
    case("PATCH", "/api/v1/status-pages/{slug}/incidents/{id}", "/api/v1/status-pages/nope/incidents/{monitor}", "{}", AtLeast(Operator)),
    case("GET", "/api/v1/status/{slug}", "/api/v1/status/nope", "", Public),
    case("GET", "/status/{slug}", "/status/nope", "", Public),
    case("GET", "/api/badge/{id}/status", "/api/badge/{monitor}/status", "", Public),
    case("GET", "/api/badge/{id}/uptime", "/api/badge/{monitor}/uptime", "", Public),
    case("GET", "/api/badge/{id}/uptime/{duration}", "/api/badge/{monitor}/uptime/7d", "", Public),
    case("GET", "/api/badge/{id}/ping", "/api/badge/{monitor}/ping", "", Public),
    case("GET", "/api/badge/{id}/ping/{duration}", "/api/badge/{monitor}/ping/24h", "", Public),
    case("GET", "/api/badge/{id}/avg-response/{duration}", "/api/badge/{monitor}/avg-response/24h", "", Public),
    case("GET", "/api/badge/{id}/response", "/api/badge/{monitor}/response", "", Public),
    case("GET", "/api/badge/{id}/cert-exp", "/api/badge/{monitor}/cert-exp", "", Public),
    // audit and the dashboard's data
    case("GET", "/api/v1/dashboard", "/api/v1/dashboard", "", AtLeast(Viewer)),
    case("GET", "/api/v1/events", "/api/v1/events", "", AtLeast(Admin)),
    case("GET", "/api/v1/audit/state", "/api/v1/audit/state", "", AtLeast(Viewer)),
    case("GET", "/api/v1/audit/verify", "/api/v1/audit/verify", "", AtLeast(Viewer)),
    case("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", "", Public),
    // the seed systems' routes (`[compat] public_reads` is off here)
    case("GET", "/api/health", "/api/health", "", Public),
    case("GET", "/api/servers", "/api/servers", "", AtLeast(Viewer)),
    case("GET", "/api/servers/{hostname}/latest", "/api/servers/{host}/latest", "", AtLeast(Viewer)),
    case("GET", "/api/servers/{hostname}/history", "/api/servers/{host}/history", "", AtLeast(Viewer)),
    case("GET", "/api/servers/{hostname}/disks", "/api/servers/{host}/disks", "", AtLeast(Viewer)),
    case("GET", "/api/servers/{hostname}/network", "/api/servers/{host}/network", "", AtLeast(Viewer)),
    case("GET", "/api/v1/metrics/current", "/api/v1/metrics/current", "", AtLeast(Viewer)),
    case("GET", "/api/v1/metrics/history", "/api/v1/metrics/history?type=cpu_percent", "", AtLeast(Viewer)),
    case("GET", "/api/v1/alerts/active", "/api/v1/alerts/active", "", AtLeast(Viewer)),
    case("GET", "/api/v1/alerts/history", "/api/v1/alerts/history", "", AtLeast(Viewer)),
];

/// Routes of `configure` the matrix cannot test with plain requests.
const NOT_IN_MATRIX: &[&str] = &[
    // A WebSocket upgrade; `/ws` authenticates in its own tests.
    "/ws",
    // Named by the build's content hashes; `site::` fetches them from the page.
    "/assets/{file}",
];

/// A credential a request of the matrix is sent with.
#[derive(Copy, Clone, Debug)]
enum Who {
    Nobody,
    UnknownToken,
    RevokedToken,
    ExpiredToken,
    Token(Rank),
    SessionOf(Rank),
}

/// What the matrix accepts as an answer.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Outcome {
    Unauthorized,
    Forbidden,
    /// Neither 401 nor 403: the handler's own answer.
    LetIn,
}

fn expected(access: Access, who: Who) -> Outcome {
    match (access, who) {
        (Public, _) => Outcome::LetIn,
        (_, Who::Nobody | Who::UnknownToken | Who::RevokedToken | Who::ExpiredToken) => {
            Outcome::Unauthorized
        }
        (Session, Who::Token(_)) => Outcome::Unauthorized,
        (Session, Who::SessionOf(_)) => Outcome::LetIn,
        (AtLeast(needed), Who::Token(rank) | Who::SessionOf(rank)) => {
            if rank >= needed {
                Outcome::LetIn
            } else {
                Outcome::Forbidden
            }
        }
    }
}

fn outcome_of(status: u16) -> Outcome {
    match status {
        401 => Outcome::Unauthorized,
        403 => Outcome::Forbidden,
        _ => Outcome::LetIn,
    }
}

/// A `Cookie` header carrying the session `value`.
fn cookie_header(value: &str) -> String {
    format!("watchfire_session={value}")
}

/// The session value of a login answer's `Set-Cookie`.
fn session_of(reply: &Reply) -> String {
    let set = reply
        .header("set-cookie")
        .unwrap_or_else(|| panic!("a login answers with Set-Cookie: {}", reply.body));
    set.split(';')
        .next()
        .and_then(|pair| pair.trim().strip_prefix("watchfire_session="))
        .unwrap_or_else(|| panic!("the cookie is watchfire_session: {set}"))
        .to_owned()
}

/// Sends `body` (JSON text, or none) with an optional bearer token and cookie.
fn call(
    api: &Api,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    session: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let cookie = session.map(cookie_header);
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("cookie", c.as_str())).collect();
    let body = body.map(|b| ("application/json", b.as_bytes().to_vec()));
    api.send(method, path, bearer, &headers, body)
}

/// `POST /api/v1/login` without credentials.
fn login(api: &Api, username: &str, password: &str) -> Reply {
    let body = json!({"username": username, "password": password}).to_string();
    call(api, "POST", "/api/v1/login", None, None, Some(&body))
}

/// Creates a user as admin, which must answer 201.
fn add_user(api: &Api, username: &str, password: &str, role: &str) {
    api.post(
        "/api/v1/users",
        &json!({"username": username, "password": password, "role": role}),
    )
    .expect(201, "creating a user");
}

/// Creates an API token as admin: (id, value).
fn add_token(api: &Api, name: &str, role: &str, expires_at: Option<String>) -> (String, String) {
    let mut body = json!({"name": name, "role": role});
    if let Some(at) = expires_at {
        body["expires_at"] = json!(at);
    }
    let reply = api
        .post("/api/v1/tokens", &body)
        .expect(201, "creating a token");
    let json = reply.json();
    let field = |k: &str| {
        json[k]
            .as_str()
            .unwrap_or_else(|| panic!("a created token has {k}: {json}"))
            .to_owned()
    };
    (field("id"), field("token"))
}

/// The body of what a POST as admin created (201).
fn created_id(api: &Api, path: &str, body: &Value) -> Value {
    let reply = api.post(path, body).expect(201, path);
    reply.json()
}

/// How many events the user, token and session streams hold.
fn people_events(dir: &Path) -> usize {
    replay(dir, None)
        .iter()
        .filter(|e| {
            e["stream"].as_str().is_some_and(|s| {
                s.starts_with("user-") || s.starts_with("token-") || s.starts_with("session-")
            })
        })
        .count()
}

/// A password long enough for the server.
const PASSWORD: &str = "correct-horse-battery-staple";

#[test]
fn every_route_of_configure_is_in_the_role_matrix() {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/mod.rs"))
        .expect("src/http/mod.rs is readable");
    let route = regex::Regex::new(r#"\.route\(\s*"([^"]+)"\s*,\s*web::(\w+)\(\)"#)
        .expect("a valid pattern");
    let declared: Vec<(String, String)> = route
        .captures_iter(&source)
        .map(|c| (c[2].to_uppercase(), c[1].to_owned()))
        .collect();
    assert!(declared.len() > 40, "the routes were found: {declared:?}");
    let missing: Vec<String> = declared
        .iter()
        .filter(|(_, path)| !NOT_IN_MATRIX.contains(&path.as_str()))
        .filter(|(method, path)| {
            !ROUTE_ACCESS.iter().any(|c| {
                c.method == method
                    && (c.route == path || c.route.strip_prefix("/api/v1") == Some(path.as_str()))
            })
        })
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes of configure missing from ROUTE_ACCESS in tests/integration/auth.rs: {missing:?}"
    );
}

#[test]
fn a_role_matrix_answers_every_route_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);

    // The expired token first, so its seconds run out while the rest is set up.
    let soon = (Utc::now() + TimeDelta::seconds(2)).to_rfc3339();
    let (_, expired) = add_token(&api, "short-lived", "admin", Some(soon));
    let (revoked_id, revoked) = add_token(&api, "revoked", "admin", None);
    api.command(
        "DELETE",
        &format!("/api/v1/tokens/{revoked_id}"),
        None,
        None,
    )
    .expect(200, "revoking a token");
    let (_, agent) = add_token(&api, "agent", "agent", None);
    let (_, viewer) = add_token(&api, "viewer", "viewer", None);
    let (_, operator) = add_token(&api, "operator", "operator", None);
    add_user(&api, "matrix-viewer", PASSWORD, "viewer");
    add_user(&api, "matrix-admin", PASSWORD, "admin");
    let viewer_session = session_of(&login(&api, "matrix-viewer", PASSWORD).expect(200, "login"));
    let admin_session = session_of(&login(&api, "matrix-admin", PASSWORD).expect(200, "login"));

    let monitor = created_id(
        &api,
        "/api/v1/monitors",
        &json!({"name": "matrix", "kind": "push", "interval_s": 60}),
    );
    let monitor_id = monitor["id"].as_str().expect("a monitor id").to_owned();
    let push_token = monitor["push_token"]
        .as_str()
        .expect("a push token")
        .to_owned();
    call(
        &api,
        "POST",
        "/api/v1/hosts/matrix-host/metrics",
        Some(&agent),
        None,
        Some(r#"{"hostname": "matrix-host"}"#),
    )
    .expect(200, "an agent's first push");
    let rule = created_id(
        &api,
        "/api/v1/alert-rules",
        &json!({"name": "matrix down", "severity": "warning",
                "condition": {"kind": "monitor_down", "monitor": monitor_id}, "channels": []}),
    );
    let silence = created_id(
        &api,
        "/api/v1/silences",
        &json!({"matchers": {"tag": "matrix"}, "ends_at": (Utc::now() + TimeDelta::hours(1)).to_rfc3339()}),
    );
    let channel = created_id(
        &api,
        "/api/v1/channels",
        &json!({"name": "matrix", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "matrix-secret"}),
    );
    let fill = |path: &str| {
        path.replace("{monitor}", &monitor_id)
            .replace("{push_token}", &push_token)
            .replace("{host}", "matrix-host")
            .replace("{rule}", rule["id"].as_str().unwrap_or("none"))
            .replace("{alert}", &uuid::Uuid::new_v4().to_string())
            .replace("{silence}", silence["id"].as_str().unwrap_or("none"))
            .replace("{channel}", channel["id"].as_str().unwrap_or("none"))
            // Deleting these for real would end the matrix's own credentials.
            .replace("{user}", "nobody-here")
            .replace("{token}", &uuid::Uuid::new_v4().to_string())
    };

    wait_for("the short-lived token to expire", || {
        let reply = call(&api, "GET", "/api/v1/monitors", Some(&expired), None, None);
        (reply.status == 401).then_some(())
    });

    let unknown = format!("wf_{}", "0".repeat(64));
    let everyone = [
        Who::Nobody,
        Who::UnknownToken,
        Who::RevokedToken,
        Who::ExpiredToken,
        Who::Token(Agent),
        Who::Token(Viewer),
        Who::Token(Operator),
        Who::Token(Admin),
        Who::SessionOf(Viewer),
        Who::SessionOf(Admin),
    ];
    // A row whose route is not served (yet) gets the default service's 404; a served one
    // refuses an anonymous request before doing anything (or is public and harmless here).
    let routes: Vec<&RouteCase> = ROUTE_ACCESS
        .iter()
        .filter(|c| {
            let probe = call(&api, c.method, &fill(c.path), None, None, None);
            !(probe.status == 404 && probe.body.contains("no route for"))
        })
        .collect();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for c in &routes {
        let path = fill(c.path);
        let body = matches!(c.method, "POST" | "PATCH" | "PUT").then_some(c.body);
        for who in everyone {
            // Logging out ends the session it is sent with: those get one of their own.
            let own_session = |rank: Rank| {
                let name = if rank == Admin {
                    "matrix-admin"
                } else {
                    "matrix-viewer"
                };
                session_of(&login(&api, name, PASSWORD).expect(200, "login"))
            };
            let (bearer, session) = match who {
                Who::Nobody => (None, None),
                Who::UnknownToken => (Some(unknown.clone()), None),
                Who::RevokedToken => (Some(revoked.clone()), None),
                Who::ExpiredToken => (Some(expired.clone()), None),
                Who::Token(Agent) => (Some(agent.clone()), None),
                Who::Token(Viewer) => (Some(viewer.clone()), None),
                Who::Token(Operator) => (Some(operator.clone()), None),
                Who::Token(Admin) => (Some(ADMIN_TOKEN.to_owned()), None),
                Who::SessionOf(rank) if matches!(c.access, Session) => {
                    (None, Some(own_session(rank)))
                }
                Who::SessionOf(Admin) => (None, Some(admin_session.clone())),
                Who::SessionOf(_) => (None, Some(viewer_session.clone())),
            };
            let reply = call(
                &api,
                c.method,
                &path,
                bearer.as_deref(),
                session.as_deref(),
                body,
            );
            let want = expected(c.access, who);
            if outcome_of(reply.status) != want {
                wrong.push(format!(
                    "{} {} as {who:?}: {} (wanted {want:?}) {}",
                    c.method, path, reply.status, reply.body
                ));
            }
            checked += 1;
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} answers are wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        routes.len() >= 45,
        "the matrix covered the routes: {} of {}",
        routes.len(),
        ROUTE_ACCESS.len()
    );
}

#[test]
fn logging_in_sets_a_strict_http_only_cookie_and_logging_out_ends_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    add_user(&api, "ann", PASSWORD, "viewer");

    let reply = login(&api, "ann", PASSWORD).expect(200, "logging in");
    let body = reply.json();
    assert_eq!(body["username"], "ann");
    assert_eq!(body["role"], "viewer");
    let expires = body["expires_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("expires_at is a time: {body}"));
    assert!(
        expires > Utc::now() + TimeDelta::hours(23),
        "a session lasts a day: {body}"
    );
    let set_cookie = reply.header("set-cookie").unwrap_or_default().to_owned();
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=86400"] {
        assert!(
            attributes.contains(&wanted),
            "the cookie has {wanted}: {set_cookie}"
        );
    }
    assert!(
        !attributes.contains(&"Secure"),
        "no Secure flag over plain http unless configured: {set_cookie}"
    );
    let session = session_of(&reply);

    call(&api, "GET", "/api/v1/monitors", None, Some(&session), None)
        .expect(200, "the cookie authenticates");
    let refused = call(
        &api,
        "POST",
        "/api/v1/monitors",
        None,
        Some(&session),
        Some("{}"),
    )
    .expect(403, "a viewer's session may not change things");
    assert!(refused.json()["detail"]
        .as_str()
        .unwrap_or("")
        .contains("viewer"));
    call(
        &api,
        "GET",
        "/api/v1/monitors",
        Some("wf_not-a-token"),
        Some(&session),
        None,
    )
    .expect(
        401,
        "a bad bearer token is refused even beside a good cookie",
    );

    let out =
        call(&api, "POST", "/api/v1/logout", None, Some(&session), None).expect(204, "logging out");
    let cleared = out.header("set-cookie").unwrap_or_default();
    assert!(
        cleared.starts_with("watchfire_session=;") && cleared.contains("Max-Age=0"),
        "logging out clears the cookie: {cleared}"
    );
    let after = call(&api, "GET", "/api/v1/monitors", None, Some(&session), None)
        .expect(401, "a closed session is refused");
    assert!(
        after.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("closed"),
        "the refusal says why: {}",
        after.body
    );
    call(&api, "POST", "/api/v1/logout", None, Some(&session), None)
        .expect(401, "a session ends once");
    call(&api, "POST", "/api/v1/logout", None, None, None).expect(401, "no session, no logout");
    call(
        &api,
        "POST",
        "/api/v1/logout",
        Some(ADMIN_TOKEN),
        None,
        None,
    )
    .expect(401, "a bearer token is no session");

    let wrong = login(&api, "ann", "not-the-password").expect(401, "a wrong password");
    let unknown = login(&api, "nobody", PASSWORD).expect(401, "an unknown user");
    assert_eq!(
        wrong.json()["detail"],
        unknown.json()["detail"],
        "an unknown user and a wrong password look the same"
    );
}

#[test]
fn a_deleted_users_session_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    add_user(&api, "bob", PASSWORD, "operator");
    let session = session_of(&login(&api, "bob", PASSWORD).expect(200, "logging in"));
    call(
        &api,
        "POST",
        "/api/v1/monitors",
        None,
        Some(&session),
        Some("{}"),
    )
    .expect(422, "an operator's session gets to the handler");

    api.command("DELETE", "/api/v1/users/bob", None, None)
        .expect(200, "deleting the user");
    let refused = call(&api, "GET", "/api/v1/monitors", None, Some(&session), None)
        .expect(401, "the session of a deleted user");
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("deleted"),
        "the refusal says why: {}",
        refused.body
    );
    login(&api, "bob", PASSWORD).expect(401, "a deleted user cannot log in");

    add_user(&api, "bob", PASSWORD, "viewer");
    call(&api, "GET", "/api/v1/monitors", None, Some(&session), None).expect(
        401,
        "a new user of the same name does not inherit old sessions",
    );
    let again = session_of(&login(&api, "bob", PASSWORD).expect(200, "the new bob logs in"));
    call(
        &api,
        "POST",
        "/api/v1/monitors",
        None,
        Some(&again),
        Some("{}"),
    )
    .expect(403, "with the new user's role");
}

#[test]
fn the_sixth_failed_login_in_a_minute_is_throttled_even_with_the_right_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    add_user(&api, "cy", PASSWORD, "viewer");
    add_user(&api, "dee", PASSWORD, "viewer");

    for attempt in 1..=5 {
        login(&api, "cy", &format!("wrong-password-{attempt}"))
            .expect(401, "a failure under the limit");
    }
    let limited = login(&api, "cy", "wrong-password-6").expect(429, "the sixth failure");
    let retry: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 carries Retry-After in seconds: {:?}", limited.headers));
    assert!(
        (1..=60).contains(&retry),
        "Retry-After within the window: {retry}"
    );
    assert_eq!(
        limited.header("content-type"),
        Some("application/problem+json")
    );
    login(&api, "cy", PASSWORD).expect(429, "even the right password while limited");
    login(&api, "dee", PASSWORD).expect(429, "the same client is limited for every user");

    // From another loopback address: the username is still limited, another user is not.
    let elsewhere: IpAddr = [127, 0, 0, 2].into();
    let other = reqwest::Client::builder()
        .local_address(elsewhere)
        .build()
        .expect("a client on 127.0.0.2");
    let login_from = |username: &str| {
        let body = json!({"username": username, "password": PASSWORD});
        api.runtime.block_on(async {
            other
                .post(format!("{}/api/v1/login", api.base))
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or_else(|e| panic!("login from 127.0.0.2 got no answer: {e}"))
        })
    };
    assert_eq!(
        login_from("cy"),
        429,
        "the username is limited from anywhere"
    );
    assert_eq!(login_from("dee"), 200, "another client and user are not");
}

#[test]
fn users_and_tokens_are_managed_and_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);

    // Users: create, list without hashes, delete, create again under the same name.
    let created = api
        .post(
            "/api/v1/users",
            &json!({"username": "eve.ops", "password": PASSWORD, "role": "operator"}),
        )
        .expect(201, "creating a user");
    let user = created.json();
    assert_eq!(user["username"], "eve.ops");
    assert_eq!(user["role"], "operator");
    assert!(user["created_at"].is_string(), "{user}");
    assert!(!created.body.contains("argon2") && !created.body.contains(PASSWORD));
    assert!(created.position() > 0, "answered once durable");
    let users = api.get("/api/v1/users").expect(200, "listing users");
    assert_eq!(users.json()["users"][0]["username"], "eve.ops");
    assert!(
        !users.body.contains("argon2"),
        "no hash listed: {}",
        users.body
    );
    api.command("DELETE", "/api/v1/users/eve.ops", None, None)
        .expect(200, "deleting a user");
    assert_eq!(api.get("/api/v1/users").json()["users"], json!([]));
    api.post(
        "/api/v1/users",
        &json!({"username": "eve.ops", "password": PASSWORD, "role": "viewer"}),
    )
    .expect(201, "a deleted user's name can be used again");

    // Tokens: create (the value shown once), use, list without it, revoke.
    let (id, value) = add_token(&api, "ci", "viewer", None);
    call(&api, "GET", "/api/v1/monitors", Some(&value), None, None)
        .expect(200, "a new token works at once");
    let listed = api.get("/api/v1/tokens").expect(200, "listing tokens");
    let hash = hex::encode(Sha256::digest(value.as_bytes()));
    assert!(
        !listed.body.contains(&value) && !listed.body.contains(&hash),
        "neither the value nor its hash is listed: {}",
        listed.body
    );
    let tokens = listed.json()["tokens"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ours = tokens
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap_or_else(|| panic!("the token is listed: {}", listed.body));
    assert_eq!(ours["name"], "ci");
    assert_eq!(ours["role"], "viewer");
    assert!(
        ours["created_at"].is_string() && ours["revoked_at"].is_null(),
        "{ours}"
    );
    let revoked = api
        .command("DELETE", &format!("/api/v1/tokens/{id}"), None, None)
        .expect(200, "revoking a token");
    assert!(revoked.json()["revoked_at"].is_string(), "{}", revoked.body);
    let refused = call(&api, "GET", "/api/v1/monitors", Some(&value), None, None)
        .expect(401, "a revoked token");
    assert!(refused.json()["detail"]
        .as_str()
        .unwrap_or("")
        .contains("revoked"));

    // Every refusal below leaves the log as it is.
    let before = people_events(dir.path());
    let user_body = |extra: Value| {
        let mut body = json!({"username": "fay", "password": PASSWORD, "role": "viewer"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if v.is_null() {
                    b.remove(k);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        body.to_string()
    };
    let soon_past = (Utc::now() - TimeDelta::seconds(5)).to_rfc3339();
    let bad: Vec<(&str, String, String, u16, &str)> = vec![
        (
            "POST",
            "/api/v1/users".into(),
            user_body(json!({"username": null})),
            422,
            "username",
        ),
        (
            "POST",
            "/api/v1/users".into(),
            user_body(json!({"username": "Fay"})),
            422,
            "username",
        ),
        (
            "POST",
            "/api/v1/users".into(),
            user_body(json!({"username": "a".repeat(65)})),
            422,
            "username",
        ),
        (
            "POST",
            "/api/v1/users".into(),
            user_body(json!({"password": "short"})),
            422,
            "password",
        ),
        (
            "POST",
            "/api/v1/users".into(),
            user_body(json!({"password": "x".repeat(1025)})),
            422,
            "password",
        ),
        (
            "POST",
            "/api/v1/users".into(),
            user_body(json!({"role": "root"})),
            422,
            "role",
        ),
        (
            "POST",
            "/api/v1/users".into(),
            user_body(json!({"role": null})),
            422,
            "role",
        ),
        (
            "POST",
            "/api/v1/users".into(),
            user_body(json!({"email": "x"})),
            422,
            "email",
        ),
        ("POST", "/api/v1/users".into(), "[1]".into(), 422, "object"),
        (
            "POST",
            "/api/v1/users".into(),
            user_body(json!({"username": "eve.ops"})),
            409,
            "eve.ops",
        ),
        (
            "DELETE",
            "/api/v1/users/nobody".into(),
            String::new(),
            404,
            "user",
        ),
        (
            "DELETE",
            "/api/v1/users/Not%20A%20Name".into(),
            String::new(),
            404,
            "user",
        ),
        (
            "POST",
            "/api/v1/tokens".into(),
            r#"{"role": "viewer"}"#.into(),
            422,
            "name",
        ),
        (
            "POST",
            "/api/v1/tokens".into(),
            r#"{"name": "", "role": "viewer"}"#.into(),
            422,
            "name",
        ),
        (
            "POST",
            "/api/v1/tokens".into(),
            r#"{"name": "x"}"#.into(),
            422,
            "role",
        ),
        (
            "POST",
            "/api/v1/tokens".into(),
            r#"{"name": "x", "role": "root"}"#.into(),
            422,
            "role",
        ),
        (
            "POST",
            "/api/v1/tokens".into(),
            json!({"name": "x", "role": "viewer", "expires_at": soon_past}).to_string(),
            422,
            "expires_at",
        ),
        (
            "POST",
            "/api/v1/tokens".into(),
            r#"{"name": "x", "role": "viewer", "expires_at": "soon"}"#.into(),
            422,
            "expires_at",
        ),
        (
            "DELETE",
            format!("/api/v1/tokens/{id}"),
            String::new(),
            404,
            "token",
        ),
        (
            "DELETE",
            "/api/v1/tokens/not-a-uuid".into(),
            String::new(),
            404,
            "token",
        ),
        (
            "DELETE",
            format!("/api/v1/tokens/{}", uuid::Uuid::new_v4()),
            String::new(),
            404,
            "token",
        ),
        ("POST", "/api/v1/login".into(), "{}".into(), 422, "username"),
        (
            "POST",
            "/api/v1/login".into(),
            r#"{"username": "eve.ops"}"#.into(),
            422,
            "password",
        ),
    ];
    for (method, path, body, status, named) in &bad {
        let body = (!body.is_empty()).then_some(body.as_str());
        let reply = call(&api, method, path, Some(ADMIN_TOKEN), None, body);
        assert_eq!(
            reply.status, *status,
            "{method} {path} {body:?}: {}",
            reply.body
        );
        let detail = reply.json()["detail"].as_str().unwrap_or("").to_owned();
        assert!(
            detail.contains(named),
            "{method} {path}: the detail names {named}: {detail}"
        );
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
    }
    assert_eq!(
        people_events(dir.path()),
        before,
        "no refused request wrote to the user, token or session streams"
    );
}

#[test]
fn no_secret_reaches_responses_logs_or_replay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    let password = "a-very-secret-password-42";
    let wrong = "a-wrong-secret-password-43";
    let (_, token) = add_token(&api, "secret-keeper", "admin", None);
    let user = api
        .post(
            "/api/v1/users",
            &json!({"username": "gus", "password": password, "role": "admin"}),
        )
        .expect(201, "creating a user");
    login(&api, "gus", wrong).expect(401, "a wrong password");
    let logged_in = login(&api, "gus", password).expect(200, "logging in");
    let session = session_of(&logged_in);
    call(&api, "GET", "/api/v1/users", None, Some(&session), None).expect(200, "the session works");
    let mut answers = vec![user.body, logged_in.body];
    for path in [
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/events",
        "/metrics",
    ] {
        let reply = call(&api, "GET", path, Some(&token), None, None);
        answers.push(reply.body);
    }
    let secrets = [token.as_str(), password, wrong, session.as_str()];
    let log_lines = server.stderr().join("\n");
    let replayed: String = replay(dir.path(), None)
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!log_lines.is_empty(), "the server logged something");
    for secret in secrets {
        assert!(
            !log_lines.contains(secret),
            "a secret in the server's log lines"
        );
        assert!(!replayed.contains(secret), "a secret in replay's output");
        for answer in &answers {
            assert!(!answer.contains(secret), "a secret in an answer: {answer}");
        }
    }
}

#[test]
fn me_names_the_session_user_or_the_token_with_its_role() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    add_user(&api, "ann", PASSWORD, "operator");
    let session = session_of(&login(&api, "ann", PASSWORD).expect(200, "logging in"));

    let me = call(&api, "GET", "/api/v1/me", None, Some(&session), None)
        .expect(200, "a session asks who it is")
        .json();
    assert_eq!(me["kind"], "session", "{me}");
    assert_eq!(me["name"], "ann", "{me}");
    assert_eq!(me["role"], "operator", "{me}");
    assert!(me["expires_at"].is_string(), "a session expires: {me}");

    let me = api.get("/api/v1/me").expect(200, "the admin token").json();
    assert_eq!(me["kind"], "token", "{me}");
    assert_eq!(me["role"], "admin", "{me}");

    call(&api, "GET", "/api/v1/me", Some("not-a-token"), None, None)
        .expect(401, "an unknown token");
    call(&api, "GET", "/api/v1/me", None, None, None).expect(401, "no credentials");
}

#[test]
fn the_cli_holds_a_tokens_name_to_the_apis_rule_and_a_refused_name_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    let path = dir.path().to_str().expect("temp dirs are UTF-8");
    let before = people_events(dir.path());
    for name in ["x".repeat(101), "   ".to_owned(), "a\tb".to_owned()] {
        let (code, stdout, stderr) = super::helpers::run_cli(&[
            "token",
            "--data-dir",
            path,
            "create",
            "--role",
            "viewer",
            "--name",
            &name,
        ]);
        assert_ne!(code, 0, "{name:?} is refused; stdout: {stdout}");
        assert!(
            stderr.contains("--name") && stderr.contains("1 to 100 characters"),
            "the error names the flag and the rule: {stderr}"
        );
        assert!(!stdout.contains("wf_"), "no token is printed: {stdout}");
    }
    assert_eq!(
        people_events(dir.path()),
        before,
        "a refused name writes nothing"
    );
    // The same rule as POST /tokens: 100 characters, trimmed, are a name.
    let (code, _, stderr) = super::helpers::run_cli(&[
        "token",
        "--data-dir",
        path,
        "create",
        "--role",
        "viewer",
        "--name",
        &format!(" {} ", "é".repeat(100)),
    ]);
    assert_eq!(code, 0, "100 characters fit; stderr: {stderr}");
    let listed = api
        .get("/api/v1/tokens")
        .expect(200, "listing tokens")
        .json();
    assert!(
        listed["tokens"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "é".repeat(100))),
        "listed under its trimmed name: {listed}"
    );
}

#[test]
fn a_token_from_the_cli_works_the_moment_it_is_printed_while_the_server_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    for role in ["viewer", "operator", "agent", "admin", "viewer"] {
        let token = create_token(dir.path(), role);
        let me = call(&api, "GET", "/api/v1/me", Some(&token), None, None)
            .expect(200, "the new token, used at once")
            .json();
        assert_eq!(me["role"], role, "{me}");
    }
}

#[test]
fn a_user_patch_changes_the_role_at_once_and_a_new_password_ends_the_users_sessions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let api = Api::new(&server);
    add_user(&api, "kim", PASSWORD, "operator");
    let first = session_of(&login(&api, "kim", PASSWORD).expect(200, "login"));
    let second = session_of(&login(&api, "kim", PASSWORD).expect(200, "login"));
    let role_of = |session: &str| {
        call(&api, "GET", "/api/v1/me", None, Some(session), None).json()["role"].clone()
    };
    assert_eq!(role_of(&first), "operator");
    let updates = || {
        replay(dir.path(), None)
            .iter()
            .filter(|e| e["type"] == "UserUpdated")
            .count()
    };

    // Refused: each names its field (or is a 404) and appends nothing.
    for (body, field) in [
        (json!({}), "role"),
        (json!({"role": "chief"}), "role"),
        (json!({"password": "short"}), "password"),
        (json!({"password": 12345678901234_u64}), "password"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let reply = api.command("PATCH", "/api/v1/users/kim", Some(&body), None);
        assert_eq!(reply.status, 422, "{body}: {}", reply.body);
        assert!(
            reply.body.contains(field),
            "{body}: the problem names {field}: {}",
            reply.body
        );
    }
    api.command(
        "PATCH",
        "/api/v1/users/nobody",
        Some(&json!({"role": "viewer"})),
        None,
    )
    .expect(404, "an unknown user");
    assert_eq!(updates(), 0, "no refused patch wrote anything");

    // A new role applies to the open sessions at once.
    let viewer = api
        .command(
            "PATCH",
            "/api/v1/users/kim",
            Some(&json!({"role": "viewer"})),
            None,
        )
        .expect(200, "changing the role");
    assert_eq!(viewer.json()["role"], "viewer");
    assert_eq!(role_of(&first), "viewer");
    let body = json!({"name": "x", "kind": "push"}).to_string();
    call(
        &api,
        "POST",
        "/api/v1/monitors",
        None,
        Some(&first),
        Some(&body),
    )
    .expect(403, "a viewer may no longer change monitors");

    // A new password: the old one and every open session stop working.
    let new_password = "a-much-better-passphrase";
    api.command(
        "PATCH",
        "/api/v1/users/kim",
        Some(&json!({"password": new_password})),
        None,
    )
    .expect(200, "changing the password");
    for session in [&first, &second] {
        call(&api, "GET", "/api/v1/me", None, Some(session), None)
            .expect(401, "a session from before the new password");
    }
    login(&api, "kim", PASSWORD).expect(401, "the old password");
    let again = session_of(&login(&api, "kim", new_password).expect(200, "the new password"));
    assert_eq!(role_of(&again), "viewer", "the role is kept");
    assert_eq!(updates(), 2);
    let events = api
        .get("/api/v1/events?type=UserUpdated")
        .expect(200, "the log");
    assert!(
        !events.body.contains("argon2"),
        "no password hash in the log's JSON: {}",
        events.body
    );
}
