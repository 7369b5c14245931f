//! Matches what happens against the alert rules: it follows the log from the server's
//! start, turns each monitor, certificate and host event into a verdict for every rule
//! that covers its subject, and hands verdicts to the alert actors (one per rule and
//! subject), starting one when a condition first breaches. At start, and whenever a rule
//! changes, it reconciles rules with the subjects' current state.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use actix::prelude::*;
use uuid::Uuid;

use super::actor::{Ack, AlertActor, AlertDeps, AlertError, Observe, RuleChanged};
use super::condition::{
    covers, hold_s, judge_cert, judge_host_now, judge_monitor_now, judge_sample, subject_kind,
    Subject, Verdict,
};
use crate::domain::host::HostState;
use crate::events::{
    Actor as EventActor, AlertRule, ConditionKind, Event, Position, RecordedEvent, SharedEvent,
    StoreError, StreamId, SubjectKind,
};
use crate::projections::{open_key, AlertStatus, Hosts, Monitors, ProjectionHandle};

/// Open alerts by id, for acknowledgements from the API; cheap to clone.
#[derive(Clone, Default)]
pub struct AlertHandles {
    by_id: Arc<RwLock<HashMap<Uuid, Addr<AlertActor>>>>,
}

impl AlertHandles {
    /// Acknowledges an open alert.
    pub async fn ack(
        &self,
        id: Uuid,
        comment: Option<String>,
        by: EventActor,
    ) -> Result<(AlertStatus, Position), AlertError> {
        let addr = self
            .by_id
            .read()
            .ok()
            .and_then(|m| m.get(&id).cloned())
            .ok_or(AlertError::NotFound)?;
        addr.send(Ack { comment, by })
            .await
            .map_err(|_| AlertError::NotFound)?
    }

    fn insert(&self, id: Uuid, addr: Addr<AlertActor>) {
        if let Ok(mut m) = self.by_id.write() {
            m.insert(id, addr);
        }
    }

    fn remove(&self, id: Uuid) {
        if let Ok(mut m) = self.by_id.write() {
            m.remove(&id);
        }
    }
}

/// What the evaluator reads and starts.
#[derive(Clone)]
pub struct EvaluatorDeps {
    /// What alert actors share.
    pub alert: AlertDeps,
    /// Monitors, for names, tags and current state.
    pub monitors: ProjectionHandle<Monitors>,
    /// Hosts, likewise.
    pub hosts: ProjectionHandle<Hosts>,
    /// Open alerts for the API.
    pub handles: AlertHandles,
}

/// One event of the log, in order.
#[derive(Message)]
#[rtype(result = "()")]
struct Logged(SharedEvent);

/// The evaluator.
pub struct AlertEvaluator {
    deps: EvaluatorDeps,
    rules: HashMap<Uuid, AlertRule>,
    /// Alert actors by rule and subject, with the alert's id.
    actors: HashMap<String, (Uuid, Addr<AlertActor>)>,
    start: Position,
    /// On a node of a cluster, the rules this node holds the lease on (only their alerts
    /// run here); `None` on a single node, which runs every rule.
    owned: Option<HashSet<Uuid>>,
}

/// Run a rule's alerts here: this node has taken its lease.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AdoptRule(pub Uuid);

/// Stop a rule's alerts here: another node runs them from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DropRule(pub Uuid);

impl AlertEvaluator {
    /// An evaluator that follows the log after `start` (everything before it is reconciled).
    pub fn new(deps: EvaluatorDeps, start: Position) -> AlertEvaluator {
        AlertEvaluator {
            deps,
            rules: HashMap::new(),
            actors: HashMap::new(),
            start,
            owned: None,
        }
    }

    /// An evaluator of a node of a cluster: it follows the whole log, and runs the alerts
    /// of a rule only between [`AdoptRule`] and [`DropRule`].
    pub fn clustered(deps: EvaluatorDeps, start: Position) -> AlertEvaluator {
        AlertEvaluator {
            owned: Some(HashSet::new()),
            ..AlertEvaluator::new(deps, start)
        }
    }

    /// Forgets every alert actor of `rule_id`, handing them back.
    fn take_actors_of(&mut self, rule_id: Uuid) -> Vec<(Uuid, Addr<AlertActor>)> {
        let prefix = format!("{rule_id}/");
        let keys: Vec<String> = self
            .actors
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        keys.iter().filter_map(|k| self.actors.remove(k)).collect()
    }

