//! Status pages, their incidents and maintenance announcements, decided purely: which
//! settings a page may have, which incident statuses follow which, and when maintenance
//! may be. Ids and what exists (monitors) come in the command.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{expect_version, not_null, DomainError};
use crate::events::{
    Event, IncidentEdited, IncidentOpened, IncidentUpdated, MaintenanceRef, MaintenanceScheduled,
    StatusGroup, StatusPageDefined, StatusPageRef,
};

/// Longest slug.
pub const MAX_SLUG: usize = 64;
/// Longest title of a page, incident or maintenance, in characters.
const MAX_TITLE: usize = 200;
/// Longest description or message, in characters.
const MAX_TEXT: usize = 10_000;
/// Most groups on a page.
const MAX_GROUPS: usize = 50;
/// Most monitors in one group.
const MAX_GROUP_MONITORS: usize = 200;
/// Most updates one incident may have.
pub const MAX_INCIDENT_UPDATES: usize = 100;
/// Most incidents open on one page at once.
const MAX_OPEN_INCIDENTS: usize = 50;

/// The incident statuses, in the order an incident usually goes through them.
pub const INCIDENT_STATUSES: &[&str] = &["investigating", "identified", "monitoring", "resolved"];
/// How bad an incident is.
pub const IMPACTS: &[&str] = &["none", "minor", "major", "critical"];

/// One group as a client sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    name: String,
    #[serde(default, deserialize_with = "not_null")]
    monitors: Option<Vec<Uuid>>,
}

/// A status page as a client sends it: every field for a new page, some for a change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageInput {
    #[serde(default, deserialize_with = "not_null")]
    slug: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    title: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    description: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    groups: Option<Vec<GroupInput>>,
    #[serde(default, deserialize_with = "not_null")]
    show_errors: Option<bool>,
}

/// An incident as a client posts it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentInput {
    #[serde(default, deserialize_with = "not_null")]
    title: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    impact: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    status: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    message: Option<String>,
}

/// An incident update as a client posts it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateInput {
    #[serde(default, deserialize_with = "not_null")]
    status: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    message: Option<String>,
}

/// A change to an incident's heading or impact, as a client sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentEditInput {
    #[serde(default, deserialize_with = "not_null")]
    title: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    impact: Option<String>,
}

/// A maintenance announcement as a client posts it (every field) or changes it (some).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceInput {
    #[serde(default, deserialize_with = "not_null")]
    title: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    message: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    starts_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "not_null")]
    ends_at: Option<DateTime<Utc>>,
}

/// A page as its stream leaves it (`None` for a page never made or deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusPageState {
    /// Its settings.
    pub page: StatusPageDefined,
    /// Each incident's current status and number of updates.
    pub incidents: BTreeMap<Uuid, (String, usize)>,
    /// Each incident's heading and impact.
    pub incident_details: BTreeMap<Uuid, (String, String)>,
    /// Each maintenance announcement kept and not cancelled, as it now is.
    pub maintenance: BTreeMap<Uuid, MaintenanceScheduled>,
    /// The version of its stream's last event.
    pub version: u64,
}

/// What a client asks of a status page.
#[derive(Debug)]
pub enum StatusPageCommand {
    /// Make a page.
    Create(PageInput),
    /// Change some of a page's settings; `expected` is the `If-Match` version.
    Update {
        /// The fields to change.
        input: PageInput,
        /// The stream version the client expects.
        expected: Option<u64>,
    },
    /// Delete a page.
    Delete {
        /// The stream version the client expects.
        expected: Option<u64>,
    },
    /// Post an incident with this (new) id.
    OpenIncident {
        /// The new incident's id.
        id: Uuid,
        /// What it says.
        input: IncidentInput,
    },
    /// Add an update to an open incident.
    UpdateIncident {
        /// The incident.
        id: Uuid,
        /// What the update says.
        input: UpdateInput,
    },
    /// Announce maintenance with this (new) id.
    ScheduleMaintenance {
        /// The new announcement's id.
        id: Uuid,
        /// What and when.
        input: MaintenanceInput,
    },
    /// Change an incident's heading or impact (its status changes only by updates).
    EditIncident {
        /// The incident.
        id: Uuid,
        /// The fields to change.
        input: IncidentEditInput,
    },
    /// Change a maintenance announcement that has not ended by `now`.
    EditMaintenance {
        /// The announcement.
        id: Uuid,
        /// The fields to change.
        input: MaintenanceInput,
        /// The server's clock.
        now: DateTime<Utc>,
    },
    /// Cancel a maintenance announcement that has not ended by `now`.
    CancelMaintenance {
        /// The announcement.
        id: Uuid,
        /// The server's clock.
        now: DateTime<Utc>,
    },
}

