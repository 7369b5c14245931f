//! One actor per WebSocket connection: authentication, heartbeat, subscriptions, and the
//! order of what it writes: every frame's position is at least the one before it.
//!
//! Work that must not interleave with the live feed (snapshots, catch-up from the log)
//! runs under `ctx.wait`, which holds back the session's mailbox: live frames stay in the
//! outbox until it is done, and are then delivered or dropped by position.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::Item;
use actix_web::web;
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use bytestring::ByteString;
use prometheus::IntGauge;
use secrecy::{ExposeSecret, SecretString};

use super::hub::{Frame, Hub, Outbox, Taken, Wake};
use super::protocol::{
    acked_frame, error_frame, ClientMessage, Topic, WsError, MAX_MESSAGE_BYTES,
    MAX_TOPICS_PER_SESSION,
};
use super::seed004;
use super::topics::{affected, snapshot, Rendering};
use crate::events::{Position, Role};
use crate::http::auth;
use crate::http::params::by;
use crate::http::AppState;
use crate::projections::TokenEntry;

/// Time a session has to authenticate by message.
pub const AUTH_DEADLINE: Duration = Duration::from_secs(5);
/// Events read from the log per catch-up step.
const CATCH_UP_PAGE: usize = 4096;
/// Longest a snapshot waits for the live feed to reach its position.
const FEED_PATIENCE: Duration = Duration::from_secs(10);
/// Malformed frames in a row after which the connection is given up.
const MAX_BAD_FRAMES: u32 = 3;

/// Who a session acts as, and the credential to look again at (it may be revoked).
pub struct Identity {
    /// The token or login session.
    pub entry: TokenEntry,
    /// The credential's value.
    pub credential: SecretString,
}

/// Keeps the open-sessions gauge right however the session ends.
pub struct SessionCount(IntGauge);

impl SessionCount {
    /// Counts one more session until dropped.
    pub fn open(gauge: &IntGauge) -> SessionCount {
        gauge.inc();
        SessionCount(gauge.clone())
    }
}

impl Drop for SessionCount {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Which protocol a session speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// watchfire's own: topics, snapshots and updates.
    Native,
    /// The pipeline monitoring dashboard's (`?protocol=seed004`): named messages.
    Seed004,
}

/// What a `seed004` session sent last, so it sends only what changed.
#[derive(Default)]
struct SeedSent {
    /// The `dashboard` read model's position behind the last `metrics_update`.
    position: Option<u64>,
    /// The last `alerts_update`'s data.
    alerts: Option<String>,
    /// The last `health_check_complete`'s data, and when it was sent.
    health: Option<(String, Instant)>,
}

/// A fragmented message being put together.
struct Fragments {
    text: bool,
    bytes: Vec<u8>,
    too_large: bool,
}

/// One WebSocket session.
pub struct WsSession {
    state: web::Data<AppState>,
    hub: Hub,
    outbox: Option<Arc<Outbox>>,
    identity: Option<Identity>,
    topics: BTreeSet<Topic>,
    /// The position of the last snapshot or update written: nothing older follows it.
    last_sent: u64,
    /// The `dashboard` frames of a catch-up not yet written, oldest first.
    dashboard_backlog: VecDeque<Arc<Frame>>,
    last_heard: Instant,
    fragments: Option<Fragments>,
    bad_frames: u32,
    dialect: Dialect,
    seed_sent: Option<SeedSent>,
    _count: SessionCount,
}

type Snapshot = (u64, Topic, ByteString);

impl WsSession {
    /// A session for a connection, authenticated already or not.
    pub fn new(
        state: web::Data<AppState>,
        identity: Option<Identity>,
        dialect: Dialect,
    ) -> WsSession {
        WsSession {
            hub: state.ws_hub.clone(),
            _count: SessionCount::open(&state.ws_metrics.sessions),
            state,
            outbox: None,
            identity,
            topics: BTreeSet::new(),
            last_sent: 0,
            dashboard_backlog: VecDeque::new(),
            last_heard: Instant::now(),
            fragments: None,
            bad_frames: 0,
            dialect,
            seed_sent: None,
        }
    }

