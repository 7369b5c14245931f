//! watchfire watching itself: is the log writable, is there disk left, are the read
//! models keeping up. `/health/ready` asks the probe; the checker records each change
//! as a `SystemHealthChanged` event in the `system` stream.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::events::{
    Actor as EventActor, Event, EventStore, ExpectedVersion, NewEvent, Position, StreamId,
    SystemHealthChanged,
};
use crate::projections::LagSource;

/// How long a log kept elsewhere (PostgreSQL) may be unreachable before readiness says so:
/// longer than a reconnection takes.
const UNREACHABLE_GRACE: Duration = Duration::from_secs(2);

/// Projections further behind than this make the server not ready.
const MAX_LAG: Duration = Duration::from_secs(1);
/// Most durable-position marks the probe keeps.
const MAX_MARKS: usize = 256;

/// Computes the reasons the server is not ready; empty means ready.
#[derive(Clone)]
pub struct ReadinessProbe {
    store: EventStore,
    data_dir: PathBuf,
    min_free_bytes: u64,
    projections: Arc<Vec<Arc<dyn LagSource>>>,
    /// Durable positions seen at earlier probes, oldest first: a projection is more than
    /// [`MAX_LAG`] behind when it has not applied one that was durable that long ago.
    marks: Arc<std::sync::Mutex<VecDeque<(Instant, Position)>>>,
}

impl ReadinessProbe {
    /// A probe over the store, its directory and the projections that must keep up.
    pub fn new(
        store: EventStore,
        data_dir: PathBuf,
        min_free_bytes: u64,
        projections: Vec<Arc<dyn LagSource>>,
    ) -> ReadinessProbe {
        ReadinessProbe {
            store,
            data_dir,
            min_free_bytes,
            projections: Arc::new(projections),
            marks: Arc::new(std::sync::Mutex::new(VecDeque::new())),
        }
    }

    /// Why the server is not ready, one line a reason.
    pub fn reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if let Some(failure) = self.store.failure() {
            reasons.push(format!("event log not writable: {failure}"));
        }
        if let Some(why) = self.store.unreachable_for(UNREACHABLE_GRACE) {
            reasons.push(format!("event log unreachable: {why}"));
        }
        match fs4::available_space(&self.data_dir) {
            Ok(free) if free < self.min_free_bytes => reasons.push(format!(
                "disk almost full: {} MiB free, {} MiB needed",
                free / (1024 * 1024),
                self.min_free_bytes / (1024 * 1024)
            )),
            Ok(_) => {}
            Err(e) => reasons.push(format!("cannot read free disk space: {e}")),
        }
        let now = Instant::now();
        let durable = self.store.durable_position();
        let mut marks = match self.marks.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        marks.push_back((now, durable));
        // Keep the newest mark at least MAX_LAG old, and nothing older.
        while marks.len() > 1 && marks[1].0 + MAX_LAG <= now {
            marks.pop_front();
        }
        while marks.len() > MAX_MARKS {
            marks.remove(1);
        }
        let due = marks
            .front()
            .filter(|(at, _)| *at + MAX_LAG <= now)
            .map(|(_, p)| *p);
        drop(marks);
        if let Some(due) = due {
            let behind: Vec<String> = self
                .projections
                .iter()
                .filter(|p| p.applied() < due)
                .map(|p| format!("{} at {} of {}", p.name(), p.applied(), durable))
                .collect();
            if !behind.is_empty() {
                reasons.push(format!(
                    "projections lag more than 1 s: {}",
                    behind.join(", ")
                ));
            }
        }
        reasons
    }
}

/// Periodically runs the probe and records each change of readiness in the log.
pub struct HealthChecker {
    probe: ReadinessProbe,
    every: Duration,
    last: Option<Vec<String>>,
}

impl HealthChecker {
    /// A checker that runs `probe` every `every`.
    pub fn new(probe: ReadinessProbe, every: Duration) -> HealthChecker {
        HealthChecker {
            probe,
            every,
            last: None,
        }
    }

    fn check(&mut self, ctx: &mut Context<Self>) {
        let reasons = self.probe.reasons();
        if self.last.as_ref() == Some(&reasons) {
            return;
        }
        let first = self.last.is_none();
        self.last = Some(reasons.clone());
        if first && reasons.is_empty() {
            // Ready at start is the normal case; only changes are worth a fact.
            return;
        }
        if reasons.is_empty() {
            tracing::info!("watchfire is ready again");
        } else {
            tracing::warn!(?reasons, "watchfire is not ready");
        }
        let store = self.probe.store.clone();
        let event = NewEvent::new(
            Event::SystemHealthChanged(SystemHealthChanged {
                ready: reasons.is_empty(),
                reasons,
            }),
            EventActor::system(),
        );
        ctx.spawn(
            async move {
                // When the log itself is what failed, this append fails too; the probe still answers.
                if let Err(e) = store
                    .append(StreamId::system(), ExpectedVersion::Any, vec![event])
                    .await
                {
                    tracing::debug!(error = %e, "cannot record health change");
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for HealthChecker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.check(ctx);
        ctx.run_interval(self.every, |act, ctx| act.check(ctx));
    }
}
