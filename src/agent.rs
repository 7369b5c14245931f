//! The host agent, `watchfire agent`: samples this machine (CPU, memory, filesystems,
//! network and disk I/O counters) on a fixed schedule and pushes each sample to
//! `POST /api/v1/hosts/{hostname}/metrics`.
//!
//! Two tasks share a bounded queue. The sampler takes a sample every interval whatever
//! the server does; the sender pushes queued samples oldest first, and a sample leaves
//! the queue only once the server has answered for it (2xx, or a refusal that resending
//! cannot change). While the server is unreachable the queue holds the samples, dropping
//! the oldest when full; resending is safe because the server ignores a sample that is
//! not newer than the host's last one.
//!
//! Invariants: the agent speaks to the server over HTTP only (it never opens the log);
//! nothing the server or the OS answers makes it panic; the token is never logged.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use sysinfo::{
    CpuRefreshKind, DiskRefreshKind, Disks, MemoryRefreshKind, Networks, RefreshKind, System,
    MINIMUM_CPU_UPDATE_INTERVAL,
};
use tokio::sync::Notify;

use crate::domain::sample::{
    is_pseudo_filesystem, validate_hostname, CpuBody, DiskBody, DiskIoBody, IoBody, MemoryBody,
    NetworkBody, PartitionBody, PushBody,
};
use crate::signals::Signals;

/// The longest one push may take, connecting included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait after a failed push.
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// The longest wait between pushes while the server is down or refuses the token.
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// The longest interval between samples: a day.
pub const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// How much of a refusal's body the agent reads, so a hostile server cannot exhaust memory.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How often, at most, the agent warns that a full queue is dropping samples.
const DROP_WARNING_EVERY: Duration = Duration::from_secs(60);
/// The server refuses pushes with more filesystems than this.
const MAX_PARTITIONS: usize = 1024;
/// The server refuses mountpoints longer than this.
const MAX_MOUNTPOINT_LEN: usize = 1024;

/// The flags of `watchfire agent`; each also reads a `WATCHFIRE_*` variable.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The server's base URL, such as https://watchfire.example.com.
    #[arg(long, env = "WATCHFIRE_SERVER")]
    pub server: String,
    /// An API token of role agent or higher.
    #[arg(long, env = "WATCHFIRE_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub token: SecretString,
    /// Time between samples, such as 5s or 1m (at least 1s).
    #[arg(long, env = "WATCHFIRE_INTERVAL", default_value = "5s", value_parser = parse_interval)]
    pub interval: Duration,
    /// The name this host reports under [default: this machine's hostname, lowercased].
    #[arg(long, env = "WATCHFIRE_HOSTNAME")]
    pub hostname: Option<String>,
    /// Samples kept while the server cannot be reached; the oldest are dropped first.
    #[arg(long, env = "WATCHFIRE_BUFFER", default_value_t = 10_000, value_parser = parse_buffer)]
    pub buffer: usize,
    /// Take one sample, push it, print the server's answer and exit: 0 on 2xx, 1 otherwise.
    #[arg(long)]
    pub once: bool,
}

fn parse_token(text: &str) -> Result<SecretString, String> {
    if text.trim().is_empty() {
        return Err("a token is not empty".to_owned());
    }
    Ok(SecretString::from(text.trim().to_owned()))
}

/// Parses an interval such as `5s` or `1m`: at least a second, at most a day.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration such as 5s or 1m: {e}"))?;
    if interval < Duration::from_secs(1) {
        return Err(format!(
            "{text:?} is shorter than the shortest interval, 1s"
        ));
    }
    if interval > MAX_INTERVAL {
        return Err(format!(
            "{text:?} is longer than the longest interval, 1day"
        ));
    }
    Ok(interval)
}

fn parse_buffer(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{text:?} is not a number of samples (1 or more)")),
    }
}

/// Flags that parsed but cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--server` is not an http(s) URL.
    #[error("--server {url:?}: {reason}")]
    Server {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The hostname is not a DNS name the server accepts.
    #[error("{origin} {name:?} cannot name this host: {reason}")]
    Hostname {
        /// Where the name came from: `--hostname` or this machine.
        origin: &'static str,
        /// The name, lowercased.
        name: String,
        /// Why the server would refuse it.
        reason: String,
    },
    /// No `--hostname` and the OS does not say the machine's name.
    #[error("cannot read this machine's hostname; pass --hostname NAME")]
    NoHostname,
}

/// What the agent runs with: the flags, checked.
#[derive(Debug)]
pub struct AgentConfig {
    /// Where samples go: `{server}/api/v1/hosts/{hostname}/metrics`.
    pub metrics_url: Url,
    /// The bearer token.
    pub token: SecretString,
    /// Time between samples.
    pub interval: Duration,
    /// The name this host reports under, lowercased.
    pub hostname: String,
    /// How many samples the queue holds.
    pub buffer: usize,
}

