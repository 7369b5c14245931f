//! Host-metric rollups: per host, level (1 m, 5 m, 1 h, 1 d) and bucket, the count, min,
//! max, sum and last value of every metric, kept in the projection's own tree beside the log.
//!
//! Unlike the projections of the runner, the state is too large to hold in memory (5,000
//! hosts × four levels × their retention), so it lives in the tree:
//!
//! - hostname bytes, `0x00`, level tag, bucket start (i64 seconds, big-endian with the sign
//!   bit flipped so keys sort by time) → bincode of metric name → [`MetricBucket`]: one key
//!   holds every metric of one host in one bucket;
//! - `[0xFF]` (no UTF-8 text, so no hostname, holds that byte) → the checkpoint: format
//!   version, last applied position and newest `sampled_at` seen.
//!
//! In memory there are only the buckets touched since the last save (read from the tree
//! before a sample changes them, so late samples merge), the hosts deleted since then and
//! the names of the hosts with buckets. A save writes all of it with the checkpoint in one
//! batch, so the tree always matches its checkpoint; the batch becomes durable with the
//! log's next flush, and a restart resumes from the checkpoint.
//!
//! Retention is measured back from the newest `sampled_at` seen, never from the clock: a
//! bucket has expired once it ends at or before `newest - retention` of its level. Queries
//! ignore expired buckets at once; a later save removes them from the tree.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize, Serializer};
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use super::{LagSource, Progress};
use crate::events::{
    Event, EventStore, HostMetricsReported, Position, ProjectionTree, RecordedEvent, StoreError,
    TreeBatch,
};

/// Bumped when the tree's layout changes: a tree of another version is rebuilt from the log.
const FORMAT_VERSION: u32 = 1;
/// The checkpoint's key: 0xFF never occurs in UTF-8, so no hostname key starts with it.
const CHECKPOINT_KEY: &[u8] = &[0xFF];
/// Seconds between saves (a restart replays at most about this much of the log).
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// Unsaved buckets that trigger a save before the next tick, to bound memory.
const MAX_DIRTY: usize = 50_000;
/// Retention passes scan the tree per host and level, so they run about this often.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Events read per page by [`rebuild`].
const REBUILD_PAGE: usize = 4096;

/// The fixed metric names; each disk adds `disk_percent:<mountpoint>`.
pub const HOST_METRICS: [&str; 7] = [
    "cpu_percent",
    "memory_percent",
    "load1",
    "net_tx_bytes_per_s",
    "net_rx_bytes_per_s",
    "disk_read_bytes_per_s",
    "disk_write_bytes_per_s",
];

/// The prefix of a disk's used-share metric, followed by its mountpoint.
pub const DISK_PERCENT_PREFIX: &str = "disk_percent:";

/// Names of the rates, in the order of [`HostMetricsReported::rates`].
const RATE_METRICS: [&str; 4] = [
    "net_tx_bytes_per_s",
    "net_rx_bytes_per_s",
    "disk_read_bytes_per_s",
    "disk_write_bytes_per_s",
];

/// A rollup level: the width of its buckets.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// One-minute buckets.
    Minute,
    /// Five-minute buckets.
    FiveMinutes,
    /// One-hour buckets.
    Hour,
    /// One-day buckets (UTC days).
    Day,
}

impl Level {
    /// Every level, finest first.
    pub const ALL: [Level; 4] = [Level::Minute, Level::FiveMinutes, Level::Hour, Level::Day];

    /// The level's name in the API: `1m`, `5m`, `1h` or `1d`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Minute => "1m",
            Level::FiveMinutes => "5m",
            Level::Hour => "1h",
            Level::Day => "1d",
        }
    }

    /// The width of the level's buckets, in seconds.
    pub fn bucket_seconds(self) -> i64 {
        match self {
            Level::Minute => 60,
            Level::FiveMinutes => 300,
            Level::Hour => 3_600,
            Level::Day => 86_400,
        }
    }

    /// How long the level's buckets are kept, back from the newest sample.
    pub fn default_retention(self) -> TimeDelta {
        match self {
            Level::Minute => TimeDelta::days(2),
            Level::FiveMinutes => TimeDelta::days(14),
            Level::Hour => TimeDelta::days(90),
            Level::Day => TimeDelta::days(730),
        }
    }

    /// The start of the bucket holding `t`, aligned to the UTC epoch.
    pub fn bucket_start(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.start_of(t.timestamp());
        DateTime::from_timestamp(start, 0).unwrap_or(t)
    }

    fn start_of(self, t: i64) -> i64 {
        t - t.rem_euclid(self.bucket_seconds())
    }

    fn retention_s(self) -> i64 {
        self.default_retention().num_seconds()
    }

    /// The longest query range this level answers when none is asked for (≤ 1,440 buckets).
    fn longest_span_s(self) -> i64 {
        match self {
            Level::Minute => 12 * 3_600,
            Level::FiveMinutes => 3 * 86_400,
            Level::Hour => 60 * 86_400,
            Level::Day => i64::MAX,
        }
    }

    /// The start of the newest expired bucket, given the newest sample seen.
    fn expired_through(self, newest_s: i64) -> i64 {
        let bound = newest_s
            .saturating_sub(self.retention_s())
            .saturating_sub(self.bucket_seconds());
        self.start_of(bound)
    }

    fn expired(self, start: i64, newest_s: Option<i64>) -> bool {
        newest_s.is_some_and(|n| start <= self.expired_through(n))
    }

    fn tag(self) -> u8 {
        self as u8
    }

    fn from_tag(tag: u8) -> Option<Level> {
        Level::ALL.get(usize::from(tag)).copied()
    }

    fn index(self) -> usize {
        usize::from(self.tag())
    }

    /// The finest level whose range limit fits `since..until` and whose retention reaches
    /// back to `since`; days when none does.
    fn for_range(since: DateTime<Utc>, until: DateTime<Utc>, newest_s: Option<i64>) -> Level {
        let span = (until - since).num_seconds();
        let since = since.timestamp();
        Level::ALL
            .into_iter()
            .find(|l| {
                span <= l.longest_span_s()
                    && newest_s.is_none_or(|n| since >= n.saturating_sub(l.retention_s()))
            })
            .unwrap_or(Level::Day)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level name that is not `1m`, `5m`, `1h` or `1d`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rollup level {0:?}: expected 1m, 5m, 1h or 1d")]
pub struct UnknownLevel(pub String);

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Level, UnknownLevel> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownLevel(s.to_owned()))
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The samples of one metric in one bucket.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricBucket {
    /// Samples recorded.
    pub count: u64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The sum of the values.
    pub sum: f64,
    /// The value of the sample with the latest `sampled_at` (of two equal, the later in the log).
    pub last: f64,
    /// That sample's `sampled_at`, in microseconds since the Unix epoch.
    pub last_at_us: i64,
}

