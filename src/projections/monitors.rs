//! Every live monitor with its state and its rollups: what the monitor API reads, and
//! where a monitor's actor rehydrates from.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Projection;
use crate::domain::monitor::MonitorState;
use crate::events::{Event, RecordedEvent};

/// Hourly buckets kept: two days.
const HOURS_KEPT: usize = 48;
/// Daily buckets kept: 90 days and today, what the dashboard's uptime bar shows.
const DAYS_KEPT: usize = 91;

/// Checks in one time bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// The bucket's start, in seconds since the Unix epoch.
    pub start: i64,
    /// Checks recorded.
    pub checks: u32,
    /// Checks that passed.
    pub up: u32,
    /// Sum of the checks' latencies, in milliseconds.
    pub latency_sum_ms: f64,
}

/// Hourly and daily check rollups of one monitor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollups {
    /// The last [`HOURS_KEPT`] hours that had checks, oldest first.
    pub hourly: VecDeque<Bucket>,
    /// The last [`DAYS_KEPT`] days that had checks, oldest first.
    pub daily: VecDeque<Bucket>,
}

fn add(buckets: &mut VecDeque<Bucket>, width: i64, keep: usize, at: i64, ok: bool, ms: f64) {
    let start = at - at.rem_euclid(width);
    match buckets.back_mut() {
        Some(b) if b.start == start => {}
        _ => buckets.push_back(Bucket {
            start,
            ..Bucket::default()
        }),
    }
    if let Some(b) = buckets.back_mut() {
        b.checks += 1;
        b.up += u32::from(ok);
        b.latency_sum_ms += ms;
    }
    while buckets.len() > keep {
        buckets.pop_front();
    }
}

impl Rollups {
    /// Counts one check (or heartbeat) recorded at `at` in its hourly and daily buckets.
    pub fn record(&mut self, at: DateTime<Utc>, ok: bool, latency_ms: f64) {
        let t = at.timestamp();
        add(&mut self.hourly, 3600, HOURS_KEPT, t, ok, latency_ms);
        add(&mut self.daily, 86_400, DAYS_KEPT, t, ok, latency_ms);
    }

    /// Checks, passes and latency sum over the buckets that start at or after `since`.
    fn total(&self, since: DateTime<Utc>, window: Duration) -> (u32, u32, f64) {
        let buckets = if window <= Duration::hours(HOURS_KEPT as i64) {
            &self.hourly
        } else {
            &self.daily
        };
        let since = since.timestamp();
        buckets
            .iter()
            .filter(|b| b.start >= since - since.rem_euclid(bucket_width(window)))
            .fold((0, 0, 0.0), |(c, u, l), b| {
                (c + b.checks, u + b.up, l + b.latency_sum_ms)
            })
    }

    /// The share of passed checks in the `window` before `now`, 0 to 1; `None` without checks.
    pub fn uptime(&self, now: DateTime<Utc>, window: Duration) -> Option<f64> {
        let (checks, up, _) = self.total(now - window, window);
        (checks > 0).then(|| f64::from(up) / f64::from(checks))
    }

    /// The mean latency in the `window` before `now`, in milliseconds.
    pub fn mean_latency_ms(&self, now: DateTime<Utc>, window: Duration) -> Option<f64> {
        let (checks, _, sum) = self.total(now - window, window);
        (checks > 0).then(|| sum / f64::from(checks))
    }

