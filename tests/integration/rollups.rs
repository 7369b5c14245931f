//! The host-metric rollups against a real store: every metric at every level, restarts
//! from the checkpoint in the tree, rebuilds, host deletion and retention.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use watchfire::events::{
    Actor, DiskUsage, Event, EventStore, ExpectedVersion, HostMetricsReported, HostRef, NewEvent,
    Position, SampleDetails, StreamId,
};
use watchfire::projections::{
    fold_buckets, rebuild_rollups, BucketMap, HostRollups, Level, Series,
};

use crate::helpers::open_store;

/// 2024-01-01T00:00:00Z.
fn base() -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200, 0).expect("a valid time")
}

/// A fresh current-thread runtime: a spawned task runs only while the test awaits, and
/// dropping the runtime ends the projection's task without a last save, as a crash would.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime builds")
}

/// Every metric name the sample of [`sample`] records.
const METRICS: [&str; 9] = [
    "cpu_percent",
    "memory_percent",
    "load1",
    "disk_percent:/",
    "disk_percent:/var",
    "net_tx_bytes_per_s",
    "net_rx_bytes_per_s",
    "disk_read_bytes_per_s",
    "disk_write_bytes_per_s",
];

/// The value of metric `m` in sample `i`: distinct per metric and sample.
fn value(m: usize, i: u32) -> f64 {
    (m as f64 + 1.0) * 1000.0 + f64::from(i * 7 % 23) + f64::from(i) / 64.0
}

/// A sample of `host` at `at` whose values come from [`value`] with `i`; every third sample
/// has no CPU figure.
fn sample(host: &str, at: DateTime<Utc>, i: u32) -> HostMetricsReported {
    HostMetricsReported {
        hostname: host.to_owned(),
        sampled_at: at,
        cpu_percent: (!i.is_multiple_of(3)).then(|| value(0, i)),
        cpu_count: Some(2),
        cpu_percent_per_core: vec![1.0, 2.0],
        load_average: Some([value(2, i), 0.5, 0.25]),
        memory_total: Some(1 << 30),
        memory_used: Some(1 << 29),
        memory_percent: Some(value(1, i)),
        disks: vec![
            DiskUsage {
                mountpoint: "/".to_owned(),
                total: 100,
                used: 10,
                percent: value(3, i),
            },
            DiskUsage {
                mountpoint: "/var".to_owned(),
                total: 100,
                used: 20,
                percent: value(4, i),
            },
        ],
        counters: [Some(1), Some(2), Some(3), Some(4)],
        rates: [
            Some(value(5, i)),
            Some(value(6, i)),
            Some(value(7, i)),
            Some(value(8, i)),
        ],
        details: SampleDetails::default(),
    }
}

/// The value `sample(_, _, i)` records for `metric`, if any.
fn recorded(metric: &str, i: u32) -> Option<f64> {
    let m = METRICS.iter().position(|n| *n == metric)?;
    (m != 0 || !i.is_multiple_of(3)).then(|| value(m, i))
}

fn metrics_event(m: HostMetricsReported) -> Event {
    Event::HostMetricsReported(Box::new(m))
}

fn deleted(host: &str) -> Event {
    Event::HostDeleted(HostRef {
        hostname: host.to_owned(),
    })
}

/// Appends `events`, each to its host's stream, and answers the last position.
async fn append(store: &EventStore, events: &[Event]) -> Position {
    let mut last = Position::START;
    for e in events {
        let host = match e {
            Event::HostMetricsReported(m) => &m.hostname,
            Event::HostDeleted(h) => &h.hostname,
            _ => "other",
        };
        let outcome = store
            .append(
                StreamId::host(host),
                ExpectedVersion::Any,
                vec![NewEvent::new(e.clone(), Actor::system())],
            )
            .await
            .expect("append succeeds");
        last = outcome.last_position;
    }
    last
}

/// Samples `0..n` of `host`, 37 s apart from `base()`, in a scrambled order.
fn samples(host: &str, n: u32) -> Vec<(u32, HostMetricsReported)> {
    let mut order: Vec<u32> = (0..n).collect();
    order.sort_by_key(|i| (i * 11) % n);
    order
        .into_iter()
        .map(|i| {
            (
                i,
                sample(host, base() + TimeDelta::seconds(37 * i64::from(i)), i),
            )
        })
        .collect()
}

