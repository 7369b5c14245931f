//! The load generator: starts the real server, a local HTTP target and many HTTP monitors
//! against it, lets them run, then reports checks/s, schedule lag, missed checks, CPU and
//! the server's RSS. Run with
//! `cargo bench --bench loadgen -- [monitors] [interval_s] [seconds]` (defaults: 10000 10 150).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "common/process.rs"]
mod process;
use process::{start_server, start_target, usage, Started};
#[path = "common/prom.rs"]
mod prom;
use prom::{metric, quantile};

const TOKEN: &str = "loadgen-admin-token-0123456789";

/// The three numeric arguments (cargo bench passes `--bench` too).
fn arguments() -> (usize, u32, u64) {
    let mut numbers = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let monitors = numbers.next().unwrap_or(10_000) as usize;
    let interval = numbers.next().unwrap_or(10).max(1) as u32;
    let seconds = numbers.next().unwrap_or(150).max(10);
    (monitors, interval, seconds)
}

fn main() {
    let (monitors, interval_s, seconds) = arguments();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let target = start_target();
    let Started {
        server: _server,
        pid,
        base,
        dir: _dir,
    } = start_server(&rt, TOKEN);
    let client = reqwest::Client::new();

    println!(
        "creating {monitors} http monitors, interval {interval_s} s, against 127.0.0.1:{target}"
    );
    let created_in = Instant::now();
    rt.block_on(async {
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (client, base, next) = (client.clone(), base.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= monitors {
                            break;
                        }
                        let body = json!({
                            "name": format!("load-{i}"), "kind": "http",
                            "url": format!("http://127.0.0.1:{target}/{i}"),
                            "interval_s": interval_s, "timeout_ms": 5000,
                        });
                        let resp = client
                            .post(format!("{base}/api/v1/monitors"))
                            .bearer_auth(TOKEN)
                            .json(&body)
                            .send()
                            .await
                            .expect("create");
                        assert_eq!(resp.status().as_u16(), 201, "create monitor {i}");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("creator");
        }
    });
    println!("created in {:.1?}", created_in.elapsed());

    let scrape = || -> String {
        rt.block_on(async {
            client
                .get(format!("{base}/metrics"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("metrics body")
        })
    };
    // Let every monitor's first (jittered) check come round before measuring.
    std::thread::sleep(Duration::from_secs(u64::from(interval_s) + 2));
    let before = scrape();
    let (_, cpu_before) = usage(pid);
    let measured_from = Instant::now();
    let mut peak_rss = 0;
    while measured_from.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(5));
        let (rss, _) = usage(pid);
        peak_rss = peak_rss.max(rss);
        println!(
            "{:>4} s: RSS {:>4} MiB",
            measured_from.elapsed().as_secs(),
            rss / 1024
        );
    }
    let elapsed = measured_from.elapsed().as_secs_f64();
    let after = scrape();
    let (rss, cpu_after) = usage(pid);
    let checks =
        metric(&after, "watchfire_checks_total") - metric(&before, "watchfire_checks_total");
    let missed = metric(&after, "watchfire_checks_missed_total")
        - metric(&before, "watchfire_checks_missed_total");
    let expected = monitors as f64 * elapsed / f64::from(interval_s);
    let lag = "watchfire_check_schedule_lag_seconds";
    let summary: Value = json!({
        "monitors": monitors,
        "interval_s": interval_s,
        "measured_s": elapsed.round(),
        "checks_per_s": (checks / elapsed).round(),
        "checks_expected_per_s": (expected / elapsed).round(),
        "checks_missed": missed,
        "schedule_lag_p50": quantile(&after, lag, 0.50),
        "schedule_lag_p99": quantile(&after, lag, 0.99),
        "server_cpu_cores": ((cpu_after - cpu_before) / elapsed * 100.0).round() / 100.0,
        "server_rss_mib": rss / 1024,
        "server_peak_rss_mib": peak_rss / 1024,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
}
