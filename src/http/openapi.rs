//! The OpenAPI 3.1 document `GET /api/v1/openapi.json` serves, generated from one table of
//! operations ([`operations`]) and the JSON schemas of the bodies the handlers read and
//! answer ([`schemas`]). The handlers stay unannotated: a test reads `configure` in `mod.rs`
//! and holds the table to its routes both ways, so no route lands undocumented.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use actix_web::HttpResponse;
use serde_json::{json, Map, Value};

use crate::events::Role;

/// The document as served, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| document().to_string());

/// Every (method, path template) the API serves, read once from the table of operations.
static ROUTES: LazyLock<Vec<(&'static str, &'static str)>> =
    LazyLock::new(|| operations().iter().map(|o| (o.method, o.path)).collect());

/// The methods served at `path`, uppercase and each once; empty for a path no route has.
/// The table is held equal to the routes, so this is what a 405's `Allow` lists.
pub fn methods_at(path: &str) -> Vec<String> {
    let mut methods: Vec<String> = Vec::new();
    for (method, template) in ROUTES.iter() {
        let method = method.to_ascii_uppercase();
        if matches_template(template, path) && !methods.contains(&method) {
            methods.push(method);
        }
    }
    methods
}

/// Whether `path` fits `template`, each `{param}` standing for one non-empty segment.
fn matches_template(template: &str, path: &str) -> bool {
    let mut want = template.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// `GET /api/v1/openapi.json`: the OpenAPI document of every route (no auth).
#[tracing::instrument(skip_all)]
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}

// ---- the document ----

/// The whole OpenAPI document.
fn document() -> Value {
    let mut paths = Map::new();
    for op in operations() {
        let item = paths
            .entry(op.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(item) = item.as_object_mut() {
            item.insert(op.method.to_owned(), op.render());
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "watchfire",
            "version": env!("CARGO_PKG_VERSION"),
            "description": INFO,
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": tags(),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token: `Authorization: Bearer <token>` (tokens come from \
                        `POST /api/v1/tokens` or `watchfire token create`).",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "watchfire_session",
                    "description": "The session cookie `POST /api/v1/login` sets (HttpOnly, SameSite=Strict).",
                },
            },
            "schemas": schemas(),
            "parameters": {
                "MinPosition": {
                    "name": "min_position",
                    "in": "query",
                    "required": false,
                    "description": "Read your writes: wait (up to 5 s, else 503) until the read model \
                        has applied this global position, such as a command's `Watchfire-Position`.",
                    "schema": count(),
                },
                "IfMatch": {
                    "name": "If-Match",
                    "in": "header",
                    "required": false,
                    "description": "The stream version the change expects, as the `ETag` gave it \
                        (`\"3\"`); 409 when the resource has moved on.",
                    "schema": {"type": "string", "pattern": "^(W/)?\"?[0-9]+\"?$", "examples": ["\"3\""]},
                },
            },
            "headers": {
                "ETag": {
                    "description": "The resource's stream version, quoted: `\"<version>\"`. Send it back as `If-Match`.",
                    "schema": {"type": "string", "examples": ["\"3\""]},
                },
                "Watchfire-Position": {
                    "description": "The global log position of the answer's last event; a query \
                        with `?min_position=` this value sees it.",
                    "schema": count(),
                },
                "Location": {
                    "description": "Where the new resource is.",
                    "schema": string(),
                },
            },
            "responses": error_responses(),
        },
    })
}

/// What every client should know, as the document's description.
const INFO: &str = "Self-hosted monitoring: uptime checks, host metrics, alerts, a live \
dashboard and a tamper-evident event log.\n\n\
JSON in and out. Errors are `application/problem+json` (RFC 9457) with `type`, `title`, \
`status` and `detail`. Every command answers once its events are durable, with the \
resource, an `ETag: \"<stream version>\"` and `Watchfire-Position: <global position>`; \
updates and deletes accept `If-Match` and answer 409 when it is stale. Queries accept \
`?min_position=N` and wait (up to 5 s, else 503) until the read model has applied N.\n\n\
Roles, lowest first: agent < viewer < operator < admin. Reading needs viewer, changing \
needs operator, users, tokens and the raw log need admin, metric pushes need agent.";

/// The tags operations are grouped under, in the order a reader meets them.
fn tags() -> Value {
    json!([
        {"name": "monitors", "description": "Uptime checks: http, tcp, dns and push monitors."},
        {"name": "push", "description": "Heartbeats of push monitors; the push token is the credential."},
        {"name": "hosts", "description": "Host metrics: agent pushes and scraped node_exporters."},
        {"name": "alerts", "description": "Alert rules, alerts, silences and notification channels."},
        {"name": "audit", "description": "The dashboard view, the event log, past states and the chain check."},
        {"name": "users", "description": "Logging in and out, users and API tokens."},
        {"name": "status", "description": "Public status pages, their incidents and maintenance, and badges."},
        {"name": "operations", "description": "Health, readiness, metrics, this document, the WebSocket."},
        {"name": "compat", "description": "The routes and shapes of the systems watchfire replaces, for their agents, dashboards and scripts."},
    ])
}

// ---- the table of operations ----

/// Who may call an operation.
#[derive(Clone, Copy, Debug)]
enum Access {
    /// Anyone, with no credential.
    Public,
    /// The push monitor's token in the path is the credential.
    PushToken,
    /// A bearer token or a session holding at least this role.
    Role(Role),
    /// The session cookie, and only it.
    Session,
    /// Viewer, unless the server runs with `metrics.public = true`.
    MetricsViewer,
    /// Viewer, unless the server runs with `compat.public_reads = true`.
    CompatViewer,
    /// A bearer token or session cookie on the upgrade, or the first message.
    WebSocket,
}

impl Access {
    /// The operation's OpenAPI security requirements.
    fn security(self) -> Value {
        let bearer = json!({"bearerAuth": []});
        let cookie = json!({"sessionCookie": []});
        match self {
            Access::Public | Access::PushToken => json!([]),
            Access::Role(_) => json!([bearer, cookie]),
            Access::Session => json!([cookie]),
            Access::MetricsViewer | Access::CompatViewer | Access::WebSocket => {
                json!([bearer, cookie, {}])
            }
        }
    }

    /// The role named by the `x-watchfire-role` extension.
    fn role(self) -> &'static str {
        match self {
            Access::Public => "none",
            Access::PushToken => "push-token",
            Access::Role(role) => role.as_str(),
            Access::Session => "session",
            Access::MetricsViewer | Access::CompatViewer | Access::WebSocket => "viewer",
        }
    }

    /// The sentence that opens the operation's description.
    fn sentence(self) -> String {
        match self {
            Access::Public => "No authentication.".to_owned(),
            Access::PushToken => {
                "No bearer token or cookie: the push token in the path is the secret.".to_owned()
            }
            Access::Role(role) => format!(
                "Role: {} or higher (bearer token or session cookie).",
                role.as_str()
            ),
            Access::Session => "The session cookie of `POST /api/v1/login`.".to_owned(),
            Access::MetricsViewer => {
                "Role: viewer or higher, or none when the server runs with `metrics.public = true`."
                    .to_owned()
            }
            Access::CompatViewer => {
                "Role: viewer or higher, or none when the server runs with `compat.public_reads = true`."
                    .to_owned()
            }
            Access::WebSocket => {
                "Role: viewer or higher (the `events` topic: admin; `ack`: operator), \
                by a bearer token or session cookie on the upgrade, or by the first message \
                `{\"type\":\"auth\",\"token\":\"...\"}` within 5 s."
                    .to_owned()
            }
        }
    }

    /// Whether a request may be refused for its credentials (401).
    fn authenticates(self) -> bool {
        !matches!(self, Access::Public | Access::PushToken)
    }

    /// Whether a credential may hold too low a role (403).
    fn ranks(self) -> bool {
        match self {
            Access::Role(role) => role > Role::Agent,
            Access::MetricsViewer | Access::CompatViewer => true,
            _ => false,
        }
    }
}