impl MetricBucket {
    fn new(value: f64, at_us: i64) -> MetricBucket {
        MetricBucket {
            count: 1,
            min: value,
            max: value,
            sum: value,
            last: value,
            last_at_us: at_us,
        }
    }

    fn add(&mut self, value: f64, at_us: i64) {
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
        if at_us >= self.last_at_us {
            self.last = value;
            self.last_at_us = at_us;
        }
    }
}

/// Every bucket by (hostname, level, bucket start in seconds, metric), as [`HostRollups::dump`]
/// and [`fold_buckets`] give them.
pub type BucketMap = BTreeMap<(String, Level, i64, String), MetricBucket>;

/// A series of one metric of one host at one level.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Series {
    /// The level the points are of.
    pub level: Level,
    /// One point per bucket with samples, oldest first.
    pub points: Vec<Point>,
}

/// One bucket of a series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// The bucket's start.
    pub t: DateTime<Utc>,
    /// Samples in the bucket.
    pub count: u64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The sum of the values.
    pub sum: f64,
    /// The mean value.
    pub avg: f64,
    /// The value of the latest sample.
    pub last: f64,
}

/// Every metric of one host in one bucket: the value of one tree key.
type Metrics = BTreeMap<String, MetricBucket>;

/// One host's bucket at one level; orders as its tree key does.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct BucketKey {
    host: String,
    level: Level,
    start: i64,
}

impl BucketKey {
    fn encode(&self) -> Vec<u8> {
        tree_key(&self.host, self.level, self.start)
    }

    fn decode(bytes: &[u8]) -> Result<BucketKey, StoreError> {
        let malformed = || {
            StoreError::Storage(format!(
                "rollups: malformed bucket key {}",
                hex::encode(bytes)
            ))
        };
        let nul = bytes.iter().position(|&b| b == 0).ok_or_else(malformed)?;
        let host = std::str::from_utf8(&bytes[..nul]).map_err(|_| malformed())?;
        let rest = &bytes[nul + 1..];
        let (&tag, start) = rest.split_first().ok_or_else(malformed)?;
        let level = Level::from_tag(tag).ok_or_else(malformed)?;
        let start: [u8; 8] = start.try_into().map_err(|_| malformed())?;
        Ok(BucketKey {
            host: host.to_owned(),
            level,
            start: (u64::from_be_bytes(start) ^ SIGN_BIT) as i64,
        })
    }
}

const SIGN_BIT: u64 = 1 << 63;

fn host_prefix(host: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(host.len() + 10);
    key.extend_from_slice(host.as_bytes());
    key.push(0);
    key
}

fn tree_key(host: &str, level: Level, start: i64) -> Vec<u8> {
    let mut key = host_prefix(host);
    key.push(level.tag());
    key.extend_from_slice(&((start as u64) ^ SIGN_BIT).to_be_bytes());
    key
}

fn decode_metrics(key: &[u8], bytes: &[u8]) -> Result<Metrics, StoreError> {
    bincode::deserialize(bytes).map_err(|e| {
        StoreError::Storage(format!(
            "rollups: undecodable bucket at key {}: {e}",
            hex::encode(key)
        ))
    })
}

fn read_bucket(tree: &ProjectionTree, key: &BucketKey) -> Result<Option<Metrics>, StoreError> {
    let encoded = key.encode();
    tree.get(&encoded)?
        .map(|v| decode_metrics(&encoded, &v))
        .transpose()
}

/// The recorded values of a sample, by metric name; absent and non-finite values are left out.
fn metric_values(m: &HostMetricsReported) -> Vec<(String, f64)> {
    let mut out = Vec::with_capacity(8 + m.disks.len());
    let mut put = |name: String, value: Option<f64>| {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            out.push((name, v));
        }
    };
    put("cpu_percent".to_owned(), m.cpu_percent);
    put("memory_percent".to_owned(), m.memory_percent);
    put("load1".to_owned(), m.load_average.map(|l| l[0]));
    for disk in &m.disks {
        put(
            format!("{DISK_PERCENT_PREFIX}{}", disk.mountpoint),
            Some(disk.percent),
        );
    }
    for (name, rate) in RATE_METRICS.into_iter().zip(m.rates) {
        put(name.to_owned(), rate);
    }
    out
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    version: u32,
    position: u64,
    newest_s: Option<i64>,
}

