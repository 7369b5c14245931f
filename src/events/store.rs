//! The event store: one handle, [`EventStore`], over a [`LogBackend`] that keeps the
//! bytes: sled in the data directory (the embedded default, `sled_store.rs`) or a
//! PostgreSQL database shared by several nodes (`pg_store.rs`). Both give the same
//! guarantees, held by one test suite run against each: atomic appends with expected
//! versions, contiguous positions published in order only once durable, subscriptions
//! with no gap and no duplicate, retention of observations, and both hash chains.
//!
//! What does not depend on the backend lives here: the durable position and the live
//! broadcast that subscriptions follow, the failure latch, the figures, and projection
//! checkpoints, which are files in the node's own `checkpoints/` directory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use prometheus::{Histogram, HistogramOpts, IntCounter, Registry};
use tokio::sync::{broadcast, oneshot};

use super::chain::{ChainLink, ChainState, VerifyReport};
use super::codec::{self, CodecError, Placement};
use super::datadir::DataDir;
use super::subscription::Subscription;
use super::tree::ProjectionTree;
use super::types::{
    AppendOutcome, ExpectedVersion, NewEvent, Position, RecordedEvent, SharedEvent, StreamId,
    StreamVersion,
};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream is not at the version the caller expected; nothing was written.
    #[error("version conflict on stream {stream}: expected {expected}, but it is at {}", actual.map_or("no stream".to_owned(), |v| v.to_string()))]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's actual last version.
        actual: Option<StreamVersion>,
    },
    /// An append must carry at least one event.
    #[error("an append needs at least one event")]
    EmptyAppend,
    /// An append carried more events than one batch may hold.
    #[error("an append may carry at most {limit} events, not {count}")]
    AppendTooLarge {
        /// Events in the append.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The log cannot be written (disk full, read-only, I/O error); reads still work.
    #[error("the event log is not writable: {0}")]
    Unavailable(String),
    /// The store was closed.
    #[error("the event store is closed")]
    Closed,
    /// The append was made for a thing whose lease this node no longer holds (another
    /// node took it over): nothing was written.
    #[error("this node no longer owns {resource}: another node has taken it over")]
    Fenced {
        /// The leased thing, such as `monitor-<id>`.
        resource: String,
    },
    /// sled reported an error.
    #[error("storage error: {0}")]
    Storage(String),
    /// A stored record does not decode.
    #[error("corrupt record at position {position}: {source}")]
    Corrupt {
        /// Where.
        position: Position,
        /// Why.
        #[source]
        source: CodecError,
    },
}

/// Tuning of the store; the defaults suit a server.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// sled's page cache, in bytes (sled's own default of 1 GB is far too large here);
    /// with PostgreSQL, the cache of the node's local projection trees.
    pub cache_capacity_bytes: u64,
    /// Most events the writer gathers into one commit.
    pub max_batch_events: usize,
    /// Most events in one append.
    pub max_append_events: usize,
    /// Pending appends the writer queue holds before callers wait.
    pub queue_capacity: usize,
    /// Live events held for subscribers; a subscriber further behind reads from disk.
    pub live_buffer: usize,
    /// Where the writer reads the time it stamps events with.
    pub clock: crate::clock::SharedClock,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            cache_capacity_bytes: 64 * 1024 * 1024,
            max_batch_events: 8192,
            max_append_events: 1000,
            queue_capacity: 4096,
            live_buffer: 4096,
            clock: crate::clock::system(),
        }
    }
}

/// What one retention pass did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Observations removed.
    pub removed: u64,
    /// The last removed observation, if any was.
    pub through: Option<Position>,
    /// Whether more expired observations remain (passes are bounded).
    pub more: bool,
    /// Whether the pass was skipped because a verification was running.
    pub deferred: bool,
}

/// The store's figures for `/metrics`.
#[derive(Clone)]
pub struct StoreMetrics {
    /// Events made durable.
    pub appended: IntCounter,
    /// From an append's arrival at the writer to its durable answer.
    pub append_seconds: Histogram,
    /// Events per group commit.
    pub commit_events: Histogram,
    /// Duration of each flush (sled) or commit (PostgreSQL).
    pub flush_seconds: Histogram,
    /// Appends refused because this node no longer held the lease they were made under.
    pub fenced: IntCounter,
}

