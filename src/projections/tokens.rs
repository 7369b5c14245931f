//! Who may call the API: API tokens, users and their login sessions, each credential keyed
//! by the SHA-256 hex of its value, for authentication.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Projection;
use crate::domain::session::SessionState;
use crate::domain::token::TokenState;
use crate::domain::user::UserState;
use crate::events::{Actor, Event, RecordedEvent, Role};

/// One credential (an API token, or a user's login session) as authentication needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The token's id (for a session, the session's id).
    pub id: Uuid,
    /// Its name (for a session, the user's name).
    pub name: String,
    /// What it may do (for a session, the user's role now).
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// After this it is refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked (for a session, closed), if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The user whose login session this is; `None` for an API token.
    #[serde(default)]
    pub user: Option<String>,
}

impl TokenEntry {
    /// Whether the token may be used at `now`.
    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }

    /// The token as `domain::token` decides on it: until it is revoked, its stream holds
    /// only its creation.
    pub fn state(&self) -> TokenState {
        let revoked = self.revoked_at.is_some();
        TokenState {
            revoked,
            version: u64::from(revoked),
        }
    }

    /// Who the log names as the cause of what this credential does: `user:<name>` for a
    /// session, `token:<id>` for an API token.
    pub fn actor(&self) -> Actor {
        match &self.user {
            Some(name) => Actor(format!("user:{name}")),
            None => Actor::token(self.id),
        }
    }
}

/// A user who may log in.
#[derive(Clone, Serialize, Deserialize)]
pub struct UserEntry {
    /// The login name.
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// The password's argon2id hash in PHC form (never the password).
    pub password_hash: String,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// The position of `UserCreated`: tells this user from an earlier one of the same name.
    pub created_position: u64,
    /// The version of the user's stream after its last event.
    pub version: u64,
}

impl UserEntry {
    /// The user as `domain::user` decides on them.
    pub fn state(&self) -> UserState {
        UserState {
            role: self.role,
            password_hash: self.password_hash.clone(),
            version: self.version,
        }
    }
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("password_hash", &"[redacted]")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A login session, as the log tells it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionEntry {
    /// The session.
    pub session_id: Uuid,
    /// Whose.
    pub username: String,
    /// The `created_position` of the user it was opened for; a re-created user of the same
    /// name does not inherit it.
    pub user_position: Option<u64>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// After this it is refused.
    pub expires_at: DateTime<Utc>,
    /// When it was closed (logout), if it was.
    pub closed_at: Option<DateTime<Utc>>,
}

impl SessionEntry {
    /// The session as `domain::session` decides on it: until it is closed, its stream
    /// holds only its opening.
    pub fn state(&self) -> SessionState {
        let closed = self.closed_at.is_some();
        SessionState {
            closed,
            version: u64::from(closed),
        }
    }
}

/// Why a credential that hashes to a known value is refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No token or session has this value.
    #[error("unknown token")]
    Unknown,
    /// The API token was revoked.
    #[error("the token was revoked")]
    Revoked,
    /// The API token has expired.
    #[error("the token has expired")]
    Expired,
    /// The session was closed by logging out.
    #[error("the session was closed (logged out): log in again")]
    SessionClosed,
    /// The session has expired.
    #[error("the session has expired: log in again")]
    SessionExpired,
    /// The session's user was deleted.
    #[error("the session's user was deleted")]
    UserDeleted,
}

/// Every API token, user and session.
#[derive(Default, Debug, Serialize, Deserialize)]
pub struct Tokens {
    by_hash: HashMap<String, TokenEntry>,
    hash_of: HashMap<Uuid, String>,
    #[serde(default)]
    users: BTreeMap<String, UserEntry>,
    #[serde(default)]
    sessions: HashMap<String, SessionEntry>,
    #[serde(default)]
    session_hash_of: HashMap<Uuid, String>,
}

impl Tokens {
    /// The API token whose value hashes to `hash`.
    pub fn by_hash(&self, hash: &str) -> Option<&TokenEntry> {
        self.by_hash.get(hash)
    }

    /// The API token with this id.
    pub fn token(&self, id: Uuid) -> Option<&TokenEntry> {
        self.hash_of.get(&id).and_then(|h| self.by_hash.get(h))
    }

    /// Every API token, revoked or not, oldest first.
    pub fn tokens(&self) -> Vec<&TokenEntry> {
        let mut all: Vec<&TokenEntry> = self.by_hash.values().collect();
        all.sort_by_key(|t| (t.created_at, t.id));
        all
    }

    /// The user named `username`, if it exists.
    pub fn user(&self, username: &str) -> Option<&UserEntry> {
        self.users.get(username)
    }

    /// Every user, by name.
    pub fn users(&self) -> impl Iterator<Item = &UserEntry> {
        self.users.values()
    }

