//! The actor of one alert instance (a rule and a subject): `pending → firing →
//! acknowledged → resolved`, each step an event caused by the observation that made it;
//! it asks the rule's channels to notify on firing, on each repeat while firing and
//! unacknowledged, and on resolution, unless a silence mutes it; on acknowledgement it asks
//! the channels that follow acknowledgements (PagerDuty, chat rooms, webhooks).

use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::condition::{Subject, Verdict};
use super::notifier::{channel_kind, notification_of, Delivery, NotifierRegistry};
use crate::events::{
    Actor as EventActor, AlertAcknowledged, AlertChanged, AlertOpened, AlertRule, Event,
    EventStore, ExpectedVersion, NewEvent, NotificationRequested, NotifyReason, Position,
    StoreError, StreamId, StreamVersion,
};
use crate::projections::{AlertStatus, AlertView, Alerting, ProjectionHandle};

/// Why an alert command was refused.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// No such alert, or it is over.
    #[error("no such open alert")]
    NotFound,
    /// Only a firing alert can be acknowledged.
    #[error("the alert is {0}: only a firing alert can be acknowledged")]
    NotFiring(&'static str),
    /// The log refused the event.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The alert's actor is gone.
    #[error("the alert's actor is not running")]
    Unavailable,
}

/// What every alert actor shares.
#[derive(Clone)]
pub struct AlertDeps {
    /// The log.
    pub store: EventStore,
    /// Silences, and what the notifications say.
    pub alerting: ProjectionHandle<Alerting>,
    /// The channels.
    pub notifiers: NotifierRegistry,
}

/// An observation of the alert's subject: its rule's condition holds, or not.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Observe {
    /// What it says.
    pub verdict: Verdict,
    /// The event it comes from, the causation of any step it makes.
    pub position: Position,
}

/// The rule changed: new channels, repeat interval or name.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RuleChanged(pub AlertRule);

/// Acknowledges the alert.
#[derive(Message)]
#[rtype(result = "Result<(AlertStatus, Position), AlertError>")]
pub struct Ack {
    /// What the person said.
    pub comment: Option<String>,
    /// Who.
    pub by: EventActor,
}

/// The actor of one alert.
pub struct AlertActor {
    id: Uuid,
    rule_id: Uuid,
    rule: AlertRule,
    subject: Subject,
    /// How it opened; `None` until its first event is on disk.
    opened: Option<AlertOpened>,
    status: AlertStatus,
    version: u64,
    /// Seconds a breach must hold before it fires.
    hold_s: u32,
    breached_since: Option<DateTime<Utc>>,
    breach: Option<(String, Position)>,
    /// The position of the alert's last state change: what a notification is caused by.
    step: Position,
    notified: bool,
    repeats: u32,
    last_notified_at: Option<DateTime<Utc>>,
    deps: AlertDeps,
    timer: Option<SpawnHandle>,
}

impl AlertActor {
    /// A new alert of `rule` about `subject`, not yet recorded.
    pub fn new(
        rule_id: Uuid,
        rule: AlertRule,
        subject: Subject,
        hold_s: u32,
        deps: AlertDeps,
    ) -> AlertActor {
        AlertActor {
            id: Uuid::new_v4(),
            rule_id,
            rule,
            subject,
            opened: None,
            status: AlertStatus::Pending,
            version: 0,
            hold_s,
            breached_since: None,
            breach: None,
            step: Position::START,
            notified: false,
            repeats: 0,
            last_notified_at: None,
            deps,
            timer: None,
        }
    }

    /// An open alert as the read model holds it (after a restart).
    pub fn rehydrate(
        view: &AlertView,
        rule: AlertRule,
        subject: Subject,
        hold_s: u32,
        deps: AlertDeps,
    ) -> AlertActor {
        let mut actor = AlertActor::new(view.opened.rule_id, rule, subject, hold_s, deps);
        actor.id = view.opened.alert_id;
        actor.opened = Some(view.opened.clone());
        actor.status = view.status;
        actor.version = view.version;
        actor.breached_since = Some(view.opened_at);
        let last = view.timeline.last().map_or(0, |t| t.position);
        actor.breach = Some((view.cause.clone(), Position(last)));
        actor.step = view
            .timeline
            .iter()
            .rev()
            .find(|t| matches!(t.event.as_str(), "AlertFired" | "AlertResolved"))
            .map_or(Position(last), |t| Position(t.position));
        actor.notified = view.notified;
        actor.repeats = view.repeats;
        actor.last_notified_at = view.last_notified_at;
        actor
    }

