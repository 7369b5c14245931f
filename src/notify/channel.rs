//! Where a notification goes: the channel kinds as the API and config spell them, their
//! validation, and the view of them that hides secrets.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::text::{redact_url, web_url};
use crate::events::{
    GotifySettings, NtfySettings, PagerDutySettings, PushoverSettings, SmsSettings,
    TelegramSettings,
};

/// Most recipients one email channel may have.
pub const MAX_RECIPIENTS: usize = 50;
/// Longest webhook secret, in characters.
pub const MAX_SECRET_CHARS: usize = 256;
/// Longest URL a channel may hold, in bytes.
const MAX_URL_BYTES: usize = 2048;

/// A notification channel's kind and where it delivers.
///
/// `Debug` shows the [`RedactedChannel`] view, so a channel in a log line leaks nothing.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChannelKind {
    /// Email over the server's SMTP settings.
    Email {
        /// Recipient addresses, 1 to 50.
        to: Vec<String>,
    },
    /// A JSON POST to any URL, signed when a secret is set.
    Webhook {
        /// Where to POST.
        url: String,
        /// The HMAC-SHA256 key of the `Watchfire-Signature` header.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// A Slack incoming webhook (its URL is the credential).
    Slack {
        /// The incoming-webhook URL Slack gave.
        webhook_url: String,
    },
    /// A Discord channel webhook (its URL is the credential).
    Discord {
        /// The webhook URL Discord gave.
        webhook_url: String,
    },
    /// A Telegram bot's message to one chat.
    Telegram(TelegramSettings),
    /// A message published to an ntfy topic.
    Ntfy(NtfySettings),
    /// A message to a Gotify application.
    Gotify(GotifySettings),
    /// PagerDuty Events API v2: trigger, acknowledge and resolve follow the alert.
    PagerDuty(PagerDutySettings),
    /// A Microsoft Teams workflow webhook (its URL is the credential), sent an Adaptive Card.
    Teams {
        /// The workflow's HTTP POST URL.
        webhook_url: String,
    },
    /// A Pushover message.
    Pushover(PushoverSettings),
    /// A text message through Twilio's Messages API.
    Sms(SmsSettings),
}

/// A channel as it may be shown (API answers, logs): no secret, URLs cut to their host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RedactedChannel {
    /// Email recipients are shown as they are.
    Email {
        /// Recipient addresses.
        to: Vec<String>,
    },
    /// A webhook's host, and whether it signs.
    Webhook {
        /// Scheme, host and port, then `/…`.
        url: String,
        /// Whether a secret is set.
        has_secret: bool,
    },
    /// A Slack webhook's host.
    Slack {
        /// Scheme, host and port, then `/…`.
        webhook_url: String,
    },
    /// A Discord webhook's host.
    Discord {
        /// Scheme, host and port, then `/…`.
        webhook_url: String,
    },
    /// A Telegram chat; the bot token hidden.
    Telegram {
        /// The chat.
        chat_id: String,
        /// The forum topic, if any.
        message_thread_id: Option<i64>,
        /// `HTML`, `MarkdownV2`, or none for plain text.
        parse_mode: Option<String>,
        /// Whether messages arrive silently.
        disable_notification: bool,
        /// The Bot API's host, when not the default.
        api_url: Option<String>,
        /// Always true: a bot token is set.
        has_bot_token: bool,
    },
    /// An ntfy topic; the token and password hidden.
    Ntfy {
        /// The server's host, when not the default.
        server_url: Option<String>,
        /// The topic.
        topic: String,
        /// The fixed priority, if any.
        priority: Option<u8>,
        /// Extra tags.
        tags: Vec<String>,
        /// The Basic auth user, if any.
        username: Option<String>,
        /// Whether a Bearer token is set.
        has_token: bool,
        /// Whether a Basic auth password is set.
        has_password: bool,
    },
    /// A Gotify server; the application token hidden.
    Gotify {
        /// Scheme, host and port, then `/…`.
        server_url: String,
        /// The fixed priority, if any.
        priority: Option<u8>,
        /// Always true: an application token is set.
        has_app_token: bool,
    },
    /// A PagerDuty service; the routing key hidden.
    #[serde(rename = "pagerduty")]
    PagerDuty {
        /// The Events API's host, when not the default.
        events_url: Option<String>,
        /// The `payload.source`, if fixed.
        source: Option<String>,
        /// Always true: a routing key is set.
        has_routing_key: bool,
    },
    /// A Teams workflow's host.
    Teams {
        /// Scheme, host and port, then `/…`.
        webhook_url: String,
    },
    /// A Pushover application; the token and user key hidden.
    Pushover {
        /// Only these devices.
        device: Option<String>,
        /// The sound.
        sound: Option<String>,
        /// The firing priority, if fixed.
        priority: Option<i8>,
        /// Seconds between priority 2 repeats.
        retry: Option<u32>,
        /// Seconds priority 2 repeats last.
        expire: Option<u32>,
        /// The API's host, when not the default.
        api_url: Option<String>,
        /// Always true: an application token is set.
        has_token: bool,
        /// Always true: a user key is set.
        has_user: bool,
    },
    /// A Twilio account texting one number; the auth token hidden.
    Sms {
        /// The account SID.
        account_sid: String,
        /// The sending number, if set.
        from: Option<String>,
        /// The messaging service, if set.
        messaging_service_sid: Option<String>,
        /// The number texted.
        to: String,
        /// The API's host, when not the default.
        api_url: Option<String>,
        /// Always true: an auth token is set.
        has_auth_token: bool,
    },
}

