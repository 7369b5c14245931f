//! Silences: which alerts they quiet and for how long, decided purely; the time a silence
//! starts by default comes in the command.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{not_null, DomainError};
use crate::events::{Event, IdRef, SilenceCreated};

/// A silence as a client sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceInput {
    #[serde(default, deserialize_with = "not_null")]
    matchers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "not_null")]
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "not_null")]
    comment: Option<String>,
}

/// A silence as its stream leaves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilenceState {
    /// Whether it has been lifted.
    pub lifted: bool,
}

/// What a client asks of a silence.
#[derive(Debug)]
pub enum SilenceCommand {
    /// Make a silence with this (new) id; `now` is when it starts unless it says.
    Create {
        /// The new silence's id.
        id: Uuid,
        /// What it silences and when.
        input: SilenceInput,
        /// The time of the request.
        now: DateTime<Utc>,
    },
    /// Lift a silence now.
    Lift {
        /// The silence.
        id: Uuid,
    },
}

/// What `command` appends to a silence in `state` (`None`: no such silence), or why not.
pub fn decide(
    state: Option<&SilenceState>,
    command: SilenceCommand,
) -> Result<Vec<Event>, DomainError> {
    match command {
        SilenceCommand::Create { id, input, now } => {
            if state.is_some() {
                return Err(DomainError::Conflict(format!("silence {id} exists")));
            }
            let matchers = matchers(input.matchers)?;
            let starts_at = input.starts_at.unwrap_or(now);
            let ends_at = input
                .ends_at
                .ok_or_else(|| DomainError::invalid("ends_at", "is required"))?;
            if ends_at <= starts_at {
                return Err(DomainError::invalid("ends_at", "must be after starts_at"));
            }
            Ok(vec![Event::SilenceCreated(SilenceCreated {
                silence_id: id,
                matchers,
                starts_at,
                ends_at,
                comment: input.comment.unwrap_or_default(),
            })])
        }
        SilenceCommand::Lift { id } => match state {
            Some(s) if !s.lifted => Ok(vec![Event::SilenceDeleted(IdRef { id })]),
            _ => Err(DomainError::NotFound("silence")),
        },
    }
}

/// The matchers of a new silence, checked, with ids in the form the log spells them.
fn matchers(
    matchers: Option<BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, DomainError> {
    let mut matchers = matchers.ok_or_else(|| {
        DomainError::invalid(
            "matchers",
            "is required: tag, monitor, host, rule or severity",
        )
    })?;
    if matchers.is_empty() {
        return Err(DomainError::invalid(
            "matchers",
            "a silence needs at least one matcher",
        ));
    }
    for (k, v) in matchers.iter_mut() {
        let field = format!("matchers.{k}");
        if v.is_empty() || v.len() > 200 {
            return Err(DomainError::invalid(
                field,
                "a value has 1 to 200 characters",
            ));
        }
        match k.as_str() {
            "tag" | "host" => {}
            // Ids are matched as the log spells them: parse, then store the canonical form.
            "monitor" | "rule" => {
                let id = Uuid::parse_str(v).map_err(|_| {
                    DomainError::invalid(&field, format!("is not a {k} id (a UUID)"))
                })?;
                *v = id.to_string();
            }
            "severity" => {
                if !matches!(v.as_str(), "info" | "warning" | "critical") {
                    return Err(DomainError::invalid(field, "use info, warning or critical"));
                }
            }
            _ => {
                return Err(DomainError::invalid(
                    field,
                    "use tag, monitor, host, rule or severity",
                ))
            }
        }
    }
    Ok(matchers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Uuid = Uuid::from_u128(5);

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn create(json: serde_json::Value) -> Result<Vec<Event>, DomainError> {
        let input = serde_json::from_value(json).expect("a silence body");
        decide(
            None,
            SilenceCommand::Create {
                id: ID,
                input,
                now: at(0),
            },
        )
    }

    #[test]
    fn a_silence_starts_now_unless_it_says_and_spells_ids_as_the_log_does() {
        let monitor = "6F9619FF-8B86-D011-B42D-00CF4FC964FF";
        let events = create(serde_json::json!({
            "matchers": {"monitor": monitor}, "ends_at": at(3600),
        }))
        .expect("accepted");
        match events.as_slice() {
            [Event::SilenceCreated(s)] => {
                assert_eq!(s.starts_at, at(0));
                assert_eq!(s.matchers["monitor"], monitor.to_ascii_lowercase());
            }
            other => panic!("one SilenceCreated, not {other:?}"),
        }
    }

    #[test]
    fn a_silence_without_matchers_or_ending_before_it_starts_is_refused_naming_the_field() {
        let field = |r: Result<Vec<Event>, DomainError>| match r {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("refused, not {other:?}"),
        };
        assert_eq!(
            field(create(
                serde_json::json!({"matchers": {}, "ends_at": at(60)})
            )),
            "matchers"
        );
        assert_eq!(
            field(create(
                serde_json::json!({"matchers": {"colour": "red"}, "ends_at": at(60)})
            )),
            "matchers.colour"
        );
        assert_eq!(
            field(create(
                serde_json::json!({"matchers": {"tag": "db"}, "starts_at": at(60), "ends_at": at(60)})
            )),
            "ends_at"
        );
    }

    #[test]
    fn a_silence_is_lifted_once_and_an_unknown_one_is_not_found() {
        let live = SilenceState { lifted: false };
        assert_eq!(
            decide(Some(&live), SilenceCommand::Lift { id: ID }),
            Ok(vec![Event::SilenceDeleted(IdRef { id: ID })])
        );
        let lifted = SilenceState { lifted: true };
        assert_eq!(
            decide(Some(&lifted), SilenceCommand::Lift { id: ID }),
            Err(DomainError::NotFound("silence"))
        );
        assert_eq!(
            decide(None, SilenceCommand::Lift { id: ID }),
            Err(DomainError::NotFound("silence"))
        );
    }
}
