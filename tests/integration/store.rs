//! The store against its contract: property tests for round-trips, optimistic
//! concurrency, subscriptions, and a model-based test against a plain `Vec` log.
//!
//! One suite, run against both backends: every test is a function of the [`Backend`],
//! instantiated by `store_suite!` in `store::sled` and `store::postgres`. Only
//! `stream_index_behind_the_log_is_rebuilt_on_open` is sled's alone: it checks sled's
//! own stream index, which PostgreSQL does not have (`wf_streams` is written in the
//! append's own transaction).

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use proptest::prelude::*;
use watchfire::events::{
    Chain, DataDir, Event, EventStore, ExpectedVersion, NewEvent, Position, StoreError,
    StoreOptions, StreamVersion,
};
use watchfire::projections::{self, Dashboard};

use crate::backends::Backend;
use crate::helpers::{fact, observation, open_store, runtime, stream, wait_until_unlocked};

fn event_for(n: u64, is_observation: bool) -> NewEvent {
    if is_observation {
        observation(n)
    } else {
        fact(n)
    }
}

/// Every appended batch reads back identically, by stream and from the whole log.
fn appended_batches_read_back_identically(
    backend: Backend,
    batches: Vec<(usize, Vec<(u32, bool)>)>,
) -> Result<(), TestCaseError> {
    let log = backend.new_log("appended_batches");
    let rt = runtime();
    let store = log.open();
    let mut expected: Vec<(String, NewEvent)> = Vec::new();
    rt.block_on(async {
        for (s, events) in &batches {
            let name = format!("monitor-{s}");
            let new: Vec<NewEvent> = events
                .iter()
                .map(|(n, obs)| event_for(u64::from(*n), *obs))
                .collect();
            let outcome = store
                .append(stream(&name), ExpectedVersion::Any, new.clone())
                .await
                .expect("append succeeds");
            prop_assert_eq!(
                outcome.last_position.0 - outcome.first_position.0 + 1,
                new.len() as u64
            );
            expected.extend(new.into_iter().map(|e| (name.clone(), e)));
        }
        Ok(())
    })?;
    let all = store
        .read_all(Position::START, usize::MAX)
        .expect("read all");
    prop_assert_eq!(all.len(), expected.len());
    for (i, (recorded, (name, new))) in all.iter().zip(&expected).enumerate() {
        prop_assert_eq!(recorded.position, Position(i as u64 + 1));
        prop_assert_eq!(recorded.stream.as_str(), name.as_str());
        prop_assert_eq!(&recorded.event, &new.event);
        prop_assert_eq!(&recorded.actor, &new.actor);
        prop_assert_eq!(recorded.correlation_id, new.correlation_id);
    }
    for s in 0..4 {
        let name = format!("monitor-{s}");
        let by_stream = store
            .read_stream(&stream(&name), StreamVersion(0), usize::MAX)
            .expect("read stream");
        let wanted: Vec<&Event> = expected
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, e)| &e.event)
            .collect();
        let got: Vec<&Event> = by_stream.iter().map(|r| &r.event).collect();
        prop_assert_eq!(got, wanted.clone());
        for (v, r) in by_stream.iter().enumerate() {
            prop_assert_eq!(r.version, StreamVersion(v as u64));
        }
        let head = store.stream_version(&stream(&name)).expect("head");
        prop_assert_eq!(
            head,
            (!wanted.is_empty()).then(|| StreamVersion(wanted.len() as u64 - 1))
        );
    }
    prop_assert!(store.verify().expect("verify runs").intact());
    rt.block_on(store.close());
    Ok(())
}

