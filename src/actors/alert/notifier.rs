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
    Actor as EventActor, ChannelConfig, ChannelSettings, ChannelType, Event, EventStore,
    ExpectedVersion, NewEvent, NotificationFailed, NotificationSent, NotifyReason, StreamId,
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
    match (c.kind, &c.settings) {
        (ChannelType::Telegram, Some(ChannelSettings::Telegram(s))) => {
            ChannelKind::Telegram(s.clone())
        }
        (ChannelType::Ntfy, Some(ChannelSettings::Ntfy(s))) => ChannelKind::Ntfy(s.clone()),
        (ChannelType::Gotify, Some(ChannelSettings::Gotify(s))) => ChannelKind::Gotify(s.clone()),
        (ChannelType::PagerDuty, Some(ChannelSettings::PagerDuty(s))) => {
            ChannelKind::PagerDuty(s.clone())
        }
        (ChannelType::Pushover, Some(ChannelSettings::Pushover(s))) => {
            ChannelKind::Pushover(s.clone())
        }
        (ChannelType::Sms, Some(ChannelSettings::Sms(s))) => ChannelKind::Sms(s.clone()),
        (ChannelType::Email, _) => ChannelKind::Email { to: c.to.clone() },
        (ChannelType::Webhook, _) => ChannelKind::Webhook {
            url,
            secret: c.secret.clone(),
        },
        (ChannelType::Slack, _) => ChannelKind::Slack { webhook_url: url },
        (ChannelType::Discord, _) => ChannelKind::Discord { webhook_url: url },
        (ChannelType::Teams, _) => ChannelKind::Teams { webhook_url: url },
        // The command path never stores a kind without its settings; should one be read,
        // it shows as a webhook with no URL, which refuses every delivery as invalid.
        (
            ChannelType::Telegram
            | ChannelType::Ntfy
            | ChannelType::Gotify
            | ChannelType::PagerDuty
            | ChannelType::Pushover
            | ChannelType::Sms,
            _,
        ) => ChannelKind::Webhook {
            url: String::new(),
            secret: None,
        },
    }
}

