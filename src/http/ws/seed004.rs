//! The pipeline monitoring dashboard's WebSocket protocol (`/ws?protocol=seed004`), so a
//! client written for it works unchanged: the server sends `metrics_update`,
//! `status_update`, `alerts_update` and `health_check_complete` as
//! `{"type","timestamp","data"}`, and takes `{"type":"ack","alertId"}` (answered with
//! `{"type":"ack","data":{"alertId","acknowledged","position"}}`, then an `alerts_update`).
//!
//! Its words are mapped onto watchfire's: a "module" is a monitor, a "resource" a host, an
//! alert's `type` its subject kind, `moduleId` / `resourceId` its monitor or host. The data
//! comes from the `dashboard` read model, so every figure is as of its last event.

use std::sync::LazyLock;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::protocol::{ClientMessage, WsError};
use crate::events::SubjectKind;
use crate::projections::{AlertStatus, Dashboard};

/// The protocol's name in `/ws?protocol=`.
pub const NAME: &str = "seed004";

/// When this process started serving, for `status_update`'s `uptime`.
pub static STARTED: LazyLock<Instant> = LazyLock::new(Instant::now);

/// `{"type","timestamp","data"}`.
pub fn frame(kind: &str, at: DateTime<Utc>, data: Value) -> String {
    json!({"type": kind, "timestamp": at, "data": data}).to_string()
}

fn share(part: u32, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / whole as f64
    }
}

/// `HealthStatus`: `{"status","lastUpdate","issues"}`.
pub fn health(d: &Dashboard) -> Value {
    json!({
        "status": if d.health.ready { "healthy" } else { "unhealthy" },
        "lastUpdate": d.health.since.or(d.as_of),
        "issues": d.health.reasons,
    })
}

