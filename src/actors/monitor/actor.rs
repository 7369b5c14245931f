//! The actor that owns one monitor: it schedules and runs its checks, records them, moves
//! through `pending → up ⇄ down` and `paused`, and carries out commands on its monitor.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::FutureExt;
use rand::Rng;
use uuid::Uuid;

use super::checks::{CheckOutcome, Checker};
use super::state::{MonitorState, Status};
use crate::events::{
    Actor as EventActor, AppendOutcome, Event, EventStore, ExpectedVersion, HeartbeatReceived,
    MonitorChecked, MonitorConfig, MonitorKind, MonitorRef, MonitorUpdated, NewEvent, Position,
    StoreError, StreamId, StreamVersion,
};
use crate::projections::{Monitors, ProjectionHandle};

/// Why a command to a monitor was refused.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// `If-Match` named another version than the monitor's.
    #[error("the monitor is at version {actual}, not {expected}")]
    Conflict {
        /// The version the caller expected.
        expected: u64,
        /// The monitor's version.
        actual: u64,
    },
    /// No such monitor (or it was deleted).
    #[error("no such monitor")]
    NotFound,
    /// The command does not apply to this kind of monitor.
    #[error("{0}")]
    WrongKind(String),
    /// The log refused the events.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The monitor's actor is gone.
    #[error("the monitor's actor is not running")]
    Unavailable,
}

/// What a command changes.
#[derive(Clone, Debug)]
pub enum CommandKind {
    /// Replace the settings.
    Update(Box<MonitorConfig>),
    /// Stop checking.
    Pause,
    /// Check again.
    Resume,
    /// Delete; the history stays in the log.
    Delete,
}

/// A command to one monitor, from an authenticated caller.
#[derive(Message)]
#[rtype(result = "Result<Applied, MonitorError>")]
pub struct Command {
    /// What to do.
    pub kind: CommandKind,
    /// The version the caller saw (`If-Match`), if it sent one.
    pub if_match: Option<u64>,
    /// Who asks, for the event's actor field.
    pub by: EventActor,
}

/// A heartbeat for a push monitor.
#[derive(Message)]
#[rtype(result = "Result<Applied, MonitorError>")]
pub struct Heartbeat {
    /// `status=up` (the default) or `down`.
    pub up: bool,
    /// The sender's message.
    pub msg: Option<String>,
    /// The sender's measured ping, in milliseconds.
    pub ping_ms: Option<f64>,
}

/// A command's result: the monitor's state after it and the position of its last event.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The state after the command.
    pub state: MonitorState,
    /// The position of the last event the command appended.
    pub position: Position,
}

/// A check finished (or panicked) in the background.
#[derive(Message)]
#[rtype(result = "()")]
struct CheckDone {
    generation: u64,
    outcome: Result<CheckOutcome, String>,
}

/// What every monitor actor shares.
#[derive(Clone)]
pub struct MonitorDeps {
    /// The log.
    pub store: EventStore,
    /// Runs the checks.
    pub checker: Checker,
    /// Where a restarted actor rehydrates from.
    pub monitors: ProjectionHandle<Monitors>,
    /// Schedule lag and check counts.
    pub metrics: super::MonitorMetrics,
    /// Test-only: the check of a monitor of this name panics.
    pub panic_on: Option<Arc<str>>,
}

/// The actor of one monitor.
pub struct MonitorActor {
    state: MonitorState,
    deps: MonitorDeps,
    /// Bumped whenever the schedule changes, so results of superseded checks are dropped.
    generation: u64,
    next_due: Option<Instant>,
    timer: Option<SpawnHandle>,
    checking: bool,
}

impl MonitorActor {
    /// An actor for a monitor in `state`.
    pub fn new(state: MonitorState, deps: MonitorDeps) -> MonitorActor {
        MonitorActor {
            state,
            deps,
            generation: 0,
            next_due: None,
            timer: None,
            checking: false,
        }
    }

    fn stream(&self) -> StreamId {
        StreamId::monitor(self.state.id)
    }

    fn active(&self) -> bool {
        !self.state.deleted && self.state.status != Status::Paused
    }

    /// Cancels the schedule and starts a new one whose first check is `first` from now.
    fn reschedule(&mut self, ctx: &mut Context<Self>, first: Duration) {
        self.generation += 1;
        self.checking = false;
        if let Some(t) = self.timer.take() {
            ctx.cancel_future(t);
        }
        self.next_due = None;
        if !self.active() {
            return;
        }
        let due = Instant::now() + first;
        self.next_due = Some(due);
        self.arm(ctx, due);
    }

