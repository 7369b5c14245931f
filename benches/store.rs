//! Event store benchmarks: durable appends from concurrent writers, batches, and a full
//! replay (read, decode, verify the hash chain). Run with `cargo bench --bench store`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use watchfire::events::{decode_record, ChainVerifier, ExpectedVersion, Position, StreamId};

mod common;

use common::{check, open, runtime};

/// Single-event durable appends from 1, 8 and 64 concurrent writers, each to its own stream,
/// each figure on a fresh log.
fn concurrent_appends(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("append_single_event");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for writers in [1u64, 8, 64] {
        // A fresh log for each figure, so one does not pay for the data the last one wrote.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        let per_writer = 20_000 / writers.min(20);
        group.throughput(Throughput::Elements(writers * per_writer));
        group.bench_with_input(
            BenchmarkId::new("writers", writers),
            &writers,
            |b, &writers| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let started = Instant::now();
                        rt.block_on(async {
                            let tasks: Vec<_> = (0..writers)
                                .map(|w| {
                                    let store = store.clone();
                                    tokio::spawn(async move {
                                        let stream =
                                            StreamId::new(format!("monitor-{w}")).expect("id");
                                        for i in 0..per_writer {
                                            store
                                                .append(
                                                    stream.clone(),
                                                    ExpectedVersion::Any,
                                                    vec![check(i)],
                                                )
                                                .await
                                                .expect("append");
                                        }
                                    })
                                })
                                .collect();
                            for t in tasks {
                                t.await.expect("writer");
                            }
                        });
                        total += started.elapsed();
                    }
                    total
                })
            },
        );
        rt.block_on(store.close());
    }
    group.finish();
}

/// Durable appends of 100 events at a time from one writer.
fn batched_appends(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let stream = StreamId::new("host-bench").expect("id");
    let mut group = c.benchmark_group("append_batch");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(100));
    group.bench_function("100_events", |b| {
        b.iter(|| {
            rt.block_on(store.append(
                stream.clone(),
                ExpectedVersion::Any,
                (0..100).map(check).collect(),
            ))
            .expect("append")
        })
    });
    group.finish();
    rt.block_on(store.close());
}

/// Reads, decodes and verifies the hash chain of a 1,000,000-event log.
fn full_replay(c: &mut Criterion) {
    const EVENTS: u64 = 1_000_000;
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    rt.block_on(async {
        let mut n = 0;
        while n < EVENTS {
            let tasks: Vec<_> = (0..8)
                .map(|w| {
                    let store = store.clone();
                    let base = n + w * 1000;
                    tokio::spawn(async move {
                        let stream = StreamId::new(format!("monitor-{w}")).expect("id");
                        store
                            .append(
                                stream,
                                ExpectedVersion::Any,
                                (base..base + 1000).map(check).collect(),
                            )
                            .await
                            .expect("append")
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("writer");
            }
            n += 8000;
        }
    });
    let state = store.chain_state().expect("chain state");
    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(EVENTS));
    group.bench_function("1m_events_read_decode_verify", |b| {
        b.iter(|| {
            let mut verifier = ChainVerifier::new(state.clone());
            let mut after = Position::START;
            let mut decoded = 0u64;
            loop {
                let records = store.read_raw(after, 8192).expect("read");
                let Some((last, _)) = records.last() else {
                    break;
                };
                after = *last;
                for (pos, bytes) in &records {
                    assert!(verifier.check(*pos, bytes), "chain intact");
                    let e = decode_record(bytes).expect("decodes");
                    decoded += e.position.0 & 1;
                }
            }
            let report = verifier.finish();
            assert!(report.intact());
            assert_eq!(report.checked, EVENTS);
            decoded
        })
    });
    group.finish();
    rt.block_on(store.close());
}

criterion_group!(benches, concurrent_appends, batched_appends, full_replay);
criterion_main!(benches);