impl StoreMetrics {
    pub(super) fn new() -> StoreMetrics {
        let buckets = vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
        ];
        let hist = |name: &str, help: &str, b: Vec<f64>| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(b))
                .expect("static histogram options are valid")
        };
        StoreMetrics {
            appended: IntCounter::new(
                "watchfire_events_appended_total",
                "Events appended to the log and made durable.",
            )
            .expect("static counter options are valid"),
            append_seconds: hist(
                "watchfire_append_duration_seconds",
                "Time from an append reaching the writer to it being durable.",
                buckets.clone(),
            ),
            commit_events: hist(
                "watchfire_commit_batch_events",
                "Events made durable by one flush (group commit size).",
                vec![
                    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
                ],
            ),
            flush_seconds: hist(
                "watchfire_flush_duration_seconds",
                "Duration of one flush of the log to disk.",
                buckets,
            ),
            fenced: IntCounter::new(
                "watchfire_appends_fenced_total",
                "Appends refused because this node no longer held the lease they were made under.",
            )
            .expect("static counter options are valid"),
        }
    }

    /// Adds the figures to a Prometheus registry.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.appended.clone()))?;
        registry.register(Box::new(self.append_seconds.clone()))?;
        registry.register(Box::new(self.commit_events.clone()))?;
        registry.register(Box::new(self.flush_seconds.clone()))?;
        registry.register(Box::new(self.fenced.clone()))?;
        Ok(())
    }
}

/// What every backend shares with the handle: the durable position, the live broadcast,
/// the failure latch and the figures.
pub struct Core {
    pub(super) options: StoreOptions,
    durable: AtomicU64,
    live: broadcast::Sender<SharedEvent>,
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
    /// Since when, and why, a log kept elsewhere cannot be reached (it may come back).
    trouble: Mutex<Option<(Instant, String)>>,
    pub(super) metrics: StoreMetrics,
}

impl Core {
    /// A core whose log holds everything up to `durable`.
    pub(super) fn new(options: StoreOptions, durable: Position) -> Core {
        let (live, _) = broadcast::channel(options.live_buffer.max(16));
        Core {
            options,
            durable: AtomicU64::new(durable.0),
            live,
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
            trouble: Mutex::new(None),
            metrics: StoreMetrics::new(),
        }
    }

    /// Notes that the log cannot be reached just now, for `reason` (kept from the first
    /// failure until [`Core::reached`]).
    pub(super) fn unreachable(&self, reason: &str) {
        if let Ok(mut t) = self.trouble.lock() {
            if t.is_none() {
                tracing::warn!(%reason, "the event log cannot be reached");
                *t = Some((Instant::now(), reason.to_owned()));
            }
        }
    }

    /// Notes that the log answered again.
    pub(super) fn reached(&self) {
        if let Ok(mut t) = self.trouble.lock() {
            if t.take().is_some() {
                tracing::info!("the event log can be reached again");
            }
        }
    }

    /// Latches the log as not writable, for `reason`.
    pub(super) fn fail(&self, reason: String) {
        tracing::error!(%reason, "event log is no longer writable");
        self.failed.store(true, Ordering::SeqCst);
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(reason);
        }
    }

    /// Why the log is not writable, if it is not.
    pub(super) fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::SeqCst) {
            return None;
        }
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// The last position that is durable and published.
    pub(super) fn durable(&self) -> Position {
        Position(self.durable.load(Ordering::Acquire))
    }

    /// Makes `events` (durable, in position order, through `last`) readable and sends them
    /// to live subscribers; the caller answers their appenders after it.
    pub(super) fn publish(&self, last: Position, events: impl IntoIterator<Item = SharedEvent>) {
        self.durable.store(last.0, Ordering::Release);
        for e in events {
            // No receivers is normal; a lagging receiver falls back to disk by itself.
            let _ = self.live.send(e);
        }
    }

    /// Answers an append that is durable and published.
    pub(super) fn answer(&self, accepted: Accepted) {
        self.metrics
            .append_seconds
            .observe(accepted.arrived.elapsed().as_secs_f64());
        let _ = accepted.reply.send(Ok(accepted.outcome));
    }
}

/// The lease an append is made under: the backend refuses it unless the lease on
/// `resource` is still live and still at `token`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The leased thing, such as `monitor-<id>`.
    pub resource: String,
    /// The lease's fencing token when this node took it.
    pub token: u64,
}

