//! What each topic says: which topics an event updates, the data of each update, and each
//! topic's snapshot with the position its data is consistent with.

use std::collections::HashMap;
use std::sync::Mutex;

use bytestring::ByteString;
use serde::Serialize;
use serde_json::{json, Value};

use super::protocol::{time_text, update_frame, Topic, WsError};
use crate::events::{Event, Position, RecordedEvent};
use crate::http::views::{
    dashboard_part, merge_diff, AlertListView, AlertView, Cards, DashboardView, HostView,
    MonitorView,
};
use crate::http::AppState;
use crate::projections::{
    host_of, hour_of, monitor_of, status_page_of, AlertStatus, Alerting, Dashboard, Projection,
    StatusPages,
};

/// Every topic `event` may update (the dashboard only if [`DashboardFeed::apply`] has something).
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

/// The status page topics `event` touches, each with the data of its update: a hint that
/// names what changed (a monitor on the page and its new status, or the page itself) and
/// nothing else, so a client reads the page again; never the event's payload, which may
/// hold what the public must not see.
pub(super) fn status_updates(event: &RecordedEvent, pages: &StatusPages) -> Vec<(Topic, Value)> {
    if let Some(slug) = status_page_of(&event.event) {
        return vec![(Topic::Status(slug.into()), json!({"page": slug}))];
    }
    let status = match &event.event {
        Event::MonitorWentUp(_) | Event::MonitorRecovered(_) => Some("up"),
        Event::MonitorWentDown(_) => Some("down"),
        Event::MonitorPaused(_) => Some("paused"),
        Event::MonitorResumed(_) => Some("pending"),
        Event::MonitorUpdated(_) | Event::MonitorDeleted(_) => None,
        _ => return Vec::new(),
    };
    let Some(id) = monitor_of(&event.event) else {
        return Vec::new();
    };
    pages
        .pages_showing(id)
        .into_iter()
        .map(|slug| {
            (
                Topic::Status(slug.into()),
                json!({"monitor_id": id, "status": status}),
            )
        })
        .collect()
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

    /// The `update` frame of `topic` for this event, if the topic has one; the dashboard's
    /// come from the live feed's [`DashboardFeed`], which folds every event once.
    pub(super) fn update(&mut self, topic: &Topic) -> Option<ByteString> {
        let e = self.event;
        if *topic == Topic::Dashboard {
            return None;
        }
        let data = self
            .payload
            .get_or_insert_with(|| e.event.payload_json().to_string())
            .clone();
        Some(update_frame(
            topic,
            e.position.0,
            e.event_type(),
            &self.timestamp,
            &data,
        ))
    }

    /// A status page topic's update frame carrying `data`.
    pub(super) fn status_update(&self, topic: &Topic, data: &Value) -> ByteString {
        let e = self.event;
        update_frame(
            topic,
            e.position.0,
            e.event_type(),
            &self.timestamp,
            &data.to_string(),
        )
    }

    /// The `dashboard` topic's update frame carrying `patch`.
    pub(super) fn dashboard_update(&self, patch: &Value) -> ByteString {
        let e = self.event;
        update_frame(
            &Topic::Dashboard,
            e.position.0,
            e.event_type(),
            &self.timestamp,
            &patch.to_string(),
        )
    }
}

/// The cards of the dashboard `event` can change, as the `Dashboard` fold applies it.
fn cards_of(dashboard: &Dashboard, event: &RecordedEvent) -> Cards {
    let mut cards = Cards {
        // A new hour slides every monitor's uptime windows.
        all_monitors: dashboard.as_of.map(hour_of) != Some(hour_of(event.timestamp)),
        ..Cards::default()
    };
    if let Some(id) = monitor_of(&event.event) {
        cards.monitors.push(id);
    } else if let Some(host) = host_of(&event.event) {
        cards.hosts.push(host.to_owned());
    }
    match &event.event {
        Event::AlertOpened(o) => cards.alerts.push(o.alert_id),
        Event::AlertFired(c) | Event::AlertResolved(c) => cards.alerts.push(c.alert_id),
        Event::AlertAcknowledged(k) => cards.alerts.push(k.alert_id),
        _ => {}
    }
    cards
}

/// The dashboard as the live feed has folded it, to say what each event changes on it.
pub(super) struct DashboardFeed {
    dashboard: Dashboard,
}

impl DashboardFeed {
    /// Starts from `dashboard`, the fold of the log up to its `position`.
    pub(super) fn new(dashboard: Dashboard) -> DashboardFeed {
        DashboardFeed { dashboard }
    }

    /// The position the feed has folded.
    pub(super) fn position(&self) -> u64 {
        self.dashboard.position
    }

    /// Folds `event` in without working out what it changed (nobody follows the dashboard).
    pub(super) fn fold(&mut self, event: &RecordedEvent) {
        if event.position.0 > self.dashboard.position {
            self.dashboard.apply(event);
        }
    }

