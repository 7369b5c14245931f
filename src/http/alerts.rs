//! The alerting API: rules, alerts (with their timeline and causation chain) and their
//! acknowledgement, silences, and notification channels with a test send. Secrets of
//! channels are never answered.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::params::{by, from_json, if_match, invalid, parse_time, wait_min_position};
use super::views::{self, AlertListView};
use super::{answered, auth, AppState, Problem};
use crate::actors::alert::notifier::channel_kind;
use crate::actors::alert::AlertError;
use crate::command::{execute, fresh};
use crate::domain::channel::{self, ChannelCommand};
use crate::domain::rule::{self, op_str, RuleCommand, RuleInput, RuleState, World};
use crate::domain::silence::{self, SilenceCommand, SilenceInput, SilenceState};
use crate::domain::DomainError;
use crate::events::{
    AlertRule, ChannelConfig, ChannelType, ConditionKind, Event, ExpectedVersion, Position, Role,
    StreamId, StreamVersion,
};
use crate::notify::{ChannelKind, Notification, NotificationState};
use crate::projections::{severity_str, AlertStatus, AlertView, ChannelView};

/// Most alerts one list answers.
const MAX_ALERTS: usize = 1000;
/// How far back a causation chain is followed.
const MAX_CHAIN: usize = 8;

fn id_of(path: &str, what: &'static str) -> Result<Uuid, Problem> {
    Uuid::parse_str(path).map_err(|_| Problem::not_found(what))
}

// ---- rules ----

/// What rules may refer to, as the read models hold it now.
/// Waits (bounded) until both read models a rule names, monitors and alerting (its
/// channels), hold everything acknowledged.
async fn fresh_for_rules(state: &AppState) {
    fresh(&state.store, state.monitors.progress()).await;
    fresh(&state.store, state.alerting.progress()).await;
}

fn decide_rule(
    state: &AppState,
    id: Uuid,
    command: RuleCommand,
) -> Result<(Option<RuleState>, Vec<Event>), Problem> {
    let monitors = state.monitors.read();
    let alerting = state.alerting.read();
    let world = World {
        monitor_exists: &|m| monitors.monitors.contains_key(&m),
        channel_exists: &|c| alerting.channels.contains_key(&c),
    };
    let current = alerting.rules.get(&id).map(|r| RuleState {
        rule: r.rule.clone(),
        version: r.version,
    });
    let events = rule::decide(current.as_ref(), command, &world)?;
    Ok((current, events))
}

/// The rule a rule event defines.
fn defined(events: &[Event]) -> Option<&AlertRule> {
    events.iter().find_map(|e| match e {
        Event::AlertRuleCreated(d) | Event::AlertRuleUpdated(d) => Some(&d.rule),
        _ => None,
    })
}

fn rule_json(id: Uuid, r: &AlertRule, version: u64) -> Value {
    let c = &r.condition;
    let mut cond = Map::new();
    let kind = match c.kind {
        ConditionKind::MonitorDown => "monitor_down",
        ConditionKind::HostMetric => "host_metric",
        ConditionKind::HostStale => "host_stale",
        ConditionKind::CertExpiry => "cert_expiry",
    };
    cond.insert("kind".into(), json!(kind));
    let optional = [
        ("monitor", c.monitor.map(|m| json!(m))),
        ("host", c.host.as_ref().map(|h| json!(h))),
        ("tag", c.tag.as_ref().map(|t| json!(t))),
        ("metric", c.metric.as_ref().map(|m| json!(m))),
        ("op", c.op.map(|o| json!(op_str(o)))),
        ("threshold", c.threshold.map(|t| json!(t))),
        ("after_s", c.after_s.map(|a| json!(a))),
        ("days", c.days.map(|d| json!(d))),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            cond.insert(k.into(), v);
        }
    }
    cond.insert("for_s".into(), json!(c.for_s));
    json!({
        "id": id, "name": r.name, "severity": severity_str(r.severity),
        "condition": cond, "channels": r.channels, "repeat_interval_s": r.repeat_interval_s,
        "version": version,
    })
}

