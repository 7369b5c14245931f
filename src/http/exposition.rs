//! The `/metrics` families read from the read models: one series set per monitor (named
//! and labelled as Uptime Kuma exports them, so its Grafana dashboards work, under the
//! `watchfire_` prefix) and per host, plus the counts seed dashboards expect.
//!
//! Written straight into one `String` while the read models' locks are held briefly:
//! no per-series objects, so a scrape of 10,000 monitors stays cheap. Never walks the log.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::domain::host::{HostState, HostStatus};
use crate::domain::monitor::Status;
use crate::events::MonitorConfig;
use crate::projections::{Alerting, Hosts, MonitorView, Monitors, DURATION_BUCKETS_S};

/// Appends a label value to `out` escaped as the text format wants: `\\`, `\"` and `\n`.
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `name="value",…` for the pairs given, values escaped.
fn label_set(pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(128);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape_label_value(&mut out, value);
        out.push('"');
    }
    out
}

/// A family's `# HELP` and `# TYPE` lines.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A number as the text format spells it (`+Inf`, `-Inf`, `NaN` included).
fn sample(out: &mut String, name: &str, labels: &str, value: f64) {
    let _ = if value.is_finite() {
        writeln!(out, "{name}{{{labels}}} {value}")
    } else if value.is_nan() {
        writeln!(out, "{name}{{{labels}}} NaN")
    } else if value > 0.0 {
        writeln!(out, "{name}{{{labels}}} +Inf")
    } else {
        writeln!(out, "{name}{{{labels}}} -Inf")
    };
}

/// Uptime Kuma's status numbers: 0 down, 1 up, 2 pending, 3 paused (its maintenance).
pub fn status_value(status: Status) -> f64 {
    match status {
        Status::Down => 0.0,
        Status::Up => 1.0,
        Status::Pending => 2.0,
        Status::Paused => 3.0,
    }
}

/// The target of a monitor as Uptime Kuma labels it: url, hostname and port ("" when none).
fn target_labels(c: &MonitorConfig) -> (String, String, String) {
    let url = c.url.clone().unwrap_or_default();
    let hostname = c.host.clone().unwrap_or_else(|| {
        c.url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    });
    let port = c.port.map(|p| p.to_string()).unwrap_or_default();
    (url, hostname, port)
}

/// Writes every per-monitor, per-host and summary family of the read models into `out`,
/// with certificate days counted from `now`.
pub fn write_read_models(
    out: &mut String,
    monitors: &Monitors,
    hosts: &Hosts,
    alerting: &Alerting,
    now: DateTime<Utc>,
) {
    write_monitors(out, monitors, now);
    write_hosts(out, hosts);
    header(
        out,
        "watchfire_active_incidents",
        "gauge",
        "Alerts open now (pending, firing or acknowledged).",
    );
    let _ = writeln!(out, "watchfire_active_incidents {}", alerting.open.len());
}

