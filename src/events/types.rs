//! The small value types of the log: positions, versions, stream ids, actors and envelopes.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::chain::{Chain, ChainHash};
use super::event::Event;

/// Global position of an event in the log: strictly increasing from 1, gaps allowed after retention.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Position(pub u64);

impl Position {
    /// The position before the first event: reading "after" it reads everything.
    pub const START: Position = Position(0);

    /// The position right after this one.
    pub fn next(self) -> Position {
        Position(self.0.saturating_add(1))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Version of an event within its stream, counting from 0.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct StreamVersion(pub u64);

impl fmt::Display for StreamVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Longest stream id accepted, in bytes.
pub const MAX_STREAM_ID_LEN: usize = 200;

/// Name of a stream such as `monitor-<uuid>`, `host-web-1` or `system`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StreamId(String);

impl StreamId {
    /// Checks and wraps a stream id: 1 to 200 bytes of ASCII letters, digits and `-_.:@`.
    pub fn new(id: impl Into<String>) -> Result<StreamId, InvalidStreamId> {
        let id = id.into();
        let ok_char = |c: char| c.is_ascii_alphanumeric() || "-_.:@".contains(c);
        if id.is_empty() || id.len() > MAX_STREAM_ID_LEN || !id.chars().all(ok_char) {
            return Err(InvalidStreamId(id));
        }
        Ok(StreamId(id))
    }

    /// The `system` stream, where watchfire records facts about itself.
    pub fn system() -> StreamId {
        StreamId("system".to_owned())
    }

    /// The stream of one token.
    pub fn token(id: Uuid) -> StreamId {
        StreamId(format!("token-{id}"))
    }

    /// The stream of one monitor.
    pub fn monitor(id: Uuid) -> StreamId {
        StreamId(format!("monitor-{id}"))
    }

    /// The stream of one host (hostnames are DNS names, valid in a stream id).
    pub fn host(hostname: &str) -> StreamId {
        StreamId(format!("host-{hostname}"))
    }

    /// The stream of one alert instance.
    pub fn alert(id: Uuid) -> StreamId {
        StreamId(format!("alert-{id}"))
    }

    /// The stream of one alert rule.
    pub fn rule(id: Uuid) -> StreamId {
        StreamId(format!("rule-{id}"))
    }

    /// The stream of one notification channel.
    pub fn channel(id: Uuid) -> StreamId {
        StreamId(format!("channel-{id}"))
    }

    /// The stream of one silence.
    pub fn silence(id: Uuid) -> StreamId {
        StreamId(format!("silence-{id}"))
    }

    /// The stream of one status page, with its incidents and maintenance.
    pub fn status_page(slug: &str) -> StreamId {
        StreamId(format!("status-{slug}"))
    }

    /// The stream of one login session.
    pub fn session(id: Uuid) -> StreamId {
        StreamId(format!("session-{id}"))
    }

    /// The stream of one user; fails for a name a stream id cannot hold.
    pub fn user(name: &str) -> Result<StreamId, InvalidStreamId> {
        StreamId::new(format!("user-{name}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stream id that is empty, too long, or has a character outside `[A-Za-z0-9-_.:@]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid stream id {0:?}: use 1 to 200 ASCII letters, digits or -_.:@")]
pub struct InvalidStreamId(pub String);

/// What the appender believes about the stream's current version.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version.
    Exact(StreamVersion),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// Who caused an event: `system`, `token:<uuid>`, `user:<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor(pub String);

impl Actor {
    /// watchfire itself.
    pub fn system() -> Actor {
        Actor("system".to_owned())
    }

    /// A caller authenticated by an API token.
    pub fn token(id: Uuid) -> Actor {
        Actor(format!("token:{id}"))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event on its way into the log, with the context of who and what caused it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// The fact itself.
    pub event: Event,
    /// Who caused it.
    pub actor: Actor,
    /// Groups the events of one request or workflow.
    pub correlation_id: Uuid,
    /// The position of the event that caused this one, if any.
    pub causation: Option<Position>,
}

impl NewEvent {
    /// An event caused by `actor`, with a fresh correlation id and no causation.
    pub fn new(event: Event, actor: Actor) -> NewEvent {
        NewEvent {
            event,
            actor,
            correlation_id: Uuid::new_v4(),
            causation: None,
        }
    }

    /// The same event, caused by the event at `position`.
    pub fn caused_by(mut self, position: Position) -> NewEvent {
        self.causation = Some(position);
        self
    }

    /// The same event, in the given correlation.
    pub fn correlated(mut self, correlation_id: Uuid) -> NewEvent {
        self.correlation_id = correlation_id;
        self
    }
}

/// An event as the log holds it: the envelope of DESIGN.md and the decoded payload.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    /// Global position.
    pub position: Position,
    /// The stream it belongs to.
    pub stream: StreamId,
    /// Its version within the stream.
    pub version: StreamVersion,
    /// The schema version its payload was written with (the payload is upcast to the current one).
    pub schema_version: u16,
    /// When it was recorded (UTC, never earlier than the event before it).
    pub timestamp: DateTime<Utc>,
    /// Who caused it.
    pub actor: Actor,
    /// Groups the events of one request or workflow.
    pub correlation_id: Uuid,
    /// The position of the event that caused this one.
    pub causation: Option<Position>,
    /// Which hash chain it belongs to.
    pub chain: Chain,
    /// The position of the previous event of the same chain.
    pub prev_in_chain: Option<Position>,
    /// The payload, upcast to the current schema.
    pub event: Event,
    /// The chain hash over the envelope, the payload and the previous hash of the chain.
    pub hash: ChainHash,
}

impl RecordedEvent {
    /// `event` as if the store had recorded it in the system stream at `position`, with no
    /// chain hash: what folds are tested with, without a store.
    pub fn unchained(
        position: u64,
        version: u64,
        timestamp: DateTime<Utc>,
        event: Event,
    ) -> RecordedEvent {
        RecordedEvent {
            position: Position(position),
            stream: StreamId::system(),
            version: StreamVersion(version),
            schema_version: 1,
            timestamp,
            actor: Actor::system(),
            correlation_id: Uuid::nil(),
            causation: None,
            chain: event.chain(),
            prev_in_chain: None,
            event,
            hash: ChainHash::default(),
        }
    }

    /// The event type name, as stored in the envelope.
    pub fn event_type(&self) -> &'static str {
        self.event.type_name()
    }
}

/// A shared, immutable recorded event, as handed to subscribers.
pub type SharedEvent = Arc<RecordedEvent>;

/// What a successful append tells the caller.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Position of the first appended event.
    pub first_position: Position,
    /// Position of the last appended event.
    pub last_position: Position,
    /// The stream's version after the append.
    pub stream_version: StreamVersion,
    /// The time recorded on the appended events.
    pub timestamp: DateTime<Utc>,
}
