//! Sustained durable appends: 64 writers (or the count given) append single events for
//! 20 seconds (or the seconds given), and the throughput is printed every second with the
//! log's size, to show how it holds up as the log grows.
//! Run with `cargo bench --bench sustained -- [writers] [seconds]`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchfire::events::{ExpectedVersion, StreamId};

mod common;

use common::{check, open, runtime};

/// The first two numeric arguments (cargo bench passes `--bench` too): writers and seconds.
fn arguments() -> (u64, u64) {
    let mut numbers = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let writers = numbers.next().unwrap_or(64).max(1);
    let seconds = numbers.next().unwrap_or(20).max(1);
    (writers, seconds)
}

fn main() {
    let (writers, seconds) = arguments();
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let appended = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reporter = {
        let (appended, done, store) = (appended.clone(), done.clone(), store.clone());
        std::thread::spawn(move || {
            let mut last = 0;
            let mut second = 0;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                if done.load(Ordering::Relaxed) {
                    break;
                }
                second += 1;
                let now = appended.load(Ordering::Relaxed);
                println!(
                    "second {second:>3}: {:>7} events/s, {:>9} events in the log, {:>5} MiB on disk",
                    now - last,
                    now,
                    store.size_on_disk() >> 20
                );
                last = now;
            }
        })
    };
    println!("{writers} writers, {seconds} s");
    let started = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let (store, appended) = (store.clone(), appended.clone());
                tokio::spawn(async move {
                    let stream = StreamId::new(format!("monitor-{w}")).expect("id");
                    let end = Instant::now() + Duration::from_secs(seconds);
                    let mut n = 0u64;
                    while Instant::now() < end {
                        store
                            .append(stream.clone(), ExpectedVersion::Any, vec![check(n)])
                            .await
                            .expect("append");
                        n += 1;
                        appended.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("writer");
        }
    });
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = reporter.join();
    let total = appended.load(Ordering::Relaxed);
    println!(
        "mean: {:.0} durable events/s ({total} events in {elapsed:.1?})",
        total as f64 / elapsed.as_secs_f64()
    );
    rt.block_on(store.close());
}
