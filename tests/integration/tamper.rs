//! Tamper evidence end to end: build a log, change its raw records behind the store's
//! back, and check that both `watchfire verify` and the in-process `EventStore::verify`
//! name the first bad position. Also: retention keeps the chains verifiable, and bad data
//! directories, read-only and full disks fail cleanly.
//!
//! The tampering tests are one suite run against both backends (`tamper::sled`,
//! `tamper::postgres`), through [`RawLog`]: on sled the records inside the log's blocks,
//! on PostgreSQL the rows of `wf_events`. Only `src/events` may know sled and PostgreSQL;
//! these tests open the log's storage directly because tampering with it is the point.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::runtime::Runtime;
use watchfire::events::{
    block_entries, decode_record, BlockBuilder, Chain, Event, ExpectedVersion, NewEvent, Position,
    RecordedEvent, StoreError, VerifyReport,
};

use crate::backends::{Backend, TestLog};
use crate::helpers::{
    fact, observation, open_store, run_cli, stream, wait_until_unlocked, TmpMount, BIN,
};

/// Events in a tamper test's log.
const EVENTS: u64 = 50;

fn runtime() -> Runtime {
    Runtime::new().expect("tokio runtime")
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Fact,
    Observation,
}

/// A closed log of [`EVENTS`] events (facts and observations on four streams).
struct Log {
    log: TestLog,
    kinds: BTreeMap<u64, Kind>,
}

impl Log {
    fn build(backend: Backend) -> Log {
        let log = backend.new_log("tamper");
        let kinds = append_events(&log, 0, EVENTS);
        assert_eq!(
            kinds.keys().copied().collect::<Vec<_>>(),
            (1..=EVENTS).collect::<Vec<_>>()
        );
        Log { log, kinds }
    }

    /// A position of `kind` near the middle of the log, with events of its chain before and after it.
    fn middle(&self, kind: Kind) -> u64 {
        let of_kind: Vec<u64> = self
            .kinds
            .iter()
            .filter(|(_, k)| **k == kind)
            .map(|(p, _)| *p)
            .collect();
        assert!(of_kind.len() >= 3, "the log has too few {kind:?} events");
        of_kind[of_kind.len() / 2]
    }
}

/// The `i`th test event: every third one is an observation, the others are facts.
fn test_event(i: u64) -> (NewEvent, Kind) {
    if i % 3 == 1 {
        (observation(i), Kind::Observation)
    } else {
        (fact(i), Kind::Fact)
    }
}

/// Opens the store of `log`, appends test events `from..from + count` one at a time,
/// closes and drops it; returns the kind of event at each new position.
fn append_events(log: &TestLog, from: u64, count: u64) -> BTreeMap<u64, Kind> {
    let rt = runtime();
    wait_until_unlocked(log.path());
    let store = log.open();
    let kinds = rt.block_on(async {
        let mut kinds = BTreeMap::new();
        for i in from..from + count {
            let (event, kind) = test_event(i);
            let s = stream(["alpha", "beta", "gamma", "delta"][(i % 4) as usize]);
            let out = store
                .append(s, ExpectedVersion::Any, vec![event])
                .await
                .expect("append");
            kinds.insert(out.first_position.0, kind);
        }
        store.close().await;
        kinds
    });
    // Dropping the store releases the data directory's lock (and sled's).
    drop(store);
    kinds
}

/// A log's stored records by position, changed behind the store's back.
trait RawLog {
    /// The record at `position`, if there is one.
    fn get(&self, position: u64) -> Option<Vec<u8>>;
    /// Puts `record` at `position`, replacing what is there.
    fn insert(&self, position: u64, record: Vec<u8>);
    /// Removes the record at `position`; panics if there is none.
    fn remove(&self, position: u64);
    /// Exchanges the records at `a` and `b`.
    fn swap(&self, a: u64, b: u64) {
        let (va, vb) = (raw(self, a), raw(self, b));
        self.insert(a, vb);
        self.insert(b, va);
    }
}

