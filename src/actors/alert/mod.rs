//! Alerting: rule conditions, the evaluator that matches events against rules, one actor
//! per alert instance with its lifecycle, and one notifier actor per channel.

mod actor;
pub mod condition;
mod duty;
mod evaluator;
pub mod notifier;

pub use actor::{AlertActor, AlertDeps, AlertError};
pub use duty::RuleDuty;
pub use evaluator::{AlertEvaluator, AlertHandles, EvaluatorDeps};

/// Stop now, for good: another node runs this from now on.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Halt;
pub use notifier::{NotifierDeps, NotifierRegistry};