/// Concurrent appenders that all expect the same version: exactly one wins, the rest conflict and write nothing.
fn concurrent_appenders_with_one_expected_version_have_one_winner(
    backend: Backend,
    writers: usize,
    existing: u64,
) -> Result<(), TestCaseError> {
    let log = backend.new_log("concurrent_appenders");
    let rt = runtime();
    let store = log.open();
    let s = stream("monitor-race");
    rt.block_on(async {
        for i in 0..existing {
            store
                .append(s.clone(), ExpectedVersion::Any, vec![fact(i)])
                .await
                .expect("setup append");
        }
        let expected = if existing == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(StreamVersion(existing - 1))
        };
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let store = store.clone();
                let s = s.clone();
                tokio::spawn(async move {
                    store
                        .append(
                            s,
                            expected,
                            vec![fact(1000 + w as u64), fact(2000 + w as u64)],
                        )
                        .await
                })
            })
            .collect();
        let mut wins = 0;
        let mut conflicts = 0;
        for t in tasks {
            match t.await.expect("task runs") {
                Ok(_) => wins += 1,
                Err(StoreError::Conflict { .. }) => conflicts += 1,
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        prop_assert_eq!(wins, 1);
        prop_assert_eq!(conflicts, writers - 1);
        let events = store
            .read_stream(&s, StreamVersion(0), usize::MAX)
            .expect("read");
        prop_assert_eq!(events.len() as u64, existing + 2);
        store.close().await;
        Ok(())
    })
}

/// A subscription from any position sees every later event exactly once, in order, while appends go on.
fn subscription_from_any_position_sees_each_later_event_once_in_order(
    backend: Backend,
    before: u64,
    during: u64,
    start_frac: f64,
    live_buffer: usize,
) -> Result<(), TestCaseError> {
    let log = backend.new_log("subscription_from_any_position");
    let rt = runtime();
    let store = log.open_with(StoreOptions {
        live_buffer,
        cache_capacity_bytes: 16 << 20,
        ..StoreOptions::default()
    });
    rt.block_on(async {
        for i in 0..before {
            store
                .append(
                    stream("host-a"),
                    ExpectedVersion::Any,
                    vec![event_for(i, i % 3 == 0)],
                )
                .await
                .expect("append");
        }
        let after = Position((before as f64 * start_frac) as u64);
        let mut sub = store.subscribe(after);
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while n < during {
                    let k = (n % 5 + 1).min(during - n);
                    let batch: Vec<NewEvent> = (0..k)
                        .map(|j| event_for(10_000 + n + j, j % 2 == 0))
                        .collect();
                    store
                        .append(
                            stream(&format!("monitor-{}", n % 7)),
                            ExpectedVersion::Any,
                            batch,
                        )
                        .await
                        .expect("append");
                    n += k;
                }
            })
        };
        let last = before + during;
        let mut seen = Vec::new();
        while seen.last().copied().unwrap_or(after.0) < last {
            let e = tokio::time::timeout(Duration::from_secs(30), sub.next())
                .await
                .expect("no stall")
                .expect("next");
            seen.push(e.position.0);
        }
        writer.await.expect("writer");
        let wanted: Vec<u64> = (after.0 + 1..=last).collect();
        prop_assert_eq!(seen, wanted);
        store.close().await;
        Ok(())
    })
}

/// A subscriber that does not read while thousands of events arrive falls back to disk and still gets them all.
fn slow_subscriber_falls_back_to_disk_and_misses_nothing(backend: Backend) {
    let log = backend.new_log("slow_subscriber");
    let rt = runtime();
    let store = log.open_with(StoreOptions {
        live_buffer: 16,
        cache_capacity_bytes: 16 << 20,
        ..StoreOptions::default()
    });
    rt.block_on(async {
        store
            .append(stream("system"), ExpectedVersion::Any, vec![fact(0)])
            .await
            .expect("append");
        let mut sub = store.subscribe(Position::START);
        let first = sub.next().await.expect("first");
        assert_eq!(first.position, Position(1));
        // Now live; stop reading while 2,000 events go by (the live buffer holds 16).
        for i in 0..200u64 {
            let batch = (0..10).map(|j| observation(i * 10 + j)).collect();
            store
                .append(stream("host-b"), ExpectedVersion::Any, batch)
                .await
                .expect("append");
        }
        let reads_before = sub.disk_reads();
        let mut next = 2;
        while next <= 2001 {
            let e = sub.next().await.expect("next");
            assert_eq!(e.position, Position(next));
            next += 1;
        }
        assert!(
            sub.disk_reads() > reads_before,
            "the lagging subscriber read from disk"
        );
        store.close().await;
    });
}

