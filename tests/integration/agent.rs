//! `watchfire agent` end to end: the real agent binary sampling this machine and pushing to
//! the real server, with the host's samples read back from the log through `watchfire replay`.
//!
//! Nothing here asserts speed: waits poll with generous deadlines, because the machine
//! running the tests is slow and shared.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use watchfire::domain::sample::validate_hostname;
use watchfire::events::HostMetricsReported;

use super::api::{create_token, replay, start_server, wait_for, ADMIN_TOKEN};
use super::helpers::{blocking_get, free_port, Server, BIN};

/// The agent's environment variables, cleared so the test's own environment cannot leak in.
const AGENT_ENV: [&str; 5] = [
    "WATCHFIRE_SERVER",
    "WATCHFIRE_TOKEN",
    "WATCHFIRE_INTERVAL",
    "WATCHFIRE_HOSTNAME",
    "WATCHFIRE_BUFFER",
];

/// `watchfire agent` with `args` and `envs`, its own environment otherwise clean.
fn agent_command(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("agent").args(args).env("RUST_LOG", "info");
    for name in AGENT_ENV {
        cmd.env_remove(name);
    }
    for (name, value) in envs {
        cmd.env(name, value);
    }
    cmd
}

/// Runs `watchfire agent --once` to completion: (exit code, stdout, stderr).
fn agent_once(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = agent_command(args, envs)
        .arg("--once")
        .stdin(Stdio::null())
        .output()
        .expect("the agent runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `HostMetricsReported` events of `hostname`'s stream, in log order.
fn samples(dir: &Path, hostname: &str) -> Vec<HostMetricsReported> {
    replay(dir, Some(&format!("host-{hostname}")))
        .into_iter()
        .filter(|e| e["type"] == "HostMetricsReported")
        .map(|e| {
            serde_json::from_value(e["data"].clone())
                .unwrap_or_else(|err| panic!("a HostMetricsReported payload ({err}): {e}"))
        })
        .collect()
}

/// The `sampled_at` of the host's latest sample as the API shows it, once it has one.
fn latest_sampled_at(server: &Server, hostname: &str) -> Option<DateTime<Utc>> {
    let url = format!("{}/api/v1/hosts/{hostname}", server.base);
    let (status, _, body) = blocking_get(&url, Some(ADMIN_TOKEN)).ok()?;
    if status != 200 {
        return None;
    }
    let host: Value = serde_json::from_str(&body).ok()?;
    serde_json::from_value(host["metrics"]["sampled_at"].clone()).ok()
}

/// Starts `watchfire serve` on `dir` at `listen` (port 0 first, then the address the first
/// start bound, so a restart comes back at the same address), and waits until it is healthy.
fn serve_on(dir: &Path, listen: &str) -> Server {
    Server::start_on(dir, listen, &[("WATCHFIRE_ADMIN_TOKEN", ADMIN_TOKEN)], &[])
}

/// Gathers a child's stderr lines as they come (echoed when `TEST_LOG` is set).
fn collect_lines(child: &mut Child, who: &'static str) -> Arc<Mutex<Vec<String>>> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("[{who}] {line}");
            }
            if let Ok(mut l) = sink.lock() {
                l.push(line);
            }
        }
    });
    lines
}

/// A running `watchfire agent`, killed if a test fails before stopping it.
struct Agent {
    child: Option<Child>,
    stderr_lines: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Starts the agent with `args`.
    fn start(args: &[&str]) -> Agent {
        let mut child = agent_command(args, &[])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the agent starts");
        let stderr_lines = collect_lines(&mut child, "agent");
        Agent {
            child: Some(child),
            stderr_lines,
        }
    }

    /// What the agent logged so far.
    fn log(&self) -> String {
        self.stderr_lines
            .lock()
            .map(|l| l.join("\n"))
            .unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the agent is running");
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        child.wait().expect("the agent exits")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// This machine's memory in bytes, as /proc/meminfo says.
fn mem_total() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo is readable");
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)
        .expect("MemTotal in /proc/meminfo")
}

