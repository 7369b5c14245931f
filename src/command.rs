//! The one append path: what [`crate::domain`] decided goes to the log with an expected
//! version, and the caller is answered with a [`CommandAnswer`] once it is durable.
//! Actors, the HTTP handlers and the command line all write through here.

use chrono::{DateTime, Utc};
use rand::RngCore;
use uuid::Uuid;

use crate::domain::token::{self, hash_token, token_value, TokenCommand, TOKEN_BYTES};
use crate::domain::{Aggregate, DomainError};
use crate::events::{
    Actor, AppendOutcome, Event, EventStore, ExpectedVersion, NewEvent, Position, Role, StoreError,
    StreamId, StreamVersion,
};
use crate::projections::Progress;

/// Why a command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The rules refused it; nothing was appended.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The log refused or failed it; nothing was appended.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The actor that owns the thing is not running.
    #[error("the {0}'s actor is not running")]
    Unavailable(&'static str),
    /// The thing is moving between the nodes of a cluster: another try will find it.
    #[error("the {0} is moving to another node of the cluster; try again shortly")]
    Moving(&'static str),
}

/// What a carried-out command answers: the stream it wrote and where its events are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandAnswer {
    /// The stream written.
    pub stream: StreamId,
    /// The stream's version after the command (its `ETag`).
    pub version: StreamVersion,
    /// The log position of the command's last event (`Watchfire-Position`).
    pub position: Position,
}