/// Opens the log's sled database directly, retrying briefly if the lock is still held.
fn open_sled(data_dir: &Path) -> ::sled::Db {
    let path = data_dir.join("log");
    assert!(path.is_dir(), "no sled database at {}", path.display());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ::sled::Config::new().path(&path).open() {
            Ok(db) => return db,
            Err(e) if Instant::now() < deadline => {
                eprintln!("sled does not open yet ({e}); retrying");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("cannot open {} with sled: {e}", path.display()),
        }
    }
}

/// A block's entries: each record with its position.
type Entries = Vec<(Position, Vec<u8>)>;

/// The sled log's records by position, read from and written back into its blocks.
struct SledRaw {
    tree: ::sled::Tree,
}

impl SledRaw {
    /// The block that holds (or would hold) `position`: its key and its entries.
    fn block(&self, position: u64) -> Option<(::sled::IVec, Entries)> {
        let (key, block) = self
            .tree
            .range(..=position.to_be_bytes())
            .next_back()?
            .expect("sled reads");
        let entries = block_entries(&block)
            .expect("a block")
            .map(|e| e.map(|(p, r)| (p, r.to_vec())).expect("a whole entry"))
            .collect();
        Some((key, entries))
    }

    fn store(&self, key: &[u8], entries: &[(Position, Vec<u8>)]) {
        if entries.is_empty() {
            self.tree.remove(key).expect("sled removes");
            return;
        }
        let mut block = BlockBuilder::default();
        for (p, r) in entries {
            block.push(*p, r);
        }
        self.tree.insert(key, block.finish()).expect("sled writes");
    }
}

impl RawLog for SledRaw {
    fn get(&self, position: u64) -> Option<Vec<u8>> {
        let (_, entries) = self.block(position)?;
        entries
            .into_iter()
            .find(|(p, _)| p.0 == position)
            .map(|(_, r)| r)
    }

    fn insert(&self, position: u64, record: Vec<u8>) {
        let Some((key, mut entries)) = self.block(position) else {
            self.store(&position.to_be_bytes(), &[(Position(position), record)]);
            return;
        };
        entries.retain(|(p, _)| p.0 != position);
        let at = entries.partition_point(|(p, _)| p.0 < position);
        entries.insert(at, (Position(position), record));
        self.store(&key, &entries);
    }

    fn remove(&self, position: u64) {
        let (key, mut entries) = self.block(position).expect("a block");
        let before = entries.len();
        entries.retain(|(p, _)| p.0 != position);
        assert_eq!(entries.len() + 1, before, "no record at {position}");
        self.store(&key, &entries);
    }
}

/// The PostgreSQL log's records by position: rows of `wf_events`, changed with SQL.
struct PgRaw<'a> {
    log: &'a TestLog,
}

/// `bytes` as a PostgreSQL `bytea` expression.
fn bytea(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("decode('{hex}', 'hex')")
}

/// `text` as a PostgreSQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl RawLog for PgRaw<'_> {
    fn get(&self, position: u64) -> Option<Vec<u8>> {
        let hex = self.log.psql(&format!(
            "SELECT encode(record, 'hex') FROM wf_events WHERE position = {position}"
        ));
        (!hex.is_empty()).then(|| {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex from encode()"))
                .collect()
        })
    }

    fn insert(&self, position: u64, record: Vec<u8>) {
        let replaced = self.log.psql(&format!(
            "UPDATE wf_events SET record = {} WHERE position = {position} RETURNING position",
            bytea(&record)
        ));
        if !replaced.is_empty() {
            return;
        }
        // A new row: the other columns as the record says (as a forger would write them),
        // under another stream if its (stream, version) is taken.
        let event = decode_record(&record).expect("a forged row's record decodes");
        let (stream, version) = (literal(event.stream.as_str()), event.version.0);
        let forged = literal(&format!("forged-{position}"));
        let observation = event.chain == Chain::Observations;
        let ts = event.timestamp.timestamp_nanos_opt().expect("a test time");
        let inserted = self.log.psql(&format!(
            "INSERT INTO wf_events (position, stream, version, observation, ts, record) \
             SELECT {position}, \
             CASE WHEN EXISTS (SELECT 1 FROM wf_events WHERE stream = {stream} \
             AND version = {version}) THEN {forged} ELSE {stream} END, \
             {version}, {observation}, {ts}, {} RETURNING position",
            bytea(&record)
        ));
        assert_eq!(inserted, position.to_string(), "inserting at {position}");
    }

    fn remove(&self, position: u64) {
        let removed = self.log.psql(&format!(
            "DELETE FROM wf_events WHERE position = {position} RETURNING position"
        ));
        assert_eq!(removed, position.to_string(), "no record at {position}");
    }
}