impl ChannelKind {
    /// The kind's name as the API spells it: `email`, `webhook`, `slack`, `discord`,
    /// `telegram`, `ntfy`, `gotify`, `pagerduty`, `teams`, `pushover` or `sms`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ChannelKind::Email { .. } => "email",
            ChannelKind::Webhook { .. } => "webhook",
            ChannelKind::Slack { .. } => "slack",
            ChannelKind::Discord { .. } => "discord",
            ChannelKind::Telegram(_) => "telegram",
            ChannelKind::Ntfy(_) => "ntfy",
            ChannelKind::Gotify(_) => "gotify",
            ChannelKind::PagerDuty(_) => "pagerduty",
            ChannelKind::Teams { .. } => "teams",
            ChannelKind::Pushover(_) => "pushover",
            ChannelKind::Sms(_) => "sms",
        }
    }

    /// Checks what serde cannot: the field (such as `to[2]`) and why, never echoing a secret.
    pub fn validate(&self) -> Result<(), (String, String)> {
        match self {
            ChannelKind::Email { to } => {
                if to.is_empty() || to.len() > MAX_RECIPIENTS {
                    return Err((
                        "to".to_owned(),
                        format!("needs 1 to {MAX_RECIPIENTS} recipients, not {}", to.len()),
                    ));
                }
                for (i, address) in to.iter().enumerate() {
                    if let Err(e) = address.parse::<lettre::Address>() {
                        return Err((
                            format!("to[{i}]"),
                            format!("{address:?} is not an email address ({e})"),
                        ));
                    }
                }
                Ok(())
            }
            ChannelKind::Webhook { url, secret } => {
                check_url("url", url)?;
                if let Some(secret) = secret {
                    let chars = secret.chars().count();
                    if chars == 0 || chars > MAX_SECRET_CHARS {
                        return Err((
                            "secret".to_owned(),
                            format!("must be 1 to {MAX_SECRET_CHARS} characters"),
                        ));
                    }
                }
                Ok(())
            }
            ChannelKind::Slack { webhook_url }
            | ChannelKind::Discord { webhook_url }
            | ChannelKind::Teams { webhook_url } => check_url("webhook_url", webhook_url),
            ChannelKind::Telegram(s) => super::telegram::validate(s),
            ChannelKind::Ntfy(s) => super::ntfy::validate(s),
            ChannelKind::Gotify(s) => super::gotify::validate(s),
            ChannelKind::PagerDuty(s) => super::pagerduty::validate(s),
            ChannelKind::Pushover(s) => super::pushover::validate(s),
            ChannelKind::Sms(s) => super::sms::validate(s),
        }
    }

    /// The view that may be shown: no secret, and URLs cut after their host.
    pub fn redacted(&self) -> RedactedChannel {
        match self {
            ChannelKind::Email { to } => RedactedChannel::Email { to: to.clone() },
            ChannelKind::Webhook { url, secret } => RedactedChannel::Webhook {
                url: redact_url(url),
                has_secret: secret.is_some(),
            },
            ChannelKind::Slack { webhook_url } => RedactedChannel::Slack {
                webhook_url: redact_url(webhook_url),
            },
            ChannelKind::Discord { webhook_url } => RedactedChannel::Discord {
                webhook_url: redact_url(webhook_url),
            },
            ChannelKind::Teams { webhook_url } => RedactedChannel::Teams {
                webhook_url: redact_url(webhook_url),
            },
            ChannelKind::Telegram(s) => RedactedChannel::Telegram {
                chat_id: s.chat_id.clone(),
                message_thread_id: s.message_thread_id,
                parse_mode: s.parse_mode.clone(),
                disable_notification: s.disable_notification,
                api_url: shown_url(&s.api_url),
                has_bot_token: true,
            },
            ChannelKind::Ntfy(s) => RedactedChannel::Ntfy {
                server_url: shown_url(&s.server_url),
                topic: s.topic.clone(),
                priority: s.priority,
                tags: s.tags.clone(),
                username: s.username.clone(),
                has_token: s.token.is_some(),
                has_password: s.password.is_some(),
            },
            ChannelKind::Gotify(s) => RedactedChannel::Gotify {
                server_url: redact_url(&s.server_url),
                priority: s.priority,
                has_app_token: true,
            },
            ChannelKind::PagerDuty(s) => RedactedChannel::PagerDuty {
                events_url: shown_url(&s.events_url),
                source: s.source.clone(),
                has_routing_key: true,
            },
            ChannelKind::Pushover(s) => RedactedChannel::Pushover {
                device: s.device.clone(),
                sound: s.sound.clone(),
                priority: s.priority,
                retry: s.retry,
                expire: s.expire,
                api_url: shown_url(&s.api_url),
                has_token: true,
                has_user: true,
            },
            ChannelKind::Sms(s) => RedactedChannel::Sms {
                account_sid: s.account_sid.clone(),
                from: s.from.clone(),
                messaging_service_sid: s.messaging_service_sid.clone(),
                to: s.to.clone(),
                api_url: shown_url(&s.api_url),
                has_auth_token: true,
            },
        }
    }

    /// Whether this kind hears of an acknowledgement: PagerDuty acknowledges its incident,
    /// chat rooms and webhooks get a short note; email, SMS and phone pushes stay quiet, as
    /// an acknowledgement is nothing to wake anyone for.
    pub fn hears_acknowledgements(&self) -> bool {
        matches!(
            self,
            ChannelKind::Webhook { .. }
                | ChannelKind::Slack { .. }
                | ChannelKind::Discord { .. }
                | ChannelKind::Teams { .. }
                | ChannelKind::Telegram(_)
                | ChannelKind::PagerDuty(_)
        )
    }
}