#[test]
fn agent_once_pushes_plausible_metrics_for_this_machine() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let token = create_token(dir.path(), "agent");
    // The default hostname is the machine's; a machine whose name the server would refuse
    // gets one from the flag instead (the agent would exit 2).
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|n| n.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let (hostname, flags) = if validate_hostname(&machine).is_ok() {
        (machine, vec![])
    } else {
        ("agent-once".to_owned(), vec!["--hostname", "agent-once"])
    };

    // The server and the token come from the environment, as a service unit would set them.
    let (code, stdout, stderr) = agent_once(
        &flags,
        &[
            ("WATCHFIRE_SERVER", server.base.as_str()),
            ("WATCHFIRE_TOKEN", token.as_str()),
        ],
    );
    assert_eq!(
        code, 0,
        "the push is accepted; stdout {stdout}, stderr {stderr}"
    );
    assert!(
        stdout.starts_with("200"),
        "the verdict is printed: {stdout}"
    );

    let samples = samples(dir.path(), &hostname);
    assert_eq!(samples.len(), 1, "one sample: {samples:?}");
    let m = &samples[0];
    assert_eq!(m.hostname, hostname);
    let age = Utc::now() - m.sampled_at;
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::minutes(5),
        "sampled just now: {}",
        m.sampled_at
    );

    let cpu = m.cpu_percent.expect("a CPU figure");
    assert!((0.0..=100.0).contains(&cpu), "cpu {cpu}");
    let cores = std::thread::available_parallelism()
        .expect("the number of CPUs")
        .get();
    assert_eq!(m.cpu_percent_per_core.len(), cores, "one figure per core");
    assert!(m
        .cpu_percent_per_core
        .iter()
        .all(|c| (0.0..=100.0).contains(c)));
    let load = m.load_average.expect("load averages");
    assert!(load.iter().all(|l| *l >= 0.0), "load {load:?}");

    let total = m.memory_total.expect("memory size") as f64;
    let expected = mem_total() as f64;
    assert!(
        (total - expected).abs() <= expected * 0.1,
        "memory_total {total} vs MemTotal {expected}"
    );
    let used = m.memory_used.expect("used memory");
    assert!(used as f64 <= total);
    assert!(m.memory_percent.is_some_and(|p| (0.0..=100.0).contains(&p)));

    assert!(
        m.disks.iter().any(|d| d.total > 0),
        "at least one real filesystem: {:?}",
        m.disks
    );
    assert!(m.disks.iter().all(|d| d.used <= d.total && d.total > 0));
    let mut mountpoints: Vec<&str> = m.disks.iter().map(|d| d.mountpoint.as_str()).collect();
    mountpoints.dedup();
    assert_eq!(mountpoints.len(), m.disks.len(), "one entry per mountpoint");
    assert!(
        !m.disks.iter().any(|d| d.mountpoint.starts_with("/proc")
            || d.mountpoint.starts_with("/sys")
            || d.mountpoint == "/dev/shm"),
        "no pseudo filesystems: {:?}",
        m.disks
    );

    let [sent, received, read, written] = m.counters;
    assert!(
        sent.is_some() && received.is_some(),
        "network counters: {:?}",
        m.counters
    );
    assert!(
        read.is_some() && written.is_some(),
        "disk counters: {:?}",
        m.counters
    );
    server.terminate();
}

#[test]
fn agent_once_exits_nonzero_with_a_bad_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path(), &[]);
    let (code, stdout, stderr) = agent_once(
        &[
            "--server",
            &server.base,
            "--token",
            "wf_not-a-token-this-server-knows",
            "--hostname",
            "bad-token",
        ],
        &[],
    );
    assert_eq!(code, 1, "refused; stdout {stdout}, stderr {stderr}");
    assert!(
        stdout.starts_with("401"),
        "the verdict is printed: {stdout}"
    );
    assert!(
        samples(dir.path(), "bad-token").is_empty(),
        "nothing is recorded"
    );
}

#[test]
fn agent_once_exits_nonzero_when_the_server_is_unreachable() {
    // A port nothing listens on.
    let server = format!("http://127.0.0.1:{}", free_port());
    let (code, stdout, stderr) = agent_once(
        &[
            "--server",
            &server,
            "--token",
            "wf_whatever",
            "--hostname",
            "nowhere",
        ],
        &[],
    );
    assert_eq!(code, 1, "stdout {stdout}, stderr {stderr}");
    assert!(
        stderr.contains("no answer from") && stderr.contains(&server),
        "the error names the server: {stderr}"
    );
}

#[test]
fn agent_buffers_while_the_server_is_down_and_delivers_each_sample_once() {
    const HOST: &str = "buffered-1";
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve_on(dir.path(), "127.0.0.1:0");
    let listen = server.base.trim_start_matches("http://").to_owned();
    let token = create_token(dir.path(), "agent");
    let base = server.base.clone();
    let mut agent = Agent::start(&[
        "--server",
        &base,
        "--token",
        &token,
        "--interval",
        "1s",
        "--hostname",
        HOST,
    ]);
    wait_for("the agent's first sample", || {
        latest_sampled_at(&server, HOST)
    });
    sleep(Duration::from_secs(3));

    assert!(server.terminate().success(), "the server stops cleanly");
    let down_at = Utc::now();
    sleep(Duration::from_secs(4));
    let server = serve_on(dir.path(), &listen);
    let back_at = Utc::now();
    sleep(Duration::from_secs(4));
    wait_for("a sample taken after the restart", || {
        latest_sampled_at(&server, HOST).filter(|at| *at > back_at)
    });
    // The agent may find the server back only a while after it is: what it queued until
    // then, samples taken after the restart included, is its backlog, and it says so once
    // the whole backlog is through.
    wait_for("the agent to deliver its backlog", || {
        agent.log().contains("from the backlog").then_some(())
    });

    let status = agent.terminate();
    let log = agent.log();
    assert!(
        status.success(),
        "the agent stops with 0 on SIGTERM: {status}; log:\n{log}"
    );
    assert!(server.terminate().success(), "the server stops cleanly");

    let times: Vec<DateTime<Utc>> = samples(dir.path(), HOST)
        .iter()
        .map(|m| m.sampled_at)
        .collect();
    assert!(times.len() >= 8, "samples: {times:?}; agent log:\n{log}");
    for pair in times.windows(2) {
        assert!(
            pair[1] > pair[0],
            "sampled_at strictly increases (each sample once): {times:?}"
        );
        let gap = (pair[1] - pair[0]).num_milliseconds();
        assert!(
            gap <= 2_500,
            "a {gap} ms gap between {} and {}: samples were lost; agent log:\n{log}",
            pair[0],
            pair[1]
        );
    }
    let during_outage = times
        .iter()
        .filter(|t| **t > down_at && **t < back_at)
        .count();
    assert!(
        during_outage >= 2,
        "samples taken while the server was down were delivered later: {times:?}"
    );
    assert!(
        log.contains("from the backlog"),
        "the agent says what it delivered from the backlog:\n{log}"
    );
}
