//! What the whole-server benchmarks share: free ports, the server process, and its
//! RSS and CPU read from /proc.

use std::net::TcpListener;

use actix_web::{web, App, HttpResponse, HttpServer};
use std::process::Child;

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The server process, killed on drop.
pub struct ServerProcess(pub Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// RSS in KiB and CPU seconds (user + system) of a process, from /proc.
#[allow(dead_code)] // the CPU benchmark reads /proc/<pid>/stat itself, in clock ticks
pub fn usage(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    (rss, ticks / 100.0)
}

/// A fast local HTTP target answering `ok` on every path, on its own thread.
#[allow(dead_code)] // the agent benchmark has no target to check
pub fn start_target() -> u16 {
    let port = free_port();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(|| {
                App::new().default_service(web::to(|| async { HttpResponse::Ok().body("ok") }))
            })
            .workers(1)
            // Ctrl-C stops the benchmark, not just its target.
            .disable_signals()
            .bind(("127.0.0.1", port))
            .expect("target binds")
            .run()
            .await
            .expect("target runs");
        });
    });
    port
}

/// The release server in a temporary data directory, answering at `base`.
#[allow(dead_code)] // the cluster benchmark starts its nodes itself
pub struct Started {
    /// The server process (killed on drop, before the directory goes).
    pub server: ServerProcess,
    /// Its pid, for /proc.
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its data directory.
    pub dir: tempfile::TempDir,
}

/// Starts `watchfire serve` with admin token `token` on a free port and waits (60 s at
/// most) until `/health` answers.
#[allow(dead_code)] // the cluster benchmark starts its nodes itself
pub fn start_server(rt: &tokio::runtime::Runtime, token: &str) -> Started {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("WATCHFIRE_ADMIN_TOKEN", token)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("watchfire starts");
    let pid = child.id();
    let server = ServerProcess(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    rt.block_on(async {
        let started = std::time::Instant::now();
        while client.get(format!("{base}/health")).send().await.is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "server did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    Started {
        server,
        pid,
        base,
        dir,
    }
}