    /// Once a `seed004` session is authenticated: its messages now, then whatever changes,
    /// looked at once a second (at most one of each a second, however busy the log).
    fn start_seed_feed(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.dialect != Dialect::Seed004 || self.seed_sent.is_some() || self.identity.is_none() {
            return;
        }
        self.seed_sent = Some(SeedSent::default());
        self.seed_tick(ctx);
        ctx.run_interval(Duration::from_secs(1), |act, ctx| act.seed_tick(ctx));
    }

    fn seed_tick(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.identity.is_none() {
            return;
        }
        let every = Duration::from_secs(self.state.settings.health.check_interval_s.max(1));
        let now = self.state.clock.now();
        let position = self.state.dashboard.applied_position().0;
        let (frames, alerts, health) = {
            let d = self.state.dashboard.read();
            let Some(sent) = self.seed_sent.as_ref() else {
                return;
            };
            let mut frames = Vec::new();
            if sent.position != Some(position) {
                frames.push(seed004::frame("metrics_update", now, seed004::metrics(&d)));
                frames.push(seed004::frame("status_update", now, seed004::status(&d)));
            }
            let alerts = seed004::alerts(&d).to_string();
            if sent.alerts.as_deref() != Some(alerts.as_str()) {
                frames.push(seed004::frame("alerts_update", now, seed004::alerts(&d)));
            }
            let health = seed004::health(&d).to_string();
            let due = sent
                .health
                .as_ref()
                .is_none_or(|(text, at)| *text != health || at.elapsed() >= every);
            if due {
                frames.push(seed004::frame(
                    "health_check_complete",
                    now,
                    seed004::health(&d),
                ));
            }
            (frames, alerts, due.then_some(health))
        };
        if let Some(sent) = self.seed_sent.as_mut() {
            sent.position = Some(position);
            sent.alerts = Some(alerts);
            if let Some(health) = health {
                sent.health = Some((health, Instant::now()));
            }
        }
        for frame in frames {
            ctx.text(frame);
        }
    }

    /// Writes an error frame; before authentication every error also ends the session.
    fn reject(&mut self, error: WsError, ctx: &mut ws::WebsocketContext<Self>) {
        if self.identity.is_none() {
            self.fail(error, ctx);
        } else {
            ctx.text(error_frame(&error));
        }
    }

    /// Writes an error frame and closes with "policy violation".
    fn fail(&mut self, error: WsError, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.text(error_frame(&error));
        ctx.close(Some(CloseReason {
            code: CloseCode::Policy,
            description: Some(match error {
                WsError::AuthTimeout(_) => "authentication timeout".to_owned(),
                _ => "authentication failed".to_owned(),
            }),
        }));
        ctx.stop();
    }

    fn require(&self, role: Role, what: impl FnOnce() -> String) -> Result<(), WsError> {
        let has = self
            .identity
            .as_ref()
            .map(|i| i.entry.role)
            .ok_or(WsError::NotAuthenticated)?;
        if has < role {
            return Err(WsError::Forbidden {
                what: what(),
                need: role.as_str(),
                has: has.as_str(),
            });
        }
        Ok(())
    }

    /// Writes a live or logged update, unless its topic was dropped or it would go back in time.
    fn emit(&mut self, frame: &Frame, ctx: &mut ws::WebsocketContext<Self>) {
        if frame.position < self.last_sent || !self.topics.contains(&frame.topic) {
            return;
        }
        self.last_sent = frame.position;
        ctx.text(frame.text.clone());
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let parsed = match self.dialect {
            Dialect::Native => ClientMessage::parse(text),
            Dialect::Seed004 => seed004::parse(text),
        };
        let message = match parsed {
            Ok(m) => m,
            Err(e) => return self.reject(e, ctx),
        };
        let result = match message {
            ClientMessage::Auth { token } => self.authenticate(token).map(|()| {
                self.start_seed_feed(ctx);
            }),
            // Without a token, a session may follow public status pages and nothing else.
            ClientMessage::Subscribe { topics, since } if self.identity.is_none() => {
                if topics.iter().all(|t| t.min_role().is_none()) {
                    self.subscribe(topics, since, ctx)
                } else {
                    Err(WsError::NotAuthenticated)
                }
            }
            _ if self.identity.is_none() => Err(WsError::NotAuthenticated),
            ClientMessage::Subscribe { topics, since } => self.subscribe(topics, since, ctx),
            ClientMessage::Unsubscribe { topics } => self.unsubscribe(&topics),
            ClientMessage::Ack { alert_id, comment } => self.ack(alert_id, comment, ctx),
        };
        if let Err(e) = result {
            self.reject(e, ctx);
        }
    }

