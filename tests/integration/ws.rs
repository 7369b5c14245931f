//! The WebSocket API end to end: the real server, real clients (tokio-tungstenite, and a
//! raw TCP client where a test needs one that misbehaves on the wire), with what arrives
//! compared to the log read back through `watchfire replay`.
//!
//! Waits have generous deadlines: the machine running the tests is slow and shared.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::api::{
    create_token, replay, start_in_process, start_server, wait_for, Api, ADMIN_TOKEN, PATIENCE,
};
use super::helpers::Served;
use super::targets::HttpTarget;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the test's clients")
}

fn ws_url(server: &impl Served) -> String {
    format!("{}/ws", server.base().replacen("http://", "ws://", 1))
}

/// A WebSocket client of the server, with what it has read.
struct Client {
    socket: Socket,
}

impl Client {
    /// Connects with `headers` on the upgrade request.
    async fn connect(server: &impl Served, headers: &[(&str, &str)]) -> Client {
        let mut request = ws_url(server)
            .into_client_request()
            .expect("a WebSocket request");
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(http_name(name), value.parse().expect("a header value"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the upgrade succeeds");
        Client { socket }
    }

    /// Connects with a bearer token.
    async fn bearer(server: &impl Served, token: &str) -> Client {
        Client::connect(server, &[("authorization", &format!("Bearer {token}"))]).await
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("the message is sent");
    }

    async fn subscribe(&mut self, topics: &[&str], since: Option<u64>) {
        let mut message = json!({"type": "subscribe", "topics": topics});
        if let Some(since) = since {
            message["since"] = json!(since);
        }
        self.send(message).await;
    }

    /// The next JSON frame within `limit` (pings and pongs are skipped), or `None`.
    async fn next_within(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??;
            match next {
                Ok(Message::Text(text)) => {
                    return Some(serde_json::from_str(&text).unwrap_or_else(|e| {
                        panic!("the server sent a text frame that is not JSON ({e}): {text}")
                    }))
                }
                Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => continue,
                Ok(other) => panic!("unexpected frame {other:?}"),
                Err(e) => panic!("the connection failed: {e}"),
            }
        }
    }

    /// The next JSON frame, failing the test after [`PATIENCE`].
    async fn next(&mut self) -> Value {
        self.next_within(PATIENCE)
            .await
            .unwrap_or_else(|| panic!("no frame within {PATIENCE:?}"))
    }

    /// Reads frames until one satisfies `found`, returning every frame read, that one last.
    async fn until(&mut self, what: &str, found: impl Fn(&Value) -> bool) -> Vec<Value> {
        let started = Instant::now();
        let mut seen = Vec::new();
        while started.elapsed() < PATIENCE {
            let Some(frame) = self.next_within(Duration::from_secs(1)).await else {
                continue;
            };
            let done = found(&frame);
            seen.push(frame);
            if done {
                return seen;
            }
        }
        panic!("gave up waiting for {what}; read {seen:?}");
    }

    /// The frame that ends the session: a close (with its code) or the end of the stream.
    async fn closed_within(&mut self, limit: Duration) -> Option<Option<CloseCode>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return Some(None),
                Ok(Some(Ok(Message::Close(frame)))) => return Some(frame.map(|f| f.code)),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
}

fn http_name(name: &str) -> tokio_tungstenite::tungstenite::http::HeaderName {
    name.parse().expect("a header name")
}

fn position(frame: &Value) -> u64 {
    frame["position"]
        .as_u64()
        .unwrap_or_else(|| panic!("a frame without a position: {frame}"))
}

fn is(frame: &Value, kind: &str) -> bool {
    frame["type"] == kind
}

/// Creates an HTTP monitor of `target` checking every second: its id.
fn monitor(api: &Api, target: &HttpTarget) -> String {
    let reply = api
        .post(
            "/api/v1/monitors",
            &json!({"name": "site", "kind": "http", "url": target.url("/"), "interval_s": 1, "timeout_ms": 900}),
        )
        .expect(201, "a monitor");
    reply.json()["id"].as_str().expect("an id").to_owned()
}

/// A value of the server's `/metrics`, summed over its series.
fn metric(api: &Api, name: &str) -> f64 {
    let text = api.get("/metrics").expect(200, "metrics").body;
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn snapshots_come_first_then_updates_in_position_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    let id = monitor(&api, &target);
    let topic = format!("monitor:{id}");
    let rt = runtime();
    rt.block_on(async {
        let mut client = Client::bearer(&server, ADMIN_TOKEN).await;
        client
            .subscribe(&["dashboard", "alerts", &topic, "events"], None)
            .await;
        let mut snapshots = BTreeMap::new();
        let mut last = 0;
        let mut updates: Vec<Value> = Vec::new();
        while updates.len() < 12 {
            let frame = client.next().await;
            let p = position(&frame);
            assert!(p >= last, "positions only grow: {p} after {last}: {frame}");
            last = p;
            let t = frame["topic"].as_str().expect("a topic").to_owned();
            if is(&frame, "snapshot") {
                assert!(
                    updates.is_empty(),
                    "every snapshot comes before the updates"
                );
                snapshots.insert(t, (p, frame["data"].clone()));
            } else {
                assert!(is(&frame, "update"), "{frame}");
                let (since, _) = snapshots
                    .get(&t)
                    .unwrap_or_else(|| panic!("an update of {t} before its snapshot"));
                assert!(p > *since, "an update the snapshot already holds: {frame}");
                assert!(frame["timestamp"].is_string() && frame["event"].is_string());
                updates.push(frame);
            }
        }
        assert_eq!(snapshots.len(), 4, "one snapshot per topic: {snapshots:?}");
        let (_, monitor_data) = &snapshots[&topic];
        assert_eq!(monitor_data["id"], id, "the monitor as its API shows it");
        let dashboard = &snapshots["dashboard"].1;
        assert!(dashboard["monitors"][&id].is_object(), "{dashboard}");
        assert_eq!(snapshots["events"].1, json!({}));
        // Each check reaches the monitor's topic, the dashboard (as a patch) and the events.
        let check = updates
            .iter()
            .find(|u| u["topic"] == topic && u["event"] == "MonitorChecked")
            .expect("a check of the monitor");
        let p = position(check);
        let same: Vec<&Value> = updates.iter().filter(|u| position(u) == p).collect();
        let dash = same
            .iter()
            .find(|u| u["topic"] == "dashboard")
            .expect("the dashboard's patch of the check");
        assert_eq!(dash["data"]["monitors"][&id]["last_check"]["position"], p);
        let logged = same
            .iter()
            .find(|u| u["topic"] == "events")
            .expect("the check in the events topic");
        assert_eq!(logged["data"], check["data"]);
        assert_eq!(check["data"]["monitor_id"], id);
    });
}

#[test]
fn a_resumed_session_gets_every_missed_update_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let target = HttpTarget::start();
    let id = monitor(&api, &target);
    let topic = format!("monitor:{id}");
    let rt = runtime();
    let left_at = rt.block_on(async {
        let mut client = Client::bearer(&server, ADMIN_TOKEN).await;
        client.subscribe(&["events", &topic], None).await;
        let seen = client
            .until("a few checks", |f| {
                is(f, "update") && f["topic"] == topic && f["event"] == "MonitorChecked"
            })
            .await;
        position(seen.last().expect("a frame"))
    });
    // Disconnected: checks go on, and a command adds a fact.
    std::thread::sleep(Duration::from_secs(3));
    let paused = api
        .command("POST", &format!("/api/v1/monitors/{id}/pause"), None, None)
        .expect(200, "pause")
        .position();
    let frames = rt.block_on(async {
        let mut client = Client::bearer(&server, ADMIN_TOKEN).await;
        client.subscribe(&["events", &topic], Some(left_at)).await;
        client
            .until("the pause", |f| {
                f["event"] == "MonitorPaused" && f["topic"] == topic
            })
            .await
    });
    assert!(
        frames.iter().all(|f| is(f, "update")),
        "a resumed session gets updates, no snapshot: {frames:?}"
    );
    let mut last = left_at;
    for f in &frames {
        assert!(position(f) >= last, "positions only grow: {f}");
        last = position(f);
    }
    let got = |t: &str| -> Vec<u64> {
        frames
            .iter()
            .filter(|f| f["topic"] == t)
            .map(position)
            .collect()
    };
    let log = replay(dir.path(), None);
    let expected_events: Vec<u64> = log
        .iter()
        .map(|e| e["position"].as_u64().expect("a position"))
        .filter(|p| *p > left_at && *p <= paused)
        .collect();
    let events = got("events");
    assert_eq!(
        &events[..expected_events.len().min(events.len())],
        &expected_events[..],
        "every event after the position, once, in order"
    );
    assert!(
        expected_events.len() >= 3,
        "checks happened while away: {expected_events:?}"
    );
    let stream = format!("monitor-{id}");
    let expected_monitor: Vec<u64> = log
        .iter()
        .filter(|e| e["stream"] == stream.as_str())
        .map(|e| e["position"].as_u64().expect("a position"))
        .filter(|p| *p > left_at && *p <= paused)
        .collect();
    assert_eq!(
        got(&topic),
        expected_monitor,
        "the monitor's events, once each"
    );
    let unique: BTreeSet<(String, u64)> = frames
        .iter()
        .map(|f| (f["topic"].as_str().unwrap_or("").to_owned(), position(f)))
        .collect();
    assert_eq!(unique.len(), frames.len(), "no update twice");
}

