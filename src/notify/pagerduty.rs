//! PagerDuty's Events API v2: `POST {events_url}/v2/enqueue`. A firing alert triggers, an
//! acknowledgement acknowledges and a resolution resolves, all with the alert's id as the
//! `dedup_key`, so PagerDuty's own incident follows the alert's lifecycle.

use serde_json::{json, Value};

use super::channel::check_base_url;
use super::text::{one_line, rfc3339, truncate, web_url};
use super::{Notification, NotificationState};
use crate::events::PagerDutySettings;

/// The Events API when the channel names none.
pub(crate) const DEFAULT_EVENTS_URL: &str = "https://events.pagerduty.com";
/// Longest `payload.summary` PagerDuty keeps.
const SUMMARY_MAX_CHARS: usize = 1024;
/// Longest `payload.source`.
const SOURCE_MAX_CHARS: usize = 255;

/// Where events go.
pub(crate) fn url(s: &PagerDutySettings) -> String {
    let base = s.events_url.as_deref().unwrap_or(DEFAULT_EVENTS_URL);
    format!("{}/v2/enqueue", base.trim_end_matches('/'))
}

/// The `event_action` for a notification's state.
pub(crate) fn action(n: &Notification) -> &'static str {
    match n.state {
        NotificationState::Firing | NotificationState::Test => "trigger",
        NotificationState::Acknowledged => "acknowledge",
        NotificationState::Resolved => "resolve",
    }
}

/// PagerDuty's severity for watchfire's: the same words, `info` for a test.
fn severity(n: &Notification) -> &'static str {
    if n.state == NotificationState::Test {
        return "info";
    }
    match n.severity.as_str() {
        "critical" => "critical",
        "warning" => "warning",
        "info" => "info",
        _ => "error",
    }
}

/// The event for `n`: a trigger carries the payload, an acknowledge or resolve only names
/// the incident by its `dedup_key`.
pub(crate) fn payload(s: &PagerDutySettings, n: &Notification) -> Value {
    let action = action(n);
    let dedup_key = n.alert_id.to_string();
    if action != "trigger" {
        return json!({
            "routing_key": s.routing_key,
            "event_action": action,
            "dedup_key": dedup_key,
        });
    }
    let source = s.source.clone().unwrap_or_else(|| one_line(&n.subject));
    let summary = format!("{} {}", n.tag(), n.headline());
    let mut event = json!({
        "routing_key": s.routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
        "payload": {
            "summary": truncate(&summary, SUMMARY_MAX_CHARS),
            "source": truncate(&source, SOURCE_MAX_CHARS),
            "severity": severity(n),
            "timestamp": rfc3339(n.at),
            "component": truncate(&one_line(&n.subject), SOURCE_MAX_CHARS),
            "class": truncate(&one_line(&n.rule_name), SOURCE_MAX_CHARS),
            "custom_details": {
                "rule": n.rule_name,
                "subject": n.subject,
                "severity": n.severity,
                "state": n.state.as_str(),
                "cause": truncate(&n.cause, 4000),
                "repeat": n.repeat,
                "link": n.link,
            },
        },
        "client": "watchfire",
    });
    if web_url(&n.link).is_some() {
        event["client_url"] = json!(n.link);
        event["links"] = json!([{"href": n.link, "text": "Open in watchfire"}]);
    }
    event
}

/// Checks a PagerDuty channel: a 32-character routing key, a source of sane length.
pub(crate) fn validate(s: &PagerDutySettings) -> Result<(), (String, String)> {
    if s.routing_key.len() != 32 || !s.routing_key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err((
            "routing_key".into(),
            "is required: the integration's 32-character routing key".into(),
        ));
    }
    if let Some(source) = &s.source {
        if source.trim().is_empty() || source.chars().count() > SOURCE_MAX_CHARS {
            return Err((
                "source".into(),
                format!("must be 1 to {SOURCE_MAX_CHARS} characters"),
            ));
        }
    }
    check_base_url("events_url", &s.events_url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::firing;

    fn settings() -> PagerDutySettings {
        PagerDutySettings {
            routing_key: "R0UTINGKEY0123456789abcdefABCDEF".into(),
            events_url: None,
            source: None,
        }
    }

    #[test]
    fn a_firing_alert_triggers_with_the_documented_payload() {
        assert_eq!(url(&settings()), "https://events.pagerduty.com/v2/enqueue");
        let p = payload(&settings(), &firing());
        assert_eq!(p["routing_key"], "R0UTINGKEY0123456789abcdefABCDEF");
        assert_eq!(p["event_action"], "trigger");
        assert_eq!(p["dedup_key"], "01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(
            p["payload"]["summary"],
            "[FIRING critical] shop down: monitor shop"
        );
        assert_eq!(p["payload"]["source"], "monitor shop");
        assert_eq!(p["payload"]["severity"], "critical");
        assert_eq!(p["payload"]["timestamp"], "2025-03-01T12:30:05Z");
        assert_eq!(
            p["payload"]["custom_details"]["cause"],
            "HTTP 503 from https://shop.example.com/"
        );
    }

    #[test]
    fn acknowledge_and_resolve_name_the_same_incident() {
        let mut n = firing();
        for (state, action) in [
            (NotificationState::Acknowledged, "acknowledge"),
            (NotificationState::Resolved, "resolve"),
        ] {
            n.state = state;
            let p = payload(&settings(), &n);
            assert_eq!(
                p,
                json!({
                    "routing_key": "R0UTINGKEY0123456789abcdefABCDEF",
                    "event_action": action,
                    "dedup_key": "01234567-89ab-cdef-0123-456789abcdef",
                })
            );
        }
    }

    #[test]
    fn validation_names_the_field() {
        let field = |s: PagerDutySettings| validate(&s).expect_err("refused").0;
        assert!(validate(&settings()).is_ok());
        let mut s = settings();
        s.routing_key = "short".into();
        assert_eq!(field(s), "routing_key");
        let mut s = settings();
        s.source = Some(" ".into());
        assert_eq!(field(s), "source");
        let mut s = settings();
        s.events_url = Some("events.pagerduty.com".into());
        assert_eq!(field(s), "events_url");
    }
}
