//! Users who may log in: names, roles and passwords, decided purely. A password is
//! checked for length here, and hashed (argon2id) at the edge: the command carries the
//! PHC hash, never the password.

use super::{expect_version, DomainError};
use crate::events::{Event, Role, UserCreated, UserRef};

/// Longest username, in characters.
pub const MAX_USERNAME: usize = 64;
/// Shortest password, in characters.
pub const MIN_PASSWORD: usize = 12;
/// Longest password, in characters.
pub const MAX_PASSWORD: usize = 1024;

/// Whether `name` is a username: 1 to 64 of `a-z 0-9 . _ -`.
pub fn is_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_USERNAME
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// `name` if it is a username, else why not.
pub fn username(name: &str) -> Result<&str, DomainError> {
    if is_username(name) {
        Ok(name)
    } else {
        Err(DomainError::invalid(
            "username",
            "must be 1 to 64 characters of a-z, 0-9, '.', '_' and '-'",
        ))
    }
}

/// Checks a new password's length before it is hashed.
pub fn check_password(password: &str) -> Result<(), DomainError> {
    let length = password.chars().count();
    if (MIN_PASSWORD..=MAX_PASSWORD).contains(&length) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "password",
            format!("must have {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
        ))
    }
}

/// A role as a client names it (users' and tokens' alike).
pub fn role(value: Option<&str>) -> Result<Role, DomainError> {
    let text = value.ok_or_else(|| {
        DomainError::invalid("role", "is required: admin, operator, viewer or agent")
    })?;
    text.parse::<Role>().map_err(|_| {
        DomainError::invalid("role", "must be one of admin, operator, viewer or agent")
    })
}

/// A user as their stream leaves them.
#[derive(Clone, PartialEq, Eq)]
pub struct UserState {
    /// What the user may do.
    pub role: Role,
    /// The password's argon2id hash in PHC form.
    pub password_hash: String,
    /// The version of the user's stream after its last event.
    pub version: u64,
}

impl std::fmt::Debug for UserState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserState")
            .field("role", &self.role)
            .field("password_hash", &"[redacted]")
            .field("version", &self.version)
            .finish()
    }
}

/// Folds one event of a user's stream, at stream version `version`, into their state
/// (`None`: no such user, or a deleted one).
pub fn evolve(state: Option<UserState>, event: &Event, version: u64) -> Option<UserState> {
    match event {
        Event::UserCreated(u) | Event::UserUpdated(u) => Some(UserState {
            role: u.role,
            password_hash: u.password_hash.clone(),
            version,
        }),
        Event::UserDeleted(_) => None,
        _ => state,
    }
}

/// What a client asks of a user.
#[derive(Debug)]
pub enum UserCommand {
    /// Make a user who may log in.
    Create {
        /// The login name.
        username: String,
        /// What they may do.
        role: Role,
        /// The argon2id hash of their password, in PHC form.
        password_hash: String,
    },
    /// A new role, a new password, or both (`If-Match`: `expected`).
    Update {
        /// The user.
        username: String,
        /// The new role, if it changes.
        role: Option<Role>,
        /// The hash of the new password, if it changes.
        password_hash: Option<String>,
        /// The version the client expects.
        expected: Option<u64>,
    },
    /// The user may no longer log in.
    Delete {
        /// The user.
        username: String,
    },
}