impl AgentConfig {
    /// Checks the flags; `machine_hostname` is used when `--hostname` is absent.
    pub fn from_args(
        args: &AgentArgs,
        machine_hostname: Option<String>,
    ) -> Result<AgentConfig, ConfigError> {
        let (origin, name) = match &args.hostname {
            Some(name) => ("--hostname", name.trim().to_owned()),
            None => (
                "this machine's hostname",
                machine_hostname
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .ok_or(ConfigError::NoHostname)?,
            ),
        };
        let hostname = name.to_ascii_lowercase();
        validate_hostname(&hostname).map_err(|reason| ConfigError::Hostname {
            origin,
            name: hostname.clone(),
            reason,
        })?;
        Ok(AgentConfig {
            metrics_url: metrics_url(&args.server, &hostname)?,
            token: args.token.clone(),
            interval: args.interval,
            hostname,
            buffer: args.buffer,
        })
    }

    /// The interval as the push body states it: whole seconds, at least 1.
    pub fn interval_s(&self) -> u32 {
        u32::try_from(self.interval.as_secs())
            .unwrap_or(u32::MAX)
            .max(1)
    }
}

/// `{server}/api/v1/hosts/{hostname}/metrics`, keeping any path prefix of `server`.
pub fn metrics_url(server: &str, hostname: &str) -> Result<Url, ConfigError> {
    let bad = |reason: String| ConfigError::Server {
        url: server.to_owned(),
        reason,
    };
    let mut url = Url::parse(server.trim()).map_err(|e| bad(format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad(
            "an http:// or https:// URL with a host is needed".into()
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a base URL has no query or fragment".into()));
    }
    url.path_segments_mut()
        .map_err(|()| bad("this URL cannot have a path".into()))?
        .pop_if_empty()
        .extend(["api", "v1", "hosts", hostname, "metrics"]);
    Ok(url)
}

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The async runtime or the signal handlers could not be set up.
    #[error("cannot start: {0}")]
    Start(#[from] std::io::Error),
    /// The HTTP client could not be built (no TLS roots, for one).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The push got no answer: refused, unreachable, timed out, cut off.
    #[error("no answer from {url}: {reason}")]
    Unreachable {
        /// Where the sample went.
        url: Url,
        /// What went wrong, with its causes.
        reason: String,
    },
    /// Sampling itself failed (the collector thread panicked).
    #[error("sampling this machine failed: {0}")]
    Sampling(String),
    /// A sample could not be encoded as JSON.
    #[error("cannot encode a sample: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Runs `watchfire agent` to the end and says how the process exits: 2 on bad flags.
pub fn command(args: AgentArgs) -> ExitCode {
    let config = match AgentConfig::from_args(&args, System::host_name()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("watchfire: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("watchfire: {}", AgentError::Start(e));
            return ExitCode::FAILURE;
        }
    };
    if args.once {
        return match runtime.block_on(push_one_sample(&config)) {
            Ok(answer) => {
                println!("{} {}", answer.status, answer.body);
                if answer.status.is_success() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("watchfire: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let outcome = runtime.block_on(async {
        // Handlers go in before the first sample, so an early SIGTERM still stops cleanly.
        let signals = Signals::install()?;
        run(config, signals.wait()).await
    });
    match outcome {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("watchfire: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// Collecting
// ---------------------------------------------------------------------------------------

/// Reads this machine's figures; it keeps its state between samples because CPU use is
/// the difference between two readings.
pub struct Collector {
    system: System,
    networks: Networks,
    disks: Disks,
    cpu_read_at: Instant,
}

impl Default for Collector {
    fn default() -> Self {
        Collector::new()
    }
}

impl Collector {
    /// Takes the first CPU reading (blocking: it reads /proc).
    pub fn new() -> Collector {
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_cpu_usage())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        );
        Collector {
            system,
            networks: Networks::new_with_refreshed_list(),
            disks: Disks::new_with_refreshed_list_specifics(
                DiskRefreshKind::nothing().with_storage(),
            ),
            cpu_read_at: Instant::now(),
        }
    }

    /// Samples the machine now (blocking: it may sleep until the CPU reading is usable).
    pub fn sample(&mut self, hostname: &str, interval_s: u32) -> PushBody {
        // CPU use over a shorter span than this is noise (sysinfo's documented minimum).
        let since = self.cpu_read_at.elapsed();
        if since < MINIMUM_CPU_UPDATE_INTERVAL {
            std::thread::sleep(MINIMUM_CPU_UPDATE_INTERVAL - since);
        }
        self.system.refresh_cpu_usage();
        self.cpu_read_at = Instant::now();
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        self.networks.refresh(true);
        self.disks
            .refresh_specifics(true, DiskRefreshKind::nothing().with_storage());
        let timestamp = Utc::now();
        PushBody {
            hostname: Some(hostname.to_owned()),
            timestamp: Some(timestamp),
            interval_s: Some(interval_s.max(1)),
            tags: None,
            cpu: Some(self.cpu()),
            memory: Some(self.memory()),
            disk: Some(DiskBody {
                partitions: real_partitions(self.disks.list().iter().map(|d| Mount {
                    mountpoint: d.mount_point().to_string_lossy().into_owned(),
                    fs_type: d.file_system().to_string_lossy().into_owned(),
                    total: d.total_space(),
                    available: d.available_space(),
                })),
            }),
            io: Some(IoBody {
                network: network_totals(self.networks.list().iter().map(|(name, data)| {
                    (
                        name.as_str(),
                        data.total_transmitted(),
                        data.total_received(),
                    )
                })),
                disk_io: read_disk_io(),
            }),
        }
    }

    fn cpu(&self) -> CpuBody {
        let cpus = self.system.cpus();
        let load = System::load_average();
        let load = [load.one, load.five, load.fifteen];
        CpuBody {
            cpu_percent_total: (!cpus.is_empty())
                .then(|| percent(f64::from(self.system.global_cpu_usage()))),
            cpu_percent_per_core: (!cpus.is_empty()).then(|| {
                cpus.iter()
                    .map(|c| percent(f64::from(c.cpu_usage())))
                    .collect()
            }),
            cpu_count_logical: u32::try_from(cpus.len()).ok().filter(|n| *n > 0),
            load_average: load
                .iter()
                .all(|l| l.is_finite() && *l >= 0.0)
                .then_some(load),
        }
    }

    fn memory(&self) -> MemoryBody {
        let total = self.system.total_memory();
        if total == 0 {
            return MemoryBody::default();
        }
        let used = self.system.used_memory().min(total);
        MemoryBody {
            memory_total: Some(total),
            memory_used: Some(used),
            memory_percent: Some(percent(used as f64 * 100.0 / total as f64)),
        }
    }
}

/// A share the server accepts: finite, from 0 to 100.
fn percent(value: f64) -> f64 {
    if value.is_finite() {
        value.clamp(0.0, 100.0)
    } else {
        0.0
    }
}

/// One mounted filesystem as the OS lists it, before the agent picks the real ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    /// Where it is mounted.
    pub mountpoint: String,
    /// Its type as /proc/mounts names it, such as `ext4`.
    pub fs_type: String,
    /// Size in bytes.
    pub total: u64,
    /// Bytes an unprivileged user may still write.
    pub available: u64,
}

/// Whether a filesystem type holds real data (a disk or a volume, not a kernel interface).
pub fn is_real_filesystem(fs_type: &str) -> bool {
    !(is_pseudo_filesystem(fs_type)
        || fs_type.starts_with("cgroup")
        || fs_type == "fuse"
        || fs_type.starts_with("fuse."))
}

/// The real filesystems of `mounts`, one per mountpoint, sorted by mountpoint.
pub fn real_partitions(mounts: impl IntoIterator<Item = Mount>) -> Vec<PartitionBody> {
    // Of several mounts on one mountpoint the last is the one visible there (and measured).
    let mut by_mountpoint: BTreeMap<String, Mount> = BTreeMap::new();
    for mount in mounts {
        by_mountpoint.insert(mount.mountpoint.clone(), mount);
    }
    by_mountpoint
        .into_values()
        .filter(|m| {
            is_real_filesystem(&m.fs_type)
                && m.total > 0
                && !m.mountpoint.is_empty()
                && m.mountpoint.len() <= MAX_MOUNTPOINT_LEN
        })
        .take(MAX_PARTITIONS)
        .map(|m| {
            // Space reserved for root counts as used: it is what users can no longer write.
            let used = m.total.saturating_sub(m.available);
            PartitionBody {
                percent: Some(percent(used as f64 * 100.0 / m.total as f64)),
                mountpoint: m.mountpoint,
                total: m.total,
                used,
                ..PartitionBody::default()
            }
        })
        .collect()
}

/// Bytes sent and received since boot over every interface but loopback; `None` without any.
pub fn network_totals<'a>(
    interfaces: impl IntoIterator<Item = (&'a str, u64, u64)>,
) -> Option<NetworkBody> {
    let mut seen = false;
    let (mut sent, mut received) = (0u64, 0u64);
    for (name, tx, rx) in interfaces {
        if name == "lo" {
            continue;
        }
        seen = true;
        sent = sent.saturating_add(tx);
        received = received.saturating_add(rx);
    }
    seen.then_some(NetworkBody {
        bytes_sent: Some(sent),
        bytes_recv: Some(received),
        ..NetworkBody::default()
    })
}

/// Whether a whole block device's I/O counts: not a loop, RAM, device-mapper or md device,
/// whose traffic is either not disk traffic or already counted on the disks beneath.
pub fn counts_for_disk_io(device: &str) -> bool {
    !["loop", "ram", "zram", "dm-", "md"]
        .iter()
        .any(|prefix| device.starts_with(prefix))
}

/// Bytes read and written since boot, summed over `devices` (whole disks), from the text of
/// /proc/diskstats; malformed lines are skipped.
pub fn disk_io_from_diskstats(diskstats: &str, devices: &HashSet<String>) -> DiskIoBody {
    // /proc/diskstats counts 512-byte sectors whatever the device's own sector size.
    const SECTOR: u64 = 512;
    let (mut read, mut written) = (0u64, 0u64);
    for line in diskstats.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(sectors_read), Some(sectors_written)) =
            (fields.get(2), fields.get(5), fields.get(9))
        else {
            continue;
        };
        if !devices.contains(*name) || !counts_for_disk_io(name) {
            continue;
        }
        let (Ok(r), Ok(w)) = (sectors_read.parse::<u64>(), sectors_written.parse::<u64>()) else {
            continue;
        };
        read = read.saturating_add(r.saturating_mul(SECTOR));
        written = written.saturating_add(w.saturating_mul(SECTOR));
    }
    DiskIoBody {
        read_bytes: Some(read),
        write_bytes: Some(written),
        ..DiskIoBody::default()
    }
}

/// This machine's disk I/O since boot; `None` where /proc/diskstats or /sys/block are missing.
fn read_disk_io() -> Option<DiskIoBody> {
    let diskstats = std::fs::read_to_string("/proc/diskstats").ok()?;
    // Partitions are not in /sys/block: listing it keeps each disk's bytes counted once.
    let devices: HashSet<String> = std::fs::read_dir("/sys/block")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    Some(disk_io_from_diskstats(&diskstats, &devices))
}

/// Samples on the blocking pool, creating a collector when there is none yet.
async fn collect(
    collector: Option<Collector>,
    hostname: String,
    interval_s: u32,
) -> Result<(Collector, PushBody), AgentError> {
    tokio::task::spawn_blocking(move || {
        let mut collector = collector.unwrap_or_default();
        let body = collector.sample(&hostname, interval_s);
        (collector, body)
    })
    .await
    .map_err(|e| AgentError::Sampling(e.to_string()))
}

// ---------------------------------------------------------------------------------------
// Pushing
// ---------------------------------------------------------------------------------------

/// The HTTP client of the agent: bounded requests, no redirects (a POST must not become a GET).
fn http_client() -> Result<reqwest::Client, AgentError> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("watchfire-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(AgentError::Client)
}

/// The server's answer to one push.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body as text (at most 64 KiB of it).
    pub body: String,
}

/// An error with its causes, one after another: reqwest's own message alone says little.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// POSTs one encoded sample and reads the answer.
async fn post(
    client: &reqwest::Client,
    url: &Url,
    token: &SecretString,
    body: Vec<u8>,
) -> Result<Answer, AgentError> {
    let unreachable = |e: reqwest::Error| AgentError::Unreachable {
        url: url.clone(),
        reason: with_causes(&e),
    };
    let mut response = client
        .post(url.clone())
        .bearer_auth(token.expose_secret())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        let room = MAX_ANSWER_BYTES.saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// Takes one sample (two CPU readings apart) and pushes it once: `watchfire agent --once`.
pub async fn push_one_sample(config: &AgentConfig) -> Result<Answer, AgentError> {
    let client = http_client()?;
    let (_, body) = collect(None, config.hostname.clone(), config.interval_s()).await?;
    post(
        &client,
        &config.metrics_url,
        &config.token,
        serde_json::to_vec(&body)?,
    )
    .await
}

/// What the sender makes of an answer (or of no answer).
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// 2xx: the sample is recorded (or was already).
    Accepted,
    /// No answer, 5xx, 429 or a redirect: keep the sample and try again later.
    Retry(String),
    /// 401 or 403: the token is refused; resending soon cannot help.
    Unauthorized {
        /// The status.
        status: u16,
        /// The problem's `detail`.
        detail: String,
    },
    /// Any other 4xx: this sample is refused for good.
    Rejected {
        /// The status.
        status: u16,
        /// The problem's `detail`.
        detail: String,
    },
}

/// The `detail` of a problem+json body, or the start of whatever else the body is.
pub fn problem_detail(body: &str) -> String {
    let detail = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("detail")?.as_str().map(str::to_owned));
    match detail {
        Some(detail) => detail,
        None if body.trim().is_empty() => "(no detail)".to_owned(),
        None => body.trim().chars().take(200).collect(),
    }
}

/// Sorts a push's outcome into what the sender does next.
pub fn verdict(outcome: &Result<Answer, AgentError>) -> Verdict {
    let answer = match outcome {
        Ok(answer) => answer,
        Err(e) => return Verdict::Retry(e.to_string()),
    };
    let status = answer.status;
    if status.is_success() {
        return Verdict::Accepted;
    }
    let detail = problem_detail(&answer.body);
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Verdict::Unauthorized {
            status: status.as_u16(),
            detail,
        },
        StatusCode::TOO_MANY_REQUESTS => Verdict::Retry(format!("{status}: {detail}")),
        s if s.is_client_error() => Verdict::Rejected {
            status: s.as_u16(),
            detail,
        },
        s => Verdict::Retry(format!("{s}: {detail}")),
    }
}

