//! The settings of the notification channels that need more than a URL: Telegram, ntfy,
//! Gotify, PagerDuty, Pushover and SMS. They travel inside [`ChannelConfig`] (schema 2 of
//! `ChannelCreated` and `ChannelUpdated`), so every field is always encoded: no serde
//! `skip`, `flatten` or `tag` here, and new variants and kinds go at the end. A required
//! text missing from a client's JSON reads as empty (`default`), so the domain's check
//! refuses it naming the field.
//!
//! [`ChannelConfig`]: super::ChannelConfig

use serde::{Deserialize, Serialize};

/// The settings of a channel kind that needs more than a URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelSettings {
    /// See [`TelegramSettings`].
    Telegram(TelegramSettings),
    /// See [`NtfySettings`].
    Ntfy(NtfySettings),
    /// See [`GotifySettings`].
    Gotify(GotifySettings),
    /// See [`PagerDutySettings`].
    PagerDuty(PagerDutySettings),
    /// See [`PushoverSettings`].
    Pushover(PushoverSettings),
    /// See [`SmsSettings`].
    Sms(SmsSettings),
}

impl std::fmt::Debug for ChannelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every kind holds a credential: a log line shows only which kind this is.
        let kind = match self {
            ChannelSettings::Telegram(_) => "Telegram",
            ChannelSettings::Ntfy(_) => "Ntfy",
            ChannelSettings::Gotify(_) => "Gotify",
            ChannelSettings::PagerDuty(_) => "PagerDuty",
            ChannelSettings::Pushover(_) => "Pushover",
            ChannelSettings::Sms(_) => "Sms",
        };
        write!(f, "{kind}(…)")
    }
}

/// A Telegram bot posting to one chat: `POST {api_url}/bot{bot_token}/sendMessage`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelegramSettings {
    /// The token BotFather gave (`123456:ABC…`); a secret.
    #[serde(default)]
    pub bot_token: String,
    /// The chat: a number (negative for groups) or `@channelname`.
    #[serde(default)]
    pub chat_id: String,
    /// The forum topic to post in.
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    /// `HTML` or `MarkdownV2`; plain text when absent.
    #[serde(default)]
    pub parse_mode: Option<String>,
    /// Deliver without a sound.
    #[serde(default)]
    pub disable_notification: bool,
    /// The Bot API's base URL; `https://api.telegram.org` when absent.
    #[serde(default)]
    pub api_url: Option<String>,
}

/// An ntfy topic: `POST {server_url}/{topic}` with Title, Priority and Tags headers.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NtfySettings {
    /// The ntfy server; `https://ntfy.sh` when absent.
    #[serde(default)]
    pub server_url: Option<String>,
    /// The topic to publish to.
    #[serde(default)]
    pub topic: String,
    /// 1 (min) to 5 (max); by severity when absent.
    #[serde(default)]
    pub priority: Option<u8>,
    /// Tags (emoji short codes show as icons), added to the state's own.
    #[serde(default)]
    pub tags: Vec<String>,
    /// An access token, sent as `Authorization: Bearer`; a secret.
    #[serde(default)]
    pub token: Option<String>,
    /// A user for HTTP Basic auth (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// The user's password; a secret.
    #[serde(default)]
    pub password: Option<String>,
}

/// A Gotify application: `POST {server_url}/message` with the `X-Gotify-Key` header.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GotifySettings {
    /// The Gotify server.
    #[serde(default)]
    pub server_url: String,
    /// The application's token; a secret.
    #[serde(default)]
    pub app_token: String,
    /// 0 to 10; by severity when absent.
    #[serde(default)]
    pub priority: Option<u8>,
}

/// A PagerDuty service integration (Events API v2).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagerDutySettings {
    /// The integration's 32-character routing key; a secret.
    #[serde(default)]
    pub routing_key: String,
    /// The Events API's base URL; `https://events.pagerduty.com` when absent.
    #[serde(default)]
    pub events_url: Option<String>,
    /// The `payload.source` PagerDuty shows; the alert's subject when absent.
    #[serde(default)]
    pub source: Option<String>,
}

/// A Pushover application sending to a user or group key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushoverSettings {
    /// The application's API token; a secret.
    #[serde(default)]
    pub token: String,
    /// The user or group key; a secret.
    #[serde(default)]
    pub user: String,
    /// Only these devices (comma-separated names).
    #[serde(default)]
    pub device: Option<String>,
    /// The sound to play.
    #[serde(default)]
    pub sound: Option<String>,
    /// -2 to 2 for firing alerts (2: repeat until acknowledged in Pushover); by severity
    /// when absent.
    #[serde(default)]
    pub priority: Option<i8>,
    /// Seconds between repeats of a priority 2 message, at least 30.
    #[serde(default)]
    pub retry: Option<u32>,
    /// Seconds a priority 2 message keeps repeating, at most 10800.
    #[serde(default)]
    pub expire: Option<u32>,
    /// The API's base URL; `https://api.pushover.net` when absent.
    #[serde(default)]
    pub api_url: Option<String>,
}

