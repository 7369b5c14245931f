//! The event store on sled: atomic appends with optimistic concurrency, group commit,
//! reads capped at what is durable, retention, projection checkpoints and verification.
//!
//! Trees: `log` (big-endian position → record), `index` (stream id, 0, big-endian
//! version → position), `heads` (stream id → last version and position), `meta` (next
//! position, chain state) and `checkpoints` (projection name → position and state).
//! One writer thread assigns positions and applies batches in a sled transaction across
//! the four log trees; a flusher thread calls sled's blocking `flush()` once for every
//! group of batches, then answers their callers and publishes their events in order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::{DateTime, Utc};
use prometheus::{Histogram, HistogramOpts, IntCounter, Registry};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::chain::{Chain, ChainLink, ChainState, ChainVerifier, VerifyReport};
use super::codec::{self, CodecError, Placement};
use super::datadir::DataDir;
use super::subscription::Subscription;
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

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> StoreError {
        StoreError::Storage(e.to_string())
    }
}

/// Tuning of the store; the defaults suit a server.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// sled's page cache, in bytes (sled's own default of 1 GB is far too large here).
    pub cache_capacity_bytes: u64,
    /// Most events the writer gathers into one commit.
    pub max_batch_events: usize,
    /// Most events in one append.
    pub max_append_events: usize,
    /// Pending appends the writer queue holds before callers wait.
    pub queue_capacity: usize,
    /// Live events held for subscribers; a subscriber further behind reads from disk.
    pub live_buffer: usize,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            cache_capacity_bytes: 128 * 1024 * 1024,
            max_batch_events: 8192,
            max_append_events: 1000,
            queue_capacity: 4096,
            live_buffer: 4096,
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
    /// Duration of each sled flush.
    pub flush_seconds: Histogram,
}

impl StoreMetrics {
    fn new() -> StoreMetrics {
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
        }
    }

    /// Adds the figures to a Prometheus registry.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.appended.clone()))?;
        registry.register(Box::new(self.append_seconds.clone()))?;
        registry.register(Box::new(self.commit_events.clone()))?;
        registry.register(Box::new(self.flush_seconds.clone()))?;
        Ok(())
    }
}

struct Trees {
    db: sled::Db,
    log: sled::Tree,
    index: sled::Tree,
    heads: sled::Tree,
    meta: sled::Tree,
    checkpoints: sled::Tree,
}

const META_NEXT: &[u8] = b"next_position";
const META_CHAIN: &[u8] = b"chain";

struct Shared {
    trees: Trees,
    options: StoreOptions,
    durable: AtomicU64,
    live: broadcast::Sender<SharedEvent>,
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
    metrics: StoreMetrics,
    /// Verification reads under it; retention only removes when it can take it at once.
    retention_gate: RwLock<()>,
    /// Held by the writer while it applies, so a reader can see the chain state and the log agree.
    apply_gate: Mutex<()>,
}

impl Shared {
    fn fail(&self, reason: String) {
        tracing::error!(%reason, "event log is no longer writable");
        self.failed.store(true, Ordering::SeqCst);
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(reason);
        }
    }

    fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::SeqCst) {
            return None;
        }
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

/// The append-only log: cheap to clone, shared by everything that reads or writes events.
#[derive(Clone)]
pub struct EventStore {
    shared: Arc<Shared>,
    to_writer: mpsc::Sender<WriterMsg>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _data_dir: Arc<DataDir>,
}

enum WriterMsg {
    Append(AppendRequest),
    Retain {
        cutoff: DateTime<Utc>,
        max: usize,
        reply: oneshot::Sender<Result<RetentionOutcome, StoreError>>,
    },
    Shutdown,
}

struct AppendRequest {
    stream: StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
    arrived: Instant,
}

struct Accepted {
    reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
    outcome: AppendOutcome,
    arrived: Instant,
}

struct FlushTicket {
    accepted: Vec<Accepted>,
    events: Vec<SharedEvent>,
    last_position: Position,
}