    /// The alert's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    fn stream(&self) -> StreamId {
        StreamId::alert(self.id)
    }

    /// Appends `events` (all caused by `cause`), folding each in when it is on disk.
    fn append(
        &mut self,
        ctx: &mut Context<Self>,
        events: Vec<Event>,
        cause: Position,
        then: impl FnOnce(&mut Self, &mut Context<Self>, Position) + 'static,
    ) {
        let store = self.deps.store.clone();
        let stream = self.stream();
        let expected = if self.opened.is_none() {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(StreamVersion(self.version))
        };
        let new: Vec<NewEvent> = events
            .iter()
            .map(|e| {
                let n = NewEvent::new(e.clone(), EventActor::system());
                if cause.0 > 0 {
                    n.caused_by(cause)
                } else {
                    n
                }
            })
            .collect();
        let fut = async move { store.append(stream, expected, new).await };
        ctx.wait(
            fut.into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(out) => {
                        act.version = out.stream_version.0;
                        for e in &events {
                            act.fold(e, out.timestamp);
                        }
                        if events
                            .iter()
                            .any(|e| matches!(e, Event::AlertFired(_) | Event::AlertResolved(_)))
                        {
                            act.step = out.last_position;
                        }
                        then(act, ctx, out.last_position);
                    }
                    Err(e) => {
                        tracing::warn!(alert = %act.id, error = %e, "cannot record an alert step")
                    }
                }),
        );
    }

    fn fold(&mut self, e: &Event, at: DateTime<Utc>) {
        match e {
            Event::AlertOpened(o) => {
                self.opened = Some(o.clone());
                self.status = AlertStatus::Pending;
            }
            Event::AlertFired(_) => self.status = AlertStatus::Firing,
            Event::AlertAcknowledged(_) => self.status = AlertStatus::Acknowledged,
            Event::AlertResolved(_) => self.status = AlertStatus::Resolved,
            Event::NotificationRequested(n) => {
                if n.reason != NotifyReason::Resolved {
                    self.notified = true;
                }
                if n.reason == NotifyReason::Repeat {
                    self.repeats = n.repeat;
                }
                self.last_notified_at = Some(at);
            }
            _ => {}
        }
    }

    fn arm(
        &mut self,
        ctx: &mut Context<Self>,
        wait: Duration,
        what: fn(&mut Self, &mut Context<Self>),
    ) {
        if let Some(t) = self.timer.take() {
            ctx.cancel_future(t);
        }
        self.timer = Some(ctx.run_later(wait, move |act, ctx| {
            act.timer = None;
            what(act, ctx);
        }));
    }

    fn until(at: DateTime<Utc>) -> Duration {
        (at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
    }

    /// Arms whatever comes next: the hold of a pending alert, a repeat, or a silence's end.
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        match self.status {
            AlertStatus::Pending => {
                let since = self.breached_since.unwrap_or_else(Utc::now);
                let due = since + chrono::Duration::seconds(i64::from(self.hold_s));
                self.arm(ctx, Self::until(due), Self::hold_elapsed);
            }
            AlertStatus::Firing => {
                let Some(opened) = &self.opened else { return };
                let silence_end = self
                    .deps
                    .alerting
                    .read()
                    .silenced(opened, Utc::now())
                    .map(|s| s.silence.ends_at);
                if let Some(end) = silence_end {
                    // Muted: look again when the silence ends.
                    self.arm(
                        ctx,
                        Self::until(end) + Duration::from_millis(50),
                        Self::wake,
                    );
                } else if !self.notified {
                    self.arm(ctx, Duration::ZERO, Self::wake);
                } else if self.rule.repeat_interval_s > 0 {
                    let last = self.last_notified_at.unwrap_or_else(Utc::now);
                    let due =
                        last + chrono::Duration::seconds(i64::from(self.rule.repeat_interval_s));
                    self.arm(ctx, Self::until(due), Self::wake);
                }
            }
            AlertStatus::Acknowledged | AlertStatus::Resolved => {
                if let Some(t) = self.timer.take() {
                    ctx.cancel_future(t);
                }
            }
        }
    }

    fn hold_elapsed(&mut self, ctx: &mut Context<Self>) {
        if self.status != AlertStatus::Pending {
            return;
        }
        let Some((cause, position)) = self.breach.clone() else {
            return;
        };
        self.fire(ctx, cause, position);
    }

    fn fire(&mut self, ctx: &mut Context<Self>, cause: String, position: Position) {
        let fired = Event::AlertFired(AlertChanged {
            alert_id: self.id,
            cause,
        });
        self.append(ctx, vec![fired], position, |act, ctx, _| act.schedule(ctx));
    }

    /// A firing alert's timer: notify (first time, after a silence, or a repeat) unless muted.
    fn wake(&mut self, ctx: &mut Context<Self>) {
        if self.status != AlertStatus::Firing {
            return;
        }
        let Some(opened) = &self.opened else { return };
        if self
            .deps
            .alerting
            .read()
            .silenced(opened, Utc::now())
            .is_some()
        {
            self.schedule(ctx);
            return;
        }
        let (reason, repeat) = if self.notified {
            (NotifyReason::Repeat, self.repeats + 1)
        } else {
            (NotifyReason::Firing, 0)
        };
        self.notify(ctx, reason, repeat, |act, ctx| act.schedule(ctx));
    }

    /// Records a notification request, then hands it to each channel.
    fn notify(
        &mut self,
        ctx: &mut Context<Self>,
        reason: NotifyReason,
        repeat: u32,
        then: fn(&mut Self, &mut Context<Self>),
    ) {
        if self.rule.channels.is_empty() {
            // Nobody to tell; counts as told, so repeats keep their rhythm.
            self.fold(
                &Event::NotificationRequested(NotificationRequested {
                    alert_id: self.id,
                    channels: Vec::new(),
                    reason,
                    repeat,
                }),
                Utc::now(),
            );
            then(self, ctx);
            return;
        }
        let request = NotificationRequested {
            alert_id: self.id,
            channels: self.rule.channels.clone(),
            reason,
            repeat,
        };
        let channels = self.rule.channels.clone();
        let cause = self.step;
        let snapshot = self.snapshot_notification(reason, repeat);
        self.append(
            ctx,
            vec![Event::NotificationRequested(request)],
            cause,
            move |act, ctx, position| {
                if let Some(notification) = snapshot {
                    for channel in channels {
                        act.deps.notifiers.deliver(
                            channel,
                            Delivery {
                                request: position.0,
                                attempts: 0,
                                notification: notification.clone(),
                            },
                        );
                    }
                }
                then(act, ctx);
            },
        );
    }

    /// What the notification says, from the actor's own state (the read model may lag).
    fn snapshot_notification(
        &self,
        reason: NotifyReason,
        repeat: u32,
    ) -> Option<crate::notify::Notification> {
        let opened = self.opened.as_ref()?;
        let mut view = Alerting::default();
        view.alerts.insert(
            self.id,
            AlertView {
                opened: opened.clone(),
                status: self.status,
                opened_at: Utc::now(),
                fired_at: None,
                acknowledged_at: None,
                resolved_at: None,
                cause: self
                    .breach
                    .as_ref()
                    .map_or_else(|| opened.cause.clone(), |b| b.0.clone()),
                notified: self.notified,
                repeats: self.repeats,
                last_notified_at: None,
                version: self.version,
                timeline: Vec::new(),
            },
        );
        let link = self.deps.notifiers.link_base.clone();
        notification_of(&view, self.id, reason, repeat, Utc::now(), &link)
    }

    /// The request that tells an acknowledgement to the rule's channels that follow them,
    /// if the alert was notified, is not muted, and any such channel is live.
    fn acknowledgement_request(&self) -> Option<NotificationRequested> {
        let opened = self.opened.as_ref()?;
        if !self.notified {
            return None;
        }
        let view = self.deps.alerting.read();
        if view.silenced(opened, Utc::now()).is_some() {
            return None;
        }
        let channels: Vec<Uuid> = self
            .rule
            .channels
            .iter()
            .filter(|id| {
                view.channels
                    .get(id)
                    .is_some_and(|c| channel_kind(&c.config).hears_acknowledgements())
            })
            .copied()
            .collect();
        if channels.is_empty() {
            return None;
        }
        Some(NotificationRequested {
            alert_id: self.id,
            channels,
            reason: NotifyReason::Acknowledged,
            repeat: 0,
        })
    }

    fn resolve(&mut self, ctx: &mut Context<Self>, cause: String, position: Position) {
        let notify =
            self.notified && matches!(self.status, AlertStatus::Firing | AlertStatus::Acknowledged);
        self.breach = Some((cause.clone(), position));
        let resolved = Event::AlertResolved(AlertChanged {
            alert_id: self.id,
            cause,
        });
        self.append(ctx, vec![resolved], position, move |act, ctx, _| {
            let muted = act
                .opened
                .as_ref()
                .is_some_and(|o| act.deps.alerting.read().silenced(o, Utc::now()).is_some());
            if notify && !muted {
                act.notify(ctx, NotifyReason::Resolved, 0, |_, ctx| ctx.stop());
            } else {
                ctx.stop();
            }
        });
    }
}

