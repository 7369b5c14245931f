//! The one append path: what [`crate::domain`] decided goes to the log with an expected
//! version, and the caller is answered with a [`CommandAnswer`] once it is durable.
//! Actors, the HTTP handlers and the command line all write through here.

use std::time::Duration;

use rand::RngCore;
use uuid::Uuid;

use crate::domain::token::{hash_token, token_value, TOKEN_BYTES};
use crate::domain::DomainError;
use crate::events::{
    Actor, AppendOutcome, Event, EventStore, ExpectedVersion, NewEvent, Position, Role, StoreError,
    StreamId, StreamVersion, TokenCreated,
};
use crate::projections::Progress;

/// Longest a command waits for a read model to show what it appended.
pub const READ_MODEL_WAIT: Duration = Duration::from_secs(5);

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

/// Appends decided events, each recorded as caused by `by`.
pub async fn execute(
    store: &EventStore,
    stream: StreamId,
    expected: ExpectedVersion,
    decided: Vec<Event>,
    by: &Actor,
) -> Result<CommandAnswer, CommandError> {
    let events = decided
        .into_iter()
        .map(|e| NewEvent::new(e, by.clone()))
        .collect();
    append(store, stream, expected, events).await
}

impl CommandAnswer {
    /// Waits (bounded) until `read_model` shows this answer, so the caller's next read does.
    pub async fn visible_in(self, read_model: &Progress) -> CommandAnswer {
        if read_model
            .reached(self.position, READ_MODEL_WAIT)
            .await
            .is_err()
        {
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

/// Records a new token of `role` named `name`: its id, its value (shown once) and where.
pub async fn create_token(
    store: &EventStore,
    name: &str,
    role: Role,
    by: &Actor,
) -> Result<(Uuid, String, CommandAnswer), CommandError> {
    let value = new_token_value();
    let token_id = Uuid::new_v4();
    let created = Event::TokenCreated(TokenCreated {
        token_id,
        name: name.to_owned(),
        role,
        token_hash: hash_token(&value),
        expires_at: None,
    });
    let answer = execute(
        store,
        StreamId::token(token_id),
        ExpectedVersion::NoStream,
        vec![created],
        by,
    )
    .await?;
    Ok((token_id, value, answer))
}