    /// Folds `event` in and answers what it changed on the dashboard: the JSON merge patch
    /// (RFC 7386) from the view before it to the view after it, or `None` if it changed
    /// nothing the dashboard shows but its position and time (which a patch then carries).
    pub(super) fn apply(&mut self, event: &RecordedEvent) -> Option<Value> {
        if event.position.0 <= self.dashboard.position {
            return None;
        }
        let cards = cards_of(&self.dashboard, event);
        let before = dashboard_part(&self.dashboard, &cards);
        self.dashboard.apply(event);
        let after = dashboard_part(&self.dashboard, &cards);
        let mut patch = merge_diff(&before, &after)?;
        let fields = patch.as_object_mut()?;
        if fields.keys().all(|k| k == "position" || k == "as_of") {
            return None;
        }
        // The events since the last patch moved these too, perhaps without this one moving
        // them again: every patch brings both.
        for key in ["position", "as_of"] {
            if let Some(value) = after.get(key) {
                fields.insert(key.to_owned(), value.clone());
            }
        }
        Some(patch)
    }
}

/// Every alert not resolved, newest first.
fn open_alerts(alerting: &Alerting) -> AlertListView {
    let mut open: Vec<&crate::projections::AlertView> = alerting
        .alerts
        .values()
        .filter(|a| a.status != AlertStatus::Resolved)
        .collect();
    open.sort_by_key(|a| std::cmp::Reverse(a.opened_at));
    AlertListView {
        alerts: open.into_iter().map(AlertView::from).collect(),
    }
}

async fn wait<P: crate::projections::Projection>(
    model: &crate::projections::ProjectionHandle<P>,
    target: u64,
) -> Result<(), WsError> {
    model
        .progress()
        .reached(Position(target))
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
            let text = snapshot_text(topic, position, &DashboardView::from(&*dashboard))?;
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
            let text = snapshot_text(topic, position, &open_alerts(&alerting))?;
            cache.put(topic, position, &text);
            Ok((position, text))
        }
        Topic::Monitor(id) => {
            wait(&state.monitors, target).await?;
            let monitors = state.monitors.read();
            let position = state.monitors.applied_position().0;
            let now = state.clock.now();
            let data = monitors
                .monitors
                .get(id)
                .map(|v| MonitorView::at(&v.state, Some(&v.rollups), now));
            Ok((position, snapshot_text(topic, position, &data)?))
        }
        Topic::Status(slug) => {
            wait(&state.status_pages, target).await?;
            wait(&state.monitors, target).await?;
            let position = state
                .status_pages
                .applied_position()
                .0
                .max(state.monitors.applied_position().0);
            let data = crate::http::status_pages::public_view(state, slug, state.clock.now());
            Ok((position, snapshot_text(topic, position, &data)?))
        }
        Topic::Host(name) => {
            wait(&state.hosts, target).await?;
            let hosts = state.hosts.read();
            let position = state.hosts.applied_position().0;
            let data = hosts.hosts.get(&**name).map(HostView::from);
            Ok((position, snapshot_text(topic, position, &data)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::views::merge_apply;
    use crate::projections::dashboard_fixtures::{history, MONITORS};
    use proptest::prelude::*;

    fn view_of(dashboard: &Dashboard) -> Result<Value, TestCaseError> {
        serde_json::to_value(DashboardView::from(dashboard))
            .map_err(|e| TestCaseError::fail(e.to_string()))
    }

    proptest! {
        /// The feed's patches, folded onto the first snapshot, rebuild every later view: read
        /// back as a `DashboardView` (a member a patch removed for being `null` reads as
        /// `None`), the fold equals the view, and a patch comes exactly when something the
        /// dashboard shows changed.
        #[test]
        fn the_feeds_patches_folded_onto_the_first_snapshot_give_every_later_view(
            steps in prop::collection::vec((0u8..15, 0..MONITORS, 0i64..9000, 0.0f64..2000.0), 1..80)
        ) {
            let events = history(&steps);
            let mut truth = Dashboard::default();
            let mut feed = DashboardFeed::new(Dashboard::default());
            let mut folded = view_of(&truth)?;
            for e in &events {
                let before = view_of(&truth)?;
                truth.apply(e);
                let after = view_of(&truth)?;
                let patch = feed.apply(e);
                if let Some(patch) = &patch {
                    merge_apply(&mut folded, patch);
                }
                let mut read: DashboardView = serde_json::from_value(folded.clone())
                    .map_err(|err| TestCaseError::fail(format!("{err}: {folded}")))?;
                let expected = DashboardView::from(&truth);
                if patch.is_none() {
                    // Only the position and time moved, and they come with the next patch.
                    read.position = expected.position;
                    read.as_of = expected.as_of;
                }
                prop_assert_eq!(&read, &expected, "after {}", e.event_type());
                let mut moved = merge_diff(&before, &after).unwrap_or_default();
                if let Some(m) = moved.as_object_mut() {
                    m.remove("position");
                    m.remove("as_of");
                }
                let changed = moved.as_object().is_some_and(|m| !m.is_empty());
                prop_assert_eq!(patch.is_some(), changed, "a patch exactly on a change: {}", e.event_type());
            }
        }
    }
}
