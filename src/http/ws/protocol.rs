//! The WebSocket protocol's words: topics, what a client may send (parsed with a typed
//! error for every way it can be wrong), and the frames the server sends.

use std::fmt;
use std::sync::Arc;

use bytestring::ByteString;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::actors::alert::AlertError;
use crate::domain::sample::validate_hostname;
use crate::events::Role;

/// Longest text frame (and fragmented message) a client may send.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Most topics one `subscribe` or `unsubscribe` may name.
pub const MAX_TOPICS_PER_MESSAGE: usize = 256;
/// Most topics one session may follow at once.
pub const MAX_TOPICS_PER_SESSION: usize = 1024;
/// Longest acknowledgement comment, as the HTTP API allows.
const MAX_COMMENT_CHARS: usize = 2000;

/// What a session can follow.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// The overview: monitors, hosts, open alerts, health.
    Dashboard,
    /// Alerts and their notifications.
    Alerts,
    /// Every event of the log (admin).
    Events,
    /// One monitor.
    Monitor(Uuid),
    /// One host, by its (lower-case) name.
    Host(Arc<str>),
    /// One public status page, by its slug: the only topic a session without a token may follow.
    Status(Arc<str>),
}

impl Topic {
    /// Parses a topic as a client names it.
    pub fn parse(name: &str) -> Result<Topic, WsError> {
        match name {
            "dashboard" => return Ok(Topic::Dashboard),
            "alerts" => return Ok(Topic::Alerts),
            "events" => return Ok(Topic::Events),
            _ => {}
        }
        if let Some(id) = name.strip_prefix("monitor:") {
            return Uuid::parse_str(id)
                .map(Topic::Monitor)
                .map_err(|_| WsError::MonitorId(id.to_owned()));
        }
        if let Some(slug) = name.strip_prefix("status:") {
            return match crate::domain::status_page::check_slug(slug) {
                Ok(()) => Ok(Topic::Status(slug.into())),
                Err(_) => Err(WsError::UnknownTopic(name.to_owned())),
            };
        }
        if let Some(host) = name.strip_prefix("host:") {
            let host = host.to_ascii_lowercase();
            return match validate_hostname(&host) {
                Ok(()) => Ok(Topic::Host(host.into())),
                Err(why) => Err(WsError::Hostname {
                    name: host,
                    detail: why,
                }),
            };
        }
        Err(WsError::UnknownTopic(name.to_owned()))
    }

    /// The least role that may follow it (`None`: anyone, without a token).
    pub fn min_role(&self) -> Option<Role> {
        match self {
            Topic::Events => Some(Role::Admin),
            Topic::Status(_) => None,
            _ => Some(Role::Viewer),
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Dashboard => f.write_str("dashboard"),
            Topic::Alerts => f.write_str("alerts"),
            Topic::Events => f.write_str("events"),
            Topic::Monitor(id) => write!(f, "monitor:{id}"),
            Topic::Host(name) => write!(f, "host:{name}"),
            Topic::Status(slug) => write!(f, "status:{slug}"),
        }
    }
}

/// A message from the client.
#[derive(Debug, PartialEq)]
pub enum ClientMessage {
    /// `{"type":"auth","token"}`.
    Auth {
        /// The API token.
        token: String,
    },
    /// `{"type":"subscribe","topics","since"?}`.
    Subscribe {
        /// What to follow.
        topics: Vec<Topic>,
        /// Resume after this position instead of starting from snapshots.
        since: Option<u64>,
    },
    /// `{"type":"unsubscribe","topics"}`.
    Unsubscribe {
        /// What to stop following.
        topics: Vec<Topic>,
    },
    /// `{"type":"ack","alert_id","comment"?}`.
    Ack {
        /// The firing alert.
        alert_id: Uuid,
        /// Why, or who is on it.
        comment: Option<String>,
    },
}

