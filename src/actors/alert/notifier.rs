//! One actor per notification channel: it delivers what alerts ask for, retries with
//! exponential backoff and jitter, and records each outcome in the channel's stream.
//! Deliveries of one channel run side by side, so a slow one never holds up the next,
//! and channels never wait for each other.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use rand::Rng;
use uuid::Uuid;

use crate::config::NotificationSettings;
use crate::events::{
    Actor as EventActor, ChannelConfig, ChannelType, Event, EventStore, ExpectedVersion, NewEvent,
    NotificationFailed, NotificationSent, NotifyReason, StreamId,
};
use crate::notify::{ChannelKind, DeliveryError, Notification, NotificationState, Notifier};
use crate::projections::{severity_str, Alerting, ProjectionHandle};

/// A notification to deliver.
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct Delivery {
    /// The position of the `NotificationRequested` it answers.
    pub request: u64,
    /// Attempts already made (after a restart).
    pub attempts: u32,
    /// What to say.
    pub notification: Notification,
}

/// The wait before attempt `attempt + 1`, after `attempt` failures: doubling, ±20 % jitter.
pub fn backoff(retry: &NotificationSettings, attempt: u32) -> Duration {
    let first = Duration::from_millis(retry.first_retry_ms);
    let base = first
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(Duration::from_millis(retry.max_retry_ms));
    base.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
}

/// The delivery settings of a channel as the notify module takes them.
pub fn channel_kind(c: &ChannelConfig) -> ChannelKind {
    let url = c.url.clone().unwrap_or_default();
    match c.kind {
        ChannelType::Email => ChannelKind::Email { to: c.to.clone() },
        ChannelType::Webhook => ChannelKind::Webhook {
            url,
            secret: c.secret.clone(),
        },
        ChannelType::Slack => ChannelKind::Slack { webhook_url: url },
        ChannelType::Discord => ChannelKind::Discord { webhook_url: url },
    }
}

/// The notification an alert's request stands for, as the read model knows the alert.
pub fn notification_of(
    alerting: &Alerting,
    alert_id: Uuid,
    reason: NotifyReason,
    repeat: u32,
    at: DateTime<Utc>,
    link_base: &str,
) -> Option<Notification> {
    let alert = alerting.alerts.get(&alert_id)?;
    Some(Notification {
        alert_id,
        rule_name: alert.opened.rule_name.clone(),
        severity: severity_str(alert.opened.severity).to_owned(),
        subject: match alert.opened.subject_kind {
            crate::events::SubjectKind::Monitor => format!("monitor {}", alert.opened.subject_name),
            crate::events::SubjectKind::Host => format!("host {}", alert.opened.subject_name),
        },
        state: match reason {
            NotifyReason::Resolved => NotificationState::Resolved,
            _ => NotificationState::Firing,
        },
        cause: alert.cause.clone(),
        at,
        link: format!("{}/#/alerts/{alert_id}", link_base.trim_end_matches('/')),
        repeat,
    })
}

/// What every channel actor shares.
#[derive(Clone)]
pub struct NotifierDeps {
    /// The log.
    pub store: EventStore,
    /// Delivers.
    pub notifier: Notifier,
    /// How it retries.
    pub retry: NotificationSettings,
}

/// An attempt finished.
#[derive(Message)]
#[rtype(result = "()")]
struct Attempted {
    delivery: Delivery,
    result: Result<(), DeliveryError>,
}

/// Sends a test notification once, with no retry: the outcome.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct TestDelivery(pub Notification);

/// New settings for a channel: deliveries from now on, retries included, use them.
#[derive(Message)]
#[rtype(result = "()")]
struct Reconfigure(ChannelKind);

/// The actor of one channel.
pub struct ChannelActor {
    id: Uuid,
    kind: ChannelKind,
    deps: NotifierDeps,
    /// Requests being delivered or waiting to retry: never two deliveries of one request.
    in_flight: HashSet<u64>,
}

