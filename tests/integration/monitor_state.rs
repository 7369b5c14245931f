//! The monitor state machine as a pure fold: thresholds, transitions and what resets them.

use chrono::{TimeZone, Utc};
use uuid::Uuid;
use watchfire::domain::monitor::{MonitorState, Status, Transition};
use watchfire::events::{
    Event, Expectations, MonitorChecked, MonitorConfig, MonitorCreated, MonitorKind, MonitorRef,
};

fn config(retries: u32, recover_after: u32) -> MonitorConfig {
    MonitorConfig {
        name: "m".into(),
        kind: MonitorKind::Http,
        url: Some("http://127.0.0.1/".into()),
        host: None,
        port: None,
        record_type: None,
        resolver: None,
        interval_s: 10,
        timeout_ms: 1000,
        retries,
        recover_after,
        method: "GET".into(),
        headers: Default::default(),
        body: None,
        follow_redirects: true,
        ignore_tls_errors: false,
        expect: Expectations::default(),
        cert_expiry_days: None,
        grace_s: 0,
        tags: vec![],
        ping: None,
    }
}

/// A monitor state with a helper to fold events in at increasing versions.
struct Fold {
    state: MonitorState,
}

impl Fold {
    fn new(retries: u32, recover_after: u32) -> Fold {
        let created = MonitorCreated {
            monitor_id: Uuid::nil(),
            config: config(retries, recover_after),
            paused: false,
            push_token: None,
        };
        Fold {
            state: MonitorState::created(&created, 0, Utc.timestamp_opt(0, 0).unwrap()),
        }
    }

    fn apply(&mut self, event: Event) {
        let v = self.state.version + 1;
        self.state
            .apply_at(&event, v + 100, v, Utc.timestamp_opt(v as i64, 0).unwrap());
    }

    /// Folds a check, then the transition it calls for (as the actor does); returns that transition.
    fn check(&mut self, ok: bool) -> Option<Transition> {
        self.apply(Event::MonitorChecked(MonitorChecked {
            monitor_id: Uuid::nil(),
            ok,
            latency_ms: 1.0,
            status_code: Some(if ok { 200 } else { 503 }),
            error: (!ok).then(|| "status 503".to_owned()),
            cert_expires_at: None,
            ping: None,
        }));
        let t = self.state.transition();
        if let Some(t) = &t {
            self.apply(t.event(Uuid::nil()));
        }
        t
    }
}

#[test]
fn pending_monitor_goes_up_on_its_first_passing_check() {
    let mut m = Fold::new(3, 2);
    assert_eq!(m.state.status, Status::Pending);
    assert_eq!(m.check(true), Some(Transition::WentUp));
    assert_eq!(m.state.status, Status::Up);
    assert_eq!(m.check(true), None);
}

#[test]
fn up_monitor_goes_down_only_after_retries_failures_in_a_row() {
    let mut m = Fold::new(3, 1);
    m.check(true);
    assert_eq!(m.check(false), None);
    assert_eq!(m.check(false), None);
    // A pass in between starts the count again.
    assert_eq!(m.check(true), None);
    assert_eq!(m.check(false), None);
    assert_eq!(m.check(false), None);
    assert_eq!(
        m.check(false),
        Some(Transition::WentDown("status 503".into()))
    );
    assert_eq!(m.state.status, Status::Down);
    assert_eq!(m.state.down_reason.as_deref(), Some("status 503"));
}

#[test]
fn down_monitor_recovers_after_recover_after_passes_in_a_row() {
    let mut m = Fold::new(1, 3);
    m.check(true);
    assert!(matches!(m.check(false), Some(Transition::WentDown(_))));
    assert_eq!(m.check(true), None);
    assert_eq!(m.check(true), None);
    assert_eq!(m.check(false), None, "a failure while down changes nothing");
    assert_eq!(m.check(true), None);
    assert_eq!(m.check(true), None);
    assert_eq!(m.check(true), Some(Transition::Recovered));
    assert_eq!(m.state.status, Status::Up);
    assert_eq!(m.state.down_reason, None);
}

#[test]
fn zero_retries_and_recover_after_act_as_one() {
    let mut m = Fold::new(0, 0);
    assert!(matches!(m.check(false), Some(Transition::WentDown(_))));
    assert_eq!(m.check(true), Some(Transition::Recovered));
}

#[test]
fn paused_monitor_makes_no_transition_and_resumes_pending_with_fresh_counts() {
    let mut m = Fold::new(2, 1);
    m.check(true);
    m.check(false);
    m.apply(Event::MonitorPaused(MonitorRef {
        monitor_id: Uuid::nil(),
    }));
    assert_eq!(m.state.status, Status::Paused);
    assert_eq!(m.check(false), None);
    assert_eq!(m.check(false), None);
    m.apply(Event::MonitorResumed(MonitorRef {
        monitor_id: Uuid::nil(),
    }));
    assert_eq!(m.state.status, Status::Pending);
    assert_eq!((m.state.failures, m.state.successes), (0, 0));
    assert_eq!(m.check(false), None);
    assert!(matches!(m.check(false), Some(Transition::WentDown(_))));
}
