//! The shared log backend on PostgreSQL: several watchfire nodes append to and follow
//! one log in one database, with the same guarantees as the sled log.
//!
//! Tables (created on first open, under an advisory lock so nodes starting together
//! create them once):
//! - `wf_meta`: one row holding the next position, the chain state (both chain heads and
//!   the retention anchor) and the last timestamp. Every append transaction takes this
//!   row `FOR UPDATE` first, so positions are assigned under one lock: they are
//!   contiguous, and a transaction that holds position N+1 can only commit after the one
//!   holding N has, so no reader ever sees N+1 before N.
//! - `wf_events`: one row per event: position, stream, version, whether it is an
//!   observation, its timestamp, and the record bytes (the same bytes and chain hash as
//!   the sled log). `(stream, version)` is unique.
//! - `wf_streams`: each stream's last version and position, for expected-version checks.
//! - `wf_nodes`: the nodes sharing the log, with their heartbeats (the database's clock).
//! - `wf_leases`: which node owns which thing until when, with a fencing token raised at
//!   every acquisition; a lease given up is expired, never deleted, so its token only
//!   ever rises. Every statement locks lease rows in resource order, so appends (which
//!   share-lock the leases they are fenced by), renewals and takeovers never deadlock. An append made under a lease ([`Fence`]) is written only if the
//!   lease is unexpired and still at that token, checked in the append's transaction with
//!   the lease row locked `FOR SHARE`, so no takeover commits in between.
//!
//! One writer task per node gathers concurrent appends into one transaction (group
//! commit) on a connection with `synchronous_commit = on`, and `NOTIFY wf_log` in it.
//! One follower task per node reads every committed event after the last it published,
//! in position order, publishes them to this node's subscribers and answers this node's
//! appenders: it wakes on this node's commits, on `LISTEN wf_log` (other nodes'
//! commits), and once a second only while the listening connection is down.
//!
//! The client is asynchronous and runs on a small runtime of its own, so the store's
//! blocking reads can be called from any thread, an actor's included.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::chain::{Chain, ChainLink, ChainState, ChainVerifier, VerifyReport};
use super::codec;
use super::datadir::DataDir;
use super::store::{
    ask_retention, encode_append, expected_holds, queue, Accepted, AppendRequest, Core, LogBackend,
    Membership, NodeInfo, RecordVisitor, RetentionOutcome, StoreError, StoreOptions,
};
use super::tree::ProjectionTree;
use super::types::{AppendOutcome, Position, SharedEvent, StreamId, StreamVersion};

/// The channel every append transaction notifies.
const CHANNEL: &str = "wf_log";
/// Records read per query when scanning or following the log.
const READ_CHUNK: i64 = 1000;
/// How often the follower looks for new events while it cannot listen for them.
const UNHEARD_POLL: Duration = Duration::from_secs(1);
/// Longest wait between attempts to reconnect the listening connection.
const MAX_RECONNECT: Duration = Duration::from_secs(5);
/// Key of the advisory lock under which the tables are created.
const SCHEMA_LOCK: i64 = 0x7766_6c6f_6773;
/// Longest a writer's transaction may sit idle before the database ends it, releasing
/// the position lock; an append transaction never waits on its client for long.
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(2);
/// Reading connections a node keeps (each pipelines its queries).
const READERS: usize = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS wf_meta (
    id integer PRIMARY KEY CHECK (id = 1),
    next_position bigint NOT NULL,
    chain bytea NOT NULL,
    last_ts bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS wf_events (
    position bigint PRIMARY KEY,
    stream text NOT NULL,
    version bigint NOT NULL,
    observation boolean NOT NULL,
    ts bigint NOT NULL,
    record bytea NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS wf_events_stream_version ON wf_events (stream, version);
CREATE TABLE IF NOT EXISTS wf_streams (
    stream text PRIMARY KEY,
    version bigint NOT NULL,
    position bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS wf_nodes (
    node_id text PRIMARY KEY,
    addr text NOT NULL,
    started_at double precision NOT NULL,
    heartbeat_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS wf_leases (
    resource text PRIMARY KEY,
    owner text NOT NULL,
    token bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS wf_leases_owner ON wf_leases (owner);
";

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        // The database error's own message says more than the client's summary of it.
        match e.as_db_error() {
            Some(db) => StoreError::Storage(format!("PostgreSQL: {}", db.message())),
            None => StoreError::Storage(format!("PostgreSQL: {e}")),
        }
    }
}

/// A position as PostgreSQL's `bigint` holds it.
fn sql_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `bigint` read back as a position or version (never negative when written by us).
fn from_i64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Connects to `url` and keeps the connection running on the current runtime.
async fn connect(url: &str) -> Result<Client, StoreError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "a PostgreSQL connection of the log closed");
        }
    });
    Ok(client)
}

