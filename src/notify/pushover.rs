//! Pushover: `POST {api_url}/1/messages.json`, form-encoded `token`, `user`, `message`,
//! `title`, `priority` (with `retry` and `expire` at priority 2), and the optional `device`
//! and `sound`.

use super::channel::{check_base_url, check_secret};
use super::text::{one_line, plain_lines, truncate, web_url};
use super::{Notification, NotificationState};
use crate::events::PushoverSettings;

/// The API when the channel names none.
pub(crate) const DEFAULT_API: &str = "https://api.pushover.net";
/// Longest message Pushover takes, in characters.
const MESSAGE_MAX_CHARS: usize = 1024;
/// Longest title.
const TITLE_MAX_CHARS: usize = 250;
/// Shortest wait between repeats of an emergency (priority 2) message.
const MIN_RETRY_S: u32 = 30;
/// Longest an emergency message repeats.
const MAX_EXPIRE_S: u32 = 10_800;

/// Where the message goes.
pub(crate) fn url(s: &PushoverSettings) -> String {
    let api = s.api_url.as_deref().unwrap_or(DEFAULT_API);
    format!("{}/1/messages.json", api.trim_end_matches('/'))
}

/// The priority: the channel's, or 1 / 0 / -1 by severity, while firing; at most 0
/// otherwise, so a resolution never asks to be acknowledged in Pushover.
pub(crate) fn priority(s: &PushoverSettings, n: &Notification) -> i8 {
    match n.state {
        NotificationState::Firing => s.priority.unwrap_or(match n.severity.as_str() {
            "critical" => 1,
            "warning" => 0,
            _ => -1,
        }),
        _ => s.priority.unwrap_or(0).min(0),
    }
}

/// The form fields for `n`, in the order Pushover documents them.
pub(crate) fn form(s: &PushoverSettings, n: &Notification) -> Vec<(&'static str, String)> {
    let priority = priority(s, n);
    let mut form = vec![
        ("token", s.token.clone()),
        ("user", s.user.clone()),
        (
            "message",
            truncate(&plain_lines(&no_link(n), 600), MESSAGE_MAX_CHARS),
        ),
        ("title", truncate(&one_line(&n.summary()), TITLE_MAX_CHARS)),
        ("priority", priority.to_string()),
        ("timestamp", n.at.timestamp().to_string()),
    ];
    if priority == 2 {
        form.push(("retry", s.retry.unwrap_or(MIN_RETRY_S).to_string()));
        form.push(("expire", s.expire.unwrap_or(3600).to_string()));
    }
    if web_url(&n.link).is_some() && n.link.len() <= 512 {
        form.push(("url", n.link.clone()));
        form.push(("url_title", "Open in watchfire".to_owned()));
    }
    if let Some(device) = &s.device {
        form.push(("device", device.clone()));
    }
    if let Some(sound) = &s.sound {
        form.push(("sound", sound.clone()));
    }
    form
}

/// The notification without its link, which Pushover shows as a button instead.
fn no_link(n: &Notification) -> Notification {
    Notification {
        link: String::new(),
        ..n.clone()
    }
}

