//! Crash safety, in the style of sled's own crash tests: this test binary re-executes
//! itself as a child that appends concurrently and prints every acknowledged batch, the
//! parent kills it with SIGKILL at a random moment, then reopens the log and checks that
//! every acknowledged batch survived whole, that no batch survived in part, and that the
//! hash chains still verify. Each round appends on top of the previous rounds' log.
//!
//! sled only: these kill sled's writer in the middle of its own flushes. A PostgreSQL
//! log's durability is the database's commit (`synchronous_commit = on`), not ours.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Child;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio::runtime::Runtime;
use watchfire::events::{Event, ExpectedVersion, NewEvent, Position, StreamVersion};

use crate::helpers::{fact, observation, open_store, stream};
use crate::helpers::{reexec, wait_until_unlocked};

/// Set in the child only: the data directory it appends to.
const DIR_VAR: &str = "WATCHFIRE_CRASH_DIR";
/// Set in the child only: the round number, which keeps batch ids unique across rounds.
const ROUND_VAR: &str = "WATCHFIRE_CRASH_ROUND";
/// Concurrent appending tasks in the child.
const TASKS: u64 = 8;
/// Rounds of append-and-kill on the same data directory.
const ROUNDS: u64 = 16;
/// The child is killed this many milliseconds after it started appending (or, every
/// [`FROM_SPAWN_EVERY`]th round, after it was spawned, which may hit sled's recovery).
const KILL_AFTER_MS: std::ops::Range<u64> = 20..400;
/// Every this many rounds, the kill delay counts from the spawn instead.
const FROM_SPAWN_EVERY: u64 = 4;
/// How long the child may take to open the log.
const OPEN_LIMIT: Duration = Duration::from_secs(20);
/// A child that is somehow not killed stops appending by itself after this long.
const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// A batch id: unique over rounds and tasks.
fn batch_id(round: u64, task: u64, seq: u64) -> u64 {
    assert!(seq < 1 << 24 && task < 1 << 4);
    (round << 28) | (task << 24) | seq
}

/// The number an event carries: its batch, its index in the batch, and the batch's size.
fn encode(batch: u64, index: u64, size: u64) -> u64 {
    (batch << 16) | (index << 8) | size
}

/// The inverse of [`encode`]: (batch, index, size).
fn decode(n: u64) -> (u64, u64, u64) {
    (n >> 16, (n >> 8) & 0xff, n & 0xff)
}

/// Some events of a batch are observations (their own hash chain), the others facts.
fn is_observation(batch: u64, index: u64) -> bool {
    (batch + index).is_multiple_of(3)
}

/// The event at `index` of batch `batch` of `size` events.
fn batch_event(batch: u64, index: u64, size: u64) -> NewEvent {
    let n = encode(batch, index, size);
    if is_observation(batch, index) {
        observation(n)
    } else {
        fact(n)
    }
}

/// The number a logged event carries, if it is one of ours.
fn carried(event: &Event) -> Option<u64> {
    match event {
        Event::TokenRevoked(e) => u64::try_from(e.token_id.as_u128()).ok(),
        Event::MonitorChecked(e) => u64::try_from(e.monitor_id.as_u128()).ok(),
        _ => None,
    }
}

fn task_stream(task: u64) -> String {
    format!("crash-{task}")
}

/// The child: appends batches from concurrent tasks until it is killed, acknowledging each on stdout.
#[test]
fn child_appender() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return;
    };
    let round: u64 = std::env::var(ROUND_VAR)
        .ok()
        .and_then(|r| r.parse().ok())
        .expect("the parent sets the round");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("child runtime");
    wait_until_unlocked(Path::new(&dir));
    let store = open_store(Path::new(&dir));
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready")
            .and_then(|()| out.flush())
            .expect("stdout is open");
    }
    let deadline = Instant::now() + CHILD_LIMIT;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::from_entropy();
                let mut seq = 0;
                while Instant::now() < deadline {
                    let batch = batch_id(round, task, seq);
                    seq += 1;
                    let size: u64 = rng.gen_range(1..=5);
                    let events = (0..size).map(|i| batch_event(batch, i, size)).collect();
                    let outcome = store
                        .append(stream(&task_stream(task)), ExpectedVersion::Any, events)
                        .await
                        .unwrap_or_else(|e| panic!("append of batch {batch} failed: {e}"));
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {batch} {} {size}", outcome.first_position.0)
                        .and_then(|()| out.flush())
                        .expect("stdout is open");
                }
            }));
        }
        for t in tasks {
            t.await.expect("appending task");
        }
    });
}

