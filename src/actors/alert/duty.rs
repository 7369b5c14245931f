//! Alert rules as things the nodes of a cluster own: the node holding a rule's lease runs
//! that rule's alerts (every node's evaluator follows the whole log, and judges only the
//! rules it holds). A node that takes a rule over starts its open alerts from the read
//! model and reconciles the rule with its subjects' current state.

use actix::prelude::*;

use super::evaluator::{AdoptRule, DropRule};
use super::notifier::uuid_after;
use super::AlertEvaluator;
use crate::cluster::Owned;
use crate::events::StreamId;
use crate::projections::{Alerting, ProjectionHandle};

/// Starts and stops the alerts of the rules this node holds.
pub struct RuleDuty {
    evaluator: Addr<AlertEvaluator>,
    alerting: ProjectionHandle<Alerting>,
}

impl RuleDuty {
    /// The rules known to `alerting`, run by this node's `evaluator` while it holds them.
    pub fn new(evaluator: Addr<AlertEvaluator>, alerting: ProjectionHandle<Alerting>) -> RuleDuty {
        RuleDuty {
            evaluator,
            alerting,
        }
    }
}

impl Owned for RuleDuty {
    fn claims(&self, resource: &str) -> bool {
        resource.starts_with("rule-")
    }

    fn resources(&self) -> Vec<String> {
        self.alerting
            .read()
            .rules
            .keys()
            .map(|id| StreamId::rule(*id).as_str().to_owned())
            .collect()
    }

    fn start(&self, resource: &str) {
        if let Some(id) = uuid_after(resource, "rule-") {
            self.evaluator.do_send(AdoptRule(id));
        }
    }

    fn stop(&self, resource: &str) {
        if let Some(id) = uuid_after(resource, "rule-") {
            self.evaluator.do_send(DropRule(id));
        }
    }
}
