//! The dashboard view as the log tells it: a card per monitor and per host, the open
//! alerts, counts, and watchfire's own health, as of the last event applied. One fold
//! serves the live view (`GET /dashboard`), the past (`GET /audit/state`, `replay
//! --until`): the state at a position is the same whichever of them folds it.
//!
//! Its JSON is what the dashboard reads, and also its checkpoint; so a card keeps only
//! what it shows (and the rollups its uptime comes from), not a monitor's settings.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{host_of, monitor_of, AlertStatus, Projection, Rollups};
use crate::domain::host::{HostState, HostStatus};
use crate::domain::monitor::{LastCheck, MonitorState, Status};
use crate::events::{
    Event, EventStore, Expectations, HostMetricsReported, MonitorConfig, MonitorKind, Position,
    RecordedEvent, Severity, StoreError, SubjectKind,
};

/// Events read from the log per page when folding it.
const PAGE: usize = 4096;

/// What the dashboard shows, as of the event at `position`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// The last position applied.
    pub position: u64,
    /// The time of that event: every figure here is as of then, never the wall clock.
    pub as_of: Option<DateTime<Utc>>,
    /// watchfire's own health, as last recorded.
    pub health: HealthCard,
    /// How many monitors, hosts and alerts are in each state.
    pub counts: Counts,
    /// Every live monitor, by id.
    pub monitors: BTreeMap<Uuid, MonitorCard>,
    /// Every live host, by name.
    pub hosts: BTreeMap<String, HostCard>,
    /// Every alert not yet resolved, by id.
    pub alerts: BTreeMap<Uuid, AlertCard>,
}

/// watchfire's readiness as its self-check last recorded it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthCard {
    /// Whether it was ready.
    pub ready: bool,
    /// Why not, one line a reason.
    pub reasons: Vec<String>,
    /// Since when (`None`: ready since the log began).
    pub since: Option<DateTime<Utc>>,
}

impl Default for HealthCard {
    fn default() -> HealthCard {
        HealthCard {
            ready: true,
            reasons: Vec::new(),
            since: None,
        }
    }
}

/// How many of each are in each state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Monitors by status.
    pub monitors: MonitorCounts,
    /// Hosts by status.
    pub hosts: HostCounts,
    /// Open alerts by state.
    pub alerts: AlertCounts,
}

/// Monitors by status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorCounts {
    /// Passing.
    pub up: u32,
    /// Failing.
    pub down: u32,
    /// Not yet decided.
    pub pending: u32,
    /// Not checking.
    pub paused: u32,
}

/// Hosts by status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCounts {
    /// Reporting.
    pub up: u32,
    /// Silent for their whole window.
    pub stale: u32,
    /// Registered, no sample yet.
    pub pending: u32,
}

/// Open alerts by state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCounts {
    /// Breached, not yet for long enough.
    pub pending: u32,
    /// Firing and notifying.
    pub firing: u32,
    /// Firing, and someone is on it.
    pub acknowledged: u32,
}

/// Uptime shares, 0 to 1; `None` for a window without checks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Uptime {
    /// The last 24 hours.
    #[serde(rename = "24h")]
    pub day: Option<f64>,
    /// The last 7 days.
    #[serde(rename = "7d")]
    pub week: Option<f64>,
    /// The last 30 days.
    #[serde(rename = "30d")]
    pub month: Option<f64>,
}

/// One monitor as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorCard {
    /// The monitor.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// What it checks.
    pub kind: MonitorKind,
    /// Its labels.
    pub tags: Vec<String>,
    /// Where it is in its lifecycle.
    pub status: Status,
    /// Since when.
    pub status_since: DateTime<Utc>,
    /// Why it is down, when it is.
    pub down_reason: Option<String>,
    /// Its last check or heartbeat.
    pub last_check: Option<LastCheck>,
    /// When its TLS certificate expires, as the last HTTPS check saw it.
    pub cert_expires_at: Option<DateTime<Utc>>,
    /// Uptime over the windows before `as_of`.
    pub uptime: Uptime,
    /// Mean check latency over the 24 hours before `as_of`, in milliseconds.
    pub avg_latency_ms_24h: Option<f64>,
    /// Hourly and daily check buckets, the uptime's source (and the dashboard's uptime bars).
    pub rollups: Rollups,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The version of its stream's last event.
    pub version: u64,
}

