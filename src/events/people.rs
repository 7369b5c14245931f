//! Event payloads of people: users with passwords, and the sessions they log in with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event::Role;

/// A user was created; the log keeps an argon2 hash of the password, never the password.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserCreated {
    /// The login name.
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// The password's argon2id hash, in PHC string form.
    pub password_hash: String,
}

/// A user by name, for the events that carry nothing else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRef {
    /// The login name.
    pub username: String,
}

/// A user logged in; the log keeps the SHA-256 of the session cookie's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionOpened {
    /// The session.
    pub session_id: Uuid,
    /// Whose.
    pub username: String,
    /// SHA-256 of the cookie's value, hex.
    pub token_hash: String,
    /// After this the session is refused.
    pub expires_at: DateTime<Utc>,
}