/// The expected series of `metric` at `level` from samples `0..n` as [`samples`] makes them.
fn expected(metric: &str, level: Level, n: u32) -> Vec<(i64, u64, f64, f64, f64, f64)> {
    let w = level.bucket_seconds();
    let mut buckets: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
    for i in 0..n {
        let at = base().timestamp() + 37 * i64::from(i);
        if let Some(v) = recorded(metric, i) {
            buckets
                .entry(at.div_euclid(w) * w)
                .or_default()
                .push((at, v));
        }
    }
    buckets
        .into_iter()
        .map(|(start, vs)| {
            let min = vs.iter().map(|v| v.1).fold(f64::INFINITY, f64::min);
            let max = vs.iter().map(|v| v.1).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = vs.iter().map(|v| v.1).sum();
            let last = vs.iter().max_by_key(|v| v.0).map_or(f64::NAN, |v| v.1);
            (start, vs.len() as u64, min, max, sum, last)
        })
        .collect()
}

fn assert_series(series: &Series, metric: &str, n: u32) {
    let want = expected(metric, series.level, n);
    assert_eq!(
        series.points.len(),
        want.len(),
        "{metric} at {}",
        series.level
    );
    for (p, (start, count, min, max, sum, last)) in series.points.iter().zip(want) {
        let at = format!("{metric} at {} from {}", series.level, p.t);
        assert_eq!(p.t.timestamp(), start, "{at}");
        assert_eq!(p.count, count, "{at}");
        assert_eq!((p.min, p.max, p.last), (min, max, last), "{at}");
        assert!(
            (p.sum - sum).abs() <= sum.abs() * 1e-12,
            "{at}: {} vs {sum}",
            p.sum
        );
        assert!(
            (p.avg - sum / count as f64).abs() <= p.avg.abs() * 1e-12,
            "{at}"
        );
    }
}

fn dump(rollups: &HostRollups) -> BucketMap {
    rollups.dump().expect("the rollups read back")
}

/// The keys the rollup tree holds for `host`.
fn tree_keys(store: &EventStore, host: &str) -> usize {
    let mut prefix = host.as_bytes().to_vec();
    prefix.push(0);
    store
        .projection_tree(HostRollups::NAME)
        .expect("the tree opens")
        .keys_with_prefix(prefix)
        .count()
}

/// Closes `store`, ends its runtime (and the tasks on it) and opens the store again.
fn reopen(dir: &Path, store: EventStore, rt: tokio::runtime::Runtime) -> EventStore {
    rt.block_on(store.close());
    drop(rt);
    reopen_closed(dir, store)
}

/// Opens a closed store again.
fn reopen_closed(dir: &Path, store: EventStore) -> EventStore {
    drop(store);
    open_store(dir)
}

#[test]
fn every_metric_at_every_level_holds_its_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let store = open_store(dir.path());
    let n = 120;
    rt.block_on(async {
        let mut events: Vec<Event> = samples("web-1", n)
            .into_iter()
            .map(|(_, s)| metrics_event(s))
            .collect();
        // Another host, and a name that shares web-1's prefix.
        events.push(metrics_event(sample("web-10", base(), 5)));
        events.push(metrics_event(sample("web", base(), 6)));
        let last = append(&store, &events[..60]).await;
        let rollups = HostRollups::start(store.clone()).expect("rollups start");
        rollups.caught_up(last).await;
        // Saved half-way: the rest merges into buckets read back from the tree.
        rollups.save().await.expect("rollups save");
        let last = append(&store, &events[60..]).await;
        rollups.caught_up(last).await;
        assert_eq!(rollups.applied_position(), last);

        let (since, until) = (base(), base() + TimeDelta::seconds(37 * i64::from(n)));
        for metric in METRICS {
            for level in Level::ALL {
                let series = rollups
                    .series("web-1", metric, since, until, Some(level))
                    .expect("a series reads");
                assert_eq!(series.level, level);
                assert_series(&series, metric, n);
            }
            let chosen = rollups
                .series("web-1", metric, since, until, None)
                .expect("a series reads");
            assert_eq!(chosen.level, Level::Minute, "a range of 74 minutes");
            assert_series(&chosen, metric, n);
        }
        let narrow = rollups
            .series(
                "web-1",
                "cpu_percent",
                base() + TimeDelta::seconds(125),
                base() + TimeDelta::seconds(185),
                Some(Level::Minute),
            )
            .expect("a series reads");
        let starts: Vec<i64> = narrow.points.iter().map(|p| p.t.timestamp()).collect();
        let b = base().timestamp();
        assert_eq!(
            starts,
            vec![b + 120, b + 180],
            "the buckets that hold the range"
        );
        let unknown = rollups
            .series("web-1", "swap_percent", since, until, None)
            .expect("a series reads");
        assert!(unknown.points.is_empty());
        let other = rollups
            .series("web-10", "memory_percent", since, until, Some(Level::Day))
            .expect("a series reads");
        assert_eq!(other.points.len(), 1);
        assert_eq!(other.points[0].last, value(1, 5));
        assert_eq!(dump(&rollups), fold_buckets(&events));
        store.close().await;
    });
}