/// A WebSocket client on a bare TCP socket, for clients that misbehave on the wire.
struct RawClient {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RawClient {
    /// Opens a session with `token` as bearer; `receive_buffer` shrinks the socket's buffer.
    async fn connect(server: &impl Served, token: &str, receive_buffer: Option<u32>) -> RawClient {
        let addr: std::net::SocketAddr = server
            .base()
            .trim_start_matches("http://")
            .parse()
            .expect("the server's address");
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        if let Some(size) = receive_buffer {
            socket
                .set_recv_buffer_size(size)
                .expect("a receive buffer size");
        }
        let mut stream = socket.connect(addr).await.expect("connects");
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer {token}\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("the upgrade request is sent");
        let mut client = RawClient {
            stream,
            buffer: Vec::new(),
        };
        while !client.buffer.windows(4).any(|w| w == b"\r\n\r\n") {
            client.fill().await.expect("the upgrade is answered");
        }
        let end = client
            .buffer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("the end of the headers")
            + 4;
        let head = String::from_utf8_lossy(&client.buffer[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "upgraded: {head}");
        client.buffer.drain(..end);
        client
    }

    async fn fill(&mut self) -> Option<usize> {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Some(n)
            }
        }
    }

    /// Sends one masked frame.
    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        let mut frame = vec![0x80 | opcode];
        let len = payload.len();
        if len < 126 {
            frame.push(0x80 | len as u8);
        } else if len <= u16::MAX as usize {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
        let mask = [7u8, 1, 8, 3];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream
            .write_all(&frame)
            .await
            .expect("the frame is sent");
    }