/// The leases this node holds, with their fencing tokens; shared by every handle of a
/// store, and kept by the node's ownership manager.
#[derive(Default)]
pub struct LeaseBook {
    held: std::sync::RwLock<std::collections::HashMap<String, u64>>,
}

impl LeaseBook {
    /// Records that this node holds `resource` at `token`.
    pub fn hold(&self, resource: &str, token: u64) {
        if let Ok(mut held) = self.held.write() {
            held.insert(resource.to_owned(), token);
        }
    }

    /// Forgets `resource`: appends fenced by it are refused from now on.
    pub fn forget(&self, resource: &str) {
        if let Ok(mut held) = self.held.write() {
            held.remove(resource);
        }
    }

    /// The token `resource` is held at, if it is held.
    pub fn token(&self, resource: &str) -> Option<u64> {
        self.held.read().ok()?.get(resource).copied()
    }

    /// Every resource held, in no order.
    pub fn held(&self) -> Vec<String> {
        self.held
            .read()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// How many resources are held.
    pub fn len(&self) -> usize {
        self.held.read().map_or(0, |h| h.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A node of a cluster, as the shared log knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    /// The node's id.
    pub id: uuid::Uuid,
    /// Where its HTTP API listens, for requests forwarded to it.
    pub addr: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_s: f64,
}

/// What a log shared by several nodes offers them: who is alive, and leases on the
/// things they own. Leases expire unless renewed, and each acquisition raises the
/// lease's fencing token, which appends carry ([`Fence`]).
pub trait Membership: Send + Sync + 'static {
    /// Records that `node` (serving at `addr`, started at `started`) is alive and answers
    /// every node whose last heartbeat is younger than `ttl`.
    fn heartbeat(
        &self,
        node: uuid::Uuid,
        addr: String,
        started: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> BoxFuture<'static, Result<Vec<NodeInfo>, StoreError>>;
    /// Takes the leases on `resources` that are free, expired or already `node`'s, for
    /// `ttl`; answers those taken with their new tokens.
    fn acquire(
        &self,
        node: uuid::Uuid,
        resources: Vec<String>,
        ttl: std::time::Duration,
    ) -> BoxFuture<'static, Result<Vec<(String, u64)>, StoreError>>;
    /// Extends every lease `node` holds by `ttl`; answers them with their tokens.
    fn renew(
        &self,
        node: uuid::Uuid,
        ttl: std::time::Duration,
    ) -> BoxFuture<'static, Result<Vec<(String, u64)>, StoreError>>;
    /// Gives up `node`'s leases on `resources`.
    fn release(
        &self,
        node: uuid::Uuid,
        resources: Vec<String>,
    ) -> BoxFuture<'static, Result<(), StoreError>>;
    /// The owner of every live lease.
    fn owners(&self) -> BoxFuture<'static, Result<Vec<(String, uuid::Uuid)>, StoreError>>;
    /// Removes `node` and its leases, as it stops.
    fn leave(&self, node: uuid::Uuid) -> BoxFuture<'static, Result<(), StoreError>>;
}

/// Longest the sled log's writer holds appends made through [`EventStore::unhurried`],
/// waiting for more appends to share their commit and flush.
pub const UNHURRIED_FLUSH_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

/// One append on its way to a backend's writer.
pub struct AppendRequest {
    pub(super) stream: StreamId,
    pub(super) expected: ExpectedVersion,
    pub(super) events: Vec<NewEvent>,
    pub(super) fence: Option<Fence>,
    pub(super) reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
    pub(super) arrived: Instant,
    /// Its caller can wait a little for its flush to be shared (see [`EventStore::unhurried`]).
    pub(super) unhurried: bool,
}

/// An append its writer has placed: what its caller will be told once it is durable.
pub struct Accepted {
    pub(super) reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
    pub(super) outcome: AppendOutcome,
    pub(super) arrived: Instant,
}

/// Encodes an append's events as records from position `first` and stream version
/// `version` on, stamped `now`, each linked into its chain in `chain`; hands back each
/// record with the event as it is recorded.
pub(super) fn encode_append(
    stream: &StreamId,
    events: Vec<NewEvent>,
    first: Position,
    version: u64,
    now: DateTime<Utc>,
    chain: &mut ChainState,
) -> Vec<(Vec<u8>, SharedEvent)> {
    let mut out = Vec::with_capacity(events.len());
    for (i, new) in events.into_iter().enumerate() {
        let position = Position(first.0 + i as u64);
        let version = StreamVersion(version + i as u64);
        let which = new.event.chain();
        let link = chain.heads[which.index()];
        let prev_in_chain = link.position;
        let (record, hash) = codec::encode_record(
            &Placement {
                position,
                stream,
                version,
                timestamp: now,
                prev_in_chain,
                prev_hash: &link.hash,
            },
            &new,
        );
        chain.heads[which.index()] = ChainLink {
            position: Some(position),
            hash,
        };
        let event = Arc::new(RecordedEvent {
            position,
            stream: stream.clone(),
            version,
            schema_version: new.event.schema_version(),
            timestamp: now,
            actor: new.actor,
            correlation_id: new.correlation_id,
            causation: new.causation,
            chain: which,
            prev_in_chain,
            event: new.event,
            hash,
        });
        out.push((record, event));
    }
    out
}

/// Queues `msg` for a backend's writer, waiting while its queue is full.
pub(super) fn queue<M: Send + 'static>(
    to_writer: &tokio::sync::mpsc::Sender<M>,
    msg: M,
) -> BoxFuture<'static, Result<(), StoreError>> {
    let to_writer = to_writer.clone();
    Box::pin(async move { to_writer.send(msg).await.map_err(|_| StoreError::Closed) })
}

/// Asks a backend's writer for a retention pass (the message `ask` builds around the
/// reply) and waits for its outcome.
pub(super) fn ask_retention<M: Send + 'static>(
    to_writer: &tokio::sync::mpsc::Sender<M>,
    ask: impl FnOnce(oneshot::Sender<Result<RetentionOutcome, StoreError>>) -> M,
) -> BoxFuture<'static, Result<RetentionOutcome, StoreError>> {
    let (reply, answer) = oneshot::channel();
    let queued = queue(to_writer, ask(reply));
    Box::pin(async move {
        queued.await?;
        answer.await.map_err(|_| StoreError::Closed)?
    })
}

