//! The `/metrics` families read from the read models: one series set per monitor (named
//! and labelled as Uptime Kuma exports them, so its Grafana dashboards work, under the
//! `watchfire_` prefix) and per host, plus the counts seed dashboards expect.
//!
//! Besides the base-unit series (`_seconds`), the names older dashboards query are written
//! too: `watchfire_monitor_check_duration_milliseconds` and
//! `watchfire_monitor_cert_days_remaining`, and, with `metrics.uptime_kuma_names`, Uptime
//! Kuma's own unprefixed series. `promtool check metrics` lints those unit names ("use
//! base unit"); nothing else.
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

/// Whole days from `now` until `expires`, rounded as Uptime Kuma rounds them (negative
/// once expired).
pub fn cert_days_remaining(expires: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    ((expires - now).num_seconds() as f64 / 86_400.0).round()
}

/// Writes every per-monitor, per-host and summary family of the read models into `out`,
/// with certificate days counted from `now`; `uptime_kuma_names` adds Uptime Kuma's
/// unprefixed per-monitor series.
pub fn write_read_models(
    out: &mut String,
    monitors: &Monitors,
    hosts: &Hosts,
    alerting: &Alerting,
    now: DateTime<Utc>,
    uptime_kuma_names: bool,
) {
    write_monitors(out, monitors, now, uptime_kuma_names);
    write_hosts(out, hosts);
    header(
        out,
        "watchfire_active_incidents",
        "gauge",
        "Alerts open now (pending, firing or acknowledged).",
    );
    let _ = writeln!(out, "watchfire_active_incidents {}", alerting.open.len());
}

/// One monitor's label sets: ours in full, and Uptime Kuma's five when its names are on
/// (`None` for a monitor whose five labels repeat an earlier one's: a scrape may not hold
/// one series twice).
struct Labelled<'a> {
    full: String,
    kuma: Option<String>,
    view: &'a MonitorView,
}