/// A few reading connections, reconnected when they drop.
struct Readers {
    url: String,
    clients: Vec<tokio::sync::Mutex<Option<Arc<Client>>>>,
    next: AtomicUsize,
}

impl Readers {
    fn new(url: &str) -> Readers {
        Readers {
            url: url.to_owned(),
            clients: (0..READERS)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// A live reading connection.
    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        let mut slot = self.clients[i].lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let fresh = Arc::new(connect(&self.url).await?);
        *slot = Some(fresh.clone());
        Ok(fresh)
    }
}

/// What the writer hands the follower: appends committed through `last`, to be answered
/// once the follower has published that far.
struct Committed {
    last: Position,
    accepted: Vec<Accepted>,
}

enum WriterMsg {
    Append(AppendRequest),
    Retain {
        cutoff: DateTime<Utc>,
        max: usize,
        reply: oneshot::Sender<Result<RetentionOutcome, StoreError>>,
    },
    /// Answered once everything queued before it is committed.
    Barrier(oneshot::Sender<()>),
}

/// The log in a PostgreSQL database.
pub struct PgLog {
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    to_writer: mpsc::Sender<WriterMsg>,
    readers: Arc<Readers>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// This node's own projection trees (read models are per node).
    local: sled::Db,
}

impl PgLog {
    /// Connects to the log at `url` (creating its tables if the database has none) and
    /// starts this node's writer and follower; projection trees go in `data_dir`.
    pub fn open(
        url: &str,
        data_dir: Option<&DataDir>,
        options: StoreOptions,
    ) -> Result<(Arc<Core>, Arc<dyn LogBackend>), StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wf-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Storage(format!("cannot start the PostgreSQL client: {e}")))?;
        let handle = runtime.handle().clone();
        let setup_url = url.to_owned();
        let durable = block_on(&handle, async move {
            let mut client = connect(&setup_url).await?;
            prepare(&mut client).await
        })
        .map_err(|e| match e {
            StoreError::Storage(m) => {
                StoreError::Storage(format!("cannot open the log at {}: {m}", redact(url)))
            }
            other => other,
        })?;
        let local = match data_dir {
            Some(dir) => sled::Config::new()
                .path(dir.path().join("projections"))
                .cache_capacity(options.cache_capacity_bytes)
                .flush_every_ms(None)
                .open()?,
            None => sled::Config::new().temporary(true).open()?,
        };
        let core = Arc::new(Core::new(options, durable));
        let readers = Arc::new(Readers::new(url));
        let (to_writer, writer_rx) = mpsc::channel(core.options.queue_capacity.max(1));
        let (to_follower, follower_rx) = mpsc::channel(1024);
        let (stop, stopped) = watch::channel(false);
        let heard = Arc::new(Notify::new());
        let listening = Arc::new(AtomicBool::new(false));
        let tasks = vec![
            handle.spawn(run_writer(
                url.to_owned(),
                core.clone(),
                writer_rx,
                to_follower,
            )),
            handle.spawn(run_follower(
                core.clone(),
                readers.clone(),
                follower_rx,
                heard.clone(),
                listening.clone(),
                stopped.clone(),
            )),
            handle.spawn(run_listener(url.to_owned(), heard, listening, stopped)),
        ];
        let log = PgLog {
            runtime: Mutex::new(Some(runtime)),
            handle,
            to_writer,
            readers,
            stop,
            tasks: Mutex::new(tasks),
            local,
        };
        Ok((core, Arc::new(log)))
    }

    /// Runs `work` with a reading connection on the client's runtime and waits for it
    /// (blocking: callable from any thread).
    fn read<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Client>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send,
    {
        let readers = self.readers.clone();
        block_on(&self.handle, async move {
            let client = readers.client().await?;
            work(client).await
        })
    }
}

impl Drop for PgLog {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.lock().ok().and_then(|mut r| r.take()) {
            runtime.shutdown_background();
        }
    }
}

/// A URL with its password left out, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let user = user.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Runs `work` on `handle`'s runtime and waits for its result on this thread, whatever
/// runtime (if any) this thread belongs to.
fn block_on<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv().map_err(|_| StoreError::Closed)?
}

/// Creates the tables if they are missing and answers the last position written.
async fn prepare(client: &mut Client) -> Result<Position, StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await?;
    tx.batch_execute(SCHEMA).await?;
    let empty = codec::encode_payload(&ChainState::default());
    tx.execute(
        "INSERT INTO wf_meta (id, next_position, chain, last_ts) VALUES (1, 1, $1, 0) \
         ON CONFLICT (id) DO NOTHING",
        &[&empty],
    )
    .await?;
    let next: i64 = tx
        .query_one("SELECT next_position FROM wf_meta WHERE id = 1", &[])
        .await?
        .get(0);
    tx.commit().await?;
    Ok(Position(from_i64(next).saturating_sub(1)))
}