/// Checks an expected version against a stream's current last version.
pub(super) fn expected_holds(expected: ExpectedVersion, current: Option<u64>) -> bool {
    match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => current.is_none(),
        ExpectedVersion::Exact(v) => current == Some(v.0),
    }
}

/// What a scan calls on each stored record, in order; it answers whether to go on.
pub type RecordVisitor<'a> = dyn FnMut(Position, &[u8]) -> Result<bool, StoreError> + 'a;

/// Where the bytes of a log are kept: what a backend does beneath the [`EventStore`]
/// handle. Reads are blocking and never go past `through` (the durable position the
/// handle passes); appends are answered through their request once durable and
/// published with [`Core::publish`].
pub trait LogBackend: Send + Sync + 'static {
    /// Queues an append for the writer (waits while its queue is full).
    fn append(&self, request: AppendRequest) -> BoxFuture<'static, Result<(), StoreError>>;
    /// Removes up to `max` observations recorded before `cutoff`, oldest first.
    fn retain(
        &self,
        cutoff: DateTime<Utc>,
        max: usize,
    ) -> BoxFuture<'static, Result<RetentionOutcome, StoreError>>;
    /// Calls `each` on the stored records after `after` through `through`, in order, until
    /// it returns `false` (blocking).
    fn for_each_record(
        &self,
        after: Position,
        through: Position,
        each: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError>;
    /// Up to `limit` records of `stream` from version `from` on, through `through` (blocking).
    fn stream_records(
        &self,
        stream: &StreamId,
        from: StreamVersion,
        limit: usize,
        through: Position,
    ) -> Result<Vec<(Position, Vec<u8>)>, StoreError>;
    /// The version of a stream's last event at or before `through` (blocking).
    fn stream_version(
        &self,
        stream: &StreamId,
        through: Position,
    ) -> Result<Option<StreamVersion>, StoreError>;
    /// Every stream with its last version, in id order (blocking).
    fn streams(&self) -> Result<Vec<(String, StreamVersion)>, StoreError>;
    /// Checks both hash chains over every retained event (blocking).
    fn verify(&self) -> Result<VerifyReport, StoreError>;
    /// The chain heads and retention anchor of everything written.
    fn chain_state(&self) -> Result<ChainState, StoreError>;
    /// Bytes the log takes on disk, where the backend can tell.
    fn size_on_disk(&self) -> u64;
    /// A projection's own key-value tree, kept on this node.
    fn projection_tree(&self, name: &str) -> Result<ProjectionTree, StoreError>;
    /// Drops a projection's tree: its projection rebuilds from the log.
    fn drop_projection_tree(&self, name: &str) -> Result<bool, StoreError>;
    /// Stops the writer after everything accepted is durable, and lets the storage go.
    fn close(&self) -> BoxFuture<'static, ()>;
    /// Membership and leases, where the log is shared by several nodes.
    fn membership(&self) -> Option<Arc<dyn Membership>> {
        None
    }
    /// Runs `f` with retention held off, where the backend can hold it (a backup's walk).
    fn without_retention(
        &self,
        f: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        f()
    }
}