/// Runs `f` on the raw log (position → record) of the closed `log`; with sled, then
/// flushes and closes the database.
fn tamper<T>(log: &TestLog, f: impl FnOnce(&dyn RawLog) -> T) -> T {
    match log.backend {
        Backend::Sled => {
            let db = open_sled(log.path());
            assert!(
                db.tree_names().iter().any(|n| n.as_ref() == b"log"),
                "the database has no log tree"
            );
            let raw = SledRaw {
                tree: db.open_tree("log").expect("the log tree opens"),
            };
            assert!(!raw.tree.is_empty(), "the log tree is empty");
            let out = f(&raw);
            db.flush().expect("sled flushes the tampered log");
            drop(raw);
            drop(db);
            out
        }
        Backend::Postgres => {
            assert_ne!(
                log.psql("SELECT count(*) FROM wf_events"),
                "0",
                "the log table is empty"
            );
            f(&PgRaw { log })
        }
    }
}

fn raw(log: &(impl RawLog + ?Sized), position: u64) -> Vec<u8> {
    log.get(position)
        .unwrap_or_else(|| panic!("no record at {position}"))
}

/// Runs `watchfire verify` on `log`: (exit code, stdout, stderr).
fn cli_verify(log: &TestLog) -> (i32, String, String) {
    wait_until_unlocked(log.path());
    let args = log.verify_args();
    run_cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Runs `watchfire verify --data-dir dir`: (exit code, stdout, stderr).
fn cli_verify_dir(dir: &Path) -> (i32, String, String) {
    wait_until_unlocked(dir);
    let dir = dir.to_str().expect("utf-8 temp path");
    run_cli(&["verify", "--data-dir", dir])
}

/// The positions named by `TAMPERED at position N` lines.
fn tampered_positions(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("TAMPERED at position "))
        .map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits
                .parse()
                .expect("a position after 'TAMPERED at position'")
        })
        .collect()
}

/// The in-process report: opens the store, verifies, closes and drops it.
fn store_report(log: &TestLog) -> VerifyReport {
    let rt = runtime();
    wait_until_unlocked(log.path());
    let store = log.open();
    let report = store.verify().expect("verification runs");
    rt.block_on(store.close());
    drop(store);
    report
}

/// Asserts that the CLI and the store both verify the log as intact; returns the store's report.
fn assert_intact(log: &TestLog) -> VerifyReport {
    let (code, stdout, stderr) = cli_verify(log);
    assert_eq!(
        code, 0,
        "verify should pass; stdout: {stdout} stderr: {stderr}"
    );
    assert!(stdout.starts_with("intact: "), "stdout: {stdout}");
    let report = store_report(log);
    assert!(report.intact(), "in-process verify: {report:?}");
    report
}