    fn arm(&mut self, ctx: &mut Context<Self>, due: Instant) {
        let generation = self.generation;
        let wait = due.saturating_duration_since(Instant::now());
        self.timer = Some(ctx.run_later(wait, move |act, ctx| {
            if act.generation == generation {
                act.due(ctx, due);
            }
        }));
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.state.config.interval_s.max(1)))
    }

    /// A check is due (or, for a push monitor, its heartbeat window has closed).
    fn due(&mut self, ctx: &mut Context<Self>, due: Instant) {
        let interval = self.interval();
        let grace = Duration::from_secs(u64::from(self.state.config.grace_s));
        let now = Instant::now();
        if self.state.config.kind == MonitorKind::Push {
            self.next_due = Some(now + interval + grace);
            self.arm(ctx, now + interval + grace);
            let outcome = CheckOutcome {
                ok: false,
                latency_ms: 0.0,
                status_code: None,
                error: Some("no heartbeat".to_owned()),
                cert_expires_at: None,
            };
            ctx.notify(CheckDone {
                generation: self.generation,
                outcome: Ok(outcome),
            });
            return;
        }
        let mut next = due + interval;
        if next <= now {
            // Far behind (a stalled arbiter): skip what cannot be caught up, and count it.
            let behind = (now - next).as_secs_f64() / interval.as_secs_f64();
            self.deps.metrics.missed.inc_by(behind.ceil() as u64);
            next = now + interval;
        }
        self.next_due = Some(next);
        self.arm(ctx, next);
        if self.checking {
            // The previous check is still running (it cannot outlive its timeout by much).
            self.deps.metrics.missed.inc();
            return;
        }
        self.deps
            .metrics
            .schedule_lag
            .observe(now.saturating_duration_since(due).as_secs_f64());
        self.checking = true;
        let generation = self.generation;
        let checker = self.deps.checker.clone();
        let config = self.state.config.clone();
        let panic_here = self
            .deps
            .panic_on
            .as_deref()
            .is_some_and(|name| name == config.name);
        let hard_limit =
            Duration::from_millis(u64::from(config.timeout_ms)) + Duration::from_secs(1);
        let check = async move {
            if panic_here {
                panic!("test hook: the check of {:?} panics", config.name);
            }
            match tokio::time::timeout(hard_limit, checker.check(&config)).await {
                Ok(outcome) => outcome,
                Err(_) => CheckOutcome {
                    ok: false,
                    latency_ms: hard_limit.as_secs_f64() * 1000.0,
                    status_code: None,
                    error: Some(format!("timed out after {} ms", config.timeout_ms)),
                    cert_expires_at: None,
                },
            }
        };
        let addr = ctx.address();
        actix::spawn(async move {
            let outcome = AssertUnwindSafe(check)
                .catch_unwind()
                .await
                .map_err(|panic| panic_message(&panic));
            // Waits for room in the mailbox rather than lose the result (and stay `checking`).
            let _ = addr
                .send(CheckDone {
                    generation,
                    outcome,
                })
                .await;
        });
    }

    /// Appends `event`, then the transition it calls for (caused by it), and folds both in;
    /// with `stop_after`, stops the actor once both are on disk.
    fn record(&mut self, ctx: &mut Context<Self>, event: Event, stop_after: bool) {
        let store = self.deps.store.clone();
        let stream = self.stream();
        let mut shadow = self.state.clone();
        let checked = match &event {
            Event::MonitorChecked(c) => Some((c.ok, c.latency_ms)),
            _ => None,
        };
        let fut = async move {
            let expected = ExpectedVersion::Exact(StreamVersion(shadow.version));
            let new = NewEvent::new(event.clone(), EventActor::system());
            let first = match store.append(stream.clone(), expected, vec![new]).await {
                Ok(out) => out,
                Err(e) => return (shadow, Some(e), false),
            };
            shadow.apply_at(
                &event,
                first.last_position.0,
                first.stream_version.0,
                first.timestamp,
            );
            let Some(t) = shadow.transition() else {
                return (shadow, None, true);
            };
            let next = t.event(shadow.id);
            let new =
                NewEvent::new(next.clone(), EventActor::system()).caused_by(first.last_position);
            let expected = ExpectedVersion::Exact(first.stream_version);
            match store.append(stream, expected, vec![new]).await {
                Ok(out) => {
                    shadow.apply_at(
                        &next,
                        out.last_position.0,
                        out.stream_version.0,
                        out.timestamp,
                    );
                    (shadow, None, true)
                }
                Err(e) => (shadow, Some(e), true),
            }
        };
        ctx.wait(fut.into_actor(self).map(move |(state, error, recorded), act, ctx| {
            act.state = state;
            if let (true, Some((ok, latency_ms))) = (recorded, checked) {
                act.deps.metrics.count_check(ok);
                // A push monitor's missed heartbeat is a check that took no time.
                if act.state.config.kind != MonitorKind::Push {
                    act.deps
                        .metrics
                        .check_duration
                        .observe(latency_ms / 1000.0);
                }
            }
            if let Some(e) = error {
                tracing::warn!(monitor = %act.state.id, error = %e, "cannot record a check");
            }
            if stop_after {
                // A panic leaves the actor suspect: its supervisor restarts it fresh.
                ctx.stop();
            }
        }));
    }

    fn append_then_fold(&mut self, ctx: &mut Context<Self>, new: NewEvent) {
        let store = self.deps.store.clone();
        let stream = self.stream();
        let expected = ExpectedVersion::Exact(StreamVersion(self.state.version));
        let event = new.event.clone();
        let fut = async move { store.append(stream, expected, vec![new]).await };
        ctx.wait(fut.into_actor(self).map(move |result, act, _| match result {
            Ok(out) => act.fold(&event, &out),
            Err(e) => tracing::warn!(monitor = %act.state.id, error = %e, "cannot record a transition"),
        }));
    }

    fn fold(&mut self, event: &Event, out: &AppendOutcome) {
        self.state.apply_at(
            event,
            out.last_position.0,
            out.stream_version.0,
            out.timestamp,
        );
    }

    /// The event a command records, or why it is refused.
    fn command_event(&self, kind: &CommandKind) -> Result<Option<Event>, MonitorError> {
        let monitor_id = self.state.id;
        Ok(match kind {
            CommandKind::Update(config) => Some(Event::MonitorUpdated(Box::new(MonitorUpdated {
                monitor_id,
                config: (**config).clone(),
            }))),
            CommandKind::Pause if self.state.status == Status::Paused => None,
            CommandKind::Pause => Some(Event::MonitorPaused(MonitorRef { monitor_id })),
            CommandKind::Resume if self.state.status != Status::Paused => None,
            CommandKind::Resume => Some(Event::MonitorResumed(MonitorRef { monitor_id })),
            CommandKind::Delete => Some(Event::MonitorDeleted(MonitorRef { monitor_id })),
        })
    }

    /// Rehydrates from the read model and the tail of the stream after it (blocking).
    fn rehydrate(id: Uuid, deps: &MonitorDeps) -> Result<Option<MonitorState>, StoreError> {
        let mut state = deps
            .monitors
            .read()
            .monitors
            .get(&id)
            .map(|v| v.state.clone());
        let Some(s) = state.as_mut() else {
            return Ok(None);
        };
        let tail = deps.store.read_stream(
            &StreamId::monitor(id),
            StreamVersion(s.version + 1),
            usize::MAX,
        )?;
        for e in &tail {
            s.apply(e);
        }
        Ok(state)
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("check panicked: {what}")
}