/// An acknowledgement the child printed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Ack {
    first: u64,
    count: u64,
}

fn parse_ack(line: &str) -> Option<(u64, Ack)> {
    let mut words = line.split_whitespace();
    if words.next() != Some("ack") {
        return None;
    }
    let batch = words.next()?.parse().ok()?;
    let first = words.next()?.parse().ok()?;
    let count = words.next()?.parse().ok()?;
    words
        .next()
        .is_none()
        .then_some((batch, Ack { first, count }))
}

/// Kills the child if the parent panics before it did so itself.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// One round: spawns the child, kills it `kill_after` after it started appending (or after
/// the spawn, if `from_spawn`), and returns (its stdout lines, its stderr).
fn run_child(
    dir: &Path,
    round: u64,
    kill_after: Duration,
    from_spawn: bool,
) -> (Vec<String>, String) {
    let spawned = Instant::now();
    let child = reexec("crash::child_appender")
        .env(DIR_VAR, dir)
        .env(ROUND_VAR, round.to_string())
        .spawn()
        .expect("the child starts");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = drain(child.0.stderr.take().expect("stderr is piped"));
    let mut lines = Vec::new();
    let start = if from_spawn {
        spawned
    } else {
        loop {
            match rx.recv_timeout(OPEN_LIMIT.saturating_sub(spawned.elapsed())) {
                // The harness printed "test crash::child_appender ... " without a newline before it.
                Ok(line) if line.ends_with("ready") => break Instant::now(),
                Ok(line) => lines.push(line),
                Err(e) => {
                    let _ = child.0.kill();
                    let status = child.0.wait();
                    let stderr = stderr.join().unwrap_or_default();
                    panic!(
                        "round {round}: the child did not open the log ({e}, {:?} after spawn, \
                         {status:?}); stderr:\n{stderr}",
                        spawned.elapsed()
                    );
                }
            }
        }
    };
    std::thread::sleep(kill_after.saturating_sub(start.elapsed()));
    // SAFETY: kill(2) on the pid of a child we have not yet waited for.
    let killed = unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGKILL) };
    assert_eq!(killed, 0, "SIGKILL to the child failed");
    let status = child.0.wait().expect("the child is reaped");
    reader.join().expect("stdout reader");
    lines.extend(rx.try_iter());
    let stderr = stderr.join().expect("stderr reader");
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "round {round}: the child ended before it was killed ({status}); stderr:\n{stderr}"
    );
    (lines, stderr)
}

