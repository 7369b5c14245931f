//! Where a notification goes: the channel kinds as the API and config spell them, their
//! validation, and the view of them that hides secrets.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::text::{redact_url, web_url};

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
}

impl ChannelKind {
    /// The kind's name as the API spells it: `email`, `webhook`, `slack` or `discord`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ChannelKind::Email { .. } => "email",
            ChannelKind::Webhook { .. } => "webhook",
            ChannelKind::Slack { .. } => "slack",
            ChannelKind::Discord { .. } => "discord",
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
            ChannelKind::Slack { webhook_url } | ChannelKind::Discord { webhook_url } => {
                check_url("webhook_url", webhook_url)
            }
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
        }
    }
}

impl fmt::Debug for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(), f)
    }
}

/// An `http`/`https` URL with a host, of a sane length; the reason never repeats the URL,
/// which may be a credential.
fn check_url(field: &str, url: &str) -> Result<(), (String, String)> {
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
