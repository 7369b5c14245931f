//! The actor that owns one monitor: it schedules and runs its checks, records them, moves
//! through `pending → up ⇄ down` and `paused`, and carries out commands on its monitor.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::FutureExt;
use rand::Rng;
use uuid::Uuid;

use super::checks::{CheckOutcome, Checker, PreparedCheck};
use crate::command::{self, CommandAnswer, CommandError};
use crate::domain::monitor::{decide, MonitorCommand, MonitorState, Status};
use crate::events::{
    Actor as EventActor, Event, EventStore, MonitorChecked, MonitorKind, Position, StoreError,
    StreamId, StreamVersion,
};
use crate::projections::{Monitors, ProjectionHandle};

/// A command to one monitor, from an authenticated caller (or, for a heartbeat, the system).
#[derive(Message)]
#[rtype(result = "Result<Applied, CommandError>")]
pub struct Command {
    /// What to do.
    pub command: MonitorCommand,
    /// Who asks, for the event's actor field.
    pub by: EventActor,
}

/// A command's result: where its events are, and the monitor's state after it.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The stream, version and position the command left.
    pub answer: CommandAnswer,
    /// The state after the command.
    pub state: MonitorState,
}

/// A check finished (or panicked) in the background.
#[derive(Message)]
#[rtype(result = "()")]
struct CheckDone {
    generation: u64,
    outcome: Result<CheckOutcome, String>,
}