/// The append-only log: cheap to clone, shared by everything that reads or writes events.
#[derive(Clone)]
pub struct EventStore {
    core: Arc<Core>,
    backend: Arc<dyn LogBackend>,
    /// Projection checkpoints live in files here: they can be large, and sled keeps
    /// every large value it was given in memory. `None` for a log opened without a data
    /// directory (a command-line reader of a shared log).
    checkpoint_dir: Option<std::path::PathBuf>,
    _data_dir: Option<Arc<DataDir>>,
    leases: Arc<LeaseBook>,
    /// The leased thing this handle appends for, if its appends are fenced.
    fence: Option<Arc<str>>,
    /// Its appends may wait a little for company before they are flushed.
    unhurried: bool,
}

impl EventStore {
    /// Opens (or creates) the sled log in a locked data directory and starts its writer.
    pub fn open(data_dir: DataDir, options: StoreOptions) -> Result<EventStore, StoreError> {
        let (core, backend) = super::sled_store::SledLog::open(&data_dir, options)?;
        Ok(EventStore::assemble(core, backend, Some(data_dir)))
    }

    /// Connects to the shared log in the PostgreSQL database at `url` (creating its tables
    /// on first use) and starts this node's writer and follower; projection checkpoints
    /// and trees stay in `data_dir`, which a command-line reader may go without.
    pub fn open_postgres(
        url: &str,
        data_dir: Option<DataDir>,
        options: StoreOptions,
    ) -> Result<EventStore, StoreError> {
        let (core, backend) = super::pg_store::PgLog::open(url, data_dir.as_ref(), options)?;
        Ok(EventStore::assemble(core, backend, data_dir))
    }

    /// Puts a handle together from an opened backend.
    pub(super) fn assemble(
        core: Arc<Core>,
        backend: Arc<dyn LogBackend>,
        data_dir: Option<DataDir>,
    ) -> EventStore {
        EventStore {
            core,
            backend,
            checkpoint_dir: data_dir.as_ref().map(|d| d.path().join("checkpoints")),
            _data_dir: data_dir.map(Arc::new),
            leases: Arc::new(LeaseBook::default()),
            fence: None,
            unhurried: false,
        }
    }

    /// Membership and leases, where the log is shared by several nodes (PostgreSQL).
    pub fn membership(&self) -> Option<Arc<dyn Membership>> {
        self.backend.membership()
    }

    /// The leases this node holds.
    pub fn leases(&self) -> &Arc<LeaseBook> {
        &self.leases
    }

    /// A handle whose appends are made under this node's lease on `resource`: refused at
    /// once if the node does not hold it, and by the log if another node has taken it.
    pub fn fenced_for(&self, resource: &str) -> EventStore {
        EventStore {
            fence: Some(resource.into()),
            ..self.clone()
        }
    }

    /// A handle whose appends nobody waits on (the monitors' recorded checks): still
    /// answered only once durable, but the log may hold them back up to
    /// [`UNHURRIED_FLUSH_DELAY`] so that one commit and one flush carry many of them.
    /// An append from any other handle ends the wait and takes them along with its own.
    pub fn unhurried(&self) -> EventStore {
        EventStore {
            unhurried: true,
            ..self.clone()
        }
    }

