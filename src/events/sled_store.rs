//! The embedded log backend on sled: atomic appends with optimistic concurrency, group
//! commit, reads capped at what is durable, retention and verification.
//!
//! Trees:
//! - `log`: one value per commit, a block (see [`codec::BlockBuilder`]) keyed by the
//!   big-endian position of its first record. sled costs about the same per key whatever
//!   the value's size, so one key per commit instead of one per event is what makes
//!   durable appends and replays fast.
//! - `index`: the stream index, written in bulk about once a second rather than on every
//!   commit: `r` + stream id + 0 + big-endian first version → runs of (version, position);
//!   `h` + stream id → last version and position; `m` → the position the index covers,
//!   the next position and the chain state. On open, the blocks after that position are
//!   read back into memory, so a crash loses nothing the log holds.
//!
//! One writer thread assigns positions, builds the block and inserts it; a flusher thread
//! calls sled's blocking `flush()` once for every group of blocks, then answers their
//! callers and publishes their events in order.

use std::collections::HashMap;
use std::sync::{mpsc as std_mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use tokio::sync::{mpsc, oneshot};

use super::chain::{Chain, ChainLink, ChainState, ChainVerifier, VerifyReport};
use super::codec::{self, BlockBuilder, CodecError};
use super::datadir::DataDir;
use super::store::{
    ask_retention, encode_append, expected_holds, queue, Accepted, AppendRequest, Core, LogBackend,
    RecordVisitor, RetentionOutcome, StoreError, StoreOptions, UNHURRIED_FLUSH_DELAY,
};
use super::tree::ProjectionTree;
use super::types::{AppendOutcome, Position, SharedEvent, StreamId, StreamVersion};

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> StoreError {
        StoreError::Storage(e.to_string())
    }
}

struct Trees {
    db: sled::Db,
    log: sled::Tree,
    index: sled::Tree,
}

impl Trees {
    /// Opens (or creates) the sled database of `data_dir` and its two trees.
    fn open(data_dir: &DataDir, cache_capacity_bytes: u64) -> Result<Trees, StoreError> {
        let db = sled::Config::new()
            .path(data_dir.log_path())
            .cache_capacity(cache_capacity_bytes)
            .mode(sled::Mode::HighThroughput)
            // Every commit is flushed by the store itself; sled's own periodic flusher
            // thread would only hold the database (and its file lock) after close.
            .flush_every_ms(None)
            .open()?;
        Ok(Trees {
            log: db.open_tree("log")?,
            index: db.open_tree("index")?,
            db,
        })
    }
}

/// The index key of the position covered, the next position and the chain state.
const META_KEY: &[u8] = b"m";
/// Prefix of a stream's last version and position in the index tree.
const HEAD_PREFIX: u8 = b'h';
/// Prefix of a run of a stream's (version, position) pairs in the index tree.
const RUN_PREFIX: u8 = b'r';
/// A block stops taking appends once it holds this many bytes (one append stays whole).
const BLOCK_TARGET_BYTES: usize = 512 * 1024;
/// The in-memory part of the stream index is written out at least this often...
const INDEX_EVERY: Duration = Duration::from_secs(1);
/// ...or once it holds this many events.
const INDEX_EVERY_EVENTS: usize = 65_536;
/// Longest the flusher waits for more commits before it flushes.
const MAX_COMMIT_DELAY: Duration = Duration::from_micros(500);
/// A flusher idle this long expects no one back from its last flush.
const IDLE_RESET: Duration = Duration::from_millis(5);

/// What the writer has applied to the log: read together so verification sees a consistent log.
struct Applied {
    chain: ChainState,
    last: Position,
}

/// Stream heads and the part of the stream index not yet written to the `index` tree.
#[derive(Default)]
struct StreamIndex {
    /// Every stream's last applied version and its position.
    heads: HashMap<StreamId, (u64, u64)>,
    /// (version, position) pairs applied since the last index write, per stream.
    pending: HashMap<StreamId, Vec<(u64, u64)>>,
    pending_events: usize,
}

impl StreamIndex {
    fn add(&mut self, stream: &StreamId, version: u64, position: u64) {
        match self.pending.get_mut(stream) {
            Some(run) => run.push((version, position)),
            None => {
                self.pending
                    .insert(stream.clone(), vec![(version, position)]);
            }
        }
        self.pending_events += 1;
        match self.heads.get_mut(stream) {
            Some(head) => *head = (version, position),
            None => {
                self.heads.insert(stream.clone(), (version, position));
            }
        }
    }
}

struct Shared {
    trees: Trees,
    core: Arc<Core>,
    /// Verification reads under it; retention only removes when it can take it at once.
    retention_gate: RwLock<()>,
    /// Held by the writer while it inserts a block, so a reader sees the chain state and the log agree.
    applied: Mutex<Applied>,
    streams: RwLock<StreamIndex>,
}