/// Waits between failed pushes: 1 s, doubling up to 60 s, each wait ±20 % at random so
/// that many agents do not return at the same instant.
#[derive(Clone, Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    /// A backoff whose next wait is [`BACKOFF_START`].
    pub fn new() -> Backoff {
        Backoff {
            next: BACKOFF_START,
        }
    }

    /// Back to the first wait, after a success.
    pub fn reset(&mut self) {
        self.next = BACKOFF_START;
    }

    /// The wait before the next try; the one after is twice as long, up to the cap.
    pub fn next_wait(&mut self, rng: &mut impl Rng) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(BACKOFF_CAP);
        jitter(base, rng)
    }

    /// A wait at the cap, for refusals that will not change soon.
    pub fn at_cap(&mut self, rng: &mut impl Rng) -> Duration {
        self.next = BACKOFF_CAP;
        jitter(BACKOFF_CAP, rng)
    }
}

/// `base` scaled by a random factor from 0.8 to 1.2.
fn jitter(base: Duration, rng: &mut impl Rng) -> Duration {
    base.mul_f64(rng.gen_range(0.8..=1.2))
}

// ---------------------------------------------------------------------------------------
// Queueing
// ---------------------------------------------------------------------------------------

/// The bounded queue between sampler and sender: oldest first, the oldest dropped when full.
/// Each entry is numbered, so the sender removes exactly what it delivered even if the
/// sampler dropped that entry meanwhile.
#[derive(Debug)]
pub struct SampleQueue<T> {
    entries: VecDeque<(u64, T)>,
    capacity: usize,
    next_seq: u64,
}

