//! The agent load generator: starts the real server and simulates many agents pushing
//! host metrics, then reports push latency, lost samples, the server's CPU and RSS, and
//! the highest push rate it sustains. Run with
//! `cargo bench --bench pushgen -- [agents] [interval_s] [seconds] [saturation_s]`
//! (defaults: 5000 5 120 20).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};

#[path = "common/process.rs"]
mod process;
use process::{start_server, usage, Started};

const TOKEN: &str = "pushgen-admin-token-0123456789";
/// Concurrent pushers in the saturation phase.
const SATURATION_PUSHERS: usize = 64;

fn arguments() -> (usize, u64, u64, u64) {
    let mut numbers = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let agents = numbers.next().unwrap_or(5_000).max(1) as usize;
    let interval = numbers.next().unwrap_or(5).max(1);
    let seconds = numbers.next().unwrap_or(120).max(5);
    let saturation = numbers.next().unwrap_or(20);
    (agents, interval, seconds, saturation)
}

/// An agent's push: plausible figures, counters that grow with `n`.
fn push_body(hostname: &str, n: u64, interval_s: u64) -> Value {
    json!({
        "hostname": hostname,
        "timestamp": Utc::now(),
        "interval_s": interval_s,
        "cpu": {"cpu_percent_total": (n % 100) as f64, "cpu_percent_per_core": [12.5, 40.0, 3.0, 77.0],
                "cpu_count_logical": 4, "load_average": [0.5, 0.4, 0.3]},
        "memory": {"memory_total": 8_589_934_592u64, "memory_used": 4_294_967_296u64 + n, "memory_percent": 50.0},
        "disk": {"partitions": [{"mountpoint": "/", "total": 100_000_000_000u64, "used": 40_000_000_000u64, "percent": 40.0},
                                {"mountpoint": "/var", "total": 50_000_000_000u64, "used": 5_000_000_000u64, "percent": 10.0}]},
        "io": {"network": {"bytes_sent": n * 10_000, "bytes_recv": n * 50_000},
               "disk_io": {"read_bytes": n * 4_096, "write_bytes": n * 8_192}}
    })
}

/// Latencies in microseconds, and pushes that failed.
#[derive(Default)]
struct Tally {
    latencies_us: Mutex<Vec<u64>>,
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    fn record(&self, started: Instant, ok: bool) {
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut l) = self.latencies_us.lock() {
                l.push(started.elapsed().as_micros() as u64);
            }
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn quantiles(&self) -> (f64, f64, f64) {
        let mut l = self
            .latencies_us
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        l.sort_unstable();
        let q = |q: f64| {
            l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
                .map_or(0.0, |us| *us as f64 / 1000.0)
        };
        (
            q(0.5),
            q(0.99),
            l.last().map_or(0.0, |us| *us as f64 / 1000.0),
        )
    }
}

async fn push(client: &reqwest::Client, base: &str, hostname: &str, body: &Value) -> bool {
    client
        .post(format!("{base}/api/v1/hosts/{hostname}/metrics"))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn main() {
    let (agents, interval_s, seconds, saturation_s) = arguments();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let Started {
        server: _server,
        pid,
        base,
        dir: _dir,
    } = start_server(&rt, TOKEN);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    println!("{agents} agents pushing every {interval_s} s for {seconds} s");
    let tally = Arc::new(Tally::default());
    let (_, cpu_before) = usage(pid);
    let started = Instant::now();
    let mut peak_rss = 0;
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..agents)
            .map(|i| {
                let (client, base, tally) = (client.clone(), base.clone(), tally.clone());
                // Agents start spread over one interval, as real ones would.
                let offset = Duration::from_secs(interval_s).mul_f64(i as f64 / agents as f64);
                tokio::spawn(async move {
                    let hostname = format!("agent-{i}");
                    let start = tokio::time::Instant::now() + offset;
                    let mut tick = tokio::time::interval_at(start, Duration::from_secs(interval_s));
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let mut n = 0;
                    loop {
                        tick.tick().await;
                        if tokio::time::Instant::now() >= deadline {
                            break;
                        }
                        n += 1;
                        let body = push_body(&hostname, n, interval_s);
                        let sent = Instant::now();
                        let ok = push(&client, &base, &hostname, &body).await;
                        tally.record(sent, ok);
                    }
                })
            })
            .collect();
        let watch = async {
            while tokio::time::Instant::now() < deadline {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                tokio::time::sleep(left.min(Duration::from_secs(10))).await;
                let (rss, _) = usage(pid);
                peak_rss = peak_rss.max(rss);
                println!(
                    "{:>4} s: {} pushes, RSS {} MiB",
                    started.elapsed().as_secs(),
                    tally.ok.load(Ordering::Relaxed),
                    rss / 1024
                );
            }
        };
        let (_, results) = tokio::join!(watch, futures_util::future::join_all(tasks));
        for r in results {
            r.expect("agent task");
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (rss, cpu_after) = usage(pid);
    let (p50, p99, max) = tally.quantiles();
    let acknowledged = tally.ok.load(Ordering::Relaxed);

    // Every acknowledged sample must be in the read model (the log is its only source).
    let recorded = rt.block_on(async {
        let mut last = 0;
        for _ in 0..60 {
            let list: Value = client
                .get(format!("{base}/api/v1/hosts"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("list hosts")
                .json()
                .await
                .expect("hosts JSON");
            last = list["hosts"]
                .as_array()
                .map_or(0, |h| h.iter().filter_map(|h| h["samples"].as_u64()).sum());
            if last >= acknowledged {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        last
    });
    let steady = json!({
        "agents": agents,
        "interval_s": interval_s,
        "measured_s": elapsed.round(),
        "pushes_per_s": (acknowledged as f64 / elapsed).round(),
        "pushes_acknowledged": acknowledged,
        "pushes_failed": tally.failed.load(Ordering::Relaxed),
        "samples_recorded": recorded,
        "samples_lost": acknowledged.saturating_sub(recorded),
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "latency_max_ms": max,
        "server_cpu_cores": ((cpu_after - cpu_before) / elapsed * 100.0).round() / 100.0,
        "server_rss_mib": rss / 1024,
        "server_peak_rss_mib": peak_rss.max(rss) / 1024,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&steady).unwrap_or_default()
    );

    if saturation_s == 0 {
        return;
    }
    println!("saturation: {SATURATION_PUSHERS} pushers as fast as they can for {saturation_s} s");
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(saturation_s);
        let tasks: Vec<_> = (0..SATURATION_PUSHERS)
            .map(|w| {
                let (client, base, tally) = (client.clone(), base.clone(), tally.clone());
                tokio::spawn(async move {
                    let mut n = 1_000_000;
                    while Instant::now() < deadline {
                        // Each pusher cycles over its share of the agents' hosts.
                        let host =
                            format!("agent-{}", (w + SATURATION_PUSHERS * n as usize) % agents);
                        n += 1;
                        let body = push_body(&host, n, interval_s);
                        let sent = Instant::now();
                        let ok = push(&client, &base, &host, &body).await;
                        tally.record(sent, ok);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("pusher");
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (p50, p99, max) = tally.quantiles();
    let saturated = json!({
        "pushers": SATURATION_PUSHERS,
        "measured_s": elapsed.round(),
        "pushes_per_s": (tally.ok.load(Ordering::Relaxed) as f64 / elapsed).round(),
        "pushes_failed": tally.failed.load(Ordering::Relaxed),
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "latency_max_ms": max,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&saturated).unwrap_or_default()
    );
}