/// Appends what was decided to `stream` as `by`, expecting `expected`; durable when it returns.
pub async fn append(
    store: &EventStore,
    stream: StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<CommandAnswer, CommandError> {
    Ok(append_recorded(store, stream, expected, events).await?.0)
}

/// Appends like [`append`], and also hands back the log's outcome (the events' timestamp
/// and first position), for an actor that folds what it appended into its state.
pub async fn append_recorded(
    store: &EventStore,
    stream: StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<(CommandAnswer, AppendOutcome), CommandError> {
    let outcome = store.append(stream.clone(), expected, events).await?;
    let answer = CommandAnswer {
        stream,
        version: outcome.stream_version,
        position: outcome.last_position,
    };
    Ok((answer, outcome))
}

/// Carries out what was decided about `shadow` (a copy of the aggregate's state): the
/// facts as one commit by `by` at the state's version, then each consequence in a commit
/// of its own, caused by the event before it; folds each into the state it hands back. A
/// consequence that cannot be recorded is logged and the rest are dropped: the facts
/// stand, and the aggregate decides again on its next fact.
pub async fn carry_out<A: Aggregate>(
    store: EventStore,
    mut shadow: A,
    events: Vec<Event>,
    by: Actor,
) -> (A, Result<CommandAnswer, CommandError>) {
    let stream = shadow.stream();
    let (consequences, facts): (Vec<Event>, Vec<Event>) =
        events.into_iter().partition(|e| A::is_consequence(e));
    let expected = ExpectedVersion::Exact(StreamVersion(shadow.version()));
    let new = facts
        .iter()
        .map(|e| NewEvent::new(e.clone(), by.clone()))
        .collect();
    let (mut answer, out) = match append_recorded(&store, stream.clone(), expected, new).await {
        Ok(recorded) => recorded,
        Err(e) => return (shadow, Err(e)),
    };
    fold(&mut shadow, &facts, &out);
    for next in consequences {
        let new = NewEvent::new(next.clone(), Actor::system()).caused_by(answer.position);
        let expected = ExpectedVersion::Exact(answer.version);
        match append_recorded(&store, stream.clone(), expected, vec![new]).await {
            Ok((after, out)) => {
                fold(&mut shadow, std::slice::from_ref(&next), &out);
                answer = after;
            }
            Err(e) => {
                tracing::warn!(stream = %stream, event = next.type_name(), error = %e, "cannot record a consequence");
                break;
            }
        }
    }
    (shadow, Ok(answer))
}

/// `state` (as a read model holds it) with the events of its stream after it folded in
/// (blocking: reads the log).
pub fn rehydrate<A: Aggregate>(store: &EventStore, mut state: A) -> Result<A, StoreError> {
    let tail = store.read_stream(
        &state.stream(),
        StreamVersion(state.version() + 1),
        usize::MAX,
    )?;
    for e in &tail {
        state.apply_at(&e.event, e.position.0, e.version.0, e.timestamp);
    }
    Ok(state)
}

/// Folds `events`, appended as one commit with outcome `out`, into `state`.
fn fold<A: Aggregate>(state: &mut A, events: &[Event], out: &AppendOutcome) {
    let first_version = (out.stream_version.0 + 1).saturating_sub(events.len() as u64);
    for (i, e) in events.iter().enumerate() {
        let i = i as u64;
        state.apply_at(
            e,
            out.first_position.0 + i,
            first_version + i,
            out.timestamp,
        );
    }
}

/// Who a command is recorded as coming from, and, for one that follows from an earlier
/// event, that event's position and correlation.
#[derive(Debug, Clone)]
pub struct Cause {
    /// Who asked.
    pub actor: Actor,
    /// The correlation id its events carry.
    pub correlation: Option<Uuid>,
    /// The position of the event that caused it.
    pub causation: Option<Position>,
}

impl Cause {
    /// A command `actor` asked for, caused by no event.
    pub fn by(actor: Actor) -> Cause {
        Cause {
            actor,
            correlation: None,
            causation: None,
        }
    }

    /// `event` as this cause records it.
    fn stamp(&self, event: Event) -> NewEvent {
        let mut new = NewEvent::new(event, self.actor.clone());
        if let Some(correlation) = self.correlation {
            new = new.correlated(correlation);
        }
        if let Some(position) = self.causation {
            new = new.caused_by(position);
        }
        new
    }
}

/// Appends decided events, each recorded as caused by `by`.
pub async fn execute(
    store: &EventStore,
    stream: StreamId,
    expected: ExpectedVersion,
    decided: Vec<Event>,
    by: &Actor,
) -> Result<CommandAnswer, CommandError> {
    execute_caused(store, stream, expected, decided, &Cause::by(by.clone())).await
}

/// Appends decided events as [`execute`] does, recorded with `cause`.
pub async fn execute_caused(
    store: &EventStore,
    stream: StreamId,
    expected: ExpectedVersion,
    decided: Vec<Event>,
    cause: &Cause,
) -> Result<CommandAnswer, CommandError> {
    let events = decided.into_iter().map(|e| cause.stamp(e)).collect();
    append(store, stream, expected, events).await
}

/// Waits (bounded) until `read_model` holds everything durable in the log, so a decision
/// made from it sees every command answered before; past the bound it decides on what it
/// has, and the log's expected version still refuses a stale decision.
pub async fn fresh(store: &EventStore, read_model: &Progress) {
    let durable = store.durable_position();
    if read_model.reached(durable).await.is_err() {
        tracing::warn!(
            position = durable.0,
            "a read model was behind the log past its wait"
        );
    }
}

impl CommandAnswer {
    /// Waits (bounded) until `read_model` shows this answer, so the caller's next read does.
    pub async fn visible_in(self, read_model: &Progress) -> CommandAnswer {
        if read_model.reached(self.position).await.is_err() {
            tracing::warn!(
                position = self.position.0,
                "a read model did not show a command within its wait"
            );
        }
        self
    }
}

/// A new random token value (shown once; the log keeps only its hash).
pub fn new_token_value() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    token_value(bytes)
}

/// A token to make, as any edge asks for one (HTTP, the command line, the first start).
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Its name (held to [`token::token_name`]).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// After this it is refused; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// The value to use (the configured admin token); `None` draws a random one.
    pub value: Option<String>,
}

/// A token made: its id and its value, shown once, and where it was recorded.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    /// The token's id.
    pub id: Uuid,
    /// Its name, as the rule left it (trimmed).
    pub name: String,
    /// Its value: the log keeps only its hash.
    pub value: String,
    /// Where its creation is.
    pub answer: CommandAnswer,
}

/// The one way a token is made: `domain::token` decides on `request` at `now`, and its
/// creation is appended with `cause`.
pub async fn create_token(
    store: &EventStore,
    request: TokenRequest,
    now: DateTime<Utc>,
    cause: &Cause,
) -> Result<CreatedToken, CommandError> {
    let value = request.value.unwrap_or_else(new_token_value);
    let id = Uuid::new_v4();
    let decided = token::decide(
        None,
        TokenCommand::Create {
            id,
            name: request.name,
            role: request.role,
            token_hash: hash_token(&value),
            expires_at: request.expires_at,
            now,
        },
    )?;
    let name = decided
        .iter()
        .find_map(|e| match e {
            Event::TokenCreated(t) => Some(t.name.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let answer = execute_caused(
        store,
        StreamId::token(id),
        ExpectedVersion::NoStream,
        decided,
        cause,
    )
    .await?;
    Ok(CreatedToken {
        id,
        name,
        value,
        answer,
    })
}