    /// The session whose cookie value hashes to `hash`.
    pub fn session(&self, hash: &str) -> Option<&SessionEntry> {
        self.sessions.get(hash)
    }

    /// The ids of `username`'s sessions still open at `now`.
    pub fn open_sessions_of(&self, username: &str, now: DateTime<Utc>) -> Vec<Uuid> {
        self.sessions
            .values()
            .filter(|s| s.username == username && s.closed_at.is_none() && s.expires_at > now)
            .map(|s| s.session_id)
            .collect()
    }

    /// The session with this id.
    pub fn session_by_id(&self, id: Uuid) -> Option<&SessionEntry> {
        self.session_hash_of
            .get(&id)
            .and_then(|h| self.sessions.get(h))
    }

    /// The credential (API token or session) whose value hashes to `hash`, if usable at `now`.
    pub fn authenticate(&self, hash: &str, now: DateTime<Utc>) -> Result<TokenEntry, Refusal> {
        if let Some(entry) = self.by_hash.get(hash) {
            return if entry.revoked_at.is_some() {
                Err(Refusal::Revoked)
            } else if !entry.usable_at(now) {
                Err(Refusal::Expired)
            } else {
                Ok(entry.clone())
            };
        }
        let session = self.sessions.get(hash).ok_or(Refusal::Unknown)?;
        if session.closed_at.is_some() {
            return Err(Refusal::SessionClosed);
        }
        if now >= session.expires_at {
            return Err(Refusal::SessionExpired);
        }
        let user = self
            .users
            .get(&session.username)
            .filter(|u| Some(u.created_position) == session.user_position)
            .ok_or(Refusal::UserDeleted)?;
        Ok(TokenEntry {
            id: session.session_id,
            name: user.username.clone(),
            role: user.role,
            created_at: session.opened_at,
            expires_at: Some(session.expires_at),
            revoked_at: None,
            user: Some(user.username.clone()),
        })
    }

    /// How many API tokens exist, revoked or not.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether no API token exists.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

impl Projection for Tokens {
    const NAME: &'static str = "tokens";
    const VERSION: u32 = 2;