/// An operation's successful answer.
struct Success {
    /// Its status.
    status: u16,
    /// What it means.
    description: &'static str,
    /// Its media type and schema, if it has a body.
    content: Option<(&'static str, Value)>,
    /// Its headers by name.
    headers: Vec<(&'static str, Value)>,
}

/// One operation of the API: one row of the table.
struct Op {
    /// The unique `operationId`.
    id: &'static str,
    /// The method, lowercase as OpenAPI keys it.
    method: &'static str,
    /// The full path, `{param}` templated.
    path: &'static str,
    /// The tag it is grouped under.
    tag: &'static str,
    /// One line on what it does.
    summary: &'static str,
    /// More, after the access sentence.
    detail: Option<&'static str>,
    /// Who may call it.
    access: Access,
    /// Query parameters.
    query: Vec<Value>,
    /// The JSON body's schema, and whether the body is required.
    body: Option<(Value, bool)>,
    /// The successful answer.
    success: Success,
    /// Further answers that are not problems (readiness's 503).
    others: Vec<(u16, Value)>,
    /// Whether it waits for `?min_position=`.
    min_position: bool,
    /// Whether it reads `If-Match`.
    if_match: bool,
    /// Error statuses beyond those its shape implies.
    errors: BTreeSet<u16>,
}

/// A new row: `id`, `method` and full `path`, its tag and summary; public until told otherwise.
fn op(
    id: &'static str,
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Op {
    Op {
        id,
        method,
        path,
        tag,
        summary,
        detail: None,
        access: Access::Public,
        query: Vec::new(),
        body: None,
        success: Success {
            status: 200,
            description: "OK",
            content: None,
            headers: Vec::new(),
        },
        others: Vec::new(),
        min_position: false,
        if_match: false,
        errors: BTreeSet::new(),
    }
}

impl Op {
    fn access(mut self, access: Access) -> Op {
        self.access = access;
        self
    }

    fn role(self, role: Role) -> Op {
        self.access(Access::Role(role))
    }

    fn detail(mut self, detail: &'static str) -> Op {
        self.detail = Some(detail);
        self
    }

    fn query(mut self, name: &str, schema: Value, description: &str) -> Op {
        self.query.push(json!({
            "name": name, "in": "query", "required": false,
            "description": description, "schema": schema,
        }));
        self
    }

    fn required_query(mut self, name: &str, schema: Value, description: &str) -> Op {
        self.query.push(json!({
            "name": name, "in": "query", "required": true,
            "description": description, "schema": schema,
        }));
        self
    }

    /// A required JSON body of the component schema `name`.
    fn body(mut self, name: &str) -> Op {
        self.body = Some((reference(name), true));
        self
    }

    /// An optional JSON body of the component schema `name`.
    fn optional_body(mut self, name: &str) -> Op {
        self.body = Some((reference(name), false));
        self
    }

    /// Answers `status` with a JSON body of the component schema `name`.
    fn answers(mut self, status: u16, description: &'static str, name: &str) -> Op {
        self.success.status = status;
        self.success.description = description;
        self.success.content = Some(("application/json", reference(name)));
        self
    }

    /// Answers `status` with a body of `media` type and `schema`.
    fn answers_with(
        mut self,
        status: u16,
        description: &'static str,
        media: &'static str,
        schema: Value,
    ) -> Op {
        self.success.status = status;
        self.success.description = description;
        self.success.content = Some((media, schema));
        self
    }

    /// Answers `status` with no body.
    fn answers_empty(mut self, status: u16, description: &'static str) -> Op {
        self.success.status = status;
        self.success.description = description;
        self.success.content = None;
        self
    }

    /// A header of the successful answer, by its component name.
    fn header(mut self, name: &'static str) -> Op {
        self.success.headers.push((
            name,
            json!({"$ref": format!("#/components/headers/{name}")}),
        ));
        self
    }

    /// A header of the successful answer, described here.
    fn header_inline(mut self, name: &'static str, description: &str) -> Op {
        self.success.headers.push((
            name,
            json!({"description": description, "schema": string()}),
        ));
        self
    }

    /// A command: answers once durable with `ETag` and `Watchfire-Position`.
    fn command(self) -> Op {
        self.header("ETag")
            .header("Watchfire-Position")
            .errors(&[503])
    }

    /// A creation: a command whose answer says where the resource is.
    fn creates(self) -> Op {
        self.command().header("Location")
    }

    /// A query of a read model: waits for `?min_position=`.
    fn reads(mut self) -> Op {
        self.min_position = true;
        self
    }

    /// A change that reads `If-Match`.
    fn if_match(mut self) -> Op {
        self.if_match = true;
        self
    }

    fn errors(mut self, statuses: &[u16]) -> Op {
        self.errors.extend(statuses);
        self
    }

    /// A further answer that is not a problem.
    fn other(mut self, status: u16, response: Value) -> Op {
        self.others.push((status, response));
        self
    }

    /// The names of the path's `{params}`, in order.
    fn path_params(&self) -> Vec<&'static str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .collect()
    }

    /// Every problem status this operation may answer.
    fn error_statuses(&self) -> BTreeSet<u16> {
        let mut out = self.errors.clone();
        if self.access.authenticates() {
            out.insert(401);
        }
        if self.access.ranks() {
            out.insert(403);
        }
        if self.body.is_some() {
            out.extend([400, 413, 415, 422]);
        }
        if !self.query.is_empty() {
            out.insert(400);
        }
        if self.min_position {
            out.extend([400, 503]);
        }
        if self.if_match {
            out.extend([400, 409]);
        }
        if !self.path_params().is_empty() {
            out.insert(404);
        }
        out
    }

    /// The OpenAPI operation object.
    fn render(&self) -> Value {
        let mut parameters: Vec<Value> =
            self.path_params().into_iter().map(path_parameter).collect();
        parameters.extend(self.query.iter().cloned());
        if self.min_position {
            parameters.push(json!({"$ref": "#/components/parameters/MinPosition"}));
        }
        if self.if_match {
            parameters.push(json!({"$ref": "#/components/parameters/IfMatch"}));
        }

        let mut responses = Map::new();
        let mut success = json!({"description": self.success.description});
        if let Some((media, schema)) = &self.success.content {
            let mut content = Map::new();
            content.insert((*media).to_owned(), json!({"schema": schema}));
            success["content"] = Value::Object(content);
        }
        if !self.success.headers.is_empty() {
            let headers: Map<String, Value> = self
                .success
                .headers
                .iter()
                .map(|(name, h)| ((*name).to_owned(), h.clone()))
                .collect();
            success["headers"] = Value::Object(headers);
        }
        responses.insert(self.success.status.to_string(), success);
        for (status, response) in &self.others {
            responses.insert(status.to_string(), response.clone());
        }
        for status in self.error_statuses() {
            let name = problem_response_name(status)
                .unwrap_or_else(|| panic!("{} names unknown error status {status}", self.id));
            responses
                .entry(status.to_string())
                .or_insert_with(|| json!({"$ref": format!("#/components/responses/{name}")}));
        }

        let description = match self.detail {
            Some(detail) => format!("{} {detail}", self.access.sentence()),
            None => self.access.sentence(),
        };
        let mut out = json!({
            "operationId": self.id,
            "tags": [self.tag],
            "summary": self.summary,
            "description": description,
            "security": self.access.security(),
            "x-watchfire-role": self.access.role(),
            "responses": responses,
        });
        if !parameters.is_empty() {
            out["parameters"] = Value::Array(parameters);
        }
        if let Some((schema, required)) = &self.body {
            out["requestBody"] = json!({
                "required": required,
                "content": {"application/json": {"schema": schema}},
            });
        }
        out
    }
}

/// A path parameter, described by its name.
fn path_parameter(name: &str) -> Value {
    let (schema, description) = match name {
        "id" => (uuid(), "The resource's id."),
        "hostname" => (
            text(1, 253),
            "The host's name, a DNS name; case does not matter.",
        ),
        "token" => (string(), "The push monitor's push token."),
        "name" => (text(1, 64), "The username."),
        "file" => (
            string(),
            "A file of the dashboard's build, named by its content hash.",
        ),
        _ => (string(), "A path segment."),
    };
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": schema})
}

/// Every operation of the API, one per route `configure` registers.
fn operations() -> Vec<Op> {
    use Role::{Admin, Agent, Operator, Viewer};
    let since = || time().doc("From this time on (RFC 3339).");
    let until = || time().doc("Up to this time (RFC 3339); now when absent.");
    vec![
        // ---- the dashboard ----
        op("getDashboardPage", "get", "/", "operations", "The dashboard web app")
            .detail("The single-page dashboard; it signs in with `POST /api/v1/login`.")
            .answers_with(200, "The dashboard's HTML page.", "text/html", string()),
        op("getFavicon", "get", "/favicon.svg", "operations", "The dashboard's icon")
            .answers_with(200, "An SVG icon.", "image/svg+xml", string()),
        op("getDashboardAsset", "get", "/assets/{file}", "operations", "A file of the dashboard")
            .detail("Scripts and style sheets of the dashboard's build; cached for a year.")
            .answers_with(200, "The file.", "application/octet-stream", string())
            .errors(&[404]),
        // ---- status pages ----
        op("getStatusPageWeb", "get", "/status/{slug}", "status", "A public status page")
            .detail("The dashboard's page for the status page `slug`, drawn without signing in.")
            .answers_with(200, "The dashboard's HTML page.", "text/html", string())
            .errors(&[404]),
        op("getPublicStatus", "get", "/api/v1/status/{slug}", "status", "A status page's public status")
            .detail("What the public sees: the page, its overall status, each monitor's status, \
                24-hour and 30-day uptime and daily uptime for 90 days, open incidents and those \
                resolved in the last 7 days, and upcoming or active maintenance. Never a monitor's \
                URL, host, tags or (unless the page shows errors) why it is down. Live over the \
                WebSocket topic `status:<slug>`, which needs no token.")
            .answers(200, "The public status.", "PublicStatus")
            .errors(&[404]),
        op("createStatusPage", "post", "/api/v1/status-pages", "status", "Create a status page")
            .role(Operator)
            .detail("409 when the slug is taken.")
            .body("StatusPageCreate")
            .answers(201, "Created.", "StatusPage")
            .creates()
            .errors(&[409]),
        op("listStatusPages", "get", "/api/v1/status-pages", "status", "List status pages")
            .role(Viewer)
            .reads()
            .answers(200, "The pages.", "StatusPageList"),
        op("getStatusPage", "get", "/api/v1/status-pages/{slug}", "status", "One status page, with every incident and announcement")
            .role(Viewer)
            .reads()
            .answers(200, "The page.", "StatusPage")
            .header("ETag")
            .errors(&[404]),
        op("patchStatusPage", "patch", "/api/v1/status-pages/{slug}", "status", "Change a status page")
            .role(Operator)
            .detail("The fields given replace the page's; the slug cannot change.")
            .body("StatusPagePatch")
            .answers(200, "Changed.", "StatusPage")
            .command()
            .if_match()
            .errors(&[404, 409]),
        op("deleteStatusPage", "delete", "/api/v1/status-pages/{slug}", "status", "Delete a status page")
            .role(Operator)
            .answers(200, "Deleted.", "StatusPageDeleted")
            .command()
            .if_match()
            .errors(&[404, 409]),
        op("openIncident", "post", "/api/v1/status-pages/{slug}/incidents", "status", "Post an incident")
            .role(Operator)
            .body("IncidentCreate")
            .answers(201, "Posted.", "Incident")
            .creates()
            .errors(&[404, 409]),
        op("updateIncident", "post", "/api/v1/status-pages/{slug}/incidents/{id}/updates", "status", "Add an update to an incident")
            .role(Operator)
            .detail("Status `resolved` closes the incident; a resolved incident takes no more updates (409).")
            .body("IncidentUpdate")
            .answers(201, "Added.", "Incident")
            .command()
            .errors(&[404, 409]),
        op("scheduleMaintenance", "post", "/api/v1/status-pages/{slug}/maintenance", "status", "Announce maintenance")
            .role(Operator)
            .body("MaintenanceCreate")
            .answers(201, "Announced.", "Maintenance")
            .command()
            .errors(&[404]),
        op("editMaintenance", "patch", "/api/v1/status-pages/{slug}/maintenance/{id}", "status", "Change a maintenance announcement")
            .role(Operator)
            .detail("The fields given replace the announcement's. An ended announcement is history: 409.")
            .body("MaintenancePatch")
            .answers(200, "Changed.", "Maintenance")
            .command()
            .errors(&[404, 409]),
        op("cancelMaintenance", "delete", "/api/v1/status-pages/{slug}/maintenance/{id}", "status", "Cancel a maintenance announcement")
            .role(Operator)
            .detail("The public page no longer shows it; the log keeps it. An ended announcement is history: 409.")
            .answers(200, "Cancelled.", "MaintenanceCancelled")
            .command()
            .errors(&[404, 409]),
        op("editIncident", "patch", "/api/v1/status-pages/{slug}/incidents/{id}", "status", "Change an incident's title or impact")
            .role(Operator)
            .detail("Its status changes only by updates.")
            .body("IncidentPatch")
            .answers(200, "Changed.", "Incident")
            .command()
            .errors(&[404]),
        badge("getStatusBadge", "/api/badge/{id}/status", "A monitor's status badge"),
        badge("getUptimeBadge", "/api/badge/{id}/uptime", "A monitor's 24-hour uptime badge"),
        badge("getUptimeBadgeOver", "/api/badge/{id}/uptime/{duration}", "A monitor's uptime badge over a window")
            .errors(&[400]),
        badge("getPingBadge", "/api/badge/{id}/ping", "A monitor's 24-hour mean response time badge"),
        badge("getPingBadgeOver", "/api/badge/{id}/ping/{duration}", "A monitor's mean response time badge over a window")
            .errors(&[400]),
        badge("getAvgResponseBadge", "/api/badge/{id}/avg-response/{duration}", "A monitor's mean response time badge over a window (Uptime Kuma's name)")
            .errors(&[400]),
        badge("getResponseBadge", "/api/badge/{id}/response", "A monitor's last response time badge"),
        badge("getCertExpiryBadge", "/api/badge/{id}/cert-exp", "Days until a monitor's TLS certificate expires")
            .errors(&[400]),
        // ---- operations ----
        op("getHealth", "get", "/health", "operations", "Liveness")
            .answers(200, "The process answers.", "Health"),
        op("getReadiness", "get", "/health/ready", "operations", "Readiness")
            .detail("200 when the log is writable and the projections lag less than 1 s.")
            .answers(200, "Ready.", "Readiness")
            .other(503, json!({
                "description": "Not ready; `reasons` says why.",
                "content": {"application/json": {"schema": reference("Readiness")}},
            })),
        op("getCluster", "get", "/api/v1/cluster", "operations", "The nodes sharing the log")
            .role(Viewer)
            .detail("On a cluster (`--store postgres://...`): every live node, what it owns, and which one runs alerting. A single node answers `clustered: false` and no nodes.")
            .answers(200, "The cluster.", "Cluster"),
        op("getMetrics", "get", "/metrics", "operations", "Prometheus metrics")
            .access(Access::MetricsViewer)
            .answers_with(
                200,
                "The Prometheus text exposition (version 0.0.4).",
                "text/plain",
                string(),
            ),
        op("connectWebSocket", "get", "/ws", "operations", "Live updates over a WebSocket")
            .access(Access::WebSocket)
            .detail(
                "Upgrades to a WebSocket; one JSON object a text frame. The client sends \
                 `WsClientMessage`s (`subscribe` to topics `dashboard`, `alerts`, \
                 `monitor:<id>`, `host:<hostname>`, `events`, optionally `since` a position; \
                 `unsubscribe`; `ack`), the server `WsServerMessage`s (`snapshot`, `update`, \
                 `acked`, `error`). The server pings every 15 s and closes a session silent for 45 s.",
            )
            .answers_empty(101, "Switching Protocols: the WebSocket session begins.")
            .errors(&[400]),
        op("getOpenApi", "get", "/api/v1/openapi.json", "operations", "This OpenAPI document")
            .answers_with(
                200,
                "The OpenAPI 3.1 document of every route.",
                "application/json",
                json!({"type": "object"}),
            ),
        // ---- monitors ----
        op("createMonitor", "post", "/api/v1/monitors", "monitors", "Create a monitor")
            .role(Operator)
            .detail("A push monitor's answer carries its `push_token` and `push_url`.")
            .body("MonitorCreate")
            .answers(201, "Created.", "Monitor")
            .creates(),
        op("listMonitors", "get", "/api/v1/monitors", "monitors", "List monitors with their status")
            .role(Viewer)
            .query("tag", string(), "Only monitors with this tag.")
            .query("status", monitor_status(), "Only monitors in this status.")
            .reads()
            .answers(200, "The monitors, by name.", "MonitorList"),
        op("getMonitor", "get", "/api/v1/monitors/{id}", "monitors", "One monitor")
            .role(Viewer)
            .detail("With status, last check, uptime over 24 h, 7 d and 30 d, mean latency and certificate expiry.")
            .reads()
            .answers(200, "The monitor.", "Monitor")
            .header("ETag"),
        op("patchMonitor", "patch", "/api/v1/monitors/{id}", "monitors", "Change a monitor")
            .role(Operator)
            .detail("Any field but `kind` and `paused` (use pause and resume).")
            .body("MonitorPatch")
            .if_match()
            .answers(200, "Changed.", "Monitor")
            .command(),
        op("deleteMonitor", "delete", "/api/v1/monitors/{id}", "monitors", "Delete a monitor")
            .role(Operator)
            .detail("Its history stays in the log.")
            .if_match()
            .answers(200, "Deleted; the monitor as it was.", "Monitor")
            .command(),
        op("pauseMonitor", "post", "/api/v1/monitors/{id}/pause", "monitors", "Pause a monitor")
            .role(Operator)
            .if_match()
            .answers(200, "Paused.", "Monitor")
            .command(),
        op("resumeMonitor", "post", "/api/v1/monitors/{id}/resume", "monitors", "Resume a monitor")
            .role(Operator)
            .if_match()
            .answers(200, "Resumed.", "Monitor")
            .command(),
        op("listMonitorChecks", "get", "/api/v1/monitors/{id}/checks", "monitors", "Raw check results, newest first")
            .role(Viewer)
            .query("since", since(), "Only results from this time on (RFC 3339).")
            .query("until", until(), "Only results up to this time (RFC 3339).")
            .query("limit", int(1, 1000).with("default", json!(100)), "At most this many results.")
            .reads()
            .answers(200, "The results.", "CheckList"),
        op("getMonitorSeries", "get", "/api/v1/monitors/{id}/series", "monitors", "Latency and uptime rollups")
            .role(Viewer)
            .query("since", since(), "The series' start; 24 h before `until` when absent.")
            .query("until", until(), "The series' end; now when absent.")
            .reads()
            .answers(200, "The rollups.", "MonitorSeries"),
        // ---- push heartbeats ----
        heartbeat("pushHeartbeat", "get", "/api/v1/push/{token}"),
        heartbeat("pushHeartbeatByPost", "post", "/api/v1/push/{token}"),
        heartbeat("pushHeartbeatKuma", "get", "/api/push/{token}")
            .detail("The form Uptime Kuma's push monitors use, so their scripts work unchanged."),
        heartbeat("pushHeartbeatKumaByPost", "post", "/api/push/{token}")
            .detail("The form Uptime Kuma's push monitors use, so their scripts work unchanged."),
        // ---- hosts ----
        op("createScrapedHost", "post", "/api/v1/hosts", "hosts", "Add a host whose node_exporter the server scrapes")
            .role(Operator)
            .body("ScrapedHostCreate")
            .answers(201, "Created.", "Host")
            .creates()
            .errors(&[409]),
        op("listHosts", "get", "/api/v1/hosts", "hosts", "List hosts with status and latest metrics")
            .role(Viewer)
            .query("status", host_status(), "Only hosts in this status.")
            .reads()
            .answers(200, "The hosts.", "HostList"),
        op("getHost", "get", "/api/v1/hosts/{hostname}", "hosts", "One host, latest metrics in full")
            .role(Viewer)
            .reads()
            .answers(200, "The host.", "Host")
            .header("ETag"),
        op("deleteHost", "delete", "/api/v1/hosts/{hostname}", "hosts", "Delete a host")
            .role(Operator)
            .detail("Its history stays in the log.")
            .if_match()
            .answers(200, "Deleted; the host as it was.", "Host")
            .command(),
        op("pushHostMetrics", "post", "/api/v1/hosts/{hostname}/metrics", "hosts", "Push an agent's sample")
            .role(Agent)
            .detail("A `hostname` in the body must match the path. Answered once the sample is durable.")
            .body("PushBody")
            .answers(200, "Recorded.", "Host")
            .command(),
        op("getHostSeries", "get", "/api/v1/hosts/{hostname}/series", "hosts", "Rollups of one host metric")
            .role(Viewer)
            .required_query("metric", series_metric(), "The metric.")
            .query("since", since(), "The series' start; an hour before `until` when absent.")
            .query("until", until(), "The series' end; now when absent.")
            .query("step", one_of(&["1m", "5m", "1h", "1d"]), "The rollup level; chosen from the range when absent.")
            .reads()
            .answers(200, "The series.", "HostSeries"),
        op("pushHostMetricsByBody", "post", "/api/metrics", "hosts", "Push an agent's sample, the hostname in the body")
            .role(Agent)
            .detail("The same as `POST /api/v1/hosts/{hostname}/metrics`, for agents that already speak this shape \
                     (the server monitor's agent), answered in that server's shape. With `compat.anonymous_push = true`, \
                     a push with no credential at all is taken too.")
            .body("NamedPushBody")
            .answers(200, "Recorded.", "PushAccepted")
            .command(),
        // ---- compat ----
        op("compatHealth", "get", "/api/health", "compat", "Liveness, as the server monitor answered it")
            .access(Access::Public)
            .answers(200, "The process answers.", "CompatHealth"),
        op("compatServers", "get", "/api/servers", "compat", "Every host with its headline figures")
            .access(Access::CompatViewer)
            .reads()
            .answers(200, "The hosts, by name.", "CompatServerList"),
        op("compatServerLatest", "get", "/api/servers/{hostname}/latest", "compat", "A host's latest sample, as its agent pushed it")
            .access(Access::CompatViewer)
            .detail("404 (with `error`) for an unknown host or one without a sample yet.")
            .reads()
            .answers(200, "The sample.", "CompatSample")
            .errors(&[404]),
        op("compatServerHistory", "get", "/api/servers/{hostname}/history", "compat", "A host's recent samples, oldest first")
            .access(Access::CompatViewer)
            .query("hours", json!({"type": "number", "exclusiveMinimum": 0, "maximum": 2160, "default": 1}), "How far back.")
            .query("limit", int(1, 1000).with("default", json!(100)), "At most this many (the newest).")
            .reads()
            .answers(200, "The samples.", "CompatHistory")
            .errors(&[400, 404]),
        op("compatServerDisks", "get", "/api/servers/{hostname}/disks", "compat", "A host's filesystems in its latest sample")
            .access(Access::CompatViewer)
            .reads()
            .answers(200, "The partitions.", "CompatDisks")
            .errors(&[404]),
        op("compatServerNetwork", "get", "/api/servers/{hostname}/network", "compat", "A host's network and disk I/O counters in its latest sample")
            .access(Access::CompatViewer)
            .reads()
            .answers(200, "The counters and rates.", "CompatNetwork")
            .errors(&[404]),
        op("compatMetricsCurrent", "get", "/api/v1/metrics/current", "compat", "Every host's latest figures as metric points")
            .role(Viewer)
            .query("host", text(1, 253), "Only this host.")
            .query("type", string(), "Only this metric, named as series are.")
            .reads()
            .answers(200, "The points.", "CompatMetrics")
            .errors(&[400, 404]),
        op("compatMetricsHistory", "get", "/api/v1/metrics/history", "compat", "One metric's rollups per host, oldest first")
            .role(Viewer)
            .required_query("type", series_metric(), "The metric.")
            .query("host", text(1, 253), "Only this host (else every host, at most 100).")
            .query("since", since(), "The start; an hour before `until` when absent.")
            .query("until", until(), "The end; now when absent.")
            .reads()
            .answers(200, "The points: each bucket's average.", "CompatMetricsHistory")
            .errors(&[400, 404]),
        op("compatAlertsActive", "get", "/api/v1/alerts/active", "compat", "Alerts not yet resolved, newest first")
            .role(Viewer)
            .reads()
            .answers(200, "The alerts.", "CompatAlertList"),
        op("compatAlertsHistory", "get", "/api/v1/alerts/history", "compat", "Every alert, newest first")
            .role(Viewer)
            .query("since", since(), "Only alerts opened from this time on (RFC 3339).")
            .query("limit", int(1, 1000).with("default", json!(100)), "At most this many alerts.")
            .reads()
            .answers(200, "The alerts.", "CompatAlertList")
            .errors(&[400]),
        // ---- alerts ----
        op("createAlertRule", "post", "/api/v1/alert-rules", "alerts", "Create an alert rule")
            .role(Operator)
            .body("AlertRuleCreate")
            .answers(201, "Created.", "AlertRule")
            .creates(),
        op("listAlertRules", "get", "/api/v1/alert-rules", "alerts", "List alert rules")
            .role(Viewer)
            .reads()
            .answers(200, "The rules.", "AlertRuleList"),
        op("getAlertRule", "get", "/api/v1/alert-rules/{id}", "alerts", "One alert rule")
            .role(Viewer)
            .reads()
            .answers(200, "The rule.", "AlertRule")
            .header("ETag"),
        op("patchAlertRule", "patch", "/api/v1/alert-rules/{id}", "alerts", "Change an alert rule")
            .role(Operator)
            .body("AlertRulePatch")
            .if_match()
            .answers(200, "Changed.", "AlertRule")
            .command(),
        op("deleteAlertRule", "delete", "/api/v1/alert-rules/{id}", "alerts", "Delete an alert rule")
            .role(Operator)
            .detail("Its open alerts resolve.")
            .if_match()
            .answers(200, "Deleted.", "Deleted")
            .command(),
        op("listAlerts", "get", "/api/v1/alerts", "alerts", "Active alerts and history, newest first")
            .role(Viewer)
            .query(
                "state",
                json!({"type": "string", "pattern": ALERT_STATES}),
                "Only alerts in these states, comma-separated.",
            )
            .query("since", since(), "Only alerts opened from this time on (RFC 3339).")
            .query("limit", int(1, 1000).with("default", json!(100)), "At most this many alerts.")
            .reads()
            .answers(200, "The alerts.", "AlertList"),
        op("getAlert", "get", "/api/v1/alerts/{id}", "alerts", "One alert, with its timeline and causation chain")
            .role(Viewer)
            .reads()
            .answers(200, "The alert.", "AlertDetail"),
        op("ackAlert", "post", "/api/v1/alerts/{id}/ack", "alerts", "Acknowledge an alert")
            .role(Operator)
            .detail("409 when the alert is not firing.")
            .optional_body("AckInput")
            .answers(200, "Acknowledged.", "AckResult")
            .header("Watchfire-Position")
            .errors(&[409, 503]),
        op("createSilence", "post", "/api/v1/silences", "alerts", "Create a silence")
            .role(Operator)
            .body("SilenceCreate")
            .answers(201, "Created.", "Silence")
            .creates(),
        op("listSilences", "get", "/api/v1/silences", "alerts", "List silences")
            .role(Viewer)
            .reads()
            .answers(200, "The silences.", "SilenceList"),
        op("deleteSilence", "delete", "/api/v1/silences/{id}", "alerts", "Lift a silence now")
            .role(Operator)
            .answers(200, "Lifted.", "SilenceLifted")
            .command()
            .errors(&[409]),
        op("createChannel", "post", "/api/v1/channels", "alerts", "Create a notification channel")
            .role(Operator)
            .detail("Secrets (a webhook's `secret`, webhook URLs' paths) are never answered.")
            .body("ChannelCreate")
            .answers(201, "Created.", "Channel")
            .creates(),
        op("listChannels", "get", "/api/v1/channels", "alerts", "List notification channels")
            .role(Viewer)
            .reads()
            .answers(200, "The channels, secrets redacted.", "ChannelList"),
        op("patchChannel", "patch", "/api/v1/channels/{id}", "alerts", "Change a notification channel")
            .role(Operator)
            .detail("The fields sent change, the rest stay; `null` clears a webhook's secret. The kind cannot change.")
            .body("ChannelPatch")
            .if_match()
            .answers(200, "Changed.", "Channel")
            .command(),
        op("deleteChannel", "delete", "/api/v1/channels/{id}", "alerts", "Delete a notification channel")
            .role(Operator)
            .answers(200, "Deleted.", "Deleted")
            .command(),
        op("testChannel", "post", "/api/v1/channels/{id}/test", "alerts", "Send a test notification now")
            .role(Operator)
            .detail("502 with the channel's error when it cannot deliver.")
            .answers(200, "Delivered.", "ChannelTestResult")
            .errors(&[502]),
        // ---- users and tokens ----
        op("login", "post", "/api/v1/login", "users", "Log in")
            .detail("Answers with the session cookie `watchfire_session` (HttpOnly, SameSite=Strict). \
                     Failed logins are throttled per client address and per username (429).")
            .body("LoginInput")
            .answers(200, "Logged in.", "Session")
            .header_inline("Set-Cookie", "The session cookie `watchfire_session`.")
            .command()
            .errors(&[401, 429]),
        op("logout", "post", "/api/v1/logout", "users", "Log out")
            .access(Access::Session)
            .detail("Ends the cookie's session and clears the cookie.")
            .answers_empty(204, "Logged out.")
            .header_inline("Set-Cookie", "Clears the session cookie.")
            .command(),
        op("getMe", "get", "/api/v1/me", "users", "Who this credential is")
            .role(Agent)
            .detail("The session's user or the API token, with its role.")
            .answers(200, "The caller.", "Me"),
        op("createUser", "post", "/api/v1/users", "users", "Create a user who may log in")
            .role(Admin)
            .body("UserCreate")
            .answers(201, "Created.", "User")
            .creates()
            .errors(&[409]),
        op("listUsers", "get", "/api/v1/users", "users", "List users")
            .role(Admin)
            .reads()
            .answers(200, "The users, without password hashes.", "UserList"),
        op("patchUser", "patch", "/api/v1/users/{name}", "users", "Change a user's role or password")
            .role(Admin)
            .detail("A new role applies to the user's sessions at once; a new password ends the user's other sessions.")
            .body("UserPatch")
            .if_match()
            .answers(200, "Changed.", "User")
            .command(),
        op("deleteUser", "delete", "/api/v1/users/{name}", "users", "Delete a user")
            .role(Admin)
            .detail("The user may no longer log in, and their sessions end.")
            .answers(200, "Deleted.", "UserDeleted")
            .command(),
        op("createToken", "post", "/api/v1/tokens", "users", "Create an API token")
            .role(Admin)
            .detail("The token's value is in this answer and nowhere else.")
            .body("TokenCreate")
            .answers(201, "Created; `token` is shown this once.", "TokenCreated")
            .command(),
        op("listTokens", "get", "/api/v1/tokens", "users", "List API tokens")
            .role(Admin)
            .detail("Never their values or hashes.")
            .reads()
            .answers(200, "The tokens.", "TokenList"),
        op("revokeToken", "delete", "/api/v1/tokens/{id}", "users", "Revoke an API token")
            .role(Admin)
            .answers(200, "Revoked.", "Token")
            .command(),
        // ---- audit ----
        op("getDashboard", "get", "/api/v1/dashboard", "audit", "The live dashboard view")
            .role(Viewer)
            .reads()
            .answers(200, "The view, with the position it holds.", "Dashboard")
            .header("Watchfire-Position"),
        op("listEvents", "get", "/api/v1/events", "audit", "The log as JSON, in order")
            .role(Admin)
            .detail("Channel secrets are redacted. Go on from `next_after` while it is not null.")
            .query("after", count(), "Only events after this position.")
            .query("limit", int(1, 1000).with("default", json!(100)), "At most this many events.")
            .query("stream", string(), "Only events of this stream.")
            .query("type", string(), "Only events of this type, such as `MonitorChecked`.")
            .answers(200, "A page of events.", "EventPage")
            .errors(&[503]),
        op("getAuditState", "get", "/api/v1/audit/state", "audit", "The dashboard view as it was then")
            .role(Viewer)
            .detail("Folded from the log up to a position, or up to the last event at or before a time.")
            .required_query(
                "at",
                json!({"anyOf": [count(), time()]}),
                "A position, or an RFC 3339 time.",
            )
            .answers(200, "The past view.", "AuditState")
            .header("Watchfire-Position")
            .errors(&[503]),
        op("verifyAudit", "get", "/api/v1/audit/verify", "audit", "Check the log's hash chains")
            .role(Viewer)
            .detail("As `watchfire verify` does.")
            .answers(200, "The report.", "VerifyReport")
            .errors(&[503]),
    ]
}

/// A badge route: all share one shape and Uptime Kuma's query parameters.
fn badge(id: &'static str, path: &'static str, summary: &'static str) -> Op {
    op(id, "get", path, "status", summary)
        .detail(
            "A shields.io flat SVG badge, as Uptime Kuma draws them. Only for a monitor that \
             some status page shows: any other id is 404, as an unknown one. `duration` is \
             `24h`, `7d`, `30d` or a number of hours (up to 2160).",
        )
        .query("label", text(0, 100), "The left-hand text.")
        .query(
            "labelColor",
            string(),
            "The left-hand colour: a name or a hex code.",
        )
        .query(
            "color",
            string(),
            "The right-hand colour: a name or a hex code.",
        )
        .query("upLabel", text(0, 100), "The status badge's text when up.")
        .query(
            "downLabel",
            text(0, 100),
            "The status badge's text when down.",
        )
        .query(
            "pendingLabel",
            text(0, 100),
            "The status badge's text when pending.",
        )
        .query(
            "pausedLabel",
            text(0, 100),
            "The status badge's text when paused.",
        )
        .query("upColor", string(), "The status badge's colour when up.")
        .query(
            "downColor",
            string(),
            "The status badge's colour when down.",
        )
        .query(
            "prefix",
            text(0, 100),
            "Text before an uptime or response time.",
        )
        .query(
            "suffix",
            text(0, 100),
            "Text after an uptime or response time.",
        )
        .query(
            "warnDays",
            count(),
            "The certificate badge turns to warning within this many days (14).",
        )
        .query(
            "downDays",
            count(),
            "The certificate badge turns to down within this many days (7).",
        )
        .query(
            "warnColor",
            string(),
            "The certificate badge's colour when warning.",
        )
        .answers_with(200, "The badge.", "image/svg+xml", string())
        .errors(&[404])
}

/// A push heartbeat route: all four share one shape.
fn heartbeat(id: &'static str, method: &'static str, path: &'static str) -> Op {
    op(
        id,
        method,
        path,
        "push",
        "Record a push monitor's heartbeat",
    )
    .access(Access::PushToken)
    .query(
        "status",
        one_of(&["up", "down"]).with("default", json!("up")),
        "Whether the job went well.",
    )
    .query("msg", string(), "A message, kept up to 1000 characters.")
    .query(
        "ping",
        json!({"type": "number", "minimum": 0}),
        "A latency to record, in milliseconds.",
    )
    .answers(200, "Recorded.", "HeartbeatAccepted")
    .errors(&[503])
}

/// The problem answers, by component name.
fn error_responses() -> Value {
    let mut out = Map::new();
    for status in [400, 401, 403, 404, 409, 413, 415, 422, 429, 502, 503] {
        let name = problem_response_name(status).unwrap_or("Problem");
        let mut response = json!({
            "description": problem_description(status),
            "content": {"application/problem+json": {"schema": reference("Problem")}},
        });
        if status == 401 {
            response["headers"] = json!({"WWW-Authenticate": {
                "description": "`Bearer`.", "schema": string(),
            }});
        }
        if status == 429 {
            response["headers"] = json!({"Retry-After": {
                "description": "Seconds to wait before trying again.", "schema": int(1, u32::MAX),
            }});
        }
        out.insert(name.to_owned(), response);
    }
    Value::Object(out)
}

/// The component name of the problem answer with `status`.
fn problem_response_name(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        422 => "UnprocessableEntity",
        429 => "TooManyRequests",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        _ => return None,
    })
}