/// Reads a bucket that is not in memory yet.
type Loader<'a> = dyn FnMut(&BucketKey) -> Result<Option<Metrics>, StoreError> + 'a;

/// What the projection holds in memory: everything not yet saved, and what saves need.
#[derive(Default)]
struct State {
    /// Buckets touched since the last save, with their full values.
    dirty: BTreeMap<BucketKey, Metrics>,
    /// Hosts deleted since the last save: their saved buckets are void.
    deleted: BTreeSet<String>,
    /// Hosts that have buckets (saved or not): retention scans per host.
    hosts: BTreeSet<String>,
    /// The newest `sampled_at` seen, in seconds.
    newest_s: Option<i64>,
    /// The last event applied.
    applied: Position,
    /// The position of the last save.
    saved: Position,
    /// Per level, the newest expired bucket start retention has removed through.
    pruned: [Option<i64>; 4],
}

/// One save: built under the lock, run on a blocking thread.
struct SaveJob {
    writes: Vec<(Vec<u8>, Vec<u8>)>,
    deleted: Vec<String>,
    prune: Vec<(Level, i64)>,
    hosts: Vec<String>,
    position: Position,
    checkpoint: Vec<u8>,
}

/// What a save did, to update the state with once it is written.
struct Saved {
    position: Position,
    pruned: Vec<(Level, i64)>,
}

impl State {
    /// Loads the checkpoint and the host names from the tree; a tree without a checkpoint
    /// of this format is cleared, to be rebuilt from the log.
    fn load(tree: &ProjectionTree) -> Result<State, StoreError> {
        let checkpoint = match tree.get(CHECKPOINT_KEY)? {
            Some(bytes) => match bincode::deserialize::<Checkpoint>(&bytes) {
                Ok(c) if c.version == FORMAT_VERSION => Some(c),
                _ => {
                    tracing::info!(
                        projection = HostRollups::NAME,
                        "rollups are of another format: rebuilding"
                    );
                    None
                }
            },
            None => None,
        };
        let Some(checkpoint) = checkpoint else {
            tree.clear()?;
            return Ok(State::default());
        };
        Ok(State {
            hosts: saved_hosts(tree)?,
            newest_s: checkpoint.newest_s,
            applied: Position(checkpoint.position),
            saved: Position(checkpoint.position),
            ..State::default()
        })
    }

    /// Folds one event in; on error (a bucket that cannot be read) nothing has changed.
    fn apply(
        &mut self,
        event: &Event,
        position: Position,
        load: &mut Loader<'_>,
    ) -> Result<(), StoreError> {
        match event {
            Event::HostMetricsReported(sample) => self.add_sample(sample, load)?,
            Event::HostDeleted(host) => self.delete_host(&host.hostname),
            _ => {}
        }
        self.applied = position;
        Ok(())
    }

    fn add_sample(
        &mut self,
        sample: &HostMetricsReported,
        load: &mut Loader<'_>,
    ) -> Result<(), StoreError> {
        let host = &sample.hostname;
        let at_s = sample.sampled_at.timestamp();
        let at_us = sample.sampled_at.timestamp_micros();
        let newest = self.newest_s.map_or(at_s, |n| n.max(at_s));
        let values = metric_values(sample);
        if values.is_empty() || host.is_empty() || host.contains('\0') {
            self.newest_s = Some(newest);
            return Ok(());
        }
        // Every read first, so a failed one leaves the state as it was.
        let mut touched = Vec::with_capacity(Level::ALL.len());
        for level in Level::ALL {
            let start = level.start_of(at_s);
            if level.expired(start, Some(newest)) {
                continue;
            }
            let key = BucketKey {
                host: host.clone(),
                level,
                start,
            };
            let loaded = if self.dirty.contains_key(&key) || self.deleted.contains(host) {
                None
            } else {
                load(&key)?
            };
            touched.push((key, loaded));
        }
        self.newest_s = Some(newest);
        self.hosts.insert(host.clone());
        for (key, loaded) in touched {
            let metrics = self
                .dirty
                .entry(key)
                .or_insert_with(|| loaded.unwrap_or_default());
            for (name, value) in &values {
                match metrics.get_mut(name) {
                    Some(bucket) => bucket.add(*value, at_us),
                    None => {
                        metrics.insert(name.clone(), MetricBucket::new(*value, at_us));
                    }
                }
            }
        }
        Ok(())
    }

