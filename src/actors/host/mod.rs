//! Hosts: the push body and its validation, node_exporter scraping, the actor that owns
//! each host (rates, the dead man's switch), and the registry that finds them.

mod actor;
mod registry;
pub mod sample;
pub mod scrape;
mod state;

pub use actor::{Delete, HostActor, HostApplied, HostDeps, HostError, HostMetrics, Push};
pub use registry::HostRegistry;
pub use state::{HostState, HostStatus, DEFAULT_STALE_AFTER_S};
