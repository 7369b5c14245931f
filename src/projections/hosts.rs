//! Every live host with its status and latest sample: what the host API lists, and where
//! a host's actor rehydrates from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Projection;
use crate::domain::host::HostState;
use crate::events::{Event, RecordedEvent};

/// The hosts read model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Hosts {
    /// Every live host, by name.
    pub hosts: BTreeMap<String, HostState>,
}

/// The host an event is about, if it is a host event.
pub fn host_of(event: &Event) -> Option<&str> {
    match event {
        Event::HostRegistered(e) => Some(&e.hostname),
        Event::HostMetricsReported(e) => Some(&e.hostname),
        Event::HostDeleted(e) | Event::HostRecovered(e) => Some(&e.hostname),
        Event::HostWentStale(e) => Some(&e.hostname),
        Event::HostScrapeFailed(e) => Some(&e.hostname),
        _ => None,
    }
}

impl Projection for Hosts {
    const NAME: &'static str = "hosts";
    const VERSION: u32 = 1;
    const SAVE_EVERY_S: u64 = 10;

    fn apply(&mut self, event: &RecordedEvent) {
        let Some(hostname) = host_of(&event.event) else {
            return;
        };
        match &event.event {
            Event::HostRegistered(r) if !self.hosts.contains_key(hostname) => {
                let state = HostState::registered(r, event.version.0, event.timestamp);
                self.hosts.insert(hostname.to_owned(), state);
            }
            Event::HostDeleted(_) => {
                self.hosts.remove(hostname);
            }
            _ => {
                if let Some(state) = self.hosts.get_mut(hostname) {
                    state.apply(event);
                }
            }
        }
    }
}
