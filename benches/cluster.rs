//! Cluster benchmarks: nodes sharing one event log in a PostgreSQL the benchmark starts
//! (initdb in a temp dir, fsync and synchronous_commit on, loopback only). Run with
//! - `cargo bench --bench cluster -- appends`: durable single-event appends from 64
//!   writers with group commit, through one store handle (one node) and through three
//!   handles on the same database (three nodes): events/s and append latency p50/p99.
//! - `cargo bench --bench cluster -- monitors [N] [INTERVAL_S] [SECONDS]` (defaults
//!   10000 10 120): three release-server nodes, N HTTP monitors against a local target,
//!   measured for SECONDS once every monitor is owned: checks/s, missed checks, schedule
//!   lag, and each node's (and PostgreSQL's) CPU and RSS.
//! - `cargo bench --bench cluster -- failover [TRIES] [MONITORS]` (defaults 5 300):
//!   three nodes and MONITORS monitors at 2 s; each try kills one node with SIGKILL and
//!   times until every monitor it owned has a check recorded by another node, then
//!   restarts it and times until it owns its share again.
//!
//! Every child (nodes, PostgreSQL) is killed when the benchmark ends, by drop guards.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;
use watchfire::events::{DataDir, EventStore, ExpectedVersion, StoreOptions, StreamId};

#[allow(dead_code)] // the cluster benchmarks open PostgreSQL stores, not sled ones
mod common;
#[path = "common/postgres.rs"]
mod postgres;
#[path = "common/process.rs"]
mod process;
#[path = "common/prom.rs"]
mod prom;

use postgres::PgServer;
use process::{start_target, usage, ServerProcess};

const TOKEN: &str = "cluster-bench-admin-token-0123456789";
/// Concurrent writers in the appends mode.
const WRITERS: usize = 64;
/// Appends before measuring, and the measured time, in the appends mode.
const WARM_UP: Duration = Duration::from_secs(3);
const MEASURE: Duration = Duration::from_secs(10);
/// Nodes of the cluster in the monitors and failover modes.
const NODES: usize = 3;
/// Concurrent monitor creations.
const CREATORS: usize = 32;
/// The longest wait for a node to start, monitors to be owned, or a failover.
const PATIENCE: Duration = Duration::from_secs(300);

fn main() {
    // cargo bench passes `--bench` too.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let number = |i: usize, default: u64| {
        args.get(i)
            .and_then(|a| a.parse::<u64>().ok())
            .unwrap_or(default)
    };
    match args.first().map(String::as_str) {
        Some("appends") => appends(),
        Some("monitors") => monitors(
            number(1, 10_000) as usize,
            number(2, 10).max(1) as u32,
            number(3, 120).max(10),
        ),
        Some("failover") => failover(number(1, 5).max(1) as usize, number(2, 300) as usize),
        _ => {
            eprintln!(
                "usage: cargo bench --bench cluster -- appends | monitors [N] [INTERVAL_S] \
                 [SECONDS] | failover [TRIES] [MONITORS]"
            );
            std::process::exit(2);
        }
    }
}

// ---- appends ----

/// 64 writers against one store, then against three stores on one database.
fn appends() {
    let pg = PgServer::start();
    println!(
        "PostgreSQL on 127.0.0.1:{} (fsync and synchronous_commit on); {WRITERS} writers, \
         single-event appends to distinct streams, {}s warm-up, {}s measured",
        pg.port,
        WARM_UP.as_secs(),
        MEASURE.as_secs()
    );
    let mut rows = Vec::new();
    for nodes in [1, NODES] {
        let url = pg.create_database(&format!("appends_{nodes}"));
        let stores: Vec<EventStore> = (0..nodes)
            .map(|_| {
                EventStore::open_postgres(&url, None, StoreOptions::default())
                    .expect("a store on PostgreSQL")
            })
            .collect();
        let rt = common::runtime();
        let me = std::process::id();
        let (cpu_before, own_cpu_before) = (pg.cpu_seconds(), usage(me).1);
        let (events, elapsed, mut latencies) = rt.block_on(drive(&stores));
        let running = elapsed + WARM_UP.as_secs_f64();
        let pg_cpu = (pg.cpu_seconds() - cpu_before) / running;
        let own_cpu = (usage(me).1 - own_cpu_before) / running;
        for store in &stores {
            rt.block_on(store.close());
        }
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().max(1) - 1))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let row = json!({
            "nodes": nodes,
            "writers": WRITERS,
            "measured_s": (elapsed * 10.0).round() / 10.0,
            "events_per_s": (events as f64 / elapsed).round(),
            "latency_p50_ms": (at(0.50) * 100.0).round() / 100.0,
            "latency_p99_ms": (at(0.99) * 100.0).round() / 100.0,
            "postgres_cpu_cores": (pg_cpu * 100.0).round() / 100.0,
            "stores_and_writers_cpu_cores": (own_cpu * 100.0).round() / 100.0,
        });
        println!("{row}");
        rows.push(row);
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&rows).unwrap_or_default()
    );
}

