//! What each topic says: which topics an event updates, the data of each update, and each
//! topic's snapshot with the position its data is consistent with.

use std::collections::HashMap;
use std::sync::Mutex;

use bytestring::ByteString;
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::protocol::{time_text, update_frame, Topic, WsError};
use crate::domain::host::HostStatus;
use crate::domain::monitor::{LastCheck, MonitorState, Status};
use crate::events::{Event, Position, RecordedEvent};
use crate::http::alerts::alert_json;
use crate::http::hosts::host_json;
use crate::http::monitors::monitor_json;
use crate::http::params::MIN_POSITION_WAIT;
use crate::http::AppState;
use crate::projections::{
    host_of, monitor_of, AlertCard, AlertStatus, AlertView, Alerting, HealthCard, HostFigures,
    MonitorCard,
};

/// Every topic `event` may update (the dashboard only if [`dashboard_delta`] has something).
pub(super) fn affected(event: &RecordedEvent) -> Vec<Topic> {
    let mut topics = vec![Topic::Events, Topic::Dashboard];
    let name = event.event_type();
    if name.starts_with("Alert") || name.starts_with("Notification") {
        topics.push(Topic::Alerts);
    }
    if let Some(id) = monitor_of(&event.event) {
        topics.push(Topic::Monitor(id));
    }
    if let Some(host) = host_of(&event.event) {
        topics.push(Topic::Host(host.to_ascii_lowercase().into()));
    }
    topics
}

/// One event on its way to sessions: its payload is serialised at most once, whatever the
/// number of topics and sessions it goes to.
pub(super) struct Rendering<'a> {
    event: &'a RecordedEvent,
    timestamp: String,
    payload: Option<String>,
}