/// Asserts that the CLI exits 1 naming exactly `position`, and that `store.verify()` names it too.
fn assert_tampered_at(log: &TestLog, position: u64) {
    let (code, stdout, stderr) = cli_verify(log);
    assert_eq!(
        code, 1,
        "verify should fail with exit 1; stdout: {stdout} stderr: {stderr}"
    );
    assert_eq!(
        tampered_positions(&stdout),
        vec![position],
        "verify should name position {position}; stdout: {stdout}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    let report = store_report(log);
    let problem = report
        .problem
        .unwrap_or_else(|| panic!("in-process verify found nothing; expected {position}"));
    assert_eq!(
        problem.position,
        Position(position),
        "in-process verify names the wrong position: {problem:?}"
    );
}

fn untouched_log_verifies_intact(backend: Backend) {
    let log = Log::build(backend);
    let (code, stdout, _) = cli_verify(&log.log);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("{EVENTS} events checked, last position {EVENTS}")),
        "stdout: {stdout}"
    );
    let report = assert_intact(&log.log);
    assert_eq!(report.checked, EVENTS);
    assert_eq!(report.last_position, Position(EVENTS));
}

fn flipped_byte_in_a_record_is_reported_at_its_position(backend: Backend) {
    // The last bytes of a record are its payload; byte 5 is inside the stored chain hash.
    for (kind, from_end) in [(Kind::Fact, 1), (Kind::Fact, 3), (Kind::Observation, 2)] {
        let log = Log::build(backend);
        let n = log.middle(kind);
        tamper(&log.log, |t| {
            let mut v = raw(t, n);
            let i = v.len() - from_end;
            v[i] ^= 0x01;
            t.insert(n, v);
        });
        assert_tampered_at(&log.log, n);
    }
    let log = Log::build(backend);
    let n = log.middle(Kind::Fact);
    tamper(&log.log, |t| {
        let mut v = raw(t, n);
        v[5] ^= 0x80;
        t.insert(n, v);
    });
    assert_tampered_at(&log.log, n);
}

fn deleted_fact_is_reported_at_its_position(backend: Backend) {
    let log = Log::build(backend);
    let n = log.middle(Kind::Fact);
    tamper(&log.log, |t| t.remove(n));
    assert_tampered_at(&log.log, n);
}

fn deleted_observation_is_reported_at_its_position(backend: Backend) {
    let log = Log::build(backend);
    let n = log.middle(Kind::Observation);
    tamper(&log.log, |t| t.remove(n));
    assert_tampered_at(&log.log, n);
}

fn swapped_records_are_reported_at_the_first_of_the_two(backend: Backend) {
    // Two facts, then an observation and the fact two positions later.
    for (a, b) in [(12, 27), (20, 22)] {
        let log = Log::build(backend);
        tamper(&log.log, |t| t.swap(a, b));
        assert_tampered_at(&log.log, a);
    }
}

fn forged_record_beyond_the_end_is_reported_at_its_key(backend: Backend) {
    // A copy of a fact, and a copy of the last event, appended under the next key.
    for copied in [10, EVENTS] {
        let log = Log::build(backend);
        let forged = EVENTS + 1;
        tamper(&log.log, |t| {
            let v = raw(t, copied);
            t.insert(forged, v);
        });
        assert_tampered_at(&log.log, forged);
    }
}

fn removed_last_event_is_reported(backend: Backend) {
    let log = Log::build(backend);
    tamper(&log.log, |t| t.remove(EVENTS));
    assert_tampered_at(&log.log, EVENTS);
}

/// What a log held before retention expired its observations.
struct BeforeRetention {
    facts: Vec<u64>,
    observations: Vec<u64>,
    /// The raw records of the observations, by position.
    raw_observations: Vec<(u64, Vec<u8>)>,
}