impl ChannelActor {
    /// An actor for channel `id`.
    pub fn new(id: Uuid, config: &ChannelConfig, deps: NotifierDeps) -> ChannelActor {
        ChannelActor {
            id,
            kind: channel_kind(config),
            deps,
            in_flight: HashSet::new(),
        }
    }

    fn attempt(&mut self, ctx: &mut Context<Self>, delivery: Delivery) {
        let (notifier, kind) = (self.deps.notifier.clone(), self.kind.clone());
        let addr = ctx.address();
        actix::spawn(async move {
            let send = notifier.deliver(&kind, &delivery.notification);
            let result = AssertUnwindSafe(send)
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(DeliveryError::Permanent("delivery panicked".to_owned())));
            let _ = addr.send(Attempted { delivery, result }).await;
        });
    }

    fn record(&self, ctx: &mut Context<Self>, event: Event) {
        let store = self.deps.store.clone();
        let stream = StreamId::channel(self.id);
        let id = self.id;
        ctx.spawn(
            async move {
                let new = NewEvent::new(event, EventActor::system());
                if let Err(e) = store.append(stream, ExpectedVersion::Any, vec![new]).await {
                    tracing::warn!(channel = %id, error = %e, "cannot record a delivery");
                }
            }
            .into_actor(self),
        );
    }
}

impl Handler<super::Halt> for ChannelActor {
    type Result = ();

    fn handle(&mut self, _: super::Halt, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Actor for ChannelActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
    }
}

impl Handler<Delivery> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Delivery, ctx: &mut Context<Self>) {
        if self.in_flight.insert(msg.request) {
            self.attempt(ctx, msg);
        }
    }
}

impl Handler<Attempted> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Attempted, ctx: &mut Context<Self>) {
        let mut delivery = msg.delivery;
        delivery.attempts += 1;
        let attempt = delivery.attempts;
        let (alert_id, request) = (delivery.notification.alert_id, delivery.request);
        match msg.result {
            Ok(()) => {
                self.in_flight.remove(&request);
                self.record(
                    ctx,
                    Event::NotificationSent(NotificationSent {
                        channel_id: self.id,
                        alert_id,
                        request,
                        attempt,
                    }),
                );
            }
            Err(e) => {
                let transient = matches!(e, DeliveryError::Transient(_));
                let gave_up = !transient || attempt >= self.deps.retry.max_attempts;
                tracing::warn!(channel = %self.id, %alert_id, attempt, gave_up, error = %e, "delivery failed");
                self.record(
                    ctx,
                    Event::NotificationFailed(NotificationFailed {
                        channel_id: self.id,
                        alert_id,
                        request,
                        attempt,
                        error: e.to_string(),
                        gave_up,
                    }),
                );
                if gave_up {
                    self.in_flight.remove(&request);
                } else {
                    let wait = backoff(&self.deps.retry, attempt);
                    ctx.run_later(wait, move |act, ctx| act.attempt(ctx, delivery));
                }
            }
        }
    }
}

impl Handler<Reconfigure> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, _ctx: &mut Context<Self>) {
        self.kind = msg.0;
    }
}

impl Handler<TestDelivery> for ChannelActor {
    type Result = ResponseActFuture<Self, Result<(), String>>;

    fn handle(&mut self, msg: TestDelivery, _ctx: &mut Context<Self>) -> Self::Result {
        let (notifier, kind) = (self.deps.notifier.clone(), self.kind.clone());
        let n = msg.0;
        Box::pin(
            async move {
                let result = notifier.deliver(&kind, &n).await;
                (n, result)
            }
            .into_actor(self)
            .map(|(n, result), act, ctx| {
                let event = match &result {
                    Ok(()) => Event::NotificationSent(NotificationSent {
                        channel_id: act.id,
                        alert_id: n.alert_id,
                        request: 0,
                        attempt: 1,
                    }),
                    Err(e) => Event::NotificationFailed(NotificationFailed {
                        channel_id: act.id,
                        alert_id: n.alert_id,
                        request: 0,
                        attempt: 1,
                        error: e.to_string(),
                        gave_up: true,
                    }),
                };
                act.record(ctx, event);
                result.map_err(|e| e.to_string())
            }),
        )
    }
}

