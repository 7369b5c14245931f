//! Text messages through Twilio's Messages API (the shape other SMS gateways copy):
//! `POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic auth
//! `AccountSid:AuthToken` and the form fields `To`, `From` (or `MessagingServiceSid`) and
//! `Body`. The text is the summary and the cause, cut to one 160-character segment.

use super::channel::{check_base_url, check_secret};
use super::text::{one_line, truncate};
use super::Notification;
use crate::events::SmsSettings;

/// The API when the channel names none.
pub(crate) const DEFAULT_API: &str = "https://api.twilio.com";
/// One SMS segment of plain characters.
pub(crate) const BODY_MAX_CHARS: usize = 160;

/// Where the message goes; the account SID is checked to be `AC` and hex, so it is safe in
/// the path.
pub(crate) fn url(s: &SmsSettings) -> String {
    let api = s.api_url.as_deref().unwrap_or(DEFAULT_API);
    format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        api.trim_end_matches('/'),
        s.account_sid
    )
}

/// The text: `[FIRING critical] shop down: monitor shop: HTTP 503 …`, at most 160 characters.
pub(crate) fn body(n: &Notification) -> String {
    let mut text = n.summary();
    if !n.cause.is_empty() {
        text.push_str(" - ");
        text.push_str(&one_line(&n.cause));
    }
    truncate(&text, BODY_MAX_CHARS)
}

/// The form fields: `To`, `From` or `MessagingServiceSid`, `Body`.
pub(crate) fn form(s: &SmsSettings, n: &Notification) -> Vec<(&'static str, String)> {
    let mut form = vec![("To", s.to.clone())];
    match (&s.messaging_service_sid, &s.from) {
        (Some(service), _) => form.push(("MessagingServiceSid", service.clone())),
        (None, Some(from)) => form.push(("From", from.clone())),
        (None, None) => {}
    }
    form.push(("Body", body(n)));
    form
}

/// `prefix` then 32 hex digits, as Twilio's SIDs are.
fn is_sid(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A phone number in E.164: `+` and 8 to 15 digits.
fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// Checks an SMS channel: the account SID, a token, numbers in E.164, and exactly one of
/// `from` and `messaging_service_sid`.
pub(crate) fn validate(s: &SmsSettings) -> Result<(), (String, String)> {
    if !is_sid(&s.account_sid, "AC") {
        return Err((
            "account_sid".into(),
            "is required: AC and 32 hex digits".into(),
        ));
    }
    check_secret("auth_token", &s.auth_token)?;
    if !is_e164(&s.to) {
        return Err((
            "to".into(),
            "is required: a number in E.164, such as +15558675310".into(),
        ));
    }
    match (&s.from, &s.messaging_service_sid) {
        (Some(_), Some(_)) | (None, None) => {
            return Err((
                "from".into(),
                "set from (a number) or messaging_service_sid, one of them".into(),
            ))
        }
        (Some(from), None) if !is_e164(from) => {
            return Err((
                "from".into(),
                "must be a number in E.164, such as +15017122661".into(),
            ))
        }
        (None, Some(service)) if !is_sid(service, "MG") => {
            return Err((
                "messaging_service_sid".into(),
                "must be MG and 32 hex digits".into(),
            ))
        }
        _ => {}
    }
    check_base_url("api_url", &s.api_url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::tests::firing;

    fn settings() -> SmsSettings {
        SmsSettings {
            account_sid: format!("AC{}", "0123456789abcdef".repeat(2)),
            auth_token: "f0e1d2c3b4a5968778695a4b3c2d1e0f".into(),
            from: Some("+15017122661".into()),
            messaging_service_sid: None,
            to: "+15558675310".into(),
            api_url: None,
        }
    }

    #[test]
    fn the_form_posts_to_the_account_with_a_short_body() {
        assert_eq!(
            url(&settings()),
            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"
        );
        let f = form(&settings(), &firing());
        assert_eq!(
            f,
            vec![
                ("To", "+15558675310".to_owned()),
                ("From", "+15017122661".to_owned()),
                (
                    "Body",
                    "[FIRING critical] shop down: monitor shop - HTTP 503 from https://shop.example.com/"
                        .to_owned()
                ),
            ]
        );
        let mut n = firing();
        n.cause = "x".repeat(500);
        assert_eq!(body(&n).chars().count(), BODY_MAX_CHARS);
        let mut s = settings();
        s.from = None;
        s.messaging_service_sid = Some(format!("MG{}", "a".repeat(32)));
        assert_eq!(form(&s, &firing())[1].0, "MessagingServiceSid");
    }

    #[test]
    fn validation_names_the_field() {
        let field = |s: SmsSettings| validate(&s).expect_err("refused").0;
        assert!(validate(&settings()).is_ok());
        let mut s = settings();
        s.account_sid = "AC123".into();
        assert_eq!(field(s), "account_sid");
        let mut s = settings();
        s.auth_token = String::new();
        assert_eq!(field(s), "auth_token");
        let mut s = settings();
        s.to = "5558675310".into();
        assert_eq!(field(s), "to");
        let mut s = settings();
        s.messaging_service_sid = Some(format!("MG{}", "a".repeat(32)));
        assert_eq!(field(s), "from");
        let mut s = settings();
        s.from = None;
        assert_eq!(field(s), "from");
        let mut s = settings();
        s.from = None;
        s.messaging_service_sid = Some("MG1".into());
        assert_eq!(field(s), "messaging_service_sid");
    }
}
