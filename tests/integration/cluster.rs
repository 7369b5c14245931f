//! A cluster end to end: real `watchfire serve` nodes on one shared PostgreSQL log, the
//! monitors spread over them by lease, one node killed (kill -9) or paused (SIGSTOP) and
//! the others taking over its share, with what happened read back from the log (through
//! the API), the leases table and a WebSocket client of a surviving node.
//!
//! Waits poll with generous deadlines: the machine running the tests is slow and shared.
//! The one timing assertion is the takeover's: a killed node's monitors are checked by
//! the survivors within 30 s of the kill.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::Message;

use super::api::{Api, ADMIN_TOKEN};
use super::helpers::{blocking_get, run_cli, Server};
use super::postgres::{self, PgServer};
use super::targets::{HttpTarget, TcpTarget};

/// The longest a test waits for the cluster to settle (start, spread, rebalance).
const SETTLE: Duration = Duration::from_secs(120);
/// How soon after a kill the survivors must have checked every monitor the dead node had.
const TAKEOVER: Duration = Duration::from_secs(30);

/// Polls `probe` every 200 ms until it yields a value, or fails the test after `limit`.
fn poll<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            started.elapsed() < limit,
            "gave up after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One node of a cluster: a `watchfire serve` child on its own data directory.
struct Node {
    /// Killed when dropped (a stopped node too: SIGKILL ends it all the same).
    server: Server,
    /// Its node id, as `/health/ready` names it.
    id: String,
    _dir: tempfile::TempDir,
}

impl Node {
    /// Starts a node on the shared log at `url` with leases of `lease_s` seconds.
    fn start(url: &str, lease_s: u64) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let lease = lease_s.to_string();
        let envs = [
            ("WATCHFIRE_ADMIN_TOKEN", ADMIN_TOKEN),
            ("WATCHFIRE_STORE", url),
            ("WATCHFIRE_CLUSTER__LEASE_S", lease.as_str()),
            // Retries fast enough for a test.
            ("WATCHFIRE_NOTIFICATIONS__MAX_ATTEMPTS", "4"),
            ("WATCHFIRE_NOTIFICATIONS__FIRST_RETRY_MS", "500"),
            // Room for a WebSocket reader to fall a little behind on a busy machine: the
            // tests look for gaps the cluster makes, not for the outbox's drops.
            ("WATCHFIRE_WEBSOCKET__OUTBOX", "65536"),
        ];
        let server = Server::start(dir.path(), &envs, &[]);
        let mut node = Node {
            server,
            id: String::new(),
            _dir: dir,
        };
        node.id = poll("the node to name itself", SETTLE, || {
            node.ready()["node"].as_str().map(str::to_owned)
        });
        node
    }

    /// `GET /health/ready` (200 or 503, JSON either way); `Null` if it cannot be read.
    fn ready(&self) -> Value {
        blocking_get(&format!("{}/health/ready", self.server.base), None)
            .ok()
            .and_then(|(_, _, body)| serde_json::from_str(&body).ok())
            .unwrap_or(Value::Null)
    }

    /// The actor its checks are recorded as.
    fn actor(&self) -> String {
        format!("node:{}", self.id)
    }

    fn api(&self) -> Api {
        Api::at(&self.server.base)
    }

    /// Sends `signal` to the node's process.
    fn signal(&self, signal: libc::c_int) {
        // SAFETY: signals our own child, which has not been reaped.
        let sent = unsafe { libc::kill(self.server.pid(), signal) };
        assert_eq!(sent, 0, "signal {signal} to node {}", self.id);
    }

    /// A value of the node's `/metrics`, summed over its series.
    fn metric(&self, name: &str) -> f64 {
        let (status, _, text) =
            blocking_get(&format!("{}/metrics", self.server.base), Some(ADMIN_TOKEN))
                .unwrap_or_else(|e| panic!("/metrics of node {}: {e}", self.id));
        assert_eq!(status, 200, "/metrics: {text}");
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// Starts `n` nodes one after another and waits until each sees all of them.
fn start_nodes(url: &str, n: usize, lease_s: u64) -> Vec<Node> {
    let nodes: Vec<Node> = (0..n).map(|_| Node::start(url, lease_s)).collect();
    for node in &nodes {
        poll(
            &format!("node {} to see {n} nodes", node.id),
            SETTLE,
            || (node.ready()["nodes"].as_u64() == Some(n as u64)).then_some(()),
        );
    }
    nodes
}

/// The unexpired leases: resource to owner (a node id).
fn leases(pg: &PgServer, db: &str) -> BTreeMap<String, String> {
    pg.psql(
        db,
        "SELECT resource || ' ' || owner FROM wf_leases WHERE expires_at > now()",
    )
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(r, o)| (r.to_owned(), o.to_owned()))
    .collect()
}

