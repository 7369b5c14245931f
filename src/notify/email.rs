//! Email: the `[smtp]` settings, the message (multipart/alternative, plain text and HTML),
//! and one SMTP session per delivery through lettre.

use std::time::Duration;

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::text::{escape_html, one_line, rfc3339, truncate, web_url};
use super::{DeliveryError, Notification, NotificationState};

/// Longest email subject line we write, in characters.
const SUBJECT_MAX_CHARS: usize = 250;

/// How the SMTP connection is secured.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on localhost or a trusted network).
    #[default]
    None,
    /// Plain connection upgraded with STARTTLS, which the server must offer (usually port 587).
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// `[smtp]`: the relay email notifications go through.
///
/// Holds no password: `password_env` names the environment variable read at send time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// The relay's host name or address.
    pub host: String,
    /// The relay's port.
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub tls: SmtpTls,
    /// The user to authenticate as; none means no authentication.
    pub username: Option<String>,
    /// The environment variable that holds the password of `username`.
    pub password_env: Option<String>,
    /// The sender, as `addr@example.com` or `Name <addr@example.com>`.
    pub from: String,
    /// Seconds each step of the SMTP session (connect, each command) may take.
    pub timeout_s: u64,
}

impl Default for SmtpSettings {
    fn default() -> SmtpSettings {
        SmtpSettings {
            host: "localhost".to_owned(),
            port: 25,
            tls: SmtpTls::None,
            username: None,
            password_env: None,
            from: "watchfire@localhost".to_owned(),
            timeout_s: 10,
        }
    }
}

