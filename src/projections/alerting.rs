//! Alerting as the log tells it: rules, channels, silences, every alert with its
//! timeline, and the notifications still owed. What the alert API reads, and where alert
//! and notifier actors rehydrate from.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Projection;
use crate::domain::channel::ChannelState;
use crate::events::{
    AlertOpened, AlertRule, ChannelConfig, Event, NotifyReason, RecordedEvent, Severity,
    SilenceCreated, SubjectKind,
};

/// Where an alert is in its lifecycle.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// Breached, not yet for long enough.
    Pending,
    /// Firing and notifying.
    Firing,
    /// Firing, and someone is on it: no repeats.
    Acknowledged,
    /// Over.
    Resolved,
}

impl AlertStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Pending => "pending",
            AlertStatus::Firing => "firing",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    /// Parses the API's spelling.
    pub fn parse(s: &str) -> Option<AlertStatus> {
        match s {
            "pending" => Some(AlertStatus::Pending),
            "firing" => Some(AlertStatus::Firing),
            "acknowledged" => Some(AlertStatus::Acknowledged),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

/// One step of an alert's life.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The event's position.
    pub position: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// The event's type.
    pub event: String,
    /// The event that caused it.
    pub causation: Option<u64>,
    /// Who (for acknowledgements: the token).
    pub actor: String,
    /// What it says, in words.
    pub detail: String,
}

/// An alert and its history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    /// How it opened: rule, subject, severity, first cause.
    pub opened: AlertOpened,
    /// Where it is now.
    pub status: AlertStatus,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it fired.
    pub fired_at: Option<DateTime<Utc>>,
    /// When it was acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The latest cause.
    pub cause: String,
    /// Whether a firing notification was requested (so its resolution notifies too).
    pub notified: bool,
    /// Repeat notifications requested so far.
    pub repeats: u32,
    /// When a notification was last requested.
    pub last_notified_at: Option<DateTime<Utc>>,
    /// The version of its stream's last event.
    pub version: u64,
    /// Every step.
    pub timeline: Vec<TimelineEntry>,
}

/// A notification a channel still owes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Owed {
    /// The alert.
    pub alert_id: Uuid,
    /// Why.
    pub reason: NotifyReason,
    /// Which repeat.
    pub repeat: u32,
    /// Attempts that failed so far.
    pub attempts: u32,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
}

/// A channel and what it has delivered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelView {
    /// Its settings (secrets included: the API never shows them).
    pub config: ChannelConfig,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Notifications delivered.
    pub sent: u64,
    /// Notifications given up on.
    pub failed: u64,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Notifications owed, by the position of their request.
    pub owed: BTreeMap<u64, Owed>,
    /// The version of its stream's last event.
    pub version: u64,
}

impl ChannelView {
    /// The channel as `domain::channel` decides on it.
    pub fn state(&self) -> ChannelState {
        ChannelState {
            config: self.config.clone(),
            version: self.version,
        }
    }
}

/// A rule as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    /// Its settings.
    pub rule: AlertRule,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The version of its stream's last event.
    pub version: u64,
}

/// A silence as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SilenceView {
    /// Its settings.
    pub silence: SilenceCreated,
    /// When it was lifted early, if it was.
    pub lifted_at: Option<DateTime<Utc>>,
}

impl SilenceView {
    /// Whether it mutes at `at`.
    pub fn active_at(&self, at: DateTime<Utc>) -> bool {
        self.lifted_at.is_none() && self.silence.starts_at <= at && at < self.silence.ends_at
    }
}

/// The alerting read model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Alerting {
    /// Live rules.
    pub rules: BTreeMap<Uuid, RuleView>,
    /// Live channels.
    pub channels: BTreeMap<Uuid, ChannelView>,
    /// Every silence, lifted and expired ones too.
    pub silences: BTreeMap<Uuid, SilenceView>,
    /// Every alert.
    pub alerts: BTreeMap<Uuid, AlertView>,
    /// Open (not resolved) alerts by rule and subject id.
    pub open: HashMap<String, Uuid>,
}

/// The key of an open alert: its rule and subject.
pub fn open_key(rule_id: Uuid, subject_id: &str) -> String {
    format!("{rule_id}/{subject_id}")
}

/// Whether a silence's matchers all hold for an alert.
pub fn silence_matches(silence: &SilenceCreated, alert: &AlertOpened, rule: Uuid) -> bool {
    silence
        .matchers
        .iter()
        .all(|(key, value)| match key.as_str() {
            "tag" => alert.tags.iter().any(|t| t == value),
            "monitor" => alert.subject_kind == SubjectKind::Monitor && alert.subject_id == *value,
            "host" => alert.subject_kind == SubjectKind::Host && alert.subject_id == *value,
            "rule" => rule.to_string() == *value,
            "severity" => severity_str(alert.severity) == value,
            _ => false,
        })
}

/// A severity as the API spells it.
pub fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

impl Alerting {
    /// The silence that mutes `alert` at `at`, if one does.
    pub fn silenced(&self, alert: &AlertOpened, at: DateTime<Utc>) -> Option<&SilenceView> {
        self.silences
            .values()
            .filter(|s| s.active_at(at) && silence_matches(&s.silence, alert, alert.rule_id))
            .max_by_key(|s| s.silence.ends_at)
    }

    fn step(
        &mut self,
        alert_id: Uuid,
        e: &RecordedEvent,
        detail: String,
    ) -> Option<&mut AlertView> {
        let view = self.alerts.get_mut(&alert_id)?;
        view.version = e.version.0;
        view.timeline.push(TimelineEntry {
            position: e.position.0,
            at: e.timestamp,
            event: e.event_type().to_owned(),
            causation: e.causation.map(|p| p.0),
            actor: e.actor.0.clone(),
            detail,
        });
        Some(view)
    }
}