/// How many of `monitors` (stream names) each node holds the lease on.
fn shares(
    leases: &BTreeMap<String, String>,
    monitors: &BTreeSet<String>,
) -> BTreeMap<String, usize> {
    let mut shares = BTreeMap::new();
    for (resource, owner) in leases {
        if monitors.contains(resource) {
            *shares.entry(owner.clone()).or_default() += 1;
        }
    }
    shares
}

/// Creates a monitor through `api`: its stream name (`monitor-<id>`).
fn create_monitor(api: &Api, body: &Value) -> String {
    let reply = api.post("/api/v1/monitors", body).expect(201, "a monitor");
    let id = reply.json()["id"].as_str().expect("an id").to_owned();
    format!("monitor-{id}")
}

/// The log as `GET /api/v1/events` pages it, read on from where the last read ended.
struct LogTail {
    after: u64,
    events: Vec<Value>,
}

impl LogTail {
    /// A reader of the events after `position`.
    fn after(position: u64) -> LogTail {
        LogTail {
            after: position,
            events: Vec::new(),
        }
    }

    /// Reads every event appended since the last read; the new ones.
    fn catch_up(&mut self, api: &Api) -> &[Value] {
        let first_new = self.events.len();
        loop {
            let path = format!("/api/v1/events?after={}&limit=1000", self.after);
            // A fresh connection each time: a kept-alive one may have been closed by
            // the server while the test waited (a pause is longer than keep-alive).
            let (status, _, body) = blocking_get(&format!("{}{path}", api.base), Some(ADMIN_TOKEN))
                .unwrap_or_else(|e| panic!("GET {path}: {e}"));
            assert_eq!(status, 200, "GET {path}: {body}");
            let page: Value = serde_json::from_str(&body).expect("a page of the log is JSON");
            let events = page["events"].as_array().cloned().unwrap_or_default();
            if let Some(last) = events.last() {
                self.after = position(last);
            }
            let full = !events.is_empty() && page["next_after"].is_u64();
            self.events.extend(events);
            if !full {
                break;
            }
        }
        &self.events[first_new..]
    }
}

fn position(e: &Value) -> u64 {
    e["position"]
        .as_u64()
        .unwrap_or_else(|| panic!("no position in {e}"))
}

/// The JSON bodies a receiver got by POST.
fn posted(target: &HttpTarget) -> Vec<Value> {
    target
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| serde_json::from_str(&r.body).unwrap_or(Value::Null))
        .collect()
}