/// What `command` appends to a page in `state`, or why not; `slug` names the page for
/// commands about an existing one, and `monitor_exists` says which monitors may be shown.
pub fn decide(
    state: Option<&StatusPageState>,
    slug: &str,
    command: StatusPageCommand,
    monitor_exists: &dyn Fn(Uuid) -> bool,
) -> Result<Vec<Event>, DomainError> {
    if let StatusPageCommand::Create(input) = command {
        let slug = input
            .slug
            .as_deref()
            .ok_or_else(|| DomainError::invalid("slug", "is required"))?;
        check_slug(slug)?;
        if state.is_some() {
            return Err(DomainError::Conflict(format!(
                "a status page {slug:?} exists"
            )));
        }
        let page = StatusPageDefined {
            slug: slug.to_owned(),
            title: String::new(),
            description: String::new(),
            groups: Vec::new(),
            show_errors: false,
        };
        let page = merged(page, input, monitor_exists)?;
        return Ok(vec![Event::StatusPageCreated(page)]);
    }
    let state = state.ok_or(DomainError::NotFound("status page"))?;
    let slug = slug.to_owned();
    match command {
        StatusPageCommand::Create(_) => Err(DomainError::NotFound("status page")),
        StatusPageCommand::Update { input, expected } => {
            expect_version("status page", expected, state.version)?;
            if input.slug.as_deref().is_some_and(|s| s != slug) {
                return Err(DomainError::invalid("slug", "cannot be changed"));
            }
            let page = merged(state.page.clone(), input, monitor_exists)?;
            Ok(vec![Event::StatusPageUpdated(page)])
        }
        StatusPageCommand::Delete { expected } => {
            expect_version("status page", expected, state.version)?;
            Ok(vec![Event::StatusPageDeleted(StatusPageRef { slug })])
        }
        StatusPageCommand::OpenIncident { id, input } => {
            let open = state
                .incidents
                .values()
                .filter(|(status, _)| status != "resolved")
                .count();
            if open >= MAX_OPEN_INCIDENTS {
                return Err(DomainError::Conflict(format!(
                    "a page has at most {MAX_OPEN_INCIDENTS} open incidents: resolve one first"
                )));
            }
            let title = title("title", input.title)?;
            let impact = one_of(
                "impact",
                input.impact.as_deref().unwrap_or("minor"),
                IMPACTS,
            )?;
            let status = one_of(
                "status",
                input.status.as_deref().unwrap_or("investigating"),
                INCIDENT_STATUSES,
            )?;
            let message = text("message", input.message.unwrap_or_default())?;
            Ok(vec![Event::IncidentOpened(IncidentOpened {
                slug,
                incident_id: id,
                title,
                impact,
                status,
                message,
            })])
        }
        StatusPageCommand::UpdateIncident { id, input } => {
            let (current, updates) = state
                .incidents
                .get(&id)
                .ok_or(DomainError::NotFound("incident"))?;
            if current == "resolved" {
                return Err(DomainError::Conflict(
                    "the incident is resolved: post a new one".to_owned(),
                ));
            }
            if *updates >= MAX_INCIDENT_UPDATES {
                return Err(DomainError::Conflict(format!(
                    "an incident has at most {MAX_INCIDENT_UPDATES} updates"
                )));
            }
            let status = input
                .status
                .as_deref()
                .ok_or_else(|| DomainError::invalid("status", "is required"))?;
            let status = one_of("status", status, INCIDENT_STATUSES)?;
            let message = input.message.unwrap_or_default();
            if message.trim().is_empty() {
                return Err(DomainError::invalid("message", "is required"));
            }
            let message = text("message", message)?;
            Ok(vec![Event::IncidentUpdated(IncidentUpdated {
                slug,
                incident_id: id,
                status,
                message,
            })])
        }
        StatusPageCommand::ScheduleMaintenance { id, input } => {
            let title = title("title", input.title)?;
            let message = text("message", input.message.unwrap_or_default())?;
            let starts_at = input
                .starts_at
                .ok_or_else(|| DomainError::invalid("starts_at", "is required"))?;
            let ends_at = input
                .ends_at
                .ok_or_else(|| DomainError::invalid("ends_at", "is required"))?;
            if ends_at <= starts_at {
                return Err(DomainError::invalid("ends_at", "must be after starts_at"));
            }
            Ok(vec![Event::MaintenanceScheduled(MaintenanceScheduled {
                slug,
                maintenance_id: id,
                title,
                message,
                starts_at,
                ends_at,
            })])
        }
        StatusPageCommand::EditIncident { id, input } => {
            let (old_title, old_impact) = state
                .incident_details
                .get(&id)
                .ok_or(DomainError::NotFound("incident"))?;
            let title = match input.title {
                Some(t) => title("title", Some(t))?,
                None => old_title.clone(),
            };
            let impact = match input.impact.as_deref() {
                Some(i) => one_of("impact", i, IMPACTS)?,
                None => old_impact.clone(),
            };
            Ok(vec![Event::IncidentEdited(IncidentEdited {
                slug,
                incident_id: id,
                title,
                impact,
            })])
        }
        StatusPageCommand::EditMaintenance { id, input, now } => {
            let mut m = not_ended(state, id, now)?;
            if let Some(t) = input.title {
                m.title = title("title", Some(t))?;
            }
            if let Some(msg) = input.message {
                m.message = text("message", msg)?;
            }
            m.starts_at = input.starts_at.unwrap_or(m.starts_at);
            m.ends_at = input.ends_at.unwrap_or(m.ends_at);
            if m.ends_at <= m.starts_at {
                return Err(DomainError::invalid("ends_at", "must be after starts_at"));
            }
            m.slug = slug;
            Ok(vec![Event::MaintenanceUpdated(m)])
        }
        StatusPageCommand::CancelMaintenance { id, now } => {
            not_ended(state, id, now)?;
            Ok(vec![Event::MaintenanceCancelled(MaintenanceRef {
                slug,
                maintenance_id: id,
            })])
        }
    }
}

