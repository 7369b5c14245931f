//! The actor that owns one host: it records the samples pushed to it or scraped from its
//! node_exporter (with rates from the previous sample), and trips the dead man's switch
//! when the host has been silent for its window.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use futures_util::FutureExt;
use prometheus::IntCounter;

use super::scrape::Scraper;
use crate::command::{self, CommandAnswer, CommandError};
use crate::domain::host::{decide, HostCommand, HostState, HostStatus, Sample};
use crate::domain::DomainError;
use crate::events::{
    Actor as EventActor, Event, EventStore, HostScrapeFailed, HostWentStale, Position, StoreError,
    StreamId, StreamVersion,
};
use crate::projections::{Hosts, ProjectionHandle};

/// Most bytes read from a node_exporter's answer.
const MAX_SCRAPE_BYTES: usize = 16 * 1024 * 1024;

/// The hosts' figures for `/metrics`.
#[derive(Clone)]
pub struct HostMetrics {
    /// Samples recorded, pushed or scraped.
    pub samples: IntCounter,
    /// Pushes ignored because the host already had a sample that new.
    pub duplicates: IntCounter,
    /// Scrapes that failed.
    pub scrape_failures: IntCounter,
}

impl HostMetrics {
    /// New, unregistered figures.
    pub fn new() -> HostMetrics {
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help).unwrap_or_else(|_| unreachable!("valid metric name"))
        };
        HostMetrics {
            samples: counter(
                "watchfire_host_samples_total",
                "Host samples recorded, pushed or scraped",
            ),
            duplicates: counter(
                "watchfire_host_duplicate_samples_total",
                "Pushed samples ignored because the host already had one as new",
            ),
            scrape_failures: counter(
                "watchfire_host_scrape_failures_total",
                "node_exporter scrapes that failed",
            ),
        }
    }

    /// Adds the figures to a registry.
    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.samples.clone()))?;
        registry.register(Box::new(self.duplicates.clone()))?;
        registry.register(Box::new(self.scrape_failures.clone()))
    }
}

impl Default for HostMetrics {
    fn default() -> HostMetrics {
        HostMetrics::new()
    }
}

/// What every host actor shares.
#[derive(Clone)]
pub struct HostDeps {
    /// The log.
    pub store: EventStore,
    /// Where a restarted actor rehydrates from.
    pub hosts: ProjectionHandle<Hosts>,
    /// Scrapes node_exporters.
    pub client: reqwest::Client,
    /// Sample counts.
    pub metrics: HostMetrics,
}

/// A host's state after a push or command, and where its events are.
#[derive(Clone, Debug)]
pub struct HostApplied {
    /// The stream, version and position the command left (for a duplicate sample, the
    /// position of the sample it repeated).
    pub answer: CommandAnswer,
    /// The state after it.
    pub state: HostState,
    /// Whether the push repeated a sample the host already had (nothing was appended).
    pub duplicate: bool,
}

/// A command to one host: a registration, a sample or a delete.
#[derive(Message)]
#[rtype(result = "Result<HostApplied, CommandError>")]
pub struct Command {
    /// What to do.
    pub command: HostCommand,
    /// Who asks, for the event's actor field.
    pub by: EventActor,
}

/// A scrape finished (or panicked) in the background.
#[derive(Message)]
#[rtype(result = "()")]
struct ScrapeDone {
    /// The exposition text, or why it could not be fetched.
    result: Result<String, String>,
}

/// The actor of one host.
pub struct HostActor {
    state: HostState,
    deps: HostDeps,
    /// When the host was last heard from (or the actor started).
    last_heard: Instant,
    stale_timer: Option<SpawnHandle>,
    scraper: Scraper,
    scraping: bool,
    /// Given up to another node: it does nothing more, and a restart rehydrates nothing.
    relinquished: bool,
    /// The scrape schedule, for a scraped host.
    scrape_timer: Option<SpawnHandle>,
}

/// Stop for good: another node owns the host now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Relinquish;

impl Handler<Relinquish> for HostActor {
    type Result = ();

    fn handle(&mut self, _: Relinquish, ctx: &mut Context<Self>) {
        self.relinquished = true;
        // Every timer, scrape and command already looks at `deleted`.
        self.state.deleted = true;
        // Dormant, not stopped: it ends once nothing holds its address (a scrape in
        // flight may); a stopped actor would be restarted by its supervisor meanwhile.
        for timer in [self.stale_timer.take(), self.scrape_timer.take()]
            .into_iter()
            .flatten()
        {
            ctx.cancel_future(timer);
        }
    }
}