/// A WebSocket client of one node, subscribed to the `events` topic as admin, reading
/// every frame on a thread of its own so it never falls behind the test.
struct Watcher {
    frames: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Watcher {
    /// Connects to the node at `base`, subscribes, and returns once the topic's snapshot
    /// has arrived.
    fn start(base: &str) -> Watcher {
        let frames = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (subscribed, on_subscribed) = mpsc::channel::<()>();
        let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
        let (sink, stopped) = (frames.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let mut request = url.into_client_request().map_err(|e| e.to_string())?;
                let bearer = format!("Bearer {ADMIN_TOKEN}")
                    .parse()
                    .map_err(|e| format!("{e}"))?;
                request.headers_mut().insert(AUTHORIZATION, bearer);
                let (mut socket, _) = tokio_tungstenite::connect_async(request)
                    .await
                    .map_err(|e| format!("the upgrade failed: {e}"))?;
                let subscribe = json!({"type": "subscribe", "topics": ["events"]});
                socket
                    .send(Message::text(subscribe.to_string()))
                    .await
                    .map_err(|e| e.to_string())?;
                while !stopped.load(Ordering::SeqCst) {
                    let next =
                        tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
                    let frame = match next {
                        Err(_) => continue,
                        Ok(None) => return Err("the server ended the session".to_owned()),
                        Ok(Some(Err(e))) => return Err(format!("the session failed: {e}")),
                        Ok(Some(Ok(frame))) => frame,
                    };
                    match frame {
                        Message::Text(text) => {
                            let value: Value =
                                serde_json::from_str(&text).map_err(|e| e.to_string())?;
                            if let Ok(mut frames) = sink.lock() {
                                frames.push(value);
                            }
                            let _ = subscribed.send(());
                        }
                        Message::Ping(_) | Message::Pong(_) => {}
                        other => return Err(format!("unexpected frame {other:?}")),
                    }
                }
                Ok(())
            })
        });
        let mut watcher = Watcher {
            frames,
            stop,
            thread: Some(thread),
        };
        if on_subscribed.recv_timeout(SETTLE).is_err() {
            let ended = watcher.finish();
            panic!("the WebSocket client got no snapshot: {ended:?}");
        }
        watcher
    }

    /// Every frame read so far.
    fn frames(&self) -> Vec<Value> {
        self.frames.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Stops reading: every frame read, or why the session ended early.
    fn finish(&mut self) -> Result<Vec<Value>, String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .unwrap_or_else(|_| Err("the client's thread panicked".to_owned()))?;
        }
        Ok(self.frames())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[test]
