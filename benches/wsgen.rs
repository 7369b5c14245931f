//! The WebSocket load generator: starts the real (release) server, a local HTTP target and
//! HTTP monitors checking it every second, opens many WebSocket sessions subscribed to
//! `dashboard`, and measures for every update the delay from its event's append (the
//! frame's `timestamp`, set by the log's writer) to its delivery at the client. Reports
//! p50/p99/max delay, updates/s delivered, snapshots (a session that fell behind), and
//! the server's CPU and RSS, as JSON. Run with
//! `cargo bench --bench wsgen -- [sessions] [monitors] [seconds]` (defaults: 1000 500 60).
//!
//! The clients run in this process on the same two cores as the server, so the delays
//! include the clients' own scheduling: they are an upper bound of the server's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

#[path = "common/process.rs"]
mod process;
use process::{start_server, start_target, usage, Started};

const TOKEN: &str = "wsgen-admin-token-0123456789";

/// The three numeric arguments (cargo bench passes `--bench` too).
fn arguments() -> (usize, usize, u64) {
    let mut numbers = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let sessions = numbers.next().unwrap_or(1000) as usize;
    let monitors = numbers.next().unwrap_or(500) as usize;
    let seconds = numbers.next().unwrap_or(60).max(10);
    (sessions, monitors, seconds)
}

/// Delays in buckets: 10 µs wide up to 10 ms, 1 ms up to 1 s, 100 ms up to 100 s.
struct Histogram {
    buckets: Vec<AtomicU64>,
    max_us: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: (0..1000 + 990 + 990).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }

    fn bucket(us: u64) -> usize {
        if us < 10_000 {
            (us / 10) as usize
        } else if us < 1_000_000 {
            1000 + ((us - 10_000) / 1000) as usize
        } else {
            (1990 + ((us - 1_000_000) / 100_000) as usize).min(2979)
        }
    }

    /// The upper bound of a bucket, in milliseconds.
    fn upper_ms(i: usize) -> f64 {
        if i < 1000 {
            (i + 1) as f64 * 0.01
        } else if i < 1990 {
            10.0 + (i - 1000 + 1) as f64
        } else {
            1000.0 + (i - 1990 + 1) as f64 * 100.0
        }
    }

    fn record(&self, us: u64) {
        self.buckets[Histogram::bucket(us)].fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        let total = self.count();
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if total > 0 && seen as f64 >= q * total as f64 {
                return Histogram::upper_ms(i);
            }
        }
        f64::NAN
    }
}

/// The fields of a frame the clients look at; `data` is skipped unparsed.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    position: Option<u64>,
    timestamp: Option<&'a str>,
}

/// What all sessions saw.
struct Tally {
    delays: Histogram,
    snapshots: AtomicU64,
    out_of_order: AtomicU64,
    errors: AtomicU64,
    measuring: AtomicBool,
}