    fn delete_host(&mut self, host: &str) {
        let first = BucketKey {
            host: host.to_owned(),
            level: Level::Minute,
            start: i64::MIN,
        };
        let last = BucketKey {
            host: host.to_owned(),
            level: Level::Day,
            start: i64::MAX,
        };
        let doomed: Vec<BucketKey> = self
            .dirty
            .range(first..=last)
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            self.dirty.remove(&key);
        }
        self.hosts.remove(host);
        self.deleted.insert(host.to_owned());
    }

    /// The levels whose expired range has grown since the last retention pass.
    fn prune_bounds(&self) -> Vec<(Level, i64)> {
        let Some(newest) = self.newest_s else {
            return Vec::new();
        };
        Level::ALL
            .into_iter()
            .map(|l| (l, l.expired_through(newest)))
            .filter(|(l, through)| self.pruned[l.index()].is_none_or(|p| *through > p))
            .collect()
    }

    /// Everything a save must write; `None` when the tree is already up to date.
    fn save_job(&self, prune: bool, force: bool) -> Result<Option<SaveJob>, StoreError> {
        let prune = if prune {
            self.prune_bounds()
        } else {
            Vec::new()
        };
        let unchanged = self.applied == self.saved
            && self.dirty.is_empty()
            && self.deleted.is_empty()
            && prune.is_empty();
        if unchanged && !force {
            return Ok(None);
        }
        let encode_error = |e: bincode::Error| StoreError::Storage(format!("rollups: {e}"));
        let mut writes = Vec::with_capacity(self.dirty.len());
        for (key, metrics) in &self.dirty {
            // Expired since it was touched: retention removes whatever the tree holds of it.
            if !key.level.expired(key.start, self.newest_s) {
                writes.push((
                    key.encode(),
                    bincode::serialize(metrics).map_err(encode_error)?,
                ));
            }
        }
        let checkpoint = bincode::serialize(&Checkpoint {
            version: FORMAT_VERSION,
            position: self.applied.0,
            newest_s: self.newest_s,
        })
        .map_err(encode_error)?;
        let hosts = if prune.is_empty() {
            Vec::new()
        } else {
            self.hosts.iter().cloned().collect()
        };
        Ok(Some(SaveJob {
            writes,
            deleted: self.deleted.iter().cloned().collect(),
            prune,
            hosts,
            position: self.applied,
            checkpoint,
        }))
    }

    /// Forgets what a save has written (nothing else changed the state in between).
    fn saved(&mut self, saved: Saved) {
        self.dirty.clear();
        self.deleted.clear();
        self.saved = saved.position;
        for (level, through) in saved.pruned {
            self.pruned[level.index()] = Some(through);
        }
    }
}

impl SaveJob {
    /// Writes the save as one batch (blocking): removals first, so rewritten buckets win.
    fn run(self, tree: &ProjectionTree) -> Result<Saved, StoreError> {
        let mut batch = TreeBatch::default();
        for host in &self.deleted {
            for key in tree.keys_with_prefix(host_prefix(host)) {
                batch.remove(key?);
            }
        }
        for &(level, through) in &self.prune {
            for host in &self.hosts {
                let range = tree_key(host, level, i64::MIN)..=tree_key(host, level, through);
                for key in tree.keys_in(range) {
                    batch.remove(key?);
                }
            }
        }
        for (key, value) in self.writes {
            batch.insert(key, value);
        }
        batch.insert(CHECKPOINT_KEY, self.checkpoint);
        tree.apply(batch)?;
        Ok(Saved {
            position: self.position,
            pruned: self.prune,
        })
    }
}

/// The hosts with buckets in the tree: one seek per host, not a scan of every key.
fn saved_hosts(tree: &ProjectionTree) -> Result<BTreeSet<String>, StoreError> {
    let mut hosts = BTreeSet::new();
    let mut from = Vec::new();
    while let Some(key) = tree.first_key_from(&from)? {
        if key.as_slice() == CHECKPOINT_KEY {
            break;
        }
        let host = BucketKey::decode(&key)?.host;
        // Past every key of this host: its name, then a byte above the 0x00 separator.
        from = host.as_bytes().to_vec();
        from.push(1);
        hosts.insert(host);
    }
    Ok(hosts)
}

/// The buckets of `tree` (if any) overlaid with unsaved ones, without expired buckets.
fn collect_buckets(
    tree: Option<&ProjectionTree>,
    dirty: &BTreeMap<BucketKey, Metrics>,
    deleted: &BTreeSet<String>,
    newest_s: Option<i64>,
) -> Result<BucketMap, StoreError> {
    let mut out = BucketMap::new();
    let mut put = |key: BucketKey, metrics: Metrics| {
        if key.level.expired(key.start, newest_s) {
            return;
        }
        for (metric, bucket) in metrics {
            out.insert((key.host.clone(), key.level, key.start, metric), bucket);
        }
    };
    if let Some(tree) = tree {
        for item in tree.entries() {
            let (key, value) = item?;
            if key.as_slice() == CHECKPOINT_KEY {
                continue;
            }
            let decoded = BucketKey::decode(&key)?;
            if !deleted.contains(&decoded.host) {
                put(decoded, decode_metrics(&key, &value)?);
            }
        }
    }
    // An unsaved bucket was read from the tree before it changed: it holds every saved metric.
    for (key, metrics) in dirty {
        put(key.clone(), metrics.clone());
    }
    Ok(out)
}

/// Folds host events in memory, with no tree: what the projection must hold after them.
pub fn fold_buckets<'a>(events: impl IntoIterator<Item = &'a Event>) -> BucketMap {
    let mut state = State::default();
    for event in events {
        // Nothing to read: every bucket is in memory.
        if let Err(e) = state.apply(event, Position::START, &mut |_| Ok(None)) {
            tracing::error!(error = %e, "an in-memory rollup fold cannot fail");
        }
    }
    collect_buckets(None, &state.dirty, &state.deleted, state.newest_s).unwrap_or_default()
}