impl<'a> Rendering<'a> {
    /// Starts rendering `event`.
    pub(super) fn new(event: &'a RecordedEvent) -> Rendering<'a> {
        Rendering {
            event,
            timestamp: time_text(event.timestamp),
            payload: None,
        }
    }

    /// The `update` frame of `topic` for this event, if the topic has one.
    pub(super) fn update(&mut self, topic: &Topic) -> Option<ByteString> {
        let e = self.event;
        let data = match topic {
            Topic::Dashboard => dashboard_delta(e)?.to_string(),
            _ => self
                .payload
                .get_or_insert_with(|| e.event.payload_json().to_string())
                .clone(),
        };
        Some(update_frame(
            topic,
            e.position.0,
            e.event_type(),
            &self.timestamp,
            &data,
        ))
    }
}

/// What an event changes on the dashboard, as a JSON merge patch (RFC 7386) against the
/// `dashboard` snapshot (the `Dashboard` read model's JSON); `None` if nothing it shows.
///
/// A patch holds what the event itself says, so the same event always gives the same
/// patch, live or read back from the log. Figures folded from many events (`counts`,
/// uptimes, rollups) are in snapshots only.
pub(super) fn dashboard_delta(e: &RecordedEvent) -> Option<Value> {
    let at = e.timestamp;
    let monitor = |id: &Uuid, patch: Value| json!({"monitors": {id.to_string(): patch}});
    let host = |name: &str, patch: Value| json!({"hosts": {name: patch}});
    let alert = |id: &Uuid, patch: Value| json!({"alerts": {id.to_string(): patch}});
    let status = |s: Status| json!({"status": s, "status_since": at, "down_reason": null});
    Some(match &e.event {
        Event::MonitorCreated(c) => {
            let state = MonitorState::start(e)?;
            let card = MonitorCard::of(state);
            monitor(&c.monitor_id, serde_json::to_value(card).ok()?)
        }
        Event::MonitorUpdated(c) => monitor(
            &c.monitor_id,
            json!({"name": c.config.name, "kind": c.config.kind, "tags": c.config.tags}),
        ),
        Event::MonitorDeleted(r) => monitor(&r.monitor_id, Value::Null),
        Event::MonitorPaused(r) => monitor(&r.monitor_id, status(Status::Paused)),
        Event::MonitorResumed(r) => monitor(&r.monitor_id, status(Status::Pending)),
        Event::MonitorWentUp(r) | Event::MonitorRecovered(r) => {
            monitor(&r.monitor_id, status(Status::Up))
        }
        Event::MonitorWentDown(d) => monitor(
            &d.monitor_id,
            json!({"status": Status::Down, "status_since": at, "down_reason": d.reason}),
        ),
        Event::MonitorChecked(c) => {
            let check = LastCheck {
                at,
                position: e.position.0,
                ok: c.ok,
                latency_ms: c.latency_ms,
                status_code: c.status_code,
                error: c.error.clone(),
            };
            let mut patch = json!({ "last_check": check });
            if let (Some(expires), Some(p)) = (c.cert_expires_at, patch.as_object_mut()) {
                p.insert("cert_expires_at".into(), json!(expires));
            }
            monitor(&c.monitor_id, patch)
        }
        Event::HeartbeatReceived(h) => {
            let check = LastCheck {
                at,
                position: e.position.0,
                ok: h.up,
                latency_ms: h.ping_ms.unwrap_or(0.0),
                status_code: None,
                error: (!h.up).then(|| h.msg.clone().unwrap_or_else(|| "down".to_owned())),
            };
            monitor(&h.monitor_id, json!({ "last_check": check }))
        }
        Event::HostRegistered(r) => host(
            &r.hostname.to_ascii_lowercase(),
            json!({"hostname": r.hostname, "tags": r.tags}),
        ),
        Event::HostMetricsReported(m) => {
            let [tx, rx, read, write] = m.rates;
            let figures = HostFigures {
                sampled_at: m.sampled_at,
                cpu_percent: m.cpu_percent,
                memory_percent: m.memory_percent,
                disk_percent_max: m.disks.iter().map(|d| d.percent).reduce(f64::max),
                load1: m.load_average.map(|l| l[0]),
                net_tx_bytes_per_s: tx,
                net_rx_bytes_per_s: rx,
                disk_read_bytes_per_s: read,
                disk_write_bytes_per_s: write,
            };
            // After any sample a host is up: a pending one turns up, a stale one recovers.
            host(
                &m.hostname.to_ascii_lowercase(),
                json!({"status": HostStatus::Up, "last_seen": at, "last_error": null, "metrics": figures}),
            )
        }
        Event::HostWentStale(s) => host(
            &s.hostname.to_ascii_lowercase(),
            json!({"status": HostStatus::Stale, "status_since": at}),
        ),
        Event::HostRecovered(r) => host(
            &r.hostname.to_ascii_lowercase(),
            json!({"status": HostStatus::Up, "status_since": at}),
        ),
        Event::HostDeleted(r) => host(&r.hostname.to_ascii_lowercase(), Value::Null),
        Event::HostScrapeFailed(f) => host(
            &f.hostname.to_ascii_lowercase(),
            json!({"last_error": f.error}),
        ),
        Event::AlertOpened(o) => {
            let card = AlertCard {
                id: o.alert_id,
                rule_id: o.rule_id,
                rule_name: o.rule_name.clone(),
                severity: o.severity,
                state: AlertStatus::Pending,
                subject_kind: o.subject_kind,
                subject_id: o.subject_id.clone(),
                subject_name: o.subject_name.clone(),
                opened_at: at,
                since: at,
                cause: o.cause.clone(),
            };
            alert(&o.alert_id, serde_json::to_value(card).ok()?)
        }
        Event::AlertFired(c) => alert(
            &c.alert_id,
            json!({"state": AlertStatus::Firing, "since": at, "cause": c.cause}),
        ),
        Event::AlertAcknowledged(k) => alert(
            &k.alert_id,
            json!({"state": AlertStatus::Acknowledged, "since": at}),
        ),
        Event::AlertResolved(c) => alert(&c.alert_id, Value::Null),
        Event::SystemHealthChanged(h) => json!({"health": HealthCard {
            ready: h.ready,
            reasons: h.reasons.clone(),
            since: Some(at),
        }}),
        _ => return None,
    })
}

/// Every alert not resolved, newest first.
fn open_alerts(alerting: &Alerting) -> Vec<Value> {
    let mut open: Vec<&AlertView> = alerting
        .alerts
        .values()
        .filter(|a| a.status != AlertStatus::Resolved)
        .collect();
    open.sort_by_key(|a| std::cmp::Reverse(a.opened_at));
    open.into_iter().map(alert_json).collect()
}

async fn wait<P: crate::projections::Projection>(
    model: &crate::projections::ProjectionHandle<P>,
    target: u64,
) -> Result<(), WsError> {
    model
        .progress()
        .reached(Position(target), MIN_POSITION_WAIT)
        .await
        .map_err(|_| WsError::Behind(P::NAME))
}

/// The `snapshot` frame of a topic every session follows alike, while the read model
/// stays at the position it was taken at: sessions that fall behind together share one.
#[derive(Default)]
pub(super) struct SnapshotCache {
    frames: Mutex<HashMap<Topic, (u64, ByteString)>>,
}

impl SnapshotCache {
    fn get(&self, topic: &Topic, position: u64) -> Option<ByteString> {
        let frames = self.frames.lock().ok()?;
        frames
            .get(topic)
            .filter(|(p, _)| *p == position)
            .map(|(_, text)| text.clone())
    }

