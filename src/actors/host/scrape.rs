//! node_exporter's Prometheus text exposition turned into the agent's push body, so a
//! scraped host and a pushing one end up as the same `HostMetricsReported`.
//!
//! Parsing is nom-openmetrics' (it takes exactly what Go's `expfmt` writes, which is what
//! node_exporter serves for `text/plain`); this module only picks the series a push
//! carries. CPU shares need two scrapes, so a [`Scraper`] lives as long as its host and
//! keeps the previous scrape's CPU counters; it never reads the clock (`now` is given).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nom_openmetrics::Sample;

use crate::domain::sample::{
    is_pseudo_filesystem, CpuBody, DiskBody, DiskIoBody, IoBody, MemoryBody, NetworkBody,
    PartitionBody, PushBody,
};

/// Block devices whose I/O is not a disk's: loop files, RAM (`ram`, `zram`), optical drives,
/// and device-mapper and md volumes (counted again on the disks beneath them).
const NOT_DISKS: &[&str] = &["loop", "ram", "zram", "sr", "dm-", "md"];

/// The most filesystems and the longest mountpoint a push may hold (see `PushBody::validate`):
/// past them one odd mount would get the whole sample rejected, so it is left out instead.
const MAX_PARTITIONS: usize = 1024;
const MAX_MOUNTPOINT_LEN: usize = 1024;

/// A per-core counter that goes down by less than this is kernel jitter (iowait and idle are
/// known to step back a little), not a reset.
const JITTER_S: f64 = 0.05;

/// How much of a bad line an error quotes.
const QUOTE_CHARS: usize = 60;

/// Why a scrape gave no sample.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    /// The text is not Prometheus text exposition.
    #[error("not Prometheus text exposition: parsing stopped at line {line}: {text:?}")]
    Unparsable {
        /// The line where parsing stopped (the start of its metric family), from 1.
        line: usize,
        /// The start of that line.
        text: String,
    },
    /// The text parses but has none of node_exporter's CPU, memory, filesystem, network or disk series.
    #[error(
        "not a node_exporter: none of its cpu, load, memory, filesystem, network or disk series"
    )]
    NotNodeExporter,
}

/// Seconds a CPU spent busy and in all, since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct CpuTimes {
    busy: f64,
    total: f64,
}

/// CPUs in numeric order of their `cpu` label (`"2"` before `"10"`), any other label after.
type CpuKey = (u64, String);

/// Turns one node_exporter's successive scrapes into push bodies (one per host: it keeps the
/// previous scrape's CPU counters).
#[derive(Debug, Default)]
pub struct Scraper {
    previous_cpu: Option<BTreeMap<CpuKey, CpuTimes>>,
}

impl Scraper {
    /// A scraper that has seen no scrape yet: its first sample has no CPU shares.
    pub fn new() -> Scraper {
        Scraper::default()
    }

    /// The push body for one scrape's `text`, taken at `now`; a failed scrape leaves the
    /// previous counters as they were.
    pub fn sample(&mut self, text: &str, now: DateTime<Utc>) -> Result<PushBody, ScrapeError> {
        let families = parse(text)?;
        let mut readings = Readings::default();
        for sample in families.iter().flat_map(|f| f.samples.iter()) {
            readings.add(sample);
        }
        if !readings.seen {
            return Err(ScrapeError::NotNodeExporter);
        }
        let shares = self
            .previous_cpu
            .as_ref()
            .and_then(|previous| cpu_shares(previous, &readings.cpus));
        // No hostname (the host is the one scraped), interval or tags (the server has them).
        let body = PushBody {
            timestamp: Some(now),
            cpu: readings.cpu(shares),
            memory: readings.memory(),
            disk: readings.disk(),
            io: readings.io(),
            ..PushBody::default()
        };
        self.previous_cpu = Some(readings.cpus);
        Ok(body)
    }
}

