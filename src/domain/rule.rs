//! Alert rules: what a command may do to one, decided purely. Whether the monitors and
//! channels a rule names exist comes in a [`World`] the caller builds from its read models.

use serde::Deserialize;
use uuid::Uuid;

use super::host::is_series_metric;
use super::{expect_version, not_null, DomainError};
use crate::events::{
    AlertRule, AlertRuleDefined, Comparison, Condition, ConditionKind, Event, IdRef, Severity,
};

/// Repeat notifications every four hours unless a rule says otherwise.
pub const DEFAULT_REPEAT_S: u32 = 4 * 3600;

/// What a rule may refer to, as the caller's read models know it when it decides.
pub struct World<'a> {
    /// Whether a monitor with this id exists.
    pub monitor_exists: &'a dyn Fn(Uuid) -> bool,
    /// Whether a channel with this id exists.
    pub channel_exists: &'a dyn Fn(Uuid) -> bool,
}

/// A rule as its stream leaves it.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleState {
    /// Its settings.
    pub rule: AlertRule,
    /// The version of its stream's last event.
    pub version: u64,
}

/// What a client asks of a rule.
#[derive(Debug)]
pub enum RuleCommand {
    /// Make a rule with this (new) id.
    Create {
        /// The new rule's id.
        id: Uuid,
        /// Its settings.
        input: RuleInput,
    },
    /// Change a rule's settings (`If-Match`: `expected`).
    Update {
        /// The rule.
        id: Uuid,
        /// What changes.
        input: RuleInput,
        /// The version the client expects.
        expected: Option<u64>,
    },
    /// Delete a rule; its open alerts resolve.
    Delete {
        /// The rule.
        id: Uuid,
        /// The version the client expects.
        expected: Option<u64>,
    },
}

/// What `command` appends to a rule in `state` (`None`: no such rule), or why not.
pub fn decide(
    state: Option<&RuleState>,
    command: RuleCommand,
    world: &World,
) -> Result<Vec<Event>, DomainError> {
    match command {
        RuleCommand::Create { id, input } => {
            if state.is_some() {
                return Err(DomainError::Conflict(format!("rule {id} exists")));
            }
            let rule = merge(world, input, None)?;
            Ok(vec![Event::AlertRuleCreated(AlertRuleDefined {
                rule_id: id,
                rule,
            })])
        }
        RuleCommand::Update {
            id,
            input,
            expected,
        } => {
            let state = state.ok_or(DomainError::NotFound("rule"))?;
            let rule = merge(world, input, Some(state.rule.clone()))?;
            expect_version("rule", expected, state.version)?;
            Ok(vec![Event::AlertRuleUpdated(AlertRuleDefined {
                rule_id: id,
                rule,
            })])
        }
        RuleCommand::Delete { id, expected } => {
            let state = state.ok_or(DomainError::NotFound("rule"))?;
            expect_version("rule", expected, state.version)?;
            Ok(vec![Event::AlertRuleDeleted(IdRef { id })])
        }
    }
}

/// The operator as people write it.
pub fn op_str(op: Comparison) -> &'static str {
    match op {
        Comparison::Gt => ">",
        Comparison::Ge => ">=",
        Comparison::Lt => "<",
        Comparison::Le => "<=",
    }
}

/// Parses `> >= < <=`.
pub fn parse_op(s: &str) -> Option<Comparison> {
    match s {
        ">" => Some(Comparison::Gt),
        ">=" => Some(Comparison::Ge),
        "<" => Some(Comparison::Lt),
        "<=" => Some(Comparison::Le),
        _ => None,
    }
}

/// A rule as a client sends it: every field optional (a patch), unknown fields refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    #[serde(default, deserialize_with = "not_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    severity: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    condition: Option<ConditionInput>,
    #[serde(default, deserialize_with = "not_null")]
    channels: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    repeat_interval_s: Option<u32>,
}