/// Every channel's actor; cheap to clone.
#[derive(Clone)]
pub struct NotifierRegistry {
    actors: Arc<RwLock<HashMap<Uuid, Addr<ChannelActor>>>>,
    deps: NotifierDeps,
    /// The dashboard's address, for links in notifications.
    pub link_base: Arc<str>,
}

impl NotifierRegistry {
    /// Starts an actor per live channel and hands each the notifications it still owes.
    pub fn start(
        deps: NotifierDeps,
        alerting: &ProjectionHandle<Alerting>,
        link_base: Arc<str>,
    ) -> NotifierRegistry {
        let registry = NotifierRegistry::empty(deps, link_base);
        registry.take_over(alerting);
        registry
    }

    /// A registry with no channel actor yet (a node that does not run alerting).
    pub fn empty(deps: NotifierDeps, link_base: Arc<str>) -> NotifierRegistry {
        NotifierRegistry {
            actors: Arc::new(RwLock::new(HashMap::new())),
            deps,
            link_base,
        }
    }

    /// Stops every channel actor: another node delivers from now on.
    pub fn halt_all(&self) {
        let actors: Vec<Addr<ChannelActor>> = match self.actors.write() {
            Ok(mut a) => a.drain().map(|(_, addr)| addr).collect(),
            Err(_) => Vec::new(),
        };
        for addr in actors {
            addr.do_send(super::Halt);
        }
    }

    /// Starts an actor per live channel and hands each the notifications it still owes,
    /// as the read model has them (must run in an actix context).
    pub fn take_over(&self, alerting: &ProjectionHandle<Alerting>) {
        let registry = self;
        let view = alerting.read();
        let now = Utc::now();
        for (id, channel) in &view.channels {
            let addr = registry.spawn(*id, &channel.config);
            for (request, owed) in &channel.owed {
                let Some(notification) = notification_of(
                    &view,
                    owed.alert_id,
                    owed.reason,
                    owed.repeat,
                    now,
                    &registry.link_base,
                ) else {
                    continue;
                };
                let delivery = Delivery {
                    request: *request,
                    attempts: owed.attempts,
                    notification,
                };
                if addr.try_send(delivery).is_err() {
                    tracing::warn!(channel = %id, "too many notifications owed to hand over at once");
                }
            }
        }
    }

    /// Starts the actor of a new channel.
    pub fn spawn(&self, id: Uuid, config: &ChannelConfig) -> Addr<ChannelActor> {
        let addr = ChannelActor::new(id, config, self.deps.clone()).start();
        if let Ok(mut actors) = self.actors.write() {
            actors.insert(id, addr.clone());
        }
        addr
    }

    /// Hands a channel's actor its changed settings.
    pub fn reconfigure(&self, id: Uuid, config: &ChannelConfig) {
        let addr = self.actors.read().ok().and_then(|a| a.get(&id).cloned());
        match addr {
            Some(addr) => addr.do_send(Reconfigure(channel_kind(config))),
            None => {
                self.spawn(id, config);
            }
        }
    }

    /// Stops and forgets a deleted channel's actor.
    pub fn remove(&self, id: Uuid) {
        if let Ok(mut actors) = self.actors.write() {
            actors.remove(&id);
        }
    }

    /// Hands a notification to a channel (dropped, with a warning, if the channel is gone).
    pub fn deliver(&self, channel: Uuid, delivery: Delivery) {
        let addr = self
            .actors
            .read()
            .ok()
            .and_then(|a| a.get(&channel).cloned());
        match addr {
            Some(addr) => {
                if addr.try_send(delivery).is_err() {
                    tracing::warn!(%channel, "the channel's queue is full: a notification waits for the next restart");
                }
            }
            None => tracing::warn!(%channel, "an alert names a channel that does not exist"),
        }
    }

    /// Sends a test notification through a channel now.
    pub async fn test(&self, channel: Uuid, n: Notification) -> Option<Result<(), String>> {
        let addr = self.actors.read().ok()?.get(&channel).cloned()?;
        addr.send(TestDelivery(n)).await.ok()
    }
}
