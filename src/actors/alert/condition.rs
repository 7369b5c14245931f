//! Rule conditions as pure functions: which subjects a rule covers, and whether an
//! observation of a subject breaches the rule or clears it.

use chrono::{DateTime, Utc};

use crate::domain::host::HostState;
use crate::domain::monitor::{MonitorState, Status};
use crate::domain::rule::op_str;
use crate::events::{Comparison, Condition, ConditionKind, HostMetricsReported, SubjectKind};

/// Something an alert can be about.
#[derive(Clone, Debug, PartialEq)]
pub struct Subject {
    /// A monitor or a host.
    pub kind: SubjectKind,
    /// The monitor's id or the hostname.
    pub id: String,
    /// Its name for people.
    pub name: String,
    /// Its tags.
    pub tags: Vec<String>,
}

impl Subject {
    /// A monitor as a subject.
    pub fn monitor(m: &MonitorState) -> Subject {
        Subject {
            kind: SubjectKind::Monitor,
            id: m.id.to_string(),
            name: m.config.name.clone(),
            tags: m.config.tags.clone(),
        }
    }

    /// A host as a subject.
    pub fn host(h: &HostState) -> Subject {
        Subject {
            kind: SubjectKind::Host,
            id: h.hostname.clone(),
            name: h.hostname.clone(),
            tags: h.tags.clone(),
        }
    }

    /// "monitor shop" or "host web-1".
    pub fn describe(&self) -> String {
        match self.kind {
            SubjectKind::Monitor => format!("monitor {}", self.name),
            SubjectKind::Host => format!("host {}", self.name),
        }
    }
}

/// The kind of subject a condition is about.
pub fn subject_kind(kind: ConditionKind) -> SubjectKind {
    match kind {
        ConditionKind::MonitorDown | ConditionKind::CertExpiry => SubjectKind::Monitor,
        ConditionKind::HostMetric | ConditionKind::HostStale => SubjectKind::Host,
    }
}

/// Whether a rule's condition covers `subject`: the one it names, or every one with its tag.
pub fn covers(c: &Condition, subject: &Subject) -> bool {
    if subject_kind(c.kind) != subject.kind {
        return false;
    }
    if let Some(tag) = &c.tag {
        return subject.tags.iter().any(|t| t == tag);
    }
    match subject.kind {
        SubjectKind::Monitor => c.monitor.is_some_and(|m| m.to_string() == subject.id),
        SubjectKind::Host => c.host.as_deref() == Some(subject.id.as_str()),
    }
}

/// What an observation says of a rule's condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// It holds, because of this.
    Breach(String),
    /// It does not, because of this.
    Clear(String),
}

/// The value of a host series metric in a sample.
pub fn host_metric(metric: &str, m: &HostMetricsReported) -> Option<f64> {
    match metric {
        "cpu_percent" => m.cpu_percent,
        "memory_percent" => m.memory_percent,
        "load1" => m.load_average.map(|l| l[0]),
        "net_tx_bytes_per_s" => m.rates[0],
        "net_rx_bytes_per_s" => m.rates[1],
        "disk_read_bytes_per_s" => m.rates[2],
        "disk_write_bytes_per_s" => m.rates[3],
        other => {
            let mountpoint = other.strip_prefix("disk_percent:")?;
            m.disks
                .iter()
                .find(|d| d.mountpoint == mountpoint)
                .map(|d| d.percent)
        }
    }
}

/// A host_metric condition against one sample; `None` when the sample lacks the metric.
pub fn judge_sample(c: &Condition, m: &HostMetricsReported) -> Option<Verdict> {
    let metric = c.metric.as_deref()?;
    let (op, threshold) = (c.op?, c.threshold?);
    let value = host_metric(metric, m)?;
    let breached = match op {
        Comparison::Gt => value > threshold,
        Comparison::Ge => value >= threshold,
        Comparison::Lt => value < threshold,
        Comparison::Le => value <= threshold,
    };
    let text = format!("{metric} is {value:.2} ({} {threshold})", op_str(op));
    Some(if breached {
        Verdict::Breach(text)
    } else {
        Verdict::Clear(format!("{metric} is {value:.2}"))
    })
}

/// A cert_expiry condition against a certificate seen at `seen_at`.
pub fn judge_cert(c: &Condition, expires_at: DateTime<Utc>, seen_at: DateTime<Utc>) -> Verdict {
    let days = i64::from(c.days.unwrap_or(14));
    let left = expires_at - seen_at;
    if left < chrono::Duration::days(days) {
        Verdict::Breach(format!(
            "the certificate expires at {} ({} days left)",
            expires_at.to_rfc3339(),
            left.num_days()
        ))
    } else {
        Verdict::Clear(format!(
            "the certificate expires at {}",
            expires_at.to_rfc3339()
        ))
    }
}

/// What a monitor's current state says of a condition (reconciling at start or on a new rule).
pub fn judge_monitor_now(c: &Condition, m: &MonitorState) -> Option<Verdict> {
    match c.kind {
        ConditionKind::MonitorDown => Some(match m.status {
            Status::Down => Verdict::Breach(
                m.down_reason
                    .clone()
                    .unwrap_or_else(|| "the monitor is down".to_owned()),
            ),
            _ => Verdict::Clear(format!("the monitor is {}", m.status.as_str())),
        }),
        ConditionKind::CertExpiry => {
            let seen = m.last_check.as_ref().map(|l| l.at)?;
            Some(judge_cert(c, m.cert_expires_at?, seen))
        }
        _ => None,
    }
}

/// What a host's current state says of a condition.
pub fn judge_host_now(c: &Condition, h: &HostState) -> Option<Verdict> {
    use crate::domain::host::HostStatus;
    match c.kind {
        ConditionKind::HostStale => Some(match h.status {
            HostStatus::Stale => Verdict::Breach(format!(
                "no sample since {}",
                h.last_seen
                    .map_or_else(|| "it was added".to_owned(), |t| t.to_rfc3339())
            )),
            _ => Verdict::Clear("the host reports".to_owned()),
        }),
        ConditionKind::HostMetric => judge_sample(c, h.latest.as_ref()?),
        _ => None,
    }
}

/// Seconds a breach must hold before the alert fires.
pub fn hold_s(c: &Condition, host_window_s: Option<u32>) -> u32 {
    match c.kind {
        // The host was already silent for its window when it went stale.
        ConditionKind::HostStale => c
            .after_s
            .unwrap_or(0)
            .saturating_sub(host_window_s.unwrap_or(0))
            .max(c.for_s),
        _ => c.for_s,
    }
}