#[test]
fn a_restart_resumes_from_the_checkpoint_in_the_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events: Vec<Event> = samples("db-1", 90)
        .into_iter()
        .chain(samples("db-2", 40))
        .map(|(_, s)| metrics_event(s))
        .collect();

    let rt = runtime();
    let store = open_store(dir.path());
    let (saved, before, rollups) = rt.block_on(async {
        let first = append(&store, &events[..70]).await;
        let rollups = HostRollups::start(store.clone()).expect("rollups start");
        rollups.caught_up(first).await;
        let saved = rollups.save().await.expect("rollups save");
        assert_eq!(saved, first);
        let last = append(&store, &events[70..]).await;
        rollups.caught_up(last).await;
        (saved, dump(&rollups), rollups)
    });
    // The runtime goes while a handle is still held: the task ends with events applied
    // after the last save, and no save on the way out (dropping every handle would save).
    rt.block_on(store.close());
    drop(rt);
    drop(rollups);
    let store = reopen_closed(dir.path(), store);

    let rt = runtime();
    rt.block_on(async {
        let rollups = HostRollups::start(store.clone()).expect("rollups start");
        // The task has not run yet: this is the checkpoint.
        assert_eq!(rollups.applied_position(), saved);
        rollups.caught_up(store.durable_position()).await;
        assert_eq!(dump(&rollups), before, "replayed from the checkpoint");
        assert_eq!(dump(&rollups), fold_buckets(&events));
        // Stopped with a save, and started again: nothing left to replay.
        let stopped = rollups.stop().await.expect("rollups stop");
        assert_eq!(stopped, store.durable_position());
        drop(rollups);
        let again = HostRollups::start(store.clone()).expect("rollups start");
        assert_eq!(again.applied_position(), stopped);
        assert_eq!(dump(&again), before);
    });
    let _ = reopen(dir.path(), store, rt);
}

#[test]
fn a_rebuild_equals_the_live_projection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let store = open_store(dir.path());
    let mut events: Vec<Event> = samples("app-1", 60)
        .into_iter()
        .chain(samples("app-2", 30))
        .map(|(_, s)| metrics_event(s))
        .collect();
    events.push(deleted("app-2"));
    events.push(metrics_event(sample(
        "app-2",
        base() + TimeDelta::hours(3),
        7,
    )));
    // A late sample, into a bucket saved long before.
    events.push(metrics_event(sample(
        "app-1",
        base() + TimeDelta::seconds(1),
        9,
    )));
    let live = rt.block_on(async {
        let last = append(&store, &events[..50]).await;
        let rollups = HostRollups::start(store.clone()).expect("rollups start");
        rollups.caught_up(last).await;
        rollups.save().await.expect("rollups save");
        let last = append(&store, &events[50..]).await;
        rollups.caught_up(last).await;
        let live = dump(&rollups);
        rollups.stop().await.expect("rollups stop");
        live
    });
    assert_eq!(live, fold_buckets(&events));
    rebuild_rollups(&store).expect("rollups rebuild");
    rt.block_on(async {
        let rollups = HostRollups::start(store.clone()).expect("rollups start");
        assert_eq!(rollups.applied_position(), store.durable_position());
        assert_eq!(dump(&rollups), live);
        rollups.stop().await.expect("rollups stop");
    });
    let _ = reopen(dir.path(), store, rt);
}

