//! Status pages with their incidents (and each incident's timeline) and maintenance
//! announcements: what the status page API and the public pages read.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Projection;
use crate::domain::status_page::StatusPageState;
use crate::events::{Event, MaintenanceScheduled, RecordedEvent, StatusPageDefined};

/// Resolved incidents kept per page, newest; older ones stay only in the log.
const RESOLVED_KEPT: usize = 100;
/// Maintenance announcements kept per page, latest ending.
const MAINTENANCE_KEPT: usize = 100;

/// One update of an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentEntry {
    /// The status it set.
    pub status: String,
    /// What it said.
    pub message: String,
    /// When it was posted.
    pub at: DateTime<Utc>,
}

/// An incident with its timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentView {
    /// The incident.
    pub id: Uuid,
    /// Its heading.
    pub title: String,
    /// How bad.
    pub impact: String,
    /// Its current status.
    pub status: String,
    /// When it was posted.
    pub opened_at: DateTime<Utc>,
    /// When an update resolved it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Every update, the first (its opening) first.
    pub updates: Vec<IncidentEntry>,
}

/// A maintenance announcement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceView {
    /// The announcement.
    pub id: Uuid,
    /// Its heading.
    pub title: String,
    /// What will happen.
    pub message: String,
    /// From when.
    pub starts_at: DateTime<Utc>,
    /// Until when.
    pub ends_at: DateTime<Utc>,
}

impl MaintenanceView {
    /// `upcoming`, `active` or `ended` at `now`.
    pub fn phase(&self, now: DateTime<Utc>) -> &'static str {
        if now < self.starts_at {
            "upcoming"
        } else if now < self.ends_at {
            "active"
        } else {
            "ended"
        }
    }
}

/// One live status page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageView {
    /// Its settings.
    pub page: StatusPageDefined,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its incidents, oldest first.
    pub incidents: Vec<IncidentView>,
    /// Its maintenance announcements, in the order they were made.
    pub maintenance: Vec<MaintenanceView>,
    /// The version of its stream's last event.
    pub version: u64,
}

impl PageView {
    /// Whether the page shows `monitor`.
    pub fn shows(&self, monitor: Uuid) -> bool {
        self.page
            .groups
            .iter()
            .any(|g| g.monitors.contains(&monitor))
    }

    /// What a decision about this page needs.
    pub fn state(&self) -> StatusPageState {
        StatusPageState {
            page: self.page.clone(),
            incidents: self
                .incidents
                .iter()
                .map(|i| (i.id, (i.status.clone(), i.updates.len())))
                .collect(),
            incident_details: self
                .incidents
                .iter()
                .map(|i| (i.id, (i.title.clone(), i.impact.clone())))
                .collect(),
            maintenance: self
                .maintenance
                .iter()
                .map(|m| {
                    (
                        m.id,
                        MaintenanceScheduled {
                            slug: self.page.slug.clone(),
                            maintenance_id: m.id,
                            title: m.title.clone(),
                            message: m.message.clone(),
                            starts_at: m.starts_at,
                            ends_at: m.ends_at,
                        },
                    )
                })
                .collect(),
            version: self.version,
        }
    }
}

/// Every status page that was created and not deleted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusPages {
    /// By slug.
    pub pages: BTreeMap<String, PageView>,
    /// The last version of every page's stream, deleted pages' too (a slug can be reused).
    pub versions: BTreeMap<String, u64>,
}

impl StatusPages {
    /// Whether some page shows `monitor`: only then are its badges served.
    pub fn is_public(&self, monitor: Uuid) -> bool {
        self.pages.values().any(|p| p.shows(monitor))
    }

    /// The slugs of the pages that show `monitor`.
    pub fn pages_showing(&self, monitor: Uuid) -> BTreeSet<String> {
        self.pages
            .iter()
            .filter(|(_, p)| p.shows(monitor))
            .map(|(slug, _)| slug.clone())
            .collect()
    }
}