/// The chain state as `wf_meta` holds it.
fn decode_chain(bytes: &[u8]) -> Result<ChainState, StoreError> {
    codec::decode_payload(bytes).map_err(|source| StoreError::Corrupt {
        position: Position::START,
        source,
    })
}

/// The writer: gathers appends into one transaction each (group commit).
async fn run_writer(
    url: String,
    core: Arc<Core>,
    mut rx: mpsc::Receiver<WriterMsg>,
    to_follower: mpsc::Sender<Committed>,
) {
    let mut writer = Writer {
        url,
        client: None,
        core,
        to_follower,
    };
    while let Some(first) = rx.recv().await {
        let mut msgs = vec![first];
        let mut events: usize = msgs.iter().map(msg_events).sum();
        while events < writer.core.options.max_batch_events {
            match rx.try_recv() {
                Ok(m) => {
                    events += msg_events(&m);
                    msgs.push(m);
                }
                Err(_) => break,
            }
        }
        let mut appends = Vec::new();
        for msg in msgs {
            // Whatever came before a retention pass or a barrier is committed first.
            match msg {
                WriterMsg::Append(request) => appends.push(request),
                WriterMsg::Retain { cutoff, max, reply } => {
                    writer.commit(std::mem::take(&mut appends)).await;
                    let _ = reply.send(writer.retain(cutoff, max).await);
                }
                WriterMsg::Barrier(reply) => {
                    writer.commit(std::mem::take(&mut appends)).await;
                    let _ = reply.send(());
                }
            }
        }
        writer.commit(appends).await;
    }
}

/// The writer's side of the database: its connection (opened on demand, dropped after a
/// failure) and where it hands what it committed.
struct Writer {
    url: String,
    client: Option<Client>,
    core: Arc<Core>,
    to_follower: mpsc::Sender<Committed>,
}

impl Writer {
    /// Commits `appends` in one transaction (see [`commit`]).
    async fn commit(&mut self, appends: Vec<AppendRequest>) {
        commit(
            &self.url,
            &mut self.client,
            &self.core,
            appends,
            &self.to_follower,
        )
        .await;
    }

    /// One retention pass (see [`retain`]).
    async fn retain(
        &mut self,
        cutoff: DateTime<Utc>,
        max: usize,
    ) -> Result<RetentionOutcome, StoreError> {
        let outcome = match writer_client(&self.url, &mut self.client).await {
            Ok(c) => retain(c, cutoff, max).await,
            Err(e) => Err(e),
        };
        if outcome.is_err() {
            self.client = None;
        }
        outcome
    }
}

fn msg_events(msg: &WriterMsg) -> usize {
    match msg {
        WriterMsg::Append(r) => r.events.len(),
        WriterMsg::Retain { .. } | WriterMsg::Barrier(_) => 1,
    }
}

/// The writer's connection, opened (with durable commits) if it has none.
async fn writer_client<'a>(
    url: &str,
    client: &'a mut Option<Client>,
) -> Result<&'a mut Client, StoreError> {
    if client.as_ref().is_some_and(|c| c.is_closed()) {
        *client = None;
    }
    if client.is_none() {
        let fresh = connect(url).await?;
        // An append is answered only once its commit is on the database's disk. A writer
        // that stops mid-transaction (a paused or hung node) would hold the position lock
        // that every node's appends wait for: the database ends such a transaction.
        fresh
            .batch_execute(&format!(
                "SET synchronous_commit = on; SET idle_in_transaction_session_timeout = {}",
                IDLE_IN_TRANSACTION.as_millis()
            ))
            .await?;
        *client = Some(fresh);
    }
    client
        .as_mut()
        .ok_or_else(|| StoreError::Storage("no connection to the log".to_owned()))
}