fn index_key(stream: &StreamId, version: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.as_str().len() + 9);
    key.extend_from_slice(stream.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

fn head_value(version: u64, position: u64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&version.to_be_bytes());
    v[8..].copy_from_slice(&position.to_be_bytes());
    v
}

fn read_u64(bytes: &[u8]) -> Option<u64> {
    bytes.get(..8)?.try_into().ok().map(u64::from_be_bytes)
}

impl EventStore {
    /// Opens (or creates) the log in a locked data directory and starts its writer.
    pub fn open(data_dir: DataDir, options: StoreOptions) -> Result<EventStore, StoreError> {
        let db = sled::Config::new()
            .path(data_dir.log_path())
            .cache_capacity(options.cache_capacity_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let trees = Trees {
            log: db.open_tree("log")?,
            index: db.open_tree("index")?,
            heads: db.open_tree("heads")?,
            meta: db.open_tree("meta")?,
            checkpoints: db.open_tree("checkpoints")?,
            db,
        };
        let next_position = match trees.meta.get(META_NEXT)? {
            Some(v) => read_u64(&v).unwrap_or(1),
            None => 1,
        };
        let chain: ChainState = match trees.meta.get(META_CHAIN)? {
            Some(v) => codec::decode_payload(&v).map_err(|source| StoreError::Corrupt {
                position: Position(next_position),
                source,
            })?,
            None => ChainState::default(),
        };
        let last_ts = match trees.log.last()? {
            Some((_, v)) => codec::decode_raw(&v)
                .map(|r| DateTime::from_timestamp_nanos(r.timestamp_nanos))
                .unwrap_or_default(),
            None => DateTime::<Utc>::default(),
        };
        let (live, _) = broadcast::channel(options.live_buffer.max(16));
        let shared = Arc::new(Shared {
            trees,
            durable: AtomicU64::new(next_position.saturating_sub(1)),
            live,
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
            metrics: StoreMetrics::new(),
            retention_gate: RwLock::new(()),
            apply_gate: Mutex::new(()),
            options,
        });
        let (to_writer, writer_rx) = mpsc::channel(shared.options.queue_capacity.max(1));
        let (to_flusher, flusher_rx) = std_mpsc::sync_channel::<FlushTicket>(64);
        let writer = Writer {
            shared: shared.clone(),
            next_position,
            chain,
            last_ts,
            to_flusher,
        };
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(f)
                .map_err(|e| StoreError::Storage(format!("cannot start {name} thread: {e}")))
        };
        let writer_thread = spawn("wf-log-writer", Box::new(move || writer.run(writer_rx)))?;
        let flusher_shared = shared.clone();
        let flusher_thread = spawn(
            "wf-log-flusher",
            Box::new(move || run_flusher(flusher_shared, flusher_rx)),
        )?;
        Ok(EventStore {
            shared,
            to_writer,
            threads: Arc::new(Mutex::new(vec![writer_thread, flusher_thread])),
            _data_dir: Arc::new(data_dir),
        })
    }

    /// Appends events to one stream, atomically, and answers once they are on disk.
    pub async fn append(
        &self,
        stream: StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        if events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        let limit = self.shared.options.max_append_events;
        if events.len() > limit {
            return Err(StoreError::AppendTooLarge {
                count: events.len(),
                limit,
            });
        }
        if let Some(reason) = self.shared.failure() {
            return Err(StoreError::Unavailable(reason));
        }
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            stream,
            expected,
            events,
            reply,
            arrived: Instant::now(),
        };
        self.to_writer
            .send(WriterMsg::Append(request))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// The last position that is on disk; reads never go past it.
    pub fn durable_position(&self) -> Position {
        Position(self.shared.durable.load(Ordering::Acquire))
    }