/// The metric families of `text`, or the line where it stops being Prometheus text.
fn parse(text: &str) -> Result<Vec<nom_openmetrics::Family<'_>>, ScrapeError> {
    match nom_openmetrics::parser::prometheus(text) {
        Ok((_, families)) => Ok(families),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            // The innermost error is where parsing stopped; its input is the rest of `text`.
            let rest = e.errors.first().map_or(0, |(rest, _)| rest.len());
            Err(unparsable(text, text.len().saturating_sub(rest)))
        }
        Err(nom::Err::Incomplete(_)) => Err(unparsable(text, text.len())),
    }
}

fn unparsable(text: &str, offset: usize) -> ScrapeError {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text
        .get(line_start..)
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default();
    ScrapeError::Unparsable {
        line: before.matches('\n').count() + 1,
        text: line.chars().take(QUOTE_CHARS).collect(),
    }
}

/// The value of label `name` of `sample`.
fn label<'s>(sample: &'s Sample<'_>, name: &str) -> Option<&'s str> {
    sample
        .labels()
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_str())
}

/// A byte count from a sample value: whole, and nothing for NaN, infinities or negatives.
fn bytes(value: f64) -> Option<u64> {
    // `as` saturates at u64::MAX, which is the right answer for a value past it.
    (value.is_finite() && value >= 0.0).then(|| value.round() as u64)
}

/// `part` of `whole` in percent, 0 to 100; nothing when `whole` is not positive.
fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| (part * 100.0 / whole).clamp(0.0, 100.0))
}

/// Adds `value` to a running sum that starts when the first value comes.
fn add(sum: &mut Option<u64>, value: Option<u64>) {
    if let Some(v) = value {
        *sum = Some(sum.unwrap_or(0).saturating_add(v));
    }
}

/// One filesystem's figures, in bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Filesystem {
    size: Option<u64>,
    free: Option<u64>,
    avail: Option<u64>,
}

/// What one scrape says, gathered in one pass over its samples.
#[derive(Debug, Default)]
struct Readings {
    /// Any series this module reads was there (even if every sample of it was left out).
    seen: bool,
    cpus: BTreeMap<CpuKey, CpuTimes>,
    load: [Option<f64>; 3],
    mem_total: Option<u64>,
    mem_available: Option<u64>,
    mem_free: Option<u64>,
    mem_buffers: Option<u64>,
    mem_cached: Option<u64>,
    saw_filesystems: bool,
    /// By (mountpoint, device, fstype): one mountpoint can hold several mounts.
    filesystems: BTreeMap<(String, String, String), Filesystem>,
    net_sent: Option<u64>,
    net_recv: Option<u64>,
    disk_read: Option<u64>,
    disk_written: Option<u64>,
}

impl Readings {
    fn add(&mut self, sample: &Sample<'_>) {
        let value = sample.number();
        match sample.name() {
            "node_cpu_seconds_total" => {
                self.seen = true;
                let (Some(cpu), Some(mode)) = (label(sample, "cpu"), label(sample, "mode")) else {
                    return;
                };
                if !value.is_finite() {
                    return;
                }
                let key = (cpu.parse().unwrap_or(u64::MAX), cpu.to_owned());
                let times = self.cpus.entry(key).or_default();
                times.total += value;
                // Summed apart rather than total − idle − iowait, so that unchanged busy
                // counters give exactly the same sum (no rounding that looks like a reset).
                if mode != "idle" && mode != "iowait" {
                    times.busy += value;
                }
            }
            "node_load1" => self.load_at(0, value),
            "node_load5" => self.load_at(1, value),
            "node_load15" => self.load_at(2, value),
            "node_memory_MemTotal_bytes" => self.memory_at(|r| &mut r.mem_total, value),
            "node_memory_MemAvailable_bytes" => self.memory_at(|r| &mut r.mem_available, value),
            "node_memory_MemFree_bytes" => self.memory_at(|r| &mut r.mem_free, value),
            "node_memory_Buffers_bytes" => self.memory_at(|r| &mut r.mem_buffers, value),
            "node_memory_Cached_bytes" => self.memory_at(|r| &mut r.mem_cached, value),
            "node_filesystem_size_bytes" => self.filesystem_at(sample, |f| &mut f.size),
            "node_filesystem_free_bytes" => self.filesystem_at(sample, |f| &mut f.free),
            "node_filesystem_avail_bytes" => self.filesystem_at(sample, |f| &mut f.avail),
            "node_network_transmit_bytes_total" => {
                self.seen = true;
                if label(sample, "device").is_some_and(|d| d != "lo") {
                    add(&mut self.net_sent, bytes(value));
                }
            }
            "node_network_receive_bytes_total" => {
                self.seen = true;
                if label(sample, "device").is_some_and(|d| d != "lo") {
                    add(&mut self.net_recv, bytes(value));
                }
            }
            "node_disk_read_bytes_total" => {
                self.seen = true;
                if label(sample, "device").is_some_and(is_whole_disk) {
                    add(&mut self.disk_read, bytes(value));
                }
            }
            "node_disk_written_bytes_total" => {
                self.seen = true;
                if label(sample, "device").is_some_and(is_whole_disk) {
                    add(&mut self.disk_written, bytes(value));
                }
            }
            _ => {}
        }
    }