/// Commits `appends` in one transaction and hands what was accepted to the follower;
/// answers refused appends at once, and every append with the error if the commit fails.
async fn commit(
    url: &str,
    client: &mut Option<Client>,
    core: &Core,
    appends: Vec<AppendRequest>,
    to_follower: &mpsc::Sender<Committed>,
) {
    if appends.is_empty() {
        return;
    }
    let started = Instant::now();
    let mut accepted = Vec::new();
    let result = match writer_client(url, client).await {
        Ok(c) => transact(c, core, appends, &mut accepted).await,
        Err(e) => Err(refuse_all(appends, e)),
    };
    match result {
        Ok(Some(last)) => {
            core.reached();
            core.metrics
                .flush_seconds
                .observe(started.elapsed().as_secs_f64());
            let count: u64 = accepted
                .iter()
                .map(|a| a.outcome.last_position.0 - a.outcome.first_position.0 + 1)
                .sum();
            core.metrics.appended.inc_by(count);
            core.metrics.commit_events.observe(count as f64);
            if let Err(mpsc::error::SendError(c)) =
                to_follower.send(Committed { last, accepted }).await
            {
                for a in c.accepted {
                    let _ = a.reply.send(Err(StoreError::Closed));
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            core.unreachable(&e.to_string());
            *client = None;
            for a in accepted {
                let _ = a.reply.send(Err(unavailable(&e)));
            }
        }
    }
}

/// The error an appender is told when the database could not take its events.
fn unavailable(e: &StoreError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Columns of the rows one transaction inserts.
#[derive(Default)]
struct Rows {
    positions: Vec<i64>,
    streams: Vec<String>,
    versions: Vec<i64>,
    observations: Vec<bool>,
    timestamps: Vec<i64>,
    records: Vec<Vec<u8>>,
}

/// Answers every append of a batch that could not be written with why.
fn refuse_all(appends: Vec<AppendRequest>, e: StoreError) -> StoreError {
    for a in appends {
        let _ = a.reply.send(Err(unavailable(&e)));
    }
    e
}

/// One group commit: places every append whose expected version holds (refusing the
/// others at once), and writes them; answers the last position, or `None` if nothing
/// was placed. Placed appends are moved to `accepted`.
async fn transact(
    client: &mut Client,
    core: &Core,
    appends: Vec<AppendRequest>,
    accepted: &mut Vec<Accepted>,
) -> Result<Option<Position>, StoreError> {
    let tx = client.transaction().await?;
    let meta = tx
        .query_one(
            "SELECT next_position, chain, last_ts FROM wf_meta WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await;
    let meta = match meta {
        Ok(m) => m,
        Err(e) => return Err(refuse_all(appends, e.into())),
    };
    let mut next = from_i64(meta.get::<_, i64>(0));
    let mut chain = match decode_chain(meta.get::<_, &[u8]>(1)) {
        Ok(c) => c,
        Err(e) => return Err(refuse_all(appends, e)),
    };
    let last_ts = DateTime::from_timestamp_nanos(meta.get::<_, i64>(2));
    let names: Vec<String> = appends
        .iter()
        .map(|a| a.stream.as_str().to_owned())
        .collect();
    let heads = match tx
        .query(
            "SELECT stream, version FROM wf_streams WHERE stream = ANY($1)",
            &[&names],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) => return Err(refuse_all(appends, e.into())),
    };
    let mut heads: HashMap<String, u64> = heads
        .iter()
        .map(|r| (r.get::<_, String>(0), from_i64(r.get::<_, i64>(1))))
        .collect();
    let fences: Vec<String> = appends
        .iter()
        .filter_map(|a| a.fence.as_ref().map(|f| f.resource.clone()))
        .collect();
    let mut live_leases: HashMap<String, u64> = HashMap::new();
    if !fences.is_empty() {
        // FOR SHARE: a takeover of these leases waits for this transaction to end.
        let leased = tx
            .query(
                "SELECT resource, token FROM wf_leases \
                 WHERE resource = ANY($1) AND expires_at > now() ORDER BY resource FOR SHARE",
                &[&fences],
            )
            .await;
        match leased {
            Ok(rows) => {
                live_leases = rows
                    .iter()
                    .map(|r| (r.get::<_, String>(0), from_i64(r.get::<_, i64>(1))))
                    .collect();
            }
            Err(e) => return Err(refuse_all(appends, e.into())),
        }
    }
    let now = core.options.clock.now().max(last_ts);
    let mut rows = Rows::default();
    let mut touched: HashMap<String, (u64, u64)> = HashMap::new();
    for a in appends {
        if let Some(reason) = core.failure() {
            let _ = a.reply.send(Err(StoreError::Unavailable(reason)));
            continue;
        }
        if let Some(fence) = &a.fence {
            if live_leases.get(&fence.resource) != Some(&fence.token) {
                core.metrics.fenced.inc();
                let _ = a.reply.send(Err(StoreError::Fenced {
                    resource: fence.resource.clone(),
                }));
                continue;
            }
        }
        let current = heads.get(a.stream.as_str()).copied();
        if !expected_holds(a.expected, current) {
            let _ = a.reply.send(Err(StoreError::Conflict {
                stream: a.stream,
                expected: a.expected,
                actual: current.map(StreamVersion),
            }));
            continue;
        }
        let first_position = Position(next);
        let first_version = current.map_or(0, |v| v + 1);
        let encoded = encode_append(
            &a.stream,
            a.events,
            first_position,
            first_version,
            now,
            &mut chain,
        );
        let count = encoded.len() as u64;
        for (record, event) in encoded {
            rows.positions.push(sql_i64(event.position.0));
            rows.streams.push(a.stream.as_str().to_owned());
            rows.versions.push(sql_i64(event.version.0));
            rows.observations.push(event.chain == Chain::Observations);
            rows.timestamps
                .push(now.timestamp_nanos_opt().unwrap_or(i64::MAX));
            rows.records.push(record);
        }
        next += count;
        let last_version = first_version + count - 1;
        heads.insert(a.stream.as_str().to_owned(), last_version);
        touched.insert(a.stream.as_str().to_owned(), (last_version, next - 1));
        accepted.push(Accepted {
            reply: a.reply,
            outcome: AppendOutcome {
                first_position,
                last_position: Position(next - 1),
                stream_version: StreamVersion(last_version),
                timestamp: now,
            },
            arrived: a.arrived,
        });
    }
    if accepted.is_empty() {
        tx.rollback().await?;
        return Ok(None);
    }
    tx.execute(
        "INSERT INTO wf_events (position, stream, version, observation, ts, record) \
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::boolean[], \
         $5::bigint[], $6::bytea[])",
        &[
            &rows.positions,
            &rows.streams,
            &rows.versions,
            &rows.observations,
            &rows.timestamps,
            &rows.records,
        ],
    )
    .await?;
    let (names, versions, positions) = touched.into_iter().fold(
        (Vec::new(), Vec::new(), Vec::new()),
        |(mut n, mut v, mut p), (stream, (version, position))| {
            n.push(stream);
            v.push(sql_i64(version));
            p.push(sql_i64(position));
            (n, v, p)
        },
    );
    tx.execute(
        "INSERT INTO wf_streams (stream, version, position) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[]) \
         ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version, \
         position = EXCLUDED.position",
        &[&names, &versions, &positions],
    )
    .await?;
    let chain_bytes = codec::encode_payload(&chain);
    let now_nanos = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
    tx.execute(
        "UPDATE wf_meta SET next_position = $1, chain = $2, last_ts = $3 WHERE id = 1",
        &[&sql_i64(next), &chain_bytes, &now_nanos],
    )
    .await?;
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANNEL, &(next - 1).to_string()],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(Position(next - 1)))
}

/// One retention pass in one transaction: removes the oldest expired observations
/// (up to `max`) and moves the retention anchor past them.
async fn retain(
    client: &mut Client,
    cutoff: DateTime<Utc>,
    max: usize,
) -> Result<RetentionOutcome, StoreError> {
    let tx = client.transaction().await?;
    let meta = tx
        .query_one("SELECT chain FROM wf_meta WHERE id = 1 FOR UPDATE", &[])
        .await?;
    let mut chain = decode_chain(meta.get::<_, &[u8]>(0))?;
    let after = chain.retention_anchor.position.map_or(0, |p| p.0);
    let cutoff_nanos = cutoff.timestamp_nanos_opt().unwrap_or(i64::MAX);
    let limit = sql_i64(max as u64 + 1);
    // Timestamps never go backwards, so the expired observations are a prefix.
    let rows = tx
        .query(
            "SELECT position, record FROM wf_events \
             WHERE observation AND position > $1 AND ts < $2 \
             ORDER BY position LIMIT $3",
            &[&sql_i64(after), &cutoff_nanos, &limit],
        )
        .await?;
    let more = rows.len() > max;
    let doomed = &rows[..rows.len().min(max)];
    let Some(last) = doomed.last() else {
        tx.rollback().await?;
        return Ok(RetentionOutcome {
            more,
            ..RetentionOutcome::default()
        });
    };
    let position = Position(from_i64(last.get::<_, i64>(0)));
    let raw = codec::decode_raw(last.get::<_, &[u8]>(1))
        .map_err(|source| StoreError::Corrupt { position, source })?;
    chain.retention_anchor = ChainLink {
        position: Some(position),
        hash: raw.hash,
    };
    let removed = tx
        .execute(
            "DELETE FROM wf_events WHERE observation AND position > $1 AND position <= $2",
            &[&sql_i64(after), &sql_i64(position.0)],
        )
        .await?;
    tx.execute(
        "UPDATE wf_meta SET chain = $1 WHERE id = 1",
        &[&codec::encode_payload(&chain)],
    )
    .await?;
    tx.commit().await?;
    Ok(RetentionOutcome {
        removed,
        through: Some(position),
        more,
        deferred: false,
    })
}

/// The follower: publishes every committed event in position order, and answers this
/// node's appenders once their events are published.
async fn run_follower(
    core: Arc<Core>,
    readers: Arc<Readers>,
    mut committed: mpsc::Receiver<Committed>,
    heard: Arc<Notify>,
    listening: Arc<AtomicBool>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut owed: Vec<Committed> = Vec::new();
    let mut poll = tokio::time::interval(UNHEARD_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            c = committed.recv() => match c {
                Some(c) => owed.push(c),
                None => break,
            },
            _ = heard.notified() => {}
            _ = poll.tick() => {
                if listening.load(Ordering::Acquire) && owed.is_empty() {
                    continue;
                }
            }
            _ = stopped.changed() => {
                while let Ok(c) = committed.try_recv() {
                    owed.push(c);
                }
                let _ = catch_up(&core, &readers).await;
                answer_published(&core, &mut owed);
                break;
            }
        }
        while let Ok(c) = committed.try_recv() {
            owed.push(c);
        }
        match catch_up(&core, &readers).await {
            Ok(()) => core.reached(),
            Err(e) => {
                core.unreachable(&e.to_string());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        answer_published(&core, &mut owed);
    }
    for c in owed {
        for a in c.accepted {
            let _ = a.reply.send(Err(StoreError::Closed));
        }
    }
}

/// Answers the appends whose events are all published.
fn answer_published(core: &Core, owed: &mut Vec<Committed>) {
    let durable = core.durable();
    owed.retain_mut(|c| {
        if c.last > durable {
            return true;
        }
        for a in c.accepted.drain(..) {
            core.answer(a);
        }
        false
    });
}

/// Publishes every committed event after the durable position, in order.
async fn catch_up(core: &Core, readers: &Readers) -> Result<(), StoreError> {
    loop {
        let after = core.durable();
        let client = readers.client().await?;
        let rows = client
            .query(
                "SELECT position, record FROM wf_events WHERE position > $1 \
                 ORDER BY position LIMIT $2",
                &[&sql_i64(after.0), &READ_CHUNK],
            )
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        let last = Position(from_i64(last.get::<_, i64>(0)));
        let mut events: Vec<SharedEvent> = Vec::with_capacity(rows.len());
        for row in &rows {
            let position = Position(from_i64(row.get::<_, i64>(0)));
            match codec::decode_record(row.get::<_, &[u8]>(1)) {
                Ok(e) => events.push(Arc::new(e)),
                // A record that does not decode was changed behind the log's back: verify
                // names it; followers go on past it rather than stop every read model.
                Err(e) => tracing::error!(%position, error = %e, "undecodable record in the log"),
            }
        }
        core.publish(last, events);
        if rows.len() < READ_CHUNK as usize {
            return Ok(());
        }
    }
}

/// Listens for other nodes' commits and wakes the follower; reconnects with backoff.
async fn run_listener(
    url: String,
    heard: Arc<Notify>,
    listening: Arc<AtomicBool>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let listen = async {
            let (client, mut connection) = tokio_postgres::connect(&url, NoTls).await?;
            let messages = async {
                loop {
                    match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        Some(Ok(AsyncMessage::Notification(_))) => heard.notify_one(),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(StoreError::from(e)),
                        None => return Ok(()),
                    }
                }
            };
            let subscribe = async {
                client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
                listening.store(true, Ordering::Release);
                // Anything committed before LISTEN took effect is read now.
                heard.notify_one();
                std::future::pending::<Result<(), StoreError>>().await
            };
            tokio::select! {
                r = messages => r,
                r = subscribe => r,
            }
        };
        let outcome: Result<(), StoreError> = tokio::select! {
            r = listen => r,
            _ = stopped.changed() => return,
        };
        listening.store(false, Ordering::Release);
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "not listening for the log's commits; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_RECONNECT);
    }
}