    /// Why the log is not writable, if it is not.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure()
    }

    /// The store's Prometheus figures.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.shared.metrics
    }

    /// Bytes the log takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.shared.trees.db.size_on_disk().unwrap_or(0)
    }

    /// Calls `each` on up to `limit` stored records after `after`, in order, up to the durable position.
    fn scan(
        &self,
        after: Position,
        limit: usize,
        mut each: impl FnMut(Position, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let durable = self.durable_position();
        if after >= durable {
            return Ok(());
        }
        let range = (after.0 + 1).to_be_bytes()..=durable.0.to_be_bytes();
        for item in self.shared.trees.log.range(range).take(limit) {
            let (k, v) = item?;
            each(Position(read_u64(&k).unwrap_or(0)), &v)?;
        }
        Ok(())
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
            out.push(
                codec::decode_record(bytes)
                    .map_err(|source| StoreError::Corrupt { position, source })?,
            );
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
        let durable = self.durable_position();
        let start = index_key(stream, from.0);
        let end = index_key(stream, u64::MAX);
        let mut out = Vec::new();
        for item in self.shared.trees.index.range(start..=end) {
            if out.len() >= limit {
                break;
            }
            let (_, pos) = item?;
            let position = Position(read_u64(&pos).unwrap_or(0));
            if position > durable {
                break;
            }
            if let Some(v) = self.shared.trees.log.get(position.0.to_be_bytes())? {
                out.push(
                    codec::decode_record(&v)
                        .map_err(|source| StoreError::Corrupt { position, source })?,
                );
            }
        }
        Ok(out)
    }

    /// The version of a stream's last durable event, or `None` if it has none (blocking).
    pub fn stream_version(&self, stream: &StreamId) -> Result<Option<StreamVersion>, StoreError> {
        let durable = self.durable_position();
        let Some(head) = self.shared.trees.heads.get(stream.as_str().as_bytes())? else {
            return Ok(None);
        };
        let (version, position) = (
            read_u64(&head).unwrap_or(0),
            read_u64(&head[8..]).unwrap_or(0),
        );
        if position <= durable.0 {
            return Ok(Some(StreamVersion(version)));
        }
        // The head is applied but not yet flushed: find the last durable version.
        let start = index_key(stream, 0);
        let end = index_key(stream, version);
        for item in self.shared.trees.index.range(start..=end).rev() {
            let (k, pos) = item?;
            if read_u64(&pos).unwrap_or(u64::MAX) <= durable.0 {
                return Ok(read_u64(&k[k.len() - 8..]).map(StreamVersion));
            }
        }
        Ok(None)
    }

    /// Every stream with its last version, in id order (blocking).
    pub fn streams(&self) -> Result<Vec<(String, StreamVersion)>, StoreError> {
        let mut out = Vec::new();
        for item in self.shared.trees.heads.iter() {
            let (k, v) = item?;
            out.push((
                String::from_utf8_lossy(&k).into_owned(),
                StreamVersion(read_u64(&v).unwrap_or(0)),
            ));
        }
        Ok(out)
    }

    /// Follows the log from after `after`: first what is on disk, then live, with no gap.
    pub fn subscribe(&self, after: Position) -> Subscription {
        Subscription::new(self.clone(), after)
    }

    pub(super) fn live_receiver(&self) -> broadcast::Receiver<SharedEvent> {
        self.shared.live.subscribe()
    }

    /// Checks both hash chains over every retained event (blocking; appends carry on meanwhile).
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let _no_retention = self
            .shared
            .retention_gate
            .read()
            .map_err(|_| StoreError::Storage("retention gate poisoned".to_owned()))?;
        let (state, last) = {
            let _no_apply = self
                .shared
                .apply_gate
                .lock()
                .map_err(|_| StoreError::Storage("apply gate poisoned".to_owned()))?;
            let state = self.chain_state()?;
            let last = self
                .shared
                .trees
                .log
                .last()?
                .and_then(|(k, _)| read_u64(&k))
                .unwrap_or(0);
            (state, last)
        };
        let mut verifier = ChainVerifier::new(state);
        for item in self.shared.trees.log.range(..=last.to_be_bytes()) {
            let (k, v) = item?;
            if !verifier.check(Position(read_u64(&k).unwrap_or(0)), &v) {
                break;
            }
        }
        Ok(verifier.finish())
    }

    /// The chain heads and retention anchor recorded beside the log.
    pub fn chain_state(&self) -> Result<ChainState, StoreError> {
        match self.shared.trees.meta.get(META_CHAIN)? {
            Some(v) => codec::decode_payload(&v).map_err(|source| StoreError::Corrupt {
                position: Position::START,
                source,
            }),
            None => Ok(ChainState::default()),
        }
    }

    /// Removes up to `max` observations recorded before `cutoff`, oldest first.
    pub async fn apply_retention(
        &self,
        cutoff: DateTime<Utc>,
        max: usize,
    ) -> Result<RetentionOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.to_writer
            .send(WriterMsg::Retain { cutoff, max, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// The saved state and position of a projection, if it has one (blocking).
    pub fn load_checkpoint(&self, name: &str) -> Result<Option<(Position, Vec<u8>)>, StoreError> {
        Ok(self
            .shared
            .trees
            .checkpoints
            .get(name)?
            .and_then(|v| read_u64(&v).map(|p| (Position(p), v[8..].to_vec()))))
    }

    /// Saves a projection's state with the position it has applied, in one atomic write (blocking).
    pub fn save_checkpoint(
        &self,
        name: &str,
        position: Position,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let mut value = Vec::with_capacity(8 + state.len());
        value.extend_from_slice(&position.0.to_be_bytes());
        value.extend_from_slice(state);
        self.shared.trees.checkpoints.insert(name, value)?;
        Ok(())
    }

    /// Drops every projection checkpoint so projections rebuild from the log (blocking).
    pub fn drop_checkpoints(&self) -> Result<usize, StoreError> {
        let n = self.shared.trees.checkpoints.len();
        self.shared.trees.checkpoints.clear()?;
        self.shared.trees.db.flush()?;
        Ok(n)
    }

    /// Stops the writer after it has flushed everything already accepted.
    pub async fn close(&self) {
        let _ = self.to_writer.send(WriterMsg::Shutdown).await;
        let threads: Vec<JoinHandle<()>> = match self.threads.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        let db = self.shared.trees.db.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
            if let Err(e) = db.flush() {
                tracing::warn!(error = %e, "final flush of the log failed");
            }
        })
        .await;
    }
}

