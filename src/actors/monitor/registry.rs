//! Starts one supervised actor per live monitor, spread over one arbiter per core, and
//! finds a monitor's actor by id or push token.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::prelude::*;
use rand::RngCore;
use uuid::Uuid;

use super::actor::{Applied, Command, MonitorActor, MonitorDeps, Relinquish};
use crate::command::{self, CommandError};
use crate::domain::monitor::{decide, Heartbeat, MonitorCommand, MonitorInput, MonitorState};
use crate::domain::DomainError;
use crate::events::{Actor as EventActor, Event, ExpectedVersion, NewEvent, StreamId};

#[derive(Default)]
struct Actors {
    by_id: HashMap<Uuid, Addr<MonitorActor>>,
    by_push_token: HashMap<String, Uuid>,
    next_arbiter: usize,
}

/// Every running monitor actor; cheap to clone.
#[derive(Clone)]
pub struct MonitorRegistry {
    actors: Arc<RwLock<Actors>>,
    arbiters: Arc<Vec<Arbiter>>,
    deps: MonitorDeps,
    /// On a node of a cluster: actors run only for the monitors this node holds the
    /// lease on, started and stopped by the node ([`crate::cluster`]).
    clustered: bool,
}

impl MonitorRegistry {
    /// Starts an arbiter per core and an actor for every live monitor in the read model.
    pub fn start(deps: MonitorDeps) -> MonitorRegistry {
        let registry = MonitorRegistry::empty(deps, false);
        let states: Vec<MonitorState> = registry
            .deps
            .monitors
            .read()
            .monitors
            .values()
            .map(|v| v.state.clone())
            .collect();
        let count = states.len();
        for state in states {
            registry.spawn(state);
        }
        tracing::info!(monitors = count, "monitor actors started");
        registry
    }

    /// Starts the arbiters of a node of a cluster, and no actor: the node starts one for
    /// each monitor it takes the lease on ([`MonitorRegistry::adopt`]).
    pub fn start_clustered(deps: MonitorDeps) -> MonitorRegistry {
        MonitorRegistry::empty(deps, true)
    }

    fn empty(deps: MonitorDeps, clustered: bool) -> MonitorRegistry {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let arbiters = (0..cores).map(|_| Arbiter::new()).collect();
        MonitorRegistry {
            actors: Arc::new(RwLock::new(Actors::default())),
            arbiters: Arc::new(arbiters),
            deps,
            clustered,
        }
    }

    /// Starts the actor of a monitor this node has taken the lease on, from the read
    /// model and the tail of its stream (blocking: reads the log).
    pub fn adopt(&self, id: Uuid) {
        if self.addr(id).is_some() {
            return;
        }
        let state = self
            .deps
            .monitors
            .read()
            .monitors
            .get(&id)
            .map(|v| v.state.clone());
        let Some(state) = state else {
            return;
        };
        match command::rehydrate(&self.deps.store, state) {
            Ok(state) if !state.deleted => self.spawn(state),
            Ok(_) => {}
            Err(e) => tracing::warn!(monitor = %id, error = %e, "cannot start an adopted monitor"),
        }
    }

    /// Stops the actor of a monitor whose lease this node gives up or lost.
    pub fn relinquish(&self, id: Uuid) {
        let Ok(mut actors) = self.actors.write() else {
            return;
        };
        if let Some(addr) = actors.by_id.remove(&id) {
            actors.by_push_token.retain(|_, m| *m != id);
            let _ = addr.try_send(Relinquish);
        }
    }

    /// The ids of the monitors whose actors run here.
    pub fn running(&self) -> Vec<Uuid> {
        self.actors
            .read()
            .map(|a| a.by_id.keys().copied().collect())
            .unwrap_or_default()
    }

    fn spawn(&self, state: MonitorState) {
        let Ok(mut actors) = self.actors.write() else {
            return;
        };
        let arbiter = &self.arbiters[actors.next_arbiter % self.arbiters.len()];
        actors.next_arbiter += 1;
        let (id, token) = (state.id, state.push_token.clone());
        let mut deps = self.deps.clone();
        if self.clustered {
            deps.store = deps.store.fenced_for(StreamId::monitor(id).as_str());
        }
        let addr = Supervisor::start_in_arbiter(&arbiter.handle(), move |_| {
            MonitorActor::new(state, deps)
        });
        actors.by_id.insert(id, addr);
        if let Some(token) = token {
            actors.by_push_token.insert(token, id);
        }
    }

    fn addr(&self, id: Uuid) -> Option<Addr<MonitorActor>> {
        self.actors.read().ok()?.by_id.get(&id).cloned()
    }