impl Handler<super::Halt> for AlertActor {
    type Result = ();

    fn handle(&mut self, _: super::Halt, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Actor for AlertActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(256);
        if self.opened.is_some() {
            self.schedule(ctx);
        }
    }
}

impl Handler<Observe> for AlertActor {
    type Result = bool;

    fn handle(&mut self, msg: Observe, ctx: &mut Context<Self>) -> bool {
        if self.status == AlertStatus::Resolved {
            return false;
        }
        match msg.verdict {
            Verdict::Breach(cause) => {
                self.breach = Some((cause.clone(), msg.position));
                if self.opened.is_none() {
                    let now = Utc::now();
                    self.breached_since = Some(now);
                    let opened = AlertOpened {
                        alert_id: self.id,
                        rule_id: self.rule_id,
                        rule_name: self.rule.name.clone(),
                        severity: self.rule.severity,
                        subject_kind: self.subject.kind,
                        subject_id: self.subject.id.clone(),
                        subject_name: self.subject.name.clone(),
                        tags: self.subject.tags.clone(),
                        cause: cause.clone(),
                    };
                    let mut events = vec![Event::AlertOpened(opened)];
                    if self.hold_s == 0 {
                        events.push(Event::AlertFired(AlertChanged {
                            alert_id: self.id,
                            cause,
                        }));
                    }
                    self.append(ctx, events, msg.position, |act, ctx, _| act.schedule(ctx));
                }
            }
            Verdict::Clear(cause) => {
                if self.opened.is_none() {
                    ctx.stop();
                    return false;
                }
                self.resolve(ctx, cause, msg.position);
            }
        }
        true
    }
}