    fn load_at(&mut self, i: usize, value: f64) {
        self.seen = true;
        if value.is_finite() && value >= 0.0 {
            self.load[i] = Some(value);
        }
    }

    fn memory_at(&mut self, field: impl Fn(&mut Readings) -> &mut Option<u64>, value: f64) {
        self.seen = true;
        *field(self) = bytes(value);
    }

    fn filesystem_at(
        &mut self,
        sample: &Sample<'_>,
        field: impl Fn(&mut Filesystem) -> &mut Option<u64>,
    ) {
        self.seen = true;
        self.saw_filesystems = true;
        let (Some(mountpoint), Some(fstype)) =
            (label(sample, "mountpoint"), label(sample, "fstype"))
        else {
            return;
        };
        if is_pseudo_filesystem(fstype) {
            return;
        }
        let device = label(sample, "device").unwrap_or_default();
        let key = (mountpoint.to_owned(), device.to_owned(), fstype.to_owned());
        *field(self.filesystems.entry(key).or_default()) = bytes(sample.number());
    }

    fn cpu(&self, shares: Option<(f64, Vec<f64>)>) -> Option<CpuBody> {
        let load = match self.load {
            [Some(l1), Some(l5), Some(l15)] => Some([l1, l5, l15]),
            _ => None,
        };
        if self.cpus.is_empty() && load.is_none() {
            return None;
        }
        let (total, per_core) = shares.unzip();
        Some(CpuBody {
            cpu_percent_total: total,
            cpu_percent_per_core: per_core,
            cpu_count_logical: (!self.cpus.is_empty())
                .then(|| u32::try_from(self.cpus.len()).unwrap_or(u32::MAX)),
            load_average: load,
        })
    }

    fn memory(&self) -> Option<MemoryBody> {
        let total = self.mem_total?;
        let available = self.mem_available.or_else(|| {
            self.mem_free.map(|free| {
                free.saturating_add(self.mem_buffers.unwrap_or(0))
                    .saturating_add(self.mem_cached.unwrap_or(0))
            })
        });
        let used = available.map(|a| total.saturating_sub(a));
        Some(MemoryBody {
            memory_total: Some(total),
            memory_used: used,
            memory_percent: used.and_then(|u| percent(u as f64, total as f64)),
        })
    }

