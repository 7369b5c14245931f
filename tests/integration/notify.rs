//! Notification delivery against real servers on loopback: aiosmtpd (plain SMTP, STARTTLS
//! with AUTH, implicit TLS), and local HTTP receivers shaped like a webhook, Slack and
//! Discord.
//!
//! The SMTP server is Python's aiosmtpd, which `scripts/test.sh` installs with pip. It parses
//! what arrives with Python's own `email` package and prints one JSON line per message, so
//! the MIME lettre writes is read back by an independent parser.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use uuid::Uuid;
use watchfire::config::{ConfigError, FlagOverrides, Settings};
use watchfire::notify::{
    ChannelKind, DeliveryError, Notification, NotificationState, Notifier, SmtpSettings, SmtpTls,
};

use super::targets::{HttpTarget, SeenRequest};

/// Long enough that nothing on a slow shared machine hits it unless a test means to.
const GENEROUS: Duration = Duration::from_secs(60);

/// The variable the STARTTLS tests name in `password_env`; every test sets the same value.
const PASSWORD_VAR: &str = "WATCHFIRE_NOTIFY_TEST_SMTP_PASSWORD";
const PASSWORD: &str = "correct horse battery staple";
const USERNAME: &str = "watchfire";

/// An SMTP server in Python: argv is mode (plain, starttls, tls), cert, key, user, password.
/// Recipients `nobody@…` get 550 and `busy@…` 451. Ends when its stdin closes.
const SMTP_SERVER_PY: &str = r#"
import asyncio, email, email.policy, json, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

mode, cert, key, user, password = sys.argv[1:6]

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local == "nobody":
            return "550 5.1.1 no such user"
        if local == "busy":
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            parts.append({"content_type": part.get_content_type(), "body": part.get_content()})
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "references": str(msg["References"]),
            "auto_submitted": str(msg["Auto-Submitted"]),
            "content_type": msg.get_content_type(),
            "parts": parts,
        }
        print(json.dumps(record), flush=True)
        return "250 2.0.0 accepted"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == user
          and auth_data.password.decode() == password)
    return AuthResult(success=ok, handled=False)

async def main():
    loop = asyncio.get_running_loop()
    context = None
    if mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    options = {"hostname": "smtp.test", "loop": loop}
    if user:
        options.update(authenticator=authenticator, auth_require_tls=True)
    if mode == "starttls":
        options.update(tls_context=context, require_starttls=True)
    server = await loop.create_server(
        lambda: SMTP(Handler(), **options),
        host="127.0.0.1", port=0, ssl=context if mode == "tls" else None)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"#;

/// How an [`SmtpServer`] secures its connections.
#[derive(Clone, Copy)]
pub enum Mode {
    Plain,
    Starttls,
    Tls,
}