fn write_monitors(
    out: &mut String,
    monitors: &Monitors,
    now: DateTime<Utc>,
    uptime_kuma_names: bool,
) {
    // Sorted by name then id, so scrapes list series in a stable order.
    let mut views: Vec<&MonitorView> = monitors.monitors.values().collect();
    views.sort_by(|a, b| {
        (a.state.config.name.as_str(), a.state.id).cmp(&(b.state.config.name.as_str(), b.state.id))
    });
    let mut kuma_seen = std::collections::HashSet::new();
    let labelled: Vec<Labelled> = views
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
            let kuma = uptime_kuma_names
                .then(|| {
                    label_set(&[
                        ("monitor_name", &c.name),
                        ("monitor_type", c.kind.as_str()),
                        ("monitor_url", &url),
                        ("monitor_hostname", &hostname),
                        ("monitor_port", &port),
                    ])
                })
                .filter(|k| kuma_seen.insert(k.clone()));
            Labelled {
                full,
                kuma,
                view: v,
            }
        })
        .collect();

    let active = labelled
        .iter()
        .filter(|l| l.view.state.status != Status::Paused)
        .count();
    header(
        out,
        "watchfire_active_monitors",
        "gauge",
        "Monitors that are not paused.",
    );
    let _ = writeln!(out, "watchfire_active_monitors {active}");

    // Each per-monitor gauge under our name with our labels and, when Uptime Kuma's names
    // are on, under its unprefixed name with its five labels.
    type Figure = fn(&MonitorView, DateTime<Utc>) -> Option<f64>;
    let gauges: [(&str, Option<&str>, &str, Figure); 6] = [
        (
            "watchfire_monitor_status",
            Some("monitor_status"),
            "Monitor status as Uptime Kuma numbers it: 0 down, 1 up, 2 pending, 3 paused.",
            |v, _| Some(status_value(v.state.status)),
        ),
        (
            "watchfire_monitor_response_time",
            Some("monitor_response_time"),
            "The last check's response time in milliseconds (a ping's mean round trip), as Uptime Kuma's monitor_response_time.",
            |v, _| v.state.last_check.as_ref().map(|l| l.latency_ms),
        ),
        // Seconds (Gatus' certificate_expiration_seconds) for new dashboards: base units.
        (
            "watchfire_monitor_cert_expiration_seconds",
            None,
            "Seconds until the TLS certificate the last HTTPS check saw expires (negative once expired).",
            |v, now| v.state.cert_expires_at.map(|e| (e - now).num_seconds() as f64),
        ),
        // Uptime Kuma's days, which promtool lints ("use base unit"), for its dashboards.
        (
            "watchfire_monitor_cert_days_remaining",
            Some("monitor_cert_days_remaining"),
            "Whole days until the TLS certificate the last HTTPS check saw expires, rounded (negative once expired), as Uptime Kuma's monitor_cert_days_remaining.",
            |v, now| v.state.cert_expires_at.map(|e| cert_days_remaining(e, now)),
        ),
        (
            "watchfire_monitor_cert_is_valid",
            Some("monitor_cert_is_valid"),
            "1 while the TLS certificate the last HTTPS check saw has not expired, 0 once it has.",
            |v, now| v.state.cert_expires_at.map(|e| if e > now { 1.0 } else { 0.0 }),
        ),
        (
            "watchfire_monitor_ping_loss_percent",
            None,
            "Packet loss of a ping monitor's last check, 0 to 100.",
            |v, _| Some(v.state.last_check.as_ref()?.ping.as_ref()?.loss_percent()),
        ),
    ];
    for (name, _, help, figure) in gauges {
        header(out, name, "gauge", help);
        for l in &labelled {
            if let Some(value) = figure(l.view, now) {
                sample(out, name, &l.full, value);
            }
        }
    }
    if uptime_kuma_names {
        for (ours, kuma, help, figure) in gauges {
            let Some(name) = kuma else { continue };
            header(
                out,
                name,
                "gauge",
                &format!("Uptime Kuma's name of {ours}. {help}"),
            );
            for l in &labelled {
                let (Some(labels), Some(value)) = (&l.kuma, figure(l.view, now)) else {
                    continue;
                };
                sample(out, name, labels, value);
            }
        }
    }

    header(
        out,
        "watchfire_monitor_checks_total",
        "counter",
        "Checks and heartbeats of a monitor in the log, by result.",
    );
    for l in &labelled {
        let labels = &l.full;
        let _ = writeln!(
            out,
            "watchfire_monitor_checks_total{{{labels},result=\"ok\"}} {}",
            l.view.tally.ok
        );
        let _ = writeln!(
            out,
            "watchfire_monitor_checks_total{{{labels},result=\"failed\"}} {}",
            l.view.tally.failed
        );
    }

    // By kind, not per monitor: 15 series a monitor would make a scrape of 10,000 monitors
    // ten times larger, and each monitor's last response time is a gauge above.
    let mut by_kind: std::collections::BTreeMap<&str, (Vec<u64>, u64, f64)> =
        std::collections::BTreeMap::new();
    for l in &labelled {
        let t = &l.view.tally;
        let entry = by_kind
            .entry(l.view.state.config.kind.as_str())
            .or_insert_with(|| (vec![0; DURATION_BUCKETS_S.len()], 0, 0.0));
        for (sum, n) in entry.0.iter_mut().zip(&t.duration_buckets) {
            *sum += n;
        }
        entry.1 += t.duration_count;
        entry.2 += t.duration_sum_s;
    }
    // Seconds for new dashboards (base units, promtool-clean); the seed's milliseconds,
    // the same buckets and counts, for dashboards that query that name.
    write_duration_histogram(
        out,
        "watchfire_monitor_check_duration_seconds",
        "How long monitors' checks took, by monitor type.",
        &by_kind,
        1.0,
    );
    write_duration_histogram(
        out,
        "watchfire_monitor_check_duration_milliseconds",
        "How long monitors' checks took, by monitor type, in milliseconds: watchfire_monitor_check_duration_seconds under the name seed dashboards query.",
        &by_kind,
        1000.0,
    );
}

