//! A host's sample: the push body of API.md ("Hosts") that agents send and scrapes
//! produce, its validation, and its turning into `HostMetricsReported` with per-second
//! rates derived from the counters.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::events::{core_count, DiskUsage, FilesystemDetails, HostMetricsReported, SampleDetails};

/// How far ahead of the server's clock a sample's timestamp may be.
pub const MAX_CLOCK_SKEW_S: i64 = 300;

/// A metrics push as agents send it (every part optional; unknown fields ignored).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PushBody {
    /// The host's name; required by `POST /api/metrics`, checked against the path otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// When the sample was taken; the server's clock when absent. A time without an offset
    /// (`2025-11-06T10:00:00`, as Python's `datetime.isoformat()` writes it) is UTC.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "utc_or_naive"
    )]
    pub timestamp: Option<DateTime<Utc>>,
    /// Seconds between the agent's samples, so the server knows when the host is late.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<u32>,
    /// Labels for alert rules and silences; a change re-registers the host with them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// CPU figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuBody>,
    /// Memory figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryBody>,
    /// Filesystems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskBody>,
    /// Network and disk I/O counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io: Option<IoBody>,
}

/// Reads an RFC 3339 time, or one without an offset taken as UTC.
fn utc_or_naive<'de, D: Deserializer<'de>>(de: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(de)? else {
        return Ok(None);
    };
    parse_utc_or_naive(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Parses an RFC 3339 time, or a time without an offset (`T` or a space between date and
/// time, optional fractions) as UTC.
pub fn parse_utc_or_naive(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            format!(
                "{text:?} is not a time: use RFC 3339 (2026-11-06T10:00:00Z) or a UTC time \
                 without an offset (2026-11-06T10:00:00)"
            )
        })
}

/// The `cpu` part of a push.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuBody {
    /// Busy share over all cores, 0 to 100.
    pub cpu_percent_total: Option<f64>,
    /// Busy share of each core, 0 to 100.
    pub cpu_percent_per_core: Option<Vec<f64>>,
    /// Logical cores.
    pub cpu_count_logical: Option<u32>,
    /// Load averages over 1, 5 and 15 minutes.
    pub load_average: Option<[f64; 3]>,
}

/// The `memory` part of a push.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryBody {
    /// Bytes of memory.
    pub memory_total: Option<u64>,
    /// Bytes in use.
    pub memory_used: Option<u64>,
    /// Share in use, 0 to 100.
    pub memory_percent: Option<f64>,
}

/// The `disk` part of a push.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskBody {
    /// Every real filesystem.
    pub partitions: Vec<PartitionBody>,
}

/// One filesystem of a push.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionBody {
    /// The device, such as `/dev/sda1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Where it is mounted.
    pub mountpoint: String,
    /// The filesystem type, such as `ext4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fstype: Option<String>,
    /// Size in bytes.
    pub total: u64,
    /// Used bytes.
    pub used: u64,
    /// Bytes free to unprivileged users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free: Option<u64>,
    /// Used share, 0 to 100; `used / total` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
}

/// The `io` part of a push.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IoBody {
    /// Network counters, bytes since boot.
    pub network: Option<NetworkBody>,
    /// Disk counters, bytes since boot.
    pub disk_io: Option<DiskIoBody>,
}

/// Network counters of a push.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkBody {
    /// Bytes sent since boot.
    pub bytes_sent: Option<u64>,
    /// Bytes received since boot.
    pub bytes_recv: Option<u64>,
    /// Packets sent since boot.
    pub packets_sent: Option<u64>,
    /// Packets received since boot.
    pub packets_recv: Option<u64>,
    /// Errors while receiving, since boot.
    pub errin: Option<u64>,
    /// Errors while sending, since boot.
    pub errout: Option<u64>,
    /// Incoming packets dropped, since boot.
    pub dropin: Option<u64>,
    /// Outgoing packets dropped, since boot.
    pub dropout: Option<u64>,
}

/// Disk I/O counters of a push.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskIoBody {
    /// Bytes read since boot.
    pub read_bytes: Option<u64>,
    /// Bytes written since boot.
    pub write_bytes: Option<u64>,
    /// Reads since boot.
    pub read_count: Option<u64>,
    /// Writes since boot.
    pub write_count: Option<u64>,
    /// Milliseconds spent reading, since boot.
    pub read_time: Option<u64>,
    /// Milliseconds spent writing, since boot.
    pub write_time: Option<u64>,
}

