//! The alerting of a whole cluster, as one thing a node owns: the node that holds the
//! `alerting` lease runs the evaluator, every alert actor and every channel actor, so an
//! alert is decided and notified by one node; when that node dies, the next holder takes
//! over from the read model (open alerts, and every notification still owed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix::prelude::*;

use super::{AlertEvaluator, EvaluatorDeps, Halt, NotifierRegistry};
use crate::cluster::{Owned, ALERTING};
use crate::events::EventStore;

/// Starts and stops a node's share of alerting (all of it, or none).
pub struct AlertingDuty {
    arbiter: ArbiterHandle,
    store: EventStore,
    notifiers: NotifierRegistry,
    deps: EvaluatorDeps,
    running: Arc<Mutex<Option<Addr<AlertEvaluator>>>>,
    /// Raised by every start and stop, so a start still catching up when a stop comes
    /// starts nothing.
    turn: Arc<AtomicU64>,
}

impl AlertingDuty {
    /// A duty that starts its actors on `arbiter`, with `deps` whose stores append under
    /// the `alerting` lease, and channel actors in `notifiers` (shared with the API).
    pub fn new(
        arbiter: ArbiterHandle,
        store: EventStore,
        notifiers: NotifierRegistry,
        deps: EvaluatorDeps,
    ) -> AlertingDuty {
        AlertingDuty {
            arbiter,
            store,
            notifiers,
            deps,
            running: Arc::new(Mutex::new(None)),
            turn: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Owned for AlertingDuty {
    fn claims(&self, resource: &str) -> bool {
        resource == ALERTING
    }

    fn resources(&self) -> Vec<String> {
        vec![ALERTING.to_owned()]
    }

    fn start(&self, _resource: &str) {
        let (store, notifiers, deps, running) = (
            self.store.clone(),
            self.notifiers.clone(),
            self.deps.clone(),
            self.running.clone(),
        );
        let turn = self.turn.clone();
        let mine = turn.fetch_add(1, Ordering::SeqCst) + 1;
        self.arbiter.spawn(async move {
            // Take over from what the log says: the read model must hold all of it.
            let durable = store.durable_position();
            deps.alert.alerting.caught_up(durable).await;
            if turn.load(Ordering::SeqCst) != mine {
                return;
            }
            notifiers.take_over(&deps.alert.alerting);
            let evaluator = AlertEvaluator::new(deps, durable).start();
            if let Ok(mut r) = running.lock() {
                if let Some(old) = r.replace(evaluator) {
                    old.do_send(Halt);
                }
            }
            tracing::info!("this node runs the cluster's alerting");
        });
    }

    fn stop(&self, _resource: &str) {
        self.turn.fetch_add(1, Ordering::SeqCst);
        let (notifiers, running) = (self.notifiers.clone(), self.running.clone());
        self.arbiter.spawn(async move {
            let evaluator = running.lock().ok().and_then(|mut r| r.take());
            if let Some(evaluator) = evaluator {
                evaluator.do_send(Halt);
            }
            notifiers.halt_all();
            tracing::info!("this node no longer runs the cluster's alerting");
        });
    }
}