struct Writer {
    shared: Arc<Shared>,
    next_position: u64,
    chain: ChainState,
    last_ts: DateTime<Utc>,
    to_flusher: std_mpsc::SyncSender<FlushTicket>,
}

/// One batch under construction: the writes and what the callers will be told.
#[derive(Default)]
struct Batch {
    log: Vec<(u64, Vec<u8>)>,
    index: Vec<(Vec<u8>, u64)>,
    heads: HashMap<StreamId, (u64, u64)>,
    accepted: Vec<Accepted>,
    events: Vec<SharedEvent>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<WriterMsg>) {
        while let Some(first) = rx.blocking_recv() {
            let mut msgs = vec![first];
            let mut events: usize = msgs.iter().map(msg_events).sum();
            while events < self.shared.options.max_batch_events {
                match rx.try_recv() {
                    Ok(m) => {
                        events += msg_events(&m);
                        msgs.push(m);
                    }
                    Err(_) => break,
                }
            }
            let mut batch = Batch::default();
            let mut stop = false;
            for msg in msgs {
                match msg {
                    WriterMsg::Append(req) => self.place(req, &mut batch),
                    WriterMsg::Retain { cutoff, max, reply } => {
                        self.commit(std::mem::take(&mut batch));
                        let _ = reply.send(self.retain(cutoff, max));
                    }
                    WriterMsg::Shutdown => stop = true,
                }
            }
            self.commit(batch);
            if stop {
                break;
            }
        }
        // Dropping the flusher's sender lets it finish the last tickets and exit.
    }

    fn current_version(&self, stream: &StreamId, batch: &Batch) -> Result<Option<u64>, StoreError> {
        if let Some((v, _)) = batch.heads.get(stream) {
            return Ok(Some(*v));
        }
        Ok(self
            .shared
            .trees
            .heads
            .get(stream.as_str().as_bytes())?
            .and_then(|v| read_u64(&v)))
    }

    fn place(&mut self, req: AppendRequest, batch: &mut Batch) {
        if let Some(reason) = self.shared.failure() {
            let _ = req.reply.send(Err(StoreError::Unavailable(reason)));
            return;
        }
        let current = match self.current_version(&req.stream, batch) {
            Ok(v) => v,
            Err(e) => {
                let _ = req.reply.send(Err(e));
                return;
            }
        };
        let ok = match req.expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current.is_none(),
            ExpectedVersion::Exact(v) => current == Some(v.0),
        };
        if !ok {
            let _ = req.reply.send(Err(StoreError::Conflict {
                stream: req.stream,
                expected: req.expected,
                actual: current.map(StreamVersion),
            }));
            return;
        }
        let now = Utc::now().max(self.last_ts);
        self.last_ts = now;
        let first_position = Position(self.next_position);
        let mut version = current.map_or(0, |v| v + 1);
        for new in req.events {
            let position = Position(self.next_position);
            let chain = new.event.chain();
            let link = self.chain.heads[chain.index()];
            let prev_in_chain = link.position;
            let (record, hash) = codec::encode_record(
                &Placement {
                    position,
                    stream: &req.stream,
                    version: StreamVersion(version),
                    timestamp: now,
                    prev_in_chain,
                    prev_hash: &link.hash,
                },
                &new,
            );
            self.chain.heads[chain.index()] = ChainLink {
                position: Some(position),
                hash,
            };
            batch.events.push(Arc::new(RecordedEvent {
                position,
                stream: req.stream.clone(),
                version: StreamVersion(version),
                schema_version: new.event.schema_version(),
                timestamp: now,
                actor: new.actor,
                correlation_id: new.correlation_id,
                causation: new.causation,
                chain,
                prev_in_chain,
                event: new.event,
                hash,
            }));
            batch.log.push((position.0, record));
            batch
                .index
                .push((index_key(&req.stream, version), position.0));
            version += 1;
            self.next_position += 1;
        }
        let last_version = version - 1;
        let last_position = Position(self.next_position - 1);
        batch
            .heads
            .insert(req.stream, (last_version, last_position.0));
        batch.accepted.push(Accepted {
            reply: req.reply,
            outcome: AppendOutcome {
                first_position,
                last_position,
                stream_version: StreamVersion(last_version),
            },
            arrived: req.arrived,
        });
    }

    fn commit(&mut self, batch: Batch) {
        if batch.accepted.is_empty() {
            return;
        }
        let t = &self.shared.trees;
        let chain_bytes = codec::encode_payload(&self.chain);
        let next = self.next_position.to_be_bytes();
        let result = {
            let _gate = self.shared.apply_gate.lock();
            (&t.log, &t.index, &t.heads, &t.meta).transaction(|(log, index, heads, meta)| {
                for (pos, record) in &batch.log {
                    log.insert(&pos.to_be_bytes(), record.as_slice())?;
                }
                for (key, pos) in &batch.index {
                    index.insert(key.as_slice(), &pos.to_be_bytes())?;
                }
                for (stream, (version, pos)) in &batch.heads {
                    heads.insert(stream.as_str().as_bytes(), &head_value(*version, *pos))?;
                }
                meta.insert(META_NEXT, &next)?;
                meta.insert(META_CHAIN, chain_bytes.as_slice())?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
        };
        if let Err(e) = result {
            let reason = match e {
                TransactionError::Storage(e) => e.to_string(),
                TransactionError::Abort(()) => "transaction aborted".to_owned(),
            };
            self.shared.fail(reason.clone());
            for a in batch.accepted {
                let _ = a.reply.send(Err(StoreError::Unavailable(reason.clone())));
            }
            return;
        }
        let last_position = batch
            .accepted
            .last()
            .map_or(Position::START, |a| a.outcome.last_position);
        let ticket = FlushTicket {
            accepted: batch.accepted,
            events: batch.events,
            last_position,
        };
        if let Err(std_mpsc::SendError(ticket)) = self.to_flusher.send(ticket) {
            for a in ticket.accepted {
                let _ = a.reply.send(Err(StoreError::Closed));
            }
        }
    }

    fn retain(
        &mut self,
        cutoff: DateTime<Utc>,
        max: usize,
    ) -> Result<RetentionOutcome, StoreError> {
        let shared = self.shared.clone();
        let Ok(_gate) = shared.retention_gate.try_write() else {
            return Ok(RetentionOutcome {
                deferred: true,
                more: true,
                ..RetentionOutcome::default()
            });
        };
        let t = &self.shared.trees;
        let cutoff_nanos = cutoff.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let start = self.chain.retention_anchor.position.map_or(1, |p| p.0 + 1);
        let durable = self.shared.durable.load(Ordering::Acquire);
        let mut doomed: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut anchor = self.chain.retention_anchor;
        let mut more = false;
        for item in t.log.range(start.to_be_bytes()..=durable.to_be_bytes()) {
            let (k, v) = item?;
            let position = Position(read_u64(&k).unwrap_or(0));
            let raw =
                codec::decode_raw(&v).map_err(|source| StoreError::Corrupt { position, source })?;
            // Timestamps never go backwards, so the first young event ends the expired prefix.
            if raw.timestamp_nanos >= cutoff_nanos {
                break;
            }
            if raw.chain != Chain::Observations {
                continue;
            }
            if doomed.len() >= max {
                more = true;
                break;
            }
            let stream = StreamId::new(raw.stream()).map_err(|e| StoreError::Corrupt {
                position,
                source: CodecError::InvalidField {
                    field: "stream",
                    detail: e.to_string(),
                },
            })?;
            doomed.push((position.0, index_key(&stream, raw.version().0)));
            anchor = ChainLink {
                position: Some(position),
                hash: raw.hash,
            };
        }
        if doomed.is_empty() {
            return Ok(RetentionOutcome::default());
        }
        let mut chain = self.chain.clone();
        chain.retention_anchor = anchor;
        let chain_bytes = codec::encode_payload(&chain);
        {
            let _gate = self.shared.apply_gate.lock();
            (&t.log, &t.index, &t.meta)
                .transaction(|(log, index, meta)| {
                    for (pos, key) in &doomed {
                        log.remove(&pos.to_be_bytes())?;
                        index.remove(key.as_slice())?;
                    }
                    meta.insert(META_CHAIN, chain_bytes.as_slice())?;
                    Ok::<(), ConflictableTransactionError<()>>(())
                })
                .map_err(|e| match e {
                    TransactionError::Storage(e) => StoreError::from(e),
                    TransactionError::Abort(()) => {
                        StoreError::Storage("retention aborted".to_owned())
                    }
                })?;
        }
        self.shared.trees.db.flush()?;
        self.chain = chain;
        Ok(RetentionOutcome {
            removed: doomed.len() as u64,
            through: anchor.position,
            more,
            deferred: false,
        })
    }
}

fn msg_events(msg: &WriterMsg) -> usize {
    match msg {
        WriterMsg::Append(r) => r.events.len(),
        _ => 1,
    }
}

fn run_flusher(shared: Arc<Shared>, rx: std_mpsc::Receiver<FlushTicket>) {
    while let Ok(first) = rx.recv() {
        let mut tickets = vec![first];
        while let Ok(t) = rx.try_recv() {
            tickets.push(t);
        }
        let started = Instant::now();
        let flushed = shared.trees.db.flush();
        shared
            .metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = flushed {
            let reason = format!("flush failed: {e}");
            shared.fail(reason.clone());
            for t in tickets {
                for a in t.accepted {
                    let _ = a.reply.send(Err(StoreError::Unavailable(reason.clone())));
                }
            }
            continue;
        }
        let mut count = 0u64;
        for t in tickets {
            shared.durable.store(t.last_position.0, Ordering::Release);
            count += t.events.len() as u64;
            for e in t.events {
                // No receivers is normal; a lagging receiver falls back to disk by itself.
                let _ = shared.live.send(e);
            }
            for a in t.accepted {
                shared
                    .metrics
                    .append_seconds
                    .observe(a.arrived.elapsed().as_secs_f64());
                let _ = a.reply.send(Ok(a.outcome));
            }
        }
        shared.metrics.appended.inc_by(count);
        shared.metrics.commit_events.observe(count as f64);
    }
}
