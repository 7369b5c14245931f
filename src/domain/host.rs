//! A host: its state as a pure fold over its stream (its settings, whether it is up or
//! stale, its latest sample), the registration a client sends and its validation, and
//! [`decide`], which says what each command appends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sample::{validate_hostname, InvalidSample, PushBody};
use super::{expect_version, not_null, DomainError};
use crate::events::{Event, HostMetricsReported, HostRef, HostRegistered, RecordedEvent};

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

/// A scraped host's interval when the client sends none.
pub const DEFAULT_SCRAPE_INTERVAL_S: u32 = 15;
/// The longest interval a scraped host may have: a day.
pub const MAX_INTERVAL_S: u32 = 86_400;

impl From<InvalidSample> for DomainError {
    fn from(e: InvalidSample) -> DomainError {
        DomainError::Invalid {
            field: e.field,
            detail: e.reason,
        }
    }
}

/// A hostname from a path or body, checked as a DNS name (`field` names it) and lowercased.
pub fn hostname(field: &str, name: &str) -> Result<String, DomainError> {
    validate_hostname(name).map_err(|why| DomainError::invalid(field, why))?;
    Ok(name.to_ascii_lowercase())
}

/// The host a push is for: the path's name, which a name in the body must agree with, or
/// (without a path) the body's, which is then required.
pub fn pushed_hostname(path: Option<&str>, body: &PushBody) -> Result<String, DomainError> {
    let Some(path) = path else {
        let named = body
            .hostname
            .as_deref()
            .ok_or_else(|| DomainError::invalid("hostname", "is required"))?;
        return hostname("hostname", named);
    };
    let name = hostname("hostname", path)?;
    if let Some(named) = &body.hostname {
        if !named.eq_ignore_ascii_case(&name) {
            return Err(DomainError::invalid(
                "hostname",
                format!("the body names {named:?} but the path {name:?}"),
            ));
        }
    }
    Ok(name)
}

/// The body of `POST /api/v1/hosts`: a host whose node_exporter the server scrapes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapedHostInput {
    #[serde(default, deserialize_with = "not_null")]
    hostname: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    scrape_url: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    interval_s: Option<u32>,
    #[serde(default, deserialize_with = "not_null")]
    stale_after_s: Option<u32>,
    #[serde(default, deserialize_with = "not_null")]
    tags: Option<Vec<String>>,
}

impl ScrapedHostInput {
    /// The registration this body asks for, or the first field that does not fit.
    pub fn registration(self) -> Result<HostRegistered, DomainError> {
        let name = self
            .hostname
            .as_deref()
            .ok_or_else(|| DomainError::invalid("hostname", "is required"))?;
        let name = hostname("hostname", name)?;
        let url = self.scrape_url.ok_or_else(|| {
            DomainError::invalid("scrape_url", "is required: a node_exporter /metrics URL")
        })?;
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(_) => {
                return Err(DomainError::invalid(
                    "scrape_url",
                    "must be an http or https URL",
                ))
            }
            Err(e) => {
                return Err(DomainError::invalid(
                    "scrape_url",
                    format!("{url:?} is not a URL: {e}"),
                ))
            }
        }
        let interval_s = self.interval_s.unwrap_or(DEFAULT_SCRAPE_INTERVAL_S);
        if !(1..=MAX_INTERVAL_S).contains(&interval_s) {
            return Err(DomainError::invalid(
                "interval_s",
                format!("must be from 1 to {MAX_INTERVAL_S} seconds"),
            ));
        }
        if let Some(w) = self.stale_after_s {
            if w < interval_s {
                return Err(DomainError::invalid(
                    "stale_after_s",
                    "must be at least the interval: a host is late only after it missed a scrape",
                ));
            }
        }
        Ok(HostRegistered {
            hostname: name,
            scrape_url: Some(url),
            interval_s: Some(interval_s),
            stale_after_s: self.stale_after_s,
            tags: self.tags.unwrap_or_default(),
        })
    }
}

/// A sample for a host, pushed or scraped, with the server's time it arrived at.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// What the agent sent (or the scrape read).
    pub body: PushBody,
    /// The server's clock when it arrived: bounds the body's timestamp and stands in for a
    /// missing one.
    pub now: DateTime<Utc>,
}

