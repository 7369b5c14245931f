//! `GET /api/v1/openapi.json` from the real server: public, JSON, accepted by a real OpenAPI
//! validator (Python's openapi-spec-validator, which scripts/test.sh installs), and true to
//! the server: the live answers of nearly every route fit the schema the document gives
//! for their status (checked with openapi-schema-validator, which comes with it).

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::api::{create_token, start_in_process, wait_for, Api, Reply, ADMIN_TOKEN};

/// Runs `python3` with `args`: (exit code, everything it printed).
fn python(args: &[&str]) -> (i32, String) {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("python3 runs (scripts/test.sh installs openapi-spec-validator)");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), printed)
}

/// Validates each live answer against its schema, with the document's components in scope.
const VALIDATE_ANSWERS: &str = r#"
import json, sys
from openapi_schema_validator import OAS31Validator
data = json.load(open(sys.argv[1]))
failures = 0
for case in data["cases"]:
    root = dict(case["schema"])
    root["components"] = data["components"]
    validator = OAS31Validator(root, format_checker=OAS31Validator.FORMAT_CHECKER)
    for error in validator.iter_errors(case["instance"]):
        failures += 1
        where = "/".join(str(p) for p in error.absolute_path)
        print(f"{case['what']}: at /{where}: {error.message}")
print(f"{len(data['cases'])} answers checked, {failures} failures")
sys.exit(1 if failures else 0)
"#;

/// Live answers and the schemas the document gives for them.
struct Answers<'a> {
    api: &'a Api,
    doc: &'a Value,
    cases: Vec<Value>,
}

impl Answers<'_> {
    /// Sends `method path` (documented as `template`) with `token`, `headers` and a JSON
    /// `body`; the answer's status must be `expected` and documented, its media type the
    /// documented one, and its body is kept to be checked against the documented schema.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
        expected: u16,
    ) -> Reply {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        let reply = self.api.send(method, path, token, headers, body);
        self.record(method, template, reply, expected)
    }

    /// As [`Answers::send`], as admin with no extra header.
    fn admin(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        body: Option<&Value>,
        expected: u16,
    ) -> Reply {
        self.send(
            method,
            template,
            path,
            Some(ADMIN_TOKEN),
            &[],
            body,
            expected,
        )
    }

    /// Checks `reply` against the document's operation `method template`.
    fn record(&mut self, method: &str, template: &str, reply: Reply, expected: u16) -> Reply {
        let what = format!("{method} {template} -> {}", reply.status);
        assert_eq!(reply.status, expected, "{what}: {}", reply.body);
        let operation = &self.doc["paths"][template][method.to_ascii_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        let mut response = operation["responses"][reply.status.to_string()].clone();
        assert!(
            response.is_object(),
            "{what}: the document lists no such answer: {}",
            operation["responses"]
        );
        if let Some(target) = response["$ref"].as_str() {
            response = self
                .doc
                .pointer(target.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{what}: {target} resolves to nothing"))
                .clone();
        }
        let Some(content) = response["content"].as_object() else {
            assert!(reply.body.is_empty(), "{what}: a body not documented");
            return reply;
        };
        let (media, media_type) = content.iter().next().expect("a documented media type");
        let content_type = reply.header("content-type").unwrap_or("");
        assert!(
            content_type.starts_with(media.as_str()),
            "{what}: answered {content_type:?}, documented {media:?}"
        );
        if media.ends_with("json") {
            self.cases.push(json!({
                "what": what,
                "schema": media_type["schema"],
                "instance": reply.json(),
            }));
        }
        reply
    }
}

/// The id of a created resource.
fn id_of(reply: &Reply) -> String {
    reply.json()["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {}", reply.body))
        .to_owned()
}