/// A push that parsed but holds a value that cannot be: the field and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidSample {
    /// The field's path in the body, such as `disk.partitions[0].percent`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> InvalidSample {
    InvalidSample {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Checks a hostname: a DNS name of labels of 1 to 63 letters, digits and inner hyphens, at most 253 long.
pub fn validate_hostname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 {
        return Err("a hostname has 1 to 253 characters".into());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "{name:?} is not a DNS name: each dot-separated label has 1 to 63 letters, digits or inner hyphens"
            ));
        }
    }
    Ok(())
}

fn percent(field: &str, value: Option<f64>) -> Result<(), InvalidSample> {
    match value {
        Some(v) if !v.is_finite() || !(0.0..=100.0).contains(&v) => Err(invalid(
            field,
            format!("{v} is not a percentage from 0 to 100"),
        )),
        _ => Ok(()),
    }
}

impl PushBody {
    /// Checks every value against what a machine can report; `now` bounds the timestamp.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), InvalidSample> {
        if let Some(name) = &self.hostname {
            validate_hostname(name).map_err(|r| invalid("hostname", r))?;
        }
        if let Some(at) = self.timestamp {
            if at > now + Duration::seconds(MAX_CLOCK_SKEW_S) {
                return Err(invalid(
                    "timestamp",
                    format!("{at} is more than {MAX_CLOCK_SKEW_S} s ahead of the server's clock"),
                ));
            }
        }
        for (i, tag) in self.tags.iter().flatten().enumerate() {
            if tag.is_empty() || tag.len() > 64 {
                return Err(invalid(
                    format!("tags[{i}]"),
                    "a tag has 1 to 64 characters",
                ));
            }
        }
        if self.interval_s == Some(0) {
            return Err(invalid("interval_s", "an interval is at least 1 second"));
        }
        if let Some(cpu) = &self.cpu {
            percent("cpu.cpu_percent_total", cpu.cpu_percent_total)?;
            for (i, v) in cpu.cpu_percent_per_core.iter().flatten().enumerate() {
                percent(&format!("cpu.cpu_percent_per_core[{i}]"), Some(*v))?;
            }
            if cpu
                .cpu_percent_per_core
                .as_ref()
                .is_some_and(|c| c.len() > 4096)
            {
                return Err(invalid("cpu.cpu_percent_per_core", "more than 4096 cores"));
            }
            for (i, v) in cpu.load_average.iter().flatten().enumerate() {
                if !v.is_finite() || *v < 0.0 {
                    return Err(invalid(
                        format!("cpu.load_average[{i}]"),
                        format!("{v} is not a load average (0 or more)"),
                    ));
                }
            }
        }
        if let Some(mem) = &self.memory {
            percent("memory.memory_percent", mem.memory_percent)?;
            if let (Some(total), Some(used)) = (mem.memory_total, mem.memory_used) {
                if used > total {
                    return Err(invalid(
                        "memory.memory_used",
                        format!("{used} bytes used of {total}"),
                    ));
                }
            }
        }
        if let Some(disk) = &self.disk {
            if disk.partitions.len() > 1024 {
                return Err(invalid("disk.partitions", "more than 1024 filesystems"));
            }
            for (i, p) in disk.partitions.iter().enumerate() {
                if p.mountpoint.is_empty() || p.mountpoint.len() > 1024 {
                    return Err(invalid(
                        format!("disk.partitions[{i}].mountpoint"),
                        "a mountpoint has 1 to 1024 characters",
                    ));
                }
                if p.used > p.total {
                    return Err(invalid(
                        format!("disk.partitions[{i}].used"),
                        format!("{} bytes used of {}", p.used, p.total),
                    ));
                }
                percent(&format!("disk.partitions[{i}].percent"), p.percent)?;
                if p.free.is_some_and(|free| free > p.total) {
                    return Err(invalid(
                        format!("disk.partitions[{i}].free"),
                        format!("{} bytes free of {}", p.free.unwrap_or_default(), p.total),
                    ));
                }
                for (name, text) in [("device", &p.device), ("fstype", &p.fstype)] {
                    if text.as_ref().is_some_and(|t| t.len() > 1024) {
                        return Err(invalid(
                            format!("disk.partitions[{i}].{name}"),
                            "more than 1024 characters",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The raw counters: network sent, received, disk read, written.
    pub fn counters(&self) -> [Option<u64>; 4] {
        let net = self.io.as_ref().and_then(|io| io.network.as_ref());
        let disk = self.io.as_ref().and_then(|io| io.disk_io.as_ref());
        [
            net.and_then(|n| n.bytes_sent),
            net.and_then(|n| n.bytes_recv),
            disk.and_then(|d| d.read_bytes),
            disk.and_then(|d| d.write_bytes),
        ]
    }

    /// The facts beyond usage and byte counters: filesystems' devices, types and free space,
    /// packet, error and drop counters, disk operation counts and times.
    pub fn details(&self) -> SampleDetails {
        let net = self
            .io
            .as_ref()
            .and_then(|io| io.network.clone())
            .unwrap_or_default();
        let disk = self
            .io
            .as_ref()
            .and_then(|io| io.disk_io.clone())
            .unwrap_or_default();
        let filesystems = self
            .disk
            .iter()
            .flat_map(|d| &d.partitions)
            .map(|p| FilesystemDetails {
                mountpoint: p.mountpoint.clone(),
                device: p.device.clone(),
                fstype: p.fstype.clone(),
                free: p.free,
            })
            .collect::<Vec<_>>();
        let told =
            |f: &FilesystemDetails| f.device.is_some() || f.fstype.is_some() || f.free.is_some();
        SampleDetails {
            filesystems: if filesystems.iter().any(told) {
                filesystems
            } else {
                Vec::new()
            },
            network: [
                net.packets_sent,
                net.packets_recv,
                net.errin,
                net.errout,
                net.dropin,
                net.dropout,
            ],
            disk_io: [
                disk.read_count,
                disk.write_count,
                disk.read_time,
                disk.write_time,
            ],
        }
    }

    /// The event for this sample: `previous` (the host's last sample) gives the rates.
    pub fn into_event(
        self,
        hostname: String,
        sampled_at: DateTime<Utc>,
        previous: Option<&HostMetricsReported>,
    ) -> HostMetricsReported {
        let counters = self.counters();
        let details = self.details();
        let rates = rates(counters, sampled_at, previous);
        let cpu = self.cpu.unwrap_or_default();
        let mem = self.memory.unwrap_or_default();
        let memory_percent = mem
            .memory_percent
            .or(match (mem.memory_total, mem.memory_used) {
                (Some(total), Some(used)) if total > 0 => Some(used as f64 * 100.0 / total as f64),
                _ => None,
            });
        let disks = self
            .disk
            .unwrap_or_default()
            .partitions
            .into_iter()
            .map(|p| DiskUsage {
                percent: p.percent.unwrap_or(if p.total > 0 {
                    p.used as f64 * 100.0 / p.total as f64
                } else {
                    0.0
                }),
                mountpoint: p.mountpoint,
                total: p.total,
                used: p.used,
            })
            .collect();
        HostMetricsReported {
            hostname,
            sampled_at,
            cpu_percent: cpu.cpu_percent_total,
            cpu_count: cpu
                .cpu_count_logical
                .or_else(|| core_count(cpu.cpu_percent_per_core.as_deref().unwrap_or_default())),
            cpu_percent_per_core: cpu.cpu_percent_per_core.unwrap_or_default(),
            load_average: cpu.load_average,
            memory_total: mem.memory_total,
            memory_used: mem.memory_used,
            memory_percent,
            disks,
            counters,
            rates,
            details,
        }
    }
}

/// Per-second rates from two samples' counters; a counter that went down (a reboot) gives no rate.
pub fn rates(
    counters: [Option<u64>; 4],
    sampled_at: DateTime<Utc>,
    previous: Option<&HostMetricsReported>,
) -> [Option<f64>; 4] {
    let Some(prev) = previous else {
        return [None; 4];
    };
    let seconds = (sampled_at - prev.sampled_at).num_milliseconds() as f64 / 1000.0;
    if seconds <= 0.0 {
        return [None; 4];
    }
    let mut out = [None; 4];
    for (i, slot) in out.iter_mut().enumerate() {
        if let (Some(now), Some(before)) = (counters[i], prev.counters[i]) {
            // A counter below its previous value was reset (a reboot): no rate, not a spike.
            if now >= before {
                *slot = Some((now - before) as f64 / seconds);
            }
        }
    }
    out
}

/// Filesystem types that hold no disk space of their own (memory, kernel views, overlays,
/// images): `df`-style tools leave them out, and so do we.
const PSEUDO_FILESYSTEMS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fdescfs",
    "fuse.lxcfs",
    "fusectl",
    "hugetlbfs",
    "linprocfs",
    "linsysfs",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "ramfs",
    "rootfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

/// Whether a filesystem type holds no disk space of its own, as the agent and a scrape of
/// node_exporter both judge it.
pub fn is_pseudo_filesystem(fs_type: &str) -> bool {
    PSEUDO_FILESYSTEMS.contains(&fs_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("fixed time")
            .with_timezone(&Utc)
    }

    fn with_counters(sent: u64, at_: &str) -> HostMetricsReported {
        PushBody {
            io: Some(IoBody {
                network: Some(NetworkBody {
                    bytes_sent: Some(sent),
                    ..NetworkBody::default()
                }),
                disk_io: None,
            }),
            ..PushBody::default()
        }
        .into_event("h".into(), at(at_), None)
    }

    #[test]
    fn rates_are_bytes_per_second_between_samples() {
        let first = with_counters(1_000, "2026-01-01T00:00:00Z");
        let r = rates(
            [Some(11_000), None, None, None],
            at("2026-01-01T00:00:10Z"),
            Some(&first),
        );
        assert_eq!(r, [Some(1_000.0), None, None, None]);
    }

    #[test]
    fn a_counter_reset_gives_no_rate_rather_than_a_spike() {
        let first = with_counters(5_000_000, "2026-01-01T00:00:00Z");
        let r = rates(
            [Some(10), None, None, None],
            at("2026-01-01T00:00:05Z"),
            Some(&first),
        );
        assert_eq!(r, [None; 4]);
    }

    #[test]
    fn times_without_an_offset_are_utc_and_others_are_refused() {
        assert_eq!(
            parse_utc_or_naive("2025-11-06T10:00:00"),
            Ok(at("2025-11-06T10:00:00Z"))
        );
        assert_eq!(
            parse_utc_or_naive("2025-11-06 10:00:00.250000"),
            Ok(at("2025-11-06T10:00:00.25Z"))
        );
        assert_eq!(
            parse_utc_or_naive("2025-11-06T12:00:00+02:00"),
            Ok(at("2025-11-06T10:00:00Z"))
        );
        for bad in ["yesterday", "2025-11-06", "2025-13-06T10:00:00", ""] {
            assert!(parse_utc_or_naive(bad).is_err(), "{bad:?} accepted");
        }
        let body: PushBody =
            serde_json::from_str(r#"{"timestamp":"2025-11-06T10:00:00"}"#).expect("parses");
        assert_eq!(body.timestamp, Some(at("2025-11-06T10:00:00Z")));
        assert!(serde_json::from_str::<PushBody>(r#"{"timestamp":5}"#).is_err());
    }

    #[test]
    fn psutil_facts_beyond_usage_are_kept_in_the_event() {
        let body: PushBody = serde_json::from_str(
            r#"{"disk":{"partitions":[{"device":"/dev/sda1","mountpoint":"/","fstype":"ext4",
                "total":10,"used":4,"free":5,"percent":40}]},
                "io":{"network":{"packets_sent":1,"errin":2,"dropout":3},
                      "disk_io":{"read_count":4,"write_time":5}}}"#,
        )
        .expect("parses");
        let event = body.into_event("h".into(), at("2026-01-01T00:00:00Z"), None);
        let fs = &event.details.filesystems[0];
        assert_eq!(
            (fs.device.as_deref(), fs.fstype.as_deref(), fs.free),
            (Some("/dev/sda1"), Some("ext4"), Some(5))
        );
        assert_eq!(
            event.details.network,
            [Some(1), None, Some(2), None, None, Some(3)]
        );
        assert_eq!(event.details.disk_io, [Some(4), None, None, Some(5)]);
        let bare: PushBody = serde_json::from_str(
            r#"{"disk":{"partitions":[{"mountpoint":"/","total":1,"used":1}]}}"#,
        )
        .expect("parses");
        let event = bare.into_event("h".into(), at("2026-01-01T00:00:00Z"), None);
        assert!(
            event.details.filesystems.is_empty(),
            "nothing kept where the agent said nothing"
        );
    }

    #[test]
    fn hostnames_must_be_dns_names() {
        assert!(validate_hostname("web-1.example.com").is_ok());
        for bad in ["", "-web", "web-", "we b", "a..b", "web_1", &"x".repeat(64)] {
            assert!(validate_hostname(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let now = at("2026-01-01T00:00:00Z");
        let body: PushBody = serde_json::from_str(
            r#"{"disk":{"partitions":[{"mountpoint":"/","total":10,"used":5,"percent":101}]}}"#,
        )
        .expect("parses");
        assert_eq!(
            body.validate(now).map_err(|e| e.field),
            Err("disk.partitions[0].percent".to_owned())
        );
        let future = PushBody {
            timestamp: Some(now + Duration::hours(1)),
            ..PushBody::default()
        };
        assert_eq!(
            future.validate(now).map_err(|e| e.field),
            Err("timestamp".to_owned())
        );
    }
}
