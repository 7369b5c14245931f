//! A host's state as a pure fold over its stream: its settings, whether it is up or
//! stale, and its latest sample.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::events::{Event, HostMetricsReported, HostRegistered, RecordedEvent};

/// The window of silence before a host is stale when nothing tells its interval.
pub const DEFAULT_STALE_AFTER_S: u32 = 180;

/// Where a host is in its lifecycle.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    /// Registered, no sample yet (a scraped host before its first scrape).
    Pending,
    /// Reporting.
    Up,
    /// Silent for its whole window.
    Stale,
}

impl HostStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Pending => "pending",
            HostStatus::Up => "up",
            HostStatus::Stale => "stale",
        }
    }

    /// Parses the API's spelling.
    pub fn parse(s: &str) -> Option<HostStatus> {
        match s {
            "pending" => Some(HostStatus::Pending),
            "up" => Some(HostStatus::Up),
            "stale" => Some(HostStatus::Stale),
            _ => None,
        }
    }
}

/// Everything known of one host, folded from its stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    /// Its name.
    pub hostname: String,
    /// The node_exporter URL the server scrapes, for a scraped host.
    pub scrape_url: Option<String>,
    /// Seconds between samples, when known.
    pub interval_s: Option<u32>,
    /// The window of silence set for it, if any (else three intervals).
    pub stale_after_s: Option<u32>,
    /// Its labels, for alert rules and silences.
    pub tags: Vec<String>,
    /// Where it is in its lifecycle.
    pub status: HostStatus,
    /// Since when.
    pub status_since: DateTime<Utc>,
    /// When it was (last) registered.
    pub registered_at: DateTime<Utc>,
    /// When its last sample was recorded.
    pub last_seen: Option<DateTime<Utc>>,
    /// Seconds between its last two samples' arrivals.
    pub observed_interval_s: Option<f64>,
    /// Its latest sample.
    pub latest: Option<HostMetricsReported>,
    /// The position of its latest sample.
    pub latest_position: u64,
    /// Why the last scrape failed, until one succeeds.
    pub last_error: Option<String>,
    /// Samples recorded.
    pub samples: u64,
    /// Whether it was deleted.
    pub deleted: bool,
    /// The version of the last event of its stream.
    pub version: u64,
}

impl HostState {
    /// A host just registered by `event`, recorded at `at` as version `version`.
    pub fn registered(event: &HostRegistered, version: u64, at: DateTime<Utc>) -> HostState {
        HostState {
            hostname: event.hostname.clone(),
            scrape_url: event.scrape_url.clone(),
            interval_s: event.interval_s,
            stale_after_s: event.stale_after_s,
            tags: event.tags.clone(),
            status: HostStatus::Pending,
            status_since: at,
            registered_at: at,
            last_seen: None,
            observed_interval_s: None,
            latest: None,
            latest_position: 0,
            last_error: None,
            samples: 0,
            deleted: false,
            version,
        }
    }

    /// The window of silence after which the host is stale, in seconds.
    pub fn window_s(&self) -> u32 {
        if let Some(w) = self.stale_after_s {
            return w.max(1);
        }
        let interval = self
            .interval_s
            .map(f64::from)
            .or(self.observed_interval_s)
            .map(|i| (i * 3.0).ceil().clamp(3.0, 7.0 * 86_400.0) as u32);
        interval.unwrap_or(DEFAULT_STALE_AFTER_S)
    }

    /// Folds one event of the host's stream in.
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
            Event::HostRegistered(r) => {
                if self.deleted {
                    *self = HostState::registered(r, version, at);
                } else {
                    self.scrape_url = r.scrape_url.clone();
                    self.interval_s = r.interval_s;
                    self.stale_after_s = r.stale_after_s;
                    self.tags = r.tags.clone();
                }
            }
            Event::HostMetricsReported(m) => {
                if let Some(prev) = self.last_seen {
                    let gap = (at - prev).num_milliseconds() as f64 / 1000.0;
                    if gap > 0.0 {
                        self.observed_interval_s = Some(gap);
                    }
                }
                self.last_seen = Some(at);
                self.latest = Some((**m).clone());
                self.latest_position = position;
                self.last_error = None;
                self.samples += 1;
                if self.status == HostStatus::Pending {
                    self.status = HostStatus::Up;
                    self.status_since = at;
                }
            }
            Event::HostScrapeFailed(f) => self.last_error = Some(f.error.clone()),
            Event::HostWentStale(_) => {
                self.status = HostStatus::Stale;
                self.status_since = at;
            }
            Event::HostRecovered(_) => {
                self.status = HostStatus::Up;
                self.status_since = at;
            }
            Event::HostDeleted(_) => self.deleted = true,
            _ => {}
        }
    }
}