impl LogBackend for PgLog {
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
        let mut after = after;
        loop {
            let from = after;
            let rows: Vec<(Position, Vec<u8>)> = self.read(move |client| async move {
                let rows = client
                    .query(
                        "SELECT position, record FROM wf_events \
                         WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3",
                        &[&sql_i64(from.0), &sql_i64(through.0), &READ_CHUNK],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| (Position(from_i64(r.get(0))), r.get::<_, Vec<u8>>(1)))
                    .collect())
            })?;
            let full = rows.len() == READ_CHUNK as usize;
            for (position, record) in &rows {
                if !each(*position, record)? {
                    return Ok(());
                }
                after = *position;
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn stream_records(
        &self,
        stream: &StreamId,
        from: StreamVersion,
        limit: usize,
        through: Position,
    ) -> Result<Vec<(Position, Vec<u8>)>, StoreError> {
        let stream = stream.as_str().to_owned();
        let limit = sql_i64(limit as u64);
        self.read(move |client| async move {
            let rows = client
                .query(
                    "SELECT position, record FROM wf_events \
                     WHERE stream = $1 AND version >= $2 AND position <= $3 \
                     ORDER BY version LIMIT $4",
                    &[&stream, &sql_i64(from.0), &sql_i64(through.0), &limit],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| (Position(from_i64(r.get(0))), r.get::<_, Vec<u8>>(1)))
                .collect())
        })
    }