fn problem_description(status: u16) -> &'static str {
    match status {
        400 => "Malformed: the body is not JSON, or a query parameter or header cannot be read.",
        401 => "No credentials, or bad ones.",
        403 => "The token's or the user's role is too low.",
        404 => "No such resource.",
        409 => "A conflict: `If-Match` names a stale version, the resource exists, or it is not in a state that allows this.",
        413 => "The body is over the limit (1 MiB).",
        415 => "The body is not `application/json`.",
        422 => "Valid JSON, invalid values: the detail names the field.",
        429 => "Rate limited.",
        502 => "The channel could not deliver.",
        503 => "The log cannot take writes now, or the read model did not reach `min_position` within 5 s.",
        _ => "A problem.",
    }
}

// ---- schemas ----

/// A reference to the component schema `name`.
fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn string() -> Value {
    json!({"type": "string"})
}

/// A string of `min` to `max` characters.
fn text(min: u32, max: u32) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max})
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn uri() -> Value {
    json!({"type": "string", "format": "uri"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn number() -> Value {
    json!({"type": "number"})
}

/// A whole number of at least 0.
fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn int(min: u32, max: u32) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

fn one_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// An object whose values are all `values`.
fn map_of(values: Value) -> Value {
    json!({"type": "object", "additionalProperties": values})
}

/// An object with `properties`, of which `required` must be present.
fn object(properties: Vec<(&str, Value)>, required: &[&str]) -> Value {
    let properties: Map<String, Value> = properties
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let mut out = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        out["required"] = json!(required);
    }
    out
}

/// An object that refuses fields it does not name (a body the handler reads with `deny_unknown_fields`).
fn closed(properties: Vec<(&str, Value)>, required: &[&str]) -> Value {
    object(properties, required).with("additionalProperties", json!(false))
}

fn monitor_status() -> Value {
    one_of(&["pending", "up", "down", "paused"])
}

fn incident_status() -> Value {
    one_of(crate::domain::status_page::INCIDENT_STATUSES)
}

fn impact() -> Value {
    one_of(crate::domain::status_page::IMPACTS)
}

fn host_status() -> Value {
    one_of(&["pending", "up", "stale"])
}

fn severity() -> Value {
    one_of(&["critical", "warning", "info"])
}

fn role() -> Value {
    one_of(&["agent", "viewer", "operator", "admin"])
}

/// `?state=` of `GET /api/v1/alerts`: alert states, comma-separated.
const ALERT_STATES: &str =
    "^(pending|firing|acknowledged|resolved)(,(pending|firing|acknowledged|resolved))*$";

fn series_metric() -> Value {
    json!({
        "type": "string",
        "pattern": "^(cpu_percent|memory_percent|load1|net_rx_bytes_per_s|net_tx_bytes_per_s|disk_read_bytes_per_s|disk_write_bytes_per_s|disk_percent:.+)$",
        "examples": ["cpu_percent", "disk_percent:/"],
    })
}

/// Small changes to a schema where it is written.
trait SchemaExt {
    /// With a description.
    fn doc(self, description: &str) -> Value;
    /// With `key` set to `value`.
    fn with(self, key: &str, value: Value) -> Value;
    /// That may also be null.
    fn or_null(self) -> Value;
}

impl SchemaExt for Value {
    fn doc(self, description: &str) -> Value {
        self.with("description", json!(description))
    }

    fn with(mut self, key: &str, value: Value) -> Value {
        if let Some(obj) = self.as_object_mut() {
            obj.insert(key.to_owned(), value);
        }
        self
    }

    fn or_null(mut self) -> Value {
        match self.get("type").cloned() {
            Some(Value::String(kind)) => {
                self["type"] = json!([kind, "null"]);
                if let Some(values) = self.get_mut("enum").and_then(Value::as_array_mut) {
                    values.push(Value::Null);
                }
                self
            }
            _ => json!({"anyOf": [self, {"type": "null"}]}),
        }
    }
}

/// The settings of a monitor that a client may send and the API answers.
fn monitor_settings() -> Vec<(&'static str, Value)> {
    vec![
        ("name", text(1, 200).doc("What the monitor is called.")),
        (
            "url",
            uri()
                .or_null()
                .doc("What an http monitor requests: an http:// or https:// URL."),
        ),
        (
            "host",
            text(1, 253)
                .or_null()
                .doc("What a tcp, dns or ping monitor checks: a host name or address."),
        ),
        (
            "count",
            int(1, 10)
                .doc("Echo requests a ping monitor sends per check, 200 ms apart.")
                .with("default", json!(3)),
        ),
        (
            "packet_timeout_ms",
            int(1, 60_000)
                .doc("How long each of a ping monitor's echo requests waits for its reply.")
                .with("default", json!(2000)),
        ),
        (
            "max_loss_percent",
            int(0, 100).or_null().doc(
                "The most packet loss a ping monitor counts as up; null: up while any reply came.",
            ),
        ),
        (
            "port",
            int(1, 65_535)
                .or_null()
                .doc("The port a tcp monitor connects to."),
        ),
        (
            "record_type",
            string()
                .or_null()
                .doc("The record type a dns monitor asks for, such as A, AAAA, MX or TXT."),
        ),
        (
            "resolver",
            string().or_null().doc(
                "The resolver a dns monitor asks (address, optional port); the system's when null.",
            ),
        ),
        (
            "interval_s",
            int(1, 86_400)
                .doc("Seconds between checks; for a push monitor, how often heartbeats are due."),
        ),
        (
            "timeout_ms",
            int(1, u32::MAX).doc("How long a check may take, in ms; less than the interval."),
        ),
        (
            "retries",
            int(0, 100).doc("Failed checks in a row before the monitor is down."),
        ),
        (
            "recover_after",
            int(0, 100).doc("Good checks in a row before a down monitor is up."),
        ),
        (
            "method",
            string()
                .doc("The HTTP method of an http monitor.")
                .with("default", json!("GET")),
        ),
        (
            "headers",
            map_of(string()).doc("Request headers of an http monitor."),
        ),
        (
            "body",
            string()
                .or_null()
                .doc("The request body of an http monitor."),
        ),
        (
            "follow_redirects",
            boolean().doc("Whether an http monitor follows redirects."),
        ),
        (
            "ignore_tls_errors",
            boolean().doc("Whether an http monitor accepts any certificate."),
        ),
        ("expect", reference("Expectations")),
        (
            "cert_expiry_days",
            count().or_null().doc(
                "Days before a certificate's expiry at which the monitor warns; null to ignore.",
            ),
        ),
        (
            "grace_s",
            int(0, 86_400).doc("Seconds a push monitor waits past its interval before it is down."),
        ),
        (
            "tags",
            array(text(1, 100))
                .with("maxItems", json!(50))
                .doc("Labels for filters, alert rules and silences."),
        ),
    ]
}

/// The push body of an agent's sample.
fn push_body_properties() -> Vec<(&'static str, Value)> {
    let percent = || json!({"type": "number", "minimum": 0, "maximum": 100});
    let bytes = || count();
    vec![
        ("hostname", text(1, 253).doc("The host's name; required by `POST /api/metrics`, checked against the path otherwise.")),
        ("timestamp", json!({"type": "string"}).doc("When the sample was taken (RFC 3339, or without an offset: UTC); the server's clock when absent. At most 300 s ahead of it.")),
        ("interval_s", int(1, u32::MAX).doc("Seconds between the agent's samples, so the server knows when the host is late.")),
        ("tags", array(text(1, 64)).doc("Labels for alert rules and silences.")),
        ("cpu", object(vec![
            ("cpu_percent_total", percent()),
            ("cpu_percent_per_core", array(percent()).with("maxItems", json!(4096))),
            ("cpu_count_logical", count()),
            (
                "load_average",
                array(json!({"type": "number", "minimum": 0}))
                    .with("minItems", json!(3))
                    .with("maxItems", json!(3))
                    .doc("Over 1, 5 and 15 minutes."),
            ),
        ], &[])),
        ("memory", object(vec![
            ("memory_total", bytes()),
            ("memory_used", bytes().doc("At most `memory_total`.")),
            ("memory_percent", percent()),
        ], &[])),
        ("disk", object(vec![(
            "partitions",
            array(object(vec![
                ("device", json!({"type": "string", "maxLength": 1024})),
                ("mountpoint", text(1, 1024)),
                ("fstype", json!({"type": "string", "maxLength": 1024})),
                ("total", bytes()),
                ("used", bytes().doc("At most `total`.")),
                ("free", bytes().doc("At most `total`.")),
                ("percent", percent().doc("`used / total` when absent.")),
            ], &["mountpoint", "total", "used"])).with("maxItems", json!(1024)),
        )], &[])),
        ("io", object(vec![
            ("network", object(
                ["bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "errin", "errout", "dropin", "dropout"]
                    .into_iter().map(|n| (n, bytes())).collect(),
                &[],
            ).doc("Counters since boot, as psutil names them.")),
            ("disk_io", object(
                ["read_count", "write_count", "read_bytes", "write_bytes", "read_time", "write_time"]
                    .into_iter().map(|n| (n, bytes())).collect(),
                &[],
            ).doc("Counters since boot, as psutil names them (times in milliseconds).")),
        ], &[])),
    ]
}

/// A sample as the server monitor's agent pushes it and its dashboard reads it back.
fn compat_sample() -> Value {
    let n = || number().or_null();
    closed(
        vec![
            ("hostname", string()),
            ("timestamp", time()),
            (
                "cpu",
                closed(
                    vec![
                        ("cpu_percent_total", n()),
                        ("cpu_percent_per_core", array(number())),
                        ("cpu_count_logical", count().or_null()),
                        ("load_average", array(number()).or_null()),
                    ],
                    &[
                        "cpu_percent_total",
                        "cpu_percent_per_core",
                        "cpu_count_logical",
                        "load_average",
                    ],
                ),
            ),
            (
                "memory",
                closed(
                    vec![
                        ("memory_total", count().or_null()),
                        ("memory_used", count().or_null()),
                        ("memory_percent", n()),
                    ],
                    &["memory_total", "memory_used", "memory_percent"],
                ),
            ),
            (
                "disk",
                closed(
                    vec![("partitions", array(compat_partition()))],
                    &["partitions"],
                ),
            ),
            (
                "io",
                closed(
                    vec![("network", compat_network()), ("disk_io", compat_disk_io())],
                    &["network", "disk_io"],
                ),
            ),
        ],
        &["hostname", "timestamp", "cpu", "memory", "disk", "io"],
    )
}

/// One filesystem as the server monitor shows it.
fn compat_partition() -> Value {
    closed(
        vec![
            ("device", string().or_null()),
            ("mountpoint", string()),
            ("fstype", string().or_null()),
            ("total", count()),
            ("used", count()),
            (
                "free",
                count().doc("As the agent said, else `total - used`."),
            ),
            ("percent", number()),
        ],
        &[
            "device",
            "mountpoint",
            "fstype",
            "total",
            "used",
            "free",
            "percent",
        ],
    )
}

/// Network counters since boot, as psutil names them.
fn compat_network() -> Value {
    let names = [
        "bytes_sent",
        "bytes_recv",
        "packets_sent",
        "packets_recv",
        "errin",
        "errout",
        "dropin",
        "dropout",
    ];
    closed(
        names.iter().map(|n| (*n, count().or_null())).collect(),
        &names,
    )
}

/// Disk I/O counters since boot, as psutil names them (times in milliseconds).
fn compat_disk_io() -> Value {
    let names = [
        "read_count",
        "write_count",
        "read_bytes",
        "write_bytes",
        "read_time",
        "write_time",
    ];
    closed(
        names.iter().map(|n| (*n, count().or_null())).collect(),
        &names,
    )
}

/// A metric point of the Terminusa API.
fn compat_point() -> Value {
    closed(
        vec![
            ("timestamp", time()),
            ("type", string()),
            ("value", number()),
            ("tags", closed(vec![("host", string())], &["host"])),
        ],
        &["timestamp", "type", "value", "tags"],
    )
}

/// The fields of an alert condition.
fn condition_properties() -> Vec<(&'static str, Value)> {
    vec![
        (
            "kind",
            one_of(&["monitor_down", "host_metric", "host_stale", "cert_expiry"]),
        ),
        (
            "monitor",
            uuid().doc("The monitor of `monitor_down` or `cert_expiry`; or give `tag`."),
        ),
        (
            "host",
            string().doc("The host of `host_metric` or `host_stale`; or give `tag`."),
        ),
        (
            "tag",
            text(1, 64).doc("Every monitor or host with this tag."),
        ),
        (
            "metric",
            series_metric().doc("The metric of `host_metric`."),
        ),
        (
            "op",
            one_of(&[">", ">=", "<", "<="]).doc("The comparison of `host_metric`."),
        ),
        ("threshold", number().doc("The threshold of `host_metric`.")),
        (
            "for_s",
            int(0, 604_800).doc("Seconds the condition must hold before the alert fires."),
        ),
        (
            "after_s",
            count()
                .doc("Seconds of silence before `host_stale` fires; the host's own window when 0."),
        ),
        (
            "days",
            int(1, 365).doc("Days before expiry at which `cert_expiry` fires."),
        ),
    ]
}

/// The fields of an alert rule a client sends.
fn rule_input_properties() -> Vec<(&'static str, Value)> {
    vec![
        ("name", text(1, 200)),
        ("severity", severity().with("default", json!("warning"))),
        ("condition", reference("ConditionInput")),
        ("channels", array(uuid()).doc("Channel ids to notify.")),
        (
            "repeat_interval_s",
            int(0, 2_592_000)
                .doc("Seconds between repeat notifications; 0 for none.")
                .with("default", json!(14_400)),
        ),
    ]
}

/// Every channel kind, as the API spells it.
const CHANNEL_KINDS: &[&str] = &[
    "email",
    "webhook",
    "slack",
    "discord",
    "teams",
    "telegram",
    "ntfy",
    "gotify",
    "pagerduty",
    "pushover",
    "sms",
];

/// The fields of a channel a client sends, by kind.
fn channel_input(kind: &str, fields: Vec<(&'static str, Value)>, required: &[&str]) -> Value {
    let mut properties = vec![("name", text(1, 200)), ("kind", json!({"const": kind}))];
    properties.extend(fields);
    let mut all = vec!["name", "kind"];
    all.extend_from_slice(required);
    object(properties, &all)
}

/// Every component schema.
fn schemas() -> Value {
    let schemas: Vec<(&str, Value)> = vec![
        ("Problem", closed(vec![
            ("type", json!({"type": "string", "format": "uri"}).doc("A URI naming the kind of problem.")),
            ("title", string().doc("A short summary of the kind.")),
            ("status", int(100, 599).doc("The HTTP status.")),
            ("detail", string().doc("What went wrong this time; for a 422, the field first.")),
            ("field", string().doc("For a 422, the request body's field at fault, such as `expect.status[1]`.")),
            ("error", string().doc("On the `compat` routes: `detail` again, where the seed systems' clients read it.")),
        ], &["type", "title", "status", "detail"]).doc("An RFC 9457 problem: every error answer.")),
        ("Health", object(vec![("status", json!({"const": "ok"}))], &["status"])),
        ("Readiness", object(vec![
            ("status", one_of(&["ready", "not ready"])),
            ("position", count().doc("The last durable position.")),
            ("reasons", array(string()).doc("Why not ready; empty when ready.")),
            ("node", string().doc("On a cluster: this node's id.")),
            ("nodes", count().doc("On a cluster: the live nodes.")),
            ("owned", count().doc("On a cluster: the things this node holds leases on.")),
        ], &["status", "position", "reasons"])),
        // monitors
        ("Expectations", closed(vec![
            (
                "status",
                array(json!({"type": "string", "pattern": r"^\s*[0-9]{3}\s*(-\s*[0-9]{3}\s*)?$"}))
                    .doc("Accepted HTTP statuses or ranges, such as `200-299`."),
            ),
            ("body_contains", string().or_null()),
            ("body_regex", string().or_null()),
            ("json_path", closed(vec![
                ("path", string().doc("An RFC 9535 JSON path.")),
                ("equals", json!({}).doc("The value the path must select: any JSON.")),
            ], &["path", "equals"]).or_null()),
            ("max_latency_ms", count().or_null()),
            ("contains", string().or_null().doc("What a dns answer must contain.")),
        ], &[]).doc("What a check expects to count as up.")),
        ("MonitorCreate", {
            let mut props = monitor_settings();
            let kind = one_of(&["http", "tcp", "dns", "push", "ping"]).doc(
                "http needs `url`; tcp `host` and `port`; dns `host` and `record_type`; ping `host`; push no target.",
            );
            props.insert(1, ("kind", kind));
            props.push(("paused", boolean().doc("Create it paused.")));
            closed(props, &["name", "kind"]).doc("A new monitor; unnamed settings take defaults.")
        }),
        ("MonitorPatch", closed(monitor_settings(), &[]).doc("The settings to change; the rest stay.")),
        ("CheckList", object(vec![("checks", array(object(vec![
            ("position", count()), ("at", time()), ("ok", boolean()),
            ("latency_ms", number().or_null()), ("status_code", count().or_null()),
            ("error", string().or_null()), ("cert_expires_at", time().or_null()),
            ("ping", object(vec![
                ("sent", count()), ("received", count()), ("loss_percent", number()),
                ("rtt_min_ms", number().or_null()), ("rtt_avg_ms", number().or_null()),
                ("rtt_max_ms", number().or_null()),
            ], &["sent", "received", "loss_percent"]).or_null().doc("Echo requests and replies, for a ping check.")),
            ("heartbeat", boolean().doc("A push monitor's heartbeat rather than a check.")),
            ("msg", string().or_null()),
        ], &["position", "at", "ok"])))], &["checks"])),
        ("MonitorSeries", object(vec![
            ("resolution", string()),
            ("since", time()),
            ("until", time()),
            ("points", array(object(vec![
                ("start", time().or_null()), ("checks", count()), ("up", count()),
                ("uptime", number()), ("avg_latency_ms", number()),
            ], &["start", "checks", "up"]))),
        ], &["resolution", "since", "until", "points"])),
        ("HeartbeatAccepted", object(vec![("ok", json!({"const": true}))], &["ok"])),
        // hosts
        ("PushBody", object(push_body_properties(), &[]).doc("An agent's sample; every part optional, unknown fields ignored.")),
        ("NamedPushBody", object(push_body_properties(), &["hostname"]).doc("An agent's sample with its hostname.")),
        ("PushAccepted", closed(vec![
            ("status", json!({"const": "success"})),
            ("hostname", string().doc("The host, lower-case.")),
        ], &["status", "hostname"])),
        // compat
        ("CompatHealth", closed(vec![("status", json!({"const": "healthy"})), ("timestamp", time())], &["status", "timestamp"])),
        ("CompatServerList", closed(vec![
            ("count", count()),
            ("servers", array(closed(vec![
                ("hostname", string()),
                ("status", one_of(&["online", "offline", "pending"])),
                ("last_seen", time().or_null()),
                ("last_update", time().or_null().doc("When the latest sample was taken.")),
                ("cpu_percent", number().or_null()),
                ("memory_percent", number().or_null()),
                ("disk_percent", number().or_null().doc("The fullest filesystem's.")),
            ], &["hostname", "status", "last_seen", "last_update", "cpu_percent", "memory_percent", "disk_percent"]))),
        ], &["count", "servers"])),
        ("CompatSample", compat_sample()),
        ("CompatHistory", closed(vec![
            ("hostname", string()), ("hours", number()), ("count", count()),
            ("metrics", array(compat_sample())),
        ], &["hostname", "hours", "count", "metrics"])),
        ("CompatDisks", closed(vec![
            ("hostname", string()), ("timestamp", time()), ("partitions", array(compat_partition())),
        ], &["hostname", "timestamp", "partitions"])),
        ("CompatNetwork", closed(vec![
            ("hostname", string()), ("timestamp", time()),
            ("network", compat_network()), ("disk_io", compat_disk_io()),
            ("rates", closed(vec![
                ("bytes_sent_per_s", number().or_null()), ("bytes_recv_per_s", number().or_null()),
                ("read_bytes_per_s", number().or_null()), ("write_bytes_per_s", number().or_null()),
            ], &["bytes_sent_per_s", "bytes_recv_per_s", "read_bytes_per_s", "write_bytes_per_s"])),
        ], &["hostname", "timestamp", "network", "disk_io", "rates"])),
        ("CompatMetrics", closed(vec![
            ("timestamp", time()), ("metrics", array(compat_point())),
        ], &["timestamp", "metrics"])),
        ("CompatMetricsHistory", closed(vec![
            ("type", string()), ("since", time()), ("until", time()), ("metrics", array(compat_point())),
        ], &["type", "since", "until", "metrics"])),
        ("CompatAlertList", closed(vec![
            ("count", count()),
            ("alerts", array(closed(vec![
                ("id", uuid()),
                ("severity", one_of(&["critical", "warning", "info"])),
                ("message", string().doc("The rule's name and the latest cause.")),
                ("created_at", time()),
                ("status", one_of(&["pending", "firing", "acknowledged", "resolved"])),
                ("acknowledged", boolean()),
                ("acknowledged_at", time().or_null()),
                ("resolved_at", time().or_null()),
                ("rule", string()),
                ("subject", string()),
            ], &["id", "severity", "message", "created_at", "status", "acknowledged", "acknowledged_at", "resolved_at", "rule", "subject"]))),
        ], &["count", "alerts"])),
        ("ScrapedHostCreate", closed(vec![
            ("hostname", text(1, 253)),
            ("scrape_url", uri().doc("A node_exporter `/metrics` URL.")),
            ("interval_s", int(1, 86_400).with("default", json!(15))),
            ("stale_after_s", count().doc("Seconds without a sample before the host is stale; at least the interval.")),
            ("tags", array(string())),
        ], &["hostname", "scrape_url"])),
        ("HostSeries", object(vec![
            ("hostname", string()), ("metric", string()), ("since", time()), ("until", time()),
            ("step", one_of(&["1m", "5m", "1h", "1d"])),
            ("points", array(object(vec![
                ("t", time()), ("count", count()), ("min", number()), ("max", number()),
                ("sum", number()), ("avg", number()), ("last", number()),
            ], &["t", "count"]))),
        ], &["hostname", "metric", "step", "points"])),
        // alerts
        ("ConditionInput", closed(condition_properties(), &["kind"]).doc("What an alert watches.")),
        ("Condition", object(condition_properties(), &["kind", "for_s"])),
        ("AlertRuleCreate", closed(rule_input_properties(), &["name", "condition"])),
        ("AlertRulePatch", closed(rule_input_properties(), &[]).doc("The fields to change; the rest stay.")),
        ("AlertRule", object(vec![
            ("id", uuid()), ("name", string()), ("severity", severity()),
            ("condition", reference("Condition")), ("channels", array(uuid())),
            ("repeat_interval_s", count()), ("version", count()),
        ], &["id", "name", "severity", "condition", "channels", "repeat_interval_s", "version"])),
        ("AlertRuleList", object(vec![("rules", array(reference("AlertRule")))], &["rules"])),
        ("Deleted", object(vec![("id", uuid()), ("deleted", json!({"const": true}))], &["id", "deleted"])),
        ("AlertDetail", json!({"allOf": [reference("Alert"), object(vec![
            ("timeline", array(object(vec![
                ("position", count()), ("at", time()), ("event", string()),
                ("causation", count().or_null()), ("actor", string()), ("detail", json!({})),
            ], &["position", "at", "event"]))),
            ("causation_chain", array(object(vec![
                ("position", count()), ("type", string()), ("stream", string()),
                ("at", time()), ("data", json!({})),
                ("expired", boolean().doc("The event has gone with retention.")),
            ], &["position"])).doc("The events behind the alert, newest first, down to the check or sample.")),
        ], &["timeline", "causation_chain"])]})),
        ("AckInput", closed(vec![("comment", json!({"type": "string", "maxLength": 2000}))], &[])),
        ("AckResult", object(vec![
            ("id", uuid()), ("state", one_of(&["pending", "firing", "acknowledged", "resolved"])),
            ("acknowledged", boolean().doc("Whether the alert is acknowledged now (the Terminusa API's field).")),
        ], &["id", "state", "acknowledged"])),
        ("SilenceCreate", closed(vec![
            ("matchers", json!({
                "type": "object", "minProperties": 1,
                "propertyNames": {"enum": ["tag", "monitor", "host", "rule", "severity"]},
                "additionalProperties": text(1, 200),
            }).doc("What it silences: every matcher must match.")),
            ("starts_at", time().doc("Now when absent.")),
            ("ends_at", time().doc("After `starts_at`.")),
            ("comment", string()),
        ], &["matchers", "ends_at"])),
        ("Silence", object(vec![
            ("id", uuid()), ("matchers", map_of(string())), ("starts_at", time()),
            ("ends_at", time()), ("comment", string()), ("active", boolean()),
            ("lifted_at", time().or_null()),
        ], &["id", "matchers", "starts_at", "ends_at", "active"])),
        ("StatusGroup", closed(vec![
            ("name", text(1, 200)),
            ("monitors", array(uuid()).with("maxItems", json!(200)).doc("Monitor ids, in order.")),
        ], &["name"])),
        ("StatusPageCreate", closed(vec![
            ("slug", json!({"type": "string", "pattern": "^[a-z0-9-]{1,64}$"}).doc("Its address: `/status/<slug>`.")),
            ("title", text(1, 200)),
            ("description", json!({"type": "string", "maxLength": 10000})),
            ("groups", array(reference("StatusGroup")).with("maxItems", json!(50))),
            ("show_errors", boolean().doc("Show why a monitor is down; false by default.")),
        ], &["slug", "title"])),
        ("StatusPagePatch", closed(vec![
            ("slug", json!({"type": "string"}).doc("Only the page's own: a slug cannot change.")),
            ("title", text(1, 200)),
            ("description", json!({"type": "string", "maxLength": 10000})),
            ("groups", array(reference("StatusGroup")).with("maxItems", json!(50))),
            ("show_errors", boolean()),
        ], &[])),
        ("IncidentEntry", object(vec![
            ("status", incident_status()), ("message", string()), ("at", time()),
        ], &["status", "message", "at"])),
        ("Incident", object(vec![
            ("id", uuid()), ("title", string()), ("impact", impact()), ("status", incident_status()),
            ("opened_at", time()), ("resolved_at", time().or_null()),
            ("updates", array(reference("IncidentEntry")).doc("Newest first; the last is the opening.")),
        ], &["id", "title", "impact", "status", "opened_at", "updates"])),
        ("Maintenance", object(vec![
            ("id", uuid()), ("title", string()), ("message", string()), ("starts_at", time()),
            ("ends_at", time()), ("phase", one_of(&["upcoming", "active", "ended"]).doc("By the server's clock.")),
        ], &["id", "title", "starts_at", "ends_at", "phase"])),
        ("StatusPage", object(vec![
            ("slug", string()), ("title", string()), ("description", string()),
            ("groups", array(object(vec![("name", string()), ("monitors", array(uuid()))], &["name", "monitors"]))),
            ("show_errors", boolean()), ("created_at", time()), ("version", count()),
            ("incidents", array(reference("Incident"))), ("maintenance", array(reference("Maintenance"))),
        ], &["slug", "title", "groups", "show_errors", "incidents", "maintenance"])),
        ("StatusPageList", object(vec![("status_pages", array(reference("StatusPage")))], &["status_pages"])),
        ("StatusPageDeleted", object(vec![("slug", string()), ("deleted", json!({"const": true}))], &["slug", "deleted"])),
        ("IncidentCreate", closed(vec![
            ("title", text(1, 200)),
            ("impact", impact().doc("`minor` when absent.")),
            ("status", incident_status().doc("`investigating` when absent.")),
            ("message", json!({"type": "string", "maxLength": 10000})),
        ], &["title"])),
        ("IncidentUpdate", closed(vec![
            ("status", incident_status()),
            ("message", json!({"type": "string", "minLength": 1, "maxLength": 10000})),
        ], &["status", "message"])),
        ("MaintenanceCreate", closed(vec![
            ("title", text(1, 200)),
            ("message", json!({"type": "string", "maxLength": 10000})),
            ("starts_at", time()),
            ("ends_at", time().doc("After `starts_at`.")),
        ], &["title", "starts_at", "ends_at"])),
        ("MaintenancePatch", closed(vec![
            ("title", text(1, 200)),
            ("message", json!({"type": "string", "maxLength": 10000})),
            ("starts_at", time()),
            ("ends_at", time().doc("After `starts_at`, as the announcement then is.")),
        ], &[])),
        ("MaintenanceCancelled", object(vec![("id", uuid()), ("cancelled", json!({"const": true}))], &["id", "cancelled"])),
        ("IncidentPatch", closed(vec![
            ("title", text(1, 200)),
            ("impact", impact()),
        ], &[])),
        ("PublicStatus", object(vec![
            ("slug", string()), ("title", string()), ("description", string()),
            ("status", one_of(&["operational", "degraded", "down", "maintenance"])),
            ("groups", array(object(vec![
                ("name", string()),
                ("monitors", array(object(vec![
                    ("id", uuid()), ("name", string()), ("status", monitor_status()),
                    ("status_since", time()),
                    ("uptime_24h", number().or_null()), ("uptime_30d", number().or_null()),
                    ("days", array(object(vec![("date", string()), ("uptime", number())], &["date", "uptime"]))
                        .doc("Days that had checks, of the last 90, oldest first.")),
                    ("error", string().or_null().doc("Why it is down: only where the page shows errors.")),
                ], &["id", "name", "status"]))),
            ], &["name", "monitors"]))),
            ("incidents", array(reference("Incident"))),
            ("maintenance", array(reference("Maintenance"))),
            ("as_of", time()),
        ], &["slug", "title", "status", "groups", "incidents", "maintenance"])),
        ("SilenceList", object(vec![("silences", array(reference("Silence")))], &["silences"])),
        ("SilenceLifted", object(vec![("id", uuid()), ("lifted", json!({"const": true}))], &["id", "lifted"])),
        ("ChannelEmail", channel_input("email", vec![
            ("to", array(json!({"type": "string", "format": "email"})).with("minItems", json!(1)).with("maxItems", json!(50))),
        ], &["to"])),
        ("ChannelWebhook", channel_input("webhook", vec![
            ("url", uri()),
            ("secret", text(1, 256).doc("Signs each body: `Watchfire-Signature: sha256=<hex HMAC>`.")),
        ], &["url"])),
        ("ChannelSlack", channel_input("slack", vec![("webhook_url", uri())], &["webhook_url"])),
        ("ChannelDiscord", channel_input("discord", vec![("webhook_url", uri())], &["webhook_url"])),
        ("ChannelTeams", channel_input("teams", vec![
            ("webhook_url", uri().doc("The Teams workflow's HTTP POST URL; it gets an Adaptive Card 1.4 message.")),
        ], &["webhook_url"])),
        ("ChannelTelegram", channel_input("telegram", vec![
            ("bot_token", text(3, 256).doc("The token BotFather gave, `123456:ABC…`; never shown again.")),
            ("chat_id", json!({"type": ["string", "integer"]}).doc("A chat number (negative for groups) or `@channelname`.")),
            ("message_thread_id", json!({"type": "integer", "minimum": 1}).doc("A forum topic to post in.")),
            ("parse_mode", one_of(&["HTML", "MarkdownV2"]).doc("Formatting; plain text when absent.")),
            ("disable_notification", boolean().doc("Deliver silently.")),
            ("api_url", uri().doc("The Bot API's base URL; default `https://api.telegram.org`.")),
        ], &["bot_token", "chat_id"])),
        ("ChannelNtfy", channel_input("ntfy", vec![
            ("server_url", uri().doc("The ntfy server; default `https://ntfy.sh`.")),
            ("topic", text(1, 64).with("pattern", json!("^[A-Za-z0-9_-]+$"))),
            ("priority", int(1, 5).doc("Fixed priority of firing alerts; by severity when absent (critical 5, warning 4, else 3).")),
            ("tags", array(text(1, 50)).with("maxItems", json!(10)).doc("Tags added to the state's own.")),
            ("token", text(1, 256).doc("An access token, sent as `Authorization: Bearer`.")),
            ("username", text(1, 200).doc("HTTP Basic user (with `password`), instead of a token.")),
            ("password", text(1, 256)),
        ], &["topic"])),
        ("ChannelGotify", channel_input("gotify", vec![
            ("server_url", uri()),
            ("app_token", text(1, 256).doc("The application's token, sent as `X-Gotify-Key`.")),
            ("priority", int(0, 10).doc("Fixed priority of firing alerts; by severity when absent (critical 8, warning 5, else 2).")),
        ], &["server_url", "app_token"])),
        ("ChannelPagerDuty", channel_input("pagerduty", vec![
            ("routing_key", text(32, 32).doc("The Events API v2 integration's routing key.")),
            ("events_url", uri().doc("The Events API's base URL; default `https://events.pagerduty.com`.")),
            ("source", text(1, 255).doc("`payload.source`; the alert's subject when absent.")),
        ], &["routing_key"])),
        ("ChannelPushover", channel_input("pushover", vec![
            ("token", text(30, 30).doc("The application's API token.")),
            ("user", text(30, 30).doc("The user or group key.")),
            ("device", text(1, 100)),
            ("sound", text(1, 100)),
            ("priority", json!({"type": "integer", "minimum": -2, "maximum": 2}).doc("Priority of firing alerts; 2 needs `retry` and `expire`.")),
            ("retry", json!({"type": "integer", "minimum": 30}).doc("Seconds between repeats at priority 2.")),
            ("expire", int(1, 10_800).doc("Seconds repeats last at priority 2.")),
            ("api_url", uri().doc("The API's base URL; default `https://api.pushover.net`.")),
        ], &["token", "user"])),
        ("ChannelSms", channel_input("sms", vec![
            ("account_sid", text(34, 34).with("pattern", json!("^AC[0-9a-fA-F]{32}$"))),
            ("auth_token", text(1, 256).doc("Sent as the HTTP Basic password.")),
            ("from", string().with("pattern", json!("^\\+[1-9][0-9]{7,14}$")).doc("The sending number; or `messaging_service_sid`.")),
            ("messaging_service_sid", string().with("pattern", json!("^MG[0-9a-fA-F]{32}$"))),
            ("to", string().with("pattern", json!("^\\+[1-9][0-9]{7,14}$")).doc("The number texted, E.164.")),
            ("api_url", uri().doc("Twilio's API base URL; default `https://api.twilio.com`.")),
        ], &["account_sid", "auth_token", "to"])),
        ("ChannelCreate", json!({
            "oneOf": [
                reference("ChannelEmail"), reference("ChannelWebhook"),
                reference("ChannelSlack"), reference("ChannelDiscord"),
                reference("ChannelTeams"), reference("ChannelTelegram"),
                reference("ChannelNtfy"), reference("ChannelGotify"),
                reference("ChannelPagerDuty"), reference("ChannelPushover"),
                reference("ChannelSms"),
            ],
            "discriminator": {"propertyName": "kind", "mapping": {
                "email": "#/components/schemas/ChannelEmail",
                "webhook": "#/components/schemas/ChannelWebhook",
                "slack": "#/components/schemas/ChannelSlack",
                "discord": "#/components/schemas/ChannelDiscord",
                "teams": "#/components/schemas/ChannelTeams",
                "telegram": "#/components/schemas/ChannelTelegram",
                "ntfy": "#/components/schemas/ChannelNtfy",
                "gotify": "#/components/schemas/ChannelGotify",
                "pagerduty": "#/components/schemas/ChannelPagerDuty",
                "pushover": "#/components/schemas/ChannelPushover",
                "sms": "#/components/schemas/ChannelSms",
            }},
        })),
        ("ChannelPatch", closed(vec![
            ("name", text(1, 200)),
            ("kind", one_of(CHANNEL_KINDS).doc("If sent, the channel's own kind.")),
            ("to", json!({"type": ["array", "string"]}).doc("An email channel's recipients, or an SMS channel's number.")),
            ("url", uri().doc("A webhook's URL.")),
            ("secret", text(1, 256).or_null().doc("A webhook's signing key; null removes it.")),
            ("webhook_url", uri().doc("A Slack, Discord or Teams webhook URL.")),
            ("bot_token", string()), ("chat_id", json!({"type": ["string", "integer"]})),
            ("message_thread_id", json!({"type": ["integer", "null"]})),
            ("parse_mode", string().or_null()), ("disable_notification", boolean()),
            ("api_url", uri().or_null()), ("server_url", uri().or_null()), ("topic", string()),
            ("priority", json!({"type": ["integer", "null"]})), ("tags", array(string())),
            ("token", string().or_null()), ("username", string().or_null()),
            ("password", string().or_null()), ("app_token", string()), ("routing_key", string()),
            ("events_url", uri().or_null()), ("source", string().or_null()), ("user", string()),
            ("device", string().or_null()), ("sound", string().or_null()),
            ("retry", json!({"type": ["integer", "null"]})), ("expire", json!({"type": ["integer", "null"]})),
            ("account_sid", string()), ("auth_token", string()), ("from", string().or_null()),
            ("messaging_service_sid", string().or_null()),
        ], &[]).doc("The fields to change, of the channel's own kind; the rest stay; null removes an optional one.")),
        ("Channel", object(vec![
            ("id", uuid()), ("name", string()),
            ("kind", one_of(CHANNEL_KINDS)),
            ("to", json!({"type": ["array", "string"]}).doc("An email channel's recipients, or an SMS channel's number.")),
            ("url", string().doc("A webhook's scheme, host and port, then `/…`.")),
            ("has_secret", boolean().doc("Whether a webhook signs its bodies.")),
            ("webhook_url", string().doc("A Slack, Discord or Teams webhook's scheme, host and port, then `/…`.")),
            ("chat_id", string()), ("message_thread_id", json!({"type": ["integer", "null"]})),
            ("parse_mode", string().or_null()), ("disable_notification", boolean()),
            ("topic", string()), ("tags", array(string())), ("username", string().or_null()),
            ("priority", json!({"type": ["integer", "null"]})),
            ("source", string().or_null()), ("device", string().or_null()), ("sound", string().or_null()),
            ("retry", json!({"type": ["integer", "null"]})), ("expire", json!({"type": ["integer", "null"]})),
            ("account_sid", string()), ("from", string().or_null()),
            ("messaging_service_sid", string().or_null()),
            ("api_url", string().or_null().doc("A base URL's scheme, host and port, then `/…`; null for the provider's own.")),
            ("server_url", string().or_null()), ("events_url", string().or_null()),
            ("has_bot_token", boolean()), ("has_token", boolean()), ("has_password", boolean()),
            ("has_app_token", boolean()), ("has_routing_key", boolean()), ("has_user", boolean()),
            ("has_auth_token", boolean()),
            ("sent", count()), ("failed", count()), ("owed", count()),
            ("last_error", string().or_null()),
        ], &["id", "name", "kind"]).doc("A channel as it may be shown: no secret.")),
        ("ChannelList", object(vec![("channels", array(reference("Channel")))], &["channels"])),
        ("ChannelTestResult", object(vec![("id", uuid()), ("delivered", json!({"const": true}))], &["id", "delivered"])),
        // users and tokens
        ("LoginInput", closed(vec![("username", string()), ("password", string())], &["username", "password"])),
        ("Session", object(
            vec![("username", string()), ("role", role()), ("expires_at", time())],
            &["username", "role", "expires_at"],
        )),
        ("Me", object(
            vec![
                ("kind", one_of(&["session", "token"]).doc("A login session or an API token.")),
                ("name", string().doc("The user's name, or the token's.")),
                ("role", role()),
                ("expires_at", json!({"type": ["string", "null"], "format": "date-time"})),
            ],
            &["kind", "name", "role", "expires_at"],
        )),
        ("UserCreate", closed(vec![
            ("username", json!({"type": "string", "pattern": "^[a-z0-9._-]{1,64}$"})),
            ("password", text(12, 1024)),
            ("role", role()),
        ], &["username", "password", "role"])),
        ("UserPatch", closed(vec![("password", text(12, 1024)), ("role", role())], &[]).doc("A role, a password, or both.")),
        ("User", object(vec![("username", string()), ("role", role()), ("created_at", time())], &["username", "role"])),
        ("UserList", object(vec![("users", array(reference("User")))], &["users"])),
        ("UserDeleted", object(vec![("username", string()), ("deleted", json!({"const": true}))], &["username", "deleted"])),
        ("TokenCreate", closed(vec![
            ("name", text(1, 100)), ("role", role()),
            ("expires_at", time().doc("In the future; never when absent.")),
        ], &["name", "role"])),
        ("Token", object(vec![
            ("id", uuid()), ("name", string()), ("role", role()), ("created_at", time().or_null()),
            ("expires_at", time().or_null()), ("revoked_at", time().or_null()),
        ], &["id", "name", "role"])),
        ("TokenCreated", object(vec![
            ("id", uuid()), ("name", string()), ("role", role()),
            ("token", string().doc("The token's value, shown this once.")),
            ("created_at", time().or_null()), ("expires_at", time().or_null()),
        ], &["id", "name", "role", "token"])),
        ("TokenList", object(vec![("tokens", array(reference("Token")))], &["tokens"])),
        // audit
        ("AuditState", object(vec![
            ("at", string().doc("The `at` asked for.")),
            ("position", count().doc("The last position folded.")),
            ("state", reference("Dashboard")),
        ], &["at", "position", "state"])),
        ("Event", object(vec![
            ("position", count()), ("stream", string()), ("version", count()),
            ("type", string()), ("schema_version", count()), ("timestamp", time()),
            ("actor", string()), ("correlation_id", json!({})), ("causation", count().or_null()),
            ("chain", string()), ("hash", string()), ("data", json!({})),
        ], &["position", "stream", "version", "type", "timestamp", "data"])),
        ("EventPage", object(vec![
            ("events", array(reference("Event"))),
            ("next_after", count().or_null().doc("Where the next page starts; null at the end.")),
        ], &["events", "next_after"])),
        ("VerifyReport", object(vec![
            ("intact", boolean()), ("checked", count()), ("last_position", count()),
            ("problem", object(vec![("position", count()), ("reason", string())], &["position", "reason"]).or_null()),
        ], &["intact", "checked", "last_position", "problem"])),
        // the WebSocket
        ("WsClientMessage", json!({"oneOf": [
            closed(vec![("type", json!({"const": "auth"})), ("token", string())], &["type", "token"]),
            closed(vec![
                ("type", json!({"const": "subscribe"})),
                ("topics", array(string()).with("minItems", json!(1))),
                ("since", count()),
            ], &["type", "topics"]),
            closed(vec![("type", json!({"const": "unsubscribe"})), ("topics", array(string()))], &["type", "topics"]),
            closed(vec![("type", json!({"const": "ack"})), ("alert_id", uuid()), ("comment", string())], &["type", "alert_id"]),
        ]}).doc("A message a client sends over `/ws`.")),
        ("WsServerMessage", json!({"oneOf": [
            object(vec![
                ("type", json!({"const": "snapshot"})), ("topic", string()),
                ("position", count()), ("data", json!({})),
            ], &["type", "topic", "position", "data"]),
            object(vec![
                ("type", json!({"const": "update"})), ("topic", string()), ("position", count()),
                ("event", string()), ("timestamp", time()), ("data", json!({})),
            ], &["type", "topic", "position", "event", "data"]),
            object(vec![
                ("type", json!({"const": "acked"})), ("alert_id", uuid()), ("position", count()),
            ], &["type", "alert_id", "position"]),
            object(vec![("type", json!({"const": "error"})), ("detail", string())], &["type", "detail"]),
        ]}).doc("A message the server sends over `/ws`.")),
    ];
    let mut map: Map<String, Value> = schemas
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    // The bodies the views serialize: their schemas come from the same types.
    for (name, schema) in crate::http::views::component_schemas() {
        let previous = map.insert(name.clone(), schema);
        debug_assert!(previous.is_none(), "two schemas named {name}");
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `path` with every `{param}` name dropped, so `{id}` and `{name}` compare equal.
    fn normalise(path: &str) -> String {
        let mut out = String::with_capacity(path.len());
        let mut in_param = false;
        for c in path.chars() {
            match c {
                '{' => {
                    in_param = true;
                    out.push('{');
                }
                '}' => {
                    in_param = false;
                    out.push('}');
                }
                _ if in_param => {}
                _ => out.push(c),
            }
        }
        out
    }

    /// Every `(METHOD, full path)` that `configure` in `mod.rs` registers, read from its source.
    fn registered_routes() -> BTreeSet<(String, String)> {
        let source = include_str!("mod.rs");
        let start = source
            .find("pub fn configure")
            .expect("mod.rs defines configure");
        // Whole-line comments may hold parentheses or quotes; the route calls never are comments.
        let code: String = source[start..]
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !code.contains("web::resource("),
            "configure uses web::resource: teach this test to read it"
        );
        let mut routes = BTreeSet::new();
        // The prefix of each open `web::scope`, with the depth of parentheses it was opened at.
        let mut scopes: Vec<(String, i32)> = Vec::new();
        let mut depth = 0i32;
        for (i, c) in code.char_indices() {
            let rest = &code[i..];
            if let Some(after) = rest.strip_prefix("web::scope(\"") {
                let end = after
                    .find('"')
                    .expect("a scope's prefix is a string literal");
                scopes.push((after[..end].to_owned(), depth));
            } else if let Some(after) = rest.strip_prefix(".route(") {
                let after = after
                    .trim_start()
                    .strip_prefix('"')
                    .expect("a route's path is a string literal");
                let end = after.find('"').expect("the path literal closes");
                let path = &after[..end];
                let tail = &after[end..];
                let at = tail
                    .find("web::")
                    .expect("a route names its method as web::<method>()");
                let method: String = tail[at + 5..]
                    .chars()
                    .take_while(char::is_ascii_alphabetic)
                    .collect();
                assert!(
                    ["get", "post", "put", "patch", "delete", "head"].contains(&method.as_str()),
                    "route {path} has method web::{method}(): teach this test to read it"
                );
                let prefix: String = scopes.iter().map(|(p, _)| p.as_str()).collect();
                routes.insert((
                    method.to_ascii_uppercase(),
                    normalise(&format!("{prefix}{path}")),
                ));
            }
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    while scopes.last().is_some_and(|(_, d)| depth < *d) {
                        scopes.pop();
                    }
                }
                _ => {}
            }
        }
        routes
    }

    /// Every `(METHOD, path)` the document has an operation for.
    fn documented_routes() -> BTreeSet<(String, String)> {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths is an object");
        let mut out = BTreeSet::new();
        for (path, item) in paths {
            for method in item.as_object().expect("a path item is an object").keys() {
                out.insert((method.to_ascii_uppercase(), normalise(path)));
            }
        }
        out
    }

    #[test]
    fn the_route_reader_sees_scopes_and_every_method() {
        let routes = registered_routes();
        for (method, path) in [
            ("GET", "/health"),
            ("GET", "/ws"),
            ("POST", "/api/v1/monitors"),
            ("PATCH", "/api/v1/monitors/{}"),
            ("DELETE", "/api/v1/monitors/{}"),
            ("POST", "/api/metrics"),
            ("GET", "/api/push/{}"),
            ("GET", "/api/v1/openapi.json"),
        ] {
            assert!(
                routes.contains(&(method.to_owned(), path.to_owned())),
                "{method} {path} not read from mod.rs: {routes:?}"
            );
        }
        assert!(
            !routes.contains(&("POST".to_owned(), "/monitors".to_owned())),
            "a scoped route lost its prefix"
        );
        assert!(
            !routes.contains(&("POST".to_owned(), "/api/v1/api/metrics".to_owned())),
            "a route after the scope kept its prefix"
        );
    }

    #[test]
    fn the_document_has_every_route_of_configure_and_nothing_else() {
        let registered = registered_routes();
        let documented = documented_routes();
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty() && unrouted.is_empty(),
            "routes without an operation in openapi.rs: {undocumented:?}; \
             operations without a route in configure: {unrouted:?}"
        );
    }

    #[test]
    fn operation_ids_are_unique_and_every_reference_resolves() {
        let mut ids = BTreeSet::new();
        for op in operations() {
            assert!(ids.insert(op.id), "operationId {} twice", op.id);
        }
        let doc = document();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').expect("local references only");
            assert!(doc.pointer(pointer).is_some(), "{r} resolves to nothing");
        }
    }

    fn collect_refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        // Discriminator mappings name schemas by reference too.
                        ("mapping", Value::Object(m)) => {
                            out.extend(m.values().filter_map(Value::as_str).map(str::to_owned))
                        }
                        _ => collect_refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_operation_says_its_role_and_security() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let role = op["x-watchfire-role"].as_str().expect("a role");
                let description = op["description"].as_str().expect("a description");
                assert!(op["security"].is_array(), "{method} {path} has no security");
                if ["agent", "viewer", "operator", "admin"].contains(&role) {
                    assert!(
                        description.contains(&format!("{role} or higher")),
                        "{method} {path}: {description}"
                    );
                }
            }
        }
        let op = |path: &str, method: &str| doc["paths"][path][method].clone();
        assert_eq!(op("/api/v1/events", "get")["x-watchfire-role"], "admin");
        assert_eq!(op("/api/v1/monitors", "get")["x-watchfire-role"], "viewer");
        assert_eq!(
            op("/api/v1/monitors", "post")["x-watchfire-role"],
            "operator"
        );
        assert_eq!(op("/api/v1/tokens", "post")["x-watchfire-role"], "admin");
        assert_eq!(op("/api/metrics", "post")["x-watchfire-role"], "agent");
        assert_eq!(op("/health", "get")["security"], json!([]));
        assert_eq!(op("/api/push/{token}", "post")["security"], json!([]));
        assert_eq!(op("/api/v1/openapi.json", "get")["security"], json!([]));
    }

    #[test]
    fn commands_and_queries_document_their_headers_and_errors() {
        let doc = document();
        let patch = &doc["paths"]["/api/v1/monitors/{id}"]["patch"];
        let headers = &patch["responses"]["200"]["headers"];
        assert!(headers.get("ETag").is_some() && headers.get("Watchfire-Position").is_some());
        let params = patch["parameters"].to_string();
        assert!(params.contains("#/components/parameters/IfMatch"));
        for status in [
            "400", "401", "403", "404", "409", "413", "415", "422", "503",
        ] {
            assert_eq!(
                patch["responses"][status]["$ref"]
                    .as_str()
                    .map(|r| r.starts_with("#/components/responses/")),
                Some(true),
                "PATCH /api/v1/monitors/{{id}} lacks {status}"
            );
        }
        let list = &doc["paths"]["/api/v1/monitors"]["get"];
        assert!(list["parameters"]
            .to_string()
            .contains("#/components/parameters/MinPosition"));
        assert!(list["responses"].get("503").is_some());
        let login = &doc["paths"]["/api/v1/login"]["post"];
        assert!(login["responses"].get("429").is_some());
        let problem =
            &doc["components"]["responses"]["NotFound"]["content"]["application/problem+json"];
        assert_eq!(problem["schema"]["$ref"], "#/components/schemas/Problem");
    }
}
