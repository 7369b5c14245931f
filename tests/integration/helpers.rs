//! Shared test fixtures: stores in temp dirs, sample events, and the real server as a child process.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use uuid::Uuid;
use watchfire::events::{
    Actor, DataDir, Event, EventStore, MonitorChecked, NewEvent, StoreOptions, StreamId,
    TokenRevoked,
};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_watchfire");

/// Opens (creating) a store in `dir` with test-sized options.
pub fn open_store(dir: &Path) -> EventStore {
    // sled releases its file lock from its own threads, a moment after a store is dropped.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let data_dir = DataDir::create_or_open(dir).expect("test data dir opens");
        let opened = EventStore::open(
            data_dir,
            StoreOptions {
                cache_capacity_bytes: 16 * 1024 * 1024,
                ..StoreOptions::default()
            },
        );
        match opened {
            Ok(store) => return store,
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("test store opens: {e}"),
        }
    }
}

/// A two-worker runtime for tests that drive a store directly.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime builds")
}

/// A fact event whose payload carries `n`, so tests can tell events apart.
pub fn fact(n: u64) -> NewEvent {
    NewEvent::new(
        Event::TokenRevoked(TokenRevoked {
            token_id: Uuid::from_u128(n as u128),
        }),
        Actor::system(),
    )
}

/// An observation event (expires with retention) whose payload carries `n`.
pub fn observation(n: u64) -> NewEvent {
    NewEvent::new(
        Event::MonitorChecked(MonitorChecked {
            monitor_id: Uuid::from_u128(n as u128),
            ok: n.is_multiple_of(2),
            latency_ms: n as f64,
            status_code: Some(200),
            error: None,
            cert_expires_at: None,
            ping: None,
        }),
        Actor::system(),
    )
}

/// A stream id for tests.
pub fn stream(name: &str) -> StreamId {
    StreamId::new(name).expect("test stream ids are valid")
}

/// A loopback port nothing listened on a moment ago: for addresses that must refuse
/// connections. Servers under test bind port 0 instead and report the port they got.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running server, in a child process or in this one: where to reach it.
pub trait Served {
    /// `http://127.0.0.1:<port>`.
    fn base(&self) -> &str;
}

impl Served for Server {
    fn base(&self) -> &str {
        &self.base
    }
}

impl Served for TestServer {
    fn base(&self) -> &str {
        &self.base
    }
}

/// A `watchfire serve` child process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub stderr_lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `watchfire serve` on `127.0.0.1:0` with `data_dir`, extra env vars and args,
    /// and waits for /health on the address it reports having bound.
    pub fn start(data_dir: &Path, envs: &[(&str, &str)], args: &[&str]) -> Server {
        Server::start_on(data_dir, "127.0.0.1:0", envs, args)
    }

    /// Starts `watchfire serve --listen listen` (port 0 or a port an earlier start bound),
    /// reads the bound address from `<data_dir>/listen.addr` and waits for /health.
    pub fn start_on(data_dir: &Path, listen: &str, envs: &[(&str, &str)], args: &[&str]) -> Server {
        // What a stopped or killed server left there is not the new one's address.
        let addr_file = DataDir::listen_addr_path(data_dir);
        match std::fs::remove_file(&addr_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("cannot remove {}: {e}", addr_file.display()),
        }
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(listen)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("watchfire starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("[server] {line}");
                }
                if let Ok(mut l) = sink.lock() {
                    l.push(line);
                }
            }
        });
        let mut server = Server {
            child,
            base: String::new(),
            data_dir: data_dir.to_owned(),
            stderr_lines: lines,
        };
        let addr = server.wait_bound_addr(Duration::from_secs(60));
        server.base = format!("http://{addr}");
        server.wait_healthy(Duration::from_secs(60));
        server
    }

    /// Waits until the child has written the address it listens on, failing the test if
    /// it exits first or takes longer than `limit`.
    fn wait_bound_addr(&mut self, limit: Duration) -> std::net::SocketAddr {
        let file = DataDir::listen_addr_path(&self.data_dir);
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                if let Ok(addr) = text.trim().parse() {
                    return addr;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "server exited ({status}) before listening; stderr: {:?}",
                    self.stderr()
                );
            }
            assert!(
                started.elapsed() < limit,
                "server wrote no {} within {limit:?}; stderr: {:?}",
                file.display(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `/health` answers 200.
    pub fn wait_healthy(&self, limit: Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(resp) = blocking_get(&format!("{}/health", self.base), None) {
                if resp.0 == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become healthy; stderr: {:?}", self.stderr());
    }

    /// Everything the server wrote on stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr_lines
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// The child's process id, for signals a test sends itself (SIGKILL, SIGSTOP, SIGCONT).
    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().expect("server exits");
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET with an optional bearer token: (status, content type, body).
pub fn blocking_get(url: &str, token: Option<&str>) -> Result<(u16, String, String), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client.get(url).timeout(Duration::from_secs(10));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = resp.text().await.map_err(|e| e.to_string())?;
        Ok((status, ctype, body))
    })
}

