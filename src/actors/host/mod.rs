//! Hosts: node_exporter scraping, the actor that owns each host (its samples, the dead
//! man's switch; its state and decisions are in [`crate::domain::host`]), and the
//! registry that registers and finds them.

mod actor;
mod registry;
pub mod scrape;

pub use actor::{Command, HostActor, HostApplied, HostDeps, HostMetrics};
pub use registry::{Claim, HostRegistry};