/// A rule's condition as a client sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionInput {
    kind: String,
    monitor: Option<String>,
    host: Option<String>,
    tag: Option<String>,
    metric: Option<String>,
    op: Option<String>,
    threshold: Option<f64>,
    #[serde(default, deserialize_with = "not_null")]
    for_s: Option<u32>,
    after_s: Option<u32>,
    days: Option<u32>,
}

fn parse_severity(s: &str) -> Result<Severity, DomainError> {
    match s {
        "critical" => Ok(Severity::Critical),
        "warning" => Ok(Severity::Warning),
        "info" => Ok(Severity::Info),
        other => Err(DomainError::invalid(
            "severity",
            format!("{other:?}: use critical, warning or info"),
        )),
    }
}

fn condition(world: &World, c: ConditionInput) -> Result<Condition, DomainError> {
    let kind = match c.kind.as_str() {
        "monitor_down" => ConditionKind::MonitorDown,
        "host_metric" => ConditionKind::HostMetric,
        "host_stale" => ConditionKind::HostStale,
        "cert_expiry" => ConditionKind::CertExpiry,
        other => {
            return Err(DomainError::invalid(
                "condition.kind",
                format!("{other:?}: use monitor_down, host_metric, host_stale or cert_expiry"),
            ))
        }
    };
    let about_monitors = matches!(kind, ConditionKind::MonitorDown | ConditionKind::CertExpiry);
    let (one, field) = if about_monitors {
        (c.monitor.is_some(), "condition.monitor")
    } else {
        (c.host.is_some(), "condition.host")
    };
    if one == c.tag.is_some() {
        return Err(DomainError::invalid(
            field,
            "name one subject, or give condition.tag instead (not both)",
        ));
    }
    if about_monitors && c.host.is_some() {
        return Err(DomainError::invalid(
            "condition.host",
            "this kind is about monitors: use condition.monitor",
        ));
    }
    if !about_monitors && c.monitor.is_some() {
        return Err(DomainError::invalid(
            "condition.monitor",
            "this kind is about hosts: use condition.host",
        ));
    }
    let monitor = match &c.monitor {
        None => None,
        Some(m) => {
            let id = Uuid::parse_str(m)
                .map_err(|_| DomainError::invalid("condition.monitor", "is not a monitor id"))?;
            if !(world.monitor_exists)(id) {
                return Err(DomainError::invalid("condition.monitor", "no such monitor"));
            }
            Some(id)
        }
    };
    if let Some(tag) = &c.tag {
        if tag.is_empty() || tag.len() > 64 {
            return Err(DomainError::invalid(
                "condition.tag",
                "a tag has 1 to 64 characters",
            ));
        }
    }
    let mut out = Condition {
        kind,
        monitor,
        host: c.host.map(|h| h.to_ascii_lowercase()),
        tag: c.tag,
        metric: None,
        op: None,
        threshold: None,
        for_s: c.for_s.unwrap_or(0),
        after_s: None,
        days: None,
    };
    if out.for_s > 7 * 86_400 {
        return Err(DomainError::invalid("condition.for_s", "at most a week"));
    }
    match kind {
        ConditionKind::HostMetric => {
            let metric = c
                .metric
                .ok_or_else(|| DomainError::invalid("condition.metric", "is required"))?;
            if !is_series_metric(&metric) {
                return Err(DomainError::invalid(
                    "condition.metric",
                    format!("unknown metric {metric:?}"),
                ));
            }
            let op = c.op.ok_or_else(|| {
                DomainError::invalid("condition.op", "is required: >, >=, < or <=")
            })?;
            out.op = Some(parse_op(&op).ok_or_else(|| {
                DomainError::invalid("condition.op", format!("{op:?}: use >, >=, < or <="))
            })?);
            let threshold = c
                .threshold
                .ok_or_else(|| DomainError::invalid("condition.threshold", "is required"))?;
            if !threshold.is_finite() {
                return Err(DomainError::invalid(
                    "condition.threshold",
                    "must be a finite number",
                ));
            }
            out.metric = Some(metric);
            out.threshold = Some(threshold);
        }
        ConditionKind::HostStale => out.after_s = Some(c.after_s.unwrap_or(0)),
        ConditionKind::CertExpiry => {
            let days = c.days.unwrap_or(14);
            if !(1..=365).contains(&days) {
                return Err(DomainError::invalid("condition.days", "must be 1 to 365"));
            }
            out.days = Some(days);
        }
        ConditionKind::MonitorDown => {}
    }
    Ok(out)
}