impl Actor for MonitorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(64);
        // Spread the first checks over one interval, so thousands of monitors do not fire together.
        let interval = self.interval();
        let first = if self.state.config.kind == MonitorKind::Push {
            interval + Duration::from_secs(u64::from(self.state.config.grace_s))
        } else {
            interval.mul_f64(rand::thread_rng().gen_range(0.0..1.0))
        };
        self.reschedule(ctx, first);
    }
}

impl Supervised for MonitorActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.deps.metrics.restarts.inc();
        match Self::rehydrate(self.state.id, &self.deps) {
            Ok(Some(state)) => self.state = state,
            Ok(None) => self.state.deleted = true,
            Err(e) => {
                tracing::warn!(monitor = %self.state.id, error = %e, "rehydrating from the read model only")
            }
        }
        tracing::info!(monitor = %self.state.id, version = self.state.version, "monitor actor restarted");
    }
}

impl Handler<CheckDone> for MonitorActor {
    type Result = ();

    fn handle(&mut self, msg: CheckDone, ctx: &mut Context<Self>) {
        if msg.generation != self.generation || !self.active() {
            return;
        }
        self.checking = false;
        let monitor_id = self.state.id;
        let (outcome, panicked) = match msg.outcome {
            Ok(o) => (o, false),
            Err(why) => (
                CheckOutcome {
                    ok: false,
                    latency_ms: 0.0,
                    status_code: None,
                    error: Some(why),
                    cert_expires_at: None,
                },
                true,
            ),
        };
        self.record(
            ctx,
            Event::MonitorChecked(MonitorChecked {
                monitor_id,
                ok: outcome.ok,
                latency_ms: outcome.latency_ms,
                status_code: outcome.status_code,
                error: outcome.error,
                cert_expires_at: outcome.cert_expires_at,
            }),
            panicked,
        );
    }
}

