//! The delivery side of notifications: one [`Notification`] to one [`ChannelKind`], by email
//! (lettre over SMTP), a signed JSON webhook, Slack's and Discord's incoming webhooks, a
//! Teams workflow, Telegram's Bot API, ntfy, Gotify, PagerDuty's Events API v2, Pushover,
//! or a text message through Twilio's API.
//!
//! [`Notifier::deliver`] makes one attempt and says, through [`DeliveryError`], whether
//! another could succeed; retries, backoff and recording `NotificationSent` /
//! `NotificationFailed` belong to the caller (the alert actors). This module never touches
//! the event log, never retries and never sleeps, and neither an error message nor a log
//! line from it holds a webhook secret, an SMTP password or a webhook URL past its host.

mod channel;
mod discord;
mod email;
mod gotify;
mod ntfy;
mod pagerduty;
mod pushover;
mod slack;
mod sms;
mod teams;
mod telegram;
mod text;
mod webhook;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::transport::smtp::client::Certificate;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use channel::{ChannelKind, RedactedChannel, MAX_RECIPIENTS, MAX_SECRET_CHARS};
pub use email::{SmtpSettings, SmtpTls};
/// HTML escaping for text and attribute values, shared with the status page badges.
pub(crate) use text::escape_html;
pub use webhook::{webhook_signature, SIGNATURE_HEADER};

use text::{one_line, redact_url, truncate};

/// How long one webhook, Slack or Discord request may take, connection included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// What opens a PEM certificate.
const CERT_PEM_LABEL: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// Most characters of a refusing server's answer quoted in an error.
const QUOTED_ANSWER_CHARS: usize = 200;

/// Where an alert stands in the notification being sent.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationState {
    /// The alert's condition holds.
    Firing,
    /// The alert's condition cleared.
    Resolved,
    /// A test sent from `POST /channels/{id}/test`.
    Test,
    /// Someone acknowledged the firing alert.
    Acknowledged,
}

impl NotificationState {
    /// The state in lower case, as payloads spell it: `firing`, `resolved`, `test`,
    /// `acknowledged`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Firing => "firing",
            NotificationState::Resolved => "resolved",
            NotificationState::Test => "test",
            NotificationState::Acknowledged => "acknowledged",
        }
    }
}

/// One message about one alert, the same whatever the channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The alert this is about.
    pub alert_id: Uuid,
    /// The name of the rule that raised it, such as `shop down`.
    pub rule_name: String,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// What the alert is about, such as `monitor shop` or `host web-1`.
    pub subject: String,
    /// Firing, resolved, or a test.
    pub state: NotificationState,
    /// Why, such as `HTTP 503 from https://shop.example.com/`.
    pub cause: String,
    /// When the state was reached.
    pub at: DateTime<Utc>,
    /// The alert on the dashboard.
    pub link: String,
    /// 0 for the first notification of this state, then 1, 2, … for reminders.
    pub repeat: u32,
}

impl Notification {
    /// The bracketed tag that opens every title: `[FIRING critical]`, `[RESOLVED]`, `[TEST]`,
    /// `[ACKNOWLEDGED]`.
    pub fn tag(&self) -> String {
        match self.state {
            NotificationState::Firing => format!("[FIRING {}]", one_line(&self.severity)),
            NotificationState::Resolved => "[RESOLVED]".to_owned(),
            NotificationState::Test => "[TEST]".to_owned(),
            NotificationState::Acknowledged => "[ACKNOWLEDGED]".to_owned(),
        }
    }

    /// The rule and the subject on one line: `shop down: monitor shop`.
    pub fn headline(&self) -> String {
        one_line(&format!("{}: {}", self.rule_name, self.subject))
    }

    /// The one-line summary used as email subject and chat fallback text:
    /// `[FIRING critical] shop down: monitor shop`, with `(repeat N)` on reminders.
    pub fn summary(&self) -> String {
        let mut summary = format!("{} {}", self.tag(), self.headline());
        if self.repeat > 0 {
            summary.push_str(&format!(" (repeat {})", self.repeat));
        }
        summary
    }
}

/// Why one delivery attempt failed, and whether another attempt could succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying later: no connection, a timeout, HTTP 5xx or 429, SMTP 4xx.
    #[error("delivery failed, may succeed later: {0}")]
    Transient(String),
    /// Retrying will not help until the channel or settings change: HTTP 4xx, SMTP 5xx,
    /// a bad address.
    #[error("delivery failed: {0}")]
    Permanent(String),
}

impl DeliveryError {
    /// Whether a later attempt could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, DeliveryError::Transient(_))
    }
}

/// A [`Notifier`] that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// The HTTP client for webhooks could not be made.
    #[error("cannot build the HTTP client for webhooks: {0}")]
    HttpClient(String),
    /// An extra SMTP root certificate is not PEM.
    #[error("invalid SMTP root certificate: {0}")]
    Certificate(String),
}