fn write_monitors(out: &mut String, monitors: &Monitors, now: DateTime<Utc>) {
    // Sorted by name then id, so scrapes list series in a stable order.
    let mut views: Vec<&MonitorView> = monitors.monitors.values().collect();
    views.sort_by(|a, b| {
        (a.state.config.name.as_str(), a.state.id).cmp(&(b.state.config.name.as_str(), b.state.id))
    });
    let labelled: Vec<(String, &MonitorView)> = views
        .into_iter()
        .map(|v| {
            let c = &v.state.config;
            let id = v.state.id.to_string();
            let (url, hostname, port) = target_labels(c);
            let tags = c.tags.join(",");
            let full = label_set(&[
                ("monitor_id", &id),
                ("monitor_name", &c.name),
                ("monitor_type", c.kind.as_str()),
                ("monitor_url", &url),
                ("monitor_hostname", &hostname),
                ("monitor_port", &port),
                ("monitor_tags", &tags),
            ]);
            (full, v)
        })
        .collect();

    let active = labelled
        .iter()
        .filter(|(_, v)| v.state.status != Status::Paused)
        .count();
    header(
        out,
        "watchfire_active_monitors",
        "gauge",
        "Monitors that are not paused.",
    );
    let _ = writeln!(out, "watchfire_active_monitors {active}");

    header(
        out,
        "watchfire_monitor_status",
        "gauge",
        "Monitor status as Uptime Kuma numbers it: 0 down, 1 up, 2 pending, 3 paused.",
    );
    for (labels, v) in &labelled {
        sample(
            out,
            "watchfire_monitor_status",
            labels,
            status_value(v.state.status),
        );
    }

    header(
        out,
        "watchfire_monitor_response_time",
        "gauge",
        "The last check's response time in milliseconds (a ping's mean round trip), as Uptime Kuma's monitor_response_time.",
    );
    for (labels, v) in &labelled {
        if let Some(last) = &v.state.last_check {
            sample(
                out,
                "watchfire_monitor_response_time",
                labels,
                last.latency_ms,
            );
        }
    }

    // Seconds (Gatus' certificate_expiration_seconds), not Uptime Kuma's days: promtool's lint
    // refuses a unit other than the base one in a name.
    header(
        out,
        "watchfire_monitor_cert_expiration_seconds",
        "gauge",
        "Seconds until the TLS certificate the last HTTPS check saw expires (negative once expired).",
    );
    for (labels, v) in &labelled {
        if let Some(expires) = v.state.cert_expires_at {
            let seconds = (expires - now).num_seconds();
            sample(
                out,
                "watchfire_monitor_cert_expiration_seconds",
                labels,
                seconds as f64,
            );
        }
    }

    header(
        out,
        "watchfire_monitor_ping_loss_percent",
        "gauge",
        "Packet loss of a ping monitor's last check, 0 to 100.",
    );
    for (labels, v) in &labelled {
        if let Some(ping) = v.state.last_check.as_ref().and_then(|l| l.ping.as_ref()) {
            sample(
                out,
                "watchfire_monitor_ping_loss_percent",
                labels,
                ping.loss_percent(),
            );
        }
    }

    header(
        out,
        "watchfire_monitor_checks_total",
        "counter",
        "Checks and heartbeats of a monitor in the log, by result.",
    );
    for (labels, v) in &labelled {
        let _ = writeln!(
            out,
            "watchfire_monitor_checks_total{{{labels},result=\"ok\"}} {}",
            v.tally.ok
        );
        let _ = writeln!(
            out,
            "watchfire_monitor_checks_total{{{labels},result=\"failed\"}} {}",
            v.tally.failed
        );
    }

    // Seconds, not the seed's milliseconds: Prometheus (and promtool's lint) want base units.
    // By kind, not per monitor: 15 series a monitor would make a scrape of 10,000 monitors
    // ten times larger, and each monitor's last response time is a gauge above.
    header(
        out,
        "watchfire_monitor_check_duration_seconds",
        "histogram",
        "How long monitors' checks took, by monitor type.",
    );
    let mut by_kind: std::collections::BTreeMap<&str, (Vec<u64>, u64, f64)> =
        std::collections::BTreeMap::new();
    for (_, v) in &labelled {
        let t = &v.tally;
        let entry = by_kind
            .entry(v.state.config.kind.as_str())
            .or_insert_with(|| (vec![0; DURATION_BUCKETS_S.len()], 0, 0.0));
        for (sum, n) in entry.0.iter_mut().zip(&t.duration_buckets) {
            *sum += n;
        }
        entry.1 += t.duration_count;
        entry.2 += t.duration_sum_s;
    }
    for (kind, (buckets, count, sum)) in by_kind {
        let mut cumulative = 0;
        for (le, n) in DURATION_BUCKETS_S.iter().zip(&buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "watchfire_monitor_check_duration_seconds_bucket{{monitor_type=\"{kind}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "watchfire_monitor_check_duration_seconds_bucket{{monitor_type=\"{kind}\",le=\"+Inf\"}} {count}"
        );
        let labels = format!("monitor_type=\"{kind}\"");
        sample(
            out,
            "watchfire_monitor_check_duration_seconds_sum",
            &labels,
            sum,
        );
        let _ = writeln!(
            out,
            "watchfire_monitor_check_duration_seconds_count{{{labels}}} {count}"
        );
    }
}

fn write_hosts(out: &mut String, hosts: &Hosts) {
    let labelled: Vec<(String, &HostState)> = hosts
        .hosts
        .values()
        .map(|h| {
            let tags = h.tags.join(",");
            (label_set(&[("host", &h.hostname), ("host_tags", &tags)]), h)
        })
        .collect();
    header(
        out,
        "watchfire_host_up",
        "gauge",
        "1 while a host reports, 0 once stale, 2 before its first sample.",
    );
    for (labels, h) in &labelled {
        let value = match h.status {
            HostStatus::Up => 1.0,
            HostStatus::Stale => 0.0,
            HostStatus::Pending => 2.0,
        };
        sample(out, "watchfire_host_up", labels, value);
    }
    type Figure = fn(&HostState) -> Option<f64>;
    let figures: [(&str, &str, Figure); 8] = [
        (
            "watchfire_host_cpu_percent",
            "CPU busy share over all cores in the host's last sample, 0 to 100.",
            |h| h.latest.as_ref()?.cpu_percent,
        ),
        (
            "watchfire_host_memory_percent",
            "Memory used in the host's last sample, 0 to 100.",
            |h| h.latest.as_ref()?.memory_percent,
        ),
        (
            "watchfire_host_memory_used_bytes",
            "Memory used in the host's last sample.",
            |h| h.latest.as_ref()?.memory_used.map(|b| b as f64),
        ),
        (
            "watchfire_host_memory_total_bytes",
            "Memory of the host.",
            |h| h.latest.as_ref()?.memory_total.map(|b| b as f64),
        ),
        (
            "watchfire_host_load1",
            "One-minute load average in the host's last sample.",
            |h| Some(h.latest.as_ref()?.load_average?[0]),
        ),
        (
            "watchfire_host_load5",
            "Five-minute load average in the host's last sample.",
            |h| Some(h.latest.as_ref()?.load_average?[1]),
        ),
        (
            "watchfire_host_load15",
            "Fifteen-minute load average in the host's last sample.",
            |h| Some(h.latest.as_ref()?.load_average?[2]),
        ),
        (
            "watchfire_host_last_seen_timestamp_seconds",
            "When the host's last sample arrived, in seconds since the Unix epoch.",
            |h| h.last_seen.map(|t| t.timestamp() as f64),
        ),
    ];
    for (name, help, figure) in figures {
        header(out, name, "gauge", help);
        for (labels, h) in &labelled {
            if let Some(value) = figure(h) {
                sample(out, name, labels, value);
            }
        }
    }
    header(
        out,
        "watchfire_host_disk_used_percent",
        "gauge",
        "Used share of each filesystem in the host's last sample, 0 to 100.",
    );
    for (labels, h) in &labelled {
        for d in h.latest.iter().flat_map(|l| &l.disks) {
            let mut with_mount = labels.clone();
            with_mount.push_str(",mountpoint=\"");
            escape_label_value(&mut with_mount, &d.mountpoint);
            with_mount.push('"');
            sample(
                out,
                "watchfire_host_disk_used_percent",
                &with_mount,
                d.percent,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslashes_quotes_and_newlines() {
        let mut out = String::new();
        escape_label_value(&mut out, "a\\b\"c\nd");
        assert_eq!(out, r#"a\\b\"c\nd"#);
        assert_eq!(label_set(&[("x", "1"), ("y", "\"")]), r#"x="1",y="\"""#);
    }

    #[test]
    fn a_scrape_of_ten_thousand_monitors_is_one_pass_into_one_buffer() {
        use crate::domain::monitor::{defaults, LastCheck, MonitorState};
        use crate::events::{MonitorCreated, MonitorKind};
        use crate::projections::{CheckTally, Rollups};
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let mut monitors = Monitors::default();
        for i in 0..10_000u128 {
            let id = uuid::Uuid::from_u128(i);
            let mut config = defaults(MonitorKind::Http);
            config.name = format!("monitor \"{i}\"");
            config.url = Some(format!("https://host-{i}.example/health"));
            config.tags = vec!["prod".to_owned(), "eu".to_owned()];
            let created = MonitorCreated {
                monitor_id: id,
                config,
                paused: false,
                push_token: None,
            };
            let mut state = MonitorState::created(&created, 0, now);
            state.last_check = Some(LastCheck {
                at: now,
                position: 1,
                ok: true,
                latency_ms: 12.5,
                status_code: Some(200),
                error: None,
                ping: None,
            });
            state.cert_expires_at = Some(now + chrono::Duration::days(40));
            let mut tally = CheckTally::default();
            tally.record(true, Some(12.5));
            monitors.monitors.insert(
                id,
                MonitorView {
                    state,
                    rollups: Rollups::default(),
                    tally,
                },
            );
        }
        let started = std::time::Instant::now();
        let mut out = String::new();
        write_read_models(
            &mut out,
            &monitors,
            &Hosts::default(),
            &Alerting::default(),
            now,
        );
        let took = started.elapsed();
        let status_lines = out
            .lines()
            .filter(|l| l.starts_with("watchfire_monitor_status{"))
            .count();
        assert_eq!(status_lines, 10_000);
        assert!(out.contains(r#"monitor_name="monitor \"42\"""#));
        // A figure for the record, not a timing assertion: the machine is slow and shared.
        eprintln!(
            "10,000 monitors: {} lines, {} bytes, written in {took:?}",
            out.lines().count(),
            out.len()
        );
    }

    #[test]
    fn statuses_number_as_uptime_kuma_does() {
        assert_eq!(status_value(Status::Down), 0.0);
        assert_eq!(status_value(Status::Up), 1.0);
        assert_eq!(status_value(Status::Pending), 2.0);
        assert_eq!(status_value(Status::Paused), 3.0);
    }
}