    fn authenticate(&mut self, token: String) -> Result<(), WsError> {
        if self.identity.is_some() {
            return Err(WsError::AlreadyAuthenticated);
        }
        let entry = auth::authenticate_token(&token, &self.state)
            .map_err(|p| WsError::AuthFailed(p.detail))?;
        self.identity = Some(Identity {
            entry,
            credential: token.into(),
        });
        Ok(())
    }

    /// Looks at the credential again: a revoked token or a closed login ends the session, and
    /// a lower role ends the topics it may not follow.
    fn still_authenticated(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(identity) = &self.identity else {
            return;
        };
        match auth::authenticate_token(identity.credential.expose_secret(), &self.state) {
            Ok(entry) => {
                let role = entry.role;
                if let Some(identity) = self.identity.as_mut() {
                    identity.entry = entry;
                }
                // A lower role (a user's changed) drops the topics it may no longer follow.
                let lost: Vec<Topic> = self
                    .topics
                    .iter()
                    .filter(|t| t.min_role().is_some_and(|need| need > role))
                    .cloned()
                    .collect();
                if !lost.is_empty() {
                    let _ = self.unsubscribe(&lost);
                    for topic in &lost {
                        ctx.text(error_frame(&WsError::Forbidden {
                            what: format!("topic {topic}"),
                            need: topic.min_role().map_or("none", Role::as_str),
                            has: role.as_str(),
                        }));
                    }
                }
            }
            Err(p) => {
                self.identity = None;
                self.fail(WsError::AuthFailed(p.detail), ctx);
            }
        }
    }

    fn subscribe(
        &mut self,
        topics: Vec<Topic>,
        since: Option<u64>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Result<(), WsError> {
        for topic in &topics {
            if let Some(role) = topic.min_role() {
                self.require(role, || format!("topic {topic}"))?;
            }
        }
        let topics: Vec<Topic> = topics
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if self.topics.union(&topics.iter().cloned().collect()).count() > MAX_TOPICS_PER_SESSION {
            return Err(WsError::TooManyTopics);
        }
        let Some(outbox) = self.outbox.clone() else {
            return Ok(());
        };
        // A status page's frames are hints to read it again, not in the log: no resuming.
        let public = topics.iter().any(|t| matches!(t, Topic::Status(_)));
        match since {
            Some(since) if !public && self.can_resume(since, &topics) => {
                self.catch_up(&outbox, topics, since, ctx)
            }
            _ => {
                self.topics.extend(topics.iter().cloned());
                let t0 = self.hub.subscribe(&outbox, &topics);
                self.snapshots(topics, t0, ctx);
            }
        }
        Ok(())
    }

    /// Whether every update after `since` can still be sent: the log holds them (and the
    /// live feed the `dashboard` patches, if the session follows it), and the session has
    /// not already gone past it (positions in a session only grow).
    fn can_resume(&self, since: u64, topics: &[Topic]) -> bool {
        let dashboard =
            topics.contains(&Topic::Dashboard) || self.topics.contains(&Topic::Dashboard);
        if dashboard && since < self.hub.dashboard_kept_after() {
            return false;
        }
        let store = &self.state.store;
        let expired_through = match store.chain_state() {
            Ok(chain) => chain.retention_anchor.position.map_or(0, |p| p.0),
            Err(_) => return false,
        };
        since >= self.last_sent && since >= expired_through && since <= self.hub.through()
    }

    fn unsubscribe(&mut self, topics: &[Topic]) -> Result<(), WsError> {
        for topic in topics {
            self.topics.remove(topic);
        }
        if let Some(outbox) = &self.outbox {
            self.hub.unsubscribe(outbox, topics);
        }
        Ok(())
    }

    fn ack(
        &mut self,
        alert_id: uuid::Uuid,
        comment: Option<String>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Result<(), WsError> {
        self.require(Role::Operator, || "acknowledging an alert".to_owned())?;
        let Some(identity) = &self.identity else {
            return Err(WsError::NotAuthenticated);
        };
        let handles = self.state.alert_handles.clone();
        let who = by(&identity.entry);
        // On a cluster, the node running the alert's rule acknowledges, as this session's holder.
        let elsewhere = self.state.cluster.as_ref().and_then(|cluster| {
            let rule = crate::http::forward::alert_rule(&self.state, alert_id)?;
            let (_, addr) = cluster.elsewhere(&rule)?;
            Some((cluster.clone(), self.state.forwarder.clone()?, addr))
        });
        let credential = identity.credential.expose_secret().to_owned();
        let acked = async move {
            match elsewhere {
                Some((cluster, forwarder, addr)) => forwarder
                    .ack_at(&cluster, &addr, &credential, alert_id, comment)
                    .await
                    .map(crate::events::Position),
                None => handles
                    .ack(alert_id, comment, who)
                    .await
                    .map(|(_, position)| position),
            }
        };
        ctx.spawn(
            acked
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(position) if act.dialect == Dialect::Seed004 => {
                        ctx.text(seed004::acked(alert_id, position.0, act.state.clock.now()))
                    }
                    Ok(position) => ctx.text(acked_frame(alert_id, position.0)),
                    Err(source) => act.reject(
                        WsError::Ack {
                            id: alert_id,
                            source,
                        },
                        ctx,
                    ),
                }),
        );
        Ok(())
    }