/// aiosmtpd on a free loopback port, with a self-signed certificate for 127.0.0.1 when
/// it speaks TLS; killed when dropped.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    messages: mpsc::Receiver<Value>,
    cert_pem: String,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start(mode: Mode, auth: bool) -> SmtpServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let key = rcgen::KeyPair::generate().expect("a key pair");
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("valid subject names");
        let cert = params.self_signed(&key).expect("a self-signed certificate");
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, cert.pem()).expect("the certificate written");
        std::fs::write(&key_path, key.serialize_pem()).expect("the key written");
        let stderr_path = dir.path().join("stderr.txt");
        let stderr = std::fs::File::create(&stderr_path).expect("a stderr file");

        let mode_arg = match mode {
            Mode::Plain => "plain",
            Mode::Starttls => "starttls",
            Mode::Tls => "tls",
        };
        let (user, password) = if auth { (USERNAME, PASSWORD) } else { ("", "") };
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(SMTP_SERVER_PY)
            .arg(mode_arg)
            .arg(&cert_path)
            .arg(&key_path)
            .arg(user)
            .arg(password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("python3 starts (the test SMTP server is aiosmtpd, in Python)");
        let stdout = child.stdout.take().expect("the server's stdout");
        let (lines, messages) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(value) => {
                        if lines.send(value).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("smtp server said: {line}"),
                }
            }
        });
        let port = match messages.recv_timeout(GENEROUS) {
            Ok(hello) => hello["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or_else(|| panic!("the server's first line names its port: {hello}")),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!(
                    "the test SMTP server did not start; it needs aiosmtpd \
                     (`python3 -m pip install aiosmtpd==1.4.6`, as scripts/test.sh does):\n{stderr}"
                );
            }
        };
        SmtpServer {
            child,
            port,
            messages,
            cert_pem: cert.pem(),
            dir,
        }
    }

    /// Settings that reach this server, trusting nothing extra yet.
    fn settings(&self, tls: SmtpTls) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".to_owned(),
            port: self.port,
            tls,
            from: "Watchfire <watchfire@example.com>".to_owned(),
            timeout_s: 30,
            ..SmtpSettings::default()
        }
    }

    /// A notifier for `settings` that trusts this server's certificate.
    fn notifier(&self, settings: SmtpSettings) -> Notifier {
        Notifier::new(settings)
            .expect("a notifier")
            .with_smtp_root_certificate(self.cert_pem.as_bytes())
            .expect("the server's certificate")
    }

    /// The next message the server accepted, as Python's email package read it.
    pub fn next_message(&self) -> Value {
        match self.messages.recv_timeout(GENEROUS) {
            Ok(message) => message,
            Err(_) => panic!(
                "no message arrived; the server's stderr:\n{}",
                std::fs::read_to_string(self.dir.path().join("stderr.txt")).unwrap_or_default()
            ),
        }
    }

    /// No further message arrives (checked after a delivery already failed, so no waiting
    /// on timing: the server would have printed before answering).
    fn assert_nothing_more(&self) {
        if let Ok(message) = self.messages.try_recv() {
            panic!("an unexpected message arrived: {message}");
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The alert `shop down` on `monitor shop` in `state`, at a fixed time.
pub(super) fn notification(state: NotificationState) -> Notification {
    Notification {
        alert_id: Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0001),
        rule_name: "shop down".to_owned(),
        severity: "critical".to_owned(),
        subject: "monitor shop".to_owned(),
        state,
        cause: "HTTP 503 from https://shop.example.com/checkout".to_owned(),
        at: Utc
            .with_ymd_and_hms(2025, 6, 30, 23, 59, 58)
            .single()
            .expect("a valid time"),
        link: "https://watchfire.example.com/alerts/5eed0000-0000-4000-8000-000000000001"
            .to_owned(),
        repeat: 0,
    }
}

fn email(to: &[&str]) -> ChannelKind {
    ChannelKind::Email {
        to: to.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The decoded body of the part of `content_type`.
pub fn part<'a>(message: &'a Value, content_type: &str) -> &'a str {
    message["parts"]
        .as_array()
        .and_then(|parts| parts.iter().find(|p| p["content_type"] == content_type))
        .and_then(|p| p["body"].as_str())
        .unwrap_or_else(|| panic!("a {content_type} part in {message}"))
}

/// Both alternatives hold every fact of `n`.
fn assert_parts_name_everything(message: &Value, n: &Notification) {
    assert_eq!(message["content_type"], "multipart/alternative");
    let parts = message["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 2, "{message}");
    let time = "2025-06-30T23:59:58Z";
    for content_type in ["text/plain", "text/html"] {
        let body = part(message, content_type);
        for needle in [
            n.subject.as_str(),
            n.state.as_str(),
            n.severity.as_str(),
            time,
            n.link.as_str(),
        ] {
            assert!(
                body.contains(needle),
                "{content_type} lacks {needle:?}:\n{body}"
            );
        }
    }
    assert!(part(message, "text/plain").contains(&n.cause));
    assert!(part(message, "text/html").contains("<html>"));
}

fn set_password() {
    // Every test that reads it sets the same value, so the order they run in does not matter.
    std::env::set_var(PASSWORD_VAR, PASSWORD);
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let port = listener.local_addr().expect("a bound address").port();
    drop(listener);
    port
}

#[tokio::test]
async fn email_firing_and_resolved_arrive_over_plain_smtp() {
    let server = SmtpServer::start(Mode::Plain, false);
    let notifier = server.notifier(server.settings(SmtpTls::None));
    let channel = email(&["ops@example.com", "dev@example.com"]);

    let firing = notification(NotificationState::Firing);
    notifier
        .deliver(&channel, &firing)
        .await
        .expect("firing delivered");
    let message = server.next_message();
    assert_eq!(message["mail_from"], "watchfire@example.com");
    assert_eq!(
        message["rcpt_tos"],
        serde_json::json!(["ops@example.com", "dev@example.com"])
    );
    assert_eq!(message["tls"], false);
    assert_eq!(message["from"], "Watchfire <watchfire@example.com>");
    assert_eq!(message["to"], "ops@example.com, dev@example.com");
    assert_eq!(
        message["subject"],
        "[FIRING critical] shop down: monitor shop"
    );
    assert_parts_name_everything(&message, &firing);
    assert!(part(&message, "text/html").contains(
        "<a href=\"https://watchfire.example.com/alerts/5eed0000-0000-4000-8000-000000000001\">"
    ));

    let resolved = notification(NotificationState::Resolved);
    notifier
        .deliver(&channel, &resolved)
        .await
        .expect("resolved delivered");
    let second = server.next_message();
    assert_eq!(second["subject"], "[RESOLVED] shop down: monitor shop");
    assert_parts_name_everything(&second, &resolved);
    // One thread per alert, one id per message, and no vacation replies.
    assert_eq!(
        message["references"],
        "<alert.5eed0000-0000-4000-8000-000000000001@example.com>"
    );
    assert_eq!(second["references"], message["references"]);
    assert_ne!(second["message_id"], message["message_id"]);
    assert_eq!(message["auto_submitted"], "auto-generated");
}

#[tokio::test]
async fn email_over_starttls_authenticates_with_the_password_from_the_environment() {
    set_password();
    let server = SmtpServer::start(Mode::Starttls, true);
    let settings = SmtpSettings {
        username: Some(USERNAME.to_owned()),
        password_env: Some(PASSWORD_VAR.to_owned()),
        ..server.settings(SmtpTls::Starttls)
    };
    let notifier = server.notifier(settings);
    let mut n = notification(NotificationState::Test);
    n.subject = "host wëb-1 ☕".to_owned();
    n.cause = "load <b>12.5</b> & rising".to_owned();
    notifier
        .deliver(&email(&["ops@example.com"]), &n)
        .await
        .expect("delivered over STARTTLS");
    let message = server.next_message();
    assert_eq!(message["tls"], true);
    assert_eq!(message["authenticated"], true);
    assert_eq!(message["subject"], "[TEST] shop down: host wëb-1 ☕");
    assert_parts_name_everything(&message, &n);
    let html = part(&message, "text/html");
    assert!(
        html.contains("load &lt;b&gt;12.5&lt;/b&gt; &amp; rising"),
        "{html}"
    );
    assert!(!html.contains("<b>12.5"));
}

#[tokio::test]
async fn email_over_implicit_tls_arrives() {
    let server = SmtpServer::start(Mode::Tls, false);
    let notifier = server.notifier(server.settings(SmtpTls::Tls));
    let n = notification(NotificationState::Firing);
    notifier
        .deliver(&email(&["ops@example.com"]), &n)
        .await
        .expect("delivered over TLS");
    let message = server.next_message();
    assert_eq!(message["tls"], true);
    assert_parts_name_everything(&message, &n);
}

#[tokio::test]
async fn email_with_a_wrong_password_is_permanent_and_does_not_show_it() {
    let server = SmtpServer::start(Mode::Starttls, true);
    let var = "WATCHFIRE_NOTIFY_TEST_WRONG_SMTP_PASSWORD";
    std::env::set_var(var, "WrongPassword123");
    let settings = SmtpSettings {
        username: Some(USERNAME.to_owned()),
        password_env: Some(var.to_owned()),
        ..server.settings(SmtpTls::Starttls)
    };
    let error = server
        .notifier(settings)
        .deliver(
            &email(&["ops@example.com"]),
            &notification(NotificationState::Firing),
        )
        .await
        .expect_err("a wrong password");
    assert!(matches!(error, DeliveryError::Permanent(_)), "{error}");
    assert!(error.to_string().contains("535"), "{error}");
    assert!(!error.to_string().contains("WrongPassword123"), "{error}");
    server.assert_nothing_more();
}

#[tokio::test]
async fn email_with_an_unset_password_variable_is_permanent() {
    let server = SmtpServer::start(Mode::Starttls, true);
    let settings = SmtpSettings {
        username: Some(USERNAME.to_owned()),
        password_env: Some("WATCHFIRE_NOTIFY_TEST_NEVER_SET".to_owned()),
        ..server.settings(SmtpTls::Starttls)
    };
    let error = server
        .notifier(settings)
        .deliver(
            &email(&["ops@example.com"]),
            &notification(NotificationState::Firing),
        )
        .await
        .expect_err("no password");
    assert!(matches!(error, DeliveryError::Permanent(_)), "{error}");
    assert!(error
        .to_string()
        .contains("WATCHFIRE_NOTIFY_TEST_NEVER_SET"));
}

#[tokio::test]
async fn email_starttls_to_an_untrusted_certificate_fails_without_sending() {
    set_password();
    let server = SmtpServer::start(Mode::Starttls, true);
    let settings = SmtpSettings {
        username: Some(USERNAME.to_owned()),
        password_env: Some(PASSWORD_VAR.to_owned()),
        ..server.settings(SmtpTls::Starttls)
    };
    // Not `server.notifier`: this one does not trust the self-signed certificate.
    let notifier = Notifier::new(settings).expect("a notifier");
    let error = notifier
        .deliver(
            &email(&["ops@example.com"]),
            &notification(NotificationState::Firing),
        )
        .await
        .expect_err("an untrusted certificate");
    assert!(!error.to_string().contains(PASSWORD), "{error}");
    server.assert_nothing_more();
}

#[tokio::test]
async fn email_smtp_5xx_is_permanent_and_4xx_transient() {
    let server = SmtpServer::start(Mode::Plain, false);
    let notifier = server.notifier(server.settings(SmtpTls::None));
    let n = notification(NotificationState::Firing);

    let error = notifier
        .deliver(&email(&["nobody@example.com"]), &n)
        .await
        .expect_err("an unknown recipient");
    assert!(matches!(error, DeliveryError::Permanent(_)), "{error}");
    assert!(error.to_string().contains("550"), "{error}");

    let error = notifier
        .deliver(&email(&["busy@example.com"]), &n)
        .await
        .expect_err("a busy recipient");
    assert!(matches!(error, DeliveryError::Transient(_)), "{error}");
    assert!(error.to_string().contains("451"), "{error}");
    server.assert_nothing_more();
}

#[tokio::test]
async fn email_to_a_closed_port_is_transient() {
    let settings = SmtpSettings {
        host: "127.0.0.1".to_owned(),
        port: closed_port(),
        timeout_s: 30,
        ..SmtpSettings::default()
    };
    let error = Notifier::new(settings)
        .expect("a notifier")
        .deliver(
            &email(&["ops@example.com"]),
            &notification(NotificationState::Firing),
        )
        .await
        .expect_err("nothing listens");
    assert!(matches!(error, DeliveryError::Transient(_)), "{error}");
}

#[tokio::test]
async fn email_to_a_bad_address_is_permanent() {
    let error = Notifier::new(SmtpSettings::default())
        .expect("a notifier")
        .deliver(
            &email(&["not-an-address"]),
            &notification(NotificationState::Firing),
        )
        .await
        .expect_err("a bad address");
    assert!(matches!(error, DeliveryError::Permanent(_)), "{error}");
}

/// A notifier with the default SMTP settings.
pub(super) fn notifier() -> Notifier {
    Notifier::new(SmtpSettings::default()).expect("a notifier")
}

/// Delivers `n` through `channel` and answers the one request `target` saw.
pub(super) async fn deliver_once(
    target: &HttpTarget,
    channel: ChannelKind,
    n: &Notification,
) -> SeenRequest {
    notifier().deliver(&channel, n).await.expect("delivered");
    only_request(target)
}

/// The one request `target` saw (asserting there was exactly one).
pub(super) fn only_request(target: &HttpTarget) -> SeenRequest {
    let requests = target.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.into_iter().next().expect("one request")
}

/// The request body parsed as JSON.
pub(super) fn json_body(request: &SeenRequest) -> Value {
    serde_json::from_str(&request.body).expect("a JSON body")
}

#[tokio::test]
async fn webhook_is_signed_over_the_exact_body() {
    let target = HttpTarget::start();
    let secret = "webhook-s3cret";
    let channel = ChannelKind::Webhook {
        url: target.url("/hooks/watchfire"),
        secret: Some(secret.to_owned()),
    };
    let mut n = notification(NotificationState::Firing);
    n.repeat = 2;
    notifier().deliver(&channel, &n).await.expect("delivered");

    let request = only_request(&target);
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/watchfire");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let signature = request
        .header("watchfire-signature")
        .expect("a signature header");
    let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
    assert!(hex
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(request.body.as_bytes());
    mac.verify_slice(&hex::decode(hex).expect("hex"))
        .expect("the signature verifies over the body as received");

    assert_eq!(
        json_body(&request),
        serde_json::json!({
            "alert_id": "5eed0000-0000-4000-8000-000000000001",
            "rule": "shop down",
            "severity": "critical",
            "subject": "monitor shop",
            "state": "firing",
            "cause": "HTTP 503 from https://shop.example.com/checkout",
            "at": "2025-06-30T23:59:58Z",
            "link": "https://watchfire.example.com/alerts/5eed0000-0000-4000-8000-000000000001",
            "repeat": 2,
        })
    );
}

#[tokio::test]
async fn webhook_without_a_secret_is_not_signed() {
    let target = HttpTarget::start();
    let channel = ChannelKind::Webhook {
        url: target.url("/hook"),
        secret: None,
    };
    let request = deliver_once(&target, channel, &notification(NotificationState::Resolved)).await;
    assert!(request.header("watchfire-signature").is_none());
    assert_eq!(json_body(&request)["state"], "resolved");
}

#[tokio::test]
async fn webhook_answers_sort_into_transient_and_permanent() {
    let target = HttpTarget::start();
    let channel = ChannelKind::Webhook {
        url: target.url("/hook/TOKEN-IN-PATH"),
        secret: Some("never-shown".to_owned()),
    };
    let n = notification(NotificationState::Firing);
    let notifier = notifier();
    for (status, transient) in [
        (500, true),
        (503, true),
        (429, true),
        (400, false),
        (404, false),
    ] {
        target.set_status(status);
        let error = notifier
            .deliver(&channel, &n)
            .await
            .expect_err("a refusing receiver");
        assert_eq!(error.is_transient(), transient, "HTTP {status}: {error}");
        let shown = error.to_string();
        assert!(shown.contains(&status.to_string()), "{shown}");
        assert!(!shown.contains("TOKEN-IN-PATH"), "{shown}");
        assert!(!shown.contains("never-shown"), "{shown}");
    }
    target.set_status(204);
    notifier
        .deliver(&channel, &n)
        .await
        .expect("any 2xx is delivery");
}

#[tokio::test]
async fn webhook_to_a_closed_port_is_transient() {
    let channel = ChannelKind::Webhook {
        url: format!("http://127.0.0.1:{}/hook/TOKEN-IN-PATH", closed_port()),
        secret: None,
    };
    let error = notifier()
        .deliver(&channel, &notification(NotificationState::Firing))
        .await
        .expect_err("nothing listens");
    assert!(matches!(error, DeliveryError::Transient(_)), "{error}");
    assert!(!error.to_string().contains("TOKEN-IN-PATH"), "{error}");
}

#[tokio::test]
async fn slack_receiver_gets_the_documented_blocks() {
    let target = HttpTarget::start();
    let channel = ChannelKind::Slack {
        webhook_url: target.url("/services/T000/B000/XXXXXXXX"),
    };
    let request = deliver_once(&target, channel, &notification(NotificationState::Firing)).await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/services/T000/B000/XXXXXXXX");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(request.header("watchfire-signature").is_none());
    let p = json_body(&request);
    assert_eq!(p["text"], "[FIRING critical] shop down: monitor shop");
    let blocks = p["blocks"].as_array().expect("blocks");
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    let header = blocks[0]["text"]["text"].as_str().expect("header text");
    assert!(header.contains("[FIRING critical] shop down: monitor shop"));
    assert!(header.chars().count() <= 150);
    assert_eq!(blocks[1]["type"], "section");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    let section = blocks[1]["text"]["text"].as_str().expect("section text");
    assert!(section.contains("monitor shop"));
    assert!(section.contains("HTTP 503 from https://shop.example.com/checkout"));
    assert!(section.chars().count() <= 3000);
    assert_eq!(blocks[2]["type"], "context");
    assert_eq!(blocks[2]["elements"][0]["type"], "mrkdwn");
    let context = blocks[2]["elements"][0]["text"].as_str().expect("context");
    assert!(context.contains("2025-06-30T23:59:58Z"));
    assert!(context
        .contains("<https://watchfire.example.com/alerts/5eed0000-0000-4000-8000-000000000001|"));
}

#[tokio::test]
async fn slack_refusals_name_the_host_but_not_the_token() {
    let target = HttpTarget::start();
    target.set_status(404);
    target.set_body("text/plain", "no_service");
    let channel = ChannelKind::Slack {
        webhook_url: target.url("/services/T000/B000/SECRETTOKEN"),
    };
    let error = notifier()
        .deliver(&channel, &notification(NotificationState::Firing))
        .await
        .expect_err("a revoked webhook");
    assert!(matches!(error, DeliveryError::Permanent(_)), "{error}");
    let shown = error.to_string();
    assert!(shown.contains("127.0.0.1"), "{shown}");
    assert!(shown.contains("no_service"), "{shown}");
    assert!(!shown.contains("SECRETTOKEN"), "{shown}");
}

#[tokio::test]
async fn discord_receiver_gets_the_documented_embed() {
    let target = HttpTarget::start();
    target.set_status(204);
    let channel = ChannelKind::Discord {
        webhook_url: target.url("/api/webhooks/123/TOKEN"),
    };
    let mut n = notification(NotificationState::Firing);
    n.rule_name = "@everyone shop down".to_owned();
    notifier().deliver(&channel, &n).await.expect("delivered");
    let request = only_request(&target);
    assert_eq!(request.path, "/api/webhooks/123/TOKEN");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let p = json_body(&request);
    assert_eq!(
        p["content"],
        "[FIRING critical] @everyone shop down: monitor shop"
    );
    assert_eq!(p["allowed_mentions"], serde_json::json!({"parse": []}));
    let embed = &p["embeds"][0];
    assert!(embed["title"].as_str().expect("a title").chars().count() <= 256);
    assert_eq!(
        embed["description"],
        "HTTP 503 from https://shop.example.com/checkout"
    );
    assert_eq!(embed["color"], serde_json::json!(0xE74C3C));
    assert_eq!(embed["timestamp"], "2025-06-30T23:59:58Z");
    assert_eq!(
        embed["url"],
        "https://watchfire.example.com/alerts/5eed0000-0000-4000-8000-000000000001"
    );
    let fields = embed["fields"].as_array().expect("fields");
    for field in fields {
        assert!(field["name"].is_string() && field["value"].is_string());
        assert!(field["inline"].is_boolean());
    }
    assert!(fields
        .iter()
        .any(|f| f["name"] == "Subject" && f["value"] == "monitor shop"));

    let resolved = notification(NotificationState::Resolved);
    notifier()
        .deliver(&channel, &resolved)
        .await
        .expect("delivered");
    let requests = target.requests();
    let p: Value = serde_json::from_str(&requests[1].body).expect("JSON");
    assert_eq!(p["embeds"][0]["color"], serde_json::json!(0x2ECC71));
}

#[test]
fn smtp_settings_load_from_the_config_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("watchfire.toml");
    let write = |text: &str| std::fs::write(&path, text).expect("the config written");

    write(
        "[smtp]\nhost = \"smtp.example.com\"\nport = 587\ntls = \"starttls\"\n\
         username = \"watchfire\"\npassword_env = \"SMTP_PASSWORD\"\n\
         from = \"Watchfire <watchfire@example.com>\"\n",
    );
    let settings = Settings::load(Some(&path), FlagOverrides::default()).expect("valid settings");
    assert_eq!(settings.smtp.host, "smtp.example.com");
    assert_eq!(settings.smtp.port, 587);
    assert_eq!(settings.smtp.tls, SmtpTls::Starttls);
    assert_eq!(settings.smtp.password_env.as_deref(), Some("SMTP_PASSWORD"));
    assert_eq!(settings.smtp.timeout_s, 10);

    write("listen = \"127.0.0.1:8080\"\n");
    let settings = Settings::load(Some(&path), FlagOverrides::default()).expect("defaults");
    assert_eq!(settings.smtp, SmtpSettings::default());

    for (text, key) in [
        ("[smtp]\nport = 0\n", "smtp.port"),
        ("[smtp]\nfrom = \"nobody\"\n", "smtp.from"),
        ("[smtp]\nusername = \"watchfire\"\n", "smtp.password_env"),
    ] {
        write(text);
        match Settings::load(Some(&path), FlagOverrides::default()) {
            Err(ConfigError::OutOfRange { key: bad, .. }) => assert_eq!(bad, key, "{text}"),
            other => panic!("{text}: expected {key} out of range, got {other:?}"),
        }
    }
    write("[smtp]\npassword = \"in the file\"\n");
    assert!(matches!(
        Settings::load(Some(&path), FlagOverrides::default()),
        Err(ConfigError::Invalid(_))
    ));
}