/// Appends interleaved facts and observations, then expires every observation.
fn log_after_retention(log: &TestLog) -> BeforeRetention {
    let kinds = append_events(log, 0, 30);
    let facts: Vec<u64> = kinds
        .iter()
        .filter(|(_, k)| **k == Kind::Fact)
        .map(|(p, _)| *p)
        .collect();
    let observations: Vec<u64> = kinds
        .iter()
        .filter(|(_, k)| **k == Kind::Observation)
        .map(|(p, _)| *p)
        .collect();
    let rt = runtime();
    wait_until_unlocked(log.path());
    let store = log.open();
    let raw_observations: Vec<(u64, Vec<u8>)> = store
        .read_raw(Position::START, usize::MAX)
        .expect("raw read")
        .into_iter()
        .filter(|(p, _)| observations.contains(&p.0))
        .map(|(p, v)| (p.0, v))
        .collect();
    assert_eq!(raw_observations.len(), observations.len());
    let outcome = rt
        .block_on(store.apply_retention(Utc::now() + chrono::Duration::seconds(1), 10_000))
        .expect("retention runs");
    assert_eq!(outcome.removed, observations.len() as u64, "{outcome:?}");
    assert_eq!(outcome.through, observations.last().copied().map(Position));
    assert!(!outcome.more && !outcome.deferred, "{outcome:?}");

    let left: Vec<RecordedEvent> = store.read_all(Position::START, usize::MAX).expect("read");
    assert_eq!(
        left.iter().map(|e| e.position.0).collect::<Vec<_>>(),
        facts,
        "retention must remove exactly the observations"
    );
    assert!(left
        .iter()
        .all(|e| matches!(e.event, Event::TokenRevoked(_))));
    let report = store.verify().expect("verify runs");
    assert!(report.intact(), "after retention: {report:?}");
    assert_eq!(report.checked, facts.len() as u64);
    rt.block_on(store.close());
    drop(store);
    BeforeRetention {
        facts,
        observations,
        raw_observations,
    }
}

fn retention_removes_observations_keeps_facts_and_verifies_then_tampering_fails(backend: Backend) {
    let log = backend.new_log("retention_then_tampering");
    let BeforeRetention { facts, .. } = log_after_retention(&log);
    assert_intact(&log);

    // Appending after retention keeps both chains verifiable.
    let more = append_events(&log, 100, 12);
    let report = assert_intact(&log);
    assert_eq!(report.checked, facts.len() as u64 + 12);
    let new_observations: Vec<u64> = more
        .iter()
        .filter(|(_, k)| **k == Kind::Observation)
        .map(|(p, _)| *p)
        .collect();
    assert!(new_observations.len() >= 2);

    // Deleting the first observation that retention did not remove is caught.
    let first = new_observations[0];
    tamper(&log, |t| t.remove(first));
    assert_tampered_at(&log, first);
}

fn restored_expired_observation_is_reported_at_its_key(backend: Backend) {
    // Putting back the original, well-formed record of an expired observation (into the gap
    // retention left) breaks the observation chain's restart after the retention anchor.
    for which in [0, usize::MAX] {
        let log = backend.new_log("restored_expired_observation");
        let before = log_after_retention(&log);
        let raws = before.raw_observations;
        let (position, bytes) = raws[which.min(raws.len() - 1)].clone();
        tamper(&log, |t| {
            assert!(t.get(position).is_none());
            t.insert(position, bytes);
        });
        assert_tampered_at(&log, position);
    }
}

fn forged_record_in_a_retention_gap_is_reported_at_its_key(backend: Backend) {
    let log = backend.new_log("forged_in_retention_gap");
    let BeforeRetention {
        facts,
        observations,
        ..
    } = log_after_retention(&log);
    let gap = observations[observations.len() / 2];
    tamper(&log, |t| {
        let v = raw(t, facts[facts.len() / 2]);
        t.insert(gap, v);
    });
    assert_tampered_at(&log, gap);
}