    fn stream_version(
        &self,
        stream: &StreamId,
        through: Position,
    ) -> Result<Option<StreamVersion>, StoreError> {
        let stream = stream.as_str().to_owned();
        self.read(move |client| async move {
            let head = client
                .query_opt(
                    "SELECT version, position FROM wf_streams WHERE stream = $1",
                    &[&stream],
                )
                .await?;
            let Some(head) = head else {
                return Ok(None);
            };
            if from_i64(head.get(1)) <= through.0 {
                return Ok(Some(StreamVersion(from_i64(head.get(0)))));
            }
            // The head is committed but not yet published here: the last published version.
            let row = client
                .query_opt(
                    "SELECT version FROM wf_events WHERE stream = $1 AND position <= $2 \
                     ORDER BY version DESC LIMIT 1",
                    &[&stream, &sql_i64(through.0)],
                )
                .await?;
            Ok(row.map(|r| StreamVersion(from_i64(r.get(0)))))
        })
    }

    fn streams(&self) -> Result<Vec<(String, StreamVersion)>, StoreError> {
        self.read(|client| async move {
            let rows = client
                .query(
                    "SELECT stream, version FROM wf_streams ORDER BY stream",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, String>(0), StreamVersion(from_i64(r.get(1)))))
                .collect())
        })
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.read(|client| async move {
            // One snapshot: the chain state and the rows it describes agree.
            client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            let result = async {
                let meta = client
                    .query_one("SELECT chain, next_position FROM wf_meta WHERE id = 1", &[])
                    .await?;
                let state = decode_chain(meta.get::<_, &[u8]>(0))?;
                let last = from_i64(meta.get::<_, i64>(1)).saturating_sub(1);
                let mut verifier = ChainVerifier::new(state);
                let mut after = 0i64;
                'chunks: loop {
                    let rows = client
                        .query(
                            "SELECT position, record FROM wf_events \
                             WHERE position > $1 ORDER BY position LIMIT $2",
                            &[&after, &READ_CHUNK],
                        )
                        .await?;
                    for row in &rows {
                        let position: i64 = row.get(0);
                        after = position;
                        if from_i64(position) > last {
                            verifier.unreadable(
                                Position(from_i64(position)),
                                "a row past the log's recorded end".to_owned(),
                            );
                            break 'chunks;
                        }
                        if !verifier.check(Position(from_i64(position)), row.get::<_, &[u8]>(1)) {
                            break 'chunks;
                        }
                    }
                    if rows.len() < READ_CHUNK as usize {
                        break;
                    }
                }
                Ok::<_, StoreError>(verifier.finish())
            }
            .await;
            client.batch_execute("COMMIT").await?;
            result
        })
    }

    fn chain_state(&self) -> Result<ChainState, StoreError> {
        self.read(|client| async move {
            let row = client
                .query_one("SELECT chain FROM wf_meta WHERE id = 1", &[])
                .await?;
            decode_chain(row.get::<_, &[u8]>(0))
        })
    }

    fn size_on_disk(&self) -> u64 {
        self.read(|client| async move {
            let row = client
                .query_one(
                    "SELECT pg_total_relation_size('wf_events') + pg_total_relation_size('wf_streams')",
                    &[],
                )
                .await?;
            Ok(from_i64(row.get(0)))
        })
        .unwrap_or(0)
    }

    fn membership(&self) -> Option<Arc<dyn Membership>> {
        Some(Arc::new(PgMembership {
            handle: self.handle.clone(),
            readers: self.readers.clone(),
        }))
    }

    fn projection_tree(&self, name: &str) -> Result<ProjectionTree, StoreError> {
        Ok(ProjectionTree::local(
            self.local.open_tree(format!("projection:{name}"))?,
        ))
    }

    fn drop_projection_tree(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.local.drop_tree(format!("projection:{name}"))?)
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let to_writer = self.to_writer.clone();
        let tasks: Vec<tokio::task::JoinHandle<()>> = match self.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        let stop = self.stop.clone();
        let local = self.local.clone();
        Box::pin(async move {
            // Everything queued is committed first; the follower publishes and answers it
            // before it stops.
            let (reply, answer) = oneshot::channel();
            if to_writer.send(WriterMsg::Barrier(reply)).await.is_ok() {
                let _ = answer.await;
            }
            let _ = stop.send(true);
            for t in tasks.into_iter().skip(1) {
                let _ = t.await;
            }
            let _ = tokio::task::spawn_blocking(move || local.flush()).await;
        })
    }
}