/// Bad appends are refused with typed errors and write nothing.
fn bad_appends_are_refused_and_change_nothing(backend: Backend) {
    let log = backend.new_log("bad_appends");
    let rt = runtime();
    let store = log.open();
    rt.block_on(async {
        store
            .append(stream("alert-1"), ExpectedVersion::Any, vec![fact(1)])
            .await
            .expect("append");
        let empty = store
            .append(stream("alert-1"), ExpectedVersion::Any, vec![])
            .await;
        assert!(matches!(empty, Err(StoreError::EmptyAppend)));
        let huge = store
            .append(
                stream("alert-1"),
                ExpectedVersion::Any,
                (0..1001).map(fact).collect(),
            )
            .await;
        assert!(matches!(
            huge,
            Err(StoreError::AppendTooLarge {
                count: 1001,
                limit: 1000
            })
        ));
        let exists = store
            .append(stream("alert-1"), ExpectedVersion::NoStream, vec![fact(2)])
            .await;
        assert!(matches!(
            exists,
            Err(StoreError::Conflict {
                actual: Some(StreamVersion(0)),
                ..
            })
        ));
        let stale = store
            .append(
                stream("alert-1"),
                ExpectedVersion::Exact(StreamVersion(5)),
                vec![fact(3)],
            )
            .await;
        assert!(matches!(stale, Err(StoreError::Conflict { .. })));
        let missing = store
            .append(
                stream("alert-2"),
                ExpectedVersion::Exact(StreamVersion(0)),
                vec![fact(4)],
            )
            .await;
        assert!(matches!(
            missing,
            Err(StoreError::Conflict { actual: None, .. })
        ));
        assert_eq!(store.durable_position(), Position(1));
        assert_eq!(store.read_all(Position::START, 100).expect("read").len(), 1);
        store.close().await;
    });
    assert!(watchfire::events::StreamId::new("bad stream").is_err());
    assert!(watchfire::events::StreamId::new("").is_err());
    assert!(watchfire::events::StreamId::new("a".repeat(201)).is_err());
    assert!(watchfire::events::StreamId::new("nul\0byte").is_err());
}

/// One step of the model-based test.
#[derive(Clone, Debug)]
enum Op {
    Append {
        stream: usize,
        events: Vec<(u32, bool)>,
        expect: u8,
    },
    Restart,
    Rebuild,
    Retention,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..3, prop::collection::vec(any::<(u32, bool)>(), 1..6), 0u8..3)
            .prop_map(|(stream, events, expect)| Op::Append { stream, events, expect }),
        1 => Just(Op::Restart),
        1 => Just(Op::Rebuild),
        1 => Just(Op::Retention),
    ]
}

/// The model: the log as a plain vector of (position, stream, version, event).
#[derive(Default)]
struct Model {
    log: Vec<(u64, String, u64, Event)>,
    next: u64,
    heads: HashMap<String, u64>,
}