/// A host's latest sample, reduced to what the dashboard shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostFigures {
    /// When the sample was taken, by the host's clock.
    pub sampled_at: DateTime<Utc>,
    /// CPU busy share over all cores, 0 to 100.
    pub cpu_percent: Option<f64>,
    /// Used memory share, 0 to 100.
    pub memory_percent: Option<f64>,
    /// The fullest filesystem's used share, 0 to 100.
    pub disk_percent_max: Option<f64>,
    /// Load average over one minute.
    pub load1: Option<f64>,
    /// Network bytes sent per second.
    pub net_tx_bytes_per_s: Option<f64>,
    /// Network bytes received per second.
    pub net_rx_bytes_per_s: Option<f64>,
    /// Disk bytes read per second.
    pub disk_read_bytes_per_s: Option<f64>,
    /// Disk bytes written per second.
    pub disk_write_bytes_per_s: Option<f64>,
}

impl HostFigures {
    fn of(m: &HostMetricsReported) -> HostFigures {
        let [tx, rx, read, write] = m.rates;
        HostFigures {
            sampled_at: m.sampled_at,
            cpu_percent: m.cpu_percent,
            memory_percent: m.memory_percent,
            disk_percent_max: m.disks.iter().map(|d| d.percent).reduce(f64::max),
            load1: m.load_average.map(|l| l[0]),
            net_tx_bytes_per_s: tx,
            net_rx_bytes_per_s: rx,
            disk_read_bytes_per_s: read,
            disk_write_bytes_per_s: write,
        }
    }
}

/// One host as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostCard {
    /// Its name.
    pub hostname: String,
    /// Where it is in its lifecycle.
    pub status: HostStatus,
    /// Since when.
    pub status_since: DateTime<Utc>,
    /// When its last sample was recorded.
    pub last_seen: Option<DateTime<Utc>>,
    /// Its labels.
    pub tags: Vec<String>,
    /// Why the last scrape failed, until one succeeds.
    pub last_error: Option<String>,
    /// Its latest sample's figures.
    pub metrics: Option<HostFigures>,
    /// Samples recorded.
    pub samples: u64,
    /// When it was (last) registered.
    pub registered_at: DateTime<Utc>,
    /// The version of its stream's last event.
    pub version: u64,
}

/// An alert not yet resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertCard {
    /// The alert.
    pub id: Uuid,
    /// Its rule.
    pub rule_id: Uuid,
    /// The rule's name when it opened.
    pub rule_name: String,
    /// How urgent it is.
    pub severity: Severity,
    /// Pending, firing or acknowledged.
    pub state: AlertStatus,
    /// A monitor or a host.
    pub subject_kind: SubjectKind,
    /// The monitor's id or the hostname.
    pub subject_id: String,
    /// The subject's name for people.
    pub subject_name: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it entered its state.
    pub since: DateTime<Utc>,
    /// The latest cause, in words.
    pub cause: String,
}

/// A monitor's uptime shares and mean latency over the windows before `at`, from its
/// rollups: the one computation behind the dashboard's cards (as of their last event) and
/// the monitor API (as of the ask).
pub fn uptime_figures(rollups: &Rollups, at: DateTime<Utc>) -> (Uptime, Option<f64>) {
    let uptime = Uptime {
        day: rollups.uptime(at, Duration::days(1)),
        week: rollups.uptime(at, Duration::days(7)),
        month: rollups.uptime(at, Duration::days(30)),
    };
    (uptime, rollups.mean_latency_ms(at, Duration::days(1)))
}

