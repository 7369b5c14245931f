//! Login sessions: opened for a user whose password the edge has checked, closed by
//! logging out or by a new password, decided purely. The cookie value's hash, the id and
//! the time come in the command.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::DomainError;
use crate::events::{Event, IdRef, SessionOpened};

/// A session as its stream leaves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionState {
    /// Whether it has been closed.
    pub closed: bool,
    /// The version of its stream's last event.
    pub version: u64,
}

/// Folds one event of a session's stream into its state (`None`: no session yet).
pub fn evolve(state: Option<SessionState>, event: &Event) -> Option<SessionState> {
    match (state, event) {
        (None, Event::SessionOpened(_)) => Some(SessionState {
            closed: false,
            version: 0,
        }),
        (Some(s), Event::SessionClosed(_)) => Some(SessionState {
            closed: true,
            version: s.version + 1,
        }),
        (state, _) => state,
    }
}

/// What a login or a logout asks of a session.
#[derive(Debug)]
pub enum SessionCommand {
    /// Open a session with this (new) id for `username`, whose cookie value hashes to
    /// `token_hash`, lasting `lifetime` from `now`.
    Open {
        /// The new session's id.
        id: Uuid,
        /// Whose.
        username: String,
        /// The SHA-256 hex of the cookie's value.
        token_hash: String,
        /// The time of the login.
        now: DateTime<Utc>,
        /// How long it lasts.
        lifetime: Duration,
    },
    /// Close a session now.
    Close {
        /// The session.
        id: Uuid,
    },
}

/// What `command` appends to a session in `state` (`None`: no such session), or why not.
pub fn decide(
    state: Option<&SessionState>,
    command: SessionCommand,
) -> Result<Vec<Event>, DomainError> {
    match command {
        SessionCommand::Open {
            id,
            username,
            token_hash,
            now,
            lifetime,
        } => {
            if state.is_some() {
                return Err(DomainError::Conflict(format!("session {id} exists")));
            }
            Ok(vec![Event::SessionOpened(SessionOpened {
                session_id: id,
                username,
                token_hash,
                expires_at: now + lifetime,
            })])
        }
        SessionCommand::Close { id } => match state {
            Some(s) if !s.closed => Ok(vec![Event::SessionClosed(IdRef { id })]),
            _ => Err(DomainError::NotFound("session")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Uuid = Uuid::from_u128(11);

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn open(hours: i64) -> SessionCommand {
        SessionCommand::Open {
            id: ID,
            username: "ann".to_owned(),
            token_hash: "h".to_owned(),
            now: at(0),
            lifetime: Duration::hours(hours),
        }
    }

    /// Given: the state `events` leave a session in.
    fn given(events: &[Event]) -> Option<SessionState> {
        events.iter().fold(None, evolve)
    }

    #[test]
    fn a_session_expires_its_lifetime_after_the_login() {
        assert_eq!(
            decide(None, open(12)),
            Ok(vec![Event::SessionOpened(SessionOpened {
                session_id: ID,
                username: "ann".to_owned(),
                token_hash: "h".to_owned(),
                expires_at: at(12 * 3600),
            })])
        );
    }

    #[test]
    fn a_session_is_opened_once() {
        let state = given(&decide(None, open(1)).expect("opened"));
        assert!(matches!(
            decide(state.as_ref(), open(1)),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn a_session_is_closed_once_and_an_unknown_one_is_not_found() {
        let opened = decide(None, open(1)).expect("opened");
        let state = given(&opened);
        let closed = decide(state.as_ref(), SessionCommand::Close { id: ID }).expect("closed");
        assert_eq!(closed, vec![Event::SessionClosed(IdRef { id: ID })]);
        let state = given(&[opened, closed].concat());
        assert_eq!(
            state,
            Some(SessionState {
                closed: true,
                version: 1
            })
        );
        assert_eq!(
            decide(state.as_ref(), SessionCommand::Close { id: ID }),
            Err(DomainError::NotFound("session"))
        );
        assert_eq!(
            decide(None, SessionCommand::Close { id: ID }),
            Err(DomainError::NotFound("session"))
        );
    }
}