/// Random appends, restarts, rebuilds and retention passes keep the store equal to a plain Vec model.
fn store_matches_a_vec_model_through_restarts_rebuilds_and_retention(
    backend: Backend,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let log = backend.new_log("vec_model");
    let rt = runtime();
    let mut store = Some(log.open());
    let mut model = Model {
        next: 1,
        ..Model::default()
    };
    for op in ops {
        let s = store.as_ref().expect("store is open").clone();
        match op {
            Op::Append {
                stream: i,
                events,
                expect,
            } => {
                let name = format!("monitor-{i}");
                let head = model.heads.get(&name).copied();
                let (expected, should_succeed) = match (expect, head) {
                    (0, _) => (ExpectedVersion::Any, true),
                    (1, h) => (ExpectedVersion::NoStream, h.is_none()),
                    (_, Some(h)) => (ExpectedVersion::Exact(StreamVersion(h)), true),
                    (_, None) => (ExpectedVersion::Exact(StreamVersion(0)), false),
                };
                let new: Vec<NewEvent> = events
                    .iter()
                    .map(|(n, obs)| event_for(u64::from(*n), *obs))
                    .collect();
                let result = rt.block_on(s.append(stream(&name), expected, new.clone()));
                prop_assert_eq!(
                    result.is_ok(),
                    should_succeed,
                    "append {:?} on head {:?}",
                    expected,
                    head
                );
                if result.is_ok() {
                    let mut v = head.map_or(0, |h| h + 1);
                    for e in new {
                        model.log.push((model.next, name.clone(), v, e.event));
                        model.next += 1;
                        v += 1;
                    }
                    model.heads.insert(name, v - 1);
                }
            }
            Op::Restart => {
                drop(s);
                let old = store.take().expect("store is open");
                rt.block_on(old.close());
                drop(old);
                // The same log again: the same data directory and, on PostgreSQL, the same database.
                store = Some(log.open());
            }
            Op::Rebuild => {
                s.drop_checkpoints().expect("drop");
                let rebuilt: Dashboard = projections::rebuild(&s).expect("rebuild");
                let folded: Dashboard = projections::fold(
                    s.read_all(Position::START, usize::MAX).expect("read"),
                    Position(u64::MAX),
                );
                prop_assert_eq!(rebuilt, folded);
            }
            Op::Retention => {
                let outcome = rt
                    .block_on(
                        s.apply_retention(Utc::now() + chrono::Duration::seconds(1), 1_000_000),
                    )
                    .expect("retention");
                let before = model.log.len();
                model.log.retain(|(_, _, _, e)| e.chain() == Chain::Facts);
                prop_assert_eq!(outcome.removed as usize, before - model.log.len());
            }
        }
        let s = store.as_ref().expect("store is open");
        let all = s.read_all(Position::START, usize::MAX).expect("read all");
        let got: Vec<(u64, String, u64, Event)> = all
            .into_iter()
            .map(|r| {
                (
                    r.position.0,
                    r.stream.as_str().to_owned(),
                    r.version.0,
                    r.event,
                )
            })
            .collect();
        prop_assert_eq!(&got, &model.log);
        for (name, head) in &model.heads {
            prop_assert_eq!(
                s.stream_version(&stream(name)).expect("head"),
                Some(StreamVersion(*head))
            );
            // By stream, whole and from the middle: what retention left, in version order.
            let of_stream: Vec<(u64, u64)> = model
                .log
                .iter()
                .filter(|(_, n, _, _)| n == name)
                .map(|(p, _, v, _)| (*p, *v))
                .collect();
            let read = |from: u64, limit: usize| -> Vec<(u64, u64)> {
                s.read_stream(&stream(name), StreamVersion(from), limit)
                    .expect("read stream")
                    .into_iter()
                    .map(|r| (r.position.0, r.version.0))
                    .collect()
            };
            prop_assert_eq!(read(0, usize::MAX), of_stream.clone());
            let from = head / 2;
            let tail: Vec<(u64, u64)> = of_stream
                .iter()
                .filter(|(_, v)| *v >= from)
                .take(3)
                .copied()
                .collect();
            prop_assert_eq!(read(from, 3), tail, "{} from version {}", name, from);
        }
        let mut heads: Vec<(String, StreamVersion)> = model
            .heads
            .iter()
            .map(|(n, h)| (n.clone(), StreamVersion(*h)))
            .collect();
        heads.sort();
        prop_assert_eq!(s.streams().expect("streams"), heads);
        prop_assert_eq!(s.durable_position(), Position(model.next - 1));
        // A subscription from the start reads back what the model holds, gaps included.
        let mut sub = s.subscribe(Position::START);
        let followed: Vec<u64> = rt.block_on(async {
            let mut followed = Vec::new();
            for _ in 0..model.log.len() {
                let e = tokio::time::timeout(Duration::from_secs(30), sub.next())
                    .await
                    .expect("no stall")
                    .expect("next");
                followed.push(e.position.0);
            }
            followed
        });
        let held: Vec<u64> = model.log.iter().map(|(p, _, _, _)| *p).collect();
        prop_assert_eq!(followed, held);
        let report = s.verify().expect("verify runs");
        prop_assert!(report.intact(), "verify: {:?}", report.problem);
    }
    if let Some(s) = store {
        rt.block_on(s.close());
    }
    Ok(())
}

