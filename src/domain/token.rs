//! API tokens: what a token looks like, what the log keeps of it (its SHA-256, never its
//! value), and what creating or revoking one may do, decided purely. The value and its
//! hash, the id and the time come in the command.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::DomainError;
use crate::events::{Event, Role, TokenCreated, TokenRevoked};

/// The bytes of randomness in a token value.
pub const TOKEN_BYTES: usize = 32;

/// Longest token name, in characters (after trimming).
pub const MAX_NAME: usize = 100;

/// A token value from fresh random bytes: `wf_` and 64 hex digits.
pub fn token_value(random: [u8; TOKEN_BYTES]) -> String {
    format!("wf_{}", hex::encode(random))
}

/// The SHA-256 hex of a token's value: what the log stores instead of the token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token's name, trimmed, if it fits: 1 to [`MAX_NAME`] characters, none a control
/// character. Every way of making a token (HTTP, the command line, the first start) holds
/// names to this one rule.
pub fn token_name(name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "name",
            format!("must be 1 to {MAX_NAME} characters without control characters"),
        ));
    }
    Ok(name.to_owned())
}

/// A token as its stream leaves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenState {
    /// Whether it has been revoked.
    pub revoked: bool,
    /// The version of its stream's last event.
    pub version: u64,
}

/// Folds one event of a token's stream into its state (`None`: no token yet).
pub fn evolve(state: Option<TokenState>, event: &Event) -> Option<TokenState> {
    match (state, event) {
        (None, Event::TokenCreated(_)) => Some(TokenState {
            revoked: false,
            version: 0,
        }),
        (Some(s), Event::TokenRevoked(_)) => Some(TokenState {
            revoked: true,
            version: s.version + 1,
        }),
        (state, _) => state,
    }
}

/// What a client asks of a token.
#[derive(Debug)]
pub enum TokenCommand {
    /// Make a token with this (new) id whose value hashes to `token_hash`.
    Create {
        /// The new token's id.
        id: Uuid,
        /// Its name, as given (it is trimmed).
        name: String,
        /// What it may do.
        role: Role,
        /// The SHA-256 hex of its value.
        token_hash: String,
        /// After this it is refused; `None`: never.
        expires_at: Option<DateTime<Utc>>,
        /// The time of the request.
        now: DateTime<Utc>,
    },
    /// Revoke a token from now on.
    Revoke {
        /// The token.
        id: Uuid,
    },
}

/// What `command` appends to a token in `state` (`None`: no such token), or why not.
pub fn decide(
    state: Option<&TokenState>,
    command: TokenCommand,
) -> Result<Vec<Event>, DomainError> {
    match command {
        TokenCommand::Create {
            id,
            name,
            role,
            token_hash,
            expires_at,
            now,
        } => {
            if state.is_some() {
                return Err(DomainError::Conflict(format!("token {id} exists")));
            }
            let name = token_name(&name)?;
            if expires_at.is_some_and(|t| t <= now) {
                return Err(DomainError::invalid("expires_at", "must be in the future"));
            }
            Ok(vec![Event::TokenCreated(TokenCreated {
                token_id: id,
                name,
                role,
                token_hash,
                expires_at,
            })])
        }
        TokenCommand::Revoke { id } => match state {
            Some(s) if !s.revoked => Ok(vec![Event::TokenRevoked(TokenRevoked { token_id: id })]),
            _ => Err(DomainError::NotFound("token")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Uuid = Uuid::from_u128(7);

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn create(name: &str, expires_at: Option<DateTime<Utc>>) -> TokenCommand {
        TokenCommand::Create {
            id: ID,
            name: name.to_owned(),
            role: Role::Viewer,
            token_hash: hash_token("wf_x"),
            expires_at,
            now: at(0),
        }
    }

    /// Given: the state `events` leave a token in.
    fn given(events: &[Event]) -> Option<TokenState> {
        events.iter().fold(None, evolve)
    }

    fn field(r: Result<Vec<Event>, DomainError>) -> String {
        match r {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("refused naming a field, not {other:?}"),
        }
    }

    #[test]
    fn a_token_value_is_wf_and_64_hex_digits_of_its_random_bytes() {
        let value = token_value([0xab; TOKEN_BYTES]);
        assert_eq!(value.len(), 3 + 64);
        assert!(value.starts_with("wf_abab"));
    }

    #[test]
    fn the_hash_of_a_token_is_the_sha256_hex_of_its_value() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_new_token_keeps_its_trimmed_name_and_only_the_hash_of_its_value() {
        let events = decide(None, create("  ci  ", Some(at(60)))).expect("accepted");
        assert_eq!(
            events,
            vec![Event::TokenCreated(TokenCreated {
                token_id: ID,
                name: "ci".to_owned(),
                role: Role::Viewer,
                token_hash: hash_token("wf_x"),
                expires_at: Some(at(60)),
            })]
        );
    }

    #[test]
    fn a_token_name_has_1_to_100_characters_without_control_characters() {
        assert_eq!(field(decide(None, create("   ", None))), "name");
        assert_eq!(field(decide(None, create("a\nb", None))), "name");
        assert_eq!(field(decide(None, create(&"x".repeat(101), None))), "name");
        // Characters, not bytes: 100 two-byte letters fit.
        assert!(decide(None, create(&"é".repeat(100), None)).is_ok());
    }

    #[test]
    fn a_token_that_expires_now_or_before_is_refused() {
        assert_eq!(field(decide(None, create("ci", Some(at(0))))), "expires_at");
        assert_eq!(
            field(decide(None, create("ci", Some(at(-1))))),
            "expires_at"
        );
    }

    #[test]
    fn a_token_id_is_used_once() {
        let state = given(&decide(None, create("ci", None)).expect("accepted"));
        assert!(matches!(
            decide(state.as_ref(), create("ci", None)),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn a_token_is_revoked_once_and_an_unknown_one_is_not_found() {
        let created = decide(None, create("ci", None)).expect("accepted");
        let state = given(&created);
        let revoked = decide(state.as_ref(), TokenCommand::Revoke { id: ID }).expect("revoked");
        assert_eq!(
            revoked,
            vec![Event::TokenRevoked(TokenRevoked { token_id: ID })]
        );
        let state = given(&[created, revoked].concat());
        assert_eq!(
            state,
            Some(TokenState {
                revoked: true,
                version: 1
            })
        );
        assert_eq!(
            decide(state.as_ref(), TokenCommand::Revoke { id: ID }),
            Err(DomainError::NotFound("token"))
        );
        assert_eq!(
            decide(None, TokenCommand::Revoke { id: ID }),
            Err(DomainError::NotFound("token"))
        );
    }
}