/// `PipelineMetrics`: monitors as modules, hosts as resources.
pub fn metrics(d: &Dashboard) -> Value {
    let monitors = d.monitors.len();
    let latencies: Vec<f64> = d
        .monitors
        .values()
        .filter_map(|m| m.last_check.as_ref().map(|c| c.latency_ms))
        .collect();
    let average = if latencies.is_empty() {
        0.0
    } else {
        latencies.iter().sum::<f64>() / latencies.len() as f64
    };
    let mut by_kind = serde_json::Map::new();
    for m in d.monitors.values() {
        let kind = serde_json::to_value(m.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let n = by_kind.get(&kind).and_then(Value::as_u64).unwrap_or(0);
        by_kind.insert(kind, json!(n + 1));
    }
    by_kind.insert("host".into(), json!(d.hosts.len()));
    let quality: serde_json::Map<String, Value> = d
        .monitors
        .values()
        .filter_map(|m| Some((m.name.clone(), json!(m.uptime.day?))))
        .collect();
    let figures: Vec<_> = d
        .hosts
        .values()
        .filter_map(|h| h.metrics.as_ref())
        .collect();
    let mean = |f: &dyn Fn(&crate::projections::HostFigures) -> Option<f64>| {
        let values: Vec<f64> = figures.iter().filter_map(|x| f(x)).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let c = &d.counts.monitors;
    json!({
        "totalModulesProcessed": monitors,
        "totalResourcesGenerated": d.hosts.len(),
        "averageProcessingTime": average,
        "successRate": share(c.up, monitors),
        "errorRate": share(c.down, monitors),
        "resourcesByType": by_kind,
        "qualityScores": quality,
        "performance": {
            "cpuPercent": mean(&|x| x.cpu_percent),
            "memoryPercent": mean(&|x| x.memory_percent),
            "diskPercentMax": mean(&|x| x.disk_percent_max),
            "hostsUp": d.counts.hosts.up,
            "hostsStale": d.counts.hosts.stale,
        },
        "health": health(d),
    })
}

/// `PipelineStatus`: running, monitors up as active, pending as queued, firing alerts as
/// in progress.
pub fn status(d: &Dashboard) -> Value {
    let last_activity = d
        .monitors
        .values()
        .filter_map(|m| m.last_check.as_ref().map(|c| c.at))
        .chain(d.hosts.values().filter_map(|h| h.last_seen))
        .max()
        .or(d.as_of);
    json!({
        "isRunning": true,
        "activeModules": d.counts.monitors.up,
        "queuedModules": d.counts.monitors.pending,
        "resourcesInProgress": d.counts.alerts.firing,
        "lastActivity": last_activity,
        "uptime": STARTED.elapsed().as_secs(),
    })
}

/// `PerformanceAlert[]`: every alert not yet resolved, newest first.
pub fn alerts(d: &Dashboard) -> Value {
    let mut open: Vec<_> = d.alerts.values().collect();
    open.sort_by_key(|a| std::cmp::Reverse(a.opened_at));
    Value::Array(
        open.into_iter()
            .map(|a| {
                let (module, resource) = match a.subject_kind {
                    SubjectKind::Monitor => (Some(a.subject_id.clone()), None),
                    SubjectKind::Host => (None, Some(a.subject_id.clone())),
                };
                json!({
                    "id": a.id,
                    "type": match a.subject_kind {
                        SubjectKind::Monitor => "monitor",
                        SubjectKind::Host => "host",
                    },
                    "severity": a.severity,
                    "message": format!("{}: {}", a.rule_name, a.cause),
                    "timestamp": a.opened_at,
                    "moduleId": module,
                    "resourceId": resource,
                    "data": {
                        "rule": a.rule_name, "ruleId": a.rule_id, "subject": a.subject_name,
                        "state": a.state.as_str(), "since": a.since,
                    },
                    "acknowledged": a.state == AlertStatus::Acknowledged,
                })
            })
            .collect(),
    )
}

/// The answer to an `ack`.
pub fn acked(alert_id: Uuid, position: u64, at: DateTime<Utc>) -> String {
    frame(
        "ack",
        at,
        json!({"alertId": alert_id, "acknowledged": true, "position": position}),
    )
}

/// Parses one text frame of this protocol: `auth` as on the native protocol, and
/// `ack` with `alertId` (or `alert_id`) and an optional `comment`.
pub fn parse(text: &str) -> Result<ClientMessage, WsError> {
    let value: Value = serde_json::from_str(text).map_err(|e| WsError::NotJson(e.to_string()))?;
    let Value::Object(mut object) = value else {
        return Err(WsError::NotObject);
    };
    match object.get("type") {
        Some(Value::String(kind)) if kind == "ack" => {
            if let Some(id) = object.remove("alertId") {
                object.insert("alert_id".into(), id);
            }
            ClientMessage::parse(&Value::Object(object).to_string())
        }
        Some(Value::String(kind)) if kind == "auth" => ClientMessage::parse(text),
        Some(Value::String(kind)) => Err(WsError::UnknownSeedType(kind.clone())),
        Some(_) => Err(WsError::Field {
            field: "type",
            detail: "must be a string".into(),
        }),
        None => Err(WsError::Field {
            field: "type",
            detail: "is required".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_take_the_dashboards_field_name_and_junk_gets_a_reason() {
        let id = Uuid::new_v4();
        assert_eq!(
            parse(&format!(r#"{{"type":"ack","alertId":"{id}"}}"#)).ok(),
            Some(ClientMessage::Ack {
                alert_id: id,
                comment: None
            })
        );
        assert!(matches!(parse("{"), Err(WsError::NotJson(_))));
        assert!(matches!(parse("[]"), Err(WsError::NotObject)));
        assert!(matches!(
            parse(r#"{"type":"subscribe","topics":["alerts"]}"#),
            Err(WsError::UnknownSeedType(_))
        ));
        assert!(matches!(
            parse(r#"{"type":"ack","alertId":7}"#),
            Err(WsError::Field {
                field: "alert_id",
                ..
            })
        ));
    }

    #[test]
    fn an_empty_dashboard_maps_to_every_field_the_client_reads() {
        let d = Dashboard::default();
        let m = metrics(&d);
        for field in [
            "totalModulesProcessed",
            "totalResourcesGenerated",
            "averageProcessingTime",
            "successRate",
            "errorRate",
            "resourcesByType",
            "qualityScores",
            "performance",
            "health",
        ] {
            assert!(m.get(field).is_some(), "metrics_update lacks {field}");
        }
        assert_eq!(m["successRate"], 0.0);
        assert_eq!(status(&d)["isRunning"], true);
        assert_eq!(alerts(&d), json!([]));
        assert_eq!(health(&d)["status"], "healthy");
    }
}