/// The hour an instant falls in: uptime figures can change only when it does (or on a check).
pub fn hour_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}

impl MonitorCard {
    /// The card of a monitor in `state`, before any check is folded into its figures.
    pub fn of(state: MonitorState) -> MonitorCard {
        MonitorCard {
            id: state.id,
            name: state.config.name,
            kind: state.config.kind,
            tags: state.config.tags,
            status: state.status,
            status_since: state.status_since,
            down_reason: state.down_reason,
            last_check: state.last_check,
            cert_expires_at: state.cert_expires_at,
            uptime: Uptime::default(),
            avg_latency_ms_24h: None,
            rollups: Rollups::default(),
            created_at: state.created_at,
            version: state.version,
        }
    }

    /// Folds an event of this monitor in through `MonitorState::apply`, the fold its actor
    /// and the `Monitors` read model use. The card does not keep the settings that fold
    /// never reads, so it lends the fold what it has and takes the result back.
    fn apply(&mut self, event: &RecordedEvent) {
        let mut state = MonitorState {
            id: self.id,
            config: MonitorConfig {
                name: std::mem::take(&mut self.name),
                kind: self.kind,
                url: None,
                host: None,
                port: None,
                record_type: None,
                resolver: None,
                interval_s: 0,
                timeout_ms: 0,
                retries: 0,
                recover_after: 0,
                method: String::new(),
                headers: BTreeMap::new(),
                body: None,
                follow_redirects: false,
                ignore_tls_errors: false,
                expect: Expectations::default(),
                cert_expiry_days: None,
                grace_s: 0,
                tags: std::mem::take(&mut self.tags),
                ping: None,
            },
            push_token: None,
            status: self.status,
            status_since: self.status_since,
            down_reason: self.down_reason.take(),
            deleted: false,
            created_at: self.created_at,
            version: self.version,
            failures: 0,
            successes: 0,
            last_check: self.last_check.take(),
            cert_expires_at: self.cert_expires_at,
        };
        state.apply(event);
        let rollups = std::mem::take(&mut self.rollups);
        let (uptime, latency) = (self.uptime.clone(), self.avg_latency_ms_24h);
        *self = MonitorCard {
            uptime,
            avg_latency_ms_24h: latency,
            rollups,
            ..MonitorCard::of(state)
        };
        match &event.event {
            Event::MonitorChecked(c) => self.rollups.record(event.timestamp, c.ok, c.latency_ms),
            Event::HeartbeatReceived(h) => {
                self.rollups
                    .record(event.timestamp, h.up, h.ping_ms.unwrap_or(0.0))
            }
            _ => {}
        }
    }

    /// Recomputes the uptime figures as of `now` from the rollups.
    fn refresh(&mut self, now: DateTime<Utc>) {
        (self.uptime, self.avg_latency_ms_24h) = uptime_figures(&self.rollups, now);
    }
}

impl HostCard {
    fn of(state: HostState, metrics: Option<HostFigures>) -> HostCard {
        HostCard {
            hostname: state.hostname,
            status: state.status,
            status_since: state.status_since,
            last_seen: state.last_seen,
            tags: state.tags,
            last_error: state.last_error,
            metrics,
            samples: state.samples,
            registered_at: state.registered_at,
            version: state.version,
        }
    }

    /// Folds an event of this host in through `HostState::apply`, the fold its actor and
    /// the `Hosts` read model use; the card lends it what it keeps, as for monitors.
    fn apply(&mut self, event: &RecordedEvent) {
        let mut state = HostState {
            hostname: std::mem::take(&mut self.hostname),
            scrape_url: None,
            interval_s: None,
            stale_after_s: None,
            tags: std::mem::take(&mut self.tags),
            status: self.status,
            status_since: self.status_since,
            registered_at: self.registered_at,
            last_seen: self.last_seen,
            observed_interval_s: None,
            latest: None,
            latest_position: 0,
            last_error: self.last_error.take(),
            samples: self.samples,
            deleted: false,
            version: self.version,
        };
        state.apply(event);
        let metrics = match state.latest.take() {
            Some(latest) => Some(HostFigures::of(&latest)),
            None => self.metrics.take(),
        };
        *self = HostCard::of(state, metrics);
    }
}

