//! watchfire's own story as the log tells it: server, health, tokens, observation counts
//! and retention. (What the dashboard shows, and `replay --until` prints, is `Dashboard`.)

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Projection;
use crate::events::{Event, RecordedEvent, Role};

/// The dashboard view: what the log says, as of its last applied event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// The last position applied.
    pub position: u64,
    /// The time of that event.
    pub as_of: Option<DateTime<Utc>>,
    /// Events applied (retained ones, after retention).
    pub events: u64,
    /// When the data directory was initialised.
    pub initialized_at: Option<DateTime<Utc>>,
    /// The server's last start and stop.
    pub server: ServerView,
    /// watchfire's own health, as last recorded.
    pub health: HealthView,
    /// Every token, by id (never its value or hash).
    pub tokens: BTreeMap<Uuid, TokenView>,
    /// Observations recorded, by kind.
    pub observations: ObservationCounts,
    /// What retention has removed.
    pub retention: RetentionView,
}

/// The server's lifecycle as recorded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerView {
    /// Whether the last start has no stop after it (a crash also leaves it true).
    pub running: bool,
    /// The last start.
    pub started_at: Option<DateTime<Utc>>,
    /// The version that last started.
    pub version: Option<String>,
    /// The address it listened on.
    pub listen: Option<String>,
    /// The last graceful stop.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Why it stopped.
    pub stop_reason: Option<String>,
    /// How many times it started.
    pub starts: u64,
}

/// Health as last recorded by the self-check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthView {
    /// Whether it was ready.
    pub ready: bool,
    /// Why not.
    pub reasons: Vec<String>,
    /// Since when.
    pub since: Option<DateTime<Utc>>,
}

impl Default for HealthView {
    fn default() -> HealthView {
        HealthView {
            ready: true,
            reasons: Vec::new(),
            since: None,
        }
    }
}

/// A token as the dashboard lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Observations recorded since the log began (including expired ones seen before they expired).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservationCounts {
    /// `MonitorChecked`.
    pub monitor_checks: u64,
    /// `HeartbeatReceived`.
    pub heartbeats: u64,
    /// `HostMetricsReported`.
    pub host_samples: u64,
}

/// Retention's work so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RetentionView {
    /// Observations removed in all.
    pub removed: u64,
    /// The last cutoff applied.
    pub last_cutoff: Option<DateTime<Utc>>,
    /// Every observation at or before this position is gone.
    pub through_position: u64,
}

impl Projection for Overview {
    const NAME: &'static str = "overview";
    const VERSION: u32 = 1;

    fn apply(&mut self, event: &RecordedEvent) {
        self.position = event.position.0;
        self.as_of = Some(event.timestamp);
        self.events += 1;
        let at = event.timestamp;
        match &event.event {
            Event::SystemInitialized(_) => self.initialized_at = Some(at),
            Event::ServerStarted(s) => {
                self.server.running = true;
                self.server.started_at = Some(at);
                self.server.version = Some(s.server_version.clone());
                self.server.listen = Some(s.listen.clone());
                self.server.starts += 1;
            }
            Event::ServerStopped(s) => {
                self.server.running = false;
                self.server.stopped_at = Some(at);
                self.server.stop_reason = Some(s.reason.clone());
            }
            Event::SystemHealthChanged(h) => {
                self.health = HealthView {
                    ready: h.ready,
                    reasons: h.reasons.clone(),
                    since: Some(at),
                }
            }
            Event::RetentionApplied(r) => {
                self.retention.removed += r.removed;
                self.retention.last_cutoff = Some(r.cutoff);
                self.retention.through_position = r.through_position;
            }
            Event::TokenCreated(t) => {
                self.tokens.insert(
                    t.token_id,
                    TokenView {
                        name: t.name.clone(),
                        role: t.role,
                        created_at: at,
                        expires_at: t.expires_at,
                        revoked_at: None,
                    },
                );
            }
            Event::TokenRevoked(t) => {
                if let Some(tok) = self.tokens.get_mut(&t.token_id) {
                    tok.revoked_at.get_or_insert(at);
                }
            }
            Event::MonitorChecked(_) => self.observations.monitor_checks += 1,
            Event::HeartbeatReceived(_) => self.observations.heartbeats += 1,
            Event::HostMetricsReported(_) => self.observations.host_samples += 1,
            // Monitors and hosts have their own read models (`Monitors`, `Hosts`).
            Event::MonitorCreated(_)
            | Event::MonitorUpdated(_)
            | Event::MonitorPaused(_)
            | Event::MonitorResumed(_)
            | Event::MonitorDeleted(_)
            | Event::MonitorWentUp(_)
            | Event::MonitorWentDown(_)
            | Event::MonitorRecovered(_)
            | Event::HostRegistered(_)
            | Event::HostDeleted(_)
            | Event::HostWentStale(_)
            | Event::HostRecovered(_)
            | Event::HostScrapeFailed(_) => {}
            // Alerting has its own read model (`Alerts`).
            _ => {}
        }
    }
}