/// `POST /api/v1/alert-rules`.
pub async fn create_rule(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let input: RuleInput = from_json(body.into_inner())?;
    fresh_for_rules(&state).await;
    let rule_id = Uuid::new_v4();
    let (_, events) = decide_rule(&state, rule_id, RuleCommand::Create { id: rule_id, input })?;
    let rule = defined(&events)
        .cloned()
        .ok_or_else(|| Problem::not_found("rule"))?;
    let event = events
        .into_iter()
        .next()
        .ok_or_else(|| Problem::not_found("rule"))?;
    let answer = execute(
        &state.store,
        StreamId::rule(rule_id),
        ExpectedVersion::NoStream,
        vec![event],
        &by(&who),
    )
    .await?;
    let version = answer.version.0;
    Ok(answered(StatusCode::CREATED, &answer)
        .insert_header((header::LOCATION, format!("/api/v1/alert-rules/{rule_id}")))
        .json(rule_json(rule_id, &rule, version)))
}

/// `GET /api/v1/alert-rules`.
pub async fn list_rules(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.alerting).await?;
    let view = state.alerting.read();
    let rules: Vec<Value> = view
        .rules
        .iter()
        .map(|(id, r)| rule_json(*id, &r.rule, r.version))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"rules": rules})))
}

/// `GET /api/v1/alert-rules/{id}`.
pub async fn get_rule(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.alerting).await?;
    let id = id_of(&path, "rule")?;
    let view = state.alerting.read();
    let r = view
        .rules
        .get(&id)
        .ok_or_else(|| Problem::not_found("rule"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", r.version)))
        .json(rule_json(id, &r.rule, r.version)))
}

/// `PATCH /api/v1/alert-rules/{id}`.
pub async fn patch_rule(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let id = id_of(&path, "rule")?;
    let input: RuleInput = from_json(body.into_inner())?;
    fresh_for_rules(&state).await;
    let asked = RuleCommand::Update {
        id,
        input,
        expected: if_match(&req)?,
    };
    let (current, events) = decide_rule(&state, id, asked)?;
    let version = current.map_or(0, |c| c.version);
    let rule = defined(&events)
        .cloned()
        .ok_or_else(|| Problem::not_found("rule"))?;
    let event = events
        .into_iter()
        .next()
        .ok_or_else(|| Problem::not_found("rule"))?;
    let answer = execute(
        &state.store,
        StreamId::rule(id),
        ExpectedVersion::Exact(StreamVersion(version)),
        vec![event],
        &by(&who),
    )
    .await?;
    let version = answer.version.0;
    Ok(answered(StatusCode::OK, &answer).json(rule_json(id, &rule, version)))
}

/// `DELETE /api/v1/alert-rules/{id}`: its open alerts resolve.
pub async fn delete_rule(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let id = id_of(&path, "rule")?;
    fresh(&state.store, state.alerting.progress()).await;
    let asked = RuleCommand::Delete {
        id,
        expected: if_match(&req)?,
    };
    let (current, events) = decide_rule(&state, id, asked)?;
    let version = current.map_or(0, |c| c.version);
    let event = events
        .into_iter()
        .next()
        .ok_or_else(|| Problem::not_found("rule"))?;
    let answer = execute(
        &state.store,
        StreamId::rule(id),
        ExpectedVersion::Exact(StreamVersion(version)),
        vec![event],
        &by(&who),
    )
    .await?;
    Ok(answered(StatusCode::OK, &answer).json(json!({"id": id, "deleted": true})))
}

// ---- alerts ----