impl ClientMessage {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<ClientMessage, WsError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| WsError::NotJson(e.to_string()))?;
        let Value::Object(object) = value else {
            return Err(WsError::NotObject);
        };
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            Some(_) => return Err(field("type", "must be a string")),
            None => return Err(field("type", "is required")),
        };
        let string = |name: &'static str| -> Result<Option<&str>, WsError> {
            match object.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(field(name, "must be a string")),
            }
        };
        let topics = || -> Result<Vec<Topic>, WsError> {
            let Some(Value::Array(items)) = object.get("topics") else {
                return Err(field("topics", "must be an array of topic names"));
            };
            if items.is_empty() || items.len() > MAX_TOPICS_PER_MESSAGE {
                return Err(field(
                    "topics",
                    format!("must name 1 to {MAX_TOPICS_PER_MESSAGE} topics"),
                ));
            }
            items
                .iter()
                .map(|item| match item {
                    Value::String(name) => Topic::parse(name),
                    _ => Err(field("topics", "must hold strings only")),
                })
                .collect()
        };
        match kind {
            "auth" => {
                let token = string("token")?
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| field("token", "is required"))?;
                Ok(ClientMessage::Auth {
                    token: token.to_owned(),
                })
            }
            "subscribe" => {
                let since = match object.get("since") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(
                        v.as_u64()
                            .ok_or_else(|| field("since", "must be a position (an integer ≥ 0)"))?,
                    ),
                };
                Ok(ClientMessage::Subscribe {
                    topics: topics()?,
                    since,
                })
            }
            "unsubscribe" => Ok(ClientMessage::Unsubscribe { topics: topics()? }),
            "ack" => {
                let id = string("alert_id")?.ok_or_else(|| field("alert_id", "is required"))?;
                let alert_id =
                    Uuid::parse_str(id).map_err(|_| field("alert_id", "must be an alert id"))?;
                let comment = string("comment")?.map(str::to_owned);
                if comment
                    .as_ref()
                    .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
                {
                    return Err(field(
                        "comment",
                        format!("at most {MAX_COMMENT_CHARS} characters"),
                    ));
                }
                Ok(ClientMessage::Ack { alert_id, comment })
            }
            other => Err(WsError::UnknownType(other.to_owned())),
        }
    }
}

fn field(name: &'static str, detail: impl Into<String>) -> WsError {
    WsError::Field {
        field: name,
        detail: detail.into(),
    }
}