    /// The buckets between `since` and `until`: hourly for up to two days, daily beyond.
    pub fn series(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> (&'static str, Vec<Bucket>) {
        let (name, buckets) = if until - since <= Duration::hours(HOURS_KEPT as i64) {
            ("hour", &self.hourly)
        } else {
            ("day", &self.daily)
        };
        let width = if name == "hour" { 3600 } else { 86_400 };
        let (from, to) = (since.timestamp(), until.timestamp());
        let points = buckets
            .iter()
            .filter(|b| b.start + width > from && b.start <= to)
            .cloned()
            .collect();
        (name, points)
    }
}

fn bucket_width(window: Duration) -> i64 {
    if window <= Duration::hours(HOURS_KEPT as i64) {
        3600
    } else {
        86_400
    }
}

/// Upper bounds, in seconds, of the check duration histogram `/metrics` shows per monitor.
pub const DURATION_BUCKETS_S: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every check and heartbeat of a monitor the log still holds, counted for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckTally {
    /// Checks and heartbeats that passed.
    pub ok: u64,
    /// Checks and heartbeats that failed.
    pub failed: u64,
    /// Checks (not heartbeats) at or under each of [`DURATION_BUCKETS_S`], not cumulated.
    pub duration_buckets: Vec<u64>,
    /// Checks (not heartbeats) timed.
    pub duration_count: u64,
    /// Their durations added up, in seconds.
    pub duration_sum_s: f64,
}

impl CheckTally {
    /// Counts a check or heartbeat; `duration_ms` only for checks.
    pub fn record(&mut self, ok: bool, duration_ms: Option<f64>) {
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
        let Some(ms) = duration_ms else { return };
        let seconds = ms / 1000.0;
        if self.duration_buckets.len() != DURATION_BUCKETS_S.len() {
            self.duration_buckets = vec![0; DURATION_BUCKETS_S.len()];
        }
        if let Some(i) = DURATION_BUCKETS_S.iter().position(|&le| seconds <= le) {
            self.duration_buckets[i] += 1;
        }
        self.duration_count += 1;
        self.duration_sum_s += seconds;
    }
}

/// One monitor as the read side sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorView {
    /// Its state, the same fold its actor keeps.
    pub state: MonitorState,
    /// Its check rollups.
    pub rollups: Rollups,
    /// Its checks counted since the log's oldest retained one.
    #[serde(default)]
    pub tally: CheckTally,
}

/// Every monitor that was created and not deleted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Monitors {
    /// By id.
    pub monitors: HashMap<Uuid, MonitorView>,
    /// Push token → monitor id.
    pub push_tokens: HashMap<String, Uuid>,
}

/// The monitor an event is about, if it is about one.
pub fn monitor_of(event: &Event) -> Option<Uuid> {
    match event {
        Event::MonitorCreated(e) => Some(e.monitor_id),
        Event::MonitorUpdated(e) => Some(e.monitor_id),
        Event::MonitorChecked(e) => Some(e.monitor_id),
        Event::HeartbeatReceived(e) => Some(e.monitor_id),
        Event::MonitorWentDown(e) => Some(e.monitor_id),
        Event::MonitorPaused(e)
        | Event::MonitorResumed(e)
        | Event::MonitorDeleted(e)
        | Event::MonitorWentUp(e)
        | Event::MonitorRecovered(e) => Some(e.monitor_id),
        _ => None,
    }
}

impl Projection for Monitors {
    const NAME: &'static str = "monitors";
    // 2: check tallies and ping stats; an older checkpoint is rebuilt so the tallies count every check.
    const VERSION: u32 = 2;
    const SAVE_EVERY_S: u64 = 30;

    fn apply(&mut self, event: &RecordedEvent) {
        let Some(id) = monitor_of(&event.event) else {
            return;
        };
        if let Some(state) = MonitorState::start(event) {
            if let Some(token) = &state.push_token {
                self.push_tokens.insert(token.clone(), id);
            }
            self.monitors.insert(
                id,
                MonitorView {
                    state,
                    rollups: Rollups::default(),
                    tally: CheckTally::default(),
                },
            );
            return;
        }
        let Some(view) = self.monitors.get_mut(&id) else {
            return;
        };
        view.state.apply(event);
        match &event.event {
            Event::MonitorChecked(c) => {
                view.rollups.record(event.timestamp, c.ok, c.latency_ms);
                // A push monitor's missed heartbeat is a check that took no time.
                let timed = view.state.config.kind != crate::events::MonitorKind::Push;
                view.tally.record(c.ok, timed.then_some(c.latency_ms));
            }
            Event::HeartbeatReceived(h) => {
                view.rollups
                    .record(event.timestamp, h.up, h.ping_ms.unwrap_or(0.0));
                view.tally.record(h.up, None);
            }
            Event::MonitorDeleted(_) => {
                if let Some(token) = &view.state.push_token {
                    self.push_tokens.remove(token);
                }
                self.monitors.remove(&id);
            }
            _ => {}
        }
    }
}