/// A channel's settings as the log keeps them, from the kind a client sent.
pub fn channel_config(name: String, kind: ChannelKind) -> ChannelConfig {
    let (kind, to, url, secret, settings) = match kind {
        ChannelKind::Email { to } => (ChannelType::Email, to, None, None, None),
        ChannelKind::Webhook { url, secret } => {
            (ChannelType::Webhook, Vec::new(), Some(url), secret, None)
        }
        ChannelKind::Slack { webhook_url } => (
            ChannelType::Slack,
            Vec::new(),
            Some(webhook_url),
            None,
            None,
        ),
        ChannelKind::Discord { webhook_url } => (
            ChannelType::Discord,
            Vec::new(),
            Some(webhook_url),
            None,
            None,
        ),
        ChannelKind::Teams { webhook_url } => (
            ChannelType::Teams,
            Vec::new(),
            Some(webhook_url),
            None,
            None,
        ),
        ChannelKind::Telegram(s) => (
            ChannelType::Telegram,
            Vec::new(),
            None,
            None,
            Some(ChannelSettings::Telegram(s)),
        ),
        ChannelKind::Ntfy(s) => (
            ChannelType::Ntfy,
            Vec::new(),
            None,
            None,
            Some(ChannelSettings::Ntfy(s)),
        ),
        ChannelKind::Gotify(s) => (
            ChannelType::Gotify,
            Vec::new(),
            None,
            None,
            Some(ChannelSettings::Gotify(s)),
        ),
        ChannelKind::PagerDuty(s) => (
            ChannelType::PagerDuty,
            Vec::new(),
            None,
            None,
            Some(ChannelSettings::PagerDuty(s)),
        ),
        ChannelKind::Pushover(s) => (
            ChannelType::Pushover,
            Vec::new(),
            None,
            None,
            Some(ChannelSettings::Pushover(s)),
        ),
        ChannelKind::Sms(s) => (
            ChannelType::Sms,
            Vec::new(),
            None,
            None,
            Some(ChannelSettings::Sms(s)),
        ),
    };
    ChannelConfig {
        name,
        kind,
        to,
        url,
        secret,
        settings,
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
            NotifyReason::Acknowledged => NotificationState::Acknowledged,
            NotifyReason::Firing | NotifyReason::Repeat => NotificationState::Firing,
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
    /// Requests taken (delivering, retrying or done), newest last, at most
    /// [`REMEMBERED_REQUESTS`]: a request handed over twice (by its alert and, on a
    /// cluster, from the log) is delivered once.
    accepted: HashSet<u64>,
    accepted_order: std::collections::VecDeque<u64>,
}

/// How many requests a channel actor remembers having taken.
const REMEMBERED_REQUESTS: usize = 16_384;

impl ChannelActor {
    /// An actor for channel `id`.
    pub fn new(id: Uuid, config: &ChannelConfig, deps: NotifierDeps) -> ChannelActor {
        ChannelActor {
            id,
            kind: channel_kind(config),
            deps,
            accepted: HashSet::new(),
            accepted_order: std::collections::VecDeque::new(),
        }
    }

    /// Takes a request, unless it was taken before.
    fn take(&mut self, request: u64) -> bool {
        if !self.accepted.insert(request) {
            return false;
        }
        self.accepted_order.push_back(request);
        while self.accepted_order.len() > REMEMBERED_REQUESTS {
            if let Some(old) = self.accepted_order.pop_front() {
                self.accepted.remove(&old);
            }
        }
        true
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
        if self.take(msg.request) {
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
                if !gave_up {
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
    /// On a node of a cluster: where channel actors start (from any thread), and the
    /// read model they start from; each channel runs on the node holding its lease.
    clustered: Option<(ArbiterHandle, ProjectionHandle<Alerting>)>,
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
    fn empty(deps: NotifierDeps, link_base: Arc<str>) -> NotifierRegistry {
        NotifierRegistry {
            actors: Arc::new(RwLock::new(HashMap::new())),
            deps,
            link_base,
            clustered: None,
        }
    }

    /// The registry of a node of a cluster: no channel actor until the node takes a
    /// channel's lease ([`NotifierRegistry::adopt`]); actors start on `arbiter`.
    pub fn clustered(
        deps: NotifierDeps,
        link_base: Arc<str>,
        arbiter: ArbiterHandle,
        alerting: ProjectionHandle<Alerting>,
    ) -> NotifierRegistry {
        NotifierRegistry {
            clustered: Some((arbiter, alerting)),
            ..NotifierRegistry::empty(deps, link_base)
        }
    }

    /// Starts the actor of a channel this node took the lease on, under that lease, and
    /// hands it what it still owes.
    pub fn adopt(&self, id: Uuid) {
        let Some((arbiter, alerting)) = &self.clustered else {
            return;
        };
        if self.actors.read().is_ok_and(|a| a.contains_key(&id)) {
            return;
        }
        let view = alerting.read();
        let Some(channel) = view.channels.get(&id) else {
            return;
        };
        let mut deps = self.deps.clone();
        deps.store = deps.store.fenced_for(StreamId::channel(id).as_str());
        let actor = ChannelActor::new(id, &channel.config, deps);
        let addr = ChannelActor::start_in_arbiter(arbiter, move |_| actor);
        if let Ok(mut actors) = self.actors.write() {
            actors.insert(id, addr.clone());
        }
        self.hand_owed(&view, id, &addr);
    }

    /// Stops the actor of a channel whose lease this node gives up or lost.
    pub fn relinquish(&self, id: Uuid) {
        let addr = self.actors.write().ok().and_then(|mut a| a.remove(&id));
        if let Some(addr) = addr {
            addr.do_send(super::Halt);
        }
    }

    /// On a cluster, follows the log after `start` and hands each notification request to
    /// the channels of it that run here (the alert that asked may run on another node).
    pub fn follow(&self, store: EventStore, start: crate::events::Position) {
        let Some((arbiter, alerting)) = self.clustered.clone() else {
            return;
        };
        let registry = self.clone();
        arbiter.spawn(async move {
            let mut subscription = store.subscribe(start);
            loop {
                let e = match subscription.next().await {
                    Ok(e) => e,
                    Err(crate::events::StoreError::Closed) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "notifications no longer follow the log");
                        break;
                    }
                };
                let Event::NotificationRequested(asked) = &e.event else {
                    continue;
                };
                let here: Vec<(Uuid, Addr<ChannelActor>)> = asked
                    .channels
                    .iter()
                    .filter_map(|c| Some((*c, registry.actors.read().ok()?.get(c)?.clone())))
                    .collect();
                if here.is_empty() {
                    continue;
                }
                // What the notification says comes from the read model, once it has the request.
                let _ = alerting.progress().reached(e.position).await;
                let view = alerting.read();
                let Some(notification) = notification_of(
                    &view,
                    asked.alert_id,
                    asked.reason,
                    asked.repeat,
                    Utc::now(),
                    &registry.link_base,
                ) else {
                    continue;
                };
                for (channel, addr) in here {
                    let delivery = Delivery {
                        request: e.position.0,
                        attempts: 0,
                        notification: notification.clone(),
                    };
                    if addr.try_send(delivery).is_err() {
                        tracing::warn!(%channel, "the channel's queue is full: a notification waits for its next owner");
                    }
                }
            }
        });
    }

    /// Hands channel `id`'s actor every notification the read model says it still owes.
    fn hand_owed(&self, view: &Alerting, id: Uuid, addr: &Addr<ChannelActor>) {
        let Some(channel) = view.channels.get(&id) else {
            return;
        };
        let now = Utc::now();
        for (request, owed) in &channel.owed {
            let Some(notification) = notification_of(
                view,
                owed.alert_id,
                owed.reason,
                owed.repeat,
                now,
                &self.link_base,
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

    /// Starts an actor per live channel and hands each the notifications it still owes,
    /// as the read model has them (must run in an actix context).
    pub fn take_over(&self, alerting: &ProjectionHandle<Alerting>) {
        let view = alerting.read();
        for (id, channel) in &view.channels {
            let addr = self.spawn_here(*id, &channel.config);
            self.hand_owed(&view, *id, &addr);
        }
    }

    /// Starts the actor of a new channel (on a cluster, the node that takes its lease does).
    pub fn spawn(&self, id: Uuid, config: &ChannelConfig) -> Option<Addr<ChannelActor>> {
        if self.clustered.is_some() {
            return None;
        }
        Some(self.spawn_here(id, config))
    }

    fn spawn_here(&self, id: Uuid, config: &ChannelConfig) -> Addr<ChannelActor> {
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
                // Single node: the actor is back. A cluster: the owner of its lease has it.
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
            // On a cluster the channel may run on another node, which takes the request
            // from the log.
            None if self.clustered.is_some() => {}
            None => tracing::warn!(%channel, "an alert names a channel that does not exist"),
        }
    }

    /// Sends a test notification through a channel now.
    pub async fn test(&self, channel: Uuid, n: Notification) -> Option<Result<(), String>> {
        let addr = self.actors.read().ok()?.get(&channel).cloned()?;
        addr.send(TestDelivery(n)).await.ok()
    }
}

impl crate::cluster::Owned for NotifierRegistry {
    fn claims(&self, resource: &str) -> bool {
        resource.starts_with("channel-")
    }

    fn resources(&self) -> Vec<String> {
        let Some((_, alerting)) = &self.clustered else {
            return Vec::new();
        };
        alerting
            .read()
            .channels
            .keys()
            .map(|id| StreamId::channel(*id).as_str().to_owned())
            .collect()
    }

    fn start(&self, resource: &str) {
        if let Some(id) = uuid_after(resource, "channel-") {
            self.adopt(id);
        }
    }

    fn stop(&self, resource: &str) {
        if let Some(id) = uuid_after(resource, "channel-") {
            self.relinquish(id);
        }
    }
}

/// The id a lease's resource names after `prefix`.
pub(crate) fn uuid_after(resource: &str, prefix: &str) -> Option<Uuid> {
    resource
        .strip_prefix(prefix)
        .and_then(|id| Uuid::parse_str(id).ok())
}