    /// The next frame as (opcode, payload), or `None` once the connection is closed.
    async fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buffer.len() >= 2 {
                let opcode = self.buffer[0] & 0x0f;
                let short = (self.buffer[1] & 0x7f) as usize;
                let (len, start) = match short {
                    126 if self.buffer.len() >= 4 => (
                        u16::from_be_bytes([self.buffer[2], self.buffer[3]]) as usize,
                        4,
                    ),
                    127 if self.buffer.len() >= 10 => {
                        let mut bytes = [0u8; 8];
                        bytes.copy_from_slice(&self.buffer[2..10]);
                        (u64::from_be_bytes(bytes) as usize, 10)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (n, 2),
                };
                if len != usize::MAX && self.buffer.len() >= start + len {
                    let payload = self.buffer[start..start + len].to_vec();
                    self.buffer.drain(..start + len);
                    return Some((opcode, payload));
                }
            }
            self.fill().await?;
        }
    }

    /// The next text frame as JSON (other frames are skipped), or `None` once closed.
    async fn next_json(&mut self) -> Option<Value> {
        loop {
            let (opcode, payload) = self.next_frame().await?;
            if opcode == 1 {
                return serde_json::from_slice(&payload).ok();
            }
            if opcode == 8 {
                return None;
            }
        }
    }
}

/// Pushes `n` host samples, `parallel` at a time: many events, quickly.
async fn push_samples(base: &str, n: usize, parallel: usize) {
    let client = reqwest::Client::new();
    // Big samples: a client that stops reading fills its socket's buffers sooner.
    let partitions: Vec<Value> = (0..40)
        .map(|i| json!({"mountpoint": format!("/srv/volumes/a-rather-long-mountpoint-name-{i:04}"), "total": 1_000_000_000u64, "used": 500_000_000u64, "percent": 50.0}))
        .collect();
    let partitions = std::sync::Arc::new(partitions);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..parallel)
        .map(|w| {
            let (client, base, next) = (client.clone(), base.to_owned(), next.clone());
            let partitions = partitions.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let body = json!({
                        "timestamp": Utc::now(),
                        "cpu": {"cpu_percent_total": (i % 100) as f64, "cpu_percent_per_core": [1.0, 2.0, 3.0, 4.0]},
                        "memory": {"memory_total": 8_000_000_000u64, "memory_used": 1_000_000_000u64 + i as u64, "memory_percent": 12.5},
                        "disk": {"partitions": &*partitions},
                        "tags": ["load", "websocket", "test"],
                    });
                    let reply = client
                        .post(format!("{base}/api/v1/hosts/load-{w}/metrics"))
                        .bearer_auth(ADMIN_TOKEN)
                        .json(&body)
                        .send()
                        .await
                        .expect("a push is answered");
                    assert!(reply.status().is_success(), "a push succeeds");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a pusher");
    }
}