fn channels(world: &World, ids: Vec<String>) -> Result<Vec<Uuid>, DomainError> {
    ids.iter()
        .enumerate()
        .map(|(i, s)| {
            Uuid::parse_str(s)
                .ok()
                .filter(|id| (world.channel_exists)(*id))
                .ok_or_else(|| DomainError::invalid(format!("channels[{i}]"), "no such channel"))
        })
        .collect()
}

/// Applies `input` over `base` (a new rule: none) and checks the result.
fn merge(
    world: &World,
    input: RuleInput,
    base: Option<AlertRule>,
) -> Result<AlertRule, DomainError> {
    let name = input
        .name
        .or_else(|| base.as_ref().map(|b| b.name.clone()))
        .ok_or_else(|| DomainError::invalid("name", "is required"))?;
    if name.trim().is_empty() || name.len() > 200 {
        return Err(DomainError::invalid(
            "name",
            "a name has 1 to 200 characters",
        ));
    }
    let severity = match input.severity {
        Some(s) => parse_severity(&s)?,
        None => base.as_ref().map_or(Severity::Warning, |b| b.severity),
    };
    let condition = match input.condition {
        Some(c) => condition(world, c)?,
        None => base
            .as_ref()
            .map(|b| b.condition.clone())
            .ok_or_else(|| DomainError::invalid("condition", "is required"))?,
    };
    let channels = match input.channels {
        Some(c) => channels(world, c)?,
        None => base
            .as_ref()
            .map(|b| b.channels.clone())
            .unwrap_or_default(),
    };
    let repeat_interval_s = input
        .repeat_interval_s
        .or(base.as_ref().map(|b| b.repeat_interval_s))
        .unwrap_or(DEFAULT_REPEAT_S);
    if repeat_interval_s > 30 * 86_400 {
        return Err(DomainError::invalid(
            "repeat_interval_s",
            "0 for no repeats, else at most 30 days",
        ));
    }
    Ok(AlertRule {
        name,
        severity,
        condition,
        channels,
        repeat_interval_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONITOR: Uuid = Uuid::from_u128(1);
    const CHANNEL: Uuid = Uuid::from_u128(2);
    const RULE: Uuid = Uuid::from_u128(3);

    fn world() -> World<'static> {
        World {
            monitor_exists: &|m| m == MONITOR,
            channel_exists: &|c| c == CHANNEL,
        }
    }

    fn input(json: serde_json::Value) -> RuleInput {
        serde_json::from_value(json).expect("a rule body")
    }

    /// Given: a rule created from `json`.
    fn given(json: serde_json::Value) -> RuleState {
        let events = decide(
            None,
            RuleCommand::Create {
                id: RULE,
                input: input(json),
            },
            &world(),
        )
        .expect("the rule is accepted");
        match events.as_slice() {
            [Event::AlertRuleCreated(d)] => RuleState {
                rule: d.rule.clone(),
                version: 1,
            },
            other => panic!("one AlertRuleCreated, not {other:?}"),
        }
    }

    fn down_rule() -> serde_json::Value {
        serde_json::json!({
            "name": "api down",
            "condition": {"kind": "monitor_down", "monitor": MONITOR.to_string()},
            "channels": [CHANNEL.to_string()],
        })
    }

    #[test]
    fn a_new_rule_takes_the_defaults_it_was_not_given() {
        let state = given(down_rule());
        assert_eq!(state.rule.severity, Severity::Warning);
        assert_eq!(state.rule.repeat_interval_s, DEFAULT_REPEAT_S);
        assert_eq!(state.rule.channels, vec![CHANNEL]);
        assert_eq!(state.rule.condition.monitor, Some(MONITOR));
    }

    #[test]
    fn a_rule_about_an_unknown_monitor_or_channel_is_refused_naming_the_field() {
        let mut body = down_rule();
        body["condition"]["monitor"] = serde_json::json!(Uuid::from_u128(9).to_string());
        let refused = decide(
            None,
            RuleCommand::Create {
                id: RULE,
                input: input(body),
            },
            &world(),
        );
        assert!(
            matches!(refused, Err(DomainError::Invalid { ref field, .. }) if field == "condition.monitor")
        );
        let mut body = down_rule();
        body["channels"] = serde_json::json!([Uuid::from_u128(9).to_string()]);
        let refused = decide(
            None,
            RuleCommand::Create {
                id: RULE,
                input: input(body),
            },
            &world(),
        );
        assert!(
            matches!(refused, Err(DomainError::Invalid { ref field, .. }) if field == "channels[0]")
        );
    }

    #[test]
    fn a_host_metric_rule_needs_a_known_metric_an_operator_and_a_finite_threshold() {
        let body = serde_json::json!({
            "name": "cpu", "condition": {"kind": "host_metric", "tag": "web", "metric": "cpu_percent", "op": ">", "threshold": 90.0},
        });
        assert!(decide(
            None,
            RuleCommand::Create {
                id: RULE,
                input: input(body)
            },
            &world()
        )
        .is_ok());
        let body = serde_json::json!({
            "name": "cpu", "condition": {"kind": "host_metric", "tag": "web", "metric": "cpu_percent", "op": "!=", "threshold": 90.0},
        });
        let refused = decide(
            None,
            RuleCommand::Create {
                id: RULE,
                input: input(body),
            },
            &world(),
        );
        assert!(
            matches!(refused, Err(DomainError::Invalid { ref field, .. }) if field == "condition.op")
        );
        let body = serde_json::json!({
            "name": "cpu", "condition": {"kind": "host_metric", "tag": "web", "metric": "fan_speed", "op": ">", "threshold": 1.0},
        });
        let refused = decide(
            None,
            RuleCommand::Create {
                id: RULE,
                input: input(body),
            },
            &world(),
        );
        assert!(
            matches!(refused, Err(DomainError::Invalid { ref field, .. }) if field == "condition.metric")
        );
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name_and_checks_if_match() {
        let state = given(down_rule());
        let asked = RuleCommand::Update {
            id: RULE,
            input: input(serde_json::json!({"severity": "critical"})),
            expected: Some(1),
        };
        match decide(Some(&state), asked, &world()).as_deref() {
            Ok([Event::AlertRuleUpdated(d)]) => {
                assert_eq!(d.rule.severity, Severity::Critical);
                assert_eq!(d.rule.name, "api down");
            }
            other => panic!("one AlertRuleUpdated, not {other:?}"),
        }
        let stale = RuleCommand::Update {
            id: RULE,
            input: input(serde_json::json!({"severity": "critical"})),
            expected: Some(7),
        };
        assert!(matches!(
            decide(Some(&state), stale, &world()),
            Err(DomainError::VersionMismatch {
                expected: 7,
                actual: 1,
                ..
            })
        ));
    }

    #[test]
    fn deleting_a_rule_that_does_not_exist_is_not_found() {
        let asked = RuleCommand::Delete {
            id: RULE,
            expected: None,
        };
        assert_eq!(
            decide(None, asked, &world()),
            Err(DomainError::NotFound("rule"))
        );
        let state = given(down_rule());
        let asked = RuleCommand::Delete {
            id: RULE,
            expected: None,
        };
        assert_eq!(
            decide(Some(&state), asked, &world()),
            Ok(vec![Event::AlertRuleDeleted(IdRef { id: RULE })])
        );
    }
}