/// The slug a status page event is about, if it is one.
pub fn status_page_of(event: &Event) -> Option<&str> {
    match event {
        Event::StatusPageCreated(p) | Event::StatusPageUpdated(p) => Some(&p.slug),
        Event::StatusPageDeleted(r) => Some(&r.slug),
        Event::IncidentOpened(i) => Some(&i.slug),
        Event::IncidentUpdated(i) => Some(&i.slug),
        Event::MaintenanceScheduled(m) | Event::MaintenanceUpdated(m) => Some(&m.slug),
        Event::MaintenanceCancelled(m) => Some(&m.slug),
        Event::IncidentEdited(i) => Some(&i.slug),
        _ => None,
    }
}

impl Projection for StatusPages {
    const NAME: &'static str = "status_pages";
    const VERSION: u32 = 1;
    const SAVE_EVERY_S: u64 = 5;

    fn apply(&mut self, e: &RecordedEvent) {
        let Some(slug) = status_page_of(&e.event) else {
            return;
        };
        let slug = slug.to_owned();
        let at = e.timestamp;
        let version = e.version.0;
        self.versions.insert(slug.clone(), version);
        match &e.event {
            Event::StatusPageCreated(p) => {
                self.pages.insert(
                    slug,
                    PageView {
                        page: p.clone(),
                        created_at: at,
                        incidents: Vec::new(),
                        maintenance: Vec::new(),
                        version,
                    },
                );
                return;
            }
            Event::StatusPageDeleted(_) => {
                self.pages.remove(&slug);
                return;
            }
            _ => {}
        }
        let Some(view) = self.pages.get_mut(&slug) else {
            return;
        };
        view.version = version;
        match &e.event {
            Event::StatusPageUpdated(p) => view.page = p.clone(),
            Event::IncidentOpened(o) => {
                view.incidents.push(IncidentView {
                    id: o.incident_id,
                    title: o.title.clone(),
                    impact: o.impact.clone(),
                    status: o.status.clone(),
                    opened_at: at,
                    resolved_at: (o.status == "resolved").then_some(at),
                    updates: vec![IncidentEntry {
                        status: o.status.clone(),
                        message: o.message.clone(),
                        at,
                    }],
                });
                trim_resolved(&mut view.incidents);
            }
            Event::IncidentUpdated(u) => {
                if let Some(i) = view.incidents.iter_mut().find(|i| i.id == u.incident_id) {
                    i.status = u.status.clone();
                    if u.status == "resolved" {
                        i.resolved_at = Some(at);
                    }
                    i.updates.push(IncidentEntry {
                        status: u.status.clone(),
                        message: u.message.clone(),
                        at,
                    });
                }
                trim_resolved(&mut view.incidents);
            }
            Event::MaintenanceScheduled(m) => {
                view.maintenance.push(MaintenanceView {
                    id: m.maintenance_id,
                    title: m.title.clone(),
                    message: m.message.clone(),
                    starts_at: m.starts_at,
                    ends_at: m.ends_at,
                });
                if view.maintenance.len() > MAINTENANCE_KEPT {
                    // Forget the one that ends first: the oldest past announcement.
                    if let Some((oldest, _)) = view
                        .maintenance
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, m)| m.ends_at)
                    {
                        view.maintenance.remove(oldest);
                    }
                }
            }
            Event::MaintenanceUpdated(m) => {
                if let Some(v) = view
                    .maintenance
                    .iter_mut()
                    .find(|v| v.id == m.maintenance_id)
                {
                    v.title = m.title.clone();
                    v.message = m.message.clone();
                    v.starts_at = m.starts_at;
                    v.ends_at = m.ends_at;
                }
            }
            Event::MaintenanceCancelled(m) => {
                view.maintenance.retain(|v| v.id != m.maintenance_id);
            }
            Event::IncidentEdited(e) => {
                if let Some(i) = view.incidents.iter_mut().find(|i| i.id == e.incident_id) {
                    i.title = e.title.clone();
                    i.impact = e.impact.clone();
                }
            }
            _ => {}
        }
    }
}

/// Drops the oldest resolved incidents past [`RESOLVED_KEPT`].
fn trim_resolved(incidents: &mut Vec<IncidentView>) {
    let resolved = incidents.iter().filter(|i| i.resolved_at.is_some()).count();
    let mut extra = resolved.saturating_sub(RESOLVED_KEPT);
    incidents.retain(|i| {
        if extra > 0 && i.resolved_at.is_some() {
            extra -= 1;
            false
        } else {
            true
        }
    });
}