/// Checks that reads from every `step`th position, by stream and stream heads agree with `all`.
fn assert_reads_agree(store: &EventStore, all: &[watchfire::events::RecordedEvent], step: usize) {
    for after in (0..all.len()).step_by(step) {
        let got = store
            .read_all(Position(after as u64), 7)
            .expect("read from the middle");
        let want: Vec<Position> = all.iter().skip(after).take(7).map(|e| e.position).collect();
        assert_eq!(
            got.iter().map(|e| e.position).collect::<Vec<_>>(),
            want,
            "read after {after}"
        );
    }
    let mut by_stream: HashMap<&str, Vec<Position>> = HashMap::new();
    for e in all {
        by_stream
            .entry(e.stream.as_str())
            .or_default()
            .push(e.position);
    }
    for (name, positions) in by_stream {
        let read = store
            .read_stream(&stream(name), StreamVersion(0), usize::MAX)
            .expect("read stream");
        assert_eq!(
            read.iter().map(|e| e.position).collect::<Vec<_>>(),
            positions,
            "stream {name}"
        );
        let from = positions.len() / 2;
        let tail = store
            .read_stream(&stream(name), StreamVersion(from as u64), 3)
            .expect("read stream tail");
        assert_eq!(
            tail.iter().map(|e| e.position).collect::<Vec<_>>(),
            positions
                .iter()
                .skip(from)
                .take(3)
                .copied()
                .collect::<Vec<_>>(),
            "stream {name} from version {from}"
        );
        assert_eq!(
            store.stream_version(&stream(name)).expect("head"),
            Some(StreamVersion(positions.len() as u64 - 1))
        );
    }
}

fn large_concurrent_commits_read_back_from_any_position(backend: Backend) {
    let log = backend.new_log("large_concurrent_commits");
    let rt = runtime();
    let store = log.open();
    // Eight appends of 1,000 events arrive together: one commit, several blocks.
    rt.block_on(async {
        let tasks: Vec<_> = (0..8u64)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let events = (0..1000)
                        .map(|i| event_for(w * 1000 + i, i % 3 == 0))
                        .collect();
                    store
                        .append(stream(&format!("host-{w}")), ExpectedVersion::Any, events)
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task").expect("append");
        }
    });
    let all = store
        .read_all(Position::START, usize::MAX)
        .expect("read all");
    assert_eq!(all.len(), 8000);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.position, Position(i as u64 + 1));
    }
    assert_reads_agree(&store, &all, 331);
    assert!(store.verify().expect("verify").intact());
    rt.block_on(store.close());
    drop(store);
    let store = log.open();
    assert_reads_agree(&store, &all, 997);
    rt.block_on(store.close());
}

/// Opens the store once the threads of a dropped (not closed) one have let sled go.
fn reopen_when_released(dir: &std::path::Path) -> EventStore {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        wait_until_unlocked(dir);
        let data_dir = DataDir::create_or_open(dir).expect("data dir opens");
        match EventStore::open(data_dir, StoreOptions::default()) {
            Ok(store) => return store,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("store does not open yet: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("store does not open: {e}"),
        }
    }
}

/// sled only: sled's stream index trails its log and is caught up on open; PostgreSQL
/// writes `wf_streams` in the append's own transaction, so it has no such index to rebuild.
#[test]
fn stream_index_behind_the_log_is_rebuilt_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let store = open_store(dir.path());
    let append = |s: &str, n: u64, expected: ExpectedVersion| {
        rt.block_on(store.append(stream(s), expected, vec![fact(n)]))
            .expect("append")
    };
    for n in 0..30 {
        append(&format!("monitor-{}", n % 3), n, ExpectedVersion::Any);
    }
    // The index is written about once a second: this append writes the first thirty into it.
    std::thread::sleep(Duration::from_millis(1100));
    append("monitor-0", 30, ExpectedVersion::Exact(StreamVersion(9)));
    for n in 31..40 {
        append(&format!("monitor-{}", n % 4), n, ExpectedVersion::Any);
    }
    let all = store
        .read_all(Position::START, usize::MAX)
        .expect("read all");
    assert_eq!(all.len(), 40);
    // Dropped without `close`: the last appends are in the log but not in the index tree.
    drop(store);
    let store = reopen_when_released(dir.path());
    assert_eq!(
        store
            .read_all(Position::START, usize::MAX)
            .expect("read all"),
        all
    );
    assert_reads_agree(&store, &all, 1);
    assert!(store.verify().expect("verify").intact());
    // Expected versions carry on from the recovered heads, and positions from the log's end.
    let out = rt
        .block_on(store.append(
            stream("monitor-3"),
            ExpectedVersion::Exact(StreamVersion(2)),
            vec![fact(40)],
        ))
        .expect("append after recovery");
    assert_eq!(out.first_position, Position(41));
    assert_eq!(out.stream_version, StreamVersion(3));
    let conflict = rt.block_on(store.append(
        stream("monitor-0"),
        ExpectedVersion::Exact(StreamVersion(10)),
        vec![fact(41)],
    ));
    assert!(
        matches!(
            conflict,
            Err(StoreError::Conflict {
                actual: Some(StreamVersion(12)),
                ..
            })
        ),
        "{conflict:?}"
    );
    rt.block_on(store.close());
}