    fn owns(&self, rule_id: Uuid) -> bool {
        self.owned.as_ref().is_none_or(|o| o.contains(&rule_id))
    }

    /// What an alert actor of `rule_id` needs: on a cluster, its appends are made under
    /// the rule's lease.
    fn alert_deps(&self, rule_id: Uuid) -> super::AlertDeps {
        let mut deps = self.deps.alert.clone();
        if self.owned.is_some() {
            deps.store = deps.store.fenced_for(StreamId::rule(rule_id).as_str());
        }
        deps
    }

    fn host_window(&self, hostname: &str) -> Option<u32> {
        self.deps
            .hosts
            .read()
            .hosts
            .get(hostname)
            .map(HostState::window_s)
    }

    /// Hands a verdict about `subject` under rule `rule_id` to its alert actor.
    fn observe(
        &mut self,
        ctx: &mut Context<Self>,
        rule_id: Uuid,
        subject: Subject,
        verdict: Verdict,
        position: Position,
    ) {
        let key = open_key(rule_id, &subject.id);
        let existing = self
            .actors
            .get(&key)
            .filter(|(_, a)| a.connected())
            .cloned();
        let (alert_id, addr) = match existing {
            Some(found) => found,
            None => {
                if matches!(verdict, Verdict::Clear(_)) {
                    return;
                }
                let Some(rule) = self.rules.get(&rule_id).cloned() else {
                    return;
                };
                let window = (subject.kind == SubjectKind::Host)
                    .then(|| self.host_window(&subject.id))
                    .flatten();
                let hold = hold_s(&rule.condition, window);
                let actor = AlertActor::new(
                    rule_id,
                    rule,
                    subject.clone(),
                    hold,
                    self.alert_deps(rule_id),
                );
                let id = actor.id();
                let addr = actor.start();
                self.deps.handles.insert(id, addr.clone());
                self.actors.insert(key.clone(), (id, addr.clone()));
                (id, addr)
            }
        };
        let breach = matches!(verdict, Verdict::Breach(_));
        let send = addr.send(Observe {
            verdict: verdict.clone(),
            position,
        });
        // One verdict at a time, in log order: the next waits until this one is taken.
        ctx.wait(send.into_actor(self).map(move |taken, act, ctx| {
            let taken = taken.unwrap_or(false);
            if !taken || !breach {
                // Resolved (or refused because it just resolved): forget it.
                if act.actors.get(&key).is_some_and(|(id, _)| *id == alert_id) {
                    act.actors.remove(&key);
                }
                if breach && !taken {
                    act.deps.handles.remove(alert_id);
                    act.observe(ctx, rule_id, subject, verdict, position);
                }
            }
        }));
    }