impl HostActor {
    /// An actor for a host in `state`.
    pub fn new(state: HostState, deps: HostDeps) -> HostActor {
        HostActor {
            state,
            deps,
            last_heard: Instant::now(),
            stale_timer: None,
            scraper: Scraper::new(),
            relinquished: false,
            scrape_timer: None,
            scraping: false,
        }
    }

    fn stream(&self) -> StreamId {
        StreamId::host(&self.state.hostname)
    }

    fn window(&self) -> Duration {
        Duration::from_secs(u64::from(self.state.window_s()))
    }

    /// Arms the dead man's switch to look again in `wait`, unless it is armed already.
    fn arm_stale(&mut self, ctx: &mut Context<Self>, wait: Duration) {
        if self.stale_timer.is_some() || self.state.deleted {
            return;
        }
        self.stale_timer = Some(ctx.run_later(wait, |act, ctx| {
            act.stale_timer = None;
            act.check_stale(ctx);
        }));
    }

    fn check_stale(&mut self, ctx: &mut Context<Self>) {
        if self.state.status == HostStatus::Stale || self.state.deleted {
            return;
        }
        let window = self.window();
        let silent = self.last_heard.elapsed();
        if silent < window {
            self.arm_stale(ctx, window - silent);
            return;
        }
        let event = Event::HostWentStale(HostWentStale {
            hostname: self.state.hostname.clone(),
            last_seen: self.state.last_seen,
            window_s: self.state.window_s(),
        });
        tracing::info!(host = %self.state.hostname, window_s = self.state.window_s(), "host went stale");
        self.append_then_fold(ctx, event);
    }

    /// Records an event the actor observed itself (stale, scrape failed) and folds it in.
    fn append_then_fold(&mut self, ctx: &mut Context<Self>, event: Event) {
        let fut = command::carry_out(
            self.deps.store.clone(),
            self.state.clone(),
            vec![event],
            EventActor::system(),
        );
        ctx.wait(fut.into_actor(self).map(|(state, result), act, _| {
            act.state = state;
            if let Err(e) = result {
                tracing::warn!(host = %act.state.hostname, error = %e, "cannot record a host event");
            }
        }));
    }

    /// After a sample was recorded: the host was heard from.
    fn heard(&mut self, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        self.deps.metrics.samples.inc();
        let window = self.window();
        self.arm_stale(ctx, window);
    }

    fn scrape(&mut self, ctx: &mut Context<Self>) {
        let Some(url) = self.state.scrape_url.clone() else {
            return;
        };
        if self.scraping || self.state.deleted {
            return;
        }
        self.scraping = true;
        let client = self.deps.client.clone();
        let interval = Duration::from_secs(u64::from(self.state.interval_s.unwrap_or(15).max(1)));
        let timeout = interval.min(Duration::from_secs(10));
        let addr = ctx.address();
        actix::spawn(async move {
            let fetch = async {
                let res = client
                    .get(&url)
                    .timeout(timeout)
                    .send()
                    .await
                    .map_err(|e| format!("cannot scrape {url}: {e}"))?;
                if !res.status().is_success() {
                    return Err(format!("{url} answered {}", res.status()));
                }
                if res
                    .content_length()
                    .is_some_and(|n| n > MAX_SCRAPE_BYTES as u64)
                {
                    return Err(format!("{url} answered more than {MAX_SCRAPE_BYTES} bytes"));
                }
                let bytes = res
                    .bytes()
                    .await
                    .map_err(|e| format!("cannot read {url}: {e}"))?;
                if bytes.len() > MAX_SCRAPE_BYTES {
                    return Err(format!("{url} answered more than {MAX_SCRAPE_BYTES} bytes"));
                }
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| format!("{url} answered non-UTF-8 text"))
            };
            let result = AssertUnwindSafe(fetch)
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err("scrape panicked".to_owned()));
            let _ = addr.send(ScrapeDone { result }).await;
        });
    }

    /// Rehydrates from the read model and the tail of the stream after it (blocking).
    fn rehydrate(hostname: &str, deps: &HostDeps) -> Result<Option<HostState>, StoreError> {
        let state = deps.hosts.read().hosts.get(hostname).cloned();
        state
            .map(|s| command::rehydrate(&deps.store, s))
            .transpose()
    }
}