impl Shared {
    fn fail(&self, reason: String) {
        self.core.fail(reason);
    }

    fn failure(&self) -> Option<String> {
        self.core.failure()
    }

    fn streams(&self) -> Result<std::sync::RwLockReadGuard<'_, StreamIndex>, StoreError> {
        self.streams
            .read()
            .map_err(|_| StoreError::Storage("stream index lock poisoned".to_owned()))
    }

    fn streams_mut(&self) -> Result<std::sync::RwLockWriteGuard<'_, StreamIndex>, StoreError> {
        self.streams
            .write()
            .map_err(|_| StoreError::Storage("stream index lock poisoned".to_owned()))
    }

    fn applied(&self) -> Result<std::sync::MutexGuard<'_, Applied>, StoreError> {
        self.applied
            .lock()
            .map_err(|_| StoreError::Storage("apply gate poisoned".to_owned()))
    }

    /// The key of the block that holds `position`, if one could (the last block starting at or before it).
    fn block_key_for(&self, position: Position) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self
            .trees
            .log
            .range(..=position.0.to_be_bytes())
            .next_back()
            .transpose()?
            .map(|(k, _)| k))
    }

    /// Calls `each` on every stored record after `after` up to `through`, in order.
    /// `each` returns whether to go on.
    fn for_each_record(
        &self,
        after: Position,
        through: Position,
        mut each: impl FnMut(Position, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        if after >= through {
            return Ok(());
        }
        let start = self
            .block_key_for(after.next())?
            .map_or(0, |k| read_u64(&k).unwrap_or(0));
        for item in self
            .trees
            .log
            .range(start.to_be_bytes()..=through.0.to_be_bytes())
        {
            let (key, block) = item?;
            let key = Position(read_u64(&key).unwrap_or(0));
            let entries = codec::block_entries(&block).map_err(|source| StoreError::Corrupt {
                position: key,
                source,
            })?;
            for entry in entries {
                let (position, record) = entry.map_err(|source| StoreError::Corrupt {
                    position: key,
                    source,
                })?;
                if position <= after {
                    continue;
                }
                if position > through || !each(position, record)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The stored record at `position`, if it is there.
    fn record_at(
        &self,
        position: Position,
        cache: &mut Option<sled::IVec>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let find = |block: &sled::IVec| -> Option<Vec<u8>> {
            codec::block_entries(block).ok()?.find_map(|e| match e {
                Ok((p, record)) if p == position => Some(record.to_vec()),
                _ => None,
            })
        };
        if let Some(found) = cache.as_ref().and_then(find) {
            return Ok(Some(found));
        }
        let Some(key) = self.block_key_for(position)? else {
            return Ok(None);
        };
        let block = self.trees.log.get(key)?;
        let found = block.as_ref().and_then(find);
        *cache = block;
        Ok(found)
    }

    /// A stream's durable (version, position) pairs from version `from` on, oldest first.
    fn stream_entries(
        &self,
        stream: &StreamId,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, u64)>, StoreError> {
        let durable = self.core.durable().0;
        let index = self.streams()?;
        let mut out = Vec::new();
        let end = run_key(stream, u64::MAX);
        let first_run = self
            .trees
            .index
            .range(run_key(stream, 0)..=run_key(stream, from))
            .next_back()
            .transpose()?
            .map_or_else(|| run_key(stream, from), |(k, _)| k.to_vec());
        'runs: for item in self.trees.index.range(first_run..=end) {
            let (_, run) = item?;
            for (version, position) in decode_run(&run) {
                if out.len() >= limit || position > durable {
                    break 'runs;
                }
                if version >= from {
                    out.push((version, position));
                }
            }
        }
        if let Some(pending) = index.pending.get(stream) {
            for &(version, position) in pending {
                if out.len() >= limit || position > durable {
                    break;
                }
                if version >= from {
                    out.push((version, position));
                }
            }
        }
        Ok(out)
    }

    /// A stream's last (version, position) at or before `through`, looking back from its head.
    fn last_entry_through(
        &self,
        stream: &StreamId,
        through: u64,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let index = self.streams()?;
        if let Some(pending) = index.pending.get(stream) {
            if let Some(&e) = pending.iter().rev().find(|(_, p)| *p <= through) {
                return Ok(Some(e));
            }
        }
        for item in self
            .trees
            .index
            .range(run_key(stream, 0)..=run_key(stream, u64::MAX))
            .rev()
        {
            let (_, run) = item?;
            let found = decode_run(&run).rev().find(|(_, p)| *p <= through);
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }
}

/// The log in sled: a writer thread and a flusher thread behind a bounded queue.
pub struct SledLog {
    shared: Arc<Shared>,
    to_writer: mpsc::Sender<WriterMsg>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
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

struct FlushTicket {
    accepted: Vec<Accepted>,
    events: Vec<SharedEvent>,
    last_position: Position,
}

fn run_key(stream: &StreamId, version: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.as_str().len() + 10);
    key.push(RUN_PREFIX);
    key.extend_from_slice(stream.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

fn head_key(stream: &StreamId) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.as_str().len() + 1);
    key.push(HEAD_PREFIX);
    key.extend_from_slice(stream.as_str().as_bytes());
    key
}

fn pair_value(a: u64, b: u64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&a.to_be_bytes());
    v[8..].copy_from_slice(&b.to_be_bytes());
    v
}

fn encode_run(entries: &[(u64, u64)]) -> Vec<u8> {
    entries
        .iter()
        .flat_map(|&(v, p)| pair_value(v, p))
        .collect()
}

fn decode_run(bytes: &[u8]) -> impl DoubleEndedIterator<Item = (u64, u64)> + '_ {
    bytes
        .chunks_exact(16)
        .filter_map(|c| Some((read_u64(c)?, read_u64(&c[8..])?)))
}

fn read_u64(bytes: &[u8]) -> Option<u64> {
    bytes.get(..8)?.try_into().ok().map(u64::from_be_bytes)
}

/// The `m` value of the index tree: what the index covers, the next position, the chain state.
struct IndexMeta {
    through: u64,
    next: u64,
    chain: ChainState,
}

impl IndexMeta {
    fn encode(&self) -> Vec<u8> {
        let mut v = pair_value(self.through, self.next).to_vec();
        v.extend_from_slice(&codec::encode_payload(&self.chain));
        v
    }

    fn decode(bytes: &[u8]) -> Result<IndexMeta, CodecError> {
        let (Some(through), Some(next)) = (read_u64(bytes), bytes.get(8..).and_then(read_u64))
        else {
            return Err(CodecError::Truncated(bytes.len()));
        };
        Ok(IndexMeta {
            through,
            next,
            chain: codec::decode_payload(&bytes[16..])?,
        })
    }
}

/// A key and its new value; `None` removes the key.
type Rewrite = (Vec<u8>, Option<Vec<u8>>);

/// What opening found: where the writer goes on from.
struct Recovered {
    next_position: u64,
    chain: ChainState,
    last_ts: DateTime<Utc>,
    streams: StreamIndex,
}

/// Loads the stream index and reads the blocks it does not cover yet back into memory.
fn recover(trees: &Trees) -> Result<Recovered, StoreError> {
    let meta = match trees.index.get(META_KEY)? {
        Some(v) => IndexMeta::decode(&v).map_err(|source| StoreError::Corrupt {
            position: Position::START,
            source,
        })?,
        None => IndexMeta {
            through: 0,
            next: 1,
            chain: ChainState::default(),
        },
    };
    let mut streams = StreamIndex::default();
    for item in trees.index.scan_prefix([HEAD_PREFIX]) {
        let (k, v) = item?;
        let stream = String::from_utf8_lossy(&k[1..]).into_owned();
        let (Ok(stream), Some(version), Some(position)) = (
            StreamId::new(stream),
            read_u64(&v),
            v.get(8..).and_then(read_u64),
        ) else {
            tracing::warn!(key = ?k, "skipping an unreadable stream head");
            continue;
        };
        streams.heads.insert(stream, (version, position));
    }
    let mut chain = meta.chain;
    let mut last = Position(meta.through);
    let mut last_ts = None;
    let start = trees
        .log
        .range(..=(meta.through + 1).to_be_bytes())
        .next_back()
        .transpose()?
        .map_or(0, |(k, _)| read_u64(&k).unwrap_or(0));
    for item in trees.log.range(start.to_be_bytes()..) {
        let (key, block) = item?;
        let Ok(entries) = codec::block_entries(&block) else {
            tracing::warn!(key = ?key, "unreadable block; verify will report it");
            continue;
        };
        for (position, record) in entries.flatten() {
            if position.0 <= meta.through {
                continue;
            }
            let Ok(raw) = codec::decode_raw(record) else {
                tracing::warn!(%position, "undecodable record; verify will report it");
                continue;
            };
            match StreamId::new(raw.stream()) {
                Ok(stream) => streams.add(&stream, raw.version().0, position.0),
                Err(e) => tracing::warn!(%position, error = %e, "record with a bad stream id"),
            }
            chain.heads[raw.chain.index()] = ChainLink {
                position: Some(position),
                hash: raw.hash,
            };
            last = last.max(position);
            last_ts = Some(DateTime::from_timestamp_nanos(raw.timestamp_nanos));
        }
    }
    let last_ts = match last_ts {
        Some(ts) => ts,
        None => last_timestamp(trees)?,
    };
    Ok(Recovered {
        next_position: meta.next.max(last.0 + 1),
        chain,
        last_ts,
        streams,
    })
}

/// The timestamp of the last stored record (the epoch for an empty log).
fn last_timestamp(trees: &Trees) -> Result<DateTime<Utc>, StoreError> {
    let Some((_, block)) = trees.log.last()? else {
        return Ok(DateTime::<Utc>::default());
    };
    let last = codec::block_entries(&block)
        .ok()
        .and_then(|entries| entries.flatten().last())
        .and_then(|(_, record)| codec::decode_raw(record).ok())
        .map(|raw| DateTime::from_timestamp_nanos(raw.timestamp_nanos));
    Ok(last.unwrap_or_default())
}

impl SledLog {
    /// Opens (or creates) the log in a locked data directory and starts its writer.
    pub fn open(
        data_dir: &DataDir,
        options: StoreOptions,
    ) -> Result<(Arc<Core>, Arc<dyn LogBackend>), StoreError> {
        let trees = Trees::open(data_dir, options.cache_capacity_bytes)?;
        let recovered = recover(&trees)?;
        let next_position = recovered.next_position;
        let core = Arc::new(Core::new(options, Position(next_position - 1)));
        let shared = Arc::new(Shared {
            trees,
            core: core.clone(),
            retention_gate: RwLock::new(()),
            applied: Mutex::new(Applied {
                chain: recovered.chain.clone(),
                last: Position(next_position - 1),
            }),
            streams: RwLock::new(recovered.streams),
        });
        let (to_writer, writer_rx) = mpsc::channel(core.options.queue_capacity.max(1));
        let (to_flusher, flusher_rx) = std_mpsc::sync_channel::<FlushTicket>(64);
        let writer = Writer {
            shared: shared.clone(),
            next_position,
            chain: recovered.chain,
            last_ts: recovered.last_ts,
            to_flusher,
            index_written: Instant::now(),
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
        let log = SledLog {
            shared,
            to_writer,
            threads: Arc::new(Mutex::new(vec![writer_thread, flusher_thread])),
        };
        Ok((core, Arc::new(log)))
    }
}

impl LogBackend for SledLog {
    fn append(&self, request: AppendRequest) -> BoxFuture<'static, Result<(), StoreError>> {
        queue(&self.to_writer, WriterMsg::Append(request))
    }

    fn retain(
        &self,
        cutoff: DateTime<Utc>,
        max: usize,
    ) -> BoxFuture<'static, Result<RetentionOutcome, StoreError>> {
        ask_retention(&self.to_writer, |reply| WriterMsg::Retain {
            cutoff,
            max,
            reply,
        })
    }

    fn for_each_record(
        &self,
        after: Position,
        through: Position,
        each: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.shared.for_each_record(after, through, each)
    }

    fn stream_records(
        &self,
        stream: &StreamId,
        from: StreamVersion,
        limit: usize,
        _through: Position,
    ) -> Result<Vec<(Position, Vec<u8>)>, StoreError> {
        let entries = self.shared.stream_entries(stream, from.0, limit)?;
        let mut cache = None;
        let mut out = Vec::with_capacity(entries.len());
        for (_, position) in entries {
            let position = Position(position);
            // A record removed by retention since the index was read is simply not returned.
            if let Some(record) = self.shared.record_at(position, &mut cache)? {
                out.push((position, record));
            }
        }
        Ok(out)
    }

    fn stream_version(
        &self,
        stream: &StreamId,
        through: Position,
    ) -> Result<Option<StreamVersion>, StoreError> {
        let head = self.shared.streams()?.heads.get(stream).copied();
        match head {
            None => Ok(None),
            Some((version, position)) if position <= through.0 => Ok(Some(StreamVersion(version))),
            // The head is applied but not yet flushed: find the last durable version.
            Some(_) => Ok(self
                .shared
                .last_entry_through(stream, through.0)?
                .map(|(version, _)| StreamVersion(version))),
        }
    }

    fn streams(&self) -> Result<Vec<(String, StreamVersion)>, StoreError> {
        let mut out: Vec<(String, StreamVersion)> = self
            .shared
            .streams()?
            .heads
            .iter()
            .map(|(s, (v, _))| (s.as_str().to_owned(), StreamVersion(*v)))
            .collect();
        out.sort();
        Ok(out)
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        let _no_retention = self
            .shared
            .retention_gate
            .read()
            .map_err(|_| StoreError::Storage("retention gate poisoned".to_owned()))?;
        let (state, last) = {
            let applied = self.shared.applied()?;
            (applied.chain.clone(), applied.last)
        };
        let mut verifier = ChainVerifier::new(state);
        'blocks: for item in self.shared.trees.log.range(..=last.0.to_be_bytes()) {
            let (key, block) = item?;
            let key = Position(read_u64(&key).unwrap_or(0));
            let entries = match codec::block_entries(&block) {
                Ok(entries) => entries,
                Err(e) => {
                    verifier.unreadable(key, format!("unreadable block: {e}"));
                    break;
                }
            };
            for entry in entries {
                match entry {
                    Ok((position, _)) if position > last => break 'blocks,
                    Ok((position, record)) => {
                        if !verifier.check(position, record) {
                            break 'blocks;
                        }
                    }
                    Err(e) => {
                        verifier.unreadable(key, format!("block cut short: {e}"));
                        break 'blocks;
                    }
                }
            }
        }
        Ok(verifier.finish())
    }

    fn chain_state(&self) -> Result<ChainState, StoreError> {
        Ok(self.shared.applied()?.chain.clone())
    }

    fn without_retention(
        &self,
        f: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let _no_retention = self
            .shared
            .retention_gate
            .read()
            .map_err(|_| StoreError::Storage("retention gate poisoned".to_owned()))?;
        f()
    }

    fn size_on_disk(&self) -> u64 {
        self.shared.trees.db.size_on_disk().unwrap_or(0)
    }

    fn projection_tree(&self, name: &str) -> Result<ProjectionTree, StoreError> {
        Ok(ProjectionTree::new(
            self.shared
                .trees
                .db
                .open_tree(format!("projection:{name}"))?,
        ))
    }

    fn drop_projection_tree(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .shared
            .trees
            .db
            .drop_tree(format!("projection:{name}"))?)
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let to_writer = self.to_writer.clone();
        let threads: Vec<JoinHandle<()>> = match self.threads.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        let db = self.shared.trees.db.clone();
        Box::pin(async move {
            let _ = to_writer.send(WriterMsg::Shutdown).await;
            let _ = tokio::task::spawn_blocking(move || {
                for t in threads {
                    let _ = t.join();
                }
                if let Err(e) = db.flush() {
                    tracing::warn!(error = %e, "final flush of the log failed");
                }
            })
            .await;
        })
    }
}

