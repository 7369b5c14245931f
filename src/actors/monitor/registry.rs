//! Starts one supervised actor per live monitor, spread over one arbiter per core, and
//! finds a monitor's actor by id or push token.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::prelude::*;
use rand::RngCore;
use uuid::Uuid;

use super::actor::{Applied, Command, MonitorActor, MonitorDeps};
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
}

impl MonitorRegistry {
    /// Starts an arbiter per core and an actor for every live monitor in the read model.
    pub fn start(deps: MonitorDeps) -> MonitorRegistry {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let arbiters = (0..cores).map(|_| Arbiter::new()).collect();
        let registry = MonitorRegistry {
            actors: Arc::new(RwLock::new(Actors::default())),
            arbiters: Arc::new(arbiters),
            deps,
        };
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
        tracing::info!(monitors = count, arbiters = cores, "monitor actors started");
        registry
    }

    fn spawn(&self, state: MonitorState) {
        let Ok(mut actors) = self.actors.write() else {
            return;
        };
        let arbiter = &self.arbiters[actors.next_arbiter % self.arbiters.len()];
        actors.next_arbiter += 1;
        let (id, token) = (state.id, state.push_token.clone());
        let deps = self.deps.clone();
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
        self.spawn(state.clone());
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
            return Err(DomainError::NotFound("monitor").into());
        };
        let applied = addr
            .send(Command { command, by })
            .await
            .map_err(|_| CommandError::Unavailable("monitor"))??;
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
            .and_then(|a| a.by_push_token.get(token).copied())
            .ok_or(DomainError::NotFound("monitor"))?;
        let addr = self.addr(id).ok_or(DomainError::NotFound("monitor"))?;
        let command = Command {
            command: MonitorCommand::Heartbeat(beat),
            by: EventActor::system(),
        };
        addr.send(command)
            .await
            .map_err(|_| CommandError::Unavailable("monitor"))?
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