/// The announcement `id` as it is, if it exists and has not ended by `now`: an ended one
/// is history and stays as it was.
fn not_ended(
    state: &StatusPageState,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<MaintenanceScheduled, DomainError> {
    let m = state
        .maintenance
        .get(&id)
        .ok_or(DomainError::NotFound("maintenance"))?;
    if m.ends_at <= now {
        return Err(DomainError::Conflict(
            "the maintenance has ended: announce a new one".to_owned(),
        ));
    }
    Ok(m.clone())
}

/// Checks a slug: 1 to 64 of `a-z`, `0-9` and `-`.
pub fn check_slug(slug: &str) -> Result<(), DomainError> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "slug",
            format!("use 1 to {MAX_SLUG} of a-z, 0-9 and -"),
        ))
    }
}

/// `page` with the fields `input` gives, each checked.
fn merged(
    mut page: StatusPageDefined,
    input: PageInput,
    monitor_exists: &dyn Fn(Uuid) -> bool,
) -> Result<StatusPageDefined, DomainError> {
    if let Some(t) = input.title {
        page.title = title("title", Some(t))?;
    }
    if page.title.is_empty() {
        return Err(DomainError::invalid("title", "is required"));
    }
    if let Some(d) = input.description {
        page.description = text("description", d)?;
    }
    if let Some(show) = input.show_errors {
        page.show_errors = show;
    }
    if let Some(groups) = input.groups {
        if groups.len() > MAX_GROUPS {
            return Err(DomainError::invalid(
                "groups",
                format!("at most {MAX_GROUPS} groups"),
            ));
        }
        page.groups = groups
            .into_iter()
            .enumerate()
            .map(|(i, g)| group(i, g, monitor_exists))
            .collect::<Result<_, _>>()?;
    }
    Ok(page)
}

fn group(
    i: usize,
    g: GroupInput,
    monitor_exists: &dyn Fn(Uuid) -> bool,
) -> Result<StatusGroup, DomainError> {
    let name = g.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_TITLE {
        return Err(DomainError::invalid(
            format!("groups[{i}].name"),
            format!("has 1 to {MAX_TITLE} characters"),
        ));
    }
    let monitors = g.monitors.unwrap_or_default();
    if monitors.len() > MAX_GROUP_MONITORS {
        return Err(DomainError::invalid(
            format!("groups[{i}].monitors"),
            format!("at most {MAX_GROUP_MONITORS} monitors"),
        ));
    }
    let mut seen = BTreeSet::new();
    for (j, m) in monitors.iter().enumerate() {
        if !monitor_exists(*m) {
            return Err(DomainError::invalid(
                format!("groups[{i}].monitors[{j}]"),
                format!("no monitor {m}"),
            ));
        }
        if !seen.insert(*m) {
            return Err(DomainError::invalid(
                format!("groups[{i}].monitors[{j}]"),
                format!("monitor {m} is named twice"),
            ));
        }
    }
    Ok(StatusGroup { name, monitors })
}