    /// Records a new monitor with the settings sent, under a fresh id (and push token),
    /// and starts its actor.
    pub async fn create(
        &self,
        input: Box<MonitorInput>,
        by: EventActor,
    ) -> Result<Applied, CommandError> {
        let monitor_id = Uuid::new_v4();
        let command = MonitorCommand::Create {
            monitor_id,
            push_token: new_push_token(),
            input,
        };
        let created = match decide(None, command)?.as_slice() {
            [Event::MonitorCreated(created)] => created.clone(),
            _ => return Err(CommandError::Unavailable("monitor")),
        };
        let new = NewEvent::new(Event::MonitorCreated(created.clone()), by);
        let (answer, out) = command::append_recorded(
            &self.deps.store,
            StreamId::monitor(monitor_id),
            ExpectedVersion::NoStream,
            vec![new],
        )
        .await?;
        let state = MonitorState::created(&created, answer.version.0, out.timestamp);
        if !self.clustered {
            // On a node of a cluster, the node the monitor hashes to takes its lease and
            // starts it, once its read model has the monitor.
            self.spawn(state.clone());
        }
        Ok(Applied { answer, state })
    }

    /// Sends a command to a monitor's actor; forgets the actor once the monitor is deleted.
    pub async fn command(
        &self,
        id: Uuid,
        command: MonitorCommand,
        by: EventActor,
    ) -> Result<Applied, CommandError> {
        let Some(addr) = self.addr(id) else {
            // No actor: the domain says why the command fails (a bad field, or no monitor).
            decide(None, command)?;
            if self.clustered && self.deps.monitors.read().monitors.contains_key(&id) {
                return Err(CommandError::Moving("monitor"));
            }
            return Err(DomainError::NotFound("monitor").into());
        };
        let applied = addr.send(Command { command, by }).await.map_err(|_| {
            // On a cluster, an actor stops itself when another node took its monitor.
            if self.clustered {
                CommandError::Moving("monitor")
            } else {
                CommandError::Unavailable("monitor")
            }
        })??;
        if applied.state.deleted {
            if let Ok(mut actors) = self.actors.write() {
                actors.by_id.remove(&id);
                if let Some(token) = &applied.state.push_token {
                    actors.by_push_token.remove(token);
                }
            }
        }
        Ok(applied)
    }

    /// Delivers a heartbeat to the push monitor with this token.
    pub async fn heartbeat(&self, token: &str, beat: Heartbeat) -> Result<Applied, CommandError> {
        let id = self
            .actors
            .read()
            .ok()
            .and_then(|a| a.by_push_token.get(token).copied());
        let Some(id) = id else {
            let known = self.deps.monitors.read().push_tokens.contains_key(token);
            return Err(if self.clustered && known {
                CommandError::Moving("monitor")
            } else {
                DomainError::NotFound("monitor").into()
            });
        };
        let addr = self.addr(id).ok_or(DomainError::NotFound("monitor"))?;
        let command = Command {
            command: MonitorCommand::Heartbeat(beat),
            by: EventActor::system(),
        };
        addr.send(command).await.map_err(|_| {
            if self.clustered {
                CommandError::Moving("monitor")
            } else {
                CommandError::Unavailable("monitor")
            }
        })?
    }

    /// How many monitor actors run.
    pub fn len(&self) -> usize {
        self.actors.read().map_or(0, |a| a.by_id.len())
    }

    /// Whether no monitor actor runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops every actor and arbiter.
    pub fn stop(&self) {
        if let Ok(mut actors) = self.actors.write() {
            actors.by_id.clear();
            actors.by_push_token.clear();
        }
        for arbiter in self.arbiters.iter() {
            arbiter.stop();
        }
    }
}

/// A new push token: `pt_` and 32 hex digits.
fn new_push_token() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("pt_{}", hex::encode(bytes))
}

impl crate::cluster::Owned for MonitorRegistry {
    fn claims(&self, resource: &str) -> bool {
        resource.starts_with("monitor-")
    }

    fn resources(&self) -> Vec<String> {
        self.deps
            .monitors
            .read()
            .monitors
            .values()
            .filter(|m| !m.state.deleted)
            .map(|m| StreamId::monitor(m.state.id).as_str().to_owned())
            .collect()
    }

    fn start(&self, resource: &str) {
        if let Some(id) = monitor_of(resource) {
            self.adopt(id);
        }
    }

    fn stop(&self, resource: &str) {
        if let Some(id) = monitor_of(resource) {
            self.relinquish(id);
        }
    }
}

/// The monitor a lease's resource names.
fn monitor_of(resource: &str) -> Option<Uuid> {
    resource
        .strip_prefix("monitor-")
        .and_then(|id| Uuid::parse_str(id).ok())
}
