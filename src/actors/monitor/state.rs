//! A monitor's state as a pure fold over its stream, and the transition a check implies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::{
    Event, MonitorConfig, MonitorCreated, MonitorRef, MonitorWentDown, RecordedEvent,
};

/// Where a monitor is in its lifecycle.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created or resumed, and not yet decided.
    Pending,
    /// Its checks pass.
    Up,
    /// `retries` checks in a row failed.
    Down,
    /// Not checking, on request.
    Paused,
}

impl Status {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Up => "up",
            Status::Down => "down",
            Status::Paused => "paused",
        }
    }
}

/// The last check (or heartbeat) of a monitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastCheck {
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Its position in the log.
    pub position: u64,
    /// Whether it passed.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub latency_ms: f64,
    /// The HTTP status code, if any.
    pub status_code: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Everything a monitor's actor needs to decide, folded from its stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorState {
    /// The monitor.
    pub id: Uuid,
    /// Its settings.
    pub config: MonitorConfig,
    /// The secret of a push monitor's heartbeat URL.
    pub push_token: Option<String>,
    /// Where it is in its lifecycle.
    pub status: Status,
    /// When it entered that status.
    pub status_since: DateTime<Utc>,
    /// Why it is down, when it is.
    pub down_reason: Option<String>,
    /// Whether it was deleted.
    pub deleted: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The version of the last event of its stream.
    pub version: u64,
    /// Failed checks in a row.
    pub failures: u32,
    /// Passed checks in a row.
    pub successes: u32,
    /// The last check or heartbeat.
    pub last_check: Option<LastCheck>,
    /// When its TLS certificate expires, as the last HTTPS check saw it.
    pub cert_expires_at: Option<DateTime<Utc>>,
}

/// A status change a check calls for.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    /// Pending to up.
    WentUp,
    /// Pending or up to down, with the reason.
    WentDown(String),
    /// Down to up.
    Recovered,
}

impl Transition {
    /// The event that records this transition of `monitor_id`.
    pub fn event(&self, monitor_id: Uuid) -> Event {
        match self {
            Transition::WentUp => Event::MonitorWentUp(MonitorRef { monitor_id }),
            Transition::WentDown(reason) => Event::MonitorWentDown(MonitorWentDown {
                monitor_id,
                reason: reason.clone(),
            }),
            Transition::Recovered => Event::MonitorRecovered(MonitorRef { monitor_id }),
        }
    }
}

impl MonitorState {
    /// The state a `MonitorCreated` event starts, or `None` for any other event.
    pub fn start(event: &RecordedEvent) -> Option<MonitorState> {
        let Event::MonitorCreated(c) = &event.event else {
            return None;
        };
        Some(MonitorState::created(c, event.version.0, event.timestamp))
    }

    /// The state of a monitor just created, as stream version `version` at time `at`.
    pub fn created(c: &MonitorCreated, version: u64, at: DateTime<Utc>) -> MonitorState {
        MonitorState {
            id: c.monitor_id,
            config: c.config.clone(),
            push_token: c.push_token.clone(),
            status: if c.paused {
                Status::Paused
            } else {
                Status::Pending
            },
            status_since: at,
            down_reason: None,
            deleted: false,
            created_at: at,
            version,
            failures: 0,
            successes: 0,
            last_check: None,
            cert_expires_at: None,
        }
    }

    /// Folds a recorded event of this monitor's stream into the state.
    pub fn apply(&mut self, event: &RecordedEvent) {
        self.apply_at(
            &event.event,
            event.position.0,
            event.version.0,
            event.timestamp,
        );
    }

    /// Folds an event recorded at `position`, as stream version `version`, at time `at`.
    pub fn apply_at(&mut self, event: &Event, position: u64, version: u64, at: DateTime<Utc>) {
        self.version = version;
        match event {
            Event::MonitorUpdated(u) => self.config = u.config.clone(),
            Event::MonitorPaused(_) => self.enter(Status::Paused, at),
            Event::MonitorResumed(_) => self.enter(Status::Pending, at),
            Event::MonitorDeleted(_) => self.deleted = true,
            Event::MonitorChecked(c) => {
                self.count(c.ok);
                if c.cert_expires_at.is_some() {
                    self.cert_expires_at = c.cert_expires_at;
                }
                self.last_check = Some(LastCheck {
                    at,
                    position,
                    ok: c.ok,
                    latency_ms: c.latency_ms,
                    status_code: c.status_code,
                    error: c.error.clone(),
                });
            }
            Event::HeartbeatReceived(h) => {
                self.count(h.up);
                self.last_check = Some(LastCheck {
                    at,
                    position,
                    ok: h.up,
                    latency_ms: h.ping_ms.unwrap_or(0.0),
                    status_code: None,
                    error: (!h.up).then(|| h.msg.clone().unwrap_or_else(|| "down".to_owned())),
                });
            }
            Event::MonitorWentUp(_) | Event::MonitorRecovered(_) => self.enter(Status::Up, at),
            Event::MonitorWentDown(d) => {
                self.enter(Status::Down, at);
                self.down_reason = Some(d.reason.clone());
            }
            _ => {}
        }
    }

    fn enter(&mut self, status: Status, at: DateTime<Utc>) {
        self.status = status;
        self.status_since = at;
        self.down_reason = None;
        self.failures = 0;
        self.successes = 0;
    }

    fn count(&mut self, ok: bool) {
        if ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
    }

    /// The transition the last check calls for, given the counters it left.
    pub fn transition(&self) -> Option<Transition> {
        let down_after = self.config.retries.max(1);
        let up_after = self.config.recover_after.max(1);
        let reason = || {
            self.last_check
                .as_ref()
                .and_then(|c| c.error.clone())
                .unwrap_or_else(|| "check failed".to_owned())
        };
        match self.status {
            Status::Pending if self.successes >= 1 => Some(Transition::WentUp),
            Status::Pending | Status::Up if self.failures >= down_after => {
                Some(Transition::WentDown(reason()))
            }
            Status::Down if self.successes >= up_after => Some(Transition::Recovered),
            _ => None,
        }
    }
}