#[test]
fn a_client_that_never_reads_slows_no_one_and_later_gets_a_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    // An outbox the never-reading client overflows many times over (3,000 pushes, two
    // topics), with room for the readers to fall behind a little on a busy machine.
    let server = start_server(dir.path(), &[("WATCHFIRE_WEBSOCKET__OUTBOX", "512")]);
    let api = Api::at(&server.base);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let drops_before = metric(&api, "watchfire_ws_outbox_drops_total");
    let base = server.base.clone();
    rt.block_on(async {
        let mut slow = RawClient::connect(&server, ADMIN_TOKEN, Some(4096)).await;
        let subscribe = json!({"type": "subscribe", "topics": ["events", "dashboard"]});
        slow.send_frame(1, subscribe.to_string().as_bytes()).await;
        // The others read everything and time each update from its append.
        let mut readers = Vec::new();
        for _ in 0..3 {
            let mut fast = Client::bearer(&server, ADMIN_TOKEN).await;
            fast.subscribe(&["events"], None).await;
            let snapshot = fast.next().await;
            assert!(is(&snapshot, "snapshot"), "{snapshot}");
            readers.push(tokio::spawn(async move {
                let mut worst = Duration::ZERO;
                let mut updates = 0u64;
                while let Some(frame) = fast.next_within(Duration::from_secs(5)).await {
                    if !is(&frame, "update") {
                        continue;
                    }
                    let at: DateTime<Utc> = frame["timestamp"]
                        .as_str()
                        .and_then(|t| t.parse().ok())
                        .expect("an update's time");
                    let delay = (Utc::now() - at).to_std().unwrap_or_default();
                    worst = worst.max(delay);
                    updates += 1;
                }
                (updates, worst)
            }));
        }
        push_samples(&base, 3000, 8).await;
        let mut total = 0;
        for reader in readers {
            let (updates, worst) = reader.await.expect("a reader");
            eprintln!("a reading session: {updates} updates, worst append-to-delivery {worst:?}");
            assert!(
                worst < Duration::from_secs(5),
                "a reading session's updates arrive within 5 s of their append, at worst {worst:?}"
            );
            total += updates;
        }
        assert!(total >= 3 * 3000, "the readers got every sample: {total}");
        // The slow one reads at last: after its first snapshot and some updates, it gets a
        // fresh snapshot where its backlog was dropped.
        let mut snapshots = 0;
        let mut snapshot = None;
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            let frame = tokio::time::timeout(Duration::from_secs(5), slow.next_json())
                .await
                .ok()
                .flatten()
                .expect("the slow session is still open");
            if is(&frame, "snapshot") && frame["topic"] == "events" {
                snapshots += 1;
                if snapshots == 2 {
                    snapshot = Some(frame);
                    break;
                }
            }
        }
        assert!(snapshot.is_some(), "the slow session got a fresh snapshot");
    });
    // A new client: the old one's idle connection may have been closed by the server.
    let drops = metric(&Api::at(&server.base), "watchfire_ws_outbox_drops_total") - drops_before;
    assert!(drops >= 1.0, "the overflow is counted: {drops}");
}

