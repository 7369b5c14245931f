//! Starts one supervised actor per live host, spread over one arbiter per core, registers
//! a host on its first push, and finds a host's actor by name.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::prelude::*;

use super::actor::{Delete, HostActor, HostApplied, HostDeps, HostError, Push};
use super::sample::PushBody;
use super::state::HostState;
use crate::events::{
    Actor as EventActor, Event, ExpectedVersion, HostRegistered, NewEvent, StreamId,
};

#[derive(Default)]
struct Actors {
    by_name: HashMap<String, Addr<HostActor>>,
    next_arbiter: usize,
}

/// Every running host actor; cheap to clone.
#[derive(Clone)]
pub struct HostRegistry {
    actors: Arc<RwLock<Actors>>,
    /// Serialises registrations, so two first pushes of one host register it once.
    registering: Arc<tokio::sync::Mutex<()>>,
    arbiters: Arc<Vec<Arbiter>>,
    deps: HostDeps,
}

impl HostRegistry {
    /// Starts an arbiter per core and an actor for every live host in the read model.
    pub fn start(deps: HostDeps) -> HostRegistry {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let arbiters = (0..cores).map(|_| Arbiter::new()).collect();
        let registry = HostRegistry {
            actors: Arc::new(RwLock::new(Actors::default())),
            registering: Arc::new(tokio::sync::Mutex::new(())),
            arbiters: Arc::new(arbiters),
            deps,
        };
        let states: Vec<HostState> = registry.deps.hosts.read().hosts.values().cloned().collect();
        let count = states.len();
        for state in states {
            registry.spawn(state);
        }
        tracing::info!(hosts = count, arbiters = cores, "host actors started");
        registry
    }

    fn spawn(&self, state: HostState) -> Addr<HostActor> {
        let deps = self.deps.clone();
        let hostname = state.hostname.clone();
        let mut actors = match self.actors.write() {
            Ok(a) => a,
            Err(poisoned) => poisoned.into_inner(),
        };
        let arbiter = &self.arbiters[actors.next_arbiter % self.arbiters.len()];
        actors.next_arbiter += 1;
        let addr =
            Supervisor::start_in_arbiter(&arbiter.handle(), move |_| HostActor::new(state, deps));
        actors.by_name.insert(hostname, addr.clone());
        addr
    }

    fn addr(&self, hostname: &str) -> Option<Addr<HostActor>> {
        self.actors.read().ok()?.by_name.get(hostname).cloned()
    }

    fn forget(&self, hostname: &str) {
        if let Ok(mut actors) = self.actors.write() {
            actors.by_name.remove(hostname);
        }
    }

    /// Records `HostRegistered` and starts the host's actor, unless it runs already.
    async fn register(
        &self,
        event: HostRegistered,
        by: EventActor,
        exists_is_error: bool,
    ) -> Result<(Addr<HostActor>, Option<HostApplied>), HostError> {
        let _one_at_a_time = self.registering.lock().await;
        if let Some(addr) = self.addr(&event.hostname) {
            if exists_is_error {
                return Err(HostError::Exists(event.hostname));
            }
            return Ok((addr, None));
        }
        let stream = StreamId::host(&event.hostname);
        // A deleted host's stream lives on: registering again continues it.
        let expected = match self.deps.store.stream_version(&stream)? {
            Some(v) => ExpectedVersion::Exact(v),
            None => ExpectedVersion::NoStream,
        };
        let new = NewEvent::new(Event::HostRegistered(event.clone()), by);
        let out = self.deps.store.append(stream, expected, vec![new]).await?;
        let state = HostState::registered(&event, out.stream_version.0, out.timestamp);
        let applied = HostApplied {
            state: state.clone(),
            position: out.last_position,
            duplicate: false,
        };
        Ok((self.spawn(state), Some(applied)))
    }

    /// Records a pushed sample; a host's first push registers it.
    pub async fn push(
        &self,
        hostname: &str,
        body: PushBody,
        by: EventActor,
    ) -> Result<HostApplied, HostError> {
        for _ in 0..2 {
            let addr = match self.addr(hostname) {
                Some(addr) => addr,
                None => {
                    let event = HostRegistered {
                        hostname: hostname.to_owned(),
                        scrape_url: None,
                        interval_s: body.interval_s,
                        stale_after_s: None,
                        tags: body.tags.clone().unwrap_or_default(),
                    };
                    self.register(event, by.clone(), false).await?.0
                }
            };
            let push = Push {
                body: body.clone(),
                by: by.clone(),
            };
            match addr.send(push).await {
                // Deleted while the push was on its way: the push registers the host anew.
                Ok(Err(HostError::NotFound)) | Err(_) => self.forget(hostname),
                Ok(result) => return result,
            }
        }
        Err(HostError::Unavailable)
    }

    /// Adds a host whose node_exporter the server scrapes.
    pub async fn add_scraped(
        &self,
        event: HostRegistered,
        by: EventActor,
    ) -> Result<HostApplied, HostError> {
        let (_, applied) = self.register(event, by, true).await?;
        applied.ok_or(HostError::Unavailable)
    }

    /// Deletes a host; its history stays in the log.
    pub async fn delete(
        &self,
        hostname: &str,
        if_match: Option<u64>,
        by: EventActor,
    ) -> Result<HostApplied, HostError> {
        let addr = self.addr(hostname).ok_or(HostError::NotFound)?;
        let applied = addr
            .send(Delete { if_match, by })
            .await
            .map_err(|_| HostError::Unavailable)??;
        self.forget(hostname);
        Ok(applied)
    }

    /// How many host actors run.
    pub fn len(&self) -> usize {
        self.actors.read().map_or(0, |a| a.by_name.len())
    }

    /// Whether no host actor runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops every actor and arbiter.
    pub fn stop(&self) {
        if let Ok(mut actors) = self.actors.write() {
            actors.by_name.clear();
        }
        for arbiter in self.arbiters.iter() {
            arbiter.stop();
        }
    }
}