    /// A fresh snapshot of every topic the session follows, after its backlog was dropped.
    fn recover(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        self.dashboard_backlog.clear();
        let Some(outbox) = self.outbox.clone() else {
            return;
        };
        let t0 = self.hub.reset(&outbox);
        let topics: Vec<Topic> = self.topics.iter().cloned().collect();
        if !topics.is_empty() {
            self.snapshots(topics, t0, ctx);
        }
    }

    /// Sends a snapshot of each of `topics`, already in the feed since `t0`: each at a
    /// position of at least `t0`, of what the session has sent and of what the log had
    /// acknowledged, placed among the live
    /// frames by its position.
    fn snapshots(&mut self, topics: Vec<Topic>, t0: u64, ctx: &mut ws::WebsocketContext<Self>) {
        // A snapshot shows at least everything acknowledged before it was asked for.
        let acknowledged = self.state.store.durable_position().0;
        let target = t0.max(self.last_sent).max(acknowledged);
        let (state, hub) = (self.state.clone(), self.hub.clone());
        let taken = async move {
            let cache = hub.snapshots();
            let mut snaps: Vec<Snapshot> = Vec::with_capacity(topics.len());
            for topic in &topics {
                match snapshot(&state, &cache, topic, target).await {
                    Ok((position, frame)) => snaps.push((position, topic.clone(), frame)),
                    Err(e) => return Err((e, topics)),
                }
            }
            // Frames up to the newest snapshot must be in the outbox before it is placed.
            let newest = snaps.iter().map(|s| s.0).max().unwrap_or(target);
            let waited = Instant::now();
            while hub.through() < newest {
                if waited.elapsed() > FEED_PATIENCE {
                    return Err((WsError::Behind("live feed"), topics));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok(snaps)
        };
        ctx.wait(taken.into_actor(self).map(|result, act, ctx| match result {
            Ok(snaps) => act.place_snapshots(snaps, ctx),
            Err((error, topics)) => {
                let _ = act.unsubscribe(&topics);
                act.reject(error, ctx);
            }
        }));
    }

    fn place_snapshots(&mut self, mut snaps: Vec<Snapshot>, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(outbox) = self.outbox.clone() else {
            return;
        };
        snaps.sort_by_key(|s| s.0);
        let newest = snaps.last().map_or(0, |s| s.0);
        let frames = match outbox.take_through(newest) {
            Taken::Frames(frames) => frames,
            Taken::Overflowed => return self.recover(ctx),
        };
        let covered: HashMap<Topic, u64> = snaps.iter().map(|s| (s.1.clone(), s.0)).collect();
        let mut pending = snaps.into_iter().peekable();
        for frame in frames {
            while let Some(snap) = pending.next_if(|s| s.0 < frame.position) {
                self.send_snapshot(snap, ctx);
            }
            // An update the snapshot of its topic already holds.
            if covered
                .get(&frame.topic)
                .is_some_and(|p| frame.position <= *p)
            {
                continue;
            }
            self.emit(&frame, ctx);
        }
        for snap in pending {
            self.send_snapshot(snap, ctx);
        }
    }

    fn send_snapshot(
        &mut self,
        (position, topic, text): Snapshot,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if self.topics.contains(&topic) {
            self.last_sent = self.last_sent.max(position);
            ctx.text(text);
        }
    }

    /// Sends every update of `topics` (and of the topics already followed) after `since`,
    /// read from the log up to the feed's position when they joined it, then goes live.
    fn catch_up(
        &mut self,
        outbox: &Arc<Outbox>,
        topics: Vec<Topic>,
        since: u64,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let new: Vec<Topic> = topics
            .into_iter()
            .filter(|t| !self.topics.contains(t))
            .collect();
        self.topics.extend(new.iter().cloned());
        // In the feed before reading the log: whatever the log read misses is in the outbox.
        let until = self.hub.subscribe(outbox, &new);
        match outbox.take_through(since) {
            Taken::Frames(frames) => {
                for frame in frames {
                    self.emit(&frame, ctx);
                }
            }
            Taken::Overflowed => return self.recover(ctx),
        }
        if self.topics.contains(&Topic::Dashboard) {
            match self.hub.dashboard_frames(since, until) {
                Some(frames) => self.dashboard_backlog = frames.into(),
                None => return self.recover(ctx),
            }
        }
        self.read_backlog(since, until, ctx);
    }

    /// Writes the catch-up's `dashboard` frames up to `position`.
    fn emit_dashboard_backlog(&mut self, position: u64, ctx: &mut ws::WebsocketContext<Self>) {
        while self
            .dashboard_backlog
            .front()
            .is_some_and(|f| f.position <= position)
        {
            if let Some(frame) = self.dashboard_backlog.pop_front() {
                self.emit(&frame, ctx);
            }
        }
    }

    fn read_backlog(&mut self, after: u64, until: u64, ctx: &mut ws::WebsocketContext<Self>) {
        if after >= until {
            return self.finish_catch_up(until, ctx);
        }
        let store = self.state.store.clone();
        let read = async move { store.read_all_async(Position(after), CATCH_UP_PAGE).await };
        ctx.wait(read.into_actor(self).map(move |result, act, ctx| {
            let events = match result {
                Ok(events) => events,
                Err(e) => {
                    act.reject(WsError::Log(e.to_string()), ctx);
                    return act.recover(ctx);
                }
            };
            let full = events.len() == CATCH_UP_PAGE;
            let mut last = after;
            for event in events.iter().take_while(|e| e.position.0 <= until) {
                act.emit_dashboard_backlog(event.position.0, ctx);
                let mut rendering = Rendering::new(event);
                for topic in affected(event) {
                    if !act.topics.contains(&topic) {
                        continue;
                    }
                    if let Some(text) = rendering.update(&topic) {
                        act.last_sent = act.last_sent.max(event.position.0);
                        ctx.text(text);
                    }
                }
                last = event.position.0;
            }
            if full && last > after && last < until {
                act.read_backlog(last, until, ctx);
            } else {
                act.finish_catch_up(until, ctx);
            }
        }));
    }

    fn finish_catch_up(&mut self, until: u64, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(outbox) = self.outbox.clone() else {
            return;
        };
        self.emit_dashboard_backlog(until, ctx);
        // Up to `until` the log said it all; the outbox's copies of it are duplicates.
        if let Taken::Overflowed = outbox.take_through(until) {
            self.recover(ctx);
        }
    }

    fn on_fragment(&mut self, item: Item, ctx: &mut ws::WebsocketContext<Self>) {
        let (first, bytes, last) = match item {
            Item::FirstText(b) => (Some(true), b, false),
            Item::FirstBinary(b) => (Some(false), b, false),
            Item::Continue(b) => (None, b, false),
            Item::Last(b) => (None, b, true),
        };
        if let Some(text) = first {
            self.fragments = Some(Fragments {
                text,
                bytes: Vec::new(),
                too_large: false,
            });
        }
        let Some(fragments) = self.fragments.as_mut() else {
            return self.reject(
                WsError::Fragments("a continuation without a first frame"),
                ctx,
            );
        };
        if fragments.bytes.len() + bytes.len() > MAX_MESSAGE_BYTES {
            fragments.too_large = true;
            fragments.bytes = Vec::new();
        } else if !fragments.too_large {
            fragments.bytes.extend_from_slice(&bytes);
        }
        if !last {
            return;
        }
        let Some(done) = self.fragments.take() else {
            return;
        };
        if done.too_large {
            return self.reject(WsError::TooLarge, ctx);
        }
        if !done.text {
            return self.reject(WsError::Binary, ctx);
        }
        match String::from_utf8(done.bytes) {
            Ok(text) => self.on_text(&text, ctx),
            Err(_) => self.reject(WsError::Fragments("the text is not UTF-8"), ctx),
        }
    }
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.outbox = Some(self.hub.outbox(ctx.address().recipient()));
        let settings = &self.state.settings.websocket;
        let timeout = Duration::from_secs(settings.timeout_s);
        ctx.run_interval(Duration::from_secs(settings.ping_s), |act, ctx| {
            ctx.ping(b"");
            act.still_authenticated(ctx);
        });
        ctx.run_interval(Duration::from_secs(1).min(timeout), move |act, ctx| {
            if act.last_heard.elapsed() >= timeout {
                tracing::debug!("closing a WebSocket session silent for {timeout:?}");
                ctx.close(Some(CloseReason {
                    code: CloseCode::Away,
                    description: Some(format!("no frame for {} s", timeout.as_secs())),
                }));
                ctx.stop();
            }
        });
        self.start_seed_feed(ctx);
        if self.identity.is_none() {
            ctx.run_later(AUTH_DEADLINE, |act, ctx| {
                // A session following only public status pages needs no token.
                let public =
                    !act.topics.is_empty() && act.topics.iter().all(|t| t.min_role().is_none());
                if act.identity.is_none() && !public {
                    act.fail(WsError::AuthTimeout(AUTH_DEADLINE.as_secs()), ctx);
                }
            });
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(outbox) = self.outbox.take() {
            let topics: Vec<Topic> = std::mem::take(&mut self.topics).into_iter().collect();
            self.hub.unsubscribe(&outbox, &topics);
        }
    }
}

impl Handler<Wake> for WsSession {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        let Some(outbox) = self.outbox.clone() else {
            return;
        };
        outbox.woken();
        match outbox.take() {
            Taken::Frames(frames) => {
                for frame in frames {
                    self.emit(&frame, ctx);
                }
            }
            Taken::Overflowed => self.recover(ctx),
        }
    }
}

impl StreamHandler<Result<ws::Message, ProtocolError>> for WsSession {
    fn handle(&mut self, item: Result<ws::Message, ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        let message = match item {
            Ok(message) => {
                self.bad_frames = 0;
                message
            }
            // The codec drops an oversized frame whole and reads on.
            Err(ProtocolError::Overflow) => {
                self.bad_frames += 1;
                if self.bad_frames > MAX_BAD_FRAMES {
                    // An overflow the codec cannot skip repeats forever: give up the connection.
                    ctx.stop();
                    return;
                }
                return self.reject(WsError::TooLarge, ctx);
            }
            Err(e) => {
                tracing::debug!(error = %e, "WebSocket protocol error: closing");
                ctx.close(Some(CloseCode::Protocol.into()));
                ctx.stop();
                return;
            }
        };
        match message {
            ws::Message::Text(text) => {
                self.fragments = None;
                self.on_text(&text, ctx);
            }
            ws::Message::Binary(_) => self.reject(WsError::Binary, ctx),
            ws::Message::Continuation(item) => self.on_fragment(item, ctx),
            ws::Message::Ping(payload) => ctx.pong(&payload),
            ws::Message::Pong(_) | ws::Message::Nop => {}
            ws::Message::Close(reason) => {
                ctx.close(reason);
                ctx.stop();
            }
        }
    }
}
