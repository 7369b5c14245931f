//! Starts one supervised actor per live host, spread over one arbiter per core, registers
//! a host on its first push, and finds a host's actor by name.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::prelude::*;

use super::actor::{Command, HostActor, HostApplied, HostDeps, Relinquish};
use crate::command::{self, CommandError};
use crate::domain::host::{decide, HostCommand, HostState, IfRegistered, Sample};
use crate::domain::DomainError;
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
    /// On a node of a cluster: actors run only for the hosts this node holds the lease
    /// on; a host registered here is claimed at once.
    clustered: Option<Claim>,
}

/// How a node of a cluster claims the lease of a host it registers.
#[derive(Clone)]
pub struct Claim {
    /// This node.
    pub node: uuid::Uuid,
    /// How long a lease lasts.
    pub lease: std::time::Duration,
    /// Where leases are taken.
    pub membership: Arc<dyn crate::events::Membership>,
}

impl HostRegistry {
    /// Starts an arbiter per core and an actor for every live host in the read model.
    pub fn start(deps: HostDeps) -> HostRegistry {
        let registry = HostRegistry::empty(deps, None);
        let states: Vec<HostState> = registry.deps.hosts.read().hosts.values().cloned().collect();
        let count = states.len();
        for state in states {
            registry.spawn(state);
        }
        tracing::info!(hosts = count, "host actors started");
        registry
    }

    /// Starts the arbiters of a node of a cluster, and no actor: the node starts one for
    /// each host it takes the lease on ([`HostRegistry::adopt`]).
    pub fn start_clustered(deps: HostDeps, claim: Claim) -> HostRegistry {
        HostRegistry::empty(deps, Some(claim))
    }

    fn empty(deps: HostDeps, clustered: Option<Claim>) -> HostRegistry {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let arbiters = (0..cores).map(|_| Arbiter::new()).collect();
        HostRegistry {
            actors: Arc::new(RwLock::new(Actors::default())),
            registering: Arc::new(tokio::sync::Mutex::new(())),
            arbiters: Arc::new(arbiters),
            deps,
            clustered,
        }
    }