/// Drops the rollup tree, folds the whole log into it anew and saves it with its
/// checkpoint (blocking; the projection must not be running).
pub fn rebuild(store: &EventStore) -> Result<(), StoreError> {
    store.drop_projection_tree(HostRollups::NAME)?;
    let tree = store.projection_tree(HostRollups::NAME)?;
    let mut state = State::default();
    let mut after = Position::START;
    let save = |state: &mut State, force: bool| -> Result<(), StoreError> {
        if let Some(job) = state.save_job(true, force)? {
            let saved = job.run(&tree)?;
            state.saved(saved);
        }
        Ok(())
    };
    loop {
        let events = store.read_all(after, REBUILD_PAGE)?;
        let Some(last) = events.last() else { break };
        after = last.position;
        for e in &events {
            state.apply(&e.event, e.position, &mut |key| read_bucket(&tree, key))?;
        }
        if state.dirty.len() > MAX_DIRTY {
            save(&mut state, false)?;
        }
    }
    save(&mut state, true)?;
    tree.flush()?;
    Ok(())
}

/// What the handle asks of the task that follows the log.
enum Command {
    /// Save now (with a retention pass) and answer with the saved position.
    Save(oneshot::Sender<Result<Position, StoreError>>),
    /// Save, answer, and stop following the log.
    Stop(oneshot::Sender<Result<Position, StoreError>>),
}

struct Shared {
    tree: ProjectionTree,
    state: Mutex<State>,
    progress: Progress,
}

/// The host-metric rollup projection: a handle to query it; a task follows the log.
#[derive(Clone)]
pub struct HostRollups {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
}

impl LagSource for HostRollups {
    fn name(&self) -> &'static str {
        HostRollups::NAME
    }

    fn progress(&self) -> &Progress {
        &self.shared.progress
    }
}

impl HostRollups {
    /// The projection's name: its tree's and its lag report's.
    pub const NAME: &'static str = "rollups";

    /// Loads the checkpoint from the tree and follows the log from it on the current runtime;
    /// the task stops with the store, on [`HostRollups::stop`], or when every handle is gone.
    pub fn start(store: EventStore) -> Result<HostRollups, StoreError> {
        let tree = store.projection_tree(HostRollups::NAME)?;
        let state = State::load(&tree)?;
        let shared = Arc::new(Shared {
            tree,
            progress: Progress::new(state.applied),
            state: Mutex::new(state),
        });
        let (commands, received) = mpsc::channel(4);
        tokio::spawn(follow(shared.clone(), store, received));
        Ok(HostRollups { shared, commands })
    }

    /// The last position applied.
    pub fn applied_position(&self) -> Position {
        self.shared.applied()
    }

    /// Waits until the projection has applied everything up to `position`.
    pub async fn caught_up(&self, position: Position) {
        self.shared.progress.caught_up(position).await
    }

    /// Saves now, with a retention pass, and answers the position saved.
    pub async fn save(&self) -> Result<Position, StoreError> {
        self.ask(Command::Save).await
    }

    /// Saves, then stops following the log (queries still answer from what is saved).
    pub async fn stop(&self) -> Result<Position, StoreError> {
        self.ask(Command::Stop).await
    }

    async fn ask(
        &self,
        command: fn(oneshot::Sender<Result<Position, StoreError>>) -> Command,
    ) -> Result<Position, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// The buckets of one metric of one host from `since` to `until` (the buckets that hold
    /// them), at `level` or, when `None`, at the finest level that suits the range.
    pub fn series(
        &self,
        hostname: &str,
        metric: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        level: Option<Level>,
    ) -> Result<Series, StoreError> {
        let (level, newest_s, deleted, unsaved) = {
            let state = self.shared.lock();
            let level = level.unwrap_or_else(|| Level::for_range(since, until, state.newest_s));
            let (from, to) = (
                level.start_of(since.timestamp()),
                level.start_of(until.timestamp()),
            );
            if from > to || hostname.contains('\0') {
                return Ok(Series {
                    level,
                    points: Vec::new(),
                });
            }
            let key = |start| BucketKey {
                host: hostname.to_owned(),
                level,
                start,
            };
            let unsaved: Vec<(i64, Option<MetricBucket>)> = state
                .dirty
                .range(key(from)..=key(to))
                .map(|(k, m)| (k.start, m.get(metric).copied()))
                .collect();
            (
                level,
                state.newest_s,
                state.deleted.contains(hostname),
                (from, to, unsaved),
            )
        };
        let (from, to, unsaved) = unsaved;
        let mut buckets = BTreeMap::new();
        if !deleted {
            let range = tree_key(hostname, level, from)..=tree_key(hostname, level, to);
            for item in self.shared.tree.entries_in(range) {
                let (key, value) = item?;
                let start = BucketKey::decode(&key)?.start;
                if let Some(bucket) = decode_metrics(&key, &value)?.remove(metric) {
                    buckets.insert(start, bucket);
                }
            }
        }
        for (start, bucket) in unsaved {
            match bucket {
                Some(b) => buckets.insert(start, b),
                None => buckets.remove(&start),
            };
        }
        let points = buckets
            .into_iter()
            .filter(|(start, _)| !level.expired(*start, newest_s))
            .filter_map(|(start, b)| {
                Some(Point {
                    t: DateTime::from_timestamp(start, 0)?,
                    count: b.count,
                    min: b.min,
                    max: b.max,
                    sum: b.sum,
                    avg: b.sum / b.count.max(1) as f64,
                    last: b.last,
                })
            })
            .collect();
        Ok(Series { level, points })
    }