fn title(field: &str, value: Option<String>) -> Result<String, DomainError> {
    let value = value.unwrap_or_default().trim().to_owned();
    if value.is_empty() || value.chars().count() > MAX_TITLE {
        return Err(DomainError::invalid(
            field,
            format!("has 1 to {MAX_TITLE} characters"),
        ));
    }
    Ok(value)
}

fn text(field: &str, value: String) -> Result<String, DomainError> {
    if value.chars().count() > MAX_TEXT {
        return Err(DomainError::invalid(
            field,
            format!("has at most {MAX_TEXT} characters"),
        ));
    }
    Ok(value)
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<String, DomainError> {
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(DomainError::invalid(
            field,
            format!("{value:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: Uuid = Uuid::from_u128(7);
    const I: Uuid = Uuid::from_u128(9);

    fn input<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> T {
        serde_json::from_value(json).expect("a body")
    }

    fn field(r: Result<Vec<Event>, DomainError>) -> String {
        match r {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("refused naming a field, not {other:?}"),
        }
    }

    fn page() -> StatusPageState {
        let created = decide(
            None,
            "",
            StatusPageCommand::Create(input(serde_json::json!({
                "slug": "acme", "title": "Acme", "groups": [{"name": "Web", "monitors": [M]}]
            }))),
            &|m| m == M,
        )
        .expect("created");
        let Some(Event::StatusPageCreated(page)) = created.into_iter().next() else {
            panic!("a StatusPageCreated");
        };
        StatusPageState {
            page,
            incidents: BTreeMap::new(),
            incident_details: BTreeMap::new(),
            maintenance: BTreeMap::new(),
            version: 0,
        }
    }

    #[test]
    fn a_page_is_created_with_errors_hidden_by_default() {
        let state = page();
        assert_eq!(state.page.slug, "acme");
        assert!(!state.page.show_errors);
        assert_eq!(state.page.groups[0].monitors, vec![M]);
    }

    #[test]
    fn a_bad_slug_a_missing_title_or_an_unknown_monitor_is_refused_naming_the_field() {
        let create = |json| {
            decide(None, "", StatusPageCommand::Create(input(json)), &|m| {
                m == M
            })
        };
        assert_eq!(
            field(create(serde_json::json!({"slug": "Acme", "title": "x"}))),
            "slug"
        );
        assert_eq!(
            field(create(
                serde_json::json!({"slug": "a".repeat(65), "title": "x"})
            )),
            "slug"
        );
        assert_eq!(field(create(serde_json::json!({"slug": "acme"}))), "title");
        assert_eq!(
            field(create(serde_json::json!({
                "slug": "acme", "title": "x", "groups": [{"name": "W", "monitors": [Uuid::from_u128(8)]}]
            }))),
            "groups[0].monitors[0]"
        );
    }

    #[test]
    fn a_taken_slug_conflicts() {
        let state = page();
        let again = decide(
            Some(&state),
            "acme",
            StatusPageCommand::Create(input(serde_json::json!({"slug": "acme", "title": "x"}))),
            &|_| true,
        );
        assert!(matches!(again, Err(DomainError::Conflict(_))));
    }

    #[test]
    fn an_incident_needs_a_known_status_and_a_title() {
        let state = page();
        let open = |json| {
            decide(
                Some(&state),
                "acme",
                StatusPageCommand::OpenIncident {
                    id: I,
                    input: input(json),
                },
                &|_| true,
            )
        };
        assert_eq!(
            field(open(
                serde_json::json!({"title": "x", "status": "panicking"})
            )),
            "status"
        );
        assert_eq!(field(open(serde_json::json!({"title": " "}))), "title");
        assert!(matches!(
            open(serde_json::json!({"title": "Slow"})).as_deref(),
            Ok([Event::IncidentOpened(o)]) if o.status == "investigating" && o.impact == "minor"
        ));
    }

    #[test]
    fn a_resolved_or_unknown_incident_takes_no_update() {
        let mut state = page();
        let update = |state: &StatusPageState| {
            decide(
                Some(state),
                "acme",
                StatusPageCommand::UpdateIncident {
                    id: I,
                    input: input(serde_json::json!({"status": "monitoring", "message": "m"})),
                },
                &|_| true,
            )
        };
        assert_eq!(update(&state), Err(DomainError::NotFound("incident")));
        state.incidents.insert(I, ("resolved".to_owned(), 2));
        assert!(matches!(update(&state), Err(DomainError::Conflict(_))));
        state.incidents.insert(I, ("identified".to_owned(), 2));
        assert!(update(&state).is_ok());
    }

    #[test]
    fn maintenance_must_end_after_it_starts() {
        let state = page();
        let at = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default();
        let r = decide(
            Some(&state),
            "acme",
            StatusPageCommand::ScheduleMaintenance {
                id: I,
                input: input(
                    serde_json::json!({"title": "DB", "starts_at": at(60), "ends_at": at(60)}),
                ),
            },
            &|_| true,
        );
        assert_eq!(field(r), "ends_at");
    }

    fn maintenance(state: &mut StatusPageState, start: i64, end: i64) {
        let at = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default();
        state.maintenance.insert(
            I,
            MaintenanceScheduled {
                slug: "acme".into(),
                maintenance_id: I,
                title: "DB".into(),
                message: String::new(),
                starts_at: at(start),
                ends_at: at(end),
            },
        );
    }

    #[test]
    fn maintenance_edits_keep_what_is_not_sent_and_refuse_a_window_that_ends_first() {
        let mut state = page();
        maintenance(&mut state, 100, 200);
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let edit = |state: &StatusPageState, json| {
            decide(
                Some(state),
                "acme",
                StatusPageCommand::EditMaintenance {
                    id: I,
                    input: input(json),
                    now,
                },
                &|_| true,
            )
        };
        assert!(matches!(
            edit(&state, serde_json::json!({"title": "Disk swap"})).as_deref(),
            Ok([Event::MaintenanceUpdated(m)]) if m.title == "Disk swap" && m.ends_at > m.starts_at
        ));
        let late = DateTime::from_timestamp(1_800_000_300, 0).unwrap_or_default();
        assert_eq!(
            field(edit(&state, serde_json::json!({"starts_at": late}))),
            "ends_at"
        );
        assert_eq!(
            field(edit(&state, serde_json::json!({"title": ""}))),
            "title"
        );
        state.maintenance.clear();
        assert_eq!(
            edit(&state, serde_json::json!({"title": "x"})),
            Err(DomainError::NotFound("maintenance"))
        );
    }

    #[test]
    fn ended_maintenance_can_be_neither_edited_nor_cancelled() {
        let mut state = page();
        maintenance(&mut state, -200, -100);
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let cancel = decide(
            Some(&state),
            "acme",
            StatusPageCommand::CancelMaintenance { id: I, now },
            &|_| true,
        );
        assert!(matches!(cancel, Err(DomainError::Conflict(_))));
        maintenance(&mut state, -100, 100);
        let cancel = decide(
            Some(&state),
            "acme",
            StatusPageCommand::CancelMaintenance { id: I, now },
            &|_| true,
        );
        assert!(matches!(
            cancel.as_deref(),
            Ok([Event::MaintenanceCancelled(_)])
        ));
    }

    #[test]
    fn an_incident_edit_checks_impact_and_needs_a_known_incident() {
        let mut state = page();
        let edit = |state: &StatusPageState, json| {
            decide(
                Some(state),
                "acme",
                StatusPageCommand::EditIncident {
                    id: I,
                    input: input(json),
                },
                &|_| true,
            )
        };
        assert_eq!(
            edit(&state, serde_json::json!({"title": "x"})),
            Err(DomainError::NotFound("incident"))
        );
        state
            .incident_details
            .insert(I, ("Slow".to_owned(), "minor".to_owned()));
        assert_eq!(
            field(edit(&state, serde_json::json!({"impact": "dire"}))),
            "impact"
        );
        assert!(matches!(
            edit(&state, serde_json::json!({"impact": "major"})).as_deref(),
            Ok([Event::IncidentEdited(e)]) if e.title == "Slow" && e.impact == "major"
        ));
    }
}