/// What `command` appends to a user in `state` (`None`: no such user), or why not.
pub fn decide(state: Option<&UserState>, command: UserCommand) -> Result<Vec<Event>, DomainError> {
    match command {
        UserCommand::Create {
            username: name,
            role,
            password_hash,
        } => {
            username(&name)?;
            if state.is_some() {
                return Err(DomainError::Conflict(format!("the user {name} exists")));
            }
            Ok(vec![Event::UserCreated(UserCreated {
                username: name,
                role,
                password_hash,
            })])
        }
        UserCommand::Update {
            username,
            role,
            password_hash,
            expected,
        } => {
            if role.is_none() && password_hash.is_none() {
                return Err(DomainError::invalid(
                    "role",
                    "send a role, a password, or both",
                ));
            }
            let state = state
                .filter(|_| is_username(&username))
                .ok_or(DomainError::NotFound("user"))?;
            expect_version("user", expected, state.version)?;
            Ok(vec![Event::UserUpdated(UserCreated {
                username,
                role: role.unwrap_or(state.role),
                password_hash: password_hash.unwrap_or_else(|| state.password_hash.clone()),
            })])
        }
        UserCommand::Delete { username } => {
            if state.is_none() || !is_username(&username) {
                return Err(DomainError::NotFound("user"));
            }
            Ok(vec![Event::UserDeleted(UserRef { username })])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
    const OTHER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$b3RoZXI";

    fn create(name: &str) -> UserCommand {
        UserCommand::Create {
            username: name.to_owned(),
            role: Role::Viewer,
            password_hash: HASH.to_owned(),
        }
    }

    /// Given: the state `events` (versions from 0) leave a user in.
    fn given(events: &[Event]) -> Option<UserState> {
        events
            .iter()
            .zip(0..)
            .fold(None, |s, (e, v)| evolve(s, e, v))
    }

    #[test]
    fn usernames_are_lowercase_names_of_at_most_64() {
        assert!(is_username("ops.team_1-a"));
        assert!(!is_username(""));
        assert!(!is_username("Ann"));
        assert!(!is_username("a b"));
        assert!(!is_username(&"a".repeat(65)));
    }

    #[test]
    fn a_password_has_12_to_1024_characters_and_a_role_is_one_of_four() {
        assert!(check_password("correct horse").is_ok());
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(1025)).is_err());
        assert_eq!(role(Some("agent")), Ok(Role::Agent));
        assert!(
            matches!(role(Some("root")), Err(DomainError::Invalid { ref field, .. }) if field == "role")
        );
        assert!(
            matches!(role(None), Err(DomainError::Invalid { ref field, .. }) if field == "role")
        );
    }

    #[test]
    fn a_new_user_is_created_once_and_a_deleted_name_can_be_used_again() {
        let created = decide(None, create("ann")).expect("accepted");
        assert_eq!(
            created,
            vec![Event::UserCreated(UserCreated {
                username: "ann".to_owned(),
                role: Role::Viewer,
                password_hash: HASH.to_owned(),
            })]
        );
        let state = given(&created);
        assert_eq!(
            decide(state.as_ref(), create("ann")),
            Err(DomainError::Conflict("the user ann exists".to_owned()))
        );
        let deleted = decide(
            state.as_ref(),
            UserCommand::Delete {
                username: "ann".to_owned(),
            },
        )
        .expect("deleted");
        let state = given(&[created, deleted].concat());
        assert_eq!(state, None);
        assert!(decide(state.as_ref(), create("ann")).is_ok());
    }

    #[test]
    fn a_user_with_a_bad_name_is_refused_naming_the_field() {
        assert!(matches!(
            decide(None, create("Ann")),
            Err(DomainError::Invalid { ref field, .. }) if field == "username"
        ));
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name_and_checks_if_match() {
        let state = given(&decide(None, create("ann")).expect("accepted"));
        let asked = UserCommand::Update {
            username: "ann".to_owned(),
            role: Some(Role::Operator),
            password_hash: None,
            expected: Some(0),
        };
        assert_eq!(
            decide(state.as_ref(), asked),
            Ok(vec![Event::UserUpdated(UserCreated {
                username: "ann".to_owned(),
                role: Role::Operator,
                password_hash: HASH.to_owned(),
            })])
        );
        let asked = UserCommand::Update {
            username: "ann".to_owned(),
            role: None,
            password_hash: Some(OTHER_HASH.to_owned()),
            expected: Some(3),
        };
        assert!(matches!(
            decide(state.as_ref(), asked),
            Err(DomainError::VersionMismatch {
                expected: 3,
                actual: 0,
                ..
            })
        ));
    }

    #[test]
    fn an_update_that_changes_nothing_or_an_unknown_user_is_refused() {
        let state = given(&decide(None, create("ann")).expect("accepted"));
        let empty = UserCommand::Update {
            username: "ann".to_owned(),
            role: None,
            password_hash: None,
            expected: None,
        };
        assert!(matches!(
            decide(state.as_ref(), empty),
            Err(DomainError::Invalid { ref field, .. }) if field == "role"
        ));
        let unknown = UserCommand::Update {
            username: "bob".to_owned(),
            role: Some(Role::Admin),
            password_hash: None,
            expected: None,
        };
        assert_eq!(decide(None, unknown), Err(DomainError::NotFound("user")));
        let unknown = UserCommand::Delete {
            username: "bob".to_owned(),
        };
        assert_eq!(decide(None, unknown), Err(DomainError::NotFound("user")));
    }
}