/// `GET /api/v1/alerts?state=firing,acknowledged&since=&limit=`: newest first.
pub async fn list_alerts(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.alerting).await?;
    #[derive(Deserialize)]
    struct Q {
        state: Option<String>,
        since: Option<String>,
        limit: Option<usize>,
        #[allow(dead_code)]
        min_position: Option<u64>,
    }
    let q = web::Query::<Q>::from_query(req.query_string())
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let states: Option<Vec<AlertStatus>> = q
        .state
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(|one| {
                    AlertStatus::parse(one.trim()).ok_or_else(|| {
                        Problem::new(StatusCode::BAD_REQUEST, format!("unknown state {one:?}: use pending, firing, acknowledged or resolved"))
                    })
                })
                .collect()
        })
        .transpose()?;
    let since = parse_time("since", q.since.as_deref())?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_ALERTS);
    let view = state.alerting.read();
    let mut alerts: Vec<&AlertView> = view
        .alerts
        .values()
        .filter(|a| states.as_ref().is_none_or(|s| s.contains(&a.status)))
        .filter(|a| since.is_none_or(|t| a.opened_at >= t))
        .collect();
    alerts.sort_by_key(|a| std::cmp::Reverse(a.opened_at));
    Ok(HttpResponse::Ok().json(AlertListView {
        alerts: alerts
            .into_iter()
            .take(limit)
            .map(views::AlertView::from)
            .collect(),
    }))
}

/// The events behind `position`, following causation back (newest first).
fn causation_chain(state: &AppState, mut position: Option<u64>) -> Vec<Value> {
    let mut chain = Vec::new();
    while let Some(p) = position.filter(|p| *p > 0) {
        if chain.len() >= MAX_CHAIN {
            break;
        }
        let Ok(mut events) = state.store.read_all(Position(p - 1), 1) else {
            break;
        };
        let Some(e) = events.pop().filter(|e| e.position.0 == p) else {
            chain.push(json!({"position": p, "expired": true}));
            break;
        };
        chain.push(json!({
            "position": p, "type": e.event_type(), "stream": e.stream.as_str(),
            "at": e.timestamp, "data": e.event.payload_json(),
        }));
        position = e.causation.map(|c| c.0);
    }
    chain
}

