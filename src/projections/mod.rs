//! Read models: folds over the log, each saved with the position it has applied so it
//! catches up from there on start, then follows live. Projections never read the clock:
//! time comes from the events.

mod alerting;
mod dashboard;
mod hosts;
mod monitors;
mod rollups;
mod runner;
mod status_pages;
mod tokens;

pub use alerting::{
    open_key, severity_str, silence_matches, AlertStatus, AlertView, Alerting, ChannelView, Owed,
    RuleView, SilenceView, TimelineEntry,
};
#[cfg(test)]
pub(crate) use dashboard::tests as dashboard_fixtures;
pub use dashboard::{
    dashboard_at, hour_of, position_at, uptime_figures, AlertCard, AlertCounts, Counts, Dashboard,
    HealthCard, HostCard, HostCounts, HostFigures, MonitorCard, MonitorCounts, Uptime,
};
pub use hosts::{host_of, Hosts};
pub use monitors::{
    monitor_of, Bucket, CheckTally, MonitorView, Monitors, Rollups, DURATION_BUCKETS_S,
};
pub use rollups::{
    fold_buckets, rebuild as rebuild_rollups, BucketMap, HostRollups, Level, MetricBucket, Point,
    Series, UnknownLevel, DISK_PERCENT_PREFIX, HOST_METRICS,
};
pub use runner::{
    fold, rebuild, LagSource, NotReached, Progress, Projection, ProjectionHandle, READ_MODEL_WAIT,
};
pub use status_pages::{
    status_page_of, IncidentEntry, IncidentView, MaintenanceView, PageView, StatusPages,
};
pub use tokens::{Refusal, SessionEntry, TokenEntry, Tokens, UserEntry};
