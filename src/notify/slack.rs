//! Slack's incoming-webhook payload: fallback `text` plus Block Kit blocks (a header, a
//! mrkdwn section, a context line), each cut to the limit Slack documents for it, since
//! Slack refuses the whole message (HTTP 400) when one block is too long.

use serde_json::{json, Value};

use super::text::{fit, one_line, rfc3339, slack_char, state_icon, truncate, web_url};
use super::Notification;

/// Longest `plain_text` of a header block.
pub(crate) const HEADER_MAX_CHARS: usize = 150;
/// Longest text of a section block, or of any text object.
pub(crate) const TEXT_MAX_CHARS: usize = 3000;
/// Longest short field (subject, rule, severity) in the section, so the cause keeps room.
const FIELD_MAX_CHARS: usize = 200;

/// The Slack message for `n`.
pub(crate) fn payload(n: &Notification) -> Value {
    let fallback = fit(&n.summary(), TEXT_MAX_CHARS, slack_char);
    // plain_text shows `&` and `<` as typed: no escaping, only the length limit.
    let header = truncate(
        &format!("{} {}", state_icon(n), n.summary()),
        HEADER_MAX_CHARS,
    );

    let field = |s: &str| fit(&one_line(s), FIELD_MAX_CHARS, slack_char);
    let mut section = format!(
        "*Subject:* {}\n*Rule:* {}\n*Severity:* {}\n*State:* {}",
        field(&n.subject),
        field(&n.rule_name),
        field(&n.severity),
        n.state.as_str(),
    );
    if n.repeat > 0 {
        section.push_str(&format!(" (repeat {})", n.repeat));
    }
    section.push_str("\n*Cause:* ");
    let room = TEXT_MAX_CHARS.saturating_sub(section.chars().count());
    section.push_str(&fit(&n.cause, room, slack_char));

    let mut context = format!("{} · {}", rfc3339(n.at), field(&n.severity));
    // Room for the link after the time, the severity and the markup around the link.
    let link_room = TEXT_MAX_CHARS.saturating_sub(context.chars().count() + 40);
    // Inside `<url|label>` the URL is escaped like text, and a `|` would end it early.
    let url = fit(&n.link, usize::MAX, slack_char).replace('|', "%7C");
    if web_url(&n.link).is_some() && url.chars().count() <= link_room {
        context.push_str(&format!(" · <{url}|Open in watchfire>"));
    } else if !n.link.is_empty() {
        // Not a web URL, or too long to link whole: shown as text, never as a broken link.
        context.push_str(" · ");
        context.push_str(&fit(&one_line(&n.link), link_room, slack_char));
    }

    json!({
        "text": fallback,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": true}},
            {"type": "section", "text": {"type": "mrkdwn", "text": section}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::firing;
    use crate::notify::NotificationState;

    fn text_of<'a>(value: &'a Value, pointer: &str) -> &'a str {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{pointer} is a string in {value}"))
    }

    #[test]
    fn the_payload_has_the_documented_block_shapes() {
        let p = payload(&firing());
        let top: Vec<&str> = p
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(top, ["blocks", "text"]);
        assert_eq!(
            text_of(&p, "/text"),
            "[FIRING critical] shop down: monitor shop"
        );
        let blocks = p["blocks"].as_array().expect("blocks");
        assert_eq!(blocks.len(), 3);

        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(
            text_of(&p, "/blocks/0/text/text"),
            "🔴 [FIRING critical] shop down: monitor shop"
        );

        assert_eq!(blocks[1]["type"], "section");
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        let section = text_of(&p, "/blocks/1/text/text");
        assert_eq!(
            section,
            "*Subject:* monitor shop\n*Rule:* shop down\n*Severity:* critical\n*State:* firing\n*Cause:* HTTP 503 from https://shop.example.com/"
        );

        assert_eq!(blocks[2]["type"], "context");
        let elements = blocks[2]["elements"].as_array().expect("elements");
        assert_eq!(elements.len(), 1);
        assert_eq!(elements[0]["type"], "mrkdwn");
        assert_eq!(
            text_of(&p, "/blocks/2/elements/0/text"),
            "2025-03-01T12:30:05Z · critical · <https://watchfire.example.com/alerts/01234567-89ab-cdef-0123-456789abcdef|Open in watchfire>"
        );
    }

    #[test]
    fn resolved_and_test_notifications_say_so() {
        let mut n = firing();
        n.state = NotificationState::Resolved;
        let p = payload(&n);
        assert_eq!(
            text_of(&p, "/blocks/0/text/text"),
            "✅ [RESOLVED] shop down: monitor shop"
        );
        assert!(text_of(&p, "/blocks/1/text/text").contains("*State:* resolved"));
        n.state = NotificationState::Test;
        assert_eq!(
            text_of(&payload(&n), "/text"),
            "[TEST] shop down: monitor shop"
        );
    }

    #[test]
    fn user_text_is_escaped_so_it_cannot_mention_or_link() {
        let mut n = firing();
        n.rule_name = "<!channel> & co".to_owned();
        n.cause = "body was <b>down</b> & <https://evil.example|click>".to_owned();
        let p = payload(&n);
        assert_eq!(
            text_of(&p, "/text"),
            "[FIRING critical] &lt;!channel&gt; &amp; co: monitor shop"
        );
        let section = text_of(&p, "/blocks/1/text/text");
        assert!(section.contains("*Rule:* &lt;!channel&gt; &amp; co"));
        assert!(section.ends_with(
            "body was &lt;b&gt;down&lt;/b&gt; &amp; &lt;https://evil.example|click&gt;"
        ));
        // Plain text is shown as typed.
        assert!(text_of(&p, "/blocks/0/text/text").contains("<!channel> & co"));
    }

    #[test]
    fn long_texts_are_cut_to_slacks_limits() {
        let mut n = firing();
        n.rule_name = "r".repeat(500);
        n.subject = "s".repeat(500);
        n.cause = "<&>".repeat(5000);
        n.link = format!("https://watchfire.example.com/{}", "l".repeat(5000));
        let p = payload(&n);
        let header = text_of(&p, "/blocks/0/text/text");
        assert_eq!(header.chars().count(), HEADER_MAX_CHARS);
        assert!(header.ends_with('…'));
        let section = text_of(&p, "/blocks/1/text/text");
        let len = section.chars().count();
        assert!(
            (TEXT_MAX_CHARS - 5..=TEXT_MAX_CHARS).contains(&len),
            "{len}"
        );
        assert!(section.ends_with('…'));
        assert!(text_of(&p, "/text").chars().count() <= TEXT_MAX_CHARS);
        assert!(text_of(&p, "/blocks/2/elements/0/text").chars().count() <= TEXT_MAX_CHARS);
    }

    #[test]
    fn a_link_that_is_not_a_web_url_is_not_made_a_link() {
        let mut n = firing();
        n.link = "javascript:alert(1)".to_owned();
        let context = payload(&n)["blocks"][2]["elements"][0]["text"]
            .as_str()
            .expect("text")
            .to_owned();
        assert!(!context.contains('<'), "{context}");
        assert!(context.ends_with("javascript:alert(1)"));
    }
}