/// Text messages through Twilio's Messages API (or one with its shape).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSettings {
    /// The account SID, `AC` and 32 hex digits.
    #[serde(default)]
    pub account_sid: String,
    /// The account's auth token; a secret.
    #[serde(default)]
    pub auth_token: String,
    /// The sending number (E.164), unless `messaging_service_sid` is set.
    #[serde(default)]
    pub from: Option<String>,
    /// A messaging service (`MG…`) that picks the sender, instead of `from`.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// The number to text (E.164, such as `+15558675310`).
    #[serde(default)]
    pub to: String,
    /// The API's base URL; `https://api.twilio.com` when absent.
    #[serde(default)]
    pub api_url: Option<String>,
}

/// What stands in for a secret in anything shown.
const REDACTED: &str = "<redacted>";

impl ChannelSettings {
    /// The settings as they may be shown: every secret replaced by `<redacted>` and every
    /// URL passed through `url` (which cuts it after its host).
    pub fn redacted(&self, url: impl Fn(&str) -> String) -> ChannelSettings {
        let hide = |_: &String| REDACTED.to_owned();
        let url_of = |u: &Option<String>| u.as_deref().map(&url);
        match self {
            ChannelSettings::Telegram(s) => ChannelSettings::Telegram(TelegramSettings {
                bot_token: hide(&s.bot_token),
                api_url: url_of(&s.api_url),
                ..s.clone()
            }),
            ChannelSettings::Ntfy(s) => ChannelSettings::Ntfy(NtfySettings {
                server_url: url_of(&s.server_url),
                token: s.token.as_ref().map(hide),
                password: s.password.as_ref().map(hide),
                ..s.clone()
            }),
            ChannelSettings::Gotify(s) => ChannelSettings::Gotify(GotifySettings {
                server_url: url(&s.server_url),
                app_token: hide(&s.app_token),
                ..s.clone()
            }),
            ChannelSettings::PagerDuty(s) => ChannelSettings::PagerDuty(PagerDutySettings {
                routing_key: hide(&s.routing_key),
                events_url: url_of(&s.events_url),
                ..s.clone()
            }),
            ChannelSettings::Pushover(s) => ChannelSettings::Pushover(PushoverSettings {
                token: hide(&s.token),
                user: hide(&s.user),
                api_url: url_of(&s.api_url),
                ..s.clone()
            }),
            ChannelSettings::Sms(s) => ChannelSettings::Sms(SmsSettings {
                auth_token: hide(&s.auth_token),
                api_url: url_of(&s.api_url),
                ..s.clone()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redacted_settings_keep_no_secret() {
        let all = [
            ChannelSettings::Telegram(TelegramSettings {
                bot_token: "123:SECRET1".into(),
                chat_id: "-100".into(),
                message_thread_id: None,
                parse_mode: None,
                disable_notification: false,
                api_url: Some("https://u:SECRET2@api.example/".into()),
            }),
            ChannelSettings::Ntfy(NtfySettings {
                server_url: None,
                topic: "alerts".into(),
                priority: None,
                tags: Vec::new(),
                token: Some("SECRET3".into()),
                username: Some("ops".into()),
                password: Some("SECRET4".into()),
            }),
            ChannelSettings::Gotify(GotifySettings {
                server_url: "https://gotify.example/x".into(),
                app_token: "SECRET5".into(),
                priority: None,
            }),
            ChannelSettings::PagerDuty(PagerDutySettings {
                routing_key: "SECRET6".into(),
                events_url: None,
                source: None,
            }),
            ChannelSettings::Pushover(PushoverSettings {
                token: "SECRET7".into(),
                user: "SECRET8".into(),
                device: None,
                sound: None,
                priority: None,
                retry: None,
                expire: None,
                api_url: None,
            }),
            ChannelSettings::Sms(SmsSettings {
                account_sid: "AC00".into(),
                auth_token: "SECRET9".into(),
                from: Some("+15550000000".into()),
                messaging_service_sid: None,
                to: "+15551111111".into(),
                api_url: None,
            }),
        ];
        for settings in all {
            let shown = settings.redacted(|u| format!("{}/…", &u[..8]));
            let json = serde_json::to_string(&shown).expect("json");
            assert!(!json.contains("SECRET"), "{json}");
            assert!(json.contains(REDACTED), "{json}");
            assert!(!format!("{settings:?}").contains("SECRET"));
        }
    }
}
