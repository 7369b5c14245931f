//! Gotify: `POST {server_url}/message` with the application token in the `X-Gotify-Key`
//! header and a JSON body `{title, message, priority, extras}`.

use serde_json::{json, Value};

use super::channel::{check_secret, check_url};
use super::text::{plain_lines, truncate, web_url};
use super::{Notification, NotificationState};
use crate::events::GotifySettings;

/// The header that carries the application token.
pub(crate) const KEY_HEADER: &str = "X-Gotify-Key";
/// The priority of everything but a firing alert: shown, no sound on most clients.
const QUIET_PRIORITY: u8 = 2;

/// Where the message goes.
pub(crate) fn url(s: &GotifySettings) -> String {
    format!("{}/message", s.server_url.trim_end_matches('/'))
}

/// The priority: the channel's, or 8 / 5 / 2 by severity, while firing; at most 2 otherwise.
pub(crate) fn priority(s: &GotifySettings, n: &Notification) -> u8 {
    match n.state {
        NotificationState::Firing => s.priority.unwrap_or(match n.severity.as_str() {
            "critical" => 8,
            "warning" => 5,
            _ => QUIET_PRIORITY,
        }),
        _ => s.priority.unwrap_or(QUIET_PRIORITY).min(QUIET_PRIORITY),
    }
}

/// The message body for `n`; the link opens when the notification is clicked.
pub(crate) fn payload(s: &GotifySettings, n: &Notification) -> Value {
    let mut extras = json!({"client::display": {"contentType": "text/plain"}});
    if web_url(&n.link).is_some() {
        extras["client::notification"] = json!({"click": {"url": n.link}});
    }
    json!({
        "title": truncate(&n.summary(), 250),
        "message": plain_lines(n, 3000),
        "priority": priority(s, n),
        "extras": extras,
    })
}

/// Checks a Gotify channel: a server URL, a token, a priority 0 to 10.
pub(crate) fn validate(s: &GotifySettings) -> Result<(), (String, String)> {
    check_url("server_url", &s.server_url)?;
    check_secret("app_token", &s.app_token)?;
    if s.priority.is_some_and(|p| p > 10) {
        return Err(("priority".into(), "must be 0 to 10".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::firing;

    fn settings() -> GotifySettings {
        GotifySettings {
            server_url: "https://push.example.com/".into(),
            app_token: "AbCdEf.123".into(),
            priority: None,
        }
    }

    #[test]
    fn the_body_has_title_message_and_priority() {
        assert_eq!(url(&settings()), "https://push.example.com/message");
        let p = payload(&settings(), &firing());
        assert_eq!(p["title"], "[FIRING critical] shop down: monitor shop");
        assert_eq!(p["priority"], 8);
        assert!(p["message"]
            .as_str()
            .expect("text")
            .contains("Cause: HTTP 503"));
        assert!(p["extras"]["client::notification"]["click"]["url"]
            .as_str()
            .expect("a link")
            .starts_with("https://watchfire.example.com/"));
        let mut n = firing();
        n.state = NotificationState::Resolved;
        assert_eq!(payload(&settings(), &n)["priority"], 2);
    }

    #[test]
    fn validation_names_the_field() {
        let field = |s: GotifySettings| validate(&s).expect_err("refused").0;
        assert!(validate(&settings()).is_ok());
        let mut s = settings();
        s.server_url = "gotify.local".into();
        assert_eq!(field(s), "server_url");
        let mut s = settings();
        s.app_token = String::new();
        assert_eq!(field(s), "app_token");
        let mut s = settings();
        s.priority = Some(11);
        assert_eq!(field(s), "priority");
    }
}