    /// Appends events to one stream, atomically, and answers once they are durable.
    pub async fn append(
        &self,
        stream: StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        if events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        let limit = self.core.options.max_append_events;
        if events.len() > limit {
            return Err(StoreError::AppendTooLarge {
                count: events.len(),
                limit,
            });
        }
        if let Some(reason) = self.core.failure() {
            return Err(StoreError::Unavailable(reason));
        }
        let fence = match &self.fence {
            None => None,
            Some(resource) => match self.leases.token(resource) {
                Some(token) => Some(Fence {
                    resource: resource.to_string(),
                    token,
                }),
                None => {
                    self.core.metrics.fenced.inc();
                    return Err(StoreError::Fenced {
                        resource: resource.to_string(),
                    });
                }
            },
        };
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            stream,
            expected,
            events,
            fence,
            reply,
            arrived: Instant::now(),
            unhurried: self.unhurried,
        };
        self.backend.append(request).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// The last position that is durable; reads never go past it.
    pub fn durable_position(&self) -> Position {
        self.core.durable()
    }

    /// Why the log is not writable, if it is not.
    pub fn failure(&self) -> Option<String> {
        self.core.failure()
    }

    /// Why the log, kept elsewhere, has not been reachable for at least `min`, if so.
    pub fn unreachable_for(&self, min: std::time::Duration) -> Option<String> {
        let trouble = self.core.trouble.lock().ok()?;
        let (since, reason) = trouble.as_ref()?;
        let lasted = since.elapsed();
        (lasted >= min).then(|| format!("{reason} (for {} s)", lasted.as_secs()))
    }