    /// Every (rule, verdict) an event calls for.
    fn verdicts(&self, e: &RecordedEvent) -> Vec<(Uuid, Subject, Verdict)> {
        let mut out = Vec::new();
        let monitor_subject = |id: Uuid| {
            self.deps
                .monitors
                .read()
                .monitors
                .get(&id)
                .map(|v| Subject::monitor(&v.state))
        };
        let host_subject = |name: &str| {
            self.deps
                .hosts
                .read()
                .hosts
                .get(name)
                .map(Subject::host)
                .unwrap_or_else(|| Subject {
                    kind: SubjectKind::Host,
                    id: name.to_owned(),
                    name: name.to_owned(),
                    tags: Vec::new(),
                })
        };
        let each =
            |kinds: &[ConditionKind],
             subject: &Subject,
             out: &mut Vec<_>,
             judge: &dyn Fn(&crate::events::Condition) -> Option<Verdict>| {
                for (rule_id, rule) in &self.rules {
                    if kinds.contains(&rule.condition.kind) && covers(&rule.condition, subject) {
                        if let Some(v) = judge(&rule.condition) {
                            out.push((*rule_id, subject.clone(), v));
                        }
                    }
                }
            };
        use ConditionKind::*;
        match &e.event {
            Event::MonitorWentDown(d) => {
                if let Some(s) = monitor_subject(d.monitor_id) {
                    each(&[MonitorDown], &s, &mut out, &|_| {
                        Some(Verdict::Breach(d.reason.clone()))
                    });
                }
            }
            Event::MonitorWentUp(r) | Event::MonitorRecovered(r) => {
                if let Some(s) = monitor_subject(r.monitor_id) {
                    each(&[MonitorDown], &s, &mut out, &|_| {
                        Some(Verdict::Clear("the monitor is up".to_owned()))
                    });
                }
            }
            Event::MonitorPaused(r) | Event::MonitorDeleted(r) => {
                let what = if matches!(e.event, Event::MonitorPaused(_)) {
                    "paused"
                } else {
                    "deleted"
                };
                if let Some(s) = monitor_subject(r.monitor_id) {
                    each(&[MonitorDown, CertExpiry], &s, &mut out, &|_| {
                        Some(Verdict::Clear(format!("the monitor was {what}")))
                    });
                }
            }
            Event::MonitorChecked(c) => {
                if let (Some(expires), Some(s)) = (c.cert_expires_at, monitor_subject(c.monitor_id))
                {
                    each(&[CertExpiry], &s, &mut out, &|cond| {
                        Some(judge_cert(cond, expires, e.timestamp))
                    });
                }
            }
            Event::HostMetricsReported(m) => {
                let s = host_subject(&m.hostname);
                each(&[HostMetric], &s, &mut out, &|cond| judge_sample(cond, m));
            }
            Event::HostWentStale(h) => {
                let s = host_subject(&h.hostname);
                let since = h
                    .last_seen
                    .map_or_else(|| "it was added".to_owned(), |t| t.to_rfc3339());
                each(&[HostStale], &s, &mut out, &|_| {
                    Some(Verdict::Breach(format!("no sample since {since}")))
                });
            }
            Event::HostRecovered(h) => {
                let s = host_subject(&h.hostname);
                each(&[HostStale], &s, &mut out, &|_| {
                    Some(Verdict::Clear("the host reports again".to_owned()))
                });
            }
            Event::HostDeleted(h) => {
                let s = host_subject(&h.hostname);
                each(&[HostStale, HostMetric], &s, &mut out, &|_| {
                    Some(Verdict::Clear("the host was deleted".to_owned()))
                });
            }
            _ => {}
        }
        out
    }

    /// Brings one rule's alerts in line with its subjects' current state.
    fn reconcile(&mut self, ctx: &mut Context<Self>, rule_id: Uuid, position: Position) {
        let Some(rule) = self.rules.get(&rule_id).cloned() else {
            return;
        };
        let mut verdicts: Vec<(Subject, Verdict)> = Vec::new();
        match subject_kind(rule.condition.kind) {
            SubjectKind::Monitor => {
                let monitors = self.deps.monitors.read();
                for v in monitors.monitors.values() {
                    let s = Subject::monitor(&v.state);
                    if covers(&rule.condition, &s) {
                        if let Some(verdict) = judge_monitor_now(&rule.condition, &v.state) {
                            verdicts.push((s, verdict));
                        }
                    }
                }
            }
            SubjectKind::Host => {
                let hosts = self.deps.hosts.read();
                for h in hosts.hosts.values() {
                    let s = Subject::host(h);
                    if covers(&rule.condition, &s) {
                        if let Some(verdict) = judge_host_now(&rule.condition, h) {
                            verdicts.push((s, verdict));
                        }
                    }
                }
            }
        }
        // Open alerts whose subject the rule no longer covers (or that is gone) resolve.
        let covered: Vec<String> = verdicts.iter().map(|(s, _)| s.id.clone()).collect();
        let prefix = format!("{rule_id}/");
        let orphans: Vec<(String, Addr<AlertActor>)> = self
            .actors
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !covered.iter().any(|c| k.ends_with(&format!("/{c}"))))
            .map(|(k, (_, a))| (k.clone(), a.clone()))
            .collect();
        for (key, addr) in orphans {
            addr.do_send(Observe {
                verdict: Verdict::Clear("the rule no longer covers it".to_owned()),
                position,
            });
            self.actors.remove(&key);
        }
        for (_, (_, addr)) in self.actors.iter().filter(|(k, _)| k.starts_with(&prefix)) {
            addr.do_send(RuleChanged(rule.clone()));
        }
        for (subject, verdict) in verdicts {
            self.observe(ctx, rule_id, subject, verdict, position);
        }
    }

    /// Starts the actors of alerts that were open when the server stopped (of `only` that
    /// rule, if given), for the rules this node runs.
    fn rehydrate(&mut self, only: Option<Uuid>) {
        let view = self.deps.alert.alerting.read();
        for (key, alert_id) in &view.open {
            let Some(alert) = view.alerts.get(alert_id) else {
                continue;
            };
            let rule_id = alert.opened.rule_id;
            if only.is_some_and(|r| r != rule_id)
                || !self.owns(rule_id)
                || self.actors.contains_key(key)
            {
                continue;
            }
            let Some(rule) = self.rules.get(&alert.opened.rule_id).cloned() else {
                continue;
            };
            let subject = Subject {
                kind: alert.opened.subject_kind,
                id: alert.opened.subject_id.clone(),
                name: alert.opened.subject_name.clone(),
                tags: alert.opened.tags.clone(),
            };
            let window = (subject.kind == SubjectKind::Host)
                .then(|| self.host_window(&subject.id))
                .flatten();
            let hold = hold_s(&rule.condition, window);
            let actor = AlertActor::rehydrate(alert, rule, subject, hold, self.alert_deps(rule_id));
            let addr = actor.start();
            self.deps.handles.insert(*alert_id, addr.clone());
            self.actors.insert(key.clone(), (*alert_id, addr));
        }
    }
}