impl SmtpSettings {
    /// Checks what types cannot: the dotted key (such as `smtp.from`) and what is allowed.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let host = self.host.as_str();
        if host.is_empty()
            || host.len() > 253
            || host.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err((
                "smtp.host",
                "must be a host name or address of 1 to 253 characters without spaces".to_owned(),
            ));
        }
        if self.port == 0 {
            return Err(("smtp.port", "must be between 1 and 65535".to_owned()));
        }
        if let Err(e) = self.from.parse::<Mailbox>() {
            return Err((
                "smtp.from",
                format!(
                    "{:?} is not a sender such as watchfire@example.com or \"Watchfire <watchfire@example.com>\" ({e})",
                    self.from
                ),
            ));
        }
        if !(1..=300).contains(&self.timeout_s) {
            return Err(("smtp.timeout_s", "must be between 1 and 300".to_owned()));
        }
        match (&self.username, &self.password_env) {
            (None, None) => {}
            (Some(_), None) => {
                return Err((
                    "smtp.password_env",
                    "must name the environment variable holding the password of smtp.username"
                        .to_owned(),
                ))
            }
            (None, Some(_)) => {
                return Err((
                    "smtp.username",
                    "must be set when smtp.password_env is".to_owned(),
                ))
            }
            (Some(user), Some(var)) => {
                if user.is_empty() || user.len() > 256 || user.chars().any(char::is_control) {
                    return Err((
                        "smtp.username",
                        "must be 1 to 256 characters without control characters".to_owned(),
                    ));
                }
                let valid_name = var.len() <= 128
                    && var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid_name {
                    return Err((
                        "smtp.password_env",
                        "must be an environment variable name such as WATCHFIRE_SMTP_PASSWORD"
                            .to_owned(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Sends `n` to every address in `to` in one message, in one SMTP session.
pub(crate) async fn send(
    settings: &SmtpSettings,
    roots: &[Certificate],
    to: &[String],
    n: &Notification,
) -> Result<(), DeliveryError> {
    let message = message(settings, to, n)?;
    let transport = transport(settings, roots)?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| smtp_error(settings, e))
}

/// The message: From, To, Subject, and plain-text and HTML alternatives.
pub(crate) fn message(
    settings: &SmtpSettings,
    to: &[String],
    n: &Notification,
) -> Result<Message, DeliveryError> {
    let from: Mailbox = settings.from.parse().map_err(|e| {
        DeliveryError::Permanent(format!(
            "smtp.from {:?} is not a sender ({e})",
            settings.from
        ))
    })?;
    let domain = from.email.domain().to_owned();
    let mut builder = Message::builder()
        .from(from)
        .subject(subject_line(n))
        .message_id(Some(format!("<{}@{domain}>", Uuid::new_v4())))
        // Mail clients thread the firing, reminders and resolution of one alert together.
        .references(format!("<alert.{}@{domain}>", n.alert_id))
        .header(AutoSubmitted)
        .user_agent(concat!("watchfire/", env!("CARGO_PKG_VERSION")).to_owned());
    for address in to {
        let address: Address = address.parse().map_err(|e| {
            DeliveryError::Permanent(format!("{address:?} is not an email address ({e})"))
        })?;
        builder = builder.to(Mailbox::new(None, address));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            text_body(n),
            html_body(n),
        ))
        .map_err(|e| DeliveryError::Permanent(format!("cannot build the email: {e}")))
}

/// `Auto-Submitted: auto-generated` (RFC 3834), so vacation responders do not answer alerts.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

/// The Subject header: the summary, on one line and of a sane length.
pub(crate) fn subject_line(n: &Notification) -> String {
    truncate(&n.summary(), SUBJECT_MAX_CHARS)
}

/// The facts every body shows, as (label, value) in reading order.
fn facts(n: &Notification) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        ("Subject", n.subject.clone()),
        ("Rule", n.rule_name.clone()),
        ("State", n.state.as_str().to_owned()),
        ("Severity", n.severity.clone()),
        ("Cause", n.cause.clone()),
        ("Time", rfc3339(n.at)),
    ];
    if n.repeat > 0 {
        facts.push(("Repeat", n.repeat.to_string()));
    }
    facts
}

/// What the first line of a body says beyond the summary.
fn lead(n: &Notification) -> &'static str {
    match n.state {
        NotificationState::Firing => "An alert is firing.",
        NotificationState::Resolved => "An alert has resolved.",
        NotificationState::Test => "A test notification: this channel works.",
        NotificationState::Acknowledged => "An alert was acknowledged.",
    }
}

/// The text/plain alternative.
pub(crate) fn text_body(n: &Notification) -> String {
    let mut body = format!("{}\n\n{}\n\n", n.summary(), lead(n));
    for (label, value) in facts(n) {
        // Continuation lines of a multi-line cause line up under the first.
        let value = value.replace('\n', "\n          ");
        body.push_str(&format!("{:<9} {value}\n", format!("{label}:")));
    }
    body.push_str(&format!("{:<9} {}\n", "Link:", one_line(&n.link)));
    body.push_str(&format!("\n-- \nwatchfire, alert {}\n", n.alert_id));
    body
}

/// The text/html alternative; every value is escaped.
pub(crate) fn html_body(n: &Notification) -> String {
    let accent = match n.state {
        NotificationState::Resolved => "#2ecc71",
        NotificationState::Test | NotificationState::Acknowledged => "#95a5a6",
        NotificationState::Firing => match n.severity.as_str() {
            "critical" => "#e74c3c",
            "info" => "#3498db",
            _ => "#e67e22",
        },
    };
    let mut rows = String::new();
    for (label, value) in facts(n) {
        rows.push_str(&format!(
            "<tr><th align=\"left\" style=\"padding:2px 12px 2px 0\">{label}</th><td style=\"white-space:pre-wrap\">{}</td></tr>\n",
            escape_html(&value)
        ));
    }
    let link = escape_html(&n.link);
    // Only a web URL becomes a link: a `javascript:` link would run in some mail clients.
    let link_cell = if web_url(&n.link).is_some() {
        format!("<a href=\"{link}\">{link}</a>")
    } else {
        link
    };
    rows.push_str(&format!(
        "<tr><th align=\"left\" style=\"padding:2px 12px 2px 0\">Link</th><td>{link_cell}</td></tr>\n"
    ));
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{summary}</title></head>\n\
         <body style=\"font-family:sans-serif\">\n\
         <h2 style=\"border-left:6px solid {accent};padding-left:8px\">{summary}</h2>\n\
         <p>{lead}</p>\n<table>\n{rows}</table>\n\
         <p style=\"color:#888\">watchfire, alert {id}</p>\n</body></html>\n",
        summary = escape_html(&n.summary()),
        lead = escape_html(lead(n)),
        id = n.alert_id,
    )
}

