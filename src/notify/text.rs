//! Text shaping shared by the channels: escaping, truncation to a platform's limit, and
//! URLs reduced to what may be shown.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Url;

/// What ends a text that was cut to fit.
const ELLIPSIS: char = '…';

/// `s` on one line: control characters (newlines included) become spaces, so user text
/// cannot add header lines or break a title.
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `s` cut to at most `max` characters (not bytes: the platforms count characters), ending
/// in `…` when something was cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    fit(s, max, |c, out| out.push(c))
}

/// `s` escaped by `escape` and cut so that the escaped text has at most `max` characters,
/// never in the middle of an escape, ending in `…` when something was cut.
pub(crate) fn fit(s: &str, max: usize, escape: impl Fn(char, &mut String)) -> String {
    let mut out = String::new();
    let mut used = 0;
    let mut piece = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        piece.clear();
        escape(c, &mut piece);
        let len = piece.chars().count();
        // The last character may use the room kept for the ellipsis.
        let room = if chars.peek().is_none() {
            max
        } else {
            max.saturating_sub(1)
        };
        if used + len > room {
            if max > 0 {
                out.push(ELLIPSIS);
            }
            return out;
        }
        out.push_str(&piece);
        used += len;
    }
    out
}

/// Escapes one character for HTML text and attribute values.
pub(crate) fn html_char(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

/// `s` escaped for HTML text and attribute values.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        html_char(c, &mut out);
    }
    out
}

/// Escapes one character for Slack text: Slack uses `&`, `<` and `>` for its control
/// sequences (`<!channel>` would notify everyone), and only those three.
pub(crate) fn slack_char(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// The time as RFC 3339 in UTC to the second, such as `2025-03-01T12:00:00Z`.
pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `s` parsed as an `http` or `https` URL with a host.
pub(crate) fn web_url(s: &str) -> Option<Url> {
    let url = Url::parse(s).ok()?;
    let web = matches!(url.scheme(), "http" | "https");
    let host = url.host_str().is_some_and(|h| !h.is_empty());
    (web && host).then_some(url)
}

/// What of a URL may be shown: scheme, host and port, then `/…` for the path and query
/// (where webhook tokens live). Not a URL at all shows as `…`.
pub(crate) fn redact_url(s: &str) -> String {
    let Ok(url) = Url::parse(s) else {
        return ELLIPSIS.to_string();
    };
    let Some(host) = url.host_str() else {
        return format!("{}:{ELLIPSIS}", url.scheme());
    };
    match url.port() {
        Some(port) => format!("{}://{host}:{port}/{ELLIPSIS}", url.scheme()),
        None => format!("{}://{host}/{ELLIPSIS}", url.scheme()),
    }
}

/// The glyph that tells a notification's state at a glance (chat titles, push titles).
pub(crate) fn state_icon(n: &super::Notification) -> &'static str {
    use super::NotificationState;
    match n.state {
        NotificationState::Resolved => "✅",
        NotificationState::Test => "🧪",
        NotificationState::Acknowledged => "👀",
        NotificationState::Firing => match n.severity.as_str() {
            "critical" => "🔴",
            "warning" => "🟠",
            _ => "🔵",
        },
    }
}

/// `s` cut so that its UTF-8 takes at most `max` bytes, never inside a character, ending in
/// `…` when something was cut.
pub(crate) fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let room = max.saturating_sub(ELLIPSIS.len_utf8());
    let mut end = room;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &s[..end])
}

/// The plain-text lines every push and chat channel shows under its title: subject, rule,
/// severity and state, the cause (cut to `cause_max` characters), the time, and the link.
pub(crate) fn plain_lines(n: &super::Notification, cause_max: usize) -> String {
    let mut state = n.state.as_str().to_owned();
    if n.repeat > 0 {
        state.push_str(&format!(" (repeat {})", n.repeat));
    }
    let mut out = format!(
        "Subject: {}\nRule: {}\nSeverity: {}\nState: {state}\nCause: {}\nAt: {}",
        truncate(&one_line(&n.subject), 200),
        truncate(&one_line(&n.rule_name), 200),
        truncate(&one_line(&n.severity), 50),
        truncate(&n.cause, cause_max),
        rfc3339(n.at),
    );
    if !n.link.is_empty() {
        out.push_str(&format!("\n{}", truncate(&one_line(&n.link), 1000)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaping_covers_text_and_attributes() {
        assert_eq!(
            escape_html(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape_html("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exactly10!", 10), "exactly10!");
        assert_eq!(truncate("eleven char", 10), "eleven ch…");
        assert_eq!(truncate("ééééé", 3), "éé…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn escaped_fit_never_splits_an_entity() {
        let out = fit("a&b", 5, slack_char);
        assert_eq!(out, "a…");
        let out = fit("a&b", 7, slack_char);
        assert_eq!(out, "a&amp;b");
        let long = "<".repeat(1000);
        let out = fit(&long, 3000, slack_char);
        let len = out.chars().count();
        assert!((2995..=3000).contains(&len), "{len}");
        assert!(out.ends_with("&lt;…"), "{}", &out[out.len() - 20..]);
    }

    #[test]
    fn byte_truncation_never_splits_a_character() {
        assert_eq!(truncate_bytes("short", 10), "short");
        let cut = truncate_bytes("ééééé", 7);
        assert!(cut.len() <= 7, "{cut}");
        assert_eq!(cut, "éé…");
    }

    #[test]
    fn one_line_removes_line_breaks() {
        assert_eq!(one_line("a\r\nb\tc"), "a  b c");
    }

    #[test]
    fn redaction_keeps_only_scheme_host_and_port() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T000/B000/webhook-credential"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact_url("http://user:pw@127.0.0.1:8080/hook?token=abc"),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(redact_url("not a url"), "…");
    }

    #[test]
    fn only_http_urls_with_a_host_are_web_urls() {
        assert!(web_url("https://example.com/x").is_some());
        assert!(web_url("http://127.0.0.1:9/").is_some());
        assert!(web_url("ftp://example.com/").is_none());
        assert!(web_url("javascript:alert(1)").is_none());
        assert!(web_url("mailto:a@b.c").is_none());
    }
}