impl<T> SampleQueue<T> {
    /// An empty queue that holds up to `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> SampleQueue<T> {
        SampleQueue {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 0,
        }
    }

    /// Appends `item`; answers how many old entries were dropped to make room.
    pub fn push(&mut self, item: T) -> usize {
        let mut dropped = 0;
        while self.entries.len() >= self.capacity {
            self.entries.pop_front();
            dropped += 1;
        }
        self.entries.push_back((self.next_seq, item));
        self.next_seq += 1;
        dropped
    }

    /// The oldest entry and its number.
    pub fn front(&self) -> Option<(u64, &T)> {
        self.entries.front().map(|(seq, item)| (*seq, item))
    }

    /// Removes the entries numbered up to `seq`, as a delivery of `seq` settles them.
    pub fn remove_through(&mut self, seq: u64) {
        while self.entries.front().is_some_and(|(s, _)| *s <= seq) {
            self.entries.pop_front();
        }
    }

    /// The number of the newest entry, if any.
    pub fn last_seq(&self) -> Option<u64> {
        self.entries.back().map(|(seq, _)| *seq)
    }

    /// How many entries wait.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The queue as both tasks hold it.
struct Shared {
    queue: Mutex<SampleQueue<Vec<u8>>>,
    queued: Notify,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, SampleQueue<Vec<u8>>> {
        // A panic while holding the lock leaves a queue that is still a valid queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How a run of the agent ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// The signal (or other reason) that stopped it.
    pub stopped_by: String,
    /// Samples still queued, never delivered.
    pub still_queued: usize,
}

/// Samples every interval and pushes the samples until `shutdown` resolves with a reason.
pub async fn run(
    config: AgentConfig,
    shutdown: impl std::future::Future<Output = String>,
) -> Result<RunSummary, AgentError> {
    let client = http_client()?;
    let shared = Arc::new(Shared {
        queue: Mutex::new(SampleQueue::new(config.buffer)),
        queued: Notify::new(),
    });
    tracing::info!(
        hostname = %config.hostname,
        url = %config.metrics_url,
        interval = %humantime::format_duration(config.interval),
        buffer = config.buffer,
        "agent started"
    );
    let config = Arc::new(config);
    let sampler = tokio::spawn(sample_loop(shared.clone(), config.clone()));
    let sender = tokio::spawn(send_loop(shared.clone(), config.clone(), client));
    let stopped_by = shutdown.await;
    sampler.abort();
    sender.abort();
    let still_queued = shared.queue().len();
    tracing::info!(
        signal = %stopped_by,
        still_queued,
        "agent stopping; {still_queued} samples were still queued"
    );
    Ok(RunSummary {
        stopped_by,
        still_queued,
    })
}

/// Takes a sample every interval, on schedule whatever the server does, into the queue.
async fn sample_loop(shared: Arc<Shared>, config: Arc<AgentConfig>) {
    let mut ticker = tokio::time::interval(config.interval);
    // After a stall (a suspended VM), one sample now and then back on the grid, not a burst.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut collector = None;
    let mut dropped_unreported = 0usize;
    let mut dropped_total = 0u64;
    let mut last_drop_warning: Option<Instant> = None;
    loop {
        ticker.tick().await;
        let body = match collect(
            collector.take(),
            config.hostname.clone(),
            config.interval_s(),
        )
        .await
        {
            Ok((kept, body)) => {
                collector = Some(kept);
                body
            }
            Err(e) => {
                tracing::error!(error = %e, "no sample this time");
                continue;
            }
        };
        let encoded = match serde_json::to_vec(&body) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(error = %AgentError::Encode(e), "no sample this time");
                continue;
            }
        };
        let dropped = shared.queue().push(encoded);
        shared.queued.notify_one();
        if dropped > 0 {
            dropped_unreported += dropped;
            dropped_total += dropped as u64;
            if last_drop_warning.is_none_or(|at| at.elapsed() >= DROP_WARNING_EVERY) {
                tracing::warn!(
                    dropped = dropped_unreported,
                    dropped_total,
                    buffer = config.buffer,
                    "the queue is full ({} samples): dropped the {dropped_unreported} oldest \
                     undelivered samples ({dropped_total} since start)",
                    config.buffer
                );
                dropped_unreported = 0;
                last_drop_warning = Some(Instant::now());
            }
        }
    }
}