    /// Every live bucket, saved and unsaved (reads the whole tree: for tests and tools).
    pub fn dump(&self) -> Result<BucketMap, StoreError> {
        let (dirty, deleted, newest_s) = {
            let state = self.shared.lock();
            (state.dirty.clone(), state.deleted.clone(), state.newest_s)
        };
        collect_buckets(Some(&self.shared.tree), &dirty, &deleted, newest_s)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn applied(&self) -> Position {
        self.progress.applied()
    }

    /// Applies one event; answers whether so many buckets are unsaved that it is time to save.
    fn apply(&self, event: &RecordedEvent) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let tree = &self.tree;
        state.apply(&event.event, event.position, &mut |key| {
            read_bucket(tree, key)
        })?;
        self.progress.advance(event.position);
        Ok(state.dirty.len() > MAX_DIRTY)
    }

    /// Writes the unsaved buckets, deletions, retention and checkpoint in one batch.
    async fn save(&self, prune_due: &mut bool, force_prune: bool) -> Result<Position, StoreError> {
        let prune = force_prune || *prune_due;
        let job = {
            let state = self.lock();
            match state.save_job(prune, false)? {
                Some(job) => job,
                None => return Ok(state.saved),
            }
        };
        let tree = self.tree.clone();
        let saved = tokio::task::spawn_blocking(move || job.run(&tree))
            .await
            .map_err(|e| StoreError::Storage(format!("rollups: the save task failed: {e}")))??;
        let position = saved.position;
        // Only this task changes the state, and it was waiting: nothing moved meanwhile.
        self.lock().saved(saved);
        if prune {
            *prune_due = false;
        }
        Ok(position)
    }

    async fn save_logged(&self, prune_due: &mut bool) {
        if let Err(e) = self.save(prune_due, false).await {
            tracing::error!(projection = HostRollups::NAME, error = %e, "cannot save rollups");
        }
    }
}