#[test]
fn sessions_authenticate_by_first_message_bearer_or_cookie_and_in_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let viewer = create_token(dir.path(), "viewer");
    api.post(
        "/api/v1/users",
        &json!({"username": "ana", "password": "correct-horse-battery", "role": "viewer"}),
    )
    .expect(201, "a user");
    let login = api.send(
        "POST",
        "/api/v1/login",
        None,
        &[],
        Some((
            "application/json",
            json!({"username": "ana", "password": "correct-horse-battery"})
                .to_string()
                .into_bytes(),
        )),
    );
    let cookie = login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("a session cookie: {}", login.body))
        .to_owned();
    let rt = runtime();
    rt.block_on(async {
        // By first message.
        let mut client = Client::connect(&server, &[]).await;
        client.send(json!({"type": "auth", "token": viewer})).await;
        client.subscribe(&["alerts"], None).await;
        let frame = client.next().await;
        assert!(
            is(&frame, "snapshot") && frame["topic"] == "alerts",
            "{frame}"
        );

        // By bearer token.
        let mut client = Client::bearer(&server, &viewer).await;
        client.subscribe(&["dashboard"], None).await;
        assert!(is(&client.next().await, "snapshot"));

        // By session cookie.
        let mut client = Client::connect(&server, &[("cookie", &cookie)]).await;
        client.subscribe(&["dashboard"], None).await;
        assert!(is(&client.next().await, "snapshot"));

        // Nothing within the deadline: an error, then "policy violation".
        let mut client = Client::connect(&server, &[]).await;
        let started = Instant::now();
        let frame = client.next_within(Duration::from_secs(10)).await;
        let error = frame.expect("an error frame before the close");
        assert!(is(&error, "error"), "{error}");
        let code = client.closed_within(Duration::from_secs(5)).await;
        assert_eq!(code, Some(Some(CloseCode::Policy)));
        assert!(
            started.elapsed() >= Duration::from_secs(4),
            "not before 5 s"
        );

        // A wrong token by message closes the session.
        let mut client = Client::connect(&server, &[]).await;
        client
            .send(json!({"type": "auth", "token": "wf_not-a-token"}))
            .await;
        let error = client.next().await;
        assert!(is(&error, "error"), "{error}");
        assert_eq!(
            client.closed_within(Duration::from_secs(5)).await,
            Some(Some(CloseCode::Policy))
        );

        // Anything but auth first closes it too.
        let mut client = Client::connect(&server, &[]).await;
        client.subscribe(&["alerts"], None).await;
        assert!(is(&client.next().await, "error"));
        assert_eq!(
            client.closed_within(Duration::from_secs(5)).await,
            Some(Some(CloseCode::Policy))
        );
    });
    // A wrong bearer token is refused at the upgrade.
    let refused = rt.block_on(async {
        let mut request = ws_url(&server).into_client_request().expect("a request");
        request.headers_mut().insert(
            http_name("authorization"),
            "Bearer wf_wrong".parse().expect("a value"),
        );
        tokio_tungstenite::connect_async(request).await
    });
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401)
        }
        other => panic!(
            "a wrong bearer token is refused with 401: {:?}",
            other.map(|_| ())
        ),
    }
}

#[test]
fn roles_limit_topics_and_acknowledgements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let viewer = create_token(dir.path(), "viewer");
    let agent = create_token(dir.path(), "agent");
    let rt = runtime();
    rt.block_on(async {
        let mut client = Client::bearer(&server, &viewer).await;
        client.subscribe(&["events"], None).await;
        let error = client.next().await;
        assert!(is(&error, "error"), "{error}");
        assert!(
            error["detail"].as_str().unwrap_or("").contains("admin"),
            "{error}"
        );
        client
            .send(json!({"type": "ack", "alert_id": uuid::Uuid::new_v4()}))
            .await;
        let error = client.next().await;
        assert!(
            is(&error, "error") && error["detail"].as_str().unwrap_or("").contains("operator"),
            "{error}"
        );
        // Still open, and allowed what a viewer may do.
        client.subscribe(&["alerts"], None).await;
        assert!(is(&client.next().await, "snapshot"));

        let mut client = Client::bearer(&server, &agent).await;
        for topic in ["dashboard", "alerts", "events"] {
            client.subscribe(&[topic], None).await;
            let error = client.next().await;
            assert!(
                is(&error, "error"),
                "an agent cannot follow {topic}: {error}"
            );
        }
    });
}

