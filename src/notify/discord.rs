//! Discord's execute-webhook payload: a short `content` line and one embed (title,
//! description, colour, timestamp, link, fields), each cut to Discord's documented limits,
//! with mentions disabled so user text such as `@everyone` cannot ping anyone.

use serde_json::{json, Value};

use super::text::{one_line, rfc3339, truncate, web_url};
use super::{Notification, NotificationState};

/// Longest message `content`.
pub(crate) const CONTENT_MAX_CHARS: usize = 2000;
/// Longest embed title.
pub(crate) const TITLE_MAX_CHARS: usize = 256;
/// Longest embed description.
pub(crate) const DESCRIPTION_MAX_CHARS: usize = 4096;
/// Longest embed field name.
pub(crate) const FIELD_NAME_MAX_CHARS: usize = 256;
/// Longest embed field value.
pub(crate) const FIELD_VALUE_MAX_CHARS: usize = 1024;
/// Longest footer text.
pub(crate) const FOOTER_MAX_CHARS: usize = 2048;
/// Most characters in title, description, field names and values and footer together.
pub(crate) const EMBED_TOTAL_MAX_CHARS: usize = 6000;
/// Our own cap on subject and rule fields, so the cause keeps most of the total.
const SHORT_FIELD_MAX_CHARS: usize = 256;

/// Red: a critical alert is firing.
pub(crate) const RED: u32 = 0xE7_4C_3C;
/// Orange: a warning is firing.
pub(crate) const ORANGE: u32 = 0xE6_7E_22;
/// Blue: information is firing.
pub(crate) const BLUE: u32 = 0x34_98_DB;
/// Green: resolved.
pub(crate) const GREEN: u32 = 0x2E_CC_71;
/// Grey: a test.
pub(crate) const GREY: u32 = 0x95_A5_A6;