/// Instantiates the tamper suite for one backend, in the module it is called in.
macro_rules! tamper_suite {
    ($backend:expr) => {
        use crate::backends::Backend;

        const BACKEND: Backend = $backend;

        #[test]
        fn untouched_log_verifies_intact() {
            super::untouched_log_verifies_intact(BACKEND);
        }

        #[test]
        fn flipped_byte_in_a_record_is_reported_at_its_position() {
            super::flipped_byte_in_a_record_is_reported_at_its_position(BACKEND);
        }

        #[test]
        fn deleted_fact_is_reported_at_its_position() {
            super::deleted_fact_is_reported_at_its_position(BACKEND);
        }

        #[test]
        fn deleted_observation_is_reported_at_its_position() {
            super::deleted_observation_is_reported_at_its_position(BACKEND);
        }

        #[test]
        fn swapped_records_are_reported_at_the_first_of_the_two() {
            super::swapped_records_are_reported_at_the_first_of_the_two(BACKEND);
        }

        #[test]
        fn forged_record_beyond_the_end_is_reported_at_its_key() {
            super::forged_record_beyond_the_end_is_reported_at_its_key(BACKEND);
        }

        #[test]
        fn removed_last_event_is_reported() {
            super::removed_last_event_is_reported(BACKEND);
        }

        #[test]
        fn retention_removes_observations_keeps_facts_and_verifies_then_tampering_fails() {
            super::retention_removes_observations_keeps_facts_and_verifies_then_tampering_fails(
                BACKEND,
            );
        }

        #[test]
        fn restored_expired_observation_is_reported_at_its_key() {
            super::restored_expired_observation_is_reported_at_its_key(BACKEND);
        }

        #[test]
        fn forged_record_in_a_retention_gap_is_reported_at_its_key() {
            super::forged_record_in_a_retention_gap_is_reported_at_its_key(BACKEND);
        }
    };
}

/// The tamper suite on sled: records changed inside the log's sled blocks.
mod sled {
    tamper_suite!(Backend::Sled);
}

/// The tamper suite on PostgreSQL: rows of `wf_events` changed with SQL.
mod postgres {
    tamper_suite!(Backend::Postgres);
}

// The tests below are sled's alone: they are about the data directory holding the log
// (a file or a foreign directory given as one, a missing one, a read-only or full disk),
// which a PostgreSQL log does not keep its events in.

/// A snapshot of every file under `dir`: relative path → contents (None for directories).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("dir entry").path();
            let rel = path.strip_prefix(dir).expect("inside").to_owned();
            if path.is_dir() {
                out.insert(rel, None);
                todo.push(path);
            } else {
                out.insert(rel, Some(std::fs::read(&path).expect("read file")));
            }
        }
    }
    out
}