#[test]
fn the_openapi_document_is_public_valid_and_fits_the_live_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);

    let reply = api
        .send("GET", "/api/v1/openapi.json", None, &[], None)
        .expect(200, "the document, without credentials");
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "served as JSON: {:?}",
        reply.header("content-type")
    );
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"], json!([{"url": "/"}]));
    for path in [
        "/health",
        "/ws",
        "/api/push/{token}",
        "/api/v1/monitors/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }

    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &reply.body).expect("the document is written");
    let (code, printed) = python(&[
        "-m",
        "openapi_spec_validator",
        file.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(code, 0, "openapi-spec-validator accepts it: {printed}");

    let answers = live_answers(&api, &doc, dir.path());
    let cases = dir.path().join("answers.json");
    let input = json!({"components": doc["components"], "cases": answers});
    std::fs::write(&cases, input.to_string()).expect("the answers are written");
    let (code, printed) = python(&["-c", VALIDATE_ANSWERS, cases.to_str().expect("UTF-8 path")]);
    assert_eq!(
        code, 0,
        "the live answers fit the documented schemas:\n{printed}"
    );
    let checked = input["cases"].as_array().map_or(0, Vec::len);
    assert!(
        checked > 50 && printed.contains(&format!("{checked} answers checked, 0 failures")),
        "every answer was checked: {printed}"
    );
    drop(server);
}

/// Exercises nearly every route and gathers its answers with their documented schemas.
fn live_answers(api: &Api, doc: &Value, dir: &Path) -> Vec<Value> {
    let mut a = Answers {
        api,
        doc,
        cases: Vec::new(),
    };
    a.send("GET", "/health", "/health", None, &[], None, 200);
    a.send(
        "GET",
        "/health/ready",
        "/health/ready",
        None,
        &[],
        None,
        200,
    );
    a.admin("GET", "/metrics", "/metrics", None, 200);
    let open = "/api/v1/openapi.json";
    a.send("GET", open, open, None, &[], None, 200);

    // Problems.
    let monitors = "/api/v1/monitors";
    a.send("GET", monitors, monitors, None, &[], None, 401);
    let agent = create_token(dir, "agent");
    a.send("GET", monitors, monitors, Some(&agent), &[], None, 403);
    a.admin(
        "POST",
        monitors,
        monitors,
        Some(&json!({"name": "x", "kind": "ftp"})),
        422,
    );
    let reply = api.send(
        "POST",
        monitors,
        Some(ADMIN_TOKEN),
        &[],
        Some(("text/plain", b"{}".to_vec())),
    );
    a.record("POST", monitors, reply, 415);
    let missing = "/api/v1/monitors/0b7e9a43-3f7c-4d62-9a51-8f1d2c3b4a5e";
    a.admin("GET", "/api/v1/monitors/{id}", missing, None, 404);

    // Monitors and heartbeats.
    let created = a.admin(
        "POST",
        monitors,
        monitors,
        Some(&json!({"name": "nightly", "kind": "push", "interval_s": 3600, "retries": 0, "tags": ["prod"]})),
        201,
    );
    let id = id_of(&created);
    let token = created.json()["push_token"]
        .as_str()
        .expect("a push monitor has a token")
        .to_owned();
    let one = format!("{monitors}/{id}");
    let one_t = "/api/v1/monitors/{id}";
    a.admin("GET", monitors, &format!("{monitors}?tag=prod"), None, 200);
    let got = a.admin("GET", one_t, &one, None, 200);
    let stale = format!("\"{}\"", got.etag_version() + 7);
    let rename = json!({"name": "nightly job"});
    let if_stale = [("if-match", stale.as_str())];
    a.send(
        "PATCH",
        one_t,
        &one,
        Some(ADMIN_TOKEN),
        &if_stale,
        Some(&rename),
        409,
    );
    a.admin("PATCH", one_t, &one, Some(&rename), 200);
    a.admin(
        "POST",
        "/api/v1/monitors/{id}/pause",
        &format!("{one}/pause"),
        None,
        200,
    );
    a.admin(
        "POST",
        "/api/v1/monitors/{id}/resume",
        &format!("{one}/resume"),
        None,
        200,
    );
    let beat = format!("/api/v1/push/{token}?status=up&msg=ok&ping=12");
    a.send("GET", "/api/v1/push/{token}", &beat, None, &[], None, 200);
    let kuma = format!("/api/push/{token}?status=up");
    a.send("POST", "/api/push/{token}", &kuma, None, &[], None, 200);
    a.send(
        "GET",
        "/api/push/{token}",
        "/api/push/nope",
        None,
        &[],
        None,
        404,
    );
    let checks = format!("{one}/checks?limit=10");
    a.admin("GET", "/api/v1/monitors/{id}/checks", &checks, None, 200);
    a.admin(
        "GET",
        "/api/v1/monitors/{id}/series",
        &format!("{one}/series"),
        None,
        200,
    );

    // Status pages, incidents, maintenance, the public status and badges.
    let pages = "/api/v1/status-pages";
    let page_body = json!({"slug": "acme", "title": "Acme", "description": "Shop",
        "groups": [{"name": "Jobs", "monitors": [id]}]});
    a.admin("POST", pages, pages, Some(&page_body), 201);
    a.admin("POST", pages, pages, Some(&page_body), 409);
    let page_t = "/api/v1/status-pages/{slug}";
    a.admin("GET", pages, pages, None, 200);
    a.admin("GET", page_t, "/api/v1/status-pages/acme", None, 200);
    a.admin("GET", page_t, "/api/v1/status-pages/nope", None, 404);
    a.admin(
        "PATCH",
        page_t,
        "/api/v1/status-pages/acme",
        Some(&json!({"show_errors": true})),
        200,
    );
    let incidents_t = "/api/v1/status-pages/{slug}/incidents";
    let incidents = "/api/v1/status-pages/acme/incidents";
    a.admin(
        "POST",
        incidents_t,
        incidents,
        Some(&json!({"title": "x", "status": "nope"})),
        422,
    );
    let incident = id_of(&a.admin(
        "POST",
        incidents_t,
        incidents,
        Some(&json!({"title": "Slow", "message": "Looking"})),
        201,
    ));
    let updates_t = "/api/v1/status-pages/{slug}/incidents/{id}/updates";
    let updates = format!("{incidents}/{incident}/updates");
    a.admin(
        "POST",
        updates_t,
        &updates,
        Some(&json!({"status": "resolved", "message": "Fixed"})),
        201,
    );
    a.admin(
        "POST",
        updates_t,
        &updates,
        Some(&json!({"status": "monitoring", "message": "Again"})),
        409,
    );
    let maintenance_t = "/api/v1/status-pages/{slug}/maintenance";
    let window = json!({"title": "DB", "starts_at": "2040-01-01T00:00:00Z", "ends_at": "2040-01-01T01:00:00Z"});
    let planned = id_of(&a.admin(
        "POST",
        maintenance_t,
        "/api/v1/status-pages/acme/maintenance",
        Some(&window),
        201,
    ));
    let planned_t = "/api/v1/status-pages/{slug}/maintenance/{id}";
    let planned_one = format!("/api/v1/status-pages/acme/maintenance/{planned}");
    a.admin(
        "PATCH",
        planned_t,
        &planned_one,
        Some(&json!({"title": "DB 2"})),
        200,
    );
    a.admin(
        "PATCH",
        planned_t,
        &planned_one,
        Some(&json!({"ends_at": "2039-01-01T00:00:00Z"})),
        422,
    );
    a.admin("DELETE", planned_t, &planned_one, None, 200);
    a.admin("DELETE", planned_t, &planned_one, None, 404);
    let incident_t = "/api/v1/status-pages/{slug}/incidents/{id}";
    let one_incident = format!("{incidents}/{incident}");
    a.admin(
        "PATCH",
        incident_t,
        &one_incident,
        Some(&json!({"impact": "major"})),
        200,
    );
    a.admin(
        "PATCH",
        incident_t,
        &one_incident,
        Some(&json!({"impact": "dire"})),
        422,
    );
    let public_t = "/api/v1/status/{slug}";
    a.send("GET", public_t, "/api/v1/status/acme", None, &[], None, 200);
    a.send("GET", public_t, "/api/v1/status/nope", None, &[], None, 404);
    a.send(
        "GET",
        "/status/{slug}",
        "/status/acme",
        None,
        &[],
        None,
        200,
    );
    a.send(
        "GET",
        "/api/badge/{id}/status",
        &format!("/api/badge/{id}/status?label=Job"),
        None,
        &[],
        None,
        200,
    );
    a.send(
        "GET",
        "/api/badge/{id}/uptime/{duration}",
        &format!("/api/badge/{id}/uptime/7d"),
        None,
        &[],
        None,
        200,
    );
    a.send(
        "GET",
        "/api/badge/{id}/uptime/{duration}",
        &format!("/api/badge/{id}/uptime/never"),
        None,
        &[],
        None,
        400,
    );
    a.send(
        "GET",
        "/api/badge/{id}/ping",
        &format!("/api/badge/{id}/ping"),
        None,
        &[],
        None,
        200,
    );
    for (template, path, status) in [
        (
            "/api/badge/{id}/response",
            format!("/api/badge/{id}/response"),
            200,
        ),
        (
            "/api/badge/{id}/cert-exp",
            format!("/api/badge/{id}/cert-exp"),
            200,
        ),
        (
            "/api/badge/{id}/cert-exp",
            format!("/api/badge/{id}/cert-exp?warnDays=x"),
            400,
        ),
        (
            "/api/badge/{id}/avg-response/{duration}",
            format!("/api/badge/{id}/avg-response/7d"),
            200,
        ),
    ] {
        a.send("GET", template, &path, None, &[], None, status);
    }
    a.send(
        "GET",
        "/api/badge/{id}/status",
        "/api/badge/nope/status",
        None,
        &[],
        None,
        404,
    );

    // Channels, rules, an alert and silences.
    let channels = "/api/v1/channels";
    let hook = json!({"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret"});
    let channel = id_of(&a.admin("POST", channels, channels, Some(&hook), 201));
    a.admin("GET", channels, channels, None, 200);
    let test = format!("{channels}/{channel}/test");
    a.admin("POST", "/api/v1/channels/{id}/test", &test, None, 502);
    let rules = "/api/v1/alert-rules";
    let rule_body = json!({"name": "nightly down", "severity": "critical",
        "condition": {"kind": "monitor_down", "monitor": id}, "channels": [channel]});
    let rule = id_of(&a.admin("POST", rules, rules, Some(&rule_body), 201));
    let rule_one = format!("{rules}/{rule}");
    a.admin("GET", rules, rules, None, 200);
    a.admin("GET", "/api/v1/alert-rules/{id}", &rule_one, None, 200);
    let repeat = json!({"repeat_interval_s": 600});
    a.admin(
        "PATCH",
        "/api/v1/alert-rules/{id}",
        &rule_one,
        Some(&repeat),
        200,
    );
    let down = format!("/api/v1/push/{token}?status=down&msg=failed");
    a.send("POST", "/api/v1/push/{token}", &down, None, &[], None, 200);
    let alerts = "/api/v1/alerts";
    let alert = wait_for("the alert of the down monitor", || {
        let list = api.get(&format!("{alerts}?state=firing")).json();
        list["alerts"][0]["id"].as_str().map(str::to_owned)
    });
    a.admin(
        "GET",
        alerts,
        &format!("{alerts}?state=pending,firing&limit=5"),
        None,
        200,
    );
    let alert_one = format!("{alerts}/{alert}");
    a.admin("GET", "/api/v1/alerts/{id}", &alert_one, None, 200);
    let ack = json!({"comment": "on it"});
    let ack_path = format!("{alert_one}/ack");
    a.admin(
        "POST",
        "/api/v1/alerts/{id}/ack",
        &ack_path,
        Some(&ack),
        200,
    );
    let silences = "/api/v1/silences";
    let silence_body = json!({"matchers": {"tag": "prod"}, "ends_at": "2999-01-01T00:00:00Z", "comment": "maintenance"});
    let silence = id_of(&a.admin("POST", silences, silences, Some(&silence_body), 201));
    a.admin("GET", silences, silences, None, 200);
    assert!(!silence.is_empty());
    let unknown = format!("{silences}/00000000-0000-0000-0000-000000000001");
    a.admin("DELETE", "/api/v1/silences/{id}", &unknown, None, 404);
    a.admin("DELETE", "/api/v1/alert-rules/{id}", &rule_one, None, 200);
    let channel_one = format!("{channels}/{channel}");
    a.admin("DELETE", "/api/v1/channels/{id}", &channel_one, None, 200);

    // Hosts.
    let sample = json!({"hostname": "web-1",
        "cpu": {"cpu_percent_total": 45.2, "cpu_percent_per_core": [40, 50],
                "cpu_count_logical": 2, "load_average": [1.5, 1.2, 1.0]},
        "memory": {"memory_total": 8_589_934_592_u64, "memory_used": 4_294_967_296_u64, "memory_percent": 50.0},
        "disk": {"partitions": [{"mountpoint": "/", "total": 100, "used": 50, "percent": 50.0}]},
        "io": {"network": {"bytes_sent": 1, "bytes_recv": 1},
               "disk_io": {"read_bytes": 1, "write_bytes": 1}}});
    let metrics_t = "/api/v1/hosts/{hostname}/metrics";
    a.send(
        "POST",
        metrics_t,
        "/api/v1/hosts/web-1/metrics",
        Some(&agent),
        &[],
        Some(&sample),
        200,
    );
    a.send(
        "POST",
        "/api/metrics",
        "/api/metrics",
        Some(&agent),
        &[],
        Some(&sample),
        200,
    );
    // The seed systems' routes (tag compat).
    a.send("GET", "/api/health", "/api/health", None, &[], None, 200);
    a.admin("GET", "/api/servers", "/api/servers", None, 200);
    for part in ["latest", "history", "disks", "network"] {
        let template = format!("/api/servers/{{hostname}}/{part}");
        a.admin(
            "GET",
            &template,
            &format!("/api/servers/web-1/{part}"),
            None,
            200,
        );
    }
    let unknown_server = "/api/servers/nowhere/latest";
    a.admin(
        "GET",
        "/api/servers/{hostname}/latest",
        unknown_server,
        None,
        404,
    );
    let bad_hours = "/api/servers/web-1/history?hours=-1";
    a.admin(
        "GET",
        "/api/servers/{hostname}/history",
        bad_hours,
        None,
        400,
    );
    a.admin(
        "GET",
        "/api/v1/metrics/current",
        "/api/v1/metrics/current",
        None,
        200,
    );
    let history = "/api/v1/metrics/history?type=cpu_percent&host=web-1";
    a.admin("GET", "/api/v1/metrics/history", history, None, 200);
    a.admin(
        "GET",
        "/api/v1/metrics/history",
        "/api/v1/metrics/history",
        None,
        400,
    );
    a.admin(
        "GET",
        "/api/v1/alerts/active",
        "/api/v1/alerts/active",
        None,
        200,
    );
    let alert_history = "/api/v1/alerts/history?limit=5";
    a.admin("GET", "/api/v1/alerts/history", alert_history, None, 200);

    let hosts = "/api/v1/hosts";
    let scraped =
        json!({"hostname": "db-1", "scrape_url": "http://127.0.0.1:9/metrics", "interval_s": 60});
    a.admin("POST", hosts, hosts, Some(&scraped), 201);
    a.admin("GET", hosts, hosts, None, 200);
    a.admin(
        "GET",
        "/api/v1/hosts/{hostname}",
        "/api/v1/hosts/web-1",
        None,
        200,
    );
    let series = "/api/v1/hosts/web-1/series?metric=cpu_percent";
    a.admin("GET", "/api/v1/hosts/{hostname}/series", series, None, 200);
    a.admin(
        "DELETE",
        "/api/v1/hosts/{hostname}",
        "/api/v1/hosts/db-1",
        None,
        200,
    );

    // Users, sessions and tokens.
    let users = "/api/v1/users";
    let user = json!({"username": "ann", "password": "correct horse battery", "role": "viewer"});
    a.admin("POST", users, users, Some(&user), 201);
    a.admin("POST", users, users, Some(&user), 409);
    a.admin("GET", users, users, None, 200);
    let login = json!({"username": "ann", "password": "correct horse battery"});
    let session = a.send(
        "POST",
        "/api/v1/login",
        "/api/v1/login",
        None,
        &[],
        Some(&login),
        200,
    );
    let cookie = session
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("login sets the session cookie")
        .to_owned();
    let with_cookie = [("cookie", cookie.as_str())];
    a.send(
        "GET",
        "/api/v1/dashboard",
        "/api/v1/dashboard",
        None,
        &with_cookie,
        None,
        200,
    );
    a.send(
        "POST",
        "/api/v1/logout",
        "/api/v1/logout",
        None,
        &with_cookie,
        None,
        204,
    );
    a.admin(
        "DELETE",
        "/api/v1/users/{name}",
        "/api/v1/users/ann",
        None,
        200,
    );
    let tokens = "/api/v1/tokens";
    let new_token = json!({"name": "ci", "role": "operator"});
    let token_id = id_of(&a.admin("POST", tokens, tokens, Some(&new_token), 201));
    a.admin("GET", tokens, tokens, None, 200);
    a.admin(
        "DELETE",
        "/api/v1/tokens/{id}",
        &format!("{tokens}/{token_id}"),
        None,
        200,
    );

    // Audit.
    a.admin("GET", "/api/v1/events", "/api/v1/events?limit=5", None, 200);
    a.admin(
        "GET",
        "/api/v1/audit/state",
        "/api/v1/audit/state?at=3",
        None,
        200,
    );
    a.admin(
        "GET",
        "/api/v1/audit/verify",
        "/api/v1/audit/verify",
        None,
        200,
    );
    a.admin("DELETE", one_t, &one, None, 200);
    a.cases
}

/// `body` checked against the document's component schema `name` (JSON Schema 2020-12, as
/// OpenAPI 3.1 takes it): every way it does not fit, in words.
fn misfits(doc: &Value, name: &str, body: &Value) -> Vec<String> {
    let root = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("the schema {name} compiles: {e}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{name} at {}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn monitor_host_alert_and_dashboard_bodies_fit_the_schemas_derived_from_their_views() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let doc = api
        .send("GET", "/api/v1/openapi.json", None, &[], None)
        .expect(200, "the document")
        .json();
    let monitor = api
        .post("/api/v1/monitors", &json!({"name": "beat", "kind": "push"}))
        .expect(201, "a push monitor");
    let id = id_of(&monitor);
    api.post(
        "/api/v1/alert-rules",
        &json!({"name": "hot", "condition": {"kind": "host_metric", "host": "web-1",
                "metric": "cpu_percent", "op": ">", "threshold": 50, "for_s": 0}}),
    )
    .expect(201, "a rule");
    let sample = json!({
        "cpu": {"cpu_percent_total": 97.5, "cpu_percent_per_core": [95, 100],
                "cpu_count_logical": 2, "load_average": [1.5, 1.2, 1.0]},
        "memory": {"memory_total": 8589934592u64, "memory_used": 4294967296u64, "memory_percent": 50.0},
        "disk": {"partitions": [{"mountpoint": "/", "total": 100, "used": 50, "percent": 50.0}]},
        "io": {"network": {"bytes_sent": 1, "bytes_recv": 1}, "disk_io": {"read_bytes": 1, "write_bytes": 1}},
    });
    let pushed = api
        .post("/api/v1/hosts/web-1/metrics", &sample)
        .expect(200, "a sample");
    let alert = wait_for("the rule's alert", || {
        let alerts = api.get("/api/v1/alerts").expect(200, "the alerts").json();
        alerts["alerts"].get(0).cloned()
    });
    let alert_id = alert["id"].as_str().expect("an alert id").to_owned();
    let dashboard = wait_for(
        "the dashboard with the monitor, the host and the alert",
        || {
            let d = api
                .get("/api/v1/dashboard")
                .expect(200, "the dashboard")
                .json();
            let full = d["monitors"][&id].is_object()
                && d["hosts"]["web-1"]["metrics"].is_object()
                && d["alerts"][&alert_id].is_object();
            full.then_some(d)
        },
    );
    let position = dashboard["position"].as_u64().expect("a position");
    let past = api
        .get(&format!("/api/v1/audit/state?at={position}"))
        .expect(200, "the dashboard as it was")
        .json();

    let bodies = [
        ("Monitor", monitor.json()),
        (
            "Monitor",
            api.get(&format!("/api/v1/monitors/{id}"))
                .expect(200, "the monitor")
                .json(),
        ),
        (
            "MonitorList",
            api.get("/api/v1/monitors")
                .expect(200, "the monitors")
                .json(),
        ),
        ("Host", pushed.json()),
        (
            "Host",
            api.get("/api/v1/hosts/web-1")
                .expect(200, "the host")
                .json(),
        ),
        (
            "HostList",
            api.get("/api/v1/hosts").expect(200, "the hosts").json(),
        ),
        ("Alert", alert.clone()),
        (
            "AlertList",
            api.get("/api/v1/alerts").expect(200, "the alerts").json(),
        ),
        ("Dashboard", dashboard.clone()),
        ("Dashboard", past["state"].clone()),
    ];
    let failures: Vec<String> = bodies
        .iter()
        .flat_map(|(name, body)| misfits(&doc, name, body))
        .collect();
    assert!(
        failures.is_empty(),
        "every body fits its schema: {failures:#?}"
    );
    assert_eq!(
        past["state"], dashboard,
        "the past at the live view's position is the live view"
    );

    // The schemas say something: a body that strays from its type does not fit.
    let mut strayed = monitor.json();
    strayed["status"] = json!("sideways");
    assert!(
        !misfits(&doc, "Monitor", &strayed).is_empty(),
        "an unknown status"
    );
    let mut strayed = dashboard.clone();
    strayed["monitors"][&id]["last_check"] = json!("yesterday");
    assert!(
        !misfits(&doc, "Dashboard", &strayed).is_empty(),
        "a check that is not one"
    );
    let mut strayed = alert;
    if let Some(body) = strayed.as_object_mut() {
        body.remove("state");
    }
    assert!(
        !misfits(&doc, "Alert", &strayed).is_empty(),
        "a missing state"
    );
}