/// The Discord message for `n`.
pub(crate) fn payload(n: &Notification) -> Value {
    let content = truncate(&n.summary(), CONTENT_MAX_CHARS);
    let title = truncate(&n.summary(), TITLE_MAX_CHARS);
    let short = |s: &str| non_empty(truncate(&one_line(s), SHORT_FIELD_MAX_CHARS));
    let mut fields = vec![
        ("Subject", short(&n.subject)),
        ("Rule", short(&n.rule_name)),
        ("Severity", short(&n.severity)),
        ("State", n.state.as_str().to_owned()),
    ];
    if n.repeat > 0 {
        fields.push(("Repeat", n.repeat.to_string()));
    }
    let footer = truncate(
        &format!("watchfire · alert {}", n.alert_id),
        FOOTER_MAX_CHARS,
    );
    let used = title.chars().count()
        + footer.chars().count()
        + fields
            .iter()
            .map(|(name, value)| name.chars().count() + value.chars().count())
            .sum::<usize>();
    let room = EMBED_TOTAL_MAX_CHARS
        .saturating_sub(used)
        .min(DESCRIPTION_MAX_CHARS);
    let description = non_empty(truncate(&n.cause, room));

    let fields: Vec<Value> = fields
        .into_iter()
        .map(|(name, value)| {
            json!({
                "name": truncate(name, FIELD_NAME_MAX_CHARS),
                "value": truncate(&value, FIELD_VALUE_MAX_CHARS),
                "inline": true,
            })
        })
        .collect();
    let mut embed = json!({
        "title": title,
        "description": description,
        "color": color(n),
        "timestamp": rfc3339(n.at),
        "fields": fields,
        "footer": {"text": footer},
    });
    // Discord refuses the whole message when an embed's url is not a URL.
    if web_url(&n.link).is_some() {
        embed["url"] = Value::String(n.link.clone());
    }
    json!({
        "content": content,
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

/// The embed's colour bar: red, orange or blue by severity while firing, green once
/// resolved, grey for a test or an acknowledgement.
pub(crate) fn color(n: &Notification) -> u32 {
    match n.state {
        NotificationState::Resolved => GREEN,
        NotificationState::Test | NotificationState::Acknowledged => GREY,
        NotificationState::Firing => match n.severity.as_str() {
            "critical" => RED,
            "info" => BLUE,
            _ => ORANGE,
        },
    }
}

/// Discord refuses empty field values and descriptions.
fn non_empty(s: String) -> String {
    if s.trim().is_empty() {
        "—".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::firing;

    fn chars(v: &Value) -> usize {
        v.as_str().map_or(0, |s| s.chars().count())
    }

    #[test]
    fn the_payload_has_the_documented_shape() {
        let p = payload(&firing());
        assert_eq!(p["content"], "[FIRING critical] shop down: monitor shop");
        assert_eq!(p["allowed_mentions"], json!({"parse": []}));
        let embeds = p["embeds"].as_array().expect("embeds");
        assert_eq!(embeds.len(), 1);
        let e = &embeds[0];
        assert_eq!(e["title"], "[FIRING critical] shop down: monitor shop");
        assert_eq!(e["description"], "HTTP 503 from https://shop.example.com/");
        assert_eq!(e["color"], json!(0xE74C3C));
        assert_eq!(e["timestamp"], "2025-03-01T12:30:05Z");
        assert_eq!(
            e["url"],
            "https://watchfire.example.com/alerts/01234567-89ab-cdef-0123-456789abcdef"
        );
        assert_eq!(
            e["fields"],
            json!([
                {"name": "Subject", "value": "monitor shop", "inline": true},
                {"name": "Rule", "value": "shop down", "inline": true},
                {"name": "Severity", "value": "critical", "inline": true},
                {"name": "State", "value": "firing", "inline": true},
            ])
        );
        assert_eq!(
            e["footer"]["text"],
            "watchfire · alert 01234567-89ab-cdef-0123-456789abcdef"
        );
        let timestamp = e["timestamp"].as_str().expect("a timestamp");
        assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok());
    }

    #[test]
    fn colors_follow_severity_and_state() {
        let mut n = firing();
        assert_eq!(color(&n), RED);
        n.severity = "warning".to_owned();
        assert_eq!(color(&n), ORANGE);
        n.severity = "info".to_owned();
        assert_eq!(color(&n), BLUE);
        n.state = NotificationState::Resolved;
        assert_eq!(color(&n), GREEN);
        assert_eq!(payload(&n)["embeds"][0]["color"], json!(0x2ECC71));
        n.state = NotificationState::Test;
        assert_eq!(color(&n), GREY);
    }

    #[test]
    fn repeats_add_a_field() {
        let mut n = firing();
        n.repeat = 4;
        let fields = payload(&n)["embeds"][0]["fields"].clone();
        assert_eq!(
            fields[4],
            json!({"name": "Repeat", "value": "4", "inline": true})
        );
    }

    #[test]
    fn long_texts_are_cut_to_discords_limits() {
        let mut n = firing();
        n.rule_name = "r".repeat(3000);
        n.subject = "s".repeat(3000);
        n.severity = "v".repeat(3000);
        n.cause = "c".repeat(10_000);
        let p = payload(&n);
        assert!(chars(&p["content"]) <= CONTENT_MAX_CHARS);
        let e = &p["embeds"][0];
        assert_eq!(chars(&e["title"]), TITLE_MAX_CHARS);
        assert!(chars(&e["description"]) <= DESCRIPTION_MAX_CHARS);
        let mut total = chars(&e["title"]) + chars(&e["description"]) + chars(&e["footer"]["text"]);
        for field in e["fields"].as_array().expect("fields") {
            assert!(chars(&field["name"]) <= FIELD_NAME_MAX_CHARS);
            assert!(chars(&field["value"]) <= FIELD_VALUE_MAX_CHARS);
            assert!(chars(&field["value"]) > 0);
            total += chars(&field["name"]) + chars(&field["value"]);
        }
        assert!(total <= EMBED_TOTAL_MAX_CHARS, "{total}");
        assert!(e["description"].as_str().expect("text").ends_with('…'));
    }

    #[test]
    fn empty_texts_and_bad_links_do_not_make_discord_refuse() {
        let mut n = firing();
        n.cause = String::new();
        n.subject = " ".to_owned();
        n.link = "not a link".to_owned();
        let p = payload(&n);
        let e = &p["embeds"][0];
        assert_eq!(e["description"], "—");
        assert_eq!(e["fields"][0]["value"], "—");
        assert!(e.get("url").is_none());
    }
}