struct Writer {
    shared: Arc<Shared>,
    next_position: u64,
    chain: ChainState,
    last_ts: DateTime<Utc>,
    to_flusher: std_mpsc::SyncSender<FlushTicket>,
    index_written: Instant,
}

/// One commit under construction: its blocks and what the callers will be told.
#[derive(Default)]
struct Batch {
    blocks: Vec<BlockBuilder>,
    heads: HashMap<StreamId, u64>,
    accepted: Vec<Accepted>,
    events: Vec<SharedEvent>,
}

impl Batch {
    /// The index of the block the next append goes into: a new one once the current one is full.
    fn block(&mut self) -> usize {
        if self
            .blocks
            .last()
            .is_none_or(|b| b.len() >= BLOCK_TARGET_BYTES)
        {
            self.blocks.push(BlockBuilder::default());
        }
        self.blocks.len() - 1
    }
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<WriterMsg>) {
        // Only for waiting on the queue with a deadline; without it nothing waits.
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok();
        let max_events = self.shared.core.options.max_batch_events;
        while let Some(first) = rx.blocking_recv() {
            let received = tokio::time::Instant::now();
            let mut unhurried = is_unhurried(&first);
            let mut msgs = vec![first];
            let mut events: usize = msgs.iter().map(msg_events).sum();
            while events < max_events {
                match rx.try_recv() {
                    Ok(m) => {
                        unhurried &= is_unhurried(&m);
                        events += msg_events(&m);
                        msgs.push(m);
                    }
                    Err(_) => break,
                }
            }
            // Appends nobody waits on (recorded checks) wait a little for company: a commit
            // and its flush cost about the same for one event as for hundreds. Anything
            // else ends the wait and takes them along.
            if let Some(timer) = timer.as_ref().filter(|_| unhurried) {
                let deadline = received + UNHURRIED_FLUSH_DELAY;
                while unhurried && events < max_events {
                    // The timeout is made inside the runtime, whose timer it needs.
                    let next = timer
                        .block_on(async { tokio::time::timeout_at(deadline, rx.recv()).await });
                    match next {
                        Ok(Some(m)) => {
                            unhurried &= is_unhurried(&m);
                            events += msg_events(&m);
                            msgs.push(m);
                        }
                        // The deadline passed, or the queue closed (the next receive says so).
                        _ => break,
                    }
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
                self.write_index();
                break;
            }
            if self.index_written.elapsed() >= INDEX_EVERY
                || self
                    .shared
                    .streams()
                    .is_ok_and(|s| s.pending_events >= INDEX_EVERY_EVENTS)
            {
                self.write_index();
            }
        }
        // Dropping the flusher's sender lets it finish the last tickets and exit.
    }

    fn current_version(&self, stream: &StreamId, batch: &Batch) -> Result<Option<u64>, StoreError> {
        if let Some(v) = batch.heads.get(stream) {
            return Ok(Some(*v));
        }
        Ok(self.shared.streams()?.heads.get(stream).map(|(v, _)| *v))
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
        if !expected_holds(req.expected, current) {
            let _ = req.reply.send(Err(StoreError::Conflict {
                stream: req.stream,
                expected: req.expected,
                actual: current.map(StreamVersion),
            }));
            return;
        }
        let now = self.shared.core.options.clock.now().max(self.last_ts);
        self.last_ts = now;
        let first_position = Position(self.next_position);
        let first_version = current.map_or(0, |v| v + 1);
        let block = batch.block();
        let encoded = encode_append(
            &req.stream,
            req.events,
            first_position,
            first_version,
            now,
            &mut self.chain,
        );
        let version = first_version + encoded.len() as u64;
        self.next_position += encoded.len() as u64;
        for (record, event) in encoded {
            batch.blocks[block].push(event.position, &record);
            batch.events.push(event);
        }
        let last_version = version - 1;
        let last_position = Position(self.next_position - 1);
        batch.heads.insert(req.stream, last_version);
        batch.accepted.push(Accepted {
            reply: req.reply,
            outcome: AppendOutcome {
                first_position,
                last_position,
                stream_version: StreamVersion(last_version),
                timestamp: now,
            },
            arrived: req.arrived,
        });
    }

    /// Inserts the batch's blocks (one atomic sled write) and hands the batch to the flusher.
    fn commit(&mut self, batch: Batch) {
        if batch.accepted.is_empty() {
            return;
        }
        let last_position = Position(self.next_position - 1);
        let result = self.insert_blocks(batch.blocks, last_position);
        if let Err(e) = result {
            let reason = e.to_string();
            self.shared.fail(reason.clone());
            for a in batch.accepted {
                let _ = a.reply.send(Err(StoreError::Unavailable(reason.clone())));
            }
            return;
        }
        match self.shared.streams_mut() {
            Ok(mut index) => {
                for e in &batch.events {
                    index.add(&e.stream, e.version.0, e.position.0);
                }
            }
            Err(e) => self.shared.fail(e.to_string()),
        }
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

    fn insert_blocks(
        &self,
        blocks: Vec<BlockBuilder>,
        last_position: Position,
    ) -> Result<(), StoreError> {
        let mut applied = self.shared.applied()?;
        let log = &self.shared.trees.log;
        let mut keyed = blocks
            .into_iter()
            .filter_map(|b| Some((b.first()?.0.to_be_bytes(), b.finish())));
        match (keyed.next(), keyed.next()) {
            (None, _) => {}
            (Some((key, block)), None) => {
                log.insert(key, block)?;
            }
            (Some(a), Some(b)) => {
                let mut write = sled::Batch::default();
                for (key, block) in [a, b].into_iter().chain(keyed) {
                    write.insert(&key, block);
                }
                log.apply_batch(write)?;
            }
        }
        applied.chain = self.chain.clone();
        applied.last = last_position;
        Ok(())
    }

    /// Writes the in-memory part of the stream index and the chain state to the `index` tree.
    fn write_index(&mut self) {
        self.index_written = Instant::now();
        if let Err(e) = self.try_write_index() {
            self.shared
                .fail(format!("cannot write the stream index: {e}"));
        }
    }

    fn try_write_index(&mut self) -> Result<(), StoreError> {
        let mut index = self.shared.streams_mut()?;
        let mut write = sled::Batch::default();
        for (stream, entries) in &index.pending {
            let Some(&(first, _)) = entries.first() else {
                continue;
            };
            write.insert(run_key(stream, first), encode_run(entries));
            if let Some(&(version, position)) = index.heads.get(stream) {
                write.insert(head_key(stream), &pair_value(version, position));
            }
        }
        write.insert(META_KEY, self.meta().encode());
        self.shared.trees.index.apply_batch(write)?;
        index.pending.clear();
        index.pending_events = 0;
        Ok(())
    }

    fn meta(&self) -> IndexMeta {
        IndexMeta {
            through: self.next_position - 1,
            next: self.next_position,
            chain: self.chain.clone(),
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
        // Every index entry retention may remove must be in the tree, not only in memory.
        self.try_write_index()?;
        let t = &self.shared.trees;
        let cutoff_nanos = cutoff.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let start = self
            .chain
            .retention_anchor
            .position
            .map_or(Position::START, |p| p);
        let mut anchor = self.chain.retention_anchor;
        let mut removed = 0u64;
        let mut more = false;
        // Rewritten blocks (None: the block is left empty) and removed index entries.
        let mut blocks: Vec<Rewrite> = Vec::new();
        let mut doomed: HashMap<StreamId, Vec<(u64, u64)>> = HashMap::new();
        let from_key = self
            .shared
            .block_key_for(start.next())?
            .map_or(0, |k| read_u64(&k).unwrap_or(0));
        'blocks: for item in t.log.range(from_key.to_be_bytes()..) {
            let (key, block) = item?;
            let key_position = Position(read_u64(&key).unwrap_or(0));
            let corrupt = |source| StoreError::Corrupt {
                position: key_position,
                source,
            };
            let mut kept = BlockBuilder::default();
            let mut changed = false;
            let mut done = false;
            for entry in codec::block_entries(&block).map_err(corrupt)? {
                let (position, record) = entry.map_err(corrupt)?;
                if done || position <= start {
                    kept.push(position, record);
                    continue;
                }
                let raw = codec::decode_raw(record)
                    .map_err(|source| StoreError::Corrupt { position, source })?;
                // Timestamps never go backwards, so the first young event ends the expired prefix.
                if raw.timestamp_nanos >= cutoff_nanos {
                    done = true;
                } else if raw.chain == Chain::Observations {
                    if removed as usize >= max {
                        more = true;
                        done = true;
                    } else {
                        let stream =
                            StreamId::new(raw.stream()).map_err(|e| StoreError::Corrupt {
                                position,
                                source: CodecError::InvalidField {
                                    field: "stream",
                                    detail: e.to_string(),
                                },
                            })?;
                        doomed
                            .entry(stream)
                            .or_default()
                            .push((raw.version().0, position.0));
                        anchor = ChainLink {
                            position: Some(position),
                            hash: raw.hash,
                        };
                        removed += 1;
                        changed = true;
                        continue;
                    }
                }
                kept.push(position, record);
            }
            if changed {
                let value = (!kept.is_empty()).then(|| kept.finish());
                blocks.push((key.to_vec(), value));
            }
            if done {
                break 'blocks;
            }
        }
        if removed == 0 {
            return Ok(RetentionOutcome {
                more,
                ..RetentionOutcome::default()
            });
        }
        let runs = self.runs_without(&doomed)?;
        let mut chain = self.chain.clone();
        chain.retention_anchor = anchor;
        let meta = IndexMeta {
            through: self.next_position - 1,
            next: self.next_position,
            chain: chain.clone(),
        }
        .encode();
        {
            let mut applied = self.shared.applied()?;
            (&t.log, &t.index)
                .transaction(|(log, index)| {
                    for (key, value) in &blocks {
                        match value {
                            Some(v) => log.insert(key.as_slice(), v.as_slice())?,
                            None => log.remove(key.as_slice())?,
                        };
                    }
                    for (key, value) in &runs {
                        match value {
                            Some(v) => index.insert(key.as_slice(), v.as_slice())?,
                            None => index.remove(key.as_slice())?,
                        };
                    }
                    index.insert(META_KEY, meta.as_slice())?;
                    Ok::<(), ConflictableTransactionError<()>>(())
                })
                .map_err(|e| match e {
                    TransactionError::Storage(e) => StoreError::from(e),
                    TransactionError::Abort(()) => {
                        StoreError::Storage("retention aborted".to_owned())
                    }
                })?;
            applied.chain = chain.clone();
        }
        self.shared.trees.db.flush()?;
        self.chain = chain;
        Ok(RetentionOutcome {
            removed,
            through: anchor.position,
            more,
            deferred: false,
        })
    }

    /// The index runs that hold `doomed` entries, rewritten without them (None: now empty).
    fn runs_without(
        &self,
        doomed: &HashMap<StreamId, Vec<(u64, u64)>>,
    ) -> Result<Vec<Rewrite>, StoreError> {
        let index = &self.shared.trees.index;
        let mut out = Vec::new();
        for (stream, entries) in doomed {
            let gone: std::collections::HashSet<u64> = entries.iter().map(|(_, p)| *p).collect();
            let (Some(&(lowest, _)), Some(&(highest, _))) = (entries.first(), entries.last())
            else {
                continue;
            };
            let first = index
                .range(run_key(stream, 0)..=run_key(stream, lowest))
                .next_back()
                .transpose()?
                .map_or_else(|| run_key(stream, lowest), |(k, _)| k.to_vec());
            for item in index.range(first..=run_key(stream, highest)) {
                let (key, run) = item?;
                let left: Vec<(u64, u64)> = decode_run(&run)
                    .filter(|(_, p)| !gone.contains(p))
                    .collect();
                if left.len() * 16 != run.len() {
                    let value = (!left.is_empty()).then(|| encode_run(&left));
                    out.push((key.to_vec(), value));
                }
            }
        }
        Ok(out)
    }
}

/// An append made through an `unhurried` handle.
fn is_unhurried(msg: &WriterMsg) -> bool {
    matches!(msg, WriterMsg::Append(r) if r.unhurried)
}

fn msg_events(msg: &WriterMsg) -> usize {
    match msg {
        WriterMsg::Append(r) => r.events.len(),
        _ => 1,
    }
}

fn run_flusher(shared: Arc<Shared>, rx: std_mpsc::Receiver<FlushTicket>) {
    let mut last_group = 0usize;
    let mut last_flush = Duration::ZERO;
    loop {
        let idle_since = Instant::now();
        let Ok(first) = rx.recv() else {
            break;
        };
        if idle_since.elapsed() > IDLE_RESET {
            // Nobody has been appending: the callers of the last flush are not coming back soon.
            last_group = 0;
        }
        let mut events = first.events.len();
        let mut tickets = vec![first];
        while let Ok(t) = rx.try_recv() {
            events += t.events.len();
            tickets.push(t);
        }
        // The callers answered by the last flush are likely appending again: wait a little
        // (a fraction of a flush) until as many events are in hand, so groups do not split.
        let wanted = last_group;
        let deadline = Instant::now() + (last_flush / 2).min(MAX_COMMIT_DELAY);
        while events < wanted {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            match rx.recv_timeout(left) {
                Ok(t) => {
                    events += t.events.len();
                    tickets.push(t);
                }
                Err(_) => break,
            }
        }
        last_group = events;
        let started = Instant::now();
        let flushed = shared.trees.db.flush();
        last_flush = started.elapsed();
        shared
            .core
            .metrics
            .flush_seconds
            .observe(last_flush.as_secs_f64());
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
        let core = &shared.core;
        for t in tickets {
            count += t.events.len() as u64;
            core.publish(t.last_position, t.events);
            for a in t.accepted {
                core.answer(a);
            }
        }
        core.metrics.appended.inc_by(count);
        core.metrics.commit_events.observe(count as f64);
    }
}

/// A restored block ends at this size: about what a busy writer's commits make, and well
/// under the size at which sled keeps a value in a file of its own.
const IMPORT_BLOCK_BYTES: usize = 64 * 1024;

/// Writes a log back from a backup into a data directory that has none yet: records go in
/// as blocks in position order, then the index meta with the chain state at the backup's
/// position, so that opening the store reads the records back (rebuilding the stream index
/// from them) as if its own writer had written them.
pub(super) struct LogImport {
    trees: Trees,
    block: BlockBuilder,
    last: Position,
}

impl LogImport {
    /// Creates the log of `data_dir`, refusing one that already holds records.
    pub(super) fn create(data_dir: &DataDir) -> Result<LogImport, StoreError> {
        let trees = Trees::open(data_dir, 64 * 1024 * 1024)?;
        if !trees.log.is_empty() || !trees.index.is_empty() {
            return Err(StoreError::Storage(format!(
                "{} already holds a log",
                data_dir.path().display()
            )));
        }
        Ok(LogImport {
            trees,
            block: BlockBuilder::default(),
            last: Position::START,
        })
    }

    /// Adds the next record; positions must rise.
    pub(super) fn push(&mut self, position: Position, record: &[u8]) -> Result<(), StoreError> {
        if position <= self.last {
            return Err(StoreError::Storage(format!(
                "record {position} comes after {}: out of order",
                self.last
            )));
        }
        self.last = position;
        self.block.push(position, record);
        if self.block.len() >= IMPORT_BLOCK_BYTES {
            self.write_block()?;
        }
        Ok(())
    }

    fn write_block(&mut self) -> Result<(), StoreError> {
        let block = std::mem::take(&mut self.block);
        if let Some(first) = block.first() {
            self.trees
                .log
                .insert(first.0.to_be_bytes(), block.finish())?;
        }
        Ok(())
    }

    /// Writes the last block and the chain state at `through`, and flushes it all to disk.
    pub(super) fn finish(mut self, through: Position, chain: ChainState) -> Result<(), StoreError> {
        self.write_block()?;
        let meta = IndexMeta {
            through: 0,
            next: through.0.max(self.last.0) + 1,
            chain,
        };
        self.trees.index.insert(META_KEY, meta.encode())?;
        self.trees.db.flush()?;
        Ok(())
    }
}