/// Since when the server has not answered.
struct Outage {
    since: Instant,
}

/// The samples queued when the server answered again, being delivered.
struct Backlog {
    /// Every sample numbered up to this one was queued during the outage.
    through_seq: u64,
    delivered: usize,
}

/// Pushes queued samples oldest first, retrying through outages.
async fn send_loop(shared: Arc<Shared>, config: Arc<AgentConfig>, client: reqwest::Client) {
    let mut backoff = Backoff::new();
    let mut outage: Option<Outage> = None;
    let mut backlog: Option<Backlog> = None;
    loop {
        let next = shared
            .queue()
            .front()
            .map(|(seq, bytes)| (seq, bytes.clone()));
        let Some((seq, bytes)) = next else {
            shared.queued.notified().await;
            continue;
        };
        let outcome = post(&client, &config.metrics_url, &config.token, bytes).await;
        let verdict = verdict(&outcome);
        if !matches!(verdict, Verdict::Retry(_)) {
            if let Some(ended) = outage.take() {
                let queued = shared.queue().len();
                tracing::info!(
                    down_for = %humantime::format_duration(round_to_secs(ended.since.elapsed())),
                    queued,
                    "the server answers again; delivering {queued} queued samples"
                );
                backlog = shared.queue().last_seq().map(|through_seq| Backlog {
                    through_seq,
                    delivered: 0,
                });
            }
        }
        match verdict {
            Verdict::Accepted => {
                backoff.reset();
                shared.queue().remove_through(seq);
                if let Some(b) = backlog.as_mut() {
                    if seq <= b.through_seq {
                        b.delivered += 1;
                    }
                }
            }
            Verdict::Retry(reason) => {
                if outage.is_none() {
                    tracing::warn!(
                        error = %reason,
                        "cannot deliver samples; keeping them and retrying with backoff"
                    );
                    outage = Some(Outage {
                        since: Instant::now(),
                    });
                } else {
                    tracing::debug!(error = %reason, "still cannot deliver samples");
                }
                let wait = backoff.next_wait(&mut rand::thread_rng());
                tokio::time::sleep(wait).await;
                continue;
            }
            Verdict::Unauthorized { status, detail } => {
                shared.queue().remove_through(seq);
                let wait = backoff.at_cap(&mut rand::thread_rng());
                tracing::error!(
                    status,
                    detail = %detail,
                    "the server refuses this agent's token ({status}: {detail}); dropped the \
                     sample, still sampling, next try in {}",
                    humantime::format_duration(round_to_secs(wait))
                );
                tokio::time::sleep(wait).await;
            }
            Verdict::Rejected { status, detail } => {
                backoff.reset();
                shared.queue().remove_through(seq);
                tracing::error!(
                    status,
                    detail = %detail,
                    "the server refused a sample ({status}: {detail}); dropped it"
                );
            }
        }
        let drained = backlog.as_ref().is_some_and(|b| {
            shared
                .queue()
                .front()
                .is_none_or(|(front, _)| front > b.through_seq)
        });
        if drained {
            if let Some(b) = backlog.take() {
                tracing::info!(
                    delivered = b.delivered,
                    "the server is back: delivered {} samples from the backlog",
                    b.delivered
                );
            }
        }
    }
}