#[test]
fn verify_refuses_a_file_as_data_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "not a log\n").expect("write");
    let (code, stdout, stderr) = cli_verify_dir(&file);
    assert_eq!(code, 2, "stdout: {stdout} stderr: {stderr}");
    assert!(
        stderr.contains("not a watchfire data directory"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert_eq!(std::fs::read(&file).expect("read"), b"not a log\n");
}

#[test]
fn verify_refuses_a_non_empty_dir_without_marker_and_leaves_it_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("photos");
    std::fs::create_dir_all(target.join("2024")).expect("mkdir");
    std::fs::write(target.join("a.jpg"), [0xffu8, 0xd8, 0xff]).expect("write");
    std::fs::write(target.join("2024/b.txt"), "keep me").expect("write");
    let before = snapshot(&target);
    let (code, stdout, stderr) = cli_verify_dir(&target);
    assert_eq!(code, 2, "stdout: {stdout} stderr: {stderr}");
    assert!(
        stderr.contains("not a watchfire data directory"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert_eq!(snapshot(&target), before, "verify changed the directory");
}

#[test]
fn verify_reports_a_missing_data_dir_and_does_not_create_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nowhere");
    let (code, stdout, stderr) = cli_verify_dir(&missing);
    assert_eq!(code, 2, "stdout: {stdout} stderr: {stderr}");
    assert!(
        stderr.contains("no watchfire data directory"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(!missing.exists(), "verify created the data directory");
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` up to `limit`, killing it past that: (exit code if it exited, stdout, stderr).
fn wait_bounded(mut child: Child, limit: Duration) -> (Option<i32>, String, String) {
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        Some(s) => (Some(s.code().unwrap_or(-1)), stdout, stderr),
        None => (None, stdout, stderr),
    }
}

#[test]
fn serve_on_a_read_only_file_system_exits_with_a_clear_message() {
    let Some(mount) = TmpMount::new("4m") else {
        eprintln!("notice: cannot mount a tmpfs here; skipping the read-only serve test");
        return;
    };
    // A data directory made while the disk was writable, and one that does not exist yet.
    let existing = mount.path.join("data");
    append_events(&TestLog::sled_at(&existing), 0, 3);
    // A child forked meanwhile may hold the log's files open for a moment (see
    // `wait_until_unlocked`), and remounting read-only fails while files are open for writing.
    wait_until_unlocked(&existing);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !mount.make_read_only() {
        assert!(Instant::now() < deadline, "remounting read-only failed");
        std::thread::sleep(Duration::from_millis(50));
    }
    for dir in [existing, mount.path.join("fresh")] {
        let child = Command::new(BIN)
            .arg("serve")
            .arg("--data-dir")
            .arg(&dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("watchfire starts");
        let (code, stdout, stderr) = wait_bounded(child, Duration::from_secs(30));
        let code = code.unwrap_or_else(|| {
            panic!(
                "serve on a read-only disk ({}) did not exit; stderr: {stderr}",
                dir.display()
            )
        });
        assert_ne!(code, 0, "serve succeeded on a read-only disk");
        let all = format!("{stdout}\n{stderr}");
        assert!(
            all.to_lowercase().contains("read-only"),
            "the message should say read-only: {all}"
        );
        assert!(!all.contains("panicked"), "serve panicked: {all}");
    }
}

/// Set in the disk-filling child only: its data directory.
const FILL_VAR: &str = "WATCHFIRE_FILL_DIR";
/// Events per append in the disk-filling child.
const FILL_BATCH: u64 = 100;
/// Most appends the child tries before deciding the disk never fills.
const FILL_MAX_APPENDS: u64 = 5_000;
/// The number the child's one append after the failure carries (beyond every filling event).
const AGAIN_N: u64 = 1 << 40;
/// Longest any single store call may take in the child.
const CALL_LIMIT: Duration = Duration::from_secs(20);

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .expect("stdout is open");
}

fn variant(e: &StoreError) -> &'static str {
    match e {
        StoreError::Unavailable(_) => "Unavailable",
        StoreError::Storage(_) => "Storage",
        StoreError::Closed => "Closed",
        StoreError::Corrupt { .. } => "Corrupt",
        StoreError::Conflict { .. } => "Conflict",
        _ => "Other",
    }
}

/// The child: opens a store on a small tmpfs and appends until the disk is full.
#[test]
fn child_disk_filler() {
    let Some(dir) = std::env::var_os(FILL_VAR) else {
        return;
    };
    let rt = runtime();
    let store = open_store(Path::new(&dir));
    rt.block_on(async {
        for append in 0..FILL_MAX_APPENDS {
            let first_n = append * FILL_BATCH;
            let events = (first_n..first_n + FILL_BATCH).map(fact).collect();
            let call = store.append(stream("fill"), ExpectedVersion::Any, events);
            match tokio::time::timeout(CALL_LIMIT, call).await {
                Ok(Ok(out)) => say(&format!(
                    "ack {} {} {first_n}",
                    out.first_position.0,
                    out.last_position.0 - out.first_position.0 + 1
                )),
                Ok(Err(e)) => {
                    say(&format!("failed {} {e}", variant(&e)));
                    // Later appends fail at once too.
                    let again =
                        store.append(stream("fill"), ExpectedVersion::Any, vec![fact(AGAIN_N)]);
                    match tokio::time::timeout(CALL_LIMIT, again).await {
                        Ok(Ok(_)) => say("again ok"),
                        Ok(Err(e)) => say(&format!("again {} {e}", variant(&e))),
                        Err(_) => say("again hang"),
                    }
                    match tokio::time::timeout(CALL_LIMIT, store.close()).await {
                        Ok(()) => say("closed"),
                        Err(_) => say("close hang"),
                    }
                    return;
                }
                Err(_) => {
                    say("hang");
                    return;
                }
            }
        }
        say("never full");
    });
}

#[test]
fn full_disk_fails_appends_cleanly_and_keeps_every_acknowledged_event() {
    let Some(mount) = TmpMount::new("4m") else {
        eprintln!("notice: cannot mount a tmpfs here; skipping the full-disk test");
        return;
    };
    let data = mount.path.join("data");
    let child = crate::helpers::reexec("tamper::child_disk_filler")
        .env(FILL_VAR, &data)
        .spawn()
        .expect("the child starts");
    let (code, stdout, stderr) = wait_bounded(child, Duration::from_secs(60));
    let code = code.unwrap_or_else(|| panic!("filling the disk hung; stdout: {stdout}"));
    assert!(
        !stderr.contains("panicked"),
        "filling the disk panicked: {stderr}"
    );
    assert_eq!(
        code, 0,
        "the child failed; stdout: {stdout} stderr: {stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let failed = lines
        .iter()
        .find(|l| l.starts_with("failed ") || **l == "hang" || **l == "never full")
        .unwrap_or_else(|| panic!("no outcome from the child; stdout: {stdout}"));
    assert!(
        failed.starts_with("failed Unavailable ") || failed.starts_with("failed Storage "),
        "a full disk must fail the append with Unavailable or Storage, got: {failed}"
    );
    let again = lines.iter().find(|l| l.starts_with("again ")).copied();
    assert!(
        again.is_some_and(|a| a.starts_with("again Unavailable") || a.starts_with("again Storage")),
        "an append after the failure must fail too, got: {again:?}"
    );
    assert!(lines.contains(&"closed"), "close hung; stdout: {stdout}");
    let acks: Vec<(u64, u64, u64)> = lines
        .iter()
        .filter_map(|l| {
            let mut w = l.strip_prefix("ack ")?.split(' ').map(|x| x.parse::<u64>());
            Some((w.next()?.ok()?, w.next()?.ok()?, w.next()?.ok()?))
        })
        .collect();
    assert!(
        !acks.is_empty(),
        "nothing was appended before the disk filled"
    );
    eprintln!(
        "full disk: {} appends acknowledged, then: {failed}",
        acks.len()
    );

    let grown = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&mount.path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(grown, "remounting the tmpfs bigger failed");

    let rt = runtime();
    wait_until_unlocked(&data);
    let store = open_store(&data);
    let events = store
        .read_all(Position::START, usize::MAX)
        .expect("the log reads after the disk grew");
    let by_position: BTreeMap<u64, &Event> =
        events.iter().map(|e| (e.position.0, &e.event)).collect();
    for &(first, count, first_n) in &acks {
        for i in 0..count {
            let got = by_position
                .get(&(first + i))
                .unwrap_or_else(|| panic!("acknowledged event at {} is lost", first + i));
            assert_eq!(**got, fact(first_n + i).event, "event at {}", first + i);
        }
    }
    // Whatever else survived (an append that failed may still have reached the disk) is
    // whole appends at consecutive positions, never part of one.
    let carried = |e: &RecordedEvent| match &e.event {
        Event::TokenRevoked(t) => t.token_id.as_u128() as u64,
        _ => panic!("unexpected event at {}", e.position),
    };
    let filled: Vec<&RecordedEvent> = events.iter().filter(|e| carried(e) < AGAIN_N).collect();
    for (i, e) in filled.iter().enumerate() {
        assert_eq!(e.position.0, i as u64 + 1, "positions are not consecutive");
        assert_eq!(
            carried(e),
            i as u64,
            "event at {} is out of place",
            e.position
        );
    }
    assert_eq!(
        filled.len() as u64 % FILL_BATCH,
        0,
        "a partial append survived"
    );
    let report = store.verify().expect("verify runs");
    assert!(report.intact(), "after the disk filled: {report:?}");

    // With room again, appends work and the log still verifies.
    rt.block_on(async {
        store
            .append(
                stream("fill"),
                ExpectedVersion::Any,
                vec![fact(AGAIN_N + 1)],
            )
            .await
            .expect("append after the disk grew");
        store.close().await;
    });
    drop(store);
    assert_intact(&TestLog::sled_at(&data));
}
