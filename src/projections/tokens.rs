//! The API tokens that exist, keyed by the hash of their value, for authentication.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Projection;
use crate::events::{Event, RecordedEvent, Role};

/// One token as authentication needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The token's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// After this it is refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenEntry {
    /// Whether the token may be used at `now`.
    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }
}

/// Every token, by the SHA-256 hex of its value.
#[derive(Default, Debug, Serialize, Deserialize)]
pub struct Tokens {
    by_hash: HashMap<String, TokenEntry>,
    hash_of: HashMap<Uuid, String>,
}

impl Tokens {
    /// The token whose value hashes to `hash`.
    pub fn by_hash(&self, hash: &str) -> Option<&TokenEntry> {
        self.by_hash.get(hash)
    }

    /// How many tokens exist, revoked or not.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether no token exists.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

impl Projection for Tokens {
    const NAME: &'static str = "tokens";
    const VERSION: u32 = 1;

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
            _ => {}
        }
    }
}