impl Handler<RuleChanged> for AlertActor {
    type Result = ();

    fn handle(&mut self, msg: RuleChanged, ctx: &mut Context<Self>) {
        self.rule = msg.0;
        if self.opened.is_some() {
            self.schedule(ctx);
        }
    }
}

impl Handler<Ack> for AlertActor {
    type Result = AtomicResponse<Self, Result<(AlertStatus, Position), AlertError>>;

    fn handle(&mut self, msg: Ack, _ctx: &mut Context<Self>) -> Self::Result {
        if self.status != AlertStatus::Firing || self.opened.is_none() {
            let e = match self.status {
                AlertStatus::Resolved => AlertError::NotFound,
                s => AlertError::NotFiring(s.as_str()),
            };
            return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        }
        let store = self.deps.store.clone();
        let stream = self.stream();
        let expected = ExpectedVersion::Exact(StreamVersion(self.version));
        let event = Event::AlertAcknowledged(AlertAcknowledged {
            alert_id: self.id,
            comment: msg.comment,
        });
        // The request is in the acknowledgement's batch: both are durable before the answer.
        let request = self.acknowledgement_request();
        let snapshot = request
            .as_ref()
            .and_then(|_| self.snapshot_notification(NotifyReason::Acknowledged, 0));
        let mut events = vec![event];
        events.extend(request.clone().map(Event::NotificationRequested));
        let batch = events
            .iter()
            .map(|e| NewEvent::new(e.clone(), msg.by.clone()))
            .collect();
        let fut = async move { store.append(stream, expected, batch).await };
        AtomicResponse::new(Box::pin(fut.into_actor(self).map(
            move |result, act, ctx| {
                let out = result?;
                act.version = out.stream_version.0;
                for e in &events {
                    act.fold(e, out.timestamp);
                }
                if let (Some(request), Some(notification)) = (request, snapshot) {
                    for channel in request.channels {
                        act.deps.notifiers.deliver(
                            channel,
                            Delivery {
                                request: out.last_position.0,
                                attempts: 0,
                                notification: notification.clone(),
                            },
                        );
                    }
                }
                act.schedule(ctx);
                Ok((act.status, out.last_position))
            },
        )))
    }
}
