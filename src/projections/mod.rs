//! Read models: folds over the log, each saved with the position it has applied so it
//! catches up from there on start, then follows live. Projections never read the clock:
//! time comes from the events.

mod monitors;
mod overview;
mod runner;
mod tokens;

pub use monitors::{monitor_of, Bucket, MonitorView, Monitors, Rollups};
pub use overview::Overview;
pub use runner::{fold, rebuild, LagSource, Projection, ProjectionHandle};
pub use tokens::{TokenEntry, Tokens};