    /// The store's Prometheus figures.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.core.metrics
    }

    /// Bytes the log takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.backend.size_on_disk()
    }

    /// Calls `each` on up to `limit` stored records after `after`, in order, up to the durable position.
    fn scan(
        &self,
        after: Position,
        limit: usize,
        mut each: impl FnMut(Position, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut left = limit;
        if left == 0 {
            return Ok(());
        }
        let through = self.durable_position();
        if after >= through {
            return Ok(());
        }
        self.backend
            .for_each_record(after, through, &mut |position, record| {
                each(position, record)?;
                left -= 1;
                Ok(left > 0)
            })
    }

    /// Up to `limit` raw records after `after`, in order, up to the durable position (blocking).
    pub fn read_raw(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<(Position, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        self.scan(after, limit, |position, bytes| {
            out.push((position, bytes.to_vec()));
            Ok(())
        })?;
        Ok(out)
    }

    /// Up to `limit` events after `after`, in order, up to the durable position (blocking).
    pub fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        self.scan(after, limit, |position, bytes| {
            out.push(decode(position, bytes)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// [`EventStore::read_all`] on a blocking thread, for async callers.
    pub async fn read_all_async(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_all(after, limit))
            .await
            .map_err(|e| StoreError::Storage(format!("read task failed: {e}")))?
    }

    /// Up to `limit` events of one stream from version `from` on, in order (blocking).
    pub fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.backend
            .stream_records(stream, from, limit, self.durable_position())?
            .iter()
            .map(|(position, bytes)| decode(*position, bytes))
            .collect()
    }

    /// The version of a stream's last durable event, or `None` if it has none (blocking).
    pub fn stream_version(&self, stream: &StreamId) -> Result<Option<StreamVersion>, StoreError> {
        self.backend.stream_version(stream, self.durable_position())
    }

    /// Every stream with its last version, in id order (blocking).
    pub fn streams(&self) -> Result<Vec<(String, StreamVersion)>, StoreError> {
        self.backend.streams()
    }

    /// Follows the log from after `after`: first what is on disk, then live, with no gap.
    pub fn subscribe(&self, after: Position) -> Subscription {
        Subscription::new(self.clone(), after)
    }

    pub(super) fn live_receiver(&self) -> broadcast::Receiver<SharedEvent> {
        self.core.live.subscribe()
    }

    /// Checks both hash chains over every retained event (blocking; appends carry on meanwhile).
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.backend.verify()
    }

    /// Walks a consistent prefix of the log for a backup, without stopping appends: `begin`
    /// gets the durable position at the start and the retention anchor the observation chain
    /// restarts after, then `each` every stored record up to that position, in order, with
    /// retention held off where the backend can hold it (blocking).
    pub fn export(
        &self,
        begin: &mut dyn FnMut(Position, ChainLink) -> Result<(), StoreError>,
        each: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.backend.without_retention(&mut || {
            let through = self.durable_position();
            let anchor = self.backend.chain_state()?.retention_anchor;
            begin(through, anchor)?;
            self.backend
                .for_each_record(Position::START, through, &mut *each)
        })
    }

    /// The chain heads and retention anchor of everything applied to the log.
    pub fn chain_state(&self) -> Result<ChainState, StoreError> {
        self.backend.chain_state()
    }

    /// Removes up to `max` observations recorded before `cutoff`, oldest first.
    pub async fn apply_retention(
        &self,
        cutoff: DateTime<Utc>,
        max: usize,
    ) -> Result<RetentionOutcome, StoreError> {
        self.backend.retain(cutoff, max).await
    }

    fn checkpoint_dir(&self) -> Result<&std::path::Path, StoreError> {
        self.checkpoint_dir.as_deref().ok_or_else(|| {
            StoreError::Storage("this log was opened without a data directory".to_owned())
        })
    }

    /// The saved state and position of a projection, if it has one (blocking).
    pub fn load_checkpoint(&self, name: &str) -> Result<Option<(Position, Vec<u8>)>, StoreError> {
        let Some(dir) = self.checkpoint_dir.as_deref() else {
            return Ok(None);
        };
        let path = dir.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(checkpoint_error(&path, e)),
        };
        let position = bytes.get(..8).and_then(|b| b.try_into().ok());
        Ok(position.map(|p| (Position(u64::from_be_bytes(p)), bytes[8..].to_vec())))
    }

    /// Saves a projection's state with the position it has applied, atomically: a crash
    /// leaves the old checkpoint or the new one (blocking).
    pub fn save_checkpoint(
        &self,
        name: &str,
        position: Position,
        state: &[u8],
    ) -> Result<(), StoreError> {
        self.save_checkpoint_with(name, |out| {
            out.write_all(state)?;
            Ok(position)
        })
        .map(|_| ())
    }

    /// Like [`EventStore::save_checkpoint`], with the state written by `write`, which
    /// returns the position that state has applied; nothing is held in memory whole.
    /// Returns that position.
    pub fn save_checkpoint_with(
        &self,
        name: &str,
        write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<Position>,
    ) -> Result<Position, StoreError> {
        use std::io::{Seek, Write};
        let dir = self.checkpoint_dir()?;
        std::fs::create_dir_all(dir).map_err(|e| checkpoint_error(dir, e))?;
        let path = dir.join(name);
        let partial = dir.join(format!("{name}.partial"));
        let save = || -> std::io::Result<Position> {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&partial)?);
            file.write_all(&Position::START.0.to_be_bytes())?;
            let position = write(&mut file)?;
            let mut file = file.into_inner().map_err(|e| e.into_error())?;
            file.seek(std::io::SeekFrom::Start(0))?;
            file.write_all(&position.0.to_be_bytes())?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)?;
            std::fs::File::open(dir)?.sync_all()?;
            Ok(position)
        };
        save().map_err(|e| checkpoint_error(&path, e))
    }

    /// A projection's own key-value tree, kept beside the checkpoints on this node.
    pub fn projection_tree(&self, name: &str) -> Result<ProjectionTree, StoreError> {
        self.backend.projection_tree(name)
    }

    /// Drops a projection's tree (blocking): its projection rebuilds from the log.
    pub fn drop_projection_tree(&self, name: &str) -> Result<bool, StoreError> {
        self.backend.drop_projection_tree(name)
    }

    /// Drops every projection checkpoint so projections rebuild from the log (blocking).
    pub fn drop_checkpoints(&self) -> Result<usize, StoreError> {
        let dir = self.checkpoint_dir()?;
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(checkpoint_error(dir, e)),
        };
        let mut dropped = 0;
        for entry in entries {
            let path = entry.map_err(|e| checkpoint_error(dir, e))?.path();
            std::fs::remove_file(&path).map_err(|e| checkpoint_error(&path, e))?;
            dropped += usize::from(path.extension().is_none());
        }
        Ok(dropped)
    }

    /// Stops the writer after it has made everything already accepted durable.
    pub async fn close(&self) {
        self.backend.close().await;
    }
}

/// Decodes the record stored at `position`.
fn decode(position: Position, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    codec::decode_record(bytes).map_err(|source| StoreError::Corrupt { position, source })
}

fn checkpoint_error(path: &std::path::Path, e: std::io::Error) -> StoreError {
    StoreError::Storage(format!("checkpoint {}: {e}", path.display()))
}