/// One session: subscribes to the dashboard and times every update until `stop`.
async fn session(url: String, tally: Arc<Tally>, stop: Arc<AtomicBool>, ready: Arc<AtomicU64>) {
    let mut request = url.into_client_request().expect("a WebSocket request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("a header"),
    );
    // A small read buffer: tungstenite zeroes the whole buffer before every read.
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    let mut socket = loop {
        match tokio_tungstenite::connect_async_with_config(request.clone(), Some(config), true)
            .await
        {
            Ok((socket, _)) => break socket,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let subscribe = json!({"type": "subscribe", "topics": ["dashboard"]}).to_string();
    if socket.send(Message::text(subscribe)).await.is_err() {
        tally.errors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut counted_ready = false;
    let mut last = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let next = tokio::time::timeout(Duration::from_millis(500), socket.next()).await;
        let message = match next {
            Err(_) => continue,
            Ok(Some(Ok(m))) => m,
            Ok(_) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let Message::Text(text) = message else {
            continue;
        };
        let received = Utc::now();
        let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
            tally.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let position = frame.position.unwrap_or(0);
        if position < last {
            tally.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        last = last.max(position);
        match frame.kind {
            "snapshot" => {
                if !counted_ready {
                    counted_ready = true;
                    ready.fetch_add(1, Ordering::Relaxed);
                } else if tally.measuring.load(Ordering::Relaxed) {
                    tally.snapshots.fetch_add(1, Ordering::Relaxed);
                }
            }
            "update" if tally.measuring.load(Ordering::Relaxed) => {
                let at = frame
                    .timestamp
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok());
                if let Some(at) = at {
                    let us = (received - at).num_microseconds().unwrap_or(i64::MAX);
                    tally.delays.record(us.max(0) as u64);
                }
            }
            "error" => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    let _ = socket.close(None).await;
}

/// Lets this process (and the server it starts) hold a socket per session.
fn raise_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn main() {
    let (sessions, monitors, seconds) = arguments();
    raise_open_files();
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

    println!("creating {monitors} http monitors (1 s) against 127.0.0.1:{target}");
    rt.block_on(async {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (client, base, next) = (client.clone(), base.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= monitors {
                            break;
                        }
                        let body = json!({
                            "name": format!("ws-{i}"), "kind": "http",
                            "url": format!("http://127.0.0.1:{target}/{i}"),
                            "interval_s": 1, "timeout_ms": 900,
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

    println!("opening {sessions} WebSocket sessions on the dashboard");
    let tally = Arc::new(Tally {
        delays: Histogram::new(),
        snapshots: AtomicU64::new(0),
        out_of_order: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        measuring: AtomicBool::new(false),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicU64::new(0));
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let opened = Instant::now();
    let tasks: Vec<_> = (0..sessions)
        .map(|_| {
            rt.spawn(session(
                url.clone(),
                tally.clone(),
                stop.clone(),
                ready.clone(),
            ))
        })
        .collect();
    while (ready.load(Ordering::Relaxed) as usize) < sessions {
        assert!(
            opened.elapsed() < Duration::from_secs(120),
            "only {} of {sessions} sessions got their snapshot",
            ready.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("all sessions ready in {:.1?}", opened.elapsed());
    // Let every monitor's first (jittered) check come round before measuring.
    std::thread::sleep(Duration::from_secs(3));
    let metrics = |client: &reqwest::Client| -> String {
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
    let drops_of = |text: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("watchfire_ws_outbox_drops_total "))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let drops_before = drops_of(&metrics(&client));
    let (_, cpu_before) = usage(pid);
    tally.measuring.store(true, Ordering::Relaxed);
    let measured_from = Instant::now();
    let mut peak_rss = 0;
    while measured_from.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(5));
        let (rss, _) = usage(pid);
        peak_rss = peak_rss.max(rss);
        println!(
            "{:>4} s: {:>9} updates, p99 ≤ {:.2} ms, RSS {:>4} MiB",
            measured_from.elapsed().as_secs(),
            tally.delays.count(),
            tally.delays.quantile_ms(0.99),
            rss / 1024
        );
    }
    tally.measuring.store(false, Ordering::Relaxed);
    let elapsed = measured_from.elapsed().as_secs_f64();
    let (rss, cpu_after) = usage(pid);
    let drops = drops_of(&metrics(&reqwest::Client::new())) - drops_before;
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    let updates = tally.delays.count();
    let summary: Value = json!({
        "sessions": sessions,
        "monitors": monitors,
        "monitor_interval_s": 1,
        "measured_s": elapsed.round(),
        "updates_delivered": updates,
        "updates_per_s": (updates as f64 / elapsed).round(),
        "delay_p50_ms": tally.delays.quantile_ms(0.50),
        "delay_p99_ms": tally.delays.quantile_ms(0.99),
        "delay_max_ms": tally.delays.max_us.load(Ordering::Relaxed) as f64 / 1000.0,
        "fresh_snapshots": tally.snapshots.load(Ordering::Relaxed),
        "outbox_overflows": drops,
        "out_of_order_frames": tally.out_of_order.load(Ordering::Relaxed),
        "errors": tally.errors.load(Ordering::Relaxed),
        "server_cpu_cores": ((cpu_after - cpu_before) / elapsed * 100.0).round() / 100.0,
        "server_rss_mib": rss / 1024,
        "server_peak_rss_mib": peak_rss / 1024,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
}