/// Everything a session answers with an `error` frame; its text is the frame's `detail`.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The frame is not JSON.
    #[error("the message is not JSON: {0}")]
    NotJson(String),
    /// The frame is JSON but not an object.
    #[error("the message must be a JSON object")]
    NotObject,
    /// A field is missing or of the wrong type.
    #[error("{field}: {detail}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// `type` names no message.
    #[error("unknown message type {0:?}: use auth, subscribe, unsubscribe or ack")]
    UnknownType(String),
    /// `type` names no message of the `seed004` protocol.
    #[error("unknown message type {0:?}: this protocol (seed004) takes auth and ack")]
    UnknownSeedType(String),
    /// A topic that does not exist.
    #[error("unknown topic {0:?}: use dashboard, alerts, events, monitor:<id> or host:<hostname>")]
    UnknownTopic(String),
    /// `monitor:` followed by something that is not a monitor id.
    #[error("monitor:{0} does not name a monitor: its id is a UUID")]
    MonitorId(String),
    /// `host:` followed by something that is not a hostname.
    #[error("host:{name} does not name a host: {detail}")]
    Hostname {
        /// The name given.
        name: String,
        /// Why it is not a hostname.
        detail: String,
    },
    /// A binary frame.
    #[error("binary frames are not understood: send JSON text frames")]
    Binary,
    /// A frame or fragmented message over the limit.
    #[error("a message over {} KiB was dropped", MAX_MESSAGE_BYTES / 1024)]
    TooLarge,
    /// A fragmented message that did not follow the WebSocket rules.
    #[error("malformed fragmented message: {0}")]
    Fragments(&'static str),
    /// A session would follow too many topics.
    #[error("a session follows at most {MAX_TOPICS_PER_SESSION} topics")]
    TooManyTopics,
    /// Anything but `auth` before authenticating.
    #[error("authenticate first: send {{\"type\":\"auth\",\"token\":\"...\"}}")]
    NotAuthenticated,
    /// The token of an `auth` message is unknown, revoked or expired.
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// No `auth` in time.
    #[error("no authentication within {0} s")]
    AuthTimeout(u64),
    /// A second `auth`.
    #[error("the session is already authenticated")]
    AlreadyAuthenticated,
    /// The session's role is too low.
    #[error("{what} needs the {need} role; the session has {has}")]
    Forbidden {
        /// What was asked.
        what: String,
        /// The role it needs.
        need: &'static str,
        /// The session's role.
        has: &'static str,
    },
    /// The acknowledgement was refused.
    #[error("cannot acknowledge alert {id}: {source}")]
    Ack {
        /// The alert.
        id: Uuid,
        /// Why.
        source: AlertError,
    },
    /// A read model did not reach the position a snapshot needs in time.
    #[error("the {0} read model is behind the log; try again")]
    Behind(&'static str),
    /// The log could not be read for a catch-up.
    #[error("the log cannot be read: {0}")]
    Log(String),
    /// A snapshot could not be written as JSON.
    #[error("cannot encode the snapshot: {0}")]
    Encode(String),
}

/// An RFC 3339 time with nanoseconds, as the log records it.
pub fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// `{"type":"error","detail"}`.
pub fn error_frame(error: &WsError) -> String {
    json!({"type": "error", "detail": error.to_string()}).to_string()
}

/// `{"type":"acked","alert_id","position"}`.
pub fn acked_frame(alert_id: Uuid, position: u64) -> String {
    json!({"type": "acked", "alert_id": alert_id, "position": position}).to_string()
}

/// `{"type":"update","topic","position","event","timestamp","data"}` around already-serialised `data`.
pub fn update_frame(
    topic: &Topic,
    position: u64,
    event: &str,
    timestamp: &str,
    data: &str,
) -> ByteString {
    // Topic names and event type names are plain ASCII without quotes; the time is RFC 3339.
    let topic = Value::String(topic.to_string());
    format!(
        r#"{{"type":"update","topic":{topic},"position":{position},"event":"{event}","timestamp":"{timestamp}","data":{data}}}"#
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_and_print_back() {
        let id = Uuid::new_v4();
        for name in [
            "dashboard".to_owned(),
            "alerts".to_owned(),
            "events".to_owned(),
            format!("monitor:{id}"),
            "host:web-1.example.com".to_owned(),
        ] {
            let topic = Topic::parse(&name).expect("a valid topic");
            assert_eq!(topic.to_string(), name);
        }
        assert_eq!(
            Topic::parse("host:WEB-1").map(|t| t.to_string()).ok(),
            Some("host:web-1".to_owned())
        );
        assert!(matches!(
            Topic::parse("monitor:42"),
            Err(WsError::MonitorId(_))
        ));
        assert!(matches!(
            Topic::parse("host:bad name"),
            Err(WsError::Hostname { .. })
        ));
        assert!(matches!(
            Topic::parse("everything"),
            Err(WsError::UnknownTopic(_))
        ));
    }

    #[test]
    fn messages_parse_with_a_reason_for_every_mistake() {
        let parse = ClientMessage::parse;
        assert_eq!(
            parse(r#"{"type":"subscribe","topics":["alerts"],"since":7}"#).ok(),
            Some(ClientMessage::Subscribe {
                topics: vec![Topic::Alerts],
                since: Some(7)
            })
        );
        assert!(matches!(parse("nope"), Err(WsError::NotJson(_))));
        assert!(matches!(parse("[1]"), Err(WsError::NotObject)));
        assert!(matches!(
            parse(r#"{"type":3}"#),
            Err(WsError::Field { field: "type", .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"dance"}"#),
            Err(WsError::UnknownType(_))
        ));
        assert!(matches!(
            parse(r#"{"type":"subscribe","topics":"alerts"}"#),
            Err(WsError::Field {
                field: "topics",
                ..
            })
        ));
        assert!(matches!(
            parse(r#"{"type":"subscribe","topics":[]}"#),
            Err(WsError::Field {
                field: "topics",
                ..
            })
        ));
        assert!(matches!(
            parse(r#"{"type":"subscribe","topics":["alerts"],"since":-1}"#),
            Err(WsError::Field { field: "since", .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"ack","alert_id":"x"}"#),
            Err(WsError::Field {
                field: "alert_id",
                ..
            })
        ));
        assert!(matches!(
            parse(r#"{"type":"auth","token":5}"#),
            Err(WsError::Field { field: "token", .. })
        ));
    }

    #[test]
    fn update_frames_are_json() {
        let frame = update_frame(
            &Topic::Host("web-1".into()),
            12,
            "HostRecovered",
            &time_text(Utc::now()),
            r#"{"hostname":"web-1"}"#,
        );
        let v: Value = serde_json::from_str(&frame).expect("JSON");
        assert_eq!(v["topic"], "host:web-1");
        assert_eq!(v["position"], 12);
        assert_eq!(v["data"]["hostname"], "web-1");
    }
}