/// Delivers notifications; cheap to clone (one HTTP connection pool, shared settings).
#[derive(Clone)]
pub struct Notifier {
    http: reqwest::Client,
    smtp: Arc<SmtpSettings>,
    smtp_roots: Arc<Vec<Certificate>>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("smtp", &self.smtp)
            .field("smtp_roots", &self.smtp_roots.len())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier sending email through `smtp` and webhooks with a 10 s timeout.
    pub fn new(smtp: SmtpSettings) -> Result<Notifier, NotifierError> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(HTTP_TIMEOUT)
            // Following a redirect would turn the POST into a GET without the payload.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("watchfire/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifierError::HttpClient(e.to_string()))?;
        Ok(Notifier {
            http,
            smtp: Arc::new(smtp),
            smtp_roots: Arc::new(Vec::new()),
        })
    }

    /// Also trusts this PEM certificate (a private CA, or a self-signed relay) for SMTP TLS.
    pub fn with_smtp_root_certificate(mut self, pem: &[u8]) -> Result<Notifier, NotifierError> {
        // lettre takes a PEM without any certificate in it as an empty list.
        if !pem
            .windows(CERT_PEM_LABEL.len())
            .any(|w| w == CERT_PEM_LABEL)
        {
            return Err(NotifierError::Certificate(
                "no PEM certificate (BEGIN CERTIFICATE) found".to_owned(),
            ));
        }
        let certificate =
            Certificate::from_pem(pem).map_err(|e| NotifierError::Certificate(e.to_string()))?;
        Arc::make_mut(&mut self.smtp_roots).push(certificate);
        Ok(self)
    }

    /// The SMTP settings email goes through.
    pub fn smtp(&self) -> &SmtpSettings {
        &self.smtp
    }

    /// Makes one attempt to deliver `n` to `channel`; the error says whether to retry.
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(alert_id = %n.alert_id, channel = channel.kind_name(), state = n.state.as_str(), repeat = n.repeat)
    )]
    pub async fn deliver(
        &self,
        channel: &ChannelKind,
        n: &Notification,
    ) -> Result<(), DeliveryError> {
        channel.validate().map_err(|(field, reason)| {
            DeliveryError::Permanent(format!(
                "invalid {} channel: {field} {reason}",
                channel.kind_name()
            ))
        })?;
        let outcome = match channel {
            ChannelKind::Email { to } => email::send(&self.smtp, &self.smtp_roots, to, n).await,
            ChannelKind::Webhook { url, secret } => {
                let body = webhook::body(n)?;
                let signature = secret.as_deref().map(|s| webhook_signature(s, &body));
                self.post_json(url, body, signature).await
            }
            ChannelKind::Slack { webhook_url } => {
                let body = to_json(&slack::payload(n))?;
                self.post_json(webhook_url, body, None).await
            }
            ChannelKind::Discord { webhook_url } => {
                let body = to_json(&discord::payload(n))?;
                self.post_json(webhook_url, body, None).await
            }
            ChannelKind::Teams { webhook_url } => {
                let body = to_json(&teams::payload(n))?;
                self.post_json(webhook_url, body, None).await
            }
            ChannelKind::Telegram(s) => {
                let url = telegram::url(s);
                let request = self.json_request(&url, to_json(&telegram::payload(s, n))?);
                self.send(request, &redact_url(&url)).await
            }
            ChannelKind::Ntfy(s) => {
                let url = ntfy::url(s);
                let mut request = self.http.post(&url).body(ntfy::message(n));
                for (name, value) in ntfy::headers(s, n) {
                    request = request.header(name, value);
                }
                if let Some(token) = &s.token {
                    request = request.header(AUTHORIZATION, bearer(token)?);
                } else if let Some(user) = &s.username {
                    request = request.basic_auth(user, s.password.as_deref());
                }
                self.send(request, &redact_url(&url)).await
            }
            ChannelKind::Gotify(s) => {
                let url = gotify::url(s);
                let key = HeaderValue::from_str(&s.app_token).map_err(|_| {
                    DeliveryError::Permanent("the Gotify app_token is not a header value".into())
                })?;
                let request = self
                    .json_request(&url, to_json(&gotify::payload(s, n))?)
                    .header(gotify::KEY_HEADER, key);
                self.send(request, &redact_url(&url)).await
            }
            ChannelKind::PagerDuty(s) => {
                let url = pagerduty::url(s);
                let request = self.json_request(&url, to_json(&pagerduty::payload(s, n))?);
                self.send(request, &redact_url(&url)).await
            }
            ChannelKind::Pushover(s) => {
                let url = pushover::url(s);
                let request = self.http.post(&url).form(&pushover::form(s, n));
                self.send(request, &redact_url(&url)).await
            }
            ChannelKind::Sms(s) => {
                let url = sms::url(s);
                let request = self
                    .http
                    .post(&url)
                    .basic_auth(&s.account_sid, Some(&s.auth_token))
                    .form(&sms::form(s, n));
                self.send(request, &redact_url(&url)).await
            }
        };
        match &outcome {
            Ok(()) => tracing::debug!("notification delivered"),
            Err(e) => tracing::debug!(error = %e, "notification not delivered"),
        }
        outcome
    }

    /// POSTs a JSON body; any 2xx is delivery.
    async fn post_json(
        &self,
        url: &str,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> Result<(), DeliveryError> {
        let mut request = self.json_request(url, body);
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        self.send(request, &redact_url(url)).await
    }

    /// A POST of a JSON body to `url`.
    fn json_request(&self, url: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.http
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
    }

    /// Sends `request` (its URL shown as `shown`); any 2xx is delivery, 5xx and 429 are worth
    /// retrying, any other answer is not.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        shown: &str,
    ) -> Result<(), DeliveryError> {
        let response = request.send().await.map_err(|e| http_error(shown, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(|v| format!(", retry after {}", truncate(&one_line(v), 40)))
            .unwrap_or_default();
        let answer = quoted_answer(response).await;
        let detail = format!("{shown} answered HTTP {status}{retry_after}{answer}");
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(DeliveryError::Transient(detail))
        } else if status.is_redirection() {
            Err(DeliveryError::Permanent(format!(
                "{detail}: a redirect is not followed, set the final URL"
            )))
        } else if status.is_client_error() {
            Err(DeliveryError::Permanent(detail))
        } else {
            Err(DeliveryError::Transient(detail))
        }
    }
}