impl Actor for HostActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(256);
        if self.relinquished {
            return;
        }
        if self.state.deleted {
            return;
        }
        // A full window after start: agents that buffered through a restart get to catch up.
        self.last_heard = Instant::now();
        let window = self.window();
        self.arm_stale(ctx, window);
        if self.state.scrape_url.is_some() {
            let interval =
                Duration::from_secs(u64::from(self.state.interval_s.unwrap_or(15).max(1)));
            // Spread the first scrapes over one interval.
            let first = interval.mul_f64(rand::random::<f64>());
            self.scrape_timer = Some(ctx.run_later(first, move |act, ctx| {
                act.scrape(ctx);
                act.scrape_timer = Some(ctx.run_interval(interval, |act, ctx| act.scrape(ctx)));
            }));
        }
    }
}

impl Supervised for HostActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.stale_timer = None;
        self.scrape_timer = None;
        self.scraping = false;
        if self.relinquished {
            return;
        }
        match Self::rehydrate(&self.state.hostname, &self.deps) {
            Ok(Some(state)) => self.state = state,
            Ok(None) => self.state.deleted = true,
            Err(e) => {
                tracing::warn!(host = %self.state.hostname, error = %e, "rehydrating from the read model only")
            }
        }
    }
}

impl Handler<Command> for HostActor {
    type Result = AtomicResponse<Self, Result<HostApplied, CommandError>>;

    fn handle(&mut self, msg: Command, _ctx: &mut Context<Self>) -> Self::Result {
        let refused = |e: DomainError| AtomicResponse::new(Box::pin(fut::ready(Err(e.into()))));
        if self.state.deleted {
            // The actor is on its way out: the registry starts a new one for the host.
            return refused(DomainError::NotFound("host"));
        }
        let sample = matches!(msg.command, HostCommand::Sample(_));
        let events = match decide(Some(&self.state), msg.command) {
            Ok(events) => events,
            Err(e) => return refused(e),
        };
        if events.is_empty() {
            // A sample no newer than the last one, or a registration kept as it is.
            if sample {
                self.deps.metrics.duplicates.inc();
            }
            let applied = HostApplied {
                answer: CommandAnswer {
                    stream: self.stream(),
                    version: StreamVersion(self.state.version),
                    position: Position(self.state.latest_position),
                },
                state: self.state.clone(),
                duplicate: sample,
            };
            return AtomicResponse::new(Box::pin(fut::ready(Ok(applied))));
        }
        let deleted = events.iter().any(|e| matches!(e, Event::HostDeleted(_)));
        let fut = command::carry_out(self.deps.store.clone(), self.state.clone(), events, msg.by);
        AtomicResponse::new(Box::pin(fut.into_actor(self).map(
            move |(state, result), act, ctx| {
                act.state = state;
                let answer = result?;
                if sample {
                    act.heard(ctx);
                }
                if deleted {
                    ctx.stop();
                }
                Ok(HostApplied {
                    answer,
                    state: act.state.clone(),
                    duplicate: false,
                })
            },
        )))
    }
}

impl Handler<ScrapeDone> for HostActor {
    type Result = ();

    fn handle(&mut self, msg: ScrapeDone, ctx: &mut Context<Self>) {
        self.scraping = false;
        if self.state.deleted {
            return;
        }
        let body = msg.result.and_then(|text| {
            let scraper = &mut self.scraper;
            std::panic::catch_unwind(AssertUnwindSafe(|| scraper.sample(&text, Utc::now())))
                .map_err(|_| "parsing the scrape panicked".to_owned())?
                .map_err(|e| e.to_string())
        });
        match body {
            Ok(body) => {
                let sample = Sample {
                    body,
                    now: Utc::now(),
                };
                let events = match decide(Some(&self.state), HostCommand::Sample(Box::new(sample)))
                {
                    Ok(events) if !events.is_empty() => events,
                    Ok(_) => return,
                    Err(e) => {
                        tracing::warn!(host = %self.state.hostname, error = %e, "cannot record a scrape");
                        return;
                    }
                };
                let fut = command::carry_out(
                    self.deps.store.clone(),
                    self.state.clone(),
                    events,
                    EventActor::system(),
                );
                ctx.wait(fut.into_actor(self).map(|(state, result), act, ctx| {
                    act.state = state;
                    match result {
                        Ok(_) => act.heard(ctx),
                        Err(e) => tracing::warn!(host = %act.state.hostname, error = %e, "cannot record a scrape"),
                    }
                }));
            }
            Err(error) => {
                self.deps.metrics.scrape_failures.inc();
                tracing::debug!(host = %self.state.hostname, %error, "scrape failed");
                let event = Event::HostScrapeFailed(HostScrapeFailed {
                    hostname: self.state.hostname.clone(),
                    error,
                });
                self.append_then_fold(ctx, event);
            }
        }
    }
}