/// Runs the writers, spread over `stores`, for the warm-up and the measured time: the
/// appends that started and ended within the measured time, that time, their latencies.
async fn drive(stores: &[EventStore]) -> (usize, f64, Vec<Duration>) {
    // 0: warming up, 1: measuring, 2: stopping.
    let phase = Arc::new(AtomicU8::new(0));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, phase) = (stores[w % stores.len()].clone(), phase.clone());
            tokio::spawn(async move {
                let stream = StreamId::new(format!("monitor-{w}")).expect("stream id");
                let mut latencies = Vec::new();
                for i in 0.. {
                    let started_in = phase.load(Ordering::Relaxed);
                    if started_in == 2 {
                        break;
                    }
                    let started = Instant::now();
                    store
                        .append(stream.clone(), ExpectedVersion::Any, vec![common::check(i)])
                        .await
                        .expect("append");
                    if started_in == 1 && phase.load(Ordering::Relaxed) == 1 {
                        latencies.push(started.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(WARM_UP).await;
    phase.store(1, Ordering::Relaxed);
    let measuring = Instant::now();
    tokio::time::sleep(MEASURE).await;
    phase.store(2, Ordering::Relaxed);
    let elapsed = measuring.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("writer"));
    }
    (all.len(), elapsed, all)
}

// ---- nodes ----

/// A `watchfire serve` node on the shared log, killed on drop.
struct Node {
    process: Option<ServerProcess>,
    dir: tempfile::TempDir,
    base: String,
    url: String,
    /// Checks it could not record (its `cannot record a check` warnings).
    unrecorded: Arc<AtomicU64>,
}

/// Warning lines of one node echoed before the rest are only counted.
const ECHOED_WARNINGS: u64 = 3;

impl Node {
    /// Starts a node on `127.0.0.1:0` with a fresh data dir; waits until it answers.
    async fn start(url: &str, client: &reqwest::Client) -> Node {
        let mut node = Node {
            process: None,
            dir: tempfile::tempdir().expect("tempdir"),
            base: String::new(),
            url: url.to_owned(),
            unrecorded: Arc::new(AtomicU64::new(0)),
        };
        node.restart(client).await;
        node
    }

    /// (Re)starts the process on its data dir; waits for its address and `/health`.
    async fn restart(&mut self, client: &reqwest::Client) {
        let addr_file = DataDir::listen_addr_path(self.dir.path());
        let _ = std::fs::remove_file(&addr_file);
        let mut command = Command::new(env!("CARGO_BIN_EXE_watchfire"));
        // SAFETY: prctl is async-signal-safe. The node dies with the benchmark even when that
        // is interrupted before its drop guards run (spawned from the main thread, which
        // lives as long as the process).
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        let child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.dir.path())
            .env("WATCHFIRE_STORE", &self.url)
            .env("WATCHFIRE_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("watchfire starts");
        let mut child = child;
        // Echo the first few warnings, count the unrecorded checks.
        let (stderr, unrecorded) = (child.stderr.take(), self.unrecorded.clone());
        std::thread::spawn(move || {
            let Some(stderr) = stderr else { return };
            let mut echoed = 0;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("cannot record a check") {
                    unrecorded.fetch_add(1, Ordering::Relaxed);
                }
                echoed += 1;
                if echoed <= ECHOED_WARNINGS {
                    eprintln!("[node] {line}");
                }
            }
        });
        self.process = Some(ServerProcess(child));
        let started = Instant::now();
        let addr = loop {
            if let Some(addr) = std::fs::read_to_string(&addr_file)
                .ok()
                .filter(|a| a.trim().parse::<std::net::SocketAddr>().is_ok())
            {
                break addr.trim().to_owned();
            }
            assert!(started.elapsed() < PATIENCE, "a node did not start");
            if let Some(p) = self.process.as_mut() {
                assert!(
                    matches!(p.0.try_wait(), Ok(None)),
                    "a node exited on starting"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        self.base = format!("http://{addr}");
        while client
            .get(format!("{}/health", self.base))
            .send()
            .await
            .is_err()
        {
            assert!(started.elapsed() < PATIENCE, "a node did not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process with SIGKILL and reaps it.
    fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.0.kill();
            let _ = p.0.wait();
        }
    }

    fn pid(&self) -> u32 {
        self.process.as_ref().map_or(0, |p| p.0.id())
    }

    /// `/health/ready`'s body (503 while not ready still names the node and what it owns).
    async fn ready(&self, client: &reqwest::Client) -> Value {
        match client
            .get(format!("{}/health/ready", self.base))
            .send()
            .await
        {
            Ok(resp) => resp.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// How many things (monitors, alerting) it holds the lease on.
    async fn owned(&self, client: &reqwest::Client) -> u64 {
        self.ready(client).await["owned"].as_u64().unwrap_or(0)
    }

    /// Its /metrics text.
    async fn metrics(&self, client: &reqwest::Client) -> String {
        match client
            .get(format!("{}/metrics", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
        {
            Ok(resp) => resp.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

/// Starts the first node (which bootstraps the log), then the others, and waits until
/// every node sees all of them.
async fn start_cluster(url: &str, client: &reqwest::Client) -> Vec<Node> {
    let mut nodes = vec![Node::start(url, client).await];
    for _ in 1..NODES {
        nodes.push(Node::start(url, client).await);
    }
    let started = Instant::now();
    for node in &nodes {
        while node.ready(client).await["nodes"].as_u64() != Some(NODES as u64) {
            assert!(
                started.elapsed() < PATIENCE,
                "the nodes did not see each other"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    nodes
}

/// Creates `count` HTTP monitors at `interval_s` through `node`, `CREATORS` at a time;
/// their ids.
async fn create_monitors(
    node: &Node,
    client: &reqwest::Client,
    target: u16,
    count: usize,
    interval_s: u32,
) -> Vec<Uuid> {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..CREATORS)
        .map(|_| {
            let (client, base, next) = (client.clone(), node.base.clone(), next.clone());
            tokio::spawn(async move {
                let mut ids: Vec<Uuid> = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break ids;
                    }
                    let body = json!({
                        "name": format!("load-{i}"), "kind": "http",
                        "url": format!("http://127.0.0.1:{target}/{i}"),
                        "interval_s": interval_s, "timeout_ms": (interval_s * 800).min(5000),
                    });
                    let resp = client
                        .post(format!("{base}/api/v1/monitors"))
                        .bearer_auth(TOKEN)
                        .json(&body)
                        .send()
                        .await
                        .expect("create");
                    assert_eq!(resp.status().as_u16(), 201, "create monitor {i}");
                    let created: Value = resp.json().await.expect("created monitor");
                    ids.push(
                        created["id"]
                            .as_str()
                            .and_then(|id| id.parse().ok())
                            .expect("monitor id"),
                    );
                }
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.expect("creator"));
    }
    ids
}

/// Waits until the nodes together own at least `things`; the seconds it took.
async fn wait_owned(nodes: &[Node], client: &reqwest::Client, things: u64) -> f64 {
    let started = Instant::now();
    loop {
        let mut owned = 0;
        for node in nodes {
            owned += node.owned(client).await;
        }
        if owned >= things {
            return started.elapsed().as_secs_f64();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the nodes own {owned} of {things}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---- monitors ----

/// Three nodes, `count` monitors at `interval_s`, measured for `seconds`.
fn monitors(count: usize, interval_s: u32, seconds: u64) {
    let pg = PgServer::start();
    let url = pg.create_database("monitors");
    let target = start_target();
    let rt = common::runtime();
    let client = reqwest::Client::new();
    let nodes = rt.block_on(start_cluster(&url, &client));
    println!(
        "{NODES} nodes on PostgreSQL 127.0.0.1:{}; creating {count} http monitors, interval \
         {interval_s} s, against 127.0.0.1:{target} through node 1",
        pg.port
    );
    let created_in = Instant::now();
    rt.block_on(create_monitors(
        &nodes[0], &client, target, count, interval_s,
    ));
    println!("created in {:.1?}", created_in.elapsed());
    // Every monitor and the alerting lease.
    let owned_in = rt.block_on(wait_owned(&nodes, &client, count as u64 + 1));
    println!("all owned {owned_in:.1} s later");
    // Let every monitor's first (jittered) check come round before measuring.
    std::thread::sleep(Duration::from_secs(u64::from(interval_s) + 2));

    let scrape = |nodes: &[Node]| -> Vec<String> {
        rt.block_on(async {
            let mut texts = Vec::new();
            for node in nodes {
                texts.push(node.metrics(&client).await);
            }
            texts
        })
    };
    let cpu = |nodes: &[Node]| -> Vec<f64> { nodes.iter().map(|n| usage(n.pid()).1).collect() };
    let unrecorded = |nodes: &[Node]| -> Vec<u64> {
        nodes
            .iter()
            .map(|n| n.unrecorded.load(Ordering::Relaxed))
            .collect()
    };
    let before = scrape(&nodes);
    let (cpu_before, pg_cpu_before) = (cpu(&nodes), pg.cpu_seconds());
    let unrecorded_before = unrecorded(&nodes);
    let deadlocks = || -> u64 {
        pg.psql(
            "postgres",
            "SELECT deadlocks FROM pg_stat_database WHERE datname = 'monitors'",
        )
        .parse()
        .unwrap_or(0)
    };
    let deadlocks_before = deadlocks();
    let measured_from = Instant::now();
    let mut peak_rss = vec![0; nodes.len()];
    while measured_from.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(5));
        let rss: Vec<u64> = nodes.iter().map(|n| usage(n.pid()).0 / 1024).collect();
        for (peak, now) in peak_rss.iter_mut().zip(&rss) {
            *peak = (*peak).max(*now);
        }
        println!(
            "{:>4} s: RSS {rss:?} MiB",
            measured_from.elapsed().as_secs()
        );
    }
    let elapsed = measured_from.elapsed().as_secs_f64();
    let after = scrape(&nodes);
    let (cpu_after, pg_cpu_after) = (cpu(&nodes), pg.cpu_seconds());
    let unrecorded_after = unrecorded(&nodes);
    let deadlocks_after = deadlocks();
    let sum =
        |texts: &[String], name: &str| texts.iter().map(|t| prom::metric(t, name)).sum::<f64>();
    let checks = sum(&after, "watchfire_checks_total") - sum(&before, "watchfire_checks_total");
    let missed = sum(&after, "watchfire_checks_missed_total")
        - sum(&before, "watchfire_checks_missed_total");
    let appended = sum(&after, "watchfire_events_appended_total")
        - sum(&before, "watchfire_events_appended_total");
    let lag_name = "watchfire_check_schedule_lag_seconds";
    let lag = |texts: &[String]| {
        prom::merge(
            &texts
                .iter()
                .map(|t| prom::histogram(t, lag_name))
                .collect::<Vec<_>>(),
        )
    };
    let lag = prom::since(&lag(&after), &lag(&before));
    let per_node: Vec<Value> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({
                "owned": prom::metric(&after[i], "watchfire_cluster_owned"),
                "checks_per_s": ((prom::metric(&after[i], "watchfire_checks_total")
                    - prom::metric(&before[i], "watchfire_checks_total")) / elapsed).round(),
                "checks_not_recorded": unrecorded_after[i] - unrecorded_before[i],
                "cpu_cores": ((cpu_after[i] - cpu_before[i]) / elapsed * 100.0).round() / 100.0,
                "rss_mib": usage(n.pid()).0 / 1024,
                "peak_rss_mib": peak_rss[i],
            })
        })
        .collect();
    let summary = json!({
        "nodes": NODES,
        "monitors": count,
        "interval_s": interval_s,
        "measured_s": elapsed.round(),
        "checks_per_s": (checks / elapsed).round(),
        "checks_expected_per_s": (count as f64 / f64::from(interval_s)).round(),
        "checks_missed": missed,
        "events_appended_per_s": (appended / elapsed).round(),
        "monitor_restarts": sum(&after, "watchfire_monitor_restarts_total")
            - sum(&before, "watchfire_monitor_restarts_total"),
        "postgres_deadlocks": deadlocks_after - deadlocks_before,
        "checks_not_recorded": unrecorded_after.iter().sum::<u64>()
            - unrecorded_before.iter().sum::<u64>(),
        "schedule_lag_p50": prom::quantile_of(&lag, 0.50),
        "schedule_lag_p99": prom::quantile_of(&lag, 0.99),
        "per_node": per_node,
        "postgres_cpu_cores": ((pg_cpu_after - pg_cpu_before) / elapsed * 100.0).round() / 100.0,
        "postgres_pss_mib": pg.memory_kib() / 1024,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
}

// ---- failover ----

/// The monitors that `node` holds the lease on, from `wf_leases`.
fn leased_monitors(pg: &PgServer, db: &str, node: &str) -> HashSet<Uuid> {
    pg.psql(
        db,
        &format!(
            "SELECT resource FROM wf_leases WHERE owner = '{node}' AND resource LIKE 'monitor-%' \
             AND expires_at > now()"
        ),
    )
    .lines()
    .filter_map(|r| r.strip_prefix("monitor-")?.parse().ok())
    .collect()
}

/// When each monitor's last check was recorded, from a node's monitor list.
async fn last_checks(
    node: &Node,
    client: &reqwest::Client,
) -> Vec<(Uuid, Option<chrono::DateTime<chrono::Utc>>)> {
    let Ok(resp) = client
        .get(format!("{}/api/v1/monitors", node.base))
        .bearer_auth(TOKEN)
        .send()
        .await
    else {
        return Vec::new();
    };
    let list: Value = resp.json().await.unwrap_or(Value::Null);
    list["monitors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let id = m["id"].as_str()?.parse().ok()?;
            let at = m["last_check"]["at"]
                .as_str()
                .and_then(|at| at.parse().ok());
            Some((id, at))
        })
        .collect()
}

/// Three nodes and `count` monitors at 2 s; `tries` times, kills a node and times the takeover.
fn failover(tries: usize, count: usize) {
    const INTERVAL_S: u32 = 2;
    const DB: &str = "failover";
    let pg = PgServer::start();
    let url = pg.create_database(DB);
    let target = start_target();
    let rt = common::runtime();
    let client = reqwest::Client::new();
    // The nodes inherit this process's environment, the lease included.
    let lease: u64 = std::env::var("WATCHFIRE_CLUSTER__LEASE_S")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(10);
    let mut nodes = rt.block_on(start_cluster(&url, &client));
    println!(
        "{NODES} nodes on PostgreSQL 127.0.0.1:{}, lease {lease} s; creating {count} http \
         monitors at {INTERVAL_S} s",
        pg.port
    );
    rt.block_on(create_monitors(
        &nodes[0], &client, target, count, INTERVAL_S,
    ));
    rt.block_on(wait_owned(&nodes, &client, count as u64 + 1));
    let (mut firsts, mut takeovers) = (Vec::new(), Vec::new());
    let mut rejoins = Vec::new();
    for attempt in 0..tries {
        let victim = attempt % NODES;
        let survivor = (victim + 1) % NODES;
        let node_id = rt.block_on(nodes[victim].ready(&client))["node"]
            .as_str()
            .expect("the node's id")
            .to_owned();
        let owned = leased_monitors(&pg, DB, &node_id);
        nodes[victim].kill();
        let killed_at = chrono::Utc::now();
        let killed = Instant::now();
        // Seconds until the first and until the last of its monitors is checked elsewhere.
        let (first, taken_over) = rt.block_on(async {
            let mut first = None;
            loop {
                let checks = last_checks(&nodes[survivor], &client).await;
                let pending = checks
                    .iter()
                    .filter(|(id, at)| owned.contains(id) && at.is_none_or(|at| at <= killed_at))
                    .count();
                let seen = checks.iter().filter(|(id, _)| owned.contains(id)).count();
                if seen == owned.len() && pending < owned.len() && first.is_none() {
                    first = Some(killed.elapsed().as_secs_f64());
                }
                if seen == owned.len() && pending == 0 {
                    let last = killed.elapsed().as_secs_f64();
                    return (first.unwrap_or(last), last);
                }
                assert!(
                    killed.elapsed() < PATIENCE,
                    "{pending} of {} monitors unchecked since the kill",
                    owned.len()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        // Restart on its data dir (the same node id) and wait until it holds its share again.
        let restarted = Instant::now();
        rt.block_on(async {
            nodes[victim].restart(&client).await;
            while leased_monitors(&pg, DB, &node_id).len() < owned.len() {
                assert!(
                    restarted.elapsed() < PATIENCE,
                    "the restarted node did not take back its monitors"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        let rejoined = restarted.elapsed().as_secs_f64();
        println!(
            "try {}: killed node {} owning {} monitors; checked by others after {first:.1} s \
             (first) to {taken_over:.1} s (all); restarted and owning its {} again after \
             {rejoined:.1} s",
            attempt + 1,
            victim + 1,
            owned.len(),
            owned.len()
        );
        firsts.push(first);
        takeovers.push(taken_over);
        rejoins.push(rejoined);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let summary = json!({
        "nodes": NODES,
        "monitors": count,
        "interval_s": INTERVAL_S,
        "lease_s": lease,
        "tries": tries,
        "first_checked_median_s": (median(&mut firsts) * 10.0).round() / 10.0,
        "failover_median_s": (median(&mut takeovers) * 10.0).round() / 10.0,
        "failover_max_s": (max(&takeovers) * 10.0).round() / 10.0,
        "rejoin_median_s": (median(&mut rejoins) * 10.0).round() / 10.0,
        "rejoin_max_s": (max(&rejoins) * 10.0).round() / 10.0,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
}