#[test]
fn a_deleted_host_loses_its_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let store = open_store(dir.path());
    rt.block_on(async {
        let events: Vec<Event> = samples("cache-1", 20)
            .into_iter()
            .chain(samples("cache-10", 20))
            .map(|(_, s)| metrics_event(s))
            .collect();
        append(&store, &events).await;
        let rollups = HostRollups::start(store.clone()).expect("rollups start");
        rollups.caught_up(store.durable_position()).await;
        rollups.save().await.expect("rollups save");
        assert!(tree_keys(&store, "cache-1") > 0);

        let last = append(&store, &[deleted("cache-1")]).await;
        rollups.caught_up(last).await;
        let (since, until) = (base(), base() + TimeDelta::days(1));
        for metric in METRICS {
            for level in Level::ALL {
                let gone = rollups
                    .series("cache-1", metric, since, until, Some(level))
                    .expect("a series reads");
                assert!(gone.points.is_empty(), "{metric} at {level} before a save");
                let kept = rollups
                    .series("cache-10", metric, since, until, Some(level))
                    .expect("a series reads");
                assert_series(&kept, metric, 20);
            }
        }
        rollups.save().await.expect("rollups save");
        assert_eq!(tree_keys(&store, "cache-1"), 0, "removed from the tree");
        assert!(tree_keys(&store, "cache-10") > 0);
        assert!(dump(&rollups).keys().all(|k| k.0 != "cache-1"));

        // Reporting again, it starts from nothing.
        let last = append(&store, &[metrics_event(sample("cache-1", base(), 4))]).await;
        rollups.caught_up(last).await;
        let back = rollups
            .series("cache-1", "memory_percent", since, until, Some(Level::Hour))
            .expect("a series reads");
        assert_eq!(back.points.len(), 1);
        assert_eq!(back.points[0].count, 1);
        store.close().await;
    });
}

#[test]
fn retention_drops_old_minute_buckets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let store = open_store(dir.path());
    rt.block_on(async {
        let first = append(&store, &[metrics_event(sample("edge-1", base(), 1))]).await;
        let rollups = HostRollups::start(store.clone()).expect("rollups start");
        rollups.caught_up(first).await;
        rollups.save().await.expect("rollups save");
        let minute = |rollups: &HostRollups, level| {
            rollups
                .series(
                    "edge-1",
                    "memory_percent",
                    base(),
                    base() + TimeDelta::minutes(1),
                    Some(level),
                )
                .expect("a series reads")
                .points
                .len()
        };
        assert_eq!(minute(&rollups, Level::Minute), 1);

        // Exactly two days later the first minute's bucket is still within retention.
        let later = base() + TimeDelta::days(2) + TimeDelta::seconds(59);
        let last = append(&store, &[metrics_event(sample("edge-1", later, 2))]).await;
        rollups.caught_up(last).await;
        assert_eq!(minute(&rollups, Level::Minute), 1);

        let later = base() + TimeDelta::days(2) + TimeDelta::minutes(2);
        let last = append(&store, &[metrics_event(sample("edge-1", later, 3))]).await;
        rollups.caught_up(last).await;
        assert_eq!(minute(&rollups, Level::Minute), 0, "past 1 m retention");
        assert_eq!(
            minute(&rollups, Level::FiveMinutes),
            1,
            "within 5 m retention"
        );
        let chosen = rollups
            .series(
                "edge-1",
                "memory_percent",
                base(),
                base() + TimeDelta::minutes(1),
                None,
            )
            .expect("a series reads");
        assert_eq!(
            chosen.level,
            Level::FiveMinutes,
            "1 m no longer reaches back"
        );

        rollups.save().await.expect("rollups save");
        let minute_keys = store
            .projection_tree(HostRollups::NAME)
            .expect("the tree opens")
            .keys_with_prefix(b"edge-1\0\0")
            .count();
        assert_eq!(minute_keys, 2, "the old 1 m bucket is gone from the tree");
        let levels: Vec<Level> = dump(&rollups)
            .keys()
            .filter(|k| k.3 == "memory_percent" && k.2 == base().timestamp())
            .map(|k| k.1)
            .collect();
        assert_eq!(levels, vec![Level::FiveMinutes, Level::Hour, Level::Day]);
        store.close().await;
    });
}
