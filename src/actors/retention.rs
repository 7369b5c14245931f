//! Retention: removes observations older than `retention.raw_days`, oldest first and
//! in bounded passes, and records what it removed as a `RetentionApplied` fact.

use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;

use crate::clock::SharedClock;
use crate::events::{
    Actor as EventActor, Event, EventStore, ExpectedVersion, NewEvent, RetentionApplied, StreamId,
};

/// Observations removed per pass, so appends are never held up for long.
const PASS_SIZE: usize = 10_000;

/// Runs retention on an interval.
pub struct RetentionActor {
    store: EventStore,
    keep: chrono::Duration,
    every: Duration,
    running: bool,
    clock: SharedClock,
}

impl RetentionActor {
    /// Keeps observations for `raw_days` as `clock` tells the time, checking every `every`.
    pub fn new(
        store: EventStore,
        raw_days: u32,
        every: Duration,
        clock: SharedClock,
    ) -> RetentionActor {
        RetentionActor {
            store,
            keep: chrono::Duration::days(i64::from(raw_days)),
            every,
            running: false,
            clock,
        }
    }

    fn run_once(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let store = self.store.clone();
        let cutoff = self.clock.now() - self.keep;
        ctx.spawn(
            async move { run_retention(&store, cutoff).await }
                .into_actor(self)
                .map(|_, act, _| act.running = false),
        );
    }
}

/// Removes every observation recorded before `cutoff` and records the fact; returns how many.
pub async fn run_retention(store: &EventStore, cutoff: chrono::DateTime<Utc>) -> u64 {
    let mut removed = 0;
    let mut through = None;
    loop {
        match store.apply_retention(cutoff, PASS_SIZE).await {
            Ok(outcome) => {
                removed += outcome.removed;
                through = outcome.through.or(through);
                if outcome.deferred {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                if !outcome.more {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention pass failed");
                break;
            }
        }
    }
    if let (true, Some(through)) = (removed > 0, through) {
        tracing::info!(removed, %cutoff, "retention removed expired observations");
        let event = NewEvent::new(
            Event::RetentionApplied(RetentionApplied {
                cutoff,
                removed,
                through_position: through.0,
            }),
            EventActor::system(),
        );
        if let Err(e) = store
            .append(StreamId::system(), ExpectedVersion::Any, vec![event])
            .await
        {
            tracing::warn!(error = %e, "cannot record retention");
        }
    }
    removed
}

impl Actor for RetentionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.run_once(ctx);
        ctx.run_interval(self.every, |act, ctx| act.run_once(ctx));
    }
}