/// A duration to the whole second, for messages.
fn round_to_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs_f64().round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn args(server: &str, hostname: Option<&str>) -> AgentArgs {
        AgentArgs {
            server: server.to_owned(),
            token: SecretString::from("t".to_owned()),
            interval: Duration::from_secs(5),
            hostname: hostname.map(str::to_owned),
            buffer: 10,
            once: false,
        }
    }

    fn mount(mountpoint: &str, fs_type: &str, total: u64, available: u64) -> Mount {
        Mount {
            mountpoint: mountpoint.to_owned(),
            fs_type: fs_type.to_owned(),
            total,
            available,
        }
    }

    #[test]
    fn intervals_are_humantime_from_a_second_to_a_day() {
        assert_eq!(parse_interval("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_interval("1m 30s"), Ok(Duration::from_secs(90)));
        for bad in ["", "5", "fast", "500ms", "0s", "2days"] {
            assert!(parse_interval(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_push_url_keeps_the_servers_path_prefix() {
        let url = |s| metrics_url(s, "web-1").map(|u| u.to_string());
        assert_eq!(
            url("http://127.0.0.1:8080").ok().as_deref(),
            Some("http://127.0.0.1:8080/api/v1/hosts/web-1/metrics")
        );
        assert_eq!(
            url("https://mon.example.com/watchfire/").ok().as_deref(),
            Some("https://mon.example.com/watchfire/api/v1/hosts/web-1/metrics")
        );
        for bad in [
            "",
            "127.0.0.1:8080",
            "ftp://x",
            "http://x/?a=1",
            "mailto:a@b",
        ] {
            assert!(url(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn hostnames_are_lowercased_and_must_be_dns_names() {
        let config = AgentConfig::from_args(&args("http://h", Some("Web-1")), None);
        assert_eq!(config.map(|c| c.hostname).ok().as_deref(), Some("web-1"));
        let machine = AgentConfig::from_args(&args("http://h", None), Some("DB.Local".into()));
        assert_eq!(
            machine.map(|c| c.hostname).ok().as_deref(),
            Some("db.local")
        );
        let bad = AgentConfig::from_args(&args("http://h", None), Some("my_box".into()));
        let message = bad.map(|_| ()).map_err(|e| e.to_string());
        assert!(
            message
                .as_ref()
                .is_err_and(|m| m.contains("my_box") && m.contains("machine")),
            "{message:?}"
        );
        assert!(matches!(
            AgentConfig::from_args(&args("http://h", None), None),
            Err(ConfigError::NoHostname)
        ));
    }

    #[test]
    fn only_real_filesystems_count_once_per_mountpoint() {
        let parts = real_partitions([
            mount("/", "ext4", 1000, 750),
            mount("/dev", "devtmpfs", 100, 100),
            mount("/dev/shm", "tmpfs", 100, 100),
            mount("/sys/fs/cgroup/cpu", "cgroup", 0, 0),
            mount("/sys/fs/cgroup/unified", "cgroup2", 0, 0),
            mount("/snap/core/1", "squashfs", 100, 0),
            mount("/var/lib/docker/overlay2/x/merged", "overlay", 100, 50),
            mount("/run/user/1000/doc", "fuse.portal", 100, 50),
            mount("/data", "xfs", 2000, 1000),
            mount("/data", "xfs", 2000, 1000),
            mount("/empty", "ext4", 0, 0),
            // A tmpfs mounted over a real filesystem hides it: that mountpoint is not a disk.
            mount("/tmp", "ext4", 500, 400),
            mount("/tmp", "tmpfs", 100, 100),
        ]);
        let names: Vec<&str> = parts.iter().map(|p| p.mountpoint.as_str()).collect();
        assert_eq!(names, ["/", "/data"]);
        assert_eq!(parts[0].used, 250);
        assert_eq!(parts[0].percent, Some(25.0));
        assert_eq!(parts[1].percent, Some(50.0));
    }

    #[test]
    fn network_totals_leave_out_loopback() {
        let totals = network_totals([("lo", 1_000, 1_000), ("eth0", 10, 20), ("wlan0", 1, 2)]);
        assert_eq!(
            totals,
            Some(NetworkBody {
                bytes_sent: Some(11),
                bytes_recv: Some(22),
                ..NetworkBody::default()
            })
        );
        assert_eq!(network_totals([("lo", 5, 5)]), None);
        let huge = network_totals([("a", u64::MAX, 0), ("b", 1, 0)]);
        assert_eq!(huge.and_then(|n| n.bytes_sent), Some(u64::MAX));
    }

    #[test]
    fn disk_io_counts_whole_disks_only() {
        let diskstats = "\
   7       0 loop0 100 0 800 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 89711 9108 1000 73118 24062 40942 2000 39252 0 19576 113453
 254       1 vda1 80000 9000 900 70000 24000 40000 1900 39000 0 19000 110000
 259       0 nvme0n1 1 0 10 0 1 0 20 0 0 0 0
 259       1 nvme0n1p1 1 0 10 0 1 0 20 0 0 0 0
 253       0 dm-0 1 0 4000 0 1 0 4000 0 0 0 0
 251       0 zram0 1 0 4000 0 1 0 4000 0 0 0 0
   9       0 md0 1 0 4000 0 1 0 4000 0 0 0 0
 254      16 vdb garbage
 254      32 vdc";
        let devices: HashSet<String> = [
            "loop0", "vda", "nvme0n1", "dm-0", "zram0", "md0", "vdb", "vdc",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        let io = disk_io_from_diskstats(diskstats, &devices);
        assert_eq!(io.read_bytes, Some((1000 + 10) * 512));
        assert_eq!(io.write_bytes, Some((2000 + 20) * 512));
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_delivery_removes_what_was_sent() {
        let mut queue = SampleQueue::new(3);
        for n in 0..3 {
            assert_eq!(queue.push(n), 0);
        }
        assert_eq!(queue.push(3), 1, "the oldest goes");
        assert_eq!(queue.front(), Some((1, &1)));
        // The sender took entry 1; meanwhile the sampler dropped it and entry 2.
        let (sent, _) = queue.front().expect("an entry");
        assert_eq!(queue.push(4) + queue.push(5), 2);
        queue.remove_through(sent);
        assert_eq!(queue.front(), Some((3, &3)), "the unsent entries stay");
        assert_eq!(queue.len(), 3);
        queue.remove_through(5);
        assert!(queue.is_empty());
    }

    #[test]
    fn backoff_doubles_from_a_second_to_a_minute_with_a_fifth_of_jitter() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut backoff = Backoff::new();
        let mut base = 1.0f64;
        for _ in 0..12 {
            let wait = backoff.next_wait(&mut rng).as_secs_f64();
            assert!(
                wait >= base * 0.8 - 1e-9 && wait <= base * 1.2 + 1e-9,
                "{wait} for {base}"
            );
            base = (base * 2.0).min(60.0);
        }
        backoff.reset();
        assert!(backoff.next_wait(&mut rng) <= Duration::from_millis(1200));
        let capped = backoff.at_cap(&mut rng);
        assert!(capped >= Duration::from_secs(48) && capped <= Duration::from_secs(72));
    }

    #[test]
    fn answers_sort_into_retry_refusal_and_success() {
        let answer = |code: u16, body: &str| -> Result<Answer, AgentError> {
            Ok(Answer {
                status: StatusCode::from_u16(code).expect("a status"),
                body: body.to_owned(),
            })
        };
        let problem = r#"{"type":"about:blank","title":"Unprocessable","status":422,"detail":"cpu.cpu_percent_total: 101 is not a percentage from 0 to 100"}"#;
        assert_eq!(verdict(&answer(200, "{}")), Verdict::Accepted);
        assert_eq!(verdict(&answer(204, "")), Verdict::Accepted);
        assert!(matches!(verdict(&answer(503, "")), Verdict::Retry(_)));
        assert!(matches!(verdict(&answer(429, "")), Verdict::Retry(_)));
        assert!(matches!(verdict(&answer(302, "")), Verdict::Retry(_)));
        assert_eq!(
            verdict(&answer(422, problem)),
            Verdict::Rejected {
                status: 422,
                detail: "cpu.cpu_percent_total: 101 is not a percentage from 0 to 100".into()
            }
        );
        assert!(matches!(
            verdict(&answer(401, "not json")),
            Verdict::Unauthorized { status: 401, detail } if detail == "not json"
        ));
        assert!(matches!(
            verdict(&answer(413, "")),
            Verdict::Rejected { status: 413, detail } if detail == "(no detail)"
        ));
        let down = Err(AgentError::Sampling("x".into()));
        assert!(matches!(verdict(&down), Verdict::Retry(_)));
    }

    #[test]
    fn a_sample_of_this_machine_is_one_the_server_accepts() {
        let mut collector = Collector::new();
        let body = collector.sample("this-host", 5);
        assert_eq!(body.validate(Utc::now()), Ok(()));
        assert_eq!(body.hostname.as_deref(), Some("this-host"));
        assert_eq!(body.interval_s, Some(5));
        let cpu = body.cpu.clone().unwrap_or_default();
        let cores = cpu.cpu_percent_per_core.unwrap_or_default();
        assert!(!cores.is_empty(), "per-core figures");
        assert_eq!(cpu.cpu_count_logical, u32::try_from(cores.len()).ok());
        let memory = body.memory.clone().unwrap_or_default();
        assert!(memory.memory_total.is_some_and(|t| t > 0));
        // A second sample is later: the server orders samples by their timestamps.
        let again = collector.sample("this-host", 5);
        assert!(again.timestamp > body.timestamp);
    }
}
