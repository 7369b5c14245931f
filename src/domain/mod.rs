//! The decisions of watchfire, pure: per aggregate (monitor, host, rule, channel,
//! silence, user, token, session) the fold of its stream into a state, and
//! `decide(&state, command) -> Result<Vec<Event>, DomainError>`, which holds every rule
//! about what a command may do. No I/O, no clock and no randomness here: time, ids and
//! secrets come in the command, so a decision can be tested as given events, when a
//! command, then events.
//!
//! Actors (timers, checks, deliveries) and the HTTP and command-line edges call these
//! functions and hand what they decide to the one append path in [`crate::command`].

pub mod channel;
pub mod expect;
pub mod host;
pub mod monitor;
pub mod rule;
pub mod sample;
pub mod session;
pub mod silence;
pub mod status_page;
pub mod token;
pub mod user;

use chrono::{DateTime, Utc};

use crate::events::{Event, StreamId};

/// Why a command was refused: the caller asked for something the rules do not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field of the command does not fit; `field` names it as the API does.
    #[error("{field}: {detail}")]
    Invalid {
        /// The field at fault, such as `interval_s` or `condition.tag`.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The thing the command is about does not exist (or no longer does).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The command clashes with what exists, such as a name already taken.
    #[error("{0}")]
    Conflict(String),
    /// The caller named another version than the stream's (`If-Match`).
    #[error("the {what} is at version {actual}, not {expected}")]
    VersionMismatch {
        /// What the stream holds, such as `monitor`.
        what: &'static str,
        /// The version the caller expected.
        expected: u64,
        /// The stream's version.
        actual: u64,
    },
    /// The command is understood but not allowed for this caller or this thing.
    #[error("{0}")]
    Forbidden(String),
}

impl DomainError {
    /// A field that does not fit, with what is wrong with it.
    pub fn invalid(field: impl Into<String>, detail: impl std::fmt::Display) -> DomainError {
        DomainError::Invalid {
            field: field.into(),
            detail: detail.to_string(),
        }
    }
}

/// Checks an `If-Match` version against the stream's: `None` accepts any.
pub fn expect_version(
    what: &'static str,
    expected: Option<u64>,
    actual: u64,
) -> Result<(), DomainError> {
    match expected {
        Some(expected) if expected != actual => Err(DomainError::VersionMismatch {
            what,
            expected,
            actual,
        }),
        _ => Ok(()),
    }
}

/// A thing with a stream of its own whose state folds that stream's events: what the
/// append path needs to carry out a decision about it and keep its state in step.
pub trait Aggregate: Clone {
    /// Its stream.
    fn stream(&self) -> StreamId;
    /// The version of its stream's last event folded in.
    fn version(&self) -> u64;
    /// Folds one of its events, recorded at `position` as stream version `version` at `at`.
    fn apply_at(&mut self, event: &Event, position: u64, version: u64, at: DateTime<Utc>);
    /// Whether a decided `event` follows from the others (a status change they cause): it is
    /// recorded after them, as caused by them.
    fn is_consequence(event: &Event) -> bool;
}

/// Deserializes a field whose absence means its default: an explicit `null` is refused
/// (`#[serde(default, deserialize_with = "not_null")]` on an `Option<T>`), so a client
/// that sends `null` learns the field, rather than silently getting the default.
pub fn not_null<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    match <Option<T> as serde::Deserialize>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom(
            "must not be null: leave the field out for its default",
        )),
    }
}