impl Handler<Command> for MonitorActor {
    type Result = AtomicResponse<Self, Result<Applied, MonitorError>>;

    fn handle(&mut self, msg: Command, _ctx: &mut Context<Self>) -> Self::Result {
        let refused = |e| AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        if self.state.deleted {
            return refused(MonitorError::NotFound);
        }
        if let Some(expected) = msg.if_match {
            if expected != self.state.version {
                return refused(MonitorError::Conflict {
                    expected,
                    actual: self.state.version,
                });
            }
        }
        let event = match self.command_event(&msg.kind) {
            Ok(Some(e)) => e,
            Ok(None) => {
                let applied = Applied {
                    state: self.state.clone(),
                    position: Position::START,
                };
                return AtomicResponse::new(Box::pin(fut::ready(Ok(applied))));
            }
            Err(e) => return refused(e),
        };
        let store = self.deps.store.clone();
        let stream = self.stream();
        let expected = ExpectedVersion::Exact(StreamVersion(self.state.version));
        let new = NewEvent::new(event.clone(), msg.by);
        let append = async move { store.append(stream, expected, vec![new]).await };
        AtomicResponse::new(Box::pin(append.into_actor(self).map(
            move |result, act, ctx| {
                let out = result?;
                act.fold(&event, &out);
                let first = match &event {
                    Event::MonitorDeleted(_) => {
                        ctx.stop();
                        Duration::ZERO
                    }
                    // A change takes effect at once: the next check comes within a second.
                    _ => Duration::from_millis(rand::thread_rng().gen_range(0..1000)),
                };
                if act.state.config.kind == MonitorKind::Push {
                    let window =
                        act.interval() + Duration::from_secs(u64::from(act.state.config.grace_s));
                    act.reschedule(ctx, window);
                } else {
                    act.reschedule(ctx, first);
                }
                Ok(Applied {
                    state: act.state.clone(),
                    position: out.last_position,
                })
            },
        )))
    }
}

impl Handler<Heartbeat> for MonitorActor {
    type Result = AtomicResponse<Self, Result<Applied, MonitorError>>;

    fn handle(&mut self, msg: Heartbeat, _ctx: &mut Context<Self>) -> Self::Result {
        let refused = |e| AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        if self.state.deleted {
            return refused(MonitorError::NotFound);
        }
        if self.state.config.kind != MonitorKind::Push {
            return refused(MonitorError::WrongKind("not a push monitor".to_owned()));
        }
        let monitor_id = self.state.id;
        let msg_up = msg.up;
        let event = Event::HeartbeatReceived(HeartbeatReceived {
            monitor_id,
            up: msg.up,
            msg: msg.msg,
            ping_ms: msg.ping_ms,
        });
        let paused = self.state.status == Status::Paused;
        let store = self.deps.store.clone();
        let stream = self.stream();
        let expected = ExpectedVersion::Exact(StreamVersion(self.state.version));
        let new = NewEvent::new(event.clone(), EventActor::system());
        let append = async move { store.append(stream, expected, vec![new]).await };
        AtomicResponse::new(Box::pin(append.into_actor(self).map(
            move |result, act, ctx| {
                let out = result?;
                act.fold(&event, &out);
                act.deps.metrics.count_check(msg_up);
                let position = out.last_position;
                if !paused {
                    let window =
                        act.interval() + Duration::from_secs(u64::from(act.state.config.grace_s));
                    act.reschedule(ctx, window);
                    if let Some(t) = act.state.transition() {
                        let next = NewEvent::new(t.event(monitor_id), EventActor::system())
                            .caused_by(out.last_position);
                        act.append_then_fold(ctx, next);
                    }
                }
                Ok(Applied {
                    state: act.state.clone(),
                    position,
                })
            },
        )))
    }
}
