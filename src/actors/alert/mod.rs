//! Alerting: rule conditions, the evaluator that matches events against rules, one actor
//! per alert instance with its lifecycle, and one notifier actor per channel.

mod actor;
pub mod condition;
mod evaluator;
pub mod notifier;

pub use actor::{AlertActor, AlertDeps, AlertError};
pub use evaluator::{AlertEvaluator, AlertHandles, EvaluatorDeps};
pub use notifier::{NotifierDeps, NotifierRegistry};
