//! Payloads of status pages, their incidents and their maintenance announcements.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One group of monitors on a status page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusGroup {
    /// The group's heading.
    pub name: String,
    /// The monitors it shows, in order.
    pub monitors: Vec<Uuid>,
}

/// A status page's whole settings, as created or changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusPageDefined {
    /// Its address, `/status/<slug>`: lower-case letters, digits and `-`.
    pub slug: String,
    /// Its heading.
    pub title: String,
    /// Text under the heading.
    pub description: String,
    /// The monitors it shows, by group.
    pub groups: Vec<StatusGroup>,
    /// Whether a down monitor's reason is shown to the public.
    pub show_errors: bool,
}

/// A status page, named by its slug.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusPageRef {
    /// The page.
    pub slug: String,
}

/// An incident posted to a status page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentOpened {
    /// The page.
    pub slug: String,
    /// The incident.
    pub incident_id: Uuid,
    /// Its heading.
    pub title: String,
    /// How bad: `none`, `minor`, `major` or `critical`.
    pub impact: String,
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    pub status: String,
    /// The first update's text.
    pub message: String,
}

/// An update to an open incident; status `resolved` closes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentUpdated {
    /// The page.
    pub slug: String,
    /// The incident.
    pub incident_id: Uuid,
    /// Its new status.
    pub status: String,
    /// What the update says.
    pub message: String,
}

/// Maintenance announced on a status page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceScheduled {
    /// The page.
    pub slug: String,
    /// The announcement.
    pub maintenance_id: Uuid,
    /// Its heading.
    pub title: String,
    /// What will happen.
    pub message: String,
    /// From when.
    pub starts_at: DateTime<Utc>,
    /// Until when.
    pub ends_at: DateTime<Utc>,
}

/// A maintenance announcement, named by its page and id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceRef {
    /// The page.
    pub slug: String,
    /// The announcement.
    pub maintenance_id: Uuid,
}

/// An incident's heading or impact changed: both as they now are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentEdited {
    /// The page.
    pub slug: String,
    /// The incident.
    pub incident_id: Uuid,
    /// Its heading.
    pub title: String,
    /// How bad: `none`, `minor`, `major` or `critical`.
    pub impact: String,
}