impl Sample {
    /// Checks every value against what a machine can report, naming the first bad field.
    pub fn validate(&self) -> Result<(), DomainError> {
        Ok(self.body.validate(self.now)?)
    }

    /// When the sample was taken: the body's timestamp, else its arrival.
    pub fn sampled_at(&self) -> DateTime<Utc> {
        self.body.timestamp.unwrap_or(self.now)
    }
}

/// What to do when a registration finds the host registered.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IfRegistered {
    /// Refuse: `POST /hosts` for a host that exists.
    Refuse,
    /// Keep it as it is: a first push that another push registered a moment before.
    Keep,
}

/// What may be asked of a host.
#[derive(Clone, Debug)]
pub enum HostCommand {
    /// Register the host (again, if it was deleted).
    Register {
        /// Its settings.
        registration: HostRegistered,
        /// What to do when it is registered.
        if_registered: IfRegistered,
    },
    /// Record a sample; one no newer than the host's last is a duplicate and appends nothing
    /// (boxed: a whole sample).
    Sample(Box<Sample>),
    /// Delete; the history stays in the log.
    Delete {
        /// The version the caller saw (`If-Match`), if it sent one.
        expected: Option<u64>,
    },
}

/// Whether `event` follows the facts before it (and is recorded after them, caused by the
/// last of them): a stale host's recovery.
pub fn is_consequence(event: &Event) -> bool {
    matches!(event, Event::HostRecovered(_))
}

/// What `command` appends to a host in `state` (`None`: never registered), or why it is
/// refused. An empty list means nothing changes: a duplicate sample, or a registration
/// kept.
pub fn decide(state: Option<&HostState>, command: HostCommand) -> Result<Vec<Event>, DomainError> {
    let live = state.filter(|s| !s.deleted);
    match command {
        HostCommand::Register {
            registration,
            if_registered,
        } => match (live, if_registered) {
            (None, _) => Ok(vec![Event::HostRegistered(registration)]),
            (Some(_), IfRegistered::Keep) => Ok(vec![]),
            (Some(_), IfRegistered::Refuse) => Err(DomainError::Conflict(format!(
                "the host {} exists already",
                registration.hostname
            ))),
        },
        HostCommand::Sample(sample) => {
            let sample = *sample;
            sample.validate()?;
            let s = live.ok_or(DomainError::NotFound("host"))?;
            let sampled_at = sample.sampled_at();
            if s.latest
                .as_ref()
                .is_some_and(|l| sampled_at <= l.sampled_at)
            {
                return Ok(vec![]);
            }
            let body = sample.body;
            let mut events = Vec::with_capacity(3);
            let interval_changed = body.interval_s.is_some() && body.interval_s != s.interval_s;
            let tags_changed = body.tags.as_ref().is_some_and(|t| *t != s.tags);
            if s.scrape_url.is_none() && (interval_changed || tags_changed) {
                // The agent tells its interval and tags: the dead man's switch and the rules follow them.
                events.push(Event::HostRegistered(HostRegistered {
                    hostname: s.hostname.clone(),
                    scrape_url: None,
                    interval_s: body.interval_s.or(s.interval_s),
                    stale_after_s: s.stale_after_s,
                    tags: body.tags.clone().unwrap_or_else(|| s.tags.clone()),
                }));
            }
            let reported = body.into_event(s.hostname.clone(), sampled_at, s.latest.as_ref());
            events.push(Event::HostMetricsReported(Box::new(reported)));
            if s.status == HostStatus::Stale {
                events.push(Event::HostRecovered(HostRef {
                    hostname: s.hostname.clone(),
                }));
            }
            Ok(events)
        }
        HostCommand::Delete { expected } => {
            let s = live.ok_or(DomainError::NotFound("host"))?;
            expect_version("host", expected, s.version)?;
            Ok(vec![Event::HostDeleted(HostRef {
                hostname: s.hostname.clone(),
            })])
        }
    }
}