    fn disk(&self) -> Option<DiskBody> {
        if !self.saw_filesystems {
            return None;
        }
        // One per mountpoint: the largest of the mounts there (the map's order breaks ties),
        // since the figures say nothing about which mount is on top.
        let mut by_mountpoint: BTreeMap<&str, PartitionBody> = BTreeMap::new();
        for ((mountpoint, _, _), fs) in &self.filesystems {
            let (Some(size), Some(free)) = (fs.size, fs.free) else {
                continue;
            };
            if size == 0 || mountpoint.is_empty() || mountpoint.len() > MAX_MOUNTPOINT_LEN {
                continue;
            }
            let used = size.saturating_sub(free);
            // As `df` does: the space reserved for root counts neither as used nor as available.
            let percent = fs
                .avail
                .and_then(|avail| percent(used as f64, used as f64 + avail as f64));
            let partition = PartitionBody {
                mountpoint: mountpoint.clone(),
                total: size,
                used,
                percent,
                ..PartitionBody::default()
            };
            match by_mountpoint.get(mountpoint.as_str()) {
                Some(kept) if kept.total >= size => {}
                _ => {
                    by_mountpoint.insert(mountpoint, partition);
                }
            }
        }
        Some(DiskBody {
            partitions: by_mountpoint.into_values().take(MAX_PARTITIONS).collect(),
        })
    }

    fn io(&self) -> Option<IoBody> {
        let network = (self.net_sent.is_some() || self.net_recv.is_some()).then_some(NetworkBody {
            bytes_sent: self.net_sent,
            bytes_recv: self.net_recv,
            ..NetworkBody::default()
        });
        let disk_io =
            (self.disk_read.is_some() || self.disk_written.is_some()).then_some(DiskIoBody {
                read_bytes: self.disk_read,
                write_bytes: self.disk_written,
                ..DiskIoBody::default()
            });
        (network.is_some() || disk_io.is_some()).then_some(IoBody { network, disk_io })
    }
}

/// Busy shares (all CPUs, then each) between two scrapes' counters; nothing when a counter
/// went down (a reboot), the CPUs changed, or no time passed.
fn cpu_shares(
    previous: &BTreeMap<CpuKey, CpuTimes>,
    now: &BTreeMap<CpuKey, CpuTimes>,
) -> Option<(f64, Vec<f64>)> {
    if now.is_empty() || previous.len() != now.len() {
        return None;
    }
    let (mut busy, mut total) = (0.0, 0.0);
    let mut per_core = Vec::with_capacity(now.len());
    for ((key, n), (previous_key, p)) in now.iter().zip(previous) {
        if key != previous_key {
            return None;
        }
        let d_busy = n.busy - p.busy;
        let d_total = n.total - p.total;
        // A reset would give a negative share or, against a fresh small counter, a huge one.
        if d_busy < -JITTER_S || d_total < -JITTER_S {
            return None;
        }
        let (d_busy, d_total) = (d_busy.max(0.0), d_total.max(0.0));
        per_core.push(percent(d_busy, d_total).unwrap_or(0.0));
        busy += d_busy;
        total += d_total;
    }
    Some((percent(busy, total)?, per_core))
}

/// Whether block device `name` is a whole disk: not a partition (`sda1`, `vda2`,
/// `nvme0n1p1`, `mmcblk0p1`) nor one of [`NOT_DISKS`].
fn is_whole_disk(name: &str) -> bool {
    if NOT_DISKS.iter().any(|prefix| name.starts_with(prefix)) {
        return false;
    }
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.len() == name.len() {
        // No trailing number: `sda`, `vdb`, `xvdc`.
        return true;
    }
    // `nvme0n1p1`, `mmcblk0p1`: a number, `p`, the partition's number.
    if let Some(before_p) = stem.strip_suffix('p') {
        if before_p.ends_with(|c: char| c.is_ascii_digit()) {
            return false;
        }
    }
    // `sda1`, `hdb2`, `vda3`, `xvda1`: letters naming the disk, then the partition's number.
    let lettered = stem.chars().all(|c| c.is_ascii_lowercase());
    let named_by_letters = ["sd", "hd", "vd", "xvd"]
        .iter()
        .any(|prefix| stem.starts_with(prefix));
    !(lettered && named_by_letters)
}

