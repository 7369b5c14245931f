//! Uptime monitors: the checks they run, the actor that owns each one (its state and
//! decisions are in [`crate::domain::monitor`]), and the registry that starts, supervises
//! and finds them.

mod actor;
pub mod checks;
pub mod ping;
mod registry;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

pub use actor::{Applied, Command, MonitorActor, MonitorDeps};
pub use registry::MonitorRegistry;

/// The monitors' figures for `/metrics`.
#[derive(Clone)]
pub struct MonitorMetrics {
    /// From a check's scheduled time to its start.
    pub schedule_lag: Histogram,
    /// Checks and heartbeats recorded, by result (`ok`, `failed`).
    pub checks: IntCounterVec,
    /// How long the checks recorded took (not heartbeats: their senders time those).
    pub check_duration: Histogram,
    /// Checks skipped because the previous one still ran or the actor fell an interval behind.
    pub missed: IntCounter,
    /// Monitor actors restarted by their supervisor.
    pub restarts: IntCounter,
}

impl MonitorMetrics {
    /// New, unregistered figures.
    pub fn new() -> MonitorMetrics {
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help).expect("static counter options are valid")
        };
        let metrics = MonitorMetrics {
            schedule_lag: Histogram::with_opts(
                HistogramOpts::new(
                    "watchfire_check_schedule_lag_seconds",
                    "From a check's scheduled time to its start.",
                )
                .buckets(vec![
                    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
            )
            .expect("static histogram options are valid"),
            checks: IntCounterVec::new(
                Opts::new(
                    "watchfire_checks_total",
                    "Checks and heartbeats recorded, by result.",
                ),
                &["result"],
            )
            .expect("static counter options are valid"),
            check_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "watchfire_check_duration_seconds",
                    "How long the checks recorded took.",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ]),
            )
            .expect("static histogram options are valid"),
            missed: counter(
                "watchfire_checks_missed_total",
                "Checks skipped because the previous one still ran or the schedule fell behind.",
            ),
            restarts: counter(
                "watchfire_monitor_restarts_total",
                "Monitor actors restarted by their supervisor.",
            ),
        };
        // Both results are exposed from the start, at 0, so a rate over them is defined.
        for result in ["ok", "failed"] {
            metrics.checks.with_label_values(&[result]);
        }
        metrics
    }

    /// Counts one check or heartbeat recorded, by whether it passed.
    pub fn count_check(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.checks.with_label_values(&[result]).inc();
    }

    /// Registers the figures.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.schedule_lag.clone()))?;
        registry.register(Box::new(self.checks.clone()))?;
        registry.register(Box::new(self.check_duration.clone()))?;
        registry.register(Box::new(self.missed.clone()))?;
        registry.register(Box::new(self.restarts.clone()))?;
        Ok(())
    }
}

impl Default for MonitorMetrics {
    fn default() -> MonitorMetrics {
        MonitorMetrics::new()
    }
}