/// One histogram family from the per-kind buckets (not cumulated), count and sum in
/// seconds, bounds and sum multiplied by `scale` (1 for seconds, 1000 for milliseconds).
fn write_duration_histogram(
    out: &mut String,
    name: &str,
    help: &str,
    by_kind: &std::collections::BTreeMap<&str, (Vec<u64>, u64, f64)>,
    scale: f64,
) {
    header(out, name, "histogram", help);
    for (kind, (buckets, count, sum)) in by_kind {
        let mut cumulative = 0;
        for (le, n) in DURATION_BUCKETS_S.iter().zip(buckets) {
            cumulative += n;
            // Every bound is a whole number of milliseconds: round away 0.005 * 1000's noise.
            let le = (le * scale * 1000.0).round() / 1000.0;
            let _ = writeln!(
                out,
                "{name}_bucket{{monitor_type=\"{kind}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{monitor_type=\"{kind}\",le=\"+Inf\"}} {count}"
        );
        let labels = format!("monitor_type=\"{kind}\"");
        sample(out, &format!("{name}_sum"), &labels, sum * scale);
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
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
        use crate::domain::monitor::LastCheck;
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let mut monitors = Monitors::default();
        for i in 0..10_000u128 {
            let view = add_http_monitor(&mut monitors, i, now, |config| {
                config.name = format!("monitor \"{i}\"");
                config.url = Some(format!("https://host-{i}.example/health"));
                config.tags = vec!["prod".to_owned(), "eu".to_owned()];
            });
            view.state.last_check = Some(LastCheck {
                at: now,
                position: 1,
                ok: true,
                latency_ms: 12.5,
                status_code: Some(200),
                error: None,
                ping: None,
            });
            view.state.cert_expires_at = Some(now + chrono::Duration::days(40));
            view.tally.record(true, Some(12.5));
        }
        let started = std::time::Instant::now();
        let mut out = String::new();
        write_read_models(
            &mut out,
            &monitors,
            &Hosts::default(),
            &Alerting::default(),
            now,
            false,
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

    /// Two http monitors named alike (same Kuma labels) with a certificate 40 days and
    /// 6 hours away, and checks of 3 ms and 120 ms on the first.
    fn two_twins(now: DateTime<Utc>) -> Monitors {
        let mut monitors = Monitors::default();
        for i in 1..=2u128 {
            let view = add_http_monitor(&mut monitors, i, now, |config| {
                config.name = "twin".to_owned();
                config.url = Some("https://example.test:8443/health".to_owned());
            });
            view.state.cert_expires_at = Some(now + chrono::Duration::hours(40 * 24 + 6));
            if i == 1 {
                view.tally.record(true, Some(3.0));
                view.tally.record(false, Some(120.0));
            }
        }
        monitors
    }

    /// Adds the http monitor `i`, created at `now` with its settings changed by `configure`,
    /// no checks and no rollups yet, and answers its view for the test to fill.
    fn add_http_monitor(
        monitors: &mut Monitors,
        i: u128,
        now: DateTime<Utc>,
        configure: impl FnOnce(&mut crate::events::MonitorConfig),
    ) -> &mut MonitorView {
        use crate::domain::monitor::{defaults, MonitorState};
        use crate::events::{MonitorCreated, MonitorKind};
        use crate::projections::{CheckTally, Rollups};
        let id = uuid::Uuid::from_u128(i);
        let mut config = defaults(MonitorKind::Http);
        configure(&mut config);
        let created = MonitorCreated {
            monitor_id: id,
            config,
            paused: false,
            push_token: None,
        };
        monitors.monitors.entry(id).or_insert(MonitorView {
            state: MonitorState::created(&created, 0, now),
            rollups: Rollups::default(),
            tally: CheckTally::default(),
        })
    }

    fn scrape(monitors: &Monitors, now: DateTime<Utc>, kuma: bool) -> String {
        let mut out = String::new();
        let (hosts, alerting) = (Hosts::default(), Alerting::default());
        write_read_models(&mut out, monitors, &hosts, &alerting, now, kuma);
        out
    }

    #[test]
    fn the_millisecond_histogram_holds_the_seconds_one_scaled_by_a_thousand() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let out = scrape(&two_twins(now), now, false);
        for line in [
            r#"watchfire_monitor_check_duration_seconds_bucket{monitor_type="http",le="0.005"} 1"#,
            r#"watchfire_monitor_check_duration_seconds_bucket{monitor_type="http",le="0.1"} 1"#,
            r#"watchfire_monitor_check_duration_seconds_bucket{monitor_type="http",le="0.25"} 2"#,
            r#"watchfire_monitor_check_duration_seconds_sum{monitor_type="http"} 0.123"#,
            r#"watchfire_monitor_check_duration_milliseconds_bucket{monitor_type="http",le="5"} 1"#,
            r#"watchfire_monitor_check_duration_milliseconds_bucket{monitor_type="http",le="100"} 1"#,
            r#"watchfire_monitor_check_duration_milliseconds_bucket{monitor_type="http",le="250"} 2"#,
            r#"watchfire_monitor_check_duration_milliseconds_bucket{monitor_type="http",le="30000"} 2"#,
            r#"watchfire_monitor_check_duration_milliseconds_bucket{monitor_type="http",le="+Inf"} 2"#,
            r#"watchfire_monitor_check_duration_milliseconds_sum{monitor_type="http"} 123"#,
            r#"watchfire_monitor_check_duration_milliseconds_count{monitor_type="http"} 2"#,
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }

    #[test]
    fn certificate_days_round_as_uptime_kuma_and_validity_follows_expiry() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let days = |h: i64| cert_days_remaining(now + chrono::Duration::hours(h), now);
        assert_eq!(days(40 * 24 + 6), 40.0);
        assert_eq!(days(40 * 24 + 13), 41.0);
        assert_eq!(days(-30), -1.0);
        let out = scrape(&two_twins(now), now, false);
        let id1 = uuid::Uuid::from_u128(1);
        assert!(out.contains(&format!(
            "watchfire_monitor_cert_days_remaining{{monitor_id=\"{id1}\","
        )));
        let days_lines: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("watchfire_monitor_cert_days_remaining{"))
            .collect();
        assert_eq!(days_lines.len(), 2);
        assert!(
            days_lines.iter().all(|l| l.ends_with("} 40")),
            "{days_lines:?}"
        );
        assert!(out
            .lines()
            .filter(|l| l.starts_with("watchfire_monitor_cert_is_valid{"))
            .all(|l| l.ends_with("} 1")));
        let later = now + chrono::Duration::days(41);
        let out = scrape(&two_twins(now), later, false);
        assert!(out.contains(r#"monitor_tags=""} -1"#), "{out}");
        assert!(out
            .lines()
            .filter(|l| l.starts_with("watchfire_monitor_cert_is_valid{"))
            .all(|l| l.ends_with("} 0")));
    }

    #[test]
    fn uptime_kuma_names_are_written_only_when_asked_and_once_per_label_set() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let monitors = two_twins(now);
        let off = scrape(&monitors, now, false);
        assert!(!off.lines().any(|l| l.starts_with("monitor_")), "{off}");
        let on = scrape(&monitors, now, true);
        let kuma = r#"{monitor_name="twin",monitor_type="http",monitor_url="https://example.test:8443/health",monitor_hostname="example.test",monitor_port=""}"#;
        for (name, value) in [
            ("monitor_status", "2"),
            ("monitor_cert_days_remaining", "40"),
            ("monitor_cert_is_valid", "1"),
        ] {
            let lines: Vec<&str> = on.lines().filter(|l| l.starts_with(name)).collect();
            // The twins share Kuma's five labels: one series, the first by name then id.
            assert_eq!(lines, vec![format!("{name}{kuma} {value}")], "{on}");
        }
        // No check yet: no response time, as for our own name.
        assert!(!on.lines().any(|l| l.starts_with("monitor_response_time{")));
        assert!(on.contains("# TYPE monitor_status gauge"));
        // Our series keep every monitor.
        let ours = on
            .lines()
            .filter(|l| l.starts_with("watchfire_monitor_status{"))
            .count();
        assert_eq!(ours, 2);
    }

    #[test]
    fn statuses_number_as_uptime_kuma_does() {
        assert_eq!(status_value(Status::Down), 0.0);
        assert_eq!(status_value(Status::Up), 1.0);
        assert_eq!(status_value(Status::Pending), 2.0);
        assert_eq!(status_value(Status::Paused), 3.0);
    }
}
