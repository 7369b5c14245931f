//! Backup and restore throughput with the real binary: a log of monitor checks (1,000,000
//! by default, or `WATCHFIRE_BENCH_EVENTS`) is backed up, verified and restored, and the
//! records per second and sizes printed. Run with `cargo bench --bench backup`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use watchfire::events::{ExpectedVersion, StreamId};

mod common;

use common::{check, open, runtime};

const BIN: &str = env!("CARGO_BIN_EXE_watchfire");

/// Bytes under `path`, as `du` counts file lengths.
fn size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| size(&e.path())).sum())
        .unwrap_or(0)
}

/// Runs `watchfire args`, retrying while sled still holds the lock of a store just closed:
/// the seconds it took.
fn timed(args: &[&str]) -> f64 {
    for _ in 0..50 {
        let started = Instant::now();
        let out = Command::new(BIN)
            .args(args)
            .output()
            .expect("watchfire runs");
        let secs = started.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            eprint!("{stderr}");
            return secs;
        }
        if !stderr.contains("lock") {
            panic!("watchfire {args:?} failed: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the data directory stayed locked");
}

fn main() {
    let events: u64 = std::env::var("WATCHFIRE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let work = tempfile::tempdir().expect("tempdir");
    let data = work.path().join("data");
    let rt = runtime();
    let store = open(&data);
    rt.block_on(async {
        let mut n = 0;
        while n < events {
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
        store.close().await;
    });
    drop(store);
    let written = events.div_ceil(8000) * 8000;
    let path = |p: &Path| p.to_str().expect("UTF-8 temp path").to_owned();
    let file = work.path().join("log.wfbackup");
    let restored = work.path().join("restored");
    let backup = timed(&["backup", "--data-dir", &path(&data), "--out", &path(&file)]);
    let verify = timed(&["verify", "--backup", &path(&file)]);
    let restore = timed(&[
        "restore",
        "--from",
        &path(&file),
        "--data-dir",
        &path(&restored),
    ]);
    let per_s = |secs: f64| written as f64 / secs;
    println!(
        "{written} events: data dir log {} MB, backup file {} MB ({:.0} % of it), restored log {} MB",
        size(&data.join("log")) / 1_000_000,
        size(&file) / 1_000_000,
        100.0 * size(&file) as f64 / size(&data.join("log")).max(1) as f64,
        size(&restored.join("log")) / 1_000_000
    );
    println!(
        "backup {backup:.2} s ({:.0} records/s), verify --backup {verify:.2} s ({:.0} records/s), restore (with its verify) {restore:.2} s ({:.0} records/s)",
        per_s(backup),
        per_s(verify),
        per_s(restore)
    );
}