/// Runs `watchfire` with `args` to completion: (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("watchfire runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A small tmpfs mounted for a test (full-disk and read-only tests), unmounted when dropped.
pub struct TmpMount {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TmpMount {
    /// Mounts a tmpfs of `size` (such as "2m"); `None` when this user may not mount.
    pub fn new(size: &str) -> Option<TmpMount> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().to_owned();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("cannot mount a tmpfs here (needs root): skipping the disk-limit part");
            return None;
        }
        Some(TmpMount { path, _dir: dir })
    }

    /// Remounts read-only.
    pub fn make_read_only(&self) -> bool {
        Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

impl Drop for TmpMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Waits (boundedly) until no process holds the data directory's lock.
///
/// The test process is multi-threaded and forks children (the CLI, mount, re-executed
/// test children) from several threads at once: a child forked while one test held a data
/// directory's lock holds a duplicate of that flock'ed file until it execs, so for a moment
/// after a test drops its store the directory can still look locked. Opening or verifying
/// right then fails with "in use by another watchfire process"; waiting here avoids that.
pub fn wait_until_unlocked(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    // Not a data directory (yet): nothing to wait for; the caller reports what is wrong.
    while DataDir::is_locked(dir).unwrap_or(false) {
        assert!(
            Instant::now() < deadline,
            "{} stays locked by another process",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The test binary itself, set up to run only the test `name` as a child process
/// (crash and disk-filling children), with stdout and stderr piped.
pub fn reexec(name: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary's path"));
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The real server run in this test process, on its own thread and actix system, on a
/// listener bound to `127.0.0.1:0` before it starts: nothing to spawn, no port to pick.
/// Stopped gracefully (as by SIGTERM) by [`TestServer::stop`] or when dropped.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The data directory it serves.
    pub data_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<String>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl TestServer {
    /// Starts `watchfire::server::run` on `data_dir` with the default settings, `admin_token`
    /// as the bootstrap token, and whatever `adjust` changes; waits for `/health`.
    pub fn start(
        data_dir: &Path,
        admin_token: &str,
        adjust: impl FnOnce(&mut watchfire::config::Settings),
    ) -> TestServer {
        TestServer::start_with_clock(data_dir, admin_token, watchfire::clock::system(), adjust)
    }

    /// [`TestServer::start`] reading the time from `clock` (a `ManualClock` the test moves).
    pub fn start_with_clock(
        data_dir: &Path,
        admin_token: &str,
        clock: watchfire::clock::SharedClock,
        adjust: impl FnOnce(&mut watchfire::config::Settings),
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
        let addr = listener.local_addr().expect("the listener's address");
        let mut settings = watchfire::config::Settings {
            listen: addr.to_string(),
            data_dir: data_dir.to_owned(),
            admin_token: Some(secrecy::SecretString::from(admin_token.to_owned())),
            ..watchfire::config::Settings::default()
        };
        adjust(&mut settings);
        settings.validate().expect("test settings are valid");
        let (stop, stopped) = tokio::sync::oneshot::channel::<String>();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let shutdown = async move { stopped.await.unwrap_or_else(|_| "test ended".into()) };
                watchfire::server::run_with_clock(listener, settings, clock, shutdown)
                    .await
                    .map_err(|e| e.to_string())
            })
        });
        let mut server = TestServer {
            base: format!("http://{addr}"),
            data_dir: data_dir.to_owned(),
            stop: Some(stop),
            thread: Some(thread),
        };
        server.wait_healthy(Duration::from_secs(60));
        server
    }

    /// Waits until `/health` answers 200, failing the test if the server ended first.
    fn wait_healthy(&mut self, limit: Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok((200, _, _)) = blocking_get(&format!("{}/health", self.base), None) {
                return;
            }
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                let ended = self.thread.take().map(|t| t.join());
                panic!("the in-process server ended before it was healthy: {ended:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the in-process server did not become healthy within {limit:?}");
    }

    /// Stops the server as a signal would (recording `reason`) and waits until it has
    /// closed its log: what `run` returned.
    pub fn stop(mut self, reason: &str) -> Result<(), String> {
        self.stop_and_join(reason)
    }

    fn stop_and_join(&mut self, reason: &str) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(reason.to_owned());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err("the server thread panicked".to_owned())),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop_and_join("test ended");
    }
}