impl Dashboard {
    /// Folds one event of a monitor's stream in, as the `Monitors` read model does.
    fn apply_monitor(&mut self, id: Uuid, event: &RecordedEvent) -> bool {
        if let Some(state) = MonitorState::start(event) {
            let mut card = MonitorCard::of(state);
            card.refresh(event.timestamp);
            self.monitors.insert(id, card);
            return true;
        }
        if matches!(event.event, Event::MonitorDeleted(_)) {
            return self.monitors.remove(&id).is_some();
        }
        let Some(card) = self.monitors.get_mut(&id) else {
            return false;
        };
        let before = card.status;
        card.apply(event);
        if matches!(
            event.event,
            Event::MonitorChecked(_) | Event::HeartbeatReceived(_)
        ) {
            card.refresh(event.timestamp);
        }
        card.status != before
    }

    /// Folds one event of a host's stream in, as the `Hosts` read model does.
    fn apply_host(&mut self, hostname: &str, event: &RecordedEvent) -> bool {
        match &event.event {
            Event::HostRegistered(r) if !self.hosts.contains_key(hostname) => {
                let state = HostState::registered(r, event.version.0, event.timestamp);
                self.hosts
                    .insert(hostname.to_owned(), HostCard::of(state, None));
                true
            }
            Event::HostDeleted(_) => self.hosts.remove(hostname).is_some(),
            _ => {
                let Some(card) = self.hosts.get_mut(hostname) else {
                    return false;
                };
                let before = card.status;
                card.apply(event);
                card.status != before
            }
        }
    }

    /// Folds one alert event in: only open alerts are kept.
    fn apply_alert(&mut self, event: &RecordedEvent) -> bool {
        let at = event.timestamp;
        match &event.event {
            Event::AlertOpened(o) => {
                self.alerts.insert(
                    o.alert_id,
                    AlertCard {
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
                    },
                );
                true
            }
            Event::AlertFired(c) => self.alerts.get_mut(&c.alert_id).is_some_and(|a| {
                a.state = AlertStatus::Firing;
                a.since = at;
                a.cause = c.cause.clone();
                true
            }),
            Event::AlertAcknowledged(k) => self.alerts.get_mut(&k.alert_id).is_some_and(|a| {
                a.state = AlertStatus::Acknowledged;
                a.since = at;
                true
            }),
            Event::AlertResolved(c) => self.alerts.remove(&c.alert_id).is_some(),
            _ => false,
        }
    }

    fn recount(&mut self) {
        let mut counts = Counts::default();
        for m in self.monitors.values() {
            let n = match m.status {
                Status::Up => &mut counts.monitors.up,
                Status::Down => &mut counts.monitors.down,
                Status::Pending => &mut counts.monitors.pending,
                Status::Paused => &mut counts.monitors.paused,
            };
            *n += 1;
        }
        for h in self.hosts.values() {
            let n = match h.status {
                HostStatus::Up => &mut counts.hosts.up,
                HostStatus::Stale => &mut counts.hosts.stale,
                HostStatus::Pending => &mut counts.hosts.pending,
            };
            *n += 1;
        }
        for a in self.alerts.values() {
            let n = match a.state {
                AlertStatus::Pending => &mut counts.alerts.pending,
                AlertStatus::Firing => &mut counts.alerts.firing,
                AlertStatus::Acknowledged => &mut counts.alerts.acknowledged,
                // Resolved alerts leave the view.
                AlertStatus::Resolved => continue,
            };
            *n += 1;
        }
        self.counts = counts;
    }
}