impl Actor for AlertEvaluator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        self.rules = self
            .deps
            .alert
            .alerting
            .read()
            .rules
            .iter()
            .map(|(id, r)| (*id, r.rule.clone()))
            .collect();
        self.rehydrate(None);
        let ids: Vec<Uuid> = self
            .rules
            .keys()
            .copied()
            .filter(|r| self.owns(*r))
            .collect();
        for id in ids {
            self.reconcile(ctx, id, Position::START);
        }
        let store = self.deps.alert.store.clone();
        let addr = ctx.address();
        let mut subscription = store.subscribe(self.start);
        actix::spawn(async move {
            loop {
                match subscription.next().await {
                    Ok(event) => {
                        if addr.send(Logged(event)).await.is_err() {
                            break;
                        }
                    }
                    Err(StoreError::Closed) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "the alert evaluator lost the log");
                        break;
                    }
                }
            }
        });
    }
}

impl Handler<AdoptRule> for AlertEvaluator {
    type Result = ();

    fn handle(&mut self, msg: AdoptRule, ctx: &mut Context<Self>) {
        let Some(owned) = self.owned.as_mut() else {
            return;
        };
        if !owned.insert(msg.0) {
            return;
        }
        // The rule may be newer than this evaluator's view of the log: the read model's
        // is at least as new, since the lease was taken for a rule it lists.
        if let Some(rule) = self.deps.alert.alerting.read().rules.get(&msg.0) {
            self.rules.insert(msg.0, rule.rule.clone());
        }
        self.rehydrate(Some(msg.0));
        let position = self.deps.alert.store.durable_position();
        self.reconcile(ctx, msg.0, position);
    }
}

impl Handler<DropRule> for AlertEvaluator {
    type Result = ();

    fn handle(&mut self, msg: DropRule, _ctx: &mut Context<Self>) {
        if let Some(owned) = self.owned.as_mut() {
            owned.remove(&msg.0);
        }
        for (id, addr) in self.take_actors_of(msg.0) {
            self.deps.handles.remove(id);
            addr.do_send(super::Halt);
        }
    }
}

impl Handler<Logged> for AlertEvaluator {
    type Result = ();

    fn handle(&mut self, msg: Logged, ctx: &mut Context<Self>) {
        let e = msg.0;
        match &e.event {
            Event::AlertRuleCreated(r) | Event::AlertRuleUpdated(r) => {
                self.rules.insert(r.rule_id, r.rule.clone());
                if self.owns(r.rule_id) {
                    self.reconcile(ctx, r.rule_id, e.position);
                }
                return;
            }
            Event::AlertRuleDeleted(r) => {
                for (_, addr) in self.take_actors_of(r.id) {
                    addr.do_send(Observe {
                        verdict: Verdict::Clear("the rule was deleted".to_owned()),
                        position: e.position,
                    });
                }
                self.rules.remove(&r.id);
                return;
            }
            _ => {}
        }
        if self.rules.is_empty() {
            return;
        }
        for (rule_id, subject, verdict) in self.verdicts(&e) {
            if self.owns(rule_id) {
                self.observe(ctx, rule_id, subject, verdict, e.position);
            }
        }
    }
}