/// Membership and leases in the shared database.
struct PgMembership {
    handle: tokio::runtime::Handle,
    readers: Arc<Readers>,
}

impl PgMembership {
    /// Runs `work` with a connection on the client's runtime, from any runtime.
    fn run<T, F, Fut>(&self, work: F) -> BoxFuture<'static, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Client>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send,
    {
        let readers = self.readers.clone();
        let (tx, rx) = oneshot::channel();
        self.handle.spawn(async move {
            let result = match readers.client().await {
                Ok(client) => work(client).await,
                Err(e) => Err(e),
            };
            let _ = tx.send(result);
        });
        Box::pin(async move { rx.await.map_err(|_| StoreError::Closed)? })
    }
}

/// A lease's resource and token as a row answers them.
fn leases_of(rows: &[tokio_postgres::Row]) -> Vec<(String, u64)> {
    rows.iter()
        .map(|r| (r.get::<_, String>(0), from_i64(r.get::<_, i64>(1))))
        .collect()
}

impl Membership for PgMembership {
    fn heartbeat(
        &self,
        node: uuid::Uuid,
        addr: String,
        started: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Vec<NodeInfo>, StoreError>> {
        let started = started.timestamp_micros() as f64 / 1e6;
        self.run(move |client| async move {
            client
                .execute(
                    "INSERT INTO wf_nodes (node_id, addr, started_at, heartbeat_at) \
                     VALUES ($1, $2, $3, now()) ON CONFLICT (node_id) DO UPDATE \
                     SET addr = EXCLUDED.addr, started_at = EXCLUDED.started_at, \
                     heartbeat_at = now()",
                    &[&node.to_string(), &addr, &started],
                )
                .await?;
            let rows = client
                .query(
                    "SELECT node_id, addr, started_at, \
                     extract(epoch FROM now() - heartbeat_at)::float8 FROM wf_nodes \
                     WHERE heartbeat_at > now() - make_interval(secs => $1) ORDER BY node_id",
                    &[&ttl.as_secs_f64()],
                )
                .await?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    let id = uuid::Uuid::parse_str(r.get::<_, &str>(0)).ok()?;
                    let started = r.get::<_, f64>(2);
                    Some(NodeInfo {
                        id,
                        addr: r.get(1),
                        started_at: DateTime::from_timestamp_micros((started * 1e6) as i64)
                            .unwrap_or_default(),
                        heartbeat_age_s: r.get(3),
                    })
                })
                .collect())
        })
    }

    fn acquire(
        &self,
        node: uuid::Uuid,
        resources: Vec<String>,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Vec<(String, u64)>, StoreError>> {
        let mut resources = resources;
        // Rows are locked in the order given: one order everywhere leaves no deadlock.
        resources.sort_unstable();
        resources.dedup();
        self.run(move |client| async move {
            if resources.is_empty() {
                return Ok(Vec::new());
            }
            let rows = client
                .query(
                    "INSERT INTO wf_leases (resource, owner, token, expires_at) \
                     SELECT r, $1, 1, now() + make_interval(secs => $3) \
                     FROM unnest($2::text[]) AS r \
                     ON CONFLICT (resource) DO UPDATE SET owner = EXCLUDED.owner, \
                     token = wf_leases.token + 1, expires_at = EXCLUDED.expires_at \
                     WHERE wf_leases.expires_at < now() OR wf_leases.owner = EXCLUDED.owner \
                     RETURNING resource, token",
                    &[&node.to_string(), &resources, &ttl.as_secs_f64()],
                )
                .await?;
            Ok(leases_of(&rows))
        })
    }

    fn renew(
        &self,
        node: uuid::Uuid,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Vec<(String, u64)>, StoreError>> {
        self.run(move |client| async move {
            let rows = client
                .query(
                    "UPDATE wf_leases SET expires_at = now() + make_interval(secs => $2) \
                     WHERE resource IN (SELECT resource FROM wf_leases WHERE owner = $1 \
                     ORDER BY resource FOR UPDATE) RETURNING resource, token",
                    &[&node.to_string(), &ttl.as_secs_f64()],
                )
                .await?;
            Ok(leases_of(&rows))
        })
    }

    fn release(
        &self,
        node: uuid::Uuid,
        resources: Vec<String>,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        self.run(move |client| async move {
            client
                .execute(
                    "UPDATE wf_leases SET owner = '', expires_at = now() - interval '1 second' \
                     WHERE resource IN (SELECT resource FROM wf_leases \
                     WHERE owner = $1 AND resource = ANY($2) ORDER BY resource FOR UPDATE)",
                    &[&node.to_string(), &resources],
                )
                .await?;
            Ok(())
        })
    }

    fn owners(&self) -> BoxFuture<'static, Result<Vec<(String, uuid::Uuid)>, StoreError>> {
        self.run(|client| async move {
            let rows = client
                .query(
                    "SELECT resource, owner FROM wf_leases WHERE expires_at > now()",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    let owner = uuid::Uuid::parse_str(r.get::<_, &str>(1)).ok()?;
                    Some((r.get::<_, String>(0), owner))
                })
                .collect())
        })
    }

    fn leave(&self, node: uuid::Uuid) -> BoxFuture<'static, Result<(), StoreError>> {
        self.run(move |client| async move {
            client
                .execute(
                    "UPDATE wf_leases SET owner = '', expires_at = now() - interval '1 second' \
                     WHERE resource IN (SELECT resource FROM wf_leases WHERE owner = $1 \
                     ORDER BY resource FOR UPDATE)",
                    &[&node.to_string()],
                )
                .await?;
            client
                .execute(
                    "DELETE FROM wf_nodes WHERE node_id = $1",
                    &[&node.to_string()],
                )
                .await?;
            Ok(())
        })
    }
}