impl Projection for Dashboard {
    const NAME: &'static str = "dashboard";
    const VERSION: u32 = 1;
    const SAVE_EVERY_S: u64 = 30;

    fn apply(&mut self, event: &RecordedEvent) {
        let new_hour = self.as_of.map(hour_of) != Some(hour_of(event.timestamp));
        self.position = event.position.0;
        self.as_of = Some(event.timestamp);
        let recount = if let Some(id) = monitor_of(&event.event) {
            self.apply_monitor(id, event)
        } else if let Some(hostname) = host_of(&event.event) {
            let hostname = hostname.to_owned();
            self.apply_host(&hostname, event)
        } else if let Event::SystemHealthChanged(h) = &event.event {
            self.health = HealthCard {
                ready: h.ready,
                reasons: h.reasons.clone(),
                since: Some(event.timestamp),
            };
            false
        } else {
            self.apply_alert(event)
        };
        if new_hour {
            // The uptime windows slide by whole buckets: figures move only when the hour does.
            for card in self.monitors.values_mut() {
                card.refresh(event.timestamp);
            }
        }
        if recount {
            self.recount();
        }
    }
}

/// The dashboard as it was once the event at `until` was applied: the log folded up to
/// there, read in pages (blocking).
pub fn dashboard_at(store: &EventStore, until: Position) -> Result<Dashboard, StoreError> {
    let mut state = Dashboard::default();
    let mut after = Position::START;
    while after < until {
        let events = store.read_all(after, PAGE)?;
        let Some(last) = events.last() else { break };
        after = last.position;
        for e in events.iter().take_while(|e| e.position <= until) {
            state.apply(e);
        }
    }
    Ok(state)
}