    /// Starts the actor of a host this node has taken the lease on, from the read model
    /// and the tail of its stream (blocking: reads the log).
    pub fn adopt(&self, hostname: &str) {
        if self.addr(hostname).is_some() {
            return;
        }
        let state = self.deps.hosts.read().hosts.get(hostname).cloned();
        let Some(state) = state else {
            return;
        };
        match command::rehydrate(&self.deps.store, state) {
            Ok(state) if !state.deleted => {
                self.spawn(state);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(host = hostname, error = %e, "cannot start an adopted host"),
        }
    }

    /// Stops the actor of a host whose lease this node gives up or lost.
    pub fn relinquish(&self, hostname: &str) {
        let addr = self
            .actors
            .write()
            .ok()
            .and_then(|mut a| a.by_name.remove(hostname));
        if let Some(addr) = addr {
            let _ = addr.try_send(Relinquish);
        }
    }

    fn spawn(&self, state: HostState) -> Addr<HostActor> {
        let mut deps = self.deps.clone();
        if self.clustered.is_some() {
            deps.store = deps
                .store
                .fenced_for(StreamId::host(&state.hostname).as_str());
        }
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

    /// Registers a host and starts its actor; a host whose actor runs is asked instead
    /// (which refuses or keeps the registration, as `if_registered` says).
    async fn register(
        &self,
        registration: HostRegistered,
        if_registered: IfRegistered,
        by: EventActor,
    ) -> Result<(Addr<HostActor>, Option<HostApplied>), CommandError> {
        let _one_at_a_time = self.registering.lock().await;
        let hostname = registration.hostname.clone();
        let command = HostCommand::Register {
            registration,
            if_registered,
        };
        if let Some(addr) = self.addr(&hostname) {
            let asked = Command {
                command: command.clone(),
                by: by.clone(),
            };
            match addr.send(asked).await {
                Ok(Ok(_)) => return Ok((addr, None)),
                // Deleted a moment ago: register it anew below.
                Ok(Err(CommandError::Domain(DomainError::NotFound(_)))) | Err(_) => {
                    self.forget(&hostname)
                }
                Ok(Err(e)) => return Err(e),
            }
        }
        let events = decide(None, command)?;
        let stream = StreamId::host(&hostname);
        // A deleted host's stream lives on: registering again continues it.
        let expected = match self.deps.store.stream_version(&stream)? {
            Some(v) => ExpectedVersion::Exact(v),
            None => ExpectedVersion::NoStream,
        };
        let registered = match events.as_slice() {
            [Event::HostRegistered(r)] => r.clone(),
            _ => return Err(CommandError::Unavailable("host")),
        };
        let new = NewEvent::new(Event::HostRegistered(registered.clone()), by);
        let (answer, out) =
            command::append_recorded(&self.deps.store, stream, expected, vec![new]).await?;
        let state = HostState::registered(&registered, answer.version.0, out.timestamp);
        if let Some(claim) = &self.clustered {
            // Registered here because it hashes here: take its lease now, so its first
            // sample is recorded rather than refused until the node's next round.
            let resource = StreamId::host(&hostname).as_str().to_owned();
            let granted = claim
                .membership
                .acquire(claim.node, vec![resource.clone()], claim.lease)
                .await?;
            match granted.into_iter().find(|(r, _)| *r == resource) {
                Some((_, token)) => self.deps.store.leases().hold(&resource, token),
                None => return Err(CommandError::Moving("host")),
            }
        }
        let applied = HostApplied {
            answer,
            state: state.clone(),
            duplicate: false,
        };
        Ok((self.spawn(state), Some(applied)))
    }

    /// Records a sample; a host's first push registers it (a bad sample registers nothing).
    pub async fn push(
        &self,
        hostname: &str,
        sample: Sample,
        by: EventActor,
    ) -> Result<HostApplied, CommandError> {
        sample.validate()?;
        for _ in 0..2 {
            let addr = match self.addr(hostname) {
                Some(addr) => addr,
                // Registered, and run by another node (or on its way here).
                None if self.clustered.is_some()
                    && self
                        .deps
                        .hosts
                        .read()
                        .hosts
                        .get(hostname)
                        .is_some_and(|h| !h.deleted) =>
                {
                    return Err(CommandError::Moving("host"));
                }
                None => {
                    let registration = HostRegistered {
                        hostname: hostname.to_owned(),
                        scrape_url: None,
                        interval_s: sample.body.interval_s,
                        stale_after_s: None,
                        tags: sample.body.tags.clone().unwrap_or_default(),
                    };
                    self.register(registration, IfRegistered::Keep, by.clone())
                        .await?
                        .0
                }
            };
            let command = Command {
                command: HostCommand::Sample(Box::new(sample.clone())),
                by: by.clone(),
            };
            match addr.send(command).await {
                // Deleted while the push was on its way: the push registers the host anew.
                Ok(Err(CommandError::Domain(DomainError::NotFound(_)))) | Err(_) => {
                    self.forget(hostname)
                }
                Ok(result) => return result,
            }
        }
        Err(CommandError::Unavailable("host"))
    }

    /// Adds a host whose node_exporter the server scrapes; a host that exists is a conflict.
    pub async fn add_scraped(
        &self,
        registration: HostRegistered,
        by: EventActor,
    ) -> Result<HostApplied, CommandError> {
        let (_, applied) = self
            .register(registration, IfRegistered::Refuse, by)
            .await?;
        applied.ok_or(CommandError::Unavailable("host"))
    }

    /// Deletes a host; its history stays in the log.
    pub async fn delete(
        &self,
        hostname: &str,
        expected: Option<u64>,
        by: EventActor,
    ) -> Result<HostApplied, CommandError> {
        let Some(addr) = self.addr(hostname) else {
            if self.clustered.is_some() && self.deps.hosts.read().hosts.contains_key(hostname) {
                return Err(CommandError::Moving("host"));
            }
            return Err(DomainError::NotFound("host").into());
        };
        let command = Command {
            command: HostCommand::Delete { expected },
            by,
        };
        let applied = addr
            .send(command)
            .await
            .map_err(|_| CommandError::Unavailable("host"))??;
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

impl crate::cluster::Owned for HostRegistry {
    fn claims(&self, resource: &str) -> bool {
        resource.starts_with("host-")
    }

    fn resources(&self) -> Vec<String> {
        self.deps
            .hosts
            .read()
            .hosts
            .values()
            .filter(|h| !h.deleted)
            .map(|h| StreamId::host(&h.hostname).as_str().to_owned())
            .collect()
    }

    fn start(&self, resource: &str) {
        if let Some(hostname) = resource.strip_prefix("host-") {
            self.adopt(hostname);
        }
    }

    fn stop(&self, resource: &str) {
        if let Some(hostname) = resource.strip_prefix("host-") {
            self.relinquish(hostname);
        }
    }
}