    fn apply(&mut self, event: &RecordedEvent) {
        match &event.event {
            Event::TokenCreated(t) => {
                self.hash_of.insert(t.token_id, t.token_hash.clone());
                self.by_hash.insert(
                    t.token_hash.clone(),
                    TokenEntry {
                        id: t.token_id,
                        name: t.name.clone(),
                        role: t.role,
                        created_at: event.timestamp,
                        expires_at: t.expires_at,
                        revoked_at: None,
                        user: None,
                    },
                );
            }
            Event::TokenRevoked(t) => {
                if let Some(entry) = self
                    .hash_of
                    .get(&t.token_id)
                    .and_then(|h| self.by_hash.get_mut(h))
                {
                    entry.revoked_at.get_or_insert(event.timestamp);
                }
            }
            Event::UserCreated(u) => {
                self.users.insert(
                    u.username.clone(),
                    UserEntry {
                        username: u.username.clone(),
                        role: u.role,
                        password_hash: u.password_hash.clone(),
                        created_at: event.timestamp,
                        created_position: event.position.0,
                        version: event.version.0,
                    },
                );
            }
            Event::UserUpdated(u) => {
                if let Some(user) = self.users.get_mut(&u.username) {
                    user.role = u.role;
                    user.password_hash = u.password_hash.clone();
                    user.version = event.version.0;
                }
            }
            Event::UserDeleted(u) => {
                self.users.remove(&u.username);
            }
            Event::SessionOpened(s) => {
                // Sessions that expired before this one opened can never be used again; the
                // event's own time keeps the fold free of the clock.
                let now = event.timestamp;
                let (sessions, ids) = (&mut self.sessions, &mut self.session_hash_of);
                sessions.retain(|_, old| {
                    let keep = old.expires_at > now;
                    if !keep {
                        ids.remove(&old.session_id);
                    }
                    keep
                });
                let user_position = self.users.get(&s.username).map(|u| u.created_position);
                self.session_hash_of
                    .insert(s.session_id, s.token_hash.clone());
                self.sessions.insert(
                    s.token_hash.clone(),
                    SessionEntry {
                        session_id: s.session_id,
                        username: s.username.clone(),
                        user_position,
                        opened_at: event.timestamp,
                        expires_at: s.expires_at,
                        closed_at: None,
                    },
                );
            }
            Event::SessionClosed(s) => {
                if let Some(session) = self
                    .session_hash_of
                    .get(&s.id)
                    .and_then(|h| self.sessions.get_mut(h))
                {
                    session.closed_at.get_or_insert(event.timestamp);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{IdRef, SessionOpened, TokenCreated, TokenRevoked, UserCreated, UserRef};
    use chrono::Duration;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default() + Duration::minutes(minutes)
    }

    fn recorded(position: u64, version: u64, minutes: i64, event: Event) -> RecordedEvent {
        RecordedEvent::unchained(position, version, at(minutes), event)
    }

    fn user(name: &str, role: Role) -> Event {
        Event::UserCreated(UserCreated {
            username: name.to_owned(),
            role,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        })
    }

    fn session(id: u128, name: &str, hash: &str, expires: i64) -> Event {
        Event::SessionOpened(SessionOpened {
            session_id: Uuid::from_u128(id),
            username: name.to_owned(),
            token_hash: hash.to_owned(),
            expires_at: at(expires),
        })
    }

    #[test]
    fn tokens_are_refused_once_revoked_or_expired() {
        let mut t = Tokens::default();
        let id = Uuid::from_u128(1);
        t.apply(&recorded(
            1,
            1,
            0,
            Event::TokenCreated(TokenCreated {
                token_id: id,
                name: "ci".into(),
                role: Role::Operator,
                token_hash: "h1".into(),
                expires_at: Some(at(10)),
            }),
        ));
        assert_eq!(
            t.authenticate("h1", at(1)).map(|e| e.role),
            Ok(Role::Operator)
        );
        assert_eq!(t.authenticate("h1", at(10)), Err(Refusal::Expired));
        assert_eq!(t.authenticate("nope", at(1)), Err(Refusal::Unknown));
        t.apply(&recorded(
            2,
            2,
            2,
            Event::TokenRevoked(TokenRevoked { token_id: id }),
        ));
        assert_eq!(t.authenticate("h1", at(3)), Err(Refusal::Revoked));
        assert_eq!(t.token(id).and_then(|e| e.revoked_at), Some(at(2)));
        assert_eq!(t.tokens().len(), 1);
    }

    #[test]
    fn tokens_a_session_carries_its_users_role_until_closed_or_expired() {
        let mut t = Tokens::default();
        t.apply(&recorded(1, 1, 0, user("ann", Role::Viewer)));
        t.apply(&recorded(2, 1, 1, session(7, "ann", "s1", 60)));
        let entry = t.authenticate("s1", at(2)).expect("the session is usable");
        assert_eq!(entry.role, Role::Viewer);
        assert_eq!(entry.user.as_deref(), Some("ann"));
        assert_eq!(entry.id, Uuid::from_u128(7));
        assert_eq!(entry.actor(), Actor("user:ann".to_owned()));
        assert_eq!(t.authenticate("s1", at(60)), Err(Refusal::SessionExpired));
        t.apply(&recorded(
            3,
            2,
            3,
            Event::SessionClosed(IdRef {
                id: Uuid::from_u128(7),
            }),
        ));
        assert_eq!(t.authenticate("s1", at(4)), Err(Refusal::SessionClosed));
    }

    #[test]
    fn tokens_a_deleted_users_sessions_stay_refused_even_if_the_name_returns() {
        let mut t = Tokens::default();
        t.apply(&recorded(1, 1, 0, user("bob", Role::Admin)));
        t.apply(&recorded(2, 1, 1, session(1, "bob", "s1", 60)));
        t.apply(&recorded(
            3,
            2,
            2,
            Event::UserDeleted(UserRef {
                username: "bob".into(),
            }),
        ));
        assert!(t.user("bob").is_none());
        assert_eq!(t.authenticate("s1", at(3)), Err(Refusal::UserDeleted));
        t.apply(&recorded(4, 3, 4, user("bob", Role::Viewer)));
        assert_eq!(t.authenticate("s1", at(5)), Err(Refusal::UserDeleted));
        assert_eq!(t.user("bob").map(|u| u.version), Some(3));
    }

    #[test]
    fn tokens_expired_sessions_are_forgotten_when_a_later_one_opens() {
        let mut t = Tokens::default();
        t.apply(&recorded(1, 1, 0, user("cy", Role::Viewer)));
        t.apply(&recorded(2, 1, 1, session(1, "cy", "old", 5)));
        t.apply(&recorded(3, 1, 10, session(2, "cy", "new", 70)));
        assert!(t.session("old").is_none());
        assert!(t.session_by_id(Uuid::from_u128(1)).is_none());
        assert_eq!(t.authenticate("old", at(11)), Err(Refusal::Unknown));
        assert!(t.authenticate("new", at(11)).is_ok());
    }

    #[test]
    fn tokens_a_checkpoint_round_trips_and_hides_password_hashes_from_debug() {
        let mut t = Tokens::default();
        t.apply(&recorded(1, 1, 0, user("dee", Role::Operator)));
        t.apply(&recorded(2, 1, 1, session(3, "dee", "s", 60)));
        let saved = serde_json::to_string(&t).expect("serializes");
        let back: Tokens = serde_json::from_str(&saved).expect("deserializes");
        assert_eq!(back.authenticate("s", at(2)), t.authenticate("s", at(2)));
        assert!(!format!("{t:?}").contains("argon2id"));
    }
}
