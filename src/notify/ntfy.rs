//! ntfy: `POST {server_url}/{topic}` with the message as a plain-text body and the title,
//! priority, tags and click link as headers (the title RFC 2047-encoded when it is not
//! ASCII, as ntfy decodes it).

use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};

use super::channel::{check_base_url, check_secret};
use super::text::{one_line, plain_lines, truncate, truncate_bytes, web_url};
use super::{Notification, NotificationState};
use crate::events::NtfySettings;

/// The public server, when the channel names none.
pub(crate) const DEFAULT_SERVER: &str = "https://ntfy.sh";
/// Largest message ntfy keeps as text (a larger one becomes an attachment).
const MESSAGE_MAX_BYTES: usize = 4096;
/// Most extra tags a channel may add.
const MAX_TAGS: usize = 10;
/// ntfy's default priority, used for everything but a firing alert.
const DEFAULT_PRIORITY: u8 = 3;

/// Where the message goes.
pub(crate) fn url(s: &NtfySettings) -> String {
    let server = s.server_url.as_deref().unwrap_or(DEFAULT_SERVER);
    format!("{}/{}", server.trim_end_matches('/'), s.topic)
}

/// The message body: the facts, in at most 4096 bytes.
pub(crate) fn message(n: &Notification) -> String {
    truncate_bytes(&plain_lines(n, 2000), MESSAGE_MAX_BYTES)
}

/// The priority: the channel's, or 5 / 4 / 3 by severity, while firing; never above the
/// default otherwise, so a resolution does not ring like an alarm.
pub(crate) fn priority(s: &NtfySettings, n: &Notification) -> u8 {
    match n.state {
        NotificationState::Firing => s.priority.unwrap_or(match n.severity.as_str() {
            "critical" => 5,
            "warning" => 4,
            _ => DEFAULT_PRIORITY,
        }),
        _ => s.priority.unwrap_or(DEFAULT_PRIORITY).min(DEFAULT_PRIORITY),
    }
}

/// The state's own tag (an emoji short code ntfy shows as an icon), then the channel's.
fn tags(s: &NtfySettings, n: &Notification) -> String {
    let own = match n.state {
        NotificationState::Resolved => "white_check_mark",
        NotificationState::Test => "test_tube",
        NotificationState::Acknowledged => "eyes",
        NotificationState::Firing => match n.severity.as_str() {
            "critical" => "rotating_light",
            "warning" => "warning",
            _ => "information_source",
        },
    };
    std::iter::once(own)
        .chain(s.tags.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(",")
}

/// The headers besides auth: content type, Title, Priority, Tags, and Click when the link
/// is a web URL.
pub(crate) fn headers(s: &NtfySettings, n: &Notification) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = vec![
        (
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ),
        (
            HeaderName::from_static("title"),
            header_text(&truncate(&n.summary(), 250)),
        ),
        (
            HeaderName::from_static("priority"),
            HeaderValue::from(u16::from(priority(s, n))),
        ),
        (HeaderName::from_static("tags"), header_text(&tags(s, n))),
    ];
    if web_url(&n.link).is_some() {
        if let Ok(link) = HeaderValue::from_str(&n.link) {
            out.push((HeaderName::from_static("click"), link));
        }
    }
    out
}

/// A header value for text: as it is when printable ASCII, else an RFC 2047 `Q` encoded word.
fn header_text(s: &str) -> HeaderValue {
    let s = one_line(s);
    if s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        if let Ok(v) = HeaderValue::from_str(&s) {
            return v;
        }
    }
    let mut encoded = String::from("=?UTF-8?Q?");
    for b in s.bytes() {
        match b {
            b' ' => encoded.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                encoded.push(char::from(b))
            }
            _ => encoded.push_str(&format!("={b:02X}")),
        }
    }
    encoded.push_str("?=");
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static("watchfire"))
}

