//! Notification channels: what creating, changing or deleting one may do, decided purely.
//! Whether the addresses and URLs a channel delivers to are usable is the delivery
//! code's knowledge: it comes in as a check the caller hands over, as rules get a `World`.

use uuid::Uuid;

use super::{expect_version, DomainError};
use crate::events::{ChannelConfig, ChannelCreated, ChannelType, Event, IdRef};

/// Longest channel name, in bytes.
pub const MAX_NAME: usize = 200;

/// Checks the addresses and URLs of a channel's settings, naming the field at fault.
pub type Deliverable<'a> = &'a dyn Fn(&ChannelConfig) -> Result<(), DomainError>;

/// The kind's name as a client spells it.
pub fn kind_name(kind: ChannelType) -> &'static str {
    match kind {
        ChannelType::Email => "email",
        ChannelType::Webhook => "webhook",
        ChannelType::Slack => "slack",
        ChannelType::Discord => "discord",
        ChannelType::Telegram => "telegram",
        ChannelType::Ntfy => "ntfy",
        ChannelType::Gotify => "gotify",
        ChannelType::PagerDuty => "pagerduty",
        ChannelType::Teams => "teams",
        ChannelType::Pushover => "pushover",
        ChannelType::Sms => "sms",
    }
}

/// A channel as its stream leaves it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelState {
    /// Its settings.
    pub config: ChannelConfig,
    /// The version of its stream's last event (deliveries count too).
    pub version: u64,
}

/// Folds one event of a channel's stream, at stream version `version`, into its state
/// (`None`: no channel, or a deleted one).
pub fn evolve(state: Option<ChannelState>, event: &Event, version: u64) -> Option<ChannelState> {
    match event {
        Event::ChannelCreated(c) | Event::ChannelUpdated(c) => Some(ChannelState {
            config: c.config.clone(),
            version,
        }),
        Event::ChannelDeleted(_) => None,
        _ => state.map(|s| ChannelState { version, ..s }),
    }
}

/// What a client asks of a channel.
#[derive(Debug)]
pub enum ChannelCommand {
    /// Make a channel with this (new) id.
    Create {
        /// The new channel's id.
        id: Uuid,
        /// Its settings.
        config: ChannelConfig,
    },
    /// Replace a channel's settings (`If-Match`: `expected`); its kind stays.
    Update {
        /// The channel.
        id: Uuid,
        /// The whole new settings.
        config: ChannelConfig,
        /// The kind the client named, if it named one.
        kind: Option<String>,
        /// The version the client expects.
        expected: Option<u64>,
    },
    /// Delete a channel.
    Delete {
        /// The channel.
        id: Uuid,
    },
}

/// What `command` appends to a channel in `state` (`None`: no such channel), or why not.
pub fn decide(
    state: Option<&ChannelState>,
    command: ChannelCommand,
    deliverable: Deliverable,
) -> Result<Vec<Event>, DomainError> {
    match command {
        ChannelCommand::Create { id, config } => {
            if state.is_some() {
                return Err(DomainError::Conflict(format!("channel {id} exists")));
            }
            check(&config, deliverable)?;
            Ok(vec![Event::ChannelCreated(ChannelCreated {
                channel_id: id,
                config,
            })])
        }
        ChannelCommand::Update {
            id,
            config,
            kind,
            expected,
        } => {
            let state = state.ok_or(DomainError::NotFound("channel"))?;
            let current = kind_name(state.config.kind);
            if kind.is_some_and(|k| k != current) || config.kind != state.config.kind {
                return Err(DomainError::invalid(
                    "kind",
                    "cannot change: create a new channel instead",
                ));
            }
            check(&config, deliverable)?;
            expect_version("channel", expected, state.version)?;
            Ok(vec![Event::ChannelUpdated(ChannelCreated {
                channel_id: id,
                config,
            })])
        }
        ChannelCommand::Delete { id } => {
            state.ok_or(DomainError::NotFound("channel"))?;
            Ok(vec![Event::ChannelDeleted(IdRef { id })])
        }
    }
}