    fn put(&self, topic: &Topic, position: u64, text: &ByteString) {
        if let Ok(mut frames) = self.frames.lock() {
            frames.insert(topic.clone(), (position, text.clone()));
        }
    }
}

/// A `snapshot` frame, serialised straight from the read model.
fn snapshot_text<T: Serialize>(
    topic: &Topic,
    position: u64,
    data: &T,
) -> Result<ByteString, WsError> {
    #[derive(Serialize)]
    struct Snapshot<'a, T> {
        #[serde(rename = "type")]
        kind: &'static str,
        topic: String,
        position: u64,
        data: &'a T,
    }
    serde_json::to_string(&Snapshot {
        kind: "snapshot",
        topic: topic.to_string(),
        position,
        data,
    })
    .map(ByteString::from)
    .map_err(|e| WsError::Encode(e.to_string()))
}

/// `topic`'s `snapshot` frame with its position, which is at least `target`.
pub(super) async fn snapshot(
    state: &AppState,
    cache: &SnapshotCache,
    topic: &Topic,
    target: u64,
) -> Result<(u64, ByteString), WsError> {
    match topic {
        // Nothing to show but where the feed starts.
        Topic::Events => Ok((target, snapshot_text(topic, target, &json!({}))?)),
        Topic::Dashboard => {
            wait(&state.dashboard, target).await?;
            let dashboard = state.dashboard.read();
            // Read under the model's lock, the position is the one its data is at.
            let position = state.dashboard.applied_position().0;
            if let Some(text) = cache.get(topic, position) {
                return Ok((position, text));
            }
            let text = snapshot_text(topic, position, &*dashboard)?;
            cache.put(topic, position, &text);
            Ok((position, text))
        }
        Topic::Alerts => {
            wait(&state.alerting, target).await?;
            let alerting = state.alerting.read();
            let position = state.alerting.applied_position().0;
            if let Some(text) = cache.get(topic, position) {
                return Ok((position, text));
            }
            let text = snapshot_text(topic, position, &json!({"alerts": open_alerts(&alerting)}))?;
            cache.put(topic, position, &text);
            Ok((position, text))
        }
        Topic::Monitor(id) => {
            wait(&state.monitors, target).await?;
            let monitors = state.monitors.read();
            let position = state.monitors.applied_position().0;
            let data = monitors
                .monitors
                .get(id)
                .map_or(Value::Null, |v| monitor_json(&v.state, Some(&v.rollups)));
            Ok((position, snapshot_text(topic, position, &data)?))
        }
        Topic::Host(name) => {
            wait(&state.hosts, target).await?;
            let hosts = state.hosts.read();
            let position = state.hosts.applied_position().0;
            let data = hosts.hosts.get(&**name).map_or(Value::Null, host_json);
            Ok((position, snapshot_text(topic, position, &data)?))
        }
    }
}