impl Projection for Alerting {
    const NAME: &'static str = "alerting";
    const VERSION: u32 = 1;
    const SAVE_EVERY_S: u64 = 5;

    fn apply(&mut self, e: &RecordedEvent) {
        let at = e.timestamp;
        match &e.event {
            Event::AlertRuleCreated(r) | Event::AlertRuleUpdated(r) => {
                let created_at = self.rules.get(&r.rule_id).map_or(at, |v| v.created_at);
                self.rules.insert(
                    r.rule_id,
                    RuleView {
                        rule: r.rule.clone(),
                        created_at,
                        version: e.version.0,
                    },
                );
            }
            Event::AlertRuleDeleted(r) => {
                self.rules.remove(&r.id);
            }
            Event::ChannelCreated(c) => {
                self.channels.insert(
                    c.channel_id,
                    ChannelView {
                        config: c.config.clone(),
                        created_at: at,
                        sent: 0,
                        failed: 0,
                        last_error: None,
                        owed: BTreeMap::new(),
                        version: e.version.0,
                    },
                );
            }
            Event::ChannelUpdated(c) => {
                if let Some(v) = self.channels.get_mut(&c.channel_id) {
                    v.config = c.config.clone();
                    v.version = e.version.0;
                }
            }
            Event::ChannelDeleted(c) => {
                self.channels.remove(&c.id);
            }
            Event::SilenceCreated(s) => {
                self.silences.insert(
                    s.silence_id,
                    SilenceView {
                        silence: s.clone(),
                        lifted_at: None,
                    },
                );
            }
            Event::SilenceDeleted(s) => {
                if let Some(v) = self.silences.get_mut(&s.id) {
                    v.lifted_at.get_or_insert(at);
                }
            }
            Event::AlertOpened(o) => {
                self.open
                    .insert(open_key(o.rule_id, &o.subject_id), o.alert_id);
                self.alerts.insert(
                    o.alert_id,
                    AlertView {
                        opened: o.clone(),
                        status: AlertStatus::Pending,
                        opened_at: at,
                        fired_at: None,
                        acknowledged_at: None,
                        resolved_at: None,
                        cause: o.cause.clone(),
                        notified: false,
                        repeats: 0,
                        last_notified_at: None,
                        version: 0,
                        timeline: Vec::new(),
                    },
                );
                self.step(o.alert_id, e, o.cause.clone());
            }
            Event::AlertFired(c) => {
                if let Some(v) = self.step(c.alert_id, e, c.cause.clone()) {
                    v.status = AlertStatus::Firing;
                    v.fired_at = Some(at);
                    v.cause = c.cause.clone();
                }
            }
            Event::AlertAcknowledged(a) => {
                let detail = a.comment.clone().unwrap_or_default();
                if let Some(v) = self.step(a.alert_id, e, detail) {
                    v.status = AlertStatus::Acknowledged;
                    v.acknowledged_at = Some(at);
                }
            }
            Event::AlertResolved(c) => {
                let key = self
                    .alerts
                    .get(&c.alert_id)
                    .map(|v| open_key(v.opened.rule_id, &v.opened.subject_id));
                if let Some(v) = self.step(c.alert_id, e, c.cause.clone()) {
                    v.status = AlertStatus::Resolved;
                    v.resolved_at = Some(at);
                    v.cause = c.cause.clone();
                }
                if let Some(key) = key {
                    if self.open.get(&key) == Some(&c.alert_id) {
                        self.open.remove(&key);
                    }
                }
            }
            Event::NotificationRequested(n) => {
                let detail = format!("{:?} to {} channel(s)", n.reason, n.channels.len());
                if let Some(v) = self.step(n.alert_id, e, detail.to_lowercase()) {
                    if n.reason != NotifyReason::Resolved {
                        v.notified = true;
                    }
                    if n.reason == NotifyReason::Repeat {
                        v.repeats = n.repeat;
                    }
                    v.last_notified_at = Some(at);
                }
                for id in &n.channels {
                    if let Some(c) = self.channels.get_mut(id) {
                        c.owed.insert(
                            e.position.0,
                            Owed {
                                alert_id: n.alert_id,
                                reason: n.reason,
                                repeat: n.repeat,
                                attempts: 0,
                                requested_at: at,
                            },
                        );
                    }
                }
            }
            Event::NotificationSent(s) => {
                if let Some(c) = self.channels.get_mut(&s.channel_id) {
                    c.version = e.version.0;
                    c.sent += 1;
                    c.last_error = None;
                    c.owed.remove(&s.request);
                }
                let channel = s.channel_id;
                self.step(s.alert_id, e, format!("sent by channel {channel}"));
            }
            Event::NotificationFailed(f) => {
                if let Some(c) = self.channels.get_mut(&f.channel_id) {
                    c.version = e.version.0;
                    c.last_error = Some(f.error.clone());
                    if f.gave_up {
                        c.failed += 1;
                        c.owed.remove(&f.request);
                    } else if let Some(owed) = c.owed.get_mut(&f.request) {
                        owed.attempts = f.attempt;
                    }
                }
                let detail = format!(
                    "channel {} attempt {}{}: {}",
                    f.channel_id,
                    f.attempt,
                    if f.gave_up { ", gave up" } else { "" },
                    f.error
                );
                self.step(f.alert_id, e, detail);
            }
            _ => {}
        }
    }
}