/// `GET /api/v1/alerts/{id}`: the alert, its timeline, and what caused it down to the check or sample.
pub async fn get_alert(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.alerting).await?;
    let id = id_of(&path, "alert")?;
    let (mut body, timeline, first_cause) =
        {
            let view = state.alerting.read();
            let a = view
                .alerts
                .get(&id)
                .ok_or_else(|| Problem::not_found("alert"))?;
            let timeline: Vec<Value> = a.timeline.iter().map(|t| json!({
            "position": t.position, "at": t.at, "event": t.event, "causation": t.causation,
            "actor": t.actor, "detail": t.detail,
        })).collect();
            let fired = a
                .timeline
                .iter()
                .find(|t| t.event == "AlertFired")
                .or(a.timeline.first());
            let body = serde_json::to_value(views::AlertView::from(a))
                .map_err(|e| Problem::internal(&e))?;
            (body, timeline, fired.map(|t| t.position))
        };
    let chain = causation_chain(&state, first_cause);
    if let Some(obj) = body.as_object_mut() {
        obj.insert("timeline".into(), json!(timeline));
        obj.insert("causation_chain".into(), json!(chain));
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /api/v1/alerts/{id}/ack` `{"comment"}`.
pub async fn ack_alert(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Option<web::Json<Value>>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let id = id_of(&path, "alert")?;
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct AckInput {
        comment: Option<String>,
    }
    let input: AckInput = match body {
        Some(b) => from_json(b.into_inner())?,
        None => AckInput::default(),
    };
    if input.comment.as_ref().is_some_and(|c| c.len() > 2000) {
        return Err(invalid("comment", "at most 2000 characters"));
    }
    let (status, position) = state
        .alert_handles
        .ack(id, input.comment, by(&who))
        .await
        .map_err(|e| match e {
            AlertError::NotFound => Problem::not_found("open alert"),
            AlertError::NotFiring(_) => Problem::new(StatusCode::CONFLICT, e.to_string()),
            AlertError::Store(s) => s.into(),
            AlertError::Unavailable => {
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        })?;
    Ok(HttpResponse::Ok()
        .insert_header(("Watchfire-Position", position.0.to_string()))
        .json(json!({
            "id": id,
            "state": status.as_str(),
            "acknowledged": status == AlertStatus::Acknowledged,
        })))
}

// ---- silences ----

fn silence_json(s: &crate::projections::SilenceView, now: DateTime<Utc>) -> Value {
    let x = &s.silence;
    json!({
        "id": x.silence_id, "matchers": x.matchers, "starts_at": x.starts_at, "ends_at": x.ends_at,
        "comment": x.comment, "active": s.active_at(now), "lifted_at": s.lifted_at,
    })
}

/// `POST /api/v1/silences`.
pub async fn create_silence(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let input: SilenceInput = from_json(body.into_inner())?;
    let now = state.clock.now();
    let asked = SilenceCommand::Create {
        id: Uuid::new_v4(),
        input,
        now,
    };
    let silence = match silence::decide(None, asked)?.into_iter().next() {
        Some(Event::SilenceCreated(created)) => created,
        _ => return Err(Problem::not_found("silence")),
    };
    let id = silence.silence_id;
    let view = crate::projections::SilenceView {
        silence: silence.clone(),
        lifted_at: None,
    };
    let answer = execute(
        &state.store,
        StreamId::silence(id),
        ExpectedVersion::NoStream,
        vec![Event::SilenceCreated(silence)],
        &by(&who),
    )
    .await?;
    Ok(answered(StatusCode::CREATED, &answer)
        .insert_header((header::LOCATION, format!("/api/v1/silences/{id}")))
        .json(silence_json(&view, now)))
}

/// `GET /api/v1/silences`.
pub async fn list_silences(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.alerting).await?;
    let now = state.clock.now();
    let view = state.alerting.read();
    let items: Vec<Value> = view
        .silences
        .values()
        .map(|s| silence_json(s, now))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"silences": items})))
}

/// `DELETE /api/v1/silences/{id}`: lifts it now.
pub async fn delete_silence(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let id = id_of(&path, "silence")?;
    fresh(&state.store, state.alerting.progress()).await;
    let current = state
        .alerting
        .read()
        .silences
        .get(&id)
        .map(|s| SilenceState {
            lifted: s.lifted_at.is_some(),
        });
    let event = silence::decide(current.as_ref(), SilenceCommand::Lift { id })?
        .into_iter()
        .next()
        .ok_or_else(|| Problem::not_found("silence"))?;
    let answer = execute(
        &state.store,
        StreamId::silence(id),
        ExpectedVersion::Exact(StreamVersion(0)),
        vec![event],
        &by(&who),
    )
    .await?;
    Ok(answered(StatusCode::OK, &answer).json(json!({"id": id, "lifted": true})))
}

// ---- channels ----

fn channel_json(
    id: Uuid,
    c: &ChannelConfig,
    view: Option<&crate::projections::ChannelView>,
) -> Value {
    let mut body = serde_json::to_value(channel_kind(c).redacted()).unwrap_or(Value::Null);
    if let Some(obj) = body.as_object_mut() {
        obj.insert("id".into(), json!(id));
        obj.insert("name".into(), json!(c.name));
        if let Some(v) = view {
            obj.insert("sent".into(), json!(v.sent));
            obj.insert("failed".into(), json!(v.failed));
            obj.insert("owed".into(), json!(v.owed.len()));
            obj.insert("last_error".into(), json!(v.last_error));
        }
    }
    body
}

/// A channel's settings from a JSON object: `name`, `kind` and the kind's fields, as
/// types; whether they make a channel is `domain::channel`'s to decide.
fn channel_config(mut value: Value) -> Result<ChannelConfig, Problem> {
    let name = match value.as_object_mut().map(|o| o.remove("name")) {
        None => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the body must be a JSON object",
            ))
        }
        Some(None) => return Err(invalid("name", "is required")),
        Some(Some(Value::String(n))) => n,
        Some(Some(_)) => return Err(invalid("name", "must be a string")),
    };
    if value.get("kind").is_none() {
        return Err(invalid(
            "kind",
            "is required: email, webhook, slack, discord, teams, telegram, ntfy, gotify, pagerduty, pushover or sms",
        ));
    }
    let kind = match value.get("kind").and_then(Value::as_str) {
        Some(kind @ ("telegram" | "ntfy" | "gotify" | "pagerduty" | "pushover" | "sms")) => {
            let kind = kind.to_owned();
            settings_kind(&kind, value)?
        }
        _ => from_json::<ChannelKind>(value)?,
    };
    Ok(crate::actors::alert::notifier::channel_config(name, kind))
}

/// A kind that has settings, read field by field so a type error names its field; a
/// Telegram chat id may be sent as a number, as Telegram shows it.
fn settings_kind(kind: &str, mut value: Value) -> Result<ChannelKind, Problem> {
    if let Some(obj) = value.as_object_mut() {
        obj.remove("kind");
        if kind == "telegram" {
            if let Some(Value::Number(chat)) = obj.get("chat_id") {
                let chat = chat.to_string();
                obj.insert("chat_id".into(), Value::String(chat));
            }
        }
    }
    Ok(match kind {
        "telegram" => ChannelKind::Telegram(from_json(value)?),
        "ntfy" => ChannelKind::Ntfy(from_json(value)?),
        "gotify" => ChannelKind::Gotify(from_json(value)?),
        "pagerduty" => ChannelKind::PagerDuty(from_json(value)?),
        "pushover" => ChannelKind::Pushover(from_json(value)?),
        _ => ChannelKind::Sms(from_json(value)?),
    })
}

/// Whether a channel's addresses and URLs are ones its delivery can use.
fn deliverable(config: &ChannelConfig) -> Result<(), DomainError> {
    channel_kind(config)
        .validate()
        .map_err(|(field, why)| DomainError::invalid(field, why))
}

/// `POST /api/v1/channels`.
pub async fn create_channel(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let config = channel_config(body.into_inner())?;
    let channel_id = Uuid::new_v4();
    let asked = ChannelCommand::Create {
        id: channel_id,
        config: config.clone(),
    };
    let events = channel::decide(None, asked, &deliverable)?;
    let answer = execute(
        &state.store,
        StreamId::channel(channel_id),
        ExpectedVersion::NoStream,
        events,
        &by(&who),
    )
    .await?;
    state.notifiers.spawn(channel_id, &config);
    Ok(answered(StatusCode::CREATED, &answer)
        .insert_header((header::LOCATION, format!("/api/v1/channels/{channel_id}")))
        .json(channel_json(channel_id, &config, None)))
}

/// The fields a channel of `kind` takes, beside `name` and `kind`.
fn channel_fields(kind: ChannelType) -> &'static [&'static str] {
    match kind {
        ChannelType::Email => &["to"],
        ChannelType::Webhook => &["url", "secret"],
        ChannelType::Slack | ChannelType::Discord | ChannelType::Teams => &["webhook_url"],
        ChannelType::Telegram => &[
            "bot_token",
            "chat_id",
            "message_thread_id",
            "parse_mode",
            "disable_notification",
            "api_url",
        ],
        ChannelType::Ntfy => &[
            "server_url",
            "topic",
            "priority",
            "tags",
            "token",
            "username",
            "password",
        ],
        ChannelType::Gotify => &["server_url", "app_token", "priority"],
        ChannelType::PagerDuty => &["routing_key", "events_url", "source"],
        ChannelType::Pushover => &[
            "token", "user", "device", "sound", "priority", "retry", "expire", "api_url",
        ],
        ChannelType::Sms => &[
            "account_sid",
            "auth_token",
            "from",
            "messaging_service_sid",
            "to",
            "api_url",
        ],
    }
}

/// `PATCH /api/v1/channels/{id}`: changes the fields sent (`null` clears a webhook's secret);
/// the kind stays.
pub async fn patch_channel(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let id = id_of(&path, "channel")?;
    let Value::Object(patch) = body.into_inner() else {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body must be a JSON object",
        ));
    };
    fresh(&state.store, state.alerting.progress()).await;
    let current = state
        .alerting
        .read()
        .channels
        .get(&id)
        .map(ChannelView::state)
        .ok_or_else(|| Problem::not_found("channel"))?;
    // The patch applies to the settings as a client sends them, field by field.
    let mut merged = match serde_json::to_value(channel_kind(&current.config)) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the channel's settings cannot be read",
            ))
        }
    };
    merged.insert("name".into(), json!(current.config.name));
    let fields = channel_fields(current.config.kind);
    let mut kind = None;
    for (key, value) in patch {
        match key.as_str() {
            "kind" => {
                kind = Some(
                    value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned),
                )
            }
            "name" => {
                merged.insert(key, value);
            }
            k if fields.contains(&k) => {
                if value.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(key, value);
                }
            }
            _ => {
                return Err(invalid(
                    &key,
                    format!(
                        "is not a field of this channel: use name, {}",
                        fields.join(", ")
                    ),
                ))
            }
        }
    }
    let config = channel_config(Value::Object(merged))?;
    let expected = if_match(&req)?;
    let asked = ChannelCommand::Update {
        id,
        config: config.clone(),
        kind,
        expected,
    };
    let events = channel::decide(Some(&current), asked, &deliverable)?;
    // Deliveries append to the channel's stream too, and change nothing a patch depends on:
    // only a client's If-Match asks for a version.
    let expected = expected.map_or(ExpectedVersion::Any, |v| {
        ExpectedVersion::Exact(StreamVersion(v))
    });
    let answer = execute(
        &state.store,
        StreamId::channel(id),
        expected,
        events,
        &by(&who),
    )
    .await?;
    state.notifiers.reconfigure(id, &config);
    Ok(answered(StatusCode::OK, &answer).json(channel_json(id, &config, None)))
}

/// `GET /api/v1/channels`.
pub async fn list_channels(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    auth::require(&req, &state, Role::Viewer)?;
    wait_min_position(&req, &state.alerting).await?;
    let view = state.alerting.read();
    let items: Vec<Value> = view
        .channels
        .iter()
        .map(|(id, c)| channel_json(*id, &c.config, Some(c)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"channels": items})))
}

/// `DELETE /api/v1/channels/{id}`.
pub async fn delete_channel(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let id = id_of(&path, "channel")?;
    fresh(&state.store, state.alerting.progress()).await;
    let current = state
        .alerting
        .read()
        .channels
        .get(&id)
        .map(ChannelView::state);
    let events = channel::decide(
        current.as_ref(),
        ChannelCommand::Delete { id },
        &deliverable,
    )?;
    let answer = execute(
        &state.store,
        StreamId::channel(id),
        ExpectedVersion::Any,
        events,
        &by(&who),
    )
    .await?;
    state.notifiers.remove(id);
    Ok(answered(StatusCode::OK, &answer).json(json!({"id": id, "deleted": true})))
}

/// `POST /api/v1/channels/{id}/test`: one delivery now; 200, or 502 with the channel's error.
pub async fn test_channel(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let who = auth::require(&req, &state, Role::Operator)?;
    let id = id_of(&path, "channel")?;
    let name = state
        .alerting
        .read()
        .channels
        .get(&id)
        .map(|c| c.config.name.clone());
    let name = name.ok_or_else(|| Problem::not_found("channel"))?;
    let n = Notification {
        alert_id: Uuid::nil(),
        rule_name: "test notification".to_owned(),
        severity: "info".to_owned(),
        subject: format!("channel {name}"),
        state: NotificationState::Test,
        cause: format!("a test sent by token {}", who.name),
        at: state.clock.now(),
        link: state.notifiers.link_base.to_string(),
        repeat: 0,
    };
    match state.notifiers.test(id, n).await {
        None => Err(Problem::not_found("channel")),
        Some(Ok(())) => Ok(HttpResponse::Ok().json(json!({"id": id, "delivered": true}))),
        Some(Err(e)) => Err(Problem::new(
            StatusCode::BAD_GATEWAY,
            format!("the channel could not deliver: {e}"),
        )),
    }
}