/// What the reopened log holds, checked; returns (events, batches present).
fn check_log(rt: &Runtime, dir: &Path, acked: &BTreeMap<u64, Ack>, round: u64) -> (usize, usize) {
    wait_until_unlocked(dir);
    let store = open_store(dir);
    let events = store
        .read_all(Position::START, usize::MAX)
        .expect("the reopened log reads");

    // Positions strictly increase, and (with no retention) leave no gap.
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.position,
            Position(i as u64 + 1),
            "round {round}: positions are not 1, 2, 3, ... at index {i}"
        );
    }
    assert_eq!(store.durable_position(), Position(events.len() as u64));

    // Group the events by batch, checking each payload against what its batch must hold.
    let mut batches: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut versions: HashMap<String, u64> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let n = carried(&e.event)
            .unwrap_or_else(|| panic!("round {round}: unexpected event at {}", e.position));
        let (batch, index, size) = decode(n);
        assert_eq!(
            e.event,
            batch_event(batch, index, size).event,
            "round {round}: payload at {} is not event {index} of batch {batch}",
            e.position
        );
        batches.entry(batch).or_default().push(i);
        let next = versions.entry(e.stream.as_str().to_owned()).or_insert(0);
        assert_eq!(
            e.version.0, *next,
            "round {round}: stream {} skips a version at {}",
            e.stream, e.position
        );
        *next += 1;
    }

    // No batch is partially present: each is whole, in order, at consecutive positions, on its stream.
    for (batch, at) in &batches {
        let (_, _, size) = decode(carried(&events[at[0]].event).unwrap_or_default());
        assert_eq!(
            at.len() as u64,
            size,
            "round {round}: batch {batch} is partially present ({} of {size} events)",
            at.len()
        );
        let task = (batch >> 24) & 0xf;
        for (index, &i) in at.iter().enumerate() {
            let e = &events[i];
            assert_eq!(
                decode(carried(&e.event).unwrap_or_default()).1,
                index as u64
            );
            assert_eq!(
                e.position,
                Position(events[at[0]].position.0 + index as u64)
            );
            assert_eq!(e.stream.as_str(), task_stream(task));
        }
    }

    // Every acknowledged batch is present, whole, where its acknowledgement said.
    for (batch, ack) in acked {
        let at = batches.get(batch).unwrap_or_else(|| {
            panic!("round {round}: acknowledged batch {batch} at {ack:?} is lost")
        });
        assert_eq!(
            events[at[0]].position,
            Position(ack.first),
            "round {round}: batch {batch} moved"
        );
        assert_eq!(at.len() as u64, ack.count, "round {round}: batch {batch}");
    }

    // The stream index agrees with the log: what it did not hold yet is read back from the log on open.
    for task in 0..TASKS {
        let s = stream(&task_stream(task));
        let indexed: Vec<Position> = store
            .read_stream(&s, StreamVersion(0), usize::MAX)
            .expect("stream reads")
            .iter()
            .map(|e| e.position)
            .collect();
        let logged: Vec<Position> = events
            .iter()
            .filter(|e| e.stream == s)
            .map(|e| e.position)
            .collect();
        assert_eq!(indexed, logged, "round {round}: the index of {s} disagrees");
        let version = store.stream_version(&s).expect("stream version");
        assert_eq!(
            version,
            logged.len().checked_sub(1).map(|v| StreamVersion(v as u64)),
            "round {round}: the head of {s} disagrees"
        );
    }

    let report = store.verify().expect("verification runs");
    assert!(
        report.intact(),
        "round {round}: the log does not verify after the crash: {report:?}"
    );
    assert_eq!(report.checked, events.len() as u64);
    rt.block_on(store.close());
    drop(store);
    (events.len(), batches.len())
}

/// SIGKILL at a random moment never loses an acknowledged batch, never leaves part of a
/// batch, keeps positions strictly increasing and keeps the hash chains intact.
#[test]
fn sigkill_keeps_acknowledged_batches_whole_and_chains_intact() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = Runtime::new().expect("runtime");
    let mut rng = rand::thread_rng();
    let mut acked: BTreeMap<u64, Ack> = BTreeMap::new();
    let started = Instant::now();
    let mut rounds_with_acks = 0;
    for round in 0..ROUNDS {
        let kill_after = Duration::from_millis(rng.gen_range(KILL_AFTER_MS));
        let from_spawn = round % FROM_SPAWN_EVERY == FROM_SPAWN_EVERY - 1;
        let (lines, stderr) = run_child(dir.path(), round, kill_after, from_spawn);
        let mut new_acks = 0;
        for line in &lines {
            if let Some((batch, ack)) = parse_ack(line) {
                let before = acked.insert(batch, ack);
                assert!(before.is_none(), "batch {batch} acknowledged twice");
                new_acks += 1;
            }
        }
        if new_acks > 0 {
            rounds_with_acks += 1;
        }
        let (events, batches) = check_log(&rt, dir.path(), &acked, round);
        eprintln!(
            "crash round {round}: killed {kill_after:?} after {}, {new_acks} new acks, \
             log holds {events} events in {batches} batches ({} acknowledged), {:?} so far",
            if from_spawn { "spawn" } else { "ready" },
            acked.len(),
            started.elapsed()
        );
        if new_acks == 0 && !stderr.is_empty() {
            eprintln!("crash round {round}: child stderr:\n{stderr}");
        }
    }
    assert!(
        rounds_with_acks >= ROUNDS / 2,
        "only {rounds_with_acks} of {ROUNDS} rounds acknowledged anything: the test proves little"
    );
}
