//! CPU per check: for each monitor count, starts the release server on a fresh data dir,
//! creates that many HTTP monitors against a local HTTP target (nginx in a process of its
//! own when `nginx` is installed, else a small target served by this process; never the
//! measured one), waits for the first round of checks, then measures the server process's
//! CPU time (utime + stime from /proc/<pid>/stat) over a window and the checks done in it
//! (from /metrics), and prints CPU milliseconds per check.
//! Run with `cargo bench --bench cpu -- [--monitors 200,2000,20000] [--interval 20]
//! [--window 60] [--repeat 1] [--target nginx|builtin]`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/process.rs"]
mod process;
use process::{free_port, start_server, start_target, Started};
use std::process::{Command, Stdio};
#[path = "common/prom.rs"]
mod prom;
use prom::metric;

const TOKEN: &str = "cpu-bench-admin-token-0123456789";

/// What to measure.
struct Settings {
    monitors: Vec<usize>,
    interval_s: u32,
    window_s: u64,
    repeat: usize,
    target: String,
}

/// `--monitors a,b,c`, `--interval s`, `--window s` and `--repeat n`; anything else (such as
/// the `--bench` cargo passes) is ignored.
fn settings() -> Settings {
    let mut s = Settings {
        monitors: vec![200, 2_000, 20_000],
        interval_s: 20,
        window_s: 60,
        repeat: 1,
        target: "nginx".to_owned(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.windows(2) {
        let value = pair[1].as_str();
        match pair[0].as_str() {
            "--monitors" => {
                s.monitors = value
                    .split(',')
                    .filter_map(|n| n.trim().replace('_', "").parse().ok())
                    .collect();
            }
            "--interval" => s.interval_s = value.parse().unwrap_or(s.interval_s).max(1),
            "--window" => s.window_s = value.parse().unwrap_or(s.window_s).max(5),
            "--repeat" => s.repeat = value.parse().unwrap_or(s.repeat).max(1),
            "--target" => s.target = value.to_owned(),
            _ => {}
        }
    }
    s
}

/// An nginx master process, told to stop (SIGTERM, so its worker stops too) on drop.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill only sends a signal to the child this struct owns.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// nginx serving `ok` on every path from a free loopback port, with its own configuration
/// in `dir`; stopped on drop. `None` when nginx cannot be started.
fn start_nginx(dir: &std::path::Path) -> Option<(u16, Nginx)> {
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"ok\\n\"; }} }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).ok()?;
    let child = Command::new("nginx")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .ok()?;
    let nginx = Nginx(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((port, nginx))
}

/// Clock ticks per second, the unit of utime and stime in /proc/<pid>/stat.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// CPU seconds (user + system) of a process so far.
fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat; 11 and 12 after the name and state.
    let used: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    used / ticks
}

/// One measurement: monitors, checks in the window, CPU seconds in it, window seconds.
struct Figure {
    checks: f64,
    cpu_s: f64,
    window_s: f64,
}

fn measure(
    rt: &tokio::runtime::Runtime,
    target: u16,
    monitors: usize,
    s: &Settings,
    ticks: f64,
) -> Figure {
    let Started {
        server: _server,
        pid,
        base,
        dir: _dir,
    } = start_server(rt, TOKEN);
    let client = reqwest::Client::new();
    let created_in = Instant::now();
    let interval_s = s.interval_s;
    rt.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (client, base, next) = (client.clone(), base.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= monitors {
                            break;
                        }
                        let body = serde_json::json!({
                            "name": format!("cpu-{i}"), "kind": "http",
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
    // Warm-up: every monitor's first (jittered) check comes within one interval of its
    // creation; one more interval lets connections, caches and read models settle.
    let warm = Duration::from_secs(2 * u64::from(interval_s) + 2).saturating_sub(
        created_in
            .elapsed()
            .min(Duration::from_secs(u64::from(interval_s))),
    );
    std::thread::sleep(warm);
    let before = scrape();
    let cpu_before = cpu_seconds(pid, ticks);
    let from = Instant::now();
    std::thread::sleep(Duration::from_secs(s.window_s));
    let cpu_after = cpu_seconds(pid, ticks);
    let window_s = from.elapsed().as_secs_f64();
    let after = scrape();
    let checks =
        metric(&after, "watchfire_checks_total") - metric(&before, "watchfire_checks_total");
    Figure {
        checks,
        cpu_s: cpu_after - cpu_before,
        window_s,
    }
}

fn main() {
    let s = settings();
    let ticks = ticks_per_second();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let nginx_dir = tempfile::tempdir().expect("tempdir");
    let nginx = if s.target == "nginx" {
        start_nginx(nginx_dir.path())
    } else {
        None
    };
    let (target, served_by) = match &nginx {
        Some((port, _)) => (*port, "nginx"),
        None => (start_target(), "this process"),
    };
    println!(
        "http monitors at {} s against 127.0.0.1:{target} ({served_by}), {} s windows, {} run(s) each",
        s.interval_s, s.window_s, s.repeat
    );
    println!(
        "{:>8} {:>4} {:>9} {:>9} {:>9} {:>11}",
        "monitors", "run", "checks/s", "expected", "CPU cores", "CPU-ms/check"
    );
    for &monitors in &s.monitors {
        let mut per_check = Vec::new();
        for run in 1..=s.repeat {
            let f = measure(&rt, target, monitors, &s, ticks);
            let ms = if f.checks > 0.0 {
                f.cpu_s * 1000.0 / f.checks
            } else {
                f64::NAN
            };
            per_check.push(ms);
            println!(
                "{:>8} {:>4} {:>9.1} {:>9.1} {:>9.3} {:>11.3}",
                monitors,
                run,
                f.checks / f.window_s,
                monitors as f64 / f64::from(s.interval_s),
                f.cpu_s / f.window_s,
                ms
            );
        }
        if per_check.len() > 1 {
            let min = per_check.iter().copied().fold(f64::INFINITY, f64::min);
            let max = per_check.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mean = per_check.iter().sum::<f64>() / per_check.len() as f64;
            println!("{monitors:>8} CPU-ms per check: mean {mean:.3}, min {min:.3}, max {max:.3}");
        }
    }
}