/// An `Authorization: Bearer` value, marked sensitive so no debug output shows it.
fn bearer(token: &str) -> Result<HeaderValue, DeliveryError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| DeliveryError::Permanent("the token is not a header value".to_owned()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Serializes a payload; a `serde_json::Value` always serializes.
fn to_json(value: &serde_json::Value) -> Result<Vec<u8>, DeliveryError> {
    serde_json::to_vec(value)
        .map_err(|e| DeliveryError::Permanent(format!("cannot encode the payload: {e}")))
}

/// The start of a refusing server's answer (Slack says `invalid_payload`, Discord names the
/// bad field), read no further than needed.
async fn quoted_answer(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < 4 * QUOTED_ANSWER_CHARS {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let text = one_line(String::from_utf8_lossy(&bytes).trim());
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", truncate(text, QUOTED_ANSWER_CHARS))
    }
}

/// A request that got no answer; reqwest's own message would name the full URL.
fn http_error(shown: &str, error: reqwest::Error) -> DeliveryError {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let why = if error.is_timeout() {
        format!("no answer within {} s", HTTP_TIMEOUT.as_secs())
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut detail = format!("POST to {shown}: {why}");
    for cause in causes {
        detail.push_str(": ");
        detail.push_str(&cause);
    }
    if error.is_builder() {
        DeliveryError::Permanent(detail)
    } else {
        DeliveryError::Transient(detail)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A firing critical notification as an alert actor would make it.
    pub(crate) fn firing() -> Notification {
        Notification {
            alert_id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            rule_name: "shop down".to_owned(),
            severity: "critical".to_owned(),
            subject: "monitor shop".to_owned(),
            state: NotificationState::Firing,
            cause: "HTTP 503 from https://shop.example.com/".to_owned(),
            at: Utc
                .with_ymd_and_hms(2025, 3, 1, 12, 30, 5)
                .single()
                .expect("a valid time"),
            link: "https://watchfire.example.com/alerts/01234567-89ab-cdef-0123-456789abcdef"
                .to_owned(),
            repeat: 0,
        }
    }

    #[test]
    fn summaries_tag_the_state() {
        let mut n = firing();
        assert_eq!(n.summary(), "[FIRING critical] shop down: monitor shop");
        n.repeat = 2;
        assert_eq!(
            n.summary(),
            "[FIRING critical] shop down: monitor shop (repeat 2)"
        );
        n.repeat = 0;
        n.state = NotificationState::Resolved;
        assert_eq!(n.summary(), "[RESOLVED] shop down: monitor shop");
        n.state = NotificationState::Test;
        n.rule_name = "multi\nline".to_owned();
        assert_eq!(n.summary(), "[TEST] multi line: monitor shop");
    }

    #[test]
    fn notifications_round_trip_with_lowercase_states() {
        let n = firing();
        let json = serde_json::to_value(&n).expect("json");
        assert_eq!(json["state"], "firing");
        let back: Notification = serde_json::from_value(json).expect("a notification");
        assert_eq!(back, n);
    }

    #[tokio::test]
    async fn an_invalid_channel_is_permanent_and_keeps_its_secret() {
        let notifier = Notifier::new(SmtpSettings::default()).expect("a notifier");
        let channel = ChannelKind::Webhook {
            url: "https://example.com/hook".to_owned(),
            secret: Some(String::new()),
        };
        let error = notifier
            .deliver(&channel, &firing())
            .await
            .expect_err("an empty secret");
        assert!(!error.is_transient());
        let channel = ChannelKind::Slack {
            webhook_url: "gopher://hooks.slack.com/services/SECRET".to_owned(),
        };
        let error = notifier
            .deliver(&channel, &firing())
            .await
            .expect_err("not a web URL");
        assert!(!error.is_transient());
        assert!(!error.to_string().contains("SECRET"), "{error}");
    }

    #[test]
    fn a_bad_root_certificate_is_refused() {
        let notifier = Notifier::new(SmtpSettings::default()).expect("a notifier");
        assert!(notifier
            .with_smtp_root_certificate(b"not a certificate")
            .is_err());
    }
}