/// An SMTP transport for one session, secured and authenticated as the settings say.
fn transport(
    settings: &SmtpSettings,
    roots: &[Certificate],
) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
        .port(settings.port)
        .timeout(Some(Duration::from_secs(settings.timeout_s)));
    let tls = match settings.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(tls_parameters(settings, roots)?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters(settings, roots)?),
    };
    builder = builder.tls(tls);
    if let Some(username) = &settings.username {
        builder = builder.credentials(Credentials::new(username.clone(), password(settings)?));
    }
    Ok(builder.build())
}

/// Web PKI roots plus any extra roots, checked against the configured host name.
fn tls_parameters(
    settings: &SmtpSettings,
    roots: &[Certificate],
) -> Result<TlsParameters, DeliveryError> {
    let mut builder = TlsParameters::builder(settings.host.clone());
    for root in roots {
        builder = builder.add_root_certificate(root.clone());
    }
    builder
        .build_rustls()
        .map_err(|e| DeliveryError::Permanent(format!("cannot set up TLS for SMTP: {e}")))
}

/// The password, read now from the variable `password_env` names.
fn password(settings: &SmtpSettings) -> Result<String, DeliveryError> {
    let Some(var) = &settings.password_env else {
        return Err(DeliveryError::Permanent(
            "smtp.username is set but smtp.password_env is not".to_owned(),
        ));
    };
    std::env::var(var).map_err(|_| {
        DeliveryError::Permanent(format!(
            "the SMTP password variable {var} (smtp.password_env) is not set or not UTF-8"
        ))
    })
}