/// Whether `metric` names a host series.
pub fn is_series_metric(metric: &str) -> bool {
    matches!(
        metric,
        "cpu_percent"
            | "memory_percent"
            | "load1"
            | "net_rx_bytes_per_s"
            | "net_tx_bytes_per_s"
            | "disk_read_bytes_per_s"
            | "disk_write_bytes_per_s"
    ) || metric
        .strip_prefix("disk_percent:")
        .is_some_and(|m| !m.is_empty())
}

impl super::Aggregate for HostState {
    fn stream(&self) -> crate::events::StreamId {
        crate::events::StreamId::host(&self.hostname)
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn apply_at(&mut self, event: &Event, position: u64, version: u64, at: DateTime<Utc>) {
        HostState::apply_at(self, event, position, version, at)
    }

    fn is_consequence(event: &Event) -> bool {
        is_consequence(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::HostWentStale;
    use chrono::{Duration, TimeZone};
    use serde_json::{json, Value};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid time")
    }

    fn agent(interval_s: Option<u32>) -> HostRegistered {
        HostRegistered {
            hostname: "web-1".into(),
            scrape_url: None,
            interval_s,
            stale_after_s: None,
            tags: vec![],
        }
    }

    /// The state after `events`, folded as versions 0, 1, 2, ... a second apart.
    fn given(events: &[Event]) -> Option<HostState> {
        let mut state: Option<HostState> = None;
        for (v, e) in events.iter().enumerate() {
            let at = t0() + Duration::seconds(v as i64);
            let v = v as u64;
            match (&mut state, e) {
                (None, Event::HostRegistered(r)) => state = Some(HostState::registered(r, v, at)),
                (Some(s), e) => s.apply_at(e, v + 1, v, at),
                (None, _) => panic!("a host's stream starts with HostRegistered"),
            }
        }
        state
    }

    fn sample_at(seconds: i64, body: Value) -> HostCommand {
        let mut body: PushBody = serde_json::from_value(body).expect("a push body");
        body.timestamp = Some(t0() + Duration::seconds(seconds));
        HostCommand::Sample(Box::new(Sample {
            body,
            now: t0() + Duration::hours(1),
        }))
    }

    fn decided_sample(state: Option<&HostState>, cmd: HostCommand) -> Vec<Event> {
        decide(state, cmd).expect("a sample accepted")
    }

    fn scraped(v: Value) -> Result<HostRegistered, DomainError> {
        serde_json::from_value::<ScrapedHostInput>(v)
            .expect("a scraped host body")
            .registration()
    }

    fn invalid_field<T: std::fmt::Debug>(r: Result<T, DomainError>) -> String {
        match r {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn register_of_a_new_host_records_its_registration() {
        let cmd = HostCommand::Register {
            registration: agent(Some(10)),
            if_registered: IfRegistered::Refuse,
        };
        assert_eq!(
            decide(None, cmd),
            Ok(vec![Event::HostRegistered(agent(Some(10)))])
        );
    }

    #[test]
    fn register_of_a_registered_host_is_a_conflict_or_kept_as_asked() {
        let state = given(&[Event::HostRegistered(agent(None))]);
        let refuse = HostCommand::Register {
            registration: agent(None),
            if_registered: IfRegistered::Refuse,
        };
        assert_eq!(
            decide(state.as_ref(), refuse),
            Err(DomainError::Conflict(
                "the host web-1 exists already".into()
            ))
        );
        let keep = HostCommand::Register {
            registration: agent(None),
            if_registered: IfRegistered::Keep,
        };
        assert_eq!(decide(state.as_ref(), keep), Ok(vec![]));
    }

    #[test]
    fn register_of_a_deleted_host_registers_it_again() {
        let state = given(&[
            Event::HostRegistered(agent(None)),
            Event::HostDeleted(HostRef {
                hostname: "web-1".into(),
            }),
        ]);
        let cmd = HostCommand::Register {
            registration: agent(Some(5)),
            if_registered: IfRegistered::Refuse,
        };
        assert_eq!(
            decide(state.as_ref(), cmd),
            Ok(vec![Event::HostRegistered(agent(Some(5)))])
        );
    }

    #[test]
    fn a_scraped_host_body_becomes_its_registration_with_the_default_interval() {
        let r = scraped(json!({"hostname": "DB-1", "scrape_url": "http://db-1:9100/metrics"}))
            .expect("valid");
        assert_eq!(r.hostname, "db-1");
        assert_eq!(r.interval_s, Some(DEFAULT_SCRAPE_INTERVAL_S));
        assert_eq!(r.scrape_url.as_deref(), Some("http://db-1:9100/metrics"));
    }

    #[test]
    fn a_scraped_host_body_is_refused_naming_the_field_at_fault() {
        let url = "http://db:9100/metrics";
        let cases = [
            (json!({"scrape_url": url}), "hostname"),
            (json!({"hostname": "a b", "scrape_url": url}), "hostname"),
            (json!({"hostname": "db"}), "scrape_url"),
            (
                json!({"hostname": "db", "scrape_url": "ftp://db/"}),
                "scrape_url",
            ),
            (
                json!({"hostname": "db", "scrape_url": "not a url"}),
                "scrape_url",
            ),
            (
                json!({"hostname": "db", "scrape_url": url, "interval_s": 0}),
                "interval_s",
            ),
            (
                json!({"hostname": "db", "scrape_url": url, "interval_s": 86401}),
                "interval_s",
            ),
            (
                json!({"hostname": "db", "scrape_url": url, "interval_s": 30, "stale_after_s": 10}),
                "stale_after_s",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(invalid_field(scraped(body.clone())), field, "{body}");
        }
    }

    #[test]
    fn a_push_names_its_host_by_path_or_body_and_refuses_a_disagreement() {
        let named: PushBody = serde_json::from_value(json!({"hostname": "Web-1"})).expect("body");
        assert_eq!(
            pushed_hostname(Some("WEB-1"), &named),
            Ok("web-1".to_owned())
        );
        assert_eq!(pushed_hostname(None, &named), Ok("web-1".to_owned()));
        assert_eq!(
            invalid_field(pushed_hostname(Some("web-2"), &named)),
            "hostname"
        );
        assert_eq!(
            invalid_field(pushed_hostname(None, &PushBody::default())),
            "hostname"
        );
        assert_eq!(
            invalid_field(pushed_hostname(Some("-bad"), &PushBody::default())),
            "hostname"
        );
    }

    #[test]
    fn a_first_sample_is_recorded_without_rates() {
        let state = given(&[Event::HostRegistered(agent(None))]);
        let events = decided_sample(
            state.as_ref(),
            sample_at(10, json!({"io": {"network": {"bytes_sent": 100}}})),
        );
        let [Event::HostMetricsReported(m)] = events.as_slice() else {
            panic!("one sample, got {events:?}");
        };
        assert_eq!(m.sampled_at, t0() + Duration::seconds(10));
        assert_eq!(m.rates, [None; 4]);
    }

    #[test]
    fn a_later_sample_gets_rates_from_the_one_before() {
        let state = given(&[Event::HostRegistered(agent(None))]).expect("registered");
        let first = decided_sample(
            Some(&state),
            sample_at(10, json!({"io": {"network": {"bytes_sent": 100}}})),
        );
        let mut events = vec![Event::HostRegistered(agent(None))];
        events.extend(first);
        let state = given(&events);
        let second = decided_sample(
            state.as_ref(),
            sample_at(20, json!({"io": {"network": {"bytes_sent": 1100}}})),
        );
        let [Event::HostMetricsReported(m)] = second.as_slice() else {
            panic!("one sample, got {second:?}");
        };
        assert_eq!(m.rates[0], Some(100.0));
    }

    #[test]
    fn a_sample_no_newer_than_the_last_is_a_duplicate_and_appends_nothing() {
        let mut events = vec![Event::HostRegistered(agent(None))];
        events.extend(decided_sample(
            given(&events).as_ref(),
            sample_at(10, json!({})),
        ));
        let state = given(&events);
        assert_eq!(decide(state.as_ref(), sample_at(10, json!({}))), Ok(vec![]));
        assert_eq!(decide(state.as_ref(), sample_at(5, json!({}))), Ok(vec![]));
    }

    #[test]
    fn a_sample_without_a_timestamp_is_taken_at_its_arrival() {
        let state = given(&[Event::HostRegistered(agent(None))]);
        let now = t0() + Duration::minutes(3);
        let events = decided_sample(
            state.as_ref(),
            HostCommand::Sample(Box::new(Sample {
                body: PushBody::default(),
                now,
            })),
        );
        let [Event::HostMetricsReported(m)] = events.as_slice() else {
            panic!("one sample, got {events:?}");
        };
        assert_eq!(m.sampled_at, now);
    }

    #[test]
    fn a_sample_with_a_new_interval_or_new_tags_registers_the_settings_again_first() {
        let state = given(&[Event::HostRegistered(agent(Some(10)))]);
        let events = decided_sample(
            state.as_ref(),
            sample_at(1, json!({"interval_s": 30, "tags": ["prod"]})),
        );
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0],
            Event::HostRegistered(HostRegistered {
                interval_s: Some(30),
                tags: vec!["prod".into()],
                ..agent(None)
            })
        );
        assert!(matches!(events[1], Event::HostMetricsReported(_)));
    }

    #[test]
    fn a_sample_with_the_same_settings_registers_nothing_again() {
        let state = given(&[Event::HostRegistered(agent(Some(10)))]);
        let events = decided_sample(state.as_ref(), sample_at(1, json!({"interval_s": 10})));
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn a_sample_that_changes_the_interval_to_zero_is_refused_naming_interval_s() {
        let state = given(&[Event::HostRegistered(agent(Some(10)))]);
        let r = decide(state.as_ref(), sample_at(1, json!({"interval_s": 0})));
        assert_eq!(invalid_field(r), "interval_s");
    }

    #[test]
    fn a_sample_of_a_scraped_host_keeps_its_registration_whatever_the_body_says() {
        let scraped = HostRegistered {
            scrape_url: Some("http://web-1:9100/metrics".into()),
            ..agent(Some(15))
        };
        let state = given(&[Event::HostRegistered(scraped)]);
        let events = decided_sample(state.as_ref(), sample_at(1, json!({"interval_s": 60})));
        assert_eq!(events.len(), 1);
        assert!(matches!(events[0], Event::HostMetricsReported(_)));
    }

    #[test]
    fn a_sample_of_a_stale_host_is_followed_by_its_recovery() {
        let state = given(&[
            Event::HostRegistered(agent(None)),
            Event::HostWentStale(HostWentStale {
                hostname: "web-1".into(),
                last_seen: None,
                window_s: 180,
            }),
        ]);
        let events = decided_sample(state.as_ref(), sample_at(10, json!({})));
        assert_eq!(events.len(), 2);
        assert!(!is_consequence(&events[0]));
        assert!(is_consequence(&events[1]));
    }

    #[test]
    fn an_invalid_sample_is_refused_naming_the_field_even_for_an_unknown_host() {
        let bad = sample_at(1, json!({"cpu": {"cpu_percent_total": 150.0}}));
        assert_eq!(invalid_field(decide(None, bad)), "cpu.cpu_percent_total");
    }

    #[test]
    fn a_sample_for_a_deleted_host_is_not_found() {
        let state = given(&[
            Event::HostRegistered(agent(None)),
            Event::HostDeleted(HostRef {
                hostname: "web-1".into(),
            }),
        ]);
        assert_eq!(
            decide(state.as_ref(), sample_at(1, json!({}))),
            Err(DomainError::NotFound("host"))
        );
    }

    #[test]
    fn delete_deletes_and_deleting_twice_is_not_found() {
        let mut events = vec![Event::HostRegistered(agent(None))];
        let deleted = decide(
            given(&events).as_ref(),
            HostCommand::Delete { expected: Some(0) },
        )
        .expect("deleted");
        assert_eq!(
            deleted,
            vec![Event::HostDeleted(HostRef {
                hostname: "web-1".into()
            })]
        );
        events.extend(deleted);
        assert_eq!(
            decide(
                given(&events).as_ref(),
                HostCommand::Delete { expected: None }
            ),
            Err(DomainError::NotFound("host"))
        );
    }

    #[test]
    fn delete_with_a_stale_version_is_a_version_mismatch() {
        let state = given(&[Event::HostRegistered(agent(None))]);
        assert_eq!(
            decide(state.as_ref(), HostCommand::Delete { expected: Some(4) }),
            Err(DomainError::VersionMismatch {
                what: "host",
                expected: 4,
                actual: 0
            })
        );
    }
}
