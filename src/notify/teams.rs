//! Microsoft Teams through a Workflows webhook: a `message` with one Adaptive Card (1.4)
//! attachment, a title, the facts, the cause and a button to the alert.

use serde_json::{json, Value};

use super::text::{one_line, rfc3339, state_icon, truncate, web_url};
use super::{Notification, NotificationState};

/// Longest cause quoted, well inside the 28 KB Teams takes for a whole message.
const CAUSE_MAX_CHARS: usize = 2000;

/// The Adaptive Card colour of the title for a state and severity.
fn color(n: &Notification) -> &'static str {
    match n.state {
        NotificationState::Resolved => "Good",
        NotificationState::Test | NotificationState::Acknowledged => "Default",
        NotificationState::Firing => match n.severity.as_str() {
            "critical" => "Attention",
            "warning" => "Warning",
            _ => "Accent",
        },
    }
}

/// The workflow message for `n`.
pub(crate) fn payload(n: &Notification) -> Value {
    let fact = |title: &str, value: &str| json!({"title": title, "value": truncate(&one_line(value), 300)});
    let mut state = n.state.as_str().to_owned();
    if n.repeat > 0 {
        state.push_str(&format!(" (repeat {})", n.repeat));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "TextBlock",
                "text": truncate(&format!("{} {}", state_icon(n), n.summary()), 300),
                "weight": "Bolder",
                "size": "Medium",
                "color": color(n),
                "wrap": true,
            },
            {
                "type": "FactSet",
                "facts": [
                    fact("Subject", &n.subject),
                    fact("Rule", &n.rule_name),
                    fact("Severity", &n.severity),
                    fact("State", &state),
                    fact("At", &rfc3339(n.at)),
                ],
            },
            {
                "type": "TextBlock",
                "text": truncate(&n.cause, CAUSE_MAX_CHARS),
                "wrap": true,
                "fontType": "Monospace",
            },
        ],
    });
    if web_url(&n.link).is_some() {
        card["actions"] =
            json!([{"type": "Action.OpenUrl", "title": "Open in watchfire", "url": n.link}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::firing;

    #[test]
    fn the_message_holds_one_adaptive_card() {
        let p = payload(&firing());
        assert_eq!(p["type"], "message");
        let attachments = p["attachments"].as_array().expect("attachments");
        assert_eq!(attachments.len(), 1);
        assert_eq!(
            attachments[0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &attachments[0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        assert_eq!(
            card["body"][0]["text"],
            "🔴 [FIRING critical] shop down: monitor shop"
        );
        assert_eq!(card["body"][0]["color"], "Attention");
        assert_eq!(card["body"][1]["facts"][0]["value"], "monitor shop");
        assert_eq!(
            card["body"][2]["text"],
            "HTTP 503 from https://shop.example.com/"
        );
        assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    }

    #[test]
    fn a_link_that_is_not_a_web_url_gets_no_button() {
        let mut n = firing();
        n.link = "javascript:alert(1)".into();
        n.state = NotificationState::Resolved;
        let card = &payload(&n)["attachments"][0]["content"];
        assert!(card.get("actions").is_none());
        assert_eq!(card["body"][0]["color"], "Good");
    }
}