/// Sorts lettre's errors: the server's 4xx and anything about the connection may pass,
/// its 5xx and our own mistakes will not. lettre's messages quote the server, never the
/// credentials.
fn smtp_error(settings: &SmtpSettings, error: lettre::transport::smtp::Error) -> DeliveryError {
    let detail = format!("SMTP {}:{}: {error}", settings.host, settings.port);
    if error.is_permanent() || error.is_client() {
        DeliveryError::Permanent(detail)
    } else {
        // Transient replies, timeouts, refused or reset connections, failed handshakes.
        DeliveryError::Transient(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::firing;

    fn to(addresses: &[&str]) -> Vec<String> {
        addresses.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_are_a_local_relay() {
        let s = SmtpSettings::default();
        assert_eq!(s.host, "localhost");
        assert_eq!(s.port, 25);
        assert_eq!(s.tls, SmtpTls::None);
        assert_eq!(s.from, "watchfire@localhost");
        assert_eq!(s.timeout_s, 10);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn settings_read_the_documented_keys() {
        let s: SmtpSettings = serde_json::from_str(
            r#"{"host":"smtp.example.com","port":587,"tls":"starttls","username":"wf","password_env":"SMTP_PW","from":"Watchfire <wf@example.com>"}"#,
        )
        .expect("settings");
        assert_eq!(s.tls, SmtpTls::Starttls);
        assert_eq!(s.timeout_s, 10);
        assert!(s.validate().is_ok());
        let tls: SmtpTls = serde_json::from_str(r#""tls""#).expect("tls");
        assert_eq!(tls, SmtpTls::Tls);
        assert!(serde_json::from_str::<SmtpSettings>(r#"{"password":"x"}"#).is_err());
    }

    #[test]
    fn validation_names_the_bad_key() {
        let bad = |f: fn(&mut SmtpSettings)| {
            let mut s = SmtpSettings::default();
            f(&mut s);
            s.validate().expect_err("invalid").0
        };
        assert_eq!(bad(|s| s.host = String::new()), "smtp.host");
        assert_eq!(bad(|s| s.host = "a b".to_owned()), "smtp.host");
        assert_eq!(bad(|s| s.port = 0), "smtp.port");
        assert_eq!(bad(|s| s.from = "nobody".to_owned()), "smtp.from");
        assert_eq!(bad(|s| s.timeout_s = 0), "smtp.timeout_s");
        assert_eq!(
            bad(|s| s.username = Some("u".to_owned())),
            "smtp.password_env"
        );
        assert_eq!(
            bad(|s| s.password_env = Some("PW".to_owned())),
            "smtp.username"
        );
        assert_eq!(
            bad(|s| {
                s.username = Some("u".to_owned());
                s.password_env = Some("NOT-A-NAME".to_owned());
            }),
            "smtp.password_env"
        );
    }

    #[test]
    fn subjects_follow_the_state() {
        let mut n = firing();
        assert_eq!(
            subject_line(&n),
            "[FIRING critical] shop down: monitor shop"
        );
        n.state = NotificationState::Resolved;
        assert_eq!(subject_line(&n), "[RESOLVED] shop down: monitor shop");
        n.state = NotificationState::Test;
        assert_eq!(subject_line(&n), "[TEST] shop down: monitor shop");
        n.rule_name = "injected\r\nBcc: everyone@example.com".to_owned();
        assert!(!subject_line(&n).contains('\n'));
        n.rule_name = "x".repeat(1000);
        assert_eq!(subject_line(&n).chars().count(), SUBJECT_MAX_CHARS);
    }

    #[test]
    fn both_bodies_name_every_fact() {
        let n = firing();
        let text = text_body(&n);
        let html = html_body(&n);
        for needle in [
            "monitor shop",
            "shop down",
            "firing",
            "critical",
            "HTTP 503 from https://shop.example.com/",
            "2025-03-01T12:30:05Z",
            "https://watchfire.example.com/alerts/01234567-89ab-cdef-0123-456789abcdef",
        ] {
            assert!(text.contains(needle), "text lacks {needle}: {text}");
            assert!(html.contains(needle), "html lacks {needle}: {html}");
        }
        assert!(text.starts_with("[FIRING critical] shop down: monitor shop\n"));
        assert!(text.contains("Cause:    HTTP 503"));
        assert!(html.contains(
            "<a href=\"https://watchfire.example.com/alerts/01234567-89ab-cdef-0123-456789abcdef\">"
        ));
    }

    #[test]
    fn html_escapes_every_value() {
        let mut n = firing();
        n.rule_name = "<b>bold</b>".to_owned();
        n.cause = "body contained <script>alert('x')</script> & \"quotes\"".to_owned();
        n.link = "https://example.com/a?b=1&c=\"2\"".to_owned();
        let html = html_body(&n);
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>bold"));
        assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"));
        assert!(html.contains(
            "body contained &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"
        ));
        assert!(html.contains("href=\"https://example.com/a?b=1&amp;c=&quot;2&quot;\""));
        n.link = "javascript:alert(1)".to_owned();
        assert!(!html_body(&n).contains("href"));
    }

    #[test]
    fn the_message_is_multipart_alternative_with_both_parts() {
        let n = firing();
        let settings = SmtpSettings {
            from: "Watchfire <wf@example.com>".to_owned(),
            ..SmtpSettings::default()
        };
        let message = message(&settings, &to(&["ops@example.com", "dev@example.com"]), &n)
            .expect("a message");
        let raw = String::from_utf8(message.formatted()).expect("ASCII");
        assert!(
            raw.contains("From: Watchfire <wf@example.com>\r\n"),
            "{raw}"
        );
        assert!(
            raw.contains("To: ops@example.com, dev@example.com\r\n"),
            "{raw}"
        );
        assert!(raw.contains("Subject: [FIRING critical] shop down: monitor shop\r\n"));
        assert!(raw.contains("Content-Type: multipart/alternative;"));
        assert!(raw.contains("Auto-Submitted: auto-generated\r\n"), "{raw}");
        assert!(raw
            .contains("References: <alert.01234567-89ab-cdef-0123-456789abcdef@example.com>\r\n"));
        assert!(raw.contains("@example.com>\r\n"));
        assert!(raw.contains("Message-ID: <"), "{raw}");
        assert!(raw.contains("Date: "), "{raw}");
        assert!(raw.contains("Content-Type: text/plain; charset=utf-8"));
        assert!(raw.contains("Content-Type: text/html; charset=utf-8"));
        let recipients: Vec<String> = message
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(recipients, ["ops@example.com", "dev@example.com"]);
    }

    #[test]
    fn a_bad_address_is_permanent() {
        let error = message(
            &SmtpSettings::default(),
            &to(&["not an address"]),
            &firing(),
        )
        .expect_err("a bad address");
        assert!(!error.is_transient());
    }

    #[test]
    fn a_missing_password_variable_is_permanent_and_named() {
        let settings = SmtpSettings {
            username: Some("wf".to_owned()),
            password_env: Some("WATCHFIRE_TEST_SURELY_UNSET_9F3A".to_owned()),
            ..SmtpSettings::default()
        };
        let error = password(&settings).expect_err("unset");
        assert!(!error.is_transient());
        assert!(error
            .to_string()
            .contains("WATCHFIRE_TEST_SURELY_UNSET_9F3A"));
    }
}
