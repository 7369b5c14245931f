//! The generic webhook: a flat JSON body, signed with HMAC-SHA256 when the channel has a
//! secret, so a receiver can check the body came from this server unchanged.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use super::text::rfc3339;
use super::{DeliveryError, Notification, NotificationState};

/// The header that carries `sha256=<lowercase hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "Watchfire-Signature";

/// The webhook body; its field names are the documented contract with receivers.
#[derive(Serialize)]
struct Body<'a> {
    alert_id: Uuid,
    rule: &'a str,
    severity: &'a str,
    subject: &'a str,
    state: NotificationState,
    cause: &'a str,
    at: String,
    link: &'a str,
    repeat: u32,
}

/// The exact bytes POSTed (and signed) for `n`.
pub(crate) fn body(n: &Notification) -> Result<Vec<u8>, DeliveryError> {
    let body = Body {
        alert_id: n.alert_id,
        rule: &n.rule_name,
        severity: &n.severity,
        subject: &n.subject,
        state: n.state,
        cause: &n.cause,
        at: rfc3339(n.at),
        link: &n.link,
        repeat: n.repeat,
    };
    serde_json::to_vec(&body)
        .map_err(|e| DeliveryError::Permanent(format!("cannot encode the webhook body: {e}")))
}

/// The `Watchfire-Signature` value for `body`: `sha256=` and the lowercase hex
/// HMAC-SHA256 of exactly these bytes keyed with `secret`.
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length (long ones are hashed), so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::firing;

    #[test]
    fn the_signature_matches_rfc_4231_test_case_2() {
        assert_eq!(
            webhook_signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_body_has_exactly_the_documented_fields() {
        let mut n = firing();
        n.repeat = 3;
        let bytes = body(&n).expect("a body");
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(
            json,
            serde_json::json!({
                "alert_id": "01234567-89ab-cdef-0123-456789abcdef",
                "rule": "shop down",
                "severity": "critical",
                "subject": "monitor shop",
                "state": "firing",
                "cause": "HTTP 503 from https://shop.example.com/",
                "at": "2025-03-01T12:30:05Z",
                "link": "https://watchfire.example.com/alerts/01234567-89ab-cdef-0123-456789abcdef",
                "repeat": 3,
            })
        );
        n.state = NotificationState::Resolved;
        let json: serde_json::Value =
            serde_json::from_slice(&body(&n).expect("a body")).expect("JSON");
        assert_eq!(json["state"], "resolved");
    }

    #[test]
    fn the_signature_covers_the_exact_body() {
        let bytes = body(&firing()).expect("a body");
        let signature = webhook_signature("s3cret", &bytes);
        let hex = signature.strip_prefix("sha256=").expect("the prefix");
        assert_eq!(hex.len(), 64);
        assert!(hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"s3cret").expect("any key length");
        mac.update(&bytes);
        let expected = hex::decode(hex).expect("hex");
        assert!(mac.verify_slice(&expected).is_ok());
        let mut changed = bytes.clone();
        changed.push(b' ');
        assert_ne!(webhook_signature("s3cret", &changed), signature);
    }
}