/// Checks an ntfy channel: a topic of ntfy's characters, a priority 1 to 5, plain tags, and
/// a token or a user with a password, not both.
pub(crate) fn validate(s: &NtfySettings) -> Result<(), (String, String)> {
    check_base_url("server_url", &s.server_url)?;
    let topic_ok = (1..=64).contains(&s.topic.len())
        && s.topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !topic_ok {
        return Err((
            "topic".into(),
            "is required: 1 to 64 letters, digits, _ or -".into(),
        ));
    }
    if s.priority.is_some_and(|p| !(1..=5).contains(&p)) {
        return Err(("priority".into(), "must be 1 to 5".into()));
    }
    if s.tags.len() > MAX_TAGS {
        return Err(("tags".into(), format!("at most {MAX_TAGS} tags")));
    }
    for (i, tag) in s.tags.iter().enumerate() {
        let ok =
            (1..=50).contains(&tag.len()) && tag.chars().all(|c| c.is_ascii_graphic() && c != ',');
        if !ok {
            return Err((
                format!("tags[{i}]"),
                "a tag is 1 to 50 printable ASCII characters without a comma".into(),
            ));
        }
    }
    if let Some(token) = &s.token {
        check_secret("token", token)?;
        if s.username.is_some() || s.password.is_some() {
            return Err((
                "token".into(),
                "use a token or a username and password, not both".into(),
            ));
        }
    }
    match (&s.username, &s.password) {
        (Some(user), Some(password)) => {
            if user.is_empty()
                || user.len() > 200
                || user.contains(':')
                || user.chars().any(char::is_control)
            {
                return Err((
                    "username".into(),
                    "must be 1 to 200 characters without : or control characters".into(),
                ));
            }
            check_secret("password", password)
        }
        (Some(_), None) => Err(("password".into(), "is required with a username".into())),
        (None, Some(_)) => Err(("username".into(), "is required with a password".into())),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::firing;

    fn settings() -> NtfySettings {
        NtfySettings {
            server_url: None,
            topic: "watchfire-ops".into(),
            priority: None,
            tags: vec!["prod".into()],
            token: None,
            username: None,
            password: None,
        }
    }

    fn header<'a>(h: &'a [(HeaderName, HeaderValue)], name: &str) -> &'a str {
        h.iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    #[test]
    fn the_message_goes_to_the_topic_with_title_priority_and_tags() {
        assert_eq!(url(&settings()), "https://ntfy.sh/watchfire-ops");
        let h = headers(&settings(), &firing());
        assert_eq!(
            header(&h, "title"),
            "[FIRING critical] shop down: monitor shop"
        );
        assert_eq!(header(&h, "priority"), "5");
        assert_eq!(header(&h, "tags"), "rotating_light,prod");
        assert!(header(&h, "click").starts_with("https://watchfire.example.com/"));
        assert!(message(&firing()).contains("Cause: HTTP 503"));
    }

    #[test]
    fn only_a_firing_alert_rings_above_the_default() {
        let mut s = settings();
        s.priority = Some(5);
        let mut n = firing();
        assert_eq!(priority(&s, &n), 5);
        n.state = NotificationState::Resolved;
        assert_eq!(priority(&s, &n), 3);
        s.priority = Some(1);
        assert_eq!(priority(&s, &n), 1);
        n.state = NotificationState::Firing;
        n.severity = "warning".into();
        assert_eq!(priority(&settings(), &n), 4);
    }

    #[test]
    fn a_title_that_is_not_ascii_is_an_encoded_word() {
        let mut n = firing();
        n.rule_name = "café down".into();
        let h = headers(&settings(), &n);
        assert_eq!(
            header(&h, "title"),
            "=?UTF-8?Q?=5BFIRING_critical=5D_caf=C3=A9_down=3A_monitor_shop?="
        );
    }

    #[test]
    fn long_messages_stay_text() {
        let mut n = firing();
        n.cause = "é".repeat(10_000);
        assert!(message(&n).len() <= MESSAGE_MAX_BYTES);
    }

    #[test]
    fn validation_names_the_field() {
        let field = |s: NtfySettings| validate(&s).expect_err("refused").0;
        assert!(validate(&settings()).is_ok());
        let mut s = settings();
        s.topic = "a/b".into();
        assert_eq!(field(s), "topic");
        let mut s = settings();
        s.priority = Some(6);
        assert_eq!(field(s), "priority");
        let mut s = settings();
        s.tags = vec!["a,b".into()];
        assert_eq!(field(s), "tags[0]");
        let mut s = settings();
        s.token = Some("tk_x".into());
        s.username = Some("u".into());
        s.password = Some("p".into());
        assert_eq!(field(s), "token");
        let mut s = settings();
        s.username = Some("u".into());
        assert_eq!(field(s), "password");
        let mut s = settings();
        s.server_url = Some("nope".into());
        assert_eq!(field(s), "server_url");
    }
}