impl fmt::Debug for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(), f)
    }
}

/// A base URL as it may be shown.
fn shown_url(url: &Option<String>) -> Option<String> {
    url.as_deref().map(redact_url)
}

/// An optional base URL: absent, or like [`check_url`].
pub(crate) fn check_base_url(field: &str, url: &Option<String>) -> Result<(), (String, String)> {
    url.as_deref().map_or(Ok(()), |u| check_url(field, u))
}

/// A required secret or key: 1 to [`MAX_SECRET_CHARS`] characters with no space or control
/// character; the reason never repeats it.
pub(crate) fn check_secret(field: &str, secret: &str) -> Result<(), (String, String)> {
    let chars = secret.chars().count();
    if chars == 0 || chars > MAX_SECRET_CHARS {
        return Err((
            field.to_owned(),
            format!("is required: 1 to {MAX_SECRET_CHARS} characters"),
        ));
    }
    if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((
            field.to_owned(),
            "must not contain spaces or control characters".to_owned(),
        ));
    }
    Ok(())
}

/// An `http`/`https` URL with a host, of a sane length; the reason never repeats the URL,
/// which may be a credential.
pub(crate) fn check_url(field: &str, url: &str) -> Result<(), (String, String)> {
    if url.len() > MAX_URL_BYTES {
        return Err((
            field.to_owned(),
            format!("must be at most {MAX_URL_BYTES} bytes"),
        ));
    }
    if web_url(url).is_none() {
        return Err((
            field.to_owned(),
            "must be an http or https URL with a host".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK_URL: &str = "https://hooks.slack.com/services/T0001/B0001/abcdefSECRET";

    fn email(to: &[&str]) -> ChannelKind {
        ChannelKind::Email {
            to: to.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn channels_read_the_api_shapes() {
        let parsed: ChannelKind =
            serde_json::from_str(r#"{"kind":"email","to":["ops@example.com"]}"#)
                .expect("an email channel");
        assert_eq!(parsed, email(&["ops@example.com"]));
        let parsed: ChannelKind = serde_json::from_str(
            r#"{"kind":"webhook","url":"https://example.com/hook","secret":"s3cret"}"#,
        )
        .expect("a webhook channel");
        assert_eq!(
            parsed,
            ChannelKind::Webhook {
                url: "https://example.com/hook".to_owned(),
                secret: Some("s3cret".to_owned()),
            }
        );
        let parsed: ChannelKind =
            serde_json::from_str(r#"{"kind":"webhook","url":"https://example.com/hook"}"#)
                .expect("a webhook channel without a secret");
        assert!(matches!(parsed, ChannelKind::Webhook { secret: None, .. }));
        let parsed: ChannelKind = serde_json::from_str(&format!(
            r#"{{"kind":"slack","webhook_url":"{SLACK_URL}"}}"#
        ))
        .expect("a slack channel");
        assert_eq!(parsed.kind_name(), "slack");
        let parsed: ChannelKind = serde_json::from_str(
            r#"{"kind":"discord","webhook_url":"https://discord.com/api/webhooks/1/tok"}"#,
        )
        .expect("a discord channel");
        assert_eq!(parsed.kind_name(), "discord");
        assert!(serde_json::from_str::<ChannelKind>(r#"{"kind":"pager","to":[]}"#).is_err());
    }

    #[test]
    fn email_channels_need_1_to_50_addresses() {
        assert!(email(&["ops@example.com", "a.b+c@sub.example.org"])
            .validate()
            .is_ok());
        let (field, _) = email(&[]).validate().expect_err("no recipient");
        assert_eq!(field, "to");
        let many: Vec<String> = (0..51).map(|i| format!("u{i}@example.com")).collect();
        let (field, reason) = ChannelKind::Email { to: many }
            .validate()
            .expect_err("51 recipients");
        assert_eq!(field, "to");
        assert!(reason.contains("51"), "{reason}");
        let (field, _) = email(&["ops@example.com", "not an address"])
            .validate()
            .expect_err("a bad address");
        assert_eq!(field, "to[1]");
        let (field, _) = email(&["Ops <ops@example.com>"])
            .validate()
            .expect_err("a mailbox is not an address");
        assert_eq!(field, "to[0]");
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_reasons_do_not_echo_them() {
        let secret_url = "ftp://hooks.example.com/T0001/SECRETPATH";
        for channel in [
            ChannelKind::Slack {
                webhook_url: secret_url.to_owned(),
            },
            ChannelKind::Discord {
                webhook_url: "not a url SECRETPATH".to_owned(),
            },
        ] {
            let (field, reason) = channel.validate().expect_err("not a web URL");
            assert_eq!(field, "webhook_url");
            assert!(!reason.contains("SECRETPATH"), "{reason}");
        }
        let (field, _) = ChannelKind::Webhook {
            url: "javascript:alert(1)".to_owned(),
            secret: None,
        }
        .validate()
        .expect_err("not a web URL");
        assert_eq!(field, "url");
        let long = format!("https://example.com/{}", "a".repeat(3000));
        assert!(ChannelKind::Webhook {
            url: long,
            secret: None
        }
        .validate()
        .is_err());
        assert!(ChannelKind::Slack {
            webhook_url: SLACK_URL.to_owned()
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn webhook_secrets_are_1_to_256_characters() {
        let with = |secret: &str| ChannelKind::Webhook {
            url: "https://example.com/hook".to_owned(),
            secret: Some(secret.to_owned()),
        };
        assert!(with("k").validate().is_ok());
        assert!(with(&"é".repeat(256)).validate().is_ok());
        let (field, reason) = with("").validate().expect_err("an empty secret");
        assert_eq!(field, "secret");
        assert!(reason.contains("256"));
        let long = "x".repeat(257);
        let (field, reason) = with(&long).validate().expect_err("a long secret");
        assert_eq!(field, "secret");
        assert!(!reason.contains(&long));
    }

    #[test]
    fn the_redacted_view_hides_secrets_and_url_tokens() {
        let webhook = ChannelKind::Webhook {
            url: "https://example.com:8443/hooks/TOKEN123?sig=QUERYTOKEN".to_owned(),
            secret: Some("TOPSECRET".to_owned()),
        };
        let slack = ChannelKind::Slack {
            webhook_url: SLACK_URL.to_owned(),
        };
        let discord = ChannelKind::Discord {
            webhook_url: "https://discord.com/api/webhooks/123/DISCORDTOKEN".to_owned(),
        };
        let json = serde_json::to_value(webhook.redacted()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"kind": "webhook", "url": "https://example.com:8443/…", "has_secret": true})
        );
        let json = serde_json::to_value(slack.redacted()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"kind": "slack", "webhook_url": "https://hooks.slack.com/…"})
        );
        let json = serde_json::to_value(discord.redacted()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"kind": "discord", "webhook_url": "https://discord.com/…"})
        );
        let json = serde_json::to_value(email(&["ops@example.com"]).redacted()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"kind": "email", "to": ["ops@example.com"]})
        );
        for channel in [&webhook, &slack, &discord] {
            let shown = format!("{channel:?} {:?}", channel.redacted());
            for secret in [
                "TOPSECRET",
                "TOKEN123",
                "QUERYTOKEN",
                "abcdefSECRET",
                "DISCORDTOKEN",
            ] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
    }
}