/// Follows the log from the checkpoint: applies events, saves every few seconds.
async fn follow(shared: Arc<Shared>, store: EventStore, mut commands: mpsc::Receiver<Command>) {
    let mut subscription = store.subscribe(shared.applied());
    let mut tick = tokio::time::interval(SAVE_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // An interval's first tick is at once; the first save is one period away.
    tick.tick().await;
    // The first save prunes; later ones when this timer has fired since the last pass.
    let mut prune_tick = tokio::time::interval(PRUNE_EVERY);
    prune_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut prune_due = true;
    loop {
        tokio::select! {
            next = subscription.next() => {
                let failure = match next {
                    Ok(event) => match shared.apply(&event) {
                        Ok(full) => {
                            if full {
                                shared.save_logged(&mut prune_due).await;
                            }
                            None
                        }
                        Err(e) => Some(e),
                    },
                    Err(StoreError::Closed) => break,
                    Err(e) => Some(e),
                };
                if let Some(e) = failure {
                    tracing::error!(projection = HostRollups::NAME, error = %e, "rollups stopped following the log");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    subscription = store.subscribe(shared.applied());
                }
            }
            _ = tick.tick() => shared.save_logged(&mut prune_due).await,
            _ = prune_tick.tick() => prune_due = true,
            command = commands.recv() => match command {
                Some(Command::Save(reply)) => {
                    let _ = reply.send(shared.save(&mut prune_due, true).await);
                }
                Some(Command::Stop(reply)) => {
                    let _ = reply.send(shared.save(&mut prune_due, true).await);
                    break;
                }
                None => {
                    // Every handle is gone: nobody can read the projection any more.
                    shared.save_logged(&mut prune_due).await;
                    break;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{DiskUsage, HostRef, SampleDetails};
    use proptest::prelude::*;

    const HOSTS: [&str; 4] = ["a", "b", "b-1", "b.c"];
    /// 2023-11-14T22:13:20Z, a Tuesday.
    const BASE_S: i64 = 1_700_000_000;

    /// One step of a test run: an event, or something the projection does on its own.
    #[derive(Clone, Debug)]
    enum Op {
        Event(Box<Event>),
        Save,
        Restart,
    }

    fn sample(host: &str, at_us: i64, values: &[Option<f64>; 8], disks: &[f64]) -> Event {
        let sampled_at = DateTime::from_timestamp_micros(at_us).expect("test times are valid");
        Event::HostMetricsReported(Box::new(HostMetricsReported {
            hostname: host.to_owned(),
            sampled_at,
            cpu_percent: values[0],
            cpu_count: None,
            cpu_percent_per_core: Vec::new(),
            load_average: values[1].map(|l| [l, 0.0, 0.0]),
            memory_total: None,
            memory_used: None,
            memory_percent: values[2],
            disks: disks
                .iter()
                .zip(["/", "/var"])
                .map(|(&percent, mountpoint)| DiskUsage {
                    mountpoint: mountpoint.to_owned(),
                    total: 100,
                    used: 0,
                    percent,
                })
                .collect(),
            counters: [None; 4],
            rates: [values[3], values[4], values[5], values[6]],
            details: SampleDetails::default(),
        }))
    }

    fn value() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(f64::NAN)),
            4 => (0u32..1000).prop_map(|v| Some(f64::from(v) / 8.0)),
            2 => (-1.0e9..1.0e9f64).prop_map(Some),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let sample = (
            0..HOSTS.len(),
            // Four days, so the 1 m level (two days) expires some buckets.
            0i64..4 * 86_400 * 1_000_000,
            proptest::array::uniform8(value()),
            proptest::collection::vec(0.0..100.0f64, 0..3),
        )
            .prop_map(|(h, offset_us, values, disks)| {
                Op::Event(Box::new(sample(
                    HOSTS[h],
                    BASE_S * 1_000_000 + offset_us,
                    &values,
                    &disks,
                )))
            });
        prop_oneof![
            40 => sample,
            1 => (0..HOSTS.len()).prop_map(|h| Op::Event(Box::new(Event::HostDeleted(HostRef {
                hostname: HOSTS[h].to_owned(),
            })))),
            3 => Just(Op::Save),
            1 => Just(Op::Restart),
        ]
    }

    fn temp_tree() -> ProjectionTree {
        ProjectionTree::temporary("rollups").expect("a temporary tree opens")
    }

    fn save(tree: &ProjectionTree, state: &mut State, force: bool) {
        if let Some(job) = state.save_job(true, force).expect("a save job builds") {
            let saved = job.run(tree).expect("a save writes");
            state.saved(saved);
        }
    }

    fn dump(tree: &ProjectionTree, state: &State) -> BucketMap {
        collect_buckets(Some(tree), &state.dirty, &state.deleted, state.newest_s)
            .expect("the tree reads back")
    }

    /// Runs `ops` through the tree-backed path: tree reads, saves, retention and restarts.
    fn run(tree: &ProjectionTree, ops: &[Op]) -> State {
        let mut state = State::load(tree).expect("an empty tree loads");
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Event(e) => state
                    .apply(e, Position(i as u64 + 1), &mut |k| read_bucket(tree, k))
                    .expect("a sample applies"),
                Op::Save => save(tree, &mut state, false),
                Op::Restart => {
                    save(tree, &mut state, false);
                    state = State::load(tree).expect("a saved tree loads");
                }
            }
        }
        state
    }

    fn events(ops: &[Op]) -> Vec<Event> {
        ops.iter()
            .filter_map(|op| match op {
                Op::Event(e) => Some((**e).clone()),
                _ => None,
            })
            .collect()
    }

    /// Per bucket and metric, every sample's (sampled_at in µs, index in the log, value).
    type Model = BTreeMap<(String, Level, i64, String), Vec<(i64, usize, f64)>>;

    /// The truth, from the raw samples.
    fn model(events: &[Event]) -> Model {
        let mut raw: BTreeMap<_, Vec<(i64, usize, f64)>> = BTreeMap::new();
        let mut newest = None::<i64>;
        for (i, e) in events.iter().enumerate() {
            match e {
                Event::HostMetricsReported(m) => {
                    let t = m.sampled_at.timestamp();
                    newest = Some(newest.map_or(t, |n| n.max(t)));
                    let mut values = vec![
                        ("cpu_percent".to_owned(), m.cpu_percent),
                        ("memory_percent".to_owned(), m.memory_percent),
                        ("load1".to_owned(), m.load_average.map(|l| l[0])),
                        ("net_tx_bytes_per_s".to_owned(), m.rates[0]),
                        ("net_rx_bytes_per_s".to_owned(), m.rates[1]),
                        ("disk_read_bytes_per_s".to_owned(), m.rates[2]),
                        ("disk_write_bytes_per_s".to_owned(), m.rates[3]),
                    ];
                    for d in &m.disks {
                        values.push((format!("disk_percent:{}", d.mountpoint), Some(d.percent)));
                    }
                    for (name, v) in values {
                        let Some(v) = v.filter(|v| v.is_finite()) else {
                            continue;
                        };
                        for (level, w) in [
                            (Level::Minute, 60),
                            (Level::FiveMinutes, 300),
                            (Level::Hour, 3600),
                            (Level::Day, 86_400),
                        ] {
                            let start = t.div_euclid(w) * w;
                            raw.entry((m.hostname.clone(), level, start, name.clone()))
                                .or_default()
                                .push((m.sampled_at.timestamp_micros(), i, v));
                        }
                    }
                }
                Event::HostDeleted(h) => raw.retain(|(host, ..), _| *host != h.hostname),
                _ => {}
            }
        }
        raw.retain(|(_, level, start, _), _| {
            let (w, r) = (
                level.bucket_seconds(),
                level.default_retention().num_seconds(),
            );
            newest.is_none_or(|n| start + w > n - r)
        });
        raw
    }

    fn assert_matches_model(got: &BucketMap, events: &[Event]) {
        let truth = model(events);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            truth.keys().collect::<Vec<_>>(),
            "the same buckets"
        );
        for (key, samples) in truth {
            let b = &got[&key];
            let mut values: Vec<f64> = samples.iter().map(|s| s.2).collect();
            values.sort_by(f64::total_cmp);
            let sum: f64 = values.iter().sum();
            let (at, _, last) = samples
                .iter()
                .copied()
                .max_by_key(|s| (s.0, s.1))
                .expect("a bucket has samples");
            assert_eq!(b.count, values.len() as u64, "count of {key:?}");
            assert_eq!(b.min, values[0], "min of {key:?}");
            assert_eq!(b.max, values[values.len() - 1], "max of {key:?}");
            assert_eq!((b.last, b.last_at_us), (last, at), "last of {key:?}");
            let scale = values.iter().map(|v| v.abs()).sum::<f64>().max(1.0);
            assert!(
                (b.sum - sum).abs() <= scale * 1e-12,
                "sum of {key:?}: {} vs {sum}",
                b.sum
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The tree-backed fold (with saves, restarts, deletions and retention in between)
        /// holds what the raw samples say, the same as the in-memory fold and a rebuild.
        #[test]
        fn rollups_in_their_tree_match_the_raw_samples(ops in proptest::collection::vec(op(), 1..150)) {
            let tree = temp_tree();
            let mut state = run(&tree, &ops);
            let live = dump(&tree, &state);
            let events = events(&ops);
            assert_matches_model(&live, &events);
            prop_assert_eq!(&live, &fold_buckets(&events));

            // Saved and restarted: the tree alone holds the same.
            save(&tree, &mut state, true);
            let restarted = State::load(&tree).expect("a saved tree loads");
            prop_assert_eq!(restarted.applied, state.applied);
            prop_assert_eq!(&restarted.hosts, &state.hosts);
            prop_assert_eq!(&dump(&tree, &restarted), &live);

            // Rebuilt in one go, with no save until the end.
            let fresh = temp_tree();
            let plain: Vec<Op> = ops.iter().filter(|op| matches!(op, Op::Event(_))).cloned().collect();
            let mut rebuilt = run(&fresh, &plain);
            save(&fresh, &mut rebuilt, true);
            prop_assert_eq!(&dump(&fresh, &rebuilt), &live);
        }

        /// Tree keys sort as their buckets do: by host, level, then time (negative too).
        #[test]
        fn keys_sort_like_buckets(
            a in (0..HOSTS.len(), 0u8..4, any::<i64>()),
            b in (0..HOSTS.len(), 0u8..4, any::<i64>()),
        ) {
            let key = |(h, l, s): (usize, u8, i64)| BucketKey {
                host: HOSTS[h].to_owned(),
                level: Level::from_tag(l).expect("tags 0 to 3 are levels"),
                start: s,
            };
            let (a, b) = (key(a), key(b));
            prop_assert_eq!(a.cmp(&b), a.encode().cmp(&b.encode()));
            prop_assert_eq!(BucketKey::decode(&a.encode()).expect("decodes"), a);
        }
    }

    #[test]
    fn retention_removes_expired_buckets_from_the_tree() {
        let tree = temp_tree();
        let at = |s: i64| (BASE_S + s) * 1_000_000;
        let mut values = [None; 8];
        values[0] = Some(10.0);
        let ops = vec![
            Op::Event(Box::new(sample("a", at(0), &values, &[]))),
            Op::Save,
            Op::Event(Box::new(sample("a", at(2 * 86_400 + 120), &values, &[]))),
            Op::Save,
        ];
        let state = run(&tree, &ops);
        let minute_keys = tree
            .keys_with_prefix(host_prefix("a"))
            .filter_map(|k| BucketKey::decode(&k.expect("reads")).ok())
            .filter(|k| k.level == Level::Minute)
            .count();
        assert_eq!(minute_keys, 1, "the 1 m bucket of two days before is gone");
        assert_eq!(
            state.pruned[Level::Minute.index()].map(|p| p >= BASE_S - 60),
            Some(true)
        );
        let live = dump(&tree, &state);
        assert_eq!(live.keys().filter(|k| k.1 == Level::Hour).count(), 2);
    }

    #[test]
    fn a_deleted_host_starts_afresh() {
        let tree = temp_tree();
        let mut values = [None; 8];
        values[0] = Some(10.0);
        let at = BASE_S * 1_000_000;
        let delete = Event::HostDeleted(HostRef {
            hostname: "b".to_owned(),
        });
        let ops = vec![
            Op::Event(Box::new(sample("b", at, &values, &[]))),
            Op::Event(Box::new(sample("b-1", at, &values, &[]))),
            Op::Save,
            Op::Event(Box::new(delete)),
            Op::Event(Box::new(sample("b", at + 1, &values, &[]))),
        ];
        let mut state = run(&tree, &ops);
        save(&tree, &mut state, false);
        let live = dump(&tree, &state);
        for level in Level::ALL {
            let start = level.start_of(BASE_S);
            let key = |h: &str| (h.to_owned(), level, start, "cpu_percent".to_owned());
            assert_eq!(
                live[&key("b")].count,
                1,
                "b counts only its sample after the deletion"
            );
            assert_eq!(live[&key("b-1")].count, 1, "b-1 is untouched");
        }
    }

    #[test]
    fn levels_parse_and_suit_their_ranges() {
        for level in Level::ALL {
            assert_eq!(level.as_str().parse::<Level>(), Ok(level));
        }
        assert!("2m".parse::<Level>().is_err());
        let t = |h: i64| DateTime::from_timestamp(BASE_S + h * 3_600, 0).expect("valid");
        let newest = Some(BASE_S + 1_000 * 3_600);
        assert_eq!(Level::for_range(t(988), t(1000), newest), Level::Minute);
        assert_eq!(
            Level::for_range(t(987), t(1000), newest),
            Level::FiveMinutes
        );
        assert_eq!(
            Level::for_range(t(928), t(1000), newest),
            Level::FiveMinutes
        );
        assert_eq!(Level::for_range(t(927), t(1000), newest), Level::Hour);
        // A short range ten days back: 1 m buckets are gone by then, 5 m ones are not.
        assert_eq!(Level::for_range(t(760), t(761), newest), Level::FiveMinutes);
        assert_eq!(
            Level::for_range(t(0), t(1), Some(BASE_S + 100 * 86_400)),
            Level::Day
        );
        assert_eq!(Level::for_range(t(0), t(24 * 61), None), Level::Day);
        assert_eq!(Level::Day.bucket_start(t(5)).timestamp() % 86_400, 0);
    }
}