/// A channel's settings, whole: a name, and where it delivers.
fn check(config: &ChannelConfig, deliverable: Deliverable) -> Result<(), DomainError> {
    if config.name.trim().is_empty() || config.name.len() > MAX_NAME {
        return Err(DomainError::invalid(
            "name",
            format!("a name is a string of 1 to {MAX_NAME} characters"),
        ));
    }
    deliverable(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Uuid = Uuid::from_u128(21);

    fn webhook(name: &str, url: &str) -> ChannelConfig {
        ChannelConfig {
            name: name.to_owned(),
            kind: ChannelType::Webhook,
            to: Vec::new(),
            url: Some(url.to_owned()),
            secret: None,
            settings: None,
        }
    }

    /// Stands for the delivery code's check: a URL must be https.
    fn https(c: &ChannelConfig) -> Result<(), DomainError> {
        match &c.url {
            Some(u) if !u.starts_with("https://") => {
                Err(DomainError::invalid("url", "must be an https URL"))
            }
            _ => Ok(()),
        }
    }

    /// Given: the state `events` (versions from 0) leave a channel in.
    fn given(events: &[Event]) -> Option<ChannelState> {
        events
            .iter()
            .zip(0..)
            .fold(None, |s, (e, v)| evolve(s, e, v))
    }

    fn created() -> Vec<Event> {
        decide(
            None,
            ChannelCommand::Create {
                id: ID,
                config: webhook("ops", "https://hooks.example/a"),
            },
            &https,
        )
        .expect("accepted")
    }

    fn field(r: Result<Vec<Event>, DomainError>) -> String {
        match r {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("refused naming a field, not {other:?}"),
        }
    }

    #[test]
    fn a_new_channel_needs_a_name_and_somewhere_it_can_deliver() {
        assert_eq!(
            created(),
            vec![Event::ChannelCreated(ChannelCreated {
                channel_id: ID,
                config: webhook("ops", "https://hooks.example/a"),
            })]
        );
        let create = |config| decide(None, ChannelCommand::Create { id: ID, config }, &https);
        assert_eq!(field(create(webhook("  ", "https://x.example"))), "name");
        assert_eq!(
            field(create(webhook(&"n".repeat(201), "https://x.example"))),
            "name"
        );
        assert_eq!(field(create(webhook("ops", "ftp://x.example"))), "url");
    }

    #[test]
    fn an_update_keeps_the_kind_and_checks_if_match() {
        let state = given(&created());
        let update = |kind: Option<&str>, config, expected| ChannelCommand::Update {
            id: ID,
            config,
            kind: kind.map(str::to_owned),
            expected,
        };
        let renamed = webhook("on-call", "https://hooks.example/b");
        assert_eq!(
            decide(
                state.as_ref(),
                update(Some("webhook"), renamed.clone(), Some(0)),
                &https
            ),
            Ok(vec![Event::ChannelUpdated(ChannelCreated {
                channel_id: ID,
                config: renamed.clone(),
            })])
        );
        assert_eq!(
            field(decide(
                state.as_ref(),
                update(Some("slack"), renamed.clone(), None),
                &https
            )),
            "kind"
        );
        let mut email = renamed.clone();
        email.kind = ChannelType::Email;
        assert_eq!(
            field(decide(state.as_ref(), update(None, email, None), &https)),
            "kind"
        );
        assert!(matches!(
            decide(
                state.as_ref(),
                update(None, renamed.clone(), Some(4)),
                &https
            ),
            Err(DomainError::VersionMismatch {
                expected: 4,
                actual: 0,
                ..
            })
        ));
        assert_eq!(
            decide(None, update(None, renamed, None), &https),
            Err(DomainError::NotFound("channel"))
        );
    }

    #[test]
    fn a_deleted_channel_is_not_found_and_a_live_one_is_deleted() {
        let mut events = created();
        events.push(Event::ChannelDeleted(IdRef { id: ID }));
        let state = given(&events);
        assert_eq!(state, None);
        assert_eq!(
            decide(state.as_ref(), ChannelCommand::Delete { id: ID }, &https),
            Err(DomainError::NotFound("channel"))
        );
        let state = given(&created());
        assert_eq!(
            decide(state.as_ref(), ChannelCommand::Delete { id: ID }, &https),
            Ok(vec![Event::ChannelDeleted(IdRef { id: ID })])
        );
    }
}