/// The position of the last event recorded at or before `at` (0 when there is none):
/// a binary search, since an event's time is never earlier than the one before it (blocking).
pub fn position_at(store: &EventStore, at: DateTime<Utc>) -> Result<Position, StoreError> {
    // The answer lies in [lo, hi]; lo is 0 or an event at or before `at`.
    let (mut lo, mut hi) = (0u64, store.durable_position().0);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        match store.read_all(Position(mid - 1), 1)?.first() {
            Some(e) if e.position.0 <= hi && e.timestamp <= at => lo = e.position.0,
            _ => hi = mid - 1,
        }
    }
    Ok(Position(lo))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::events::{
        AlertChanged, AlertOpened, DiskUsage, HostRef, HostRegistered, MonitorChecked,
        MonitorCreated, MonitorRef, MonitorWentDown, SampleDetails,
    };
    use crate::projections::{Hosts, Monitors};
    use proptest::prelude::*;

    /// 2027-01-15T08:00:00Z.
    pub(crate) const BASE_S: i64 = 1_800_000_000;
    pub(crate) const MONITORS: u128 = 3;

    /// The events a proptest's `steps` stand for: every monitor created, then for each step
    /// an event of its kind about its monitor, mostly seconds apart, now and then hours or days.
    pub(crate) fn history(steps: &[(u8, u128, i64, f64)]) -> Vec<RecordedEvent> {
        let mut at = BASE_S;
        let mut position = 0;
        let mut events = Vec::new();
        for m in 0..MONITORS {
            position += 1;
            events.push(recorded(position, at, created(Uuid::from_u128(m + 1))));
        }
        for &(kind, m, gap, latency) in steps {
            at += if gap > 8000 {
                gap * 40
            } else if gap > 6000 {
                gap
            } else {
                gap % 90
            };
            position += 1;
            events.push(recorded(position, at, event(kind, m, at, latency)));
        }
        events
    }

    pub(crate) fn recorded(position: u64, at_s: i64, event: Event) -> RecordedEvent {
        let at = DateTime::from_timestamp(at_s, 0).unwrap_or_default();
        RecordedEvent::unchained(position, position, at, event)
    }

    pub(crate) fn created(id: Uuid) -> Event {
        Event::MonitorCreated(Box::new(MonitorCreated {
            monitor_id: id,
            config: MonitorConfig {
                name: format!("m{id}"),
                kind: MonitorKind::Http,
                url: Some("http://127.0.0.1/".to_owned()),
                host: None,
                port: None,
                record_type: None,
                resolver: None,
                interval_s: 60,
                timeout_ms: 1000,
                retries: 1,
                recover_after: 1,
                method: "GET".to_owned(),
                headers: BTreeMap::from([("authorization".to_owned(), "secret".to_owned())]),
                body: None,
                follow_redirects: true,
                ignore_tls_errors: false,
                expect: Expectations::default(),
                cert_expiry_days: None,
                grace_s: 0,
                tags: vec!["prod".to_owned()],
                ping: None,
            },
            paused: false,
            push_token: None,
        }))
    }

    fn sample(host: &str, at_s: i64, cpu: f64) -> Event {
        Event::HostMetricsReported(Box::new(HostMetricsReported {
            hostname: host.to_owned(),
            sampled_at: DateTime::from_timestamp(at_s, 0).unwrap_or_default(),
            cpu_percent: Some(cpu),
            cpu_count: Some(2),
            cpu_percent_per_core: vec![cpu, cpu],
            load_average: Some([cpu / 10.0, 0.0, 0.0]),
            memory_total: None,
            memory_used: None,
            memory_percent: Some(40.0),
            disks: vec![
                DiskUsage {
                    mountpoint: "/".to_owned(),
                    total: 100,
                    used: 20,
                    percent: 20.0,
                },
                DiskUsage {
                    mountpoint: "/var".to_owned(),
                    total: 100,
                    used: 70,
                    percent: 70.0,
                },
            ],
            counters: [None; 4],
            rates: [Some(1.0), Some(2.0), None, None],
            details: SampleDetails::default(),
        }))
    }

    /// An event about monitor `m` or host `m`, picked by `kind`.
    pub(crate) fn event(kind: u8, m: u128, at_s: i64, latency: f64) -> Event {
        let monitor_id = Uuid::from_u128(m + 1);
        let host = format!("h{m}");
        match kind {
            0 => Event::MonitorChecked(MonitorChecked {
                monitor_id,
                ok: true,
                latency_ms: latency,
                status_code: Some(200),
                error: None,
                cert_expires_at: None,
                ping: None,
            }),
            1 => Event::MonitorChecked(MonitorChecked {
                monitor_id,
                ok: false,
                latency_ms: latency,
                status_code: None,
                error: Some("refused".to_owned()),
                cert_expires_at: None,
                ping: None,
            }),
            2 => Event::MonitorWentDown(MonitorWentDown {
                monitor_id,
                reason: "refused".to_owned(),
            }),
            3 => Event::MonitorRecovered(MonitorRef { monitor_id }),
            4 => Event::MonitorPaused(MonitorRef { monitor_id }),
            5 => Event::MonitorResumed(MonitorRef { monitor_id }),
            6 => Event::HostRegistered(HostRegistered {
                hostname: host,
                scrape_url: None,
                interval_s: Some(10),
                stale_after_s: None,
                tags: vec![format!("t{at_s}")],
            }),
            7 => sample(&host, at_s, latency),
            8 => Event::HostWentStale(crate::events::HostWentStale {
                hostname: host,
                last_seen: None,
                window_s: 30,
            }),
            9 => Event::HostRecovered(HostRef { hostname: host }),
            10 => Event::HostDeleted(HostRef { hostname: host }),
            11 => Event::MonitorDeleted(MonitorRef { monitor_id }),
            12 => Event::AlertOpened(AlertOpened {
                alert_id: Uuid::from_u128(100 + m),
                rule_id: Uuid::from_u128(200),
                rule_name: "r".to_owned(),
                severity: Severity::Critical,
                subject_kind: SubjectKind::Monitor,
                subject_id: monitor_id.to_string(),
                subject_name: "m".to_owned(),
                tags: Vec::new(),
                cause: "down".to_owned(),
            }),
            13 => Event::AlertFired(AlertChanged {
                alert_id: Uuid::from_u128(100 + m),
                cause: "still down".to_owned(),
            }),
            _ => Event::AlertResolved(AlertChanged {
                alert_id: Uuid::from_u128(100 + m),
                cause: "up".to_owned(),
            }),
        }
    }

    proptest! {
        /// Folded through any events, the cards agree with the `Monitors` and `Hosts` read
        /// models folded through the same events, uptime figures are the rollups' as of the
        /// last event, counts add up, and the JSON (the checkpoint) reloads to the same state.
        #[test]
        fn cards_agree_with_the_read_models_and_their_figures_with_the_rollups(
            steps in prop::collection::vec((0u8..15, 0..MONITORS, 0i64..9000, 0.0f64..2000.0), 1..120)
        ) {
            let mut dashboard = Dashboard::default();
            let (mut monitors, mut hosts) = (Monitors::default(), Hosts::default());
            let events = history(&steps);
            for e in &events {
                dashboard.apply(e);
                monitors.apply(e);
                hosts.apply(e);
                let now = e.timestamp;
                prop_assert_eq!(dashboard.as_of, Some(now));
                prop_assert_eq!(dashboard.monitors.len(), monitors.monitors.len());
                for (id, view) in &monitors.monitors {
                    let card = &dashboard.monitors[id];
                    prop_assert_eq!(card.status, view.state.status);
                    prop_assert_eq!(card.status_since, view.state.status_since);
                    prop_assert_eq!(&card.down_reason, &view.state.down_reason);
                    prop_assert_eq!(&card.last_check, &view.state.last_check);
                    prop_assert_eq!(&card.name, &view.state.config.name);
                    prop_assert_eq!(&card.tags, &view.state.config.tags);
                    prop_assert_eq!(card.version, view.state.version);
                    prop_assert_eq!(&card.rollups, &view.rollups);
                    let r = &view.rollups;
                    prop_assert_eq!(card.uptime.day, r.uptime(now, Duration::days(1)));
                    prop_assert_eq!(card.uptime.week, r.uptime(now, Duration::days(7)));
                    prop_assert_eq!(card.uptime.month, r.uptime(now, Duration::days(30)));
                    prop_assert_eq!(card.avg_latency_ms_24h, r.mean_latency_ms(now, Duration::days(1)));
                }
                prop_assert_eq!(dashboard.hosts.len(), hosts.hosts.len());
                for (name, state) in &hosts.hosts {
                    let card = &dashboard.hosts[name];
                    prop_assert_eq!(card.status, state.status);
                    prop_assert_eq!(card.status_since, state.status_since);
                    prop_assert_eq!(card.last_seen, state.last_seen);
                    prop_assert_eq!(&card.tags, &state.tags);
                    prop_assert_eq!(card.samples, state.samples);
                    prop_assert_eq!(card.version, state.version);
                    prop_assert_eq!(card.metrics.clone(), state.latest.as_ref().map(HostFigures::of));
                }
                let c = &dashboard.counts;
                let m = &c.monitors;
                prop_assert_eq!((m.up + m.down + m.pending + m.paused) as usize, dashboard.monitors.len());
                prop_assert_eq!((c.hosts.up + c.hosts.stale + c.hosts.pending) as usize, dashboard.hosts.len());
                let a = &c.alerts;
                prop_assert_eq!((a.pending + a.firing + a.acknowledged) as usize, dashboard.alerts.len());
            }
            let json = serde_json::to_string(&dashboard).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(!json.contains("secret"), "no monitor settings in the view");
            let reloaded: Dashboard = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(reloaded, dashboard);
        }
    }
}
