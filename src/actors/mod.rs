//! Actors: one per thing, each deciding and appending to its own stream. So far the
//! system's own: the self-check that records watchfire's health, and retention.

pub mod alert;
mod health;
pub mod host;
pub mod monitor;
pub mod retention;

pub use health::{HealthChecker, ReadinessProbe};
pub use retention::RetentionActor;
