//! Telegram's Bot API: `POST {api_url}/bot{token}/sendMessage` with a JSON body naming the
//! chat and the text, in plain text, `HTML` or `MarkdownV2` as the channel says, cut to the
//! 4096 characters Telegram takes.

use serde_json::{json, Map, Value};

use super::channel::{check_base_url, check_url};
use super::text::{escape_html, fit, html_char, one_line, plain_lines, state_icon, web_url};
use super::Notification;
use crate::events::TelegramSettings;

/// The Bot API when the channel names none.
pub(crate) const DEFAULT_API: &str = "https://api.telegram.org";
/// Longest message text Telegram takes, in characters.
pub(crate) const TEXT_MAX_CHARS: usize = 4096;
/// Longest cause quoted, so the rest of the message keeps its room.
const CAUSE_MAX_CHARS: usize = 3000;

/// Where the message goes; the token sits in the path, so only [`super::text::redact_url`]
/// of this may be shown.
pub(crate) fn url(s: &TelegramSettings) -> String {
    let api = s.api_url.as_deref().unwrap_or(DEFAULT_API);
    format!(
        "{}/bot{}/sendMessage",
        api.trim_end_matches('/'),
        s.bot_token
    )
}

/// The `sendMessage` body for `n`.
pub(crate) fn payload(s: &TelegramSettings, n: &Notification) -> Value {
    let mut body = Map::new();
    // A numeric chat id is sent as a number, `@name` as a string.
    let chat_id = s
        .chat_id
        .parse::<i64>()
        .map_or_else(|_| json!(s.chat_id), |id| json!(id));
    body.insert("chat_id".into(), chat_id);
    body.insert("text".into(), json!(text(s.parse_mode.as_deref(), n)));
    if let Some(mode) = &s.parse_mode {
        body.insert("parse_mode".into(), json!(mode));
    }
    if s.disable_notification {
        body.insert("disable_notification".into(), json!(true));
    }
    if let Some(thread) = s.message_thread_id {
        body.insert("message_thread_id".into(), json!(thread));
    }
    Value::Object(body)
}

/// The message text in the channel's parse mode.
fn text(mode: Option<&str>, n: &Notification) -> String {
    let title = format!("{} {}", state_icon(n), n.summary());
    match mode {
        Some("HTML") => {
            let mut out = format!("<b>{}</b>\n", escape_html(&title));
            let facts = plain_lines(&without_link(n), CAUSE_MAX_CHARS);
            let room = TEXT_MAX_CHARS.saturating_sub(out.chars().count() + 200);
            out.push_str(&fit(&facts, room, html_char));
            if web_url(&n.link).is_some() && n.link.len() < 150 {
                out.push_str(&format!(
                    "\n<a href=\"{}\">Open in watchfire</a>",
                    escape_html(&n.link)
                ));
            }
            out
        }
        Some("MarkdownV2") => {
            let mut out = format!("*{}*\n", fit(&title, 500, markdown_char));
            let facts = plain_lines(&without_link(n), CAUSE_MAX_CHARS);
            let room = TEXT_MAX_CHARS.saturating_sub(out.chars().count() + 200);
            out.push_str(&fit(&facts, room, markdown_char));
            if web_url(&n.link).is_some() && n.link.len() < 150 {
                let link = fit(&n.link, usize::MAX, |c, out| {
                    if matches!(c, ')' | '\\') {
                        out.push('\\');
                    }
                    out.push(c);
                });
                out.push_str(&format!("\n[Open in watchfire]({link})"));
            }
            out
        }
        _ => fit(
            &format!("{title}\n{}", plain_lines(n, CAUSE_MAX_CHARS)),
            TEXT_MAX_CHARS,
            |c, out| out.push(c),
        ),
    }
}

/// The notification without its link, which the formatted modes add as a link of their own.
fn without_link(n: &Notification) -> Notification {
    Notification {
        link: String::new(),
        ..n.clone()
    }
}

/// Escapes one character for MarkdownV2, which reserves these anywhere in text.
fn markdown_char(c: char, out: &mut String) {
    if "_*[]()~`>#+-=|{}.!\\".contains(c) {
        out.push('\\');
    }
    out.push(c);
}

/// The parse modes the channel may name.
const PARSE_MODES: [&str; 2] = ["HTML", "MarkdownV2"];