/// sled only (PostgreSQL ignores the hint): appends through an `unhurried` handle, whose
/// flush may be held back for company, are answered only once durable, an ordinary append
/// among them is answered too, and all of them are in the log after a drop without close.
#[test]
fn unhurried_appends_are_durable_once_answered_alongside_an_ordinary_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let store = open_store(dir.path());
    let unhurried = store.unhurried();
    rt.block_on(async {
        let tasks: Vec<_> = (0..20u64)
            .map(|n| {
                let unhurried = unhurried.clone();
                tokio::spawn(async move {
                    unhurried
                        .append(
                            stream(&format!("monitor-{}", n % 4)),
                            ExpectedVersion::Any,
                            vec![observation(n)],
                        )
                        .await
                })
            })
            .collect();
        store
            .append(stream("monitor-9"), ExpectedVersion::Any, vec![fact(100)])
            .await
            .expect("the ordinary append");
        for t in tasks {
            let out = t.await.expect("appender").expect("an unhurried append");
            assert!(store.durable_position() >= out.last_position);
        }
    });
    let all = store
        .read_all(Position::START, usize::MAX)
        .expect("read all");
    assert_eq!(all.len(), 21);
    // Dropped without `close`: what was answered was flushed.
    drop((store, unhurried));
    let store = reopen_when_released(dir.path());
    assert_eq!(
        store
            .read_all(Position::START, usize::MAX)
            .expect("read all"),
        all
    );
    assert!(store.verify().expect("verify").intact());
    rt.block_on(store.close());
}

/// Instantiates the suite for one backend, in the module it is called in; `cases` and
/// `model_cases` are the property tests' case counts.
macro_rules! store_suite {
    ($backend:expr, cases: $cases:expr, model_cases: $model_cases:expr) => {
        use proptest::prelude::*;

        use crate::backends::Backend;

        const BACKEND: Backend = $backend;

        proptest! {
            #![proptest_config(ProptestConfig { cases: $cases, ..ProptestConfig::default() })]

            #[test]
            fn appended_batches_read_back_identically(batches in prop::collection::vec((0usize..4, prop::collection::vec(any::<(u32, bool)>(), 1..20)), 1..12)) {
                super::appended_batches_read_back_identically(BACKEND, batches)?;
            }

            #[test]
            fn concurrent_appenders_with_one_expected_version_have_one_winner(writers in 2usize..16, existing in 0u64..4) {
                super::concurrent_appenders_with_one_expected_version_have_one_winner(BACKEND, writers, existing)?;
            }

            #[test]
            fn subscription_from_any_position_sees_each_later_event_once_in_order(before in 0u64..40, during in 1u64..300, start_frac in 0.0f64..=1.0, live_buffer in prop::sample::select(vec![16usize, 4096])) {
                super::subscription_from_any_position_sees_each_later_event_once_in_order(BACKEND, before, during, start_frac, live_buffer)?;
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: $model_cases, ..ProptestConfig::default() })]

            #[test]
            fn store_matches_a_vec_model_through_restarts_rebuilds_and_retention(ops in prop::collection::vec(super::op(), 1..30)) {
                super::store_matches_a_vec_model_through_restarts_rebuilds_and_retention(BACKEND, ops)?;
            }
        }

        #[test]
        fn slow_subscriber_falls_back_to_disk_and_misses_nothing() {
            super::slow_subscriber_falls_back_to_disk_and_misses_nothing(BACKEND);
        }

        #[test]
        fn bad_appends_are_refused_and_change_nothing() {
            super::bad_appends_are_refused_and_change_nothing(BACKEND);
        }

        #[test]
        fn large_concurrent_commits_read_back_from_any_position() {
            super::large_concurrent_commits_read_back_from_any_position(BACKEND);
        }
    };
}

/// The suite on sled.
mod sled {
    store_suite!(Backend::Sled, cases: 24, model_cases: 16);
}

/// The suite on PostgreSQL: fewer cases, as every commit there is a real fsync.
mod postgres {
    store_suite!(Backend::Postgres, cases: 16, model_cases: 12);
}