/// Stop for good: another node owns the monitor now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Relinquish;

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
    /// Who checks are recorded as: `system`, or `node:<id>` on a node of a cluster.
    pub recorder: EventActor,
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
    /// Given up to another node: it checks nothing more, and a restart stops it again.
    relinquished: bool,
    /// The config's checks as parsed once; dropped whenever a command or restart may change it.
    prepared: Option<Arc<PreparedCheck>>,
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
            relinquished: false,
            prepared: None,
        }
    }

    /// Checks nothing more: the actor goes dormant and ends once nothing holds its
    /// address (a check in flight may, for its timeout). Stopping it outright would make
    /// its supervisor restart it while that address is held.
    fn relinquish(&mut self, ctx: &mut Context<Self>) {
        self.relinquished = true;
        self.reschedule(ctx, Duration::ZERO);
    }

    fn stream(&self) -> StreamId {
        StreamId::monitor(self.state.id)
    }

    fn active(&self) -> bool {
        !self.state.deleted && !self.relinquished && self.state.status != Status::Paused
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
                ping: None,
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
        let prepared = self
            .prepared
            .get_or_insert_with(|| Arc::new(PreparedCheck::new(self.state.config.clone())))
            .clone();
        let panic_here = self
            .deps
            .panic_on
            .as_deref()
            .is_some_and(|name| name == prepared.config().name);
        let timeout_ms = prepared.config().timeout_ms;
        let hard_limit = Duration::from_millis(u64::from(timeout_ms)) + Duration::from_secs(1);
        let check = async move {
            if panic_here {
                panic!(
                    "test hook: the check of {:?} panics",
                    prepared.config().name
                );
            }
            match tokio::time::timeout(hard_limit, checker.check_prepared(&prepared)).await {
                Ok(outcome) => outcome,
                Err(_) => CheckOutcome {
                    ok: false,
                    latency_ms: hard_limit.as_secs_f64() * 1000.0,
                    status_code: None,
                    error: Some(format!("timed out after {timeout_ms} ms")),
                    cert_expires_at: None,
                    ping: None,
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

    /// Records a check's result and the transition it calls for; with `stop_after`, stops
    /// the actor once both are on disk.
    fn record(&mut self, ctx: &mut Context<Self>, checked: MonitorChecked, stop_after: bool) {
        let (ok, latency_ms) = (checked.ok, checked.latency_ms);
        let decided = decide(Some(&self.state), MonitorCommand::RecordCheck(checked));
        let events = match decided {
            Ok(events) if !events.is_empty() => events,
            refused => {
                if let Err(e) = refused {
                    tracing::warn!(monitor = %self.state.id, error = %e, "cannot record a check");
                }
                if stop_after {
                    ctx.stop();
                }
                return;
            }
        };
        // Nobody waits on a recorded check: its flush may be shared with other checks'.
        let fut = command::carry_out(
            self.deps.store.unhurried(),
            self.state.clone(),
            events,
            self.deps.recorder.clone(),
        );
        ctx.wait(fut.into_actor(self).map(move |(state, result), act, ctx| {
            act.state = state;
            match result {
                Ok(_) => {
                    act.deps.metrics.count_check(ok);
                    // A push monitor's missed heartbeat is a check that took no time.
                    if act.state.config.kind != MonitorKind::Push {
                        act.deps.metrics.check_duration.observe(latency_ms / 1000.0);
                    }
                }
                Err(CommandError::Store(StoreError::Fenced { .. })) => {
                    tracing::warn!(monitor = %act.state.id, "another node owns this monitor now");
                    act.relinquish(ctx);
                    return;
                }
                Err(e) => {
                    tracing::warn!(monitor = %act.state.id, error = %e, "cannot record a check")
                }
            }
            if stop_after {
                // A panic leaves the actor suspect: its supervisor restarts it fresh.
                ctx.stop();
            }
        }));
    }

    /// The heartbeat window of a push monitor: its interval and grace.
    fn window(&self) -> Duration {
        self.interval() + Duration::from_secs(u64::from(self.state.config.grace_s))
    }

    /// Rehydrates from the read model and the tail of the stream after it (blocking).
    fn rehydrate(id: Uuid, deps: &MonitorDeps) -> Result<Option<MonitorState>, StoreError> {
        let state = deps
            .monitors
            .read()
            .monitors
            .get(&id)
            .map(|v| v.state.clone());
        state
            .map(|s| command::rehydrate(&deps.store, s))
            .transpose()
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
        if self.relinquished {
            return;
        }
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
        if self.relinquished {
            return;
        }
        self.deps.metrics.restarts.inc();
        self.prepared = None;
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
        let (outcome, panicked) = match msg.outcome {
            Ok(o) => (o, false),
            Err(why) => (
                CheckOutcome {
                    ok: false,
                    latency_ms: 0.0,
                    status_code: None,
                    error: Some(why),
                    cert_expires_at: None,
                    ping: None,
                },
                true,
            ),
        };
        let checked = MonitorChecked {
            monitor_id: self.state.id,
            ok: outcome.ok,
            latency_ms: outcome.latency_ms,
            status_code: outcome.status_code,
            error: outcome.error,
            cert_expires_at: outcome.cert_expires_at,
            ping: outcome.ping,
        };
        self.record(ctx, checked, panicked);
    }
}

impl Handler<Relinquish> for MonitorActor {
    type Result = ();

    fn handle(&mut self, _: Relinquish, ctx: &mut Context<Self>) {
        self.relinquish(ctx);
    }
}

impl Handler<Command> for MonitorActor {
    type Result = AtomicResponse<Self, Result<Applied, CommandError>>;

    fn handle(&mut self, msg: Command, _ctx: &mut Context<Self>) -> Self::Result {
        if self.relinquished {
            // Queued before the monitor moved: its new owner takes the next try.
            return AtomicResponse::new(Box::pin(fut::ready(Err(CommandError::Moving("monitor")))));
        }
        let heartbeat = match &msg.command {
            MonitorCommand::Heartbeat(beat) => Some(beat.up),
            _ => None,
        };
        let events = match decide(Some(&self.state), msg.command) {
            Ok(events) => events,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e.into())))),
        };
        if events.is_empty() {
            let applied = Applied {
                answer: CommandAnswer {
                    stream: self.stream(),
                    version: StreamVersion(self.state.version),
                    position: Position::START,
                },
                state: self.state.clone(),
            };
            return AtomicResponse::new(Box::pin(fut::ready(Ok(applied))));
        }
        let deleted = events.iter().any(|e| matches!(e, Event::MonitorDeleted(_)));
        let fut = command::carry_out(self.deps.store.clone(), self.state.clone(), events, msg.by);
        AtomicResponse::new(Box::pin(fut.into_actor(self).map(
            move |(state, result), act, ctx| {
                act.state = state;
                act.prepared = None;
                let answer = result?;
                if let Some(up) = heartbeat {
                    act.deps.metrics.count_check(up);
                    // A heartbeat opens a new window; a paused monitor has none.
                    if act.state.status != Status::Paused {
                        let window = act.window();
                        act.reschedule(ctx, window);
                    }
                } else if deleted {
                    ctx.stop();
                    act.reschedule(ctx, Duration::ZERO);
                } else if act.state.config.kind == MonitorKind::Push {
                    let window = act.window();
                    act.reschedule(ctx, window);
                } else {
                    // A change takes effect at once: the next check comes within a second.
                    let first = Duration::from_millis(rand::thread_rng().gen_range(0..1000));
                    act.reschedule(ctx, first);
                }
                Ok(Applied {
                    answer,
                    state: act.state.clone(),
                })
            },
        )))
    }
}