#[cfg(test)]
mod tests {
    //! The fixtures are two scrapes, five seconds apart, of Debian 12's
    //! prometheus-node-exporter 1.5.0 in a container, run with
    //! `--no-collector.systemd --collector.filesystem.mount-points-exclude='^/mnt($|/)'
    //! --collector.filesystem.fs-types-exclude='^$' --collector.netdev.device-exclude='^$'
    //! --collector.diskstats.device-exclude='^$'` so that they hold what this module must
    //! leave out (lo, tmpfs and other pseudo filesystems, loop and zram devices), which
    //! Debian's defaults would already drop.

    use super::*;

    const SCRAPE_1: &str = include_str!("../../../tests/fixtures/node_exporter_1.txt");
    const SCRAPE_2: &str = include_str!("../../../tests/fixtures/node_exporter_2.txt");

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("fixed time")
            .with_timezone(&Utc)
    }

    /// The value of the one sample of `name` whose labels include `labels`, read by hand.
    fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .filter(|l| {
                labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
            })
            .map(|l| {
                l.rsplit(' ')
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("a number")
            })
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
        found[0]
    }

    #[test]
    fn the_first_scrape_has_everything_but_cpu_shares() {
        let now = at("2026-11-28T12:39:09Z");
        let body = Scraper::new()
            .sample(SCRAPE_1, now)
            .expect("a node_exporter");
        body.validate(now).expect("a valid push");
        assert_eq!(body.timestamp, Some(now));
        assert_eq!(body.hostname, None);

        let cpu = body.cpu.expect("cpu");
        assert_eq!(cpu.cpu_percent_total, None);
        assert_eq!(cpu.cpu_percent_per_core, None);
        assert_eq!(cpu.cpu_count_logical, Some(2));
        assert_eq!(
            cpu.load_average,
            Some([
                value(SCRAPE_1, "node_load1", &[]),
                value(SCRAPE_1, "node_load5", &[]),
                value(SCRAPE_1, "node_load15", &[]),
            ])
        );

        let mem = body.memory.expect("memory");
        let total = value(SCRAPE_1, "node_memory_MemTotal_bytes", &[]) as u64;
        let available = value(SCRAPE_1, "node_memory_MemAvailable_bytes", &[]) as u64;
        assert_eq!(mem.memory_total, Some(total));
        assert_eq!(mem.memory_used, Some(total - available));
        let share = mem.memory_percent.expect("a share");
        assert!((share - (total - available) as f64 * 100.0 / total as f64).abs() < 1e-9);

        // Only the ext4 root: tmpfs, devtmpfs, cgroup, proc, sysfs and devpts are all there
        // in the text, and left out.
        let disk = body.disk.expect("disk");
        let mountpoints: Vec<&str> = disk
            .partitions
            .iter()
            .map(|p| p.mountpoint.as_str())
            .collect();
        assert_eq!(mountpoints, ["/"]);
        assert!(SCRAPE_1.contains(r#"fstype="tmpfs",mountpoint="/dev/shm""#));
        let root = &disk.partitions[0];
        let fs = [("mountpoint", "/"), ("fstype", "ext4")];
        let size = value(SCRAPE_1, "node_filesystem_size_bytes", &fs) as u64;
        let free = value(SCRAPE_1, "node_filesystem_free_bytes", &fs) as u64;
        let avail = value(SCRAPE_1, "node_filesystem_avail_bytes", &fs) as u64;
        assert_eq!(root.total, size);
        assert_eq!(root.used, size - free);
        let df = (size - free) as f64 * 100.0 / ((size - free) + avail) as f64;
        assert!((root.percent.expect("a share") - df).abs() < 1e-9);

        // lo is in the text and left out of the sums.
        let io = body.io.expect("io");
        let network = io.network.expect("network");
        let lo = value(
            SCRAPE_1,
            "node_network_receive_bytes_total",
            &[("device", "lo")],
        );
        assert!(lo > 0.0);
        let recv: f64 = ["eth0", "ifb0", "ifb1"]
            .iter()
            .map(|d| {
                value(
                    SCRAPE_1,
                    "node_network_receive_bytes_total",
                    &[("device", d)],
                )
            })
            .sum();
        let sent: f64 = ["eth0", "ifb0", "ifb1"]
            .iter()
            .map(|d| {
                value(
                    SCRAPE_1,
                    "node_network_transmit_bytes_total",
                    &[("device", d)],
                )
            })
            .sum();
        assert_eq!(network.bytes_recv, Some(recv as u64));
        assert_eq!(network.bytes_sent, Some(sent as u64));

        // Of vda, zram0 and loop0..7, only vda is a disk.
        let disk_io = io.disk_io.expect("disk io");
        let vda = [("device", "vda")];
        assert_eq!(
            disk_io.read_bytes,
            Some(value(SCRAPE_1, "node_disk_read_bytes_total", &vda) as u64)
        );
        assert_eq!(
            disk_io.write_bytes,
            Some(value(SCRAPE_1, "node_disk_written_bytes_total", &vda) as u64)
        );
    }

    #[test]
    fn the_second_scrape_has_cpu_shares_per_core() {
        let mut scraper = Scraper::new();
        scraper
            .sample(SCRAPE_1, at("2026-11-28T12:39:09Z"))
            .expect("a node_exporter");
        let now = at("2026-11-28T12:39:14Z");
        let body = scraper.sample(SCRAPE_2, now).expect("a node_exporter");
        let cpu = body.cpu.clone().expect("cpu");
        let total = cpu.cpu_percent_total.expect("a share over both scrapes");
        assert!((0.0..=100.0).contains(&total), "{total}");
        let per_core = cpu.cpu_percent_per_core.expect("shares per core");
        assert_eq!(Some(per_core.len() as u32), cpu.cpu_count_logical);
        assert!(
            per_core.iter().all(|p| (0.0..=100.0).contains(p)),
            "{per_core:?}"
        );

        // By hand for cpu 0: busy is every mode but idle and iowait.
        let busy = |text: &str| -> f64 {
            ["irq", "nice", "softirq", "steal", "system", "user"]
                .iter()
                .map(|m| value(text, "node_cpu_seconds_total", &[("cpu", "0"), ("mode", m)]))
                .sum()
        };
        let idle = |text: &str| -> f64 {
            ["idle", "iowait"]
                .iter()
                .map(|m| value(text, "node_cpu_seconds_total", &[("cpu", "0"), ("mode", m)]))
                .sum()
        };
        let d_busy = busy(SCRAPE_2) - busy(SCRAPE_1);
        let d_total = d_busy + idle(SCRAPE_2) - idle(SCRAPE_1);
        assert!((per_core[0] - d_busy * 100.0 / d_total).abs() < 1e-6);

        body.validate(now).expect("a valid push");
    }

    #[test]
    fn a_counter_reset_gives_no_cpu_share() {
        let mut scraper = Scraper::new();
        scraper
            .sample(SCRAPE_2, at("2026-11-28T12:39:14Z"))
            .expect("a node_exporter");
        // SCRAPE_1's counters are smaller: to the scraper, the host rebooted.
        let body = scraper
            .sample(SCRAPE_1, at("2026-11-28T12:39:19Z"))
            .expect("a node_exporter");
        let cpu = body.cpu.expect("cpu");
        assert_eq!(cpu.cpu_percent_total, None);
        assert_eq!(cpu.cpu_percent_per_core, None);
        assert_eq!(cpu.cpu_count_logical, Some(2));
        // The counters after the reset count from then on.
        let body = scraper
            .sample(SCRAPE_2, at("2026-11-28T12:39:24Z"))
            .expect("a node_exporter");
        assert!(body.cpu.and_then(|c| c.cpu_percent_total).is_some());
    }

    #[test]
    fn the_same_counters_twice_give_no_cpu_share() {
        let mut scraper = Scraper::new();
        let now = at("2026-11-28T12:39:14Z");
        scraper.sample(SCRAPE_1, now).expect("a node_exporter");
        let body = scraper.sample(SCRAPE_1, now).expect("a node_exporter");
        assert_eq!(body.cpu.and_then(|c| c.cpu_percent_total), None);
    }

    #[test]
    fn junk_is_not_a_scrape() {
        let now = at("2026-11-28T12:39:14Z");
        let mut scraper = Scraper::new();
        let err = scraper
            .sample("<html>\n<body>Not Found</body>\n</html>\n", now)
            .expect_err("not metrics");
        assert_eq!(
            err,
            ScrapeError::Unparsable {
                line: 1,
                text: "<html>".to_owned()
            }
        );
        let broken = "node_load1 0.5\nnode_load5 {oops\n";
        assert!(matches!(
            scraper.sample(broken, now),
            Err(ScrapeError::Unparsable { line: 2, .. })
        ));
        // Prometheus text of something else is no node_exporter either.
        let other = "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 3\n";
        assert_eq!(
            scraper.sample(other, now),
            Err(ScrapeError::NotNodeExporter)
        );
    }

    #[test]
    fn an_empty_text_is_not_a_scrape() {
        let now = at("2026-11-28T12:39:14Z");
        assert_eq!(
            Scraper::new().sample("", now),
            Err(ScrapeError::NotNodeExporter)
        );
    }

    #[test]
    fn a_failed_scrape_keeps_the_previous_counters() {
        let mut scraper = Scraper::new();
        scraper
            .sample(SCRAPE_1, at("2026-11-28T12:39:09Z"))
            .expect("a node_exporter");
        assert!(scraper.sample("junk", at("2026-11-28T12:39:11Z")).is_err());
        let body = scraper
            .sample(SCRAPE_2, at("2026-11-28T12:39:14Z"))
            .expect("a node_exporter");
        assert!(body.cpu.and_then(|c| c.cpu_percent_total).is_some());
    }

    #[test]
    fn filesystems_are_one_per_mountpoint_and_real() {
        let text = r#"# TYPE node_filesystem_size_bytes gauge
node_filesystem_size_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 1000
node_filesystem_size_bytes{device="/dev/sdb1",fstype="xfs",mountpoint="/data"} 100
node_filesystem_size_bytes{device="/dev/sdc1",fstype="xfs",mountpoint="/data"} 400
node_filesystem_size_bytes{device="/dev/sdd1",fstype="ext4",mountpoint="/empty"} 0
node_filesystem_size_bytes{device="overlay",fstype="overlay",mountpoint="/merged"} 1000
node_filesystem_size_bytes{device="lxcfs",fstype="fuse.lxcfs",mountpoint="/proc/cpuinfo"} 1000
node_filesystem_size_bytes{device="/dev/loop0",fstype="squashfs",mountpoint="/snap/core/1"} 1000
node_filesystem_size_bytes{device="nsfs",fstype="nsfs",mountpoint="/run/netns/x"} 1000
node_filesystem_size_bytes{device="/dev/sde1",fstype="ext4",mountpoint="/a \"quoted\", odd=dir"} 10
# TYPE node_filesystem_free_bytes gauge
node_filesystem_free_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 300
node_filesystem_free_bytes{device="/dev/sdb1",fstype="xfs",mountpoint="/data"} 100
node_filesystem_free_bytes{device="/dev/sdc1",fstype="xfs",mountpoint="/data"} 0
node_filesystem_free_bytes{device="/dev/sdd1",fstype="ext4",mountpoint="/empty"} 0
node_filesystem_free_bytes{device="overlay",fstype="overlay",mountpoint="/merged"} 0
node_filesystem_free_bytes{device="lxcfs",fstype="fuse.lxcfs",mountpoint="/proc/cpuinfo"} 0
node_filesystem_free_bytes{device="/dev/loop0",fstype="squashfs",mountpoint="/snap/core/1"} 0
node_filesystem_free_bytes{device="nsfs",fstype="nsfs",mountpoint="/run/netns/x"} 0
node_filesystem_free_bytes{device="/dev/sde1",fstype="ext4",mountpoint="/a \"quoted\", odd=dir"} 20
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 200
node_filesystem_avail_bytes{device="/dev/sdb1",fstype="xfs",mountpoint="/data"} 100
node_filesystem_avail_bytes{device="/dev/sdc1",fstype="xfs",mountpoint="/data"} 0
node_filesystem_avail_bytes{device="/dev/sdd1",fstype="ext4",mountpoint="/empty"} 0
node_filesystem_avail_bytes{device="overlay",fstype="overlay",mountpoint="/merged"} 0
node_filesystem_avail_bytes{device="lxcfs",fstype="fuse.lxcfs",mountpoint="/proc/cpuinfo"} 0
node_filesystem_avail_bytes{device="/dev/loop0",fstype="squashfs",mountpoint="/snap/core/1"} 0
node_filesystem_avail_bytes{device="nsfs",fstype="nsfs",mountpoint="/run/netns/x"} 0
node_filesystem_avail_bytes{device="/dev/sde1",fstype="ext4",mountpoint="/a \"quoted\", odd=dir"} 20
"#;
        let body = Scraper::new()
            .sample(text, at("2026-11-28T12:39:14Z"))
            .expect("a node_exporter");
        let partitions = body.disk.expect("disk").partitions;
        let p = |mountpoint: &str, total, used, percent| PartitionBody {
            mountpoint: mountpoint.to_owned(),
            total,
            used,
            percent: Some(percent),
            ..PartitionBody::default()
        };
        assert_eq!(
            partitions,
            [
                p("/", 1000, 700, 700.0 * 100.0 / 900.0),
                // Free above size (a racy statfs) is no used space, not a wrap-around.
                p("/a \"quoted\", odd=dir", 10, 0, 0.0),
                // The larger of the two mounts at /data.
                p("/data", 400, 400, 100.0),
            ]
        );
        assert!(body.cpu.is_none() && body.memory.is_none() && body.io.is_none());
    }

    #[test]
    fn memory_without_memavailable_counts_caches_as_free() {
        let text = "node_memory_MemTotal_bytes 1000\nnode_memory_MemFree_bytes 100\n\
                    node_memory_Buffers_bytes 50\nnode_memory_Cached_bytes 250\n";
        let mem = Scraper::new()
            .sample(text, at("2026-11-28T12:39:14Z"))
            .expect("a node_exporter")
            .memory
            .expect("memory");
        assert_eq!(mem.memory_total, Some(1000));
        assert_eq!(mem.memory_used, Some(600));
        assert_eq!(mem.memory_percent, Some(60.0));
    }

    #[test]
    fn disk_io_counts_whole_disks_only() {
        for disk in [
            "sda", "sdab", "vda", "xvdb", "hda", "nvme0n1", "nvme10n2", "mmcblk0", "nbd0",
        ] {
            assert!(is_whole_disk(disk), "{disk}");
        }
        for other in [
            "sda1",
            "sdab12",
            "vda2",
            "xvda1",
            "hdb3",
            "nvme0n1p1",
            "mmcblk0p1",
            "loop0",
            "ram0",
            "zram0",
            "dm-0",
            "sr0",
            "md0",
        ] {
            assert!(!is_whole_disk(other), "{other}");
        }
        let text = "node_disk_read_bytes_total{device=\"sda\"} 100\n\
                    node_disk_read_bytes_total{device=\"sda1\"} 90\n\
                    node_disk_read_bytes_total{device=\"nvme0n1\"} 10\n\
                    node_disk_read_bytes_total{device=\"nvme0n1p1\"} 9\n\
                    node_disk_read_bytes_total{device=\"dm-0\"} 99\n";
        let io = Scraper::new()
            .sample(text, at("2026-11-28T12:39:14Z"))
            .expect("a node_exporter")
            .io
            .expect("io");
        assert_eq!(io.network, None);
        assert_eq!(
            io.disk_io,
            Some(DiskIoBody {
                read_bytes: Some(110),
                write_bytes: None,
                ..DiskIoBody::default()
            })
        );
    }
}
