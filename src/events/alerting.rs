//! Event payloads of alerting: rules, channels, silences, alerts and their notifications.
//! Like every payload, plain structs and unit enums: no serde tags, so bincode keeps them.

use super::channel_settings::ChannelSettings;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How urgent an alert is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Wake someone up.
    Critical,
    /// Look at it today.
    Warning,
    /// Worth knowing.
    Info,
}

/// What a rule watches.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionKind {
    /// A monitor is down.
    MonitorDown,
    /// A host metric crossed a threshold for `for_s`.
    HostMetric,
    /// A host stopped reporting.
    HostStale,
    /// A monitor's TLS certificate expires within `days`.
    CertExpiry,
}

/// How a host metric is compared with its threshold.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Comparison {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

/// A rule's condition; which fields matter depends on `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// What it watches.
    pub kind: ConditionKind,
    /// One monitor (monitor_down, cert_expiry).
    pub monitor: Option<Uuid>,
    /// One host (host_metric, host_stale).
    pub host: Option<String>,
    /// Every subject with this tag, instead of one.
    pub tag: Option<String>,
    /// The host metric, a series name such as `cpu_percent` (host_metric).
    pub metric: Option<String>,
    /// How the metric compares with the threshold (host_metric).
    pub op: Option<Comparison>,
    /// The threshold (host_metric).
    pub threshold: Option<f64>,
    /// Seconds the condition must hold before the alert fires.
    pub for_s: u32,
    /// Seconds of silence before a stale host fires (host_stale).
    pub after_s: Option<u32>,
    /// Days before expiry that fire (cert_expiry).
    pub days: Option<u32>,
}

/// An alert rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    /// Its name.
    pub name: String,
    /// How urgent its alerts are.
    pub severity: Severity,
    /// When it fires.
    pub condition: Condition,
    /// The channels its alerts notify.
    pub channels: Vec<Uuid>,
    /// Seconds between repeat notifications while firing and unacknowledged; 0 for none.
    pub repeat_interval_s: u32,
}

/// A rule was created or changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRuleDefined {
    /// The rule.
    pub rule_id: Uuid,
    /// Its settings.
    pub rule: AlertRule,
}

/// A rule, channel, silence or alert by id, for the events that carry nothing else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdRef {
    /// The id.
    pub id: Uuid,
}

/// Where a channel delivers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    /// Email over SMTP.
    Email,
    /// A JSON POST, signed.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// A Discord webhook.
    Discord,
    /// A Telegram bot.
    Telegram,
    /// An ntfy topic.
    Ntfy,
    /// A Gotify application.
    Gotify,
    /// A PagerDuty service (Events API v2).
    PagerDuty,
    /// A Microsoft Teams workflow webhook.
    Teams,
    /// A Pushover application.
    Pushover,
    /// Text messages through Twilio's API.
    Sms,
}

/// A notification channel's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelConfig {
    /// Its name.
    pub name: String,
    /// Where it delivers.
    pub kind: ChannelType,
    /// Email recipients.
    pub to: Vec<String>,
    /// The webhook URL (webhook, slack, discord).
    pub url: Option<String>,
    /// The webhook's signing secret.
    pub secret: Option<String>,
    /// What the kinds that need more than a URL need (Telegram, ntfy, Gotify, PagerDuty,
    /// Pushover, SMS).
    pub settings: Option<ChannelSettings>,
}

/// A channel was created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelCreated {
    /// The channel.
    pub channel_id: Uuid,
    /// Its settings.
    pub config: ChannelConfig,
}

/// Schema 1 of [`ChannelConfig`], before the kinds that need more than a URL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelConfigV1 {
    /// Its name.
    pub name: String,
    /// Where it delivers.
    pub kind: ChannelType,
    /// Email recipients.
    pub to: Vec<String>,
    /// The webhook URL (webhook, slack, discord).
    pub url: Option<String>,
    /// The webhook's signing secret.
    pub secret: Option<String>,
}

/// Schema 1 of [`ChannelCreated`] (and of `ChannelUpdated`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelCreatedV1 {
    /// The channel.
    pub channel_id: Uuid,
    /// Its settings.
    pub config: ChannelConfigV1,
}

impl From<ChannelCreatedV1> for ChannelCreated {
    fn from(v1: ChannelCreatedV1) -> ChannelCreated {
        let c = v1.config;
        ChannelCreated {
            channel_id: v1.channel_id,
            config: ChannelConfig {
                name: c.name,
                kind: c.kind,
                to: c.to,
                url: c.url,
                secret: c.secret,
                settings: None,
            },
        }
    }
}

/// A silence: alerts matching it notify nobody between `starts_at` and `ends_at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SilenceCreated {
    /// The silence.
    pub silence_id: Uuid,
    /// Every matcher must hold: `tag`, `monitor`, `host`, `rule`, `severity`.
    pub matchers: BTreeMap<String, String>,
    /// From when.
    pub starts_at: DateTime<Utc>,
    /// Until when.
    pub ends_at: DateTime<Utc>,
    /// Why.
    pub comment: String,
}

/// What an alert is about.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    /// A monitor, by id.
    Monitor,
    /// A host, by name.
    Host,
}

/// An alert was opened for a rule and subject: it is pending until its condition has held long enough.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertOpened {
    /// The alert.
    pub alert_id: Uuid,
    /// The rule.
    pub rule_id: Uuid,
    /// The rule's name then.
    pub rule_name: String,
    /// The rule's severity then.
    pub severity: Severity,
    /// What kind of subject.
    pub subject_kind: SubjectKind,
    /// The subject's id (a monitor id or a hostname).
    pub subject_id: String,
    /// The subject's name for people.
    pub subject_name: String,
    /// The subject's tags then.
    pub tags: Vec<String>,
    /// What breached, in words.
    pub cause: String,
}

/// An alert changed state (fired, or resolved); its causation is the event that made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertChanged {
    /// The alert.
    pub alert_id: Uuid,
    /// Why, in words.
    pub cause: String,
}

/// Someone acknowledged a firing alert (the envelope's actor says who).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertAcknowledged {
    /// The alert.
    pub alert_id: Uuid,
    /// What they said.
    pub comment: Option<String>,
}

/// Why a notification is sent.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyReason {
    /// The alert fired (or a silence over it ended while it fires).
    Firing,
    /// It still fires, unacknowledged.
    Repeat,
    /// It resolved.
    Resolved,
    /// Someone acknowledged it (only channels that follow acknowledgements are asked).
    Acknowledged,
}

/// An alert asks its rule's channels to notify; each channel answers with sent or failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationRequested {
    /// The alert.
    pub alert_id: Uuid,
    /// The channels to notify.
    pub channels: Vec<Uuid>,
    /// Why.
    pub reason: NotifyReason,
    /// 0 for the first firing notification, then 1, 2, ... for repeats.
    pub repeat: u32,
}

/// A channel delivered a notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationSent {
    /// The channel.
    pub channel_id: Uuid,
    /// The alert (nil for a test notification).
    pub alert_id: Uuid,
    /// The position of the `NotificationRequested` it answers (0 for a test).
    pub request: u64,
    /// Which attempt delivered it, from 1.
    pub attempt: u32,
}

/// A channel's attempt to deliver failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationFailed {
    /// The channel.
    pub channel_id: Uuid,
    /// The alert (nil for a test notification).
    pub alert_id: Uuid,
    /// The position of the `NotificationRequested` it answers (0 for a test).
    pub request: u64,
    /// Which attempt failed, from 1.
    pub attempt: u32,
    /// Why.
    pub error: String,
    /// Whether the channel gave up on it.
    pub gave_up: bool,
}