/// A Pushover key: 30 letters and digits.
fn is_key(s: &str) -> bool {
    s.len() == 30 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Checks a Pushover channel: keys of Pushover's shape, a priority -2 to 2, and at priority 2
/// a retry of at least 30 s and an expiry of at most 10800 s.
pub(crate) fn validate(s: &PushoverSettings) -> Result<(), (String, String)> {
    check_secret("token", &s.token)?;
    if !is_key(&s.token) {
        return Err((
            "token".into(),
            "must be the application's 30-character API token".into(),
        ));
    }
    if !is_key(&s.user) {
        return Err((
            "user".into(),
            "is required: the 30-character user or group key".into(),
        ));
    }
    if let Some(p) = s.priority {
        if !(-2..=2).contains(&p) {
            return Err(("priority".into(), "must be -2 to 2".into()));
        }
    }
    if s.priority == Some(2) {
        match s.retry {
            Some(r) if r >= MIN_RETRY_S => {}
            _ => {
                return Err((
                    "retry".into(),
                    format!("priority 2 needs retry, at least {MIN_RETRY_S} seconds"),
                ))
            }
        }
        match s.expire {
            Some(e) if (1..=MAX_EXPIRE_S).contains(&e) => {}
            _ => {
                return Err((
                    "expire".into(),
                    format!("priority 2 needs expire, 1 to {MAX_EXPIRE_S} seconds"),
                ))
            }
        }
    }
    let name_ok = |v: &str, extra: char| {
        (1..=100).contains(&v.len())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == extra)
    };
    if s.device.as_deref().is_some_and(|d| !name_ok(d, ',')) {
        return Err((
            "device".into(),
            "device names are letters, digits, _ and -, comma-separated".into(),
        ));
    }
    if s.sound.as_deref().is_some_and(|d| !name_ok(d, '_')) {
        return Err((
            "sound".into(),
            "a sound name is letters, digits, _ and -".into(),
        ));
    }
    check_base_url("api_url", &s.api_url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::firing;

    fn settings() -> PushoverSettings {
        PushoverSettings {
            token: "azGDORePK8gMaC0QOYAMyEEuzJnyUi".into(),
            user: "uQiRzpo4DXghDmr9QzzfQu27cmVRsG".into(),
            device: None,
            sound: None,
            priority: None,
            retry: None,
            expire: None,
            api_url: None,
        }
    }

    fn field<'a>(form: &'a [(&str, String)], name: &str) -> Option<&'a str> {
        form.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_form_has_the_documented_fields() {
        assert_eq!(url(&settings()), "https://api.pushover.net/1/messages.json");
        let f = form(&settings(), &firing());
        assert_eq!(field(&f, "token"), Some("azGDORePK8gMaC0QOYAMyEEuzJnyUi"));
        assert_eq!(field(&f, "user"), Some("uQiRzpo4DXghDmr9QzzfQu27cmVRsG"));
        assert_eq!(
            field(&f, "title"),
            Some("[FIRING critical] shop down: monitor shop")
        );
        assert_eq!(field(&f, "priority"), Some("1"));
        assert!(field(&f, "message").is_some_and(|m| m.contains("Cause: HTTP 503")));
        assert_eq!(field(&f, "retry"), None);
    }

    #[test]
    fn emergency_priority_sends_retry_and_expire_only_while_firing() {
        let mut s = settings();
        s.priority = Some(2);
        s.retry = Some(60);
        s.expire = Some(1800);
        s.sound = Some("siren".into());
        let f = form(&s, &firing());
        assert_eq!(field(&f, "priority"), Some("2"));
        assert_eq!(field(&f, "retry"), Some("60"));
        assert_eq!(field(&f, "expire"), Some("1800"));
        assert_eq!(field(&f, "sound"), Some("siren"));
        let mut n = firing();
        n.state = NotificationState::Resolved;
        let f = form(&s, &n);
        assert_eq!(field(&f, "priority"), Some("0"));
        assert_eq!(field(&f, "retry"), None);
    }

    #[test]
    fn validation_names_the_field() {
        let field = |s: PushoverSettings| validate(&s).expect_err("refused").0;
        assert!(validate(&settings()).is_ok());
        let mut s = settings();
        s.token = "short".into();
        assert_eq!(field(s), "token");
        let mut s = settings();
        s.user = String::new();
        assert_eq!(field(s), "user");
        let mut s = settings();
        s.priority = Some(3);
        assert_eq!(field(s), "priority");
        let mut s = settings();
        s.priority = Some(2);
        assert_eq!(field(s.clone()), "retry");
        s.retry = Some(30);
        assert_eq!(field(s.clone()), "expire");
        s.expire = Some(20_000);
        assert_eq!(field(s), "expire");
    }
}