#[test]
fn junk_frames_each_get_an_error_and_the_session_carries_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let rt = runtime();
    rt.block_on(async {
        let mut client = RawClient::connect(&server, ADMIN_TOKEN, None).await;
        let junk: Vec<(u8, Vec<u8>)> = vec![
            (1, b"not json".to_vec()),
            (1, b"[1,2]".to_vec()),
            (1, br#"{"type": 3}"#.to_vec()),
            (1, br#"{"type": "dance"}"#.to_vec()),
            (1, br#"{"type": "subscribe", "topics": "alerts"}"#.to_vec()),
            (
                1,
                br#"{"type": "subscribe", "topics": ["weather"]}"#.to_vec(),
            ),
            (
                1,
                br#"{"type": "subscribe", "topics": ["monitor:42"]}"#.to_vec(),
            ),
            (
                1,
                br#"{"type": "subscribe", "topics": ["host:no such host"]}"#.to_vec(),
            ),
            (
                1,
                br#"{"type": "subscribe", "topics": ["alerts"], "since": "yesterday"}"#.to_vec(),
            ),
            (1, br#"{"type": "ack", "alert_id": "soon"}"#.to_vec()),
            (2, vec![0, 1, 2, 3]),
            (1, vec![b' '; 70 * 1024]),
        ];
        for (opcode, payload) in &junk {
            client.send_frame(*opcode, payload).await;
            let frame = tokio::time::timeout(Duration::from_secs(10), client.next_json())
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| {
                    panic!(
                        "an answer to {:?}",
                        String::from_utf8_lossy(&payload[..payload.len().min(60)])
                    )
                });
            assert!(
                is(&frame, "error") && frame["detail"].is_string(),
                "an error frame: {frame}"
            );
        }
        let subscribe = json!({"type": "subscribe", "topics": ["alerts"]});
        client.send_frame(1, subscribe.to_string().as_bytes()).await;
        let frame = client.next_json().await.expect("the session is still open");
        assert!(is(&frame, "snapshot"), "{frame}");
        // An acknowledgement of an alert that does not exist is an error, not a close.
        let ack = json!({"type": "ack", "alert_id": uuid::Uuid::new_v4(), "comment": "on it"});
        client.send_frame(1, ack.to_string().as_bytes()).await;
        let frame = client.next_json().await.expect("still open");
        assert!(is(&frame, "error"), "{frame}");
    });
}

#[test]
fn the_server_pings_and_closes_a_silent_session() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(
        dir.path(),
        &[
            ("WATCHFIRE_WEBSOCKET__PING_S", "1"),
            ("WATCHFIRE_WEBSOCKET__TIMEOUT_S", "3"),
        ],
    );
    let rt = runtime();
    rt.block_on(async {
        // A client that answers pings (tungstenite does as it reads) stays.
        let mut talking = Client::bearer(&server, ADMIN_TOKEN).await;
        let talker = async move {
            let mut pings = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(7);
            while let Ok(Some(Ok(message))) =
                tokio::time::timeout_at(deadline, talking.socket.next()).await
            {
                if let Message::Ping(_) = message {
                    pings += 1;
                }
            }
            (talking, pings)
        };
        // One that reads but never sends a frame is closed.
        let mut silent = RawClient::connect(&server, ADMIN_TOKEN, None).await;
        let started = Instant::now();
        let watcher = async move {
            let (opcode, _) = silent.next_frame().await.expect("a frame");
            assert_eq!(opcode, 9, "a ping first");
            assert!(started.elapsed() < Duration::from_secs(3));
            let closed = loop {
                match silent.next_frame().await {
                    Some((8, payload)) => break payload,
                    Some(_) => continue,
                    None => break Vec::new(),
                }
            };
            let after = started.elapsed();
            assert!(
                after >= Duration::from_secs(2) && after < Duration::from_secs(10),
                "closed after about 3 s: {after:?}"
            );
            if closed.len() >= 2 {
                assert_eq!(
                    u16::from_be_bytes([closed[0], closed[1]]),
                    1001,
                    "going away"
                );
            }
            assert!(
                silent.next_frame().await.is_none(),
                "and the connection ends"
            );
        };
        let ((mut talking, pings), ()) = tokio::join!(talker, watcher);
        assert!(pings >= 5, "pings every second: {pings}");
        talking.subscribe(&["alerts"], None).await;
        assert!(
            is(&talking.next().await, "snapshot"),
            "the talking one is still open"
        );
    });
}

#[test]
fn an_operator_acknowledges_a_firing_alert_over_the_websocket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let operator = create_token(dir.path(), "operator");
    let target = HttpTarget::start();
    let hook = HttpTarget::start();
    let channel = api
        .post(
            "/api/v1/channels",
            &json!({"name": "hook", "kind": "webhook", "url": hook.url("/hook"), "secret": "s3cret-value"}),
        )
        .expect(201, "a channel")
        .json()["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let id = monitor(&api, &target);
    api.post(
        "/api/v1/alert-rules",
        &json!({"name": "site down", "severity": "critical",
                "condition": {"kind": "monitor_down", "monitor": id},
                "channels": [channel], "repeat_interval_s": 0}),
    )
    .expect(201, "a rule");
    wait_for("the monitor to be up", || {
        (api.get(&format!("/api/v1/monitors/{id}")).json()["status"] == "up").then_some(())
    });
    target.set_status(503);
    let alert = wait_for("a firing alert", || {
        api.get("/api/v1/alerts?state=firing").json()["alerts"][0]["id"]
            .as_str()
            .map(str::to_owned)
    });
    let rt = runtime();
    let (acked_at, update_at, frames) = rt.block_on(async {
        let mut client = Client::connect(&server, &[]).await;
        client
            .send(json!({"type": "auth", "token": operator}))
            .await;
        client.subscribe(&["alerts"], None).await;
        let snapshot = client.next().await;
        assert!(is(&snapshot, "snapshot"), "{snapshot}");
        let listed = snapshot["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            listed
                .iter()
                .any(|a| a["id"] == alert.as_str() && a["state"] == "firing"),
            "the snapshot lists the firing alert: {snapshot}"
        );
        client
            .send(json!({"type": "ack", "alert_id": alert, "comment": "on it"}))
            .await;
        // The answer and the alert's update may come in either order.
        let mut frames = Vec::new();
        let (mut acked, mut update) = (None, None);
        let started = Instant::now();
        while acked.is_none() || update.is_none() {
            assert!(
                started.elapsed() < PATIENCE,
                "the answer and the update: {frames:?}"
            );
            let Some(frame) = client.next_within(Duration::from_secs(1)).await else {
                continue;
            };
            if is(&frame, "acked") {
                acked = Some(frame.clone());
            } else if frame["event"] == "AlertAcknowledged" {
                update = Some(frame.clone());
            }
            frames.push(frame);
        }
        let (acked, update) = (acked.unwrap_or_default(), update.unwrap_or_default());
        assert_eq!(acked["alert_id"], alert.as_str());
        // The answer names the last position of the acknowledgement's batch (the event and
        // the notification it asks for); the update is the acknowledgement itself.
        let at = position(&acked);
        assert!(
            position(&update) <= at && position(&update) + 2 >= at,
            "the update is the acknowledgement's event: {} of {at}",
            position(&update)
        );
        assert_eq!(update["topic"], "alerts");
        (at, position(&update), frames)
    });
    assert!(frames.iter().all(|f| !is(f, "error")), "{frames:?}");
    // The update came from the log; the alerts read model may be a moment behind it.
    let detail = api
        .get(&format!("/api/v1/alerts/{alert}?min_position={acked_at}"))
        .expect(200, "the acknowledged alert")
        .json();
    assert_eq!(detail["state"], "acknowledged", "{detail}");
    let logged = replay(dir.path(), Some(&format!("alert-{alert}")));
    let ack = logged
        .iter()
        .find(|e| e["type"] == "AlertAcknowledged")
        .expect("the acknowledgement is in the log");
    assert_eq!(ack["position"], update_at);
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(
        dir.path(),
        &[
            ("WATCHFIRE_WEBSOCKET__PING_S", "1"),
            ("WATCHFIRE_WEBSOCKET__TIMEOUT_S", "3"),
            ("WATCHFIRE_WEBSOCKET__OUTBOX", "64"),
        ],
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let base = server.base.clone();
    let sessions = |base: String| async move {
        let text = reqwest::Client::new()
            .get(format!("{base}/metrics"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|l| l.strip_prefix("watchfire_ws_sessions "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("the sessions gauge")
    };
    rt.block_on(async {
        let mut stalled = RawClient::connect(&server, ADMIN_TOKEN, Some(4096)).await;
        let subscribe = json!({"type": "subscribe", "topics": ["events"]});
        stalled
            .send_frame(1, subscribe.to_string().as_bytes())
            .await;
        assert_eq!(sessions(base.clone()).await, 1.0);
        // Enough to fill its socket's buffers: its session stalls, heartbeat and all.
        push_samples(&base, 1500, 8).await;
        let started = Instant::now();
        // It keeps talking (a ping every half second), so only the stall can end it.
        let ping = [0x89u8, 0x80, 0, 0, 0, 0];
        while sessions(base.clone()).await > 0.0 {
            assert!(
                started.elapsed() < PATIENCE,
                "the stalled session is dropped by the kernel's user timeout"
            );
            if stalled.stream.write_all(&ping).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        eprintln!(
            "stalled session dropped {:?} after the pushes",
            started.elapsed()
        );
        drop(stalled);
    });
}

#[test]
fn a_user_demoted_while_connected_loses_the_topics_of_the_old_role() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[("WATCHFIRE_WEBSOCKET__PING_S", "1")]);
    let api = Api::at(&server.base);
    let password = "correct-horse-battery";
    api.post(
        "/api/v1/users",
        &json!({"username": "root", "password": password, "role": "admin"}),
    )
    .expect(201, "an admin user");
    let login = api.post(
        "/api/v1/login",
        &json!({"username": "root", "password": password}),
    );
    let cookie = login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("a session cookie: {}", login.body))
        .to_owned();
    let rt = runtime();
    // The blocking API client runs between the client's steps, outside the runtime.
    let mut client = rt.block_on(async {
        let mut client = Client::connect(&server, &[("cookie", &cookie)]).await;
        client.subscribe(&["events", "dashboard"], None).await;
        client
            .until("both snapshots", |f| {
                is(f, "snapshot") && f["topic"] == "dashboard"
            })
            .await;
        client
    });
    api.command(
        "PATCH",
        "/api/v1/users/root",
        Some(&json!({"role": "viewer"})),
        None,
    )
    .expect(200, "demoting the user");
    rt.block_on(client.until("the events topic ended", |f| {
        is(f, "error") && f["detail"].as_str().is_some_and(|d| d.contains("events"))
    }));

    // A change now reaches the dashboard topic, never the events topic.
    api.post(
        "/api/v1/monitors",
        &json!({"name": "after", "kind": "push"}),
    )
    .expect(201, "a monitor");
    let frames = rt.block_on(client.until("the dashboard update", |f| {
        is(f, "update") && f["topic"] == "dashboard"
    }));
    assert!(
        frames.iter().all(|f| f["topic"] != "events"),
        "no events frame after the demotion: {frames:?}"
    );
}

#[test]
fn a_resumed_dashboard_gets_the_missed_patches_and_after_a_restart_a_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in_process(dir.path());
    let api = Api::at(&server.base);
    let push = |name: &str| -> String {
        let reply = api
            .post("/api/v1/monitors", &json!({"name": name, "kind": "push"}))
            .expect(201, "a push monitor");
        reply.json()["id"].as_str().expect("an id").to_owned()
    };
    let first = push("first");
    let rt = runtime();
    let left_at = rt.block_on(async {
        let mut client = Client::bearer(&server, ADMIN_TOKEN).await;
        client.subscribe(&["dashboard"], None).await;
        let snapshot = client.next().await;
        assert!(is(&snapshot, "snapshot"), "{snapshot}");
        assert!(
            snapshot["data"]["monitors"][&first].is_object(),
            "{snapshot}"
        );
        position(&snapshot)
    });
    // Missed while away: a new card and a changed one.
    let second = push("second");
    api.command(
        "POST",
        &format!("/api/v1/monitors/{first}/pause"),
        None,
        None,
    )
    .expect(200, "pause");
    let frames = rt.block_on(async {
        let mut client = Client::bearer(&server, ADMIN_TOKEN).await;
        client.subscribe(&["dashboard"], Some(left_at)).await;
        client
            .until("the pause's patch", |f| {
                f["data"]["monitors"][&first]["status"] == "paused"
            })
            .await
    });
    assert!(
        frames.iter().all(|f| is(f, "update")),
        "a resumed dashboard gets patches, no snapshot: {frames:?}"
    );
    let card = frames
        .iter()
        .find(|f| f["data"]["monitors"][&second].is_object())
        .expect("the new card's patch");
    assert_eq!(card["data"]["monitors"][&second]["name"], "second");
    assert_eq!(
        card["data"]["counts"]["monitors"]["pending"], 2,
        "counts come with patches"
    );
    let mut last = left_at;
    for f in &frames {
        assert!(position(f) > last, "each patch once, in order: {f}");
        assert_eq!(
            f["data"]["position"],
            position(f),
            "a patch carries its position"
        );
        last = position(f);
    }

    // A restarted server keeps no patches from before it: the same `since` gets a snapshot.
    drop(api);
    drop(server);
    let server = start_in_process(dir.path());
    let snapshot = rt.block_on(async {
        let mut client = Client::bearer(&server, ADMIN_TOKEN).await;
        client.subscribe(&["dashboard"], Some(left_at)).await;
        client.next().await
    });
    assert!(is(&snapshot, "snapshot"), "{snapshot}");
    assert_eq!(snapshot["data"]["monitors"][&first]["status"], "paused");
    assert!(
        snapshot["data"]["monitors"][&second].is_object(),
        "{snapshot}"
    );
    assert!(
        position(&snapshot) >= last,
        "positions only grow: {snapshot}"
    );
}