/// Checks a Telegram channel: a bot token of BotFather's shape, a chat, a known parse mode.
pub(crate) fn validate(s: &TelegramSettings) -> Result<(), (String, String)> {
    let token_ok = s.bot_token.split_once(':').is_some_and(|(bot, secret)| {
        !bot.is_empty()
            && bot.chars().all(|c| c.is_ascii_digit())
            && !secret.is_empty()
            && secret.len() <= 200
            && secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if !token_ok {
        return Err((
            "bot_token".into(),
            "is required: the token BotFather gave, such as 123456:ABC-DEF…".into(),
        ));
    }
    let chat = s.chat_id.trim();
    let chat_ok = chat == s.chat_id
        && (s.chat_id.parse::<i64>().is_ok()
            || s.chat_id.strip_prefix('@').is_some_and(|name| {
                (4..=32).contains(&name.len())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }));
    if !chat_ok {
        return Err((
            "chat_id".into(),
            "is required: a chat number (such as -1001234567890) or @channelname".into(),
        ));
    }
    if s.message_thread_id.is_some_and(|t| t <= 0) {
        return Err((
            "message_thread_id".into(),
            "must be a positive number".into(),
        ));
    }
    if let Some(mode) = &s.parse_mode {
        if !PARSE_MODES.contains(&mode.as_str()) {
            return Err((
                "parse_mode".into(),
                format!("must be HTML or MarkdownV2, not {:?}", one_line(mode)),
            ));
        }
    }
    check_base_url("api_url", &s.api_url)?;
    check_url("api_url", &url(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::firing;

    fn settings() -> TelegramSettings {
        TelegramSettings {
            bot_token: "123456:ABC-DEF_ghi".into(),
            chat_id: "-1001234567890".into(),
            message_thread_id: None,
            parse_mode: None,
            disable_notification: false,
            api_url: None,
        }
    }

    #[test]
    fn the_url_carries_the_token_after_bot() {
        assert_eq!(
            url(&settings()),
            "https://api.telegram.org/bot123456:ABC-DEF_ghi/sendMessage"
        );
        let mut s = settings();
        s.api_url = Some("http://127.0.0.1:9/tg/".into());
        assert_eq!(
            url(&s),
            "http://127.0.0.1:9/tg/bot123456:ABC-DEF_ghi/sendMessage"
        );
    }

    #[test]
    fn plain_messages_have_only_the_documented_fields() {
        let p = payload(&settings(), &firing());
        assert_eq!(p["chat_id"], json!(-1_001_234_567_890_i64));
        let text = p["text"].as_str().expect("text");
        assert!(
            text.starts_with("🔴 [FIRING critical] shop down: monitor shop\n"),
            "{text}"
        );
        assert!(text.contains("Cause: HTTP 503 from https://shop.example.com/"));
        assert!(text.contains("At: 2025-03-01T12:30:05Z"));
        let keys: Vec<&String> = p.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["chat_id", "text"]);
        let mut s = settings();
        s.chat_id = "@watchfire_ops".into();
        s.disable_notification = true;
        s.message_thread_id = Some(42);
        s.parse_mode = Some("HTML".into());
        let p = payload(&s, &firing());
        assert_eq!(p["chat_id"], "@watchfire_ops");
        assert_eq!(p["disable_notification"], true);
        assert_eq!(p["message_thread_id"], 42);
        assert_eq!(p["parse_mode"], "HTML");
    }

    #[test]
    fn formatted_modes_escape_user_text() {
        let mut n = firing();
        n.rule_name = "<b>x</b> & y_z.".into();
        let mut s = settings();
        s.parse_mode = Some("HTML".into());
        let html = payload(&s, &n)["text"].as_str().expect("text").to_owned();
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt; &amp; y_z."), "{html}");
        assert!(html.contains("<a href=\"https://watchfire.example.com/alerts/"));
        s.parse_mode = Some("MarkdownV2".into());
        let md = payload(&s, &n)["text"].as_str().expect("text").to_owned();
        assert!(md.contains("<b\\>x</b\\> & y\\_z\\."), "{md}");
        assert!(md.contains("[Open in watchfire](https://"));
    }

    #[test]
    fn long_texts_fit_telegrams_limit() {
        let mut n = firing();
        n.cause = "<&>".repeat(10_000);
        for mode in [None, Some("HTML"), Some("MarkdownV2")] {
            let mut s = settings();
            s.parse_mode = mode.map(str::to_owned);
            let text = payload(&s, &n)["text"]
                .as_str()
                .expect("text")
                .chars()
                .count();
            assert!(text <= TEXT_MAX_CHARS, "{mode:?}: {text}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let field = |s: TelegramSettings| validate(&s).expect_err("refused").0;
        assert!(validate(&settings()).is_ok());
        let mut s = settings();
        s.bot_token = "not-a-token".into();
        assert_eq!(field(s), "bot_token");
        let mut s = settings();
        s.chat_id = String::new();
        assert_eq!(field(s), "chat_id");
        let mut s = settings();
        s.chat_id = "@x y".into();
        assert_eq!(field(s), "chat_id");
        let mut s = settings();
        s.parse_mode = Some("Markdown".into());
        assert_eq!(field(s), "parse_mode");
        let mut s = settings();
        s.message_thread_id = Some(0);
        assert_eq!(field(s), "message_thread_id");
        let mut s = settings();
        s.api_url = Some("ftp://x".into());
        assert_eq!(field(s), "api_url");
    }
}