fn three_nodes_spread_300_monitors_and_the_survivors_take_over_a_killed_nodes_share() {
    let started = Instant::now();
    let pg = postgres::shared();
    let db = "cluster_three_nodes";
    let url = pg.create_database(db);
    let target = HttpTarget::start();
    let hook = HttpTarget::start();
    let mut tcp = TcpTarget::start();
    let lease_s = 4;
    let nodes = start_nodes(&url, 3, lease_s);
    let one = &nodes[0];
    // Subscribed before anything happens, on a node that survives.
    let mut watcher = Watcher::start(&one.server.base);
    let api = one.api();

    let monitors: BTreeSet<String> = (0..300)
        .map(|i| {
            create_monitor(
                &api,
                &json!({"name": format!("site {i}"), "kind": "http", "url": target.url("/"),
                        "interval_s": 5, "timeout_ms": 3000}),
            )
        })
        .collect();
    let spread = poll("300 monitors leased over 3 nodes", SETTLE, || {
        let leases = leases(pg, db);
        let shares = shares(&leases, &monitors);
        let all = shares.values().sum::<usize>() == monitors.len();
        let owning = nodes
            .iter()
            .all(|n| n.ready()["owned"].as_u64().is_some_and(|k| k > 0));
        (all && shares.len() == 3 && owning).then_some(shares)
    });
    eprintln!("monitors per node: {spread:?}");
    for node in &nodes {
        let share = spread.get(&node.id).copied().unwrap_or(0);
        assert!(
            share >= 50,
            "node {} owns {share} of 300: {spread:?}",
            node.id
        );
    }

    // Alerting: a webhook channel, and a rule on the tag `db` naming it; each is leased by
    // the node it hashes to. No repeats (0): a second firing notification would be a duplicate.
    let channel = api
        .post(
            "/api/v1/channels",
            &json!({"name": "hook", "kind": "webhook", "url": hook.url("/hook"), "secret": "s3cret"}),
        )
        .expect(201, "a webhook channel")
        .json()["id"]
        .as_str()
        .expect("the channel's id")
        .to_owned();
    let rule = api
        .post(
            "/api/v1/alert-rules",
            &json!({"name": "db down", "severity": "critical",
                    "condition": {"kind": "monitor_down", "tag": "db"},
                    "channels": [channel], "repeat_interval_s": 0}),
        )
        .expect(201, "a rule")
        .json()["id"]
        .as_str()
        .expect("the rule's id")
        .to_owned();
    let (rule_lease, channel_lease) = (format!("rule-{rule}"), format!("channel-{channel}"));
    let owners = poll("the rule's and the channel's leases", SETTLE, || {
        let leases = leases(pg, db);
        Some((
            leases.get(&rule_lease).cloned()?,
            leases.get(&channel_lease).cloned()?,
        ))
    });
    // The node to kill: the one running the rule (else the channel), so that a survivor
    // takes it over, unless that is node 1, which serves this test's requests and
    // WebSocket client.
    let victim = if owners.0 == nodes[1].id || (owners.0 == nodes[0].id && owners.1 == nodes[1].id)
    {
        1
    } else {
        2
    };
    let three = &nodes[victim];
    let survivors = [nodes[0].actor(), nodes[3 - victim].actor()];

    // A TCP monitor on the node that will be killed, tagged for the rule once it is up.
    let mut on_three = None;
    for attempt in 0..20 {
        let stream = create_monitor(
            &api,
            &json!({"name": format!("db {attempt}"), "kind": "tcp", "host": "127.0.0.1",
                    "port": tcp.port(), "interval_s": 1, "timeout_ms": 900}),
        );
        let owner = poll("the TCP monitor's lease", SETTLE, || {
            leases(pg, db).get(&stream).cloned()
        });
        if owner == three.id {
            on_three = Some(stream);
            break;
        }
    }
    let tcp_stream = on_three.expect("one of 20 TCP monitors hashes to node 3");
    let tcp_id = tcp_stream.trim_start_matches("monitor-").to_owned();
    poll("the TCP monitor to be up", SETTLE, || {
        let monitor = api.get(&format!("/api/v1/monitors/{tcp_id}")).json();
        (monitor["status"] == "up").then_some(())
    });
    api.command(
        "PATCH",
        &format!("/api/v1/monitors/{tcp_id}"),
        Some(&json!({"tags": ["db"]})),
        None,
    )
    .expect(200, "the TCP monitor tagged for the rule");

    let before_kill = leases(pg, db);
    let owned_by_three: BTreeSet<String> = before_kill
        .iter()
        .filter(|(r, o)| r.starts_with("monitor-") && **o == three.id)
        .map(|(r, _)| r.clone())
        .collect();
    assert!(owned_by_three.contains(&tcp_stream));
    eprintln!(
        "node 3 owns {} monitors (the TCP one included); the rule: {}, the channel: {}",
        owned_by_three.len(),
        before_kill.get(&rule_lease) == Some(&three.id),
        before_kill.get(&channel_lease) == Some(&three.id),
    );
    let kill_position = one.ready()["position"].as_u64().expect("node 1's position");
    tcp.close();
    three.signal(libc::SIGKILL);
    let killed_at = Instant::now();

    // (a) Every monitor node 3 had is checked by a survivor within 30 s of the kill.
    let mut tail = LogTail::after(kill_position);
    let mut unchecked = owned_by_three.clone();
    loop {
        for e in tail.catch_up(&api) {
            let by_survivor = survivors.iter().any(|s| e["actor"] == s.as_str());
            if e["type"] == "MonitorChecked" && by_survivor {
                unchecked.remove(e["stream"].as_str().unwrap_or_default());
            }
        }
        if unchecked.is_empty() {
            break;
        }
        assert!(
            killed_at.elapsed() < TAKEOVER,
            "{} of node 3's {} monitors were not checked by a survivor within {TAKEOVER:?} \
             of the kill: {unchecked:?}",
            unchecked.len(),
            owned_by_three.len()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let takeover = killed_at.elapsed();
    eprintln!("the survivors checked node 3's monitors within {takeover:?} of the kill");

    // (b) The TCP monitor's alert fires once, and the webhook hears of it once.
    let firing = poll("the firing notification", SETTLE, || {
        posted(&hook)
            .into_iter()
            .find(|b| b["state"] == "firing" && b["rule"] == "db down")
    });
    let alert_id = firing["alert_id"]
        .as_str()
        .expect("the notification names its alert")
        .to_owned();
    let sent = poll("the NotificationSent in the log", SETTLE, || {
        tail.catch_up(&api);
        tail.events
            .iter()
            .find(|e| e["type"] == "NotificationSent" && e["data"]["alert_id"] == alert_id.as_str())
            .cloned()
    });
    // Long enough for a second holder of a lease to have sent it again, had it been owed.
    std::thread::sleep(Duration::from_secs(2 * lease_s + 5));
    let bodies = posted(&hook);
    assert_eq!(
        bodies.len(),
        1,
        "exactly one notification reached the webhook: {bodies:?}"
    );
    assert_eq!(bodies[0]["alert_id"], alert_id.as_str());
    tail.catch_up(&api);
    let sent_for_alert: Vec<&Value> = tail
        .events
        .iter()
        .filter(|e| e["type"] == "NotificationSent" && e["data"]["alert_id"] == alert_id.as_str())
        .collect();
    assert_eq!(
        sent_for_alert.len(),
        1,
        "one NotificationSent: {sent_for_alert:?}"
    );
    let fired: Vec<&Value> = tail
        .events
        .iter()
        .filter(|e| e["type"] == "AlertFired")
        .collect();
    assert_eq!(fired.len(), 1, "the alert fired once: {fired:?}");

    // (c) The WebSocket client on node 1 got every event once, in order, with no gap.
    let sent_at = position(&sent);
    poll(
        "the WebSocket client to reach the NotificationSent",
        SETTLE,
        || {
            watcher
                .frames()
                .iter()
                .any(|f| f["position"].as_u64() >= Some(sent_at))
                .then_some(())
        },
    );
    let frames = watcher.finish().expect("the WebSocket session stays open");
    let (snapshot, updates) = frames.split_first().expect("a snapshot first");
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["topic"], "events", "{snapshot}");
    let mut last = position(snapshot);
    for frame in updates {
        assert_eq!(
            frame["type"], "update",
            "no second snapshot (the outbox never overflowed): {frame}"
        );
        let p = position(frame);
        assert_eq!(
            p,
            last + 1,
            "each event follows the one before: {p} after {last}"
        );
        last = p;
    }
    assert!(
        last >= sent_at,
        "the events reached the NotificationSent at {sent_at}: {last}"
    );
    eprintln!(
        "the WebSocket client read positions {} to {last} with no gap",
        position(snapshot) + 1
    );

    // (d) The shared log's chains verify.
    drop(nodes);
    let scratch = tempfile::tempdir().expect("temp dir");
    let scratch_dir = scratch.path().to_str().expect("temp dirs are UTF-8");
    let (code, stdout, stderr) = run_cli(&["verify", "--data-dir", scratch_dir, "--store", &url]);
    assert_eq!(code, 0, "verify: {stdout} {stderr}");
    eprintln!("the test took {:?}", started.elapsed());
}

#[test]
fn a_paused_node_whose_leases_expired_appends_nothing_stale() {
    let started = Instant::now();
    let pg = postgres::shared();
    let db = "cluster_paused_node";
    let url = pg.create_database(db);
    let target = HttpTarget::start();
    let lease_s = 3;
    let nodes = start_nodes(&url, 2, lease_s);
    let (a, b) = (&nodes[0], &nodes[1]);
    let api = a.api();
    let monitors: BTreeSet<String> = (0..20)
        .map(|i| {
            create_monitor(
                &api,
                &json!({"name": format!("site {i}"), "kind": "http", "url": target.url("/"),
                        "interval_s": 1, "timeout_ms": 900}),
            )
        })
        .collect();
    let b_had: BTreeSet<String> = poll("both nodes to own monitors", SETTLE, || {
        let leases = leases(pg, db);
        let shares = shares(&leases, &monitors);
        let all = shares.values().sum::<usize>() == monitors.len();
        (all && shares.len() == 2).then(|| {
            leases
                .iter()
                .filter(|(r, o)| monitors.contains(*r) && **o == b.id)
                .map(|(r, _)| r.clone())
                .collect()
        })
    });
    // B's actors run: each of its monitors has a check by B before the pause.
    let mut tail = LogTail::after(0);
    let mut unchecked = b_had.clone();
    let waited = Instant::now();
    loop {
        for e in tail.catch_up(&api) {
            if e["type"] == "MonitorChecked" && e["actor"] == b.actor().as_str() {
                unchecked.remove(e["stream"].as_str().unwrap_or_default());
            }
        }
        if unchecked.is_empty() {
            break;
        }
        if waited.elapsed() > SETTLE {
            let mut checks: BTreeMap<(String, String), usize> = BTreeMap::new();
            for e in tail.events.iter().filter(|e| e["type"] == "MonitorChecked") {
                let key = (
                    e["stream"].as_str().unwrap_or_default().to_owned(),
                    e["actor"].as_str().unwrap_or_default().to_owned(),
                );
                *checks.entry(key).or_default() += 1;
            }
            let types: BTreeSet<String> = tail
                .events
                .iter()
                .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
                .collect();
            let log = b.server.stderr();
            panic!(
                "no check by B of {unchecked:?}\nleases: {:?}\nchecks: {checks:#?}\ntypes: {types:?}\nready A {} B {}\nB's log:\n{}",
                leases(pg, db), a.ready(), b.ready(), log[log.len().saturating_sub(30)..].join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    b.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(2 * lease_s + 3));
    let waited = Instant::now();
    loop {
        let leases = leases(pg, db);
        let shares = shares(&leases, &monitors);
        let all_a = shares.get(&a.id) == Some(&monitors.len());
        if all_a {
            break;
        }
        if waited.elapsed() > SETTLE {
            let activity = pg.psql(
                db,
                "SELECT pid, state, wait_event_type, wait_event, left(query, 120) \
                 FROM pg_stat_activity WHERE datname = current_database()",
            );
            let table = pg.psql(db, "SELECT * FROM wf_leases ORDER BY resource");
            let nodes = pg.psql(db, "SELECT *, now() FROM wf_nodes");
            let log = a.server.stderr();
            let tail = &log[log.len().saturating_sub(40)..];
            panic!(
                "A did not take every lease over while B was paused: {shares:?}\n\
                 leases:\n{table}\nnodes:\n{nodes}\nactivity:\n{activity}\nA's log:\n{}",
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let everything = monitors.len() as u64;
    poll("A's readiness to count 20 monitors", SETTLE, || {
        (a.ready()["owned"].as_u64() == Some(everything)).then_some(())
    });

    // A's actors run the monitors it took over before B comes back.
    let mut untaken = b_had.clone();
    poll("a check by A of each monitor B had", SETTLE, || {
        for e in tail.catch_up(&api) {
            if e["type"] == "MonitorChecked" && e["actor"] == a.actor().as_str() {
                untaken.remove(e["stream"].as_str().unwrap_or_default());
            }
        }
        untaken.is_empty().then_some(())
    });

    // Resumed: until B holds a monitor's lease again, nothing B appends to it may land.
    // One statement reads the log's head and B's leases: every event up to that head was
    // committed while B held none of the leases not listed.
    b.signal(libc::SIGCONT);
    let resumed_at = Instant::now();
    let mut lease_free_through: BTreeMap<String, u64> = BTreeMap::new();
    let mut regained_after: BTreeMap<String, u64> = BTreeMap::new();
    let probe = format!(
        "SELECT (SELECT coalesce(max(position), 0) FROM wf_events) || ' ' || \
         coalesce((SELECT string_agg(resource, ',') FROM wf_leases \
                   WHERE owner = '{}' AND expires_at > now()), '')",
        b.id
    );
    while resumed_at.elapsed() < Duration::from_secs(5)
        || (regained_after.len() < b_had.len() && resumed_at.elapsed() < SETTLE)
    {
        let row = pg.psql(db, &probe);
        let (head, held) = row.split_once(' ').unwrap_or((row.as_str(), ""));
        let head: u64 = head.parse().expect("the log's head");
        let held: BTreeSet<&str> = held.split(',').filter(|r| !r.is_empty()).collect();
        for stream in &b_had {
            if held.contains(stream.as_str()) {
                regained_after.entry(stream.clone()).or_insert(head);
            } else if !regained_after.contains_key(stream) {
                lease_free_through.insert(stream.clone(), head);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if regained_after.len() < b_had.len() {
        let log = b.server.stderr();
        panic!(
            "B took back {} of its {} monitors within {SETTLE:?} of the resume; leases: {:?}\n\
             B's log:\n{}",
            regained_after.len(),
            b_had.len(),
            leases(pg, db),
            log[log.len().saturating_sub(40)..].join("\n")
        );
    }
    tail.catch_up(&api);
    let mut stale: Vec<Value> = Vec::new();
    let mut late_a: Vec<Value> = Vec::new();
    for stream in &b_had {
        let on_stream: Vec<&Value> = tail
            .events
            .iter()
            .filter(|e| e["stream"] == stream.as_str())
            .collect();
        let first_by_a = on_stream
            .iter()
            .find(|e| e["type"] == "MonitorChecked" && e["actor"] == a.actor().as_str())
            .map(|e| position(e))
            .unwrap_or_else(|| panic!("A never checked {stream} while B was paused"));
        let free_through = lease_free_through.get(stream).copied().unwrap_or(0);
        stale.extend(
            on_stream
                .iter()
                .filter(|e| {
                    let p = position(e);
                    e["actor"] == b.actor().as_str() && p > first_by_a && p <= free_through
                })
                .map(|e| (*e).clone()),
        );
        // Once B holds it again, A (which stopped its actor before releasing) appends no more.
        if let Some(regained) = regained_after.get(stream) {
            late_a.extend(
                on_stream
                    .iter()
                    .filter(|e| e["actor"] == a.actor().as_str() && position(e) > *regained)
                    .map(|e| (*e).clone()),
            );
        }
    }
    assert!(
        stale.is_empty(),
        "B appended to monitors A had taken over, before taking them back: {stale:?}"
    );
    assert!(
        late_a.is_empty(),
        "A appended to monitors B had taken back: {late_a:?}"
    );
    let fenced = b.metric("watchfire_appends_fenced_total");
    assert!(fenced >= 0.0);
    eprintln!(
        "B's fenced appends after the resume: {fenced}; B took back {} of its {} monitors",
        regained_after.len(),
        b_had.len()
    );

    // B rejoins: the hash gives it its share back.
    poll("B to own monitors again", SETTLE, || {
        let shares = shares(&leases(pg, db), &monitors);
        (shares.get(&b.id).copied().unwrap_or(0) > 0).then_some(())
    });
    poll("B's readiness to count what it owns", SETTLE, || {
        (b.ready()["owned"].as_u64().is_some_and(|k| k > 0)).then_some(())
    });
    drop(nodes);
    eprintln!("the test took {:?}", started.elapsed());
}

/// A host's push body, sampled `ago_s` seconds ago.
fn host_body(hostname: &str, ago_s: i64) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::seconds(ago_s);
    json!({
        "hostname": hostname, "timestamp": at, "interval_s": 60,
        "cpu": {"cpu_percent_total": 5.0, "cpu_count_logical": 2, "load_average": [0.1, 0.1, 0.1]},
        "memory": {"memory_total": 1000, "memory_used": 100, "memory_percent": 10.0},
        "disk": {"partitions": []},
        "io": {"network": {"bytes_sent": 1, "bytes_recv": 1},
               "disk_io": {"read_bytes": 1, "write_bytes": 1}}
    })
}

#[test]
fn any_node_answers_commands_pushes_and_heartbeats_for_what_another_node_owns() {
    let pg = postgres::shared();
    let db = "cluster_any_node";
    let url = pg.create_database(db);
    let target = HttpTarget::start();
    let nodes = start_nodes(&url, 2, 4);
    let apis = [nodes[0].api(), nodes[1].api()];
    let http: Vec<String> = (0..6)
        .map(|i| {
            create_monitor(
                &apis[0],
                &json!({"name": format!("m{i}"), "kind": "http", "url": target.url("/"),
                        "interval_s": 60}),
            )
        })
        .collect();
    let push: Vec<(String, String)> = (0..2)
        .map(|i| {
            let made = apis[0]
                .post(
                    "/api/v1/monitors",
                    &json!({"name": format!("p{i}"), "kind": "push", "interval_s": 60}),
                )
                .expect(201, "a push monitor")
                .json();
            let id = made["id"].as_str().expect("an id");
            let token = made["push_token"].as_str().expect("a push token");
            (format!("monitor-{id}"), token.to_owned())
        })
        .collect();
    let streams: Vec<&String> = http.iter().chain(push.iter().map(|(s, _)| s)).collect();
    let owners: Vec<String> = poll("every monitor leased", SETTLE, || {
        let leases = leases(pg, db);
        streams.iter().map(|s| leases.get(*s).cloned()).collect()
    });
    // The index of the node that does not own what `owner` owns.
    let other = |owner: &str| usize::from(owner == nodes[0].id);

    // Monitor commands through the node that does not own the monitor: forwarded, and the
    // forwarding node reads its own write; a bad one is the owner's problem, relayed.
    for (stream, owner) in http.iter().zip(&owners) {
        let id = stream.trim_start_matches("monitor-");
        let api = &apis[other(owner)];
        let path = format!("/api/v1/monitors/{id}");
        let patched = api
            .command("PATCH", &path, Some(&json!({"interval_s": 30})), None)
            .expect(
                200,
                "a PATCH through the node that does not own the monitor",
            );
        assert_eq!(patched.json()["interval_s"], 30);
        assert_eq!(
            api.get(&path).expect(200, "the monitor").json()["interval_s"],
            30
        );
        let bad = api.command("PATCH", &path, Some(&json!({"interval_s": 0})), None);
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert_eq!(bad.header("content-type"), Some("application/problem+json"));
        assert_eq!(bad.json()["field"], "interval_s");
        assert_eq!(
            apis[0].get(&path).expect(200, "the monitor").json()["interval_s"],
            30,
            "a refused PATCH changes nothing"
        );
    }

    // Heartbeats (Uptime Kuma's GET push URL) through the node that does not own them.
    for ((stream, token), owner) in push.iter().zip(&owners[http.len()..]) {
        let base = &nodes[other(owner)].server.base;
        let (status, _, body) = blocking_get(
            &format!("{base}/api/push/{token}?status=up&msg=via-{}", other(owner)),
            None,
        )
        .expect("the push answers");
        assert_eq!(status, 200, "{body}");
        let id = stream.trim_start_matches("monitor-");
        poll("the heartbeat among the monitor's checks", SETTLE, || {
            let checks = apis[0].get(&format!("/api/v1/monitors/{id}/checks")).json();
            let seen = checks["checks"]
                .as_array()?
                .iter()
                .any(|c| c["msg"].as_str().is_some_and(|m| m.starts_with("via-")));
            seen.then_some(())
        });
    }

    // Agents push to either node, by both push routes: every sample is recorded once.
    for round in 0..3 {
        for h in 0..4 {
            let api = &apis[(round + h) % 2];
            let hostname = format!("host{h}");
            let body = host_body(&hostname, 30 - round as i64);
            let path = if h == 3 {
                "/api/metrics".to_owned()
            } else {
                format!("/api/v1/hosts/{hostname}/metrics")
            };
            api.post(&path, &body)
                .expect(200, "a push through either node");
        }
    }
    for h in 0..4 {
        let stream = format!("host-host{h}");
        let (code, out, err) = run_cli(&[
            "replay", "--store", &url, "--stream", &stream, "--format", "json",
        ]);
        assert_eq!(code, 0, "{err}");
        let samples = out
            .lines()
            .filter(|l| l.contains("\"HostMetricsReported\""))
            .count();
        assert_eq!(samples, 3, "{stream}: each of three pushes recorded once");
        assert_eq!(
            out.lines()
                .filter(|l| l.contains("\"HostRegistered\""))
                .count(),
            1
        );
    }

    // A channel's change through the node that does not run it.
    let channel = apis[0]
        .post(
            "/api/v1/channels",
            &json!({"name": "hook", "kind": "webhook", "url": target.url("/hook")}),
        )
        .expect(201, "a channel")
        .json()["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let owner = poll("the channel's lease", SETTLE, || {
        leases(pg, db).get(&format!("channel-{channel}")).cloned()
    });
    let api = &apis[other(&owner)];
    api.command(
        "PATCH",
        &format!("/api/v1/channels/{channel}"),
        Some(&json!({"name": "renamed"})),
        None,
    )
    .expect(200, "a channel PATCH through the node that does not run it");
    let listed = api.get("/api/v1/channels").expect(200, "channels").json();
    assert!(
        listed.to_string().contains("\"renamed\""),
        "the forwarding node shows the new name: {listed}"
    );
}
