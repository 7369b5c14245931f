//! The broadcaster: one task follows the log once and fans every event out, as shared
//! frames, to the bounded outbox of each session following a topic it updates. It never
//! waits on a session: a full outbox drops its backlog and owes its session a snapshot.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix::prelude::*;
use bytestring::ByteString;
use futures_util::FutureExt;
use prometheus::IntCounter;

use super::protocol::Topic;
use super::topics::{affected, status_updates, DashboardFeed, Rendering, SnapshotCache};
use crate::events::{EventStore, RecordedEvent, StoreError};
use crate::projections::{Dashboard, ProjectionHandle, StatusPages};

/// Tells a session its outbox has frames (or lost them); at most one is in its mailbox.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// One update frame of one topic, shared by every session it goes to.
#[derive(Debug)]
pub struct Frame {
    /// The position of the event it is about.
    pub position: u64,
    /// Its topic.
    pub topic: Topic,
    /// The JSON text.
    pub text: ByteString,
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<Arc<Frame>>,
    /// The backlog was dropped: the session owes its client fresh snapshots.
    overflowed: bool,
}

/// What the outbox held when a session looked.
pub enum Taken {
    /// The frames, oldest first.
    Frames(VecDeque<Arc<Frame>>),
    /// The backlog was dropped since the last look.
    Overflowed,
}

/// A session's bounded queue of frames not yet handed to its connection.
pub struct Outbox {
    id: u64,
    capacity: usize,
    queue: Mutex<Queue>,
    wake: Recipient<Wake>,
    wake_pending: AtomicBool,
    drops: IntCounter,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Outbox {
    /// Queues `frame`; never waits. The session is woken by [`Outbox::wake`].
    fn push(&self, frame: &Arc<Frame>) {
        let mut queue = lock(&self.queue);
        if queue.overflowed {
            return;
        }
        if queue.frames.len() >= self.capacity {
            // A backlog the client cannot take is worth less than a fresh snapshot.
            self.drops.inc();
            queue.frames = VecDeque::new();
            queue.overflowed = true;
        } else {
            queue.frames.push_back(frame.clone());
        }
    }

    /// Tells the session it has frames, unless it was told already; `false` if it is gone.
    fn wake(&self) -> bool {
        if self.wake_pending.swap(true, Ordering::AcqRel) {
            return true;
        }
        match self.wake.try_send(Wake) {
            Ok(()) => true,
            Err(SendError::Full(_)) => {
                self.wake_pending.store(false, Ordering::Release);
                true
            }
            Err(SendError::Closed(_)) => false,
        }
    }

    /// Takes everything queued; call after [`Outbox::woken`].
    pub fn take(&self) -> Taken {
        let mut queue = lock(&self.queue);
        if queue.overflowed {
            return Taken::Overflowed;
        }
        Taken::Frames(std::mem::take(&mut queue.frames))
    }

    /// Takes the frames up to `position` and leaves the rest queued.
    pub fn take_through(&self, position: u64) -> Taken {
        let mut queue = lock(&self.queue);
        if queue.overflowed {
            return Taken::Overflowed;
        }
        let n = queue
            .frames
            .iter()
            .take_while(|f| f.position <= position)
            .count();
        Taken::Frames(queue.frames.drain(..n).collect())
    }

    /// Marks the wake-up as received, before the session looks at its queue.
    pub fn woken(&self) {
        self.wake_pending.store(false, Ordering::Release);
    }

    /// Whether frames are queued (or were dropped) that the session has not taken.
    pub fn has_work(&self) -> bool {
        let queue = lock(&self.queue);
        queue.overflowed || !queue.frames.is_empty()
    }
}

/// Events at hand fanned out in one go.
const MAX_BATCH: usize = 512;
/// The shortest time between two wake-ups of a session by the live feed.
const WAKE_EVERY: Duration = Duration::from_millis(10);

/// The `dashboard` update frames kept for sessions that resume with `since`: a patch follows
/// from the view before it, so one older than these cannot be told again (the session gets
/// a snapshot instead).
const KEPT_DASHBOARD_FRAMES: usize = 4096;

/// The sessions given frames since they were last woken.
#[derive(Default)]
struct Touched {
    ids: std::collections::HashSet<u64>,
    outboxes: Vec<Arc<Outbox>>,
}

struct Registry {
    /// The last position fanned out; stored under this lock with the fan-out it ends.
    through: u64,
    topics: HashMap<Topic, HashMap<u64, Arc<Outbox>>>,
    next_id: u64,
    /// The dashboard as of `through`, whose changes the `dashboard` frames are.
    feed: DashboardFeed,
    /// The latest `dashboard` frames, oldest first.
    dashboard_frames: VecDeque<Arc<Frame>>,
    /// Every `dashboard` frame after this position is in `dashboard_frames`.
    dashboard_kept_after: u64,
    /// Events fanned out since a session last followed the dashboard.
    unfollowed_for: usize,
}

impl Registry {
    /// Forgets the kept `dashboard` frames: none was made for the event at `position`.
    fn skip_dashboard_frames(&mut self, position: u64) {
        self.dashboard_frames.clear();
        self.dashboard_kept_after = self.dashboard_kept_after.max(position);
    }

    fn keep_dashboard_frame(&mut self, frame: &Arc<Frame>) {
        self.dashboard_frames.push_back(frame.clone());
        while self.dashboard_frames.len() > KEPT_DASHBOARD_FRAMES {
            if let Some(old) = self.dashboard_frames.pop_front() {
                self.dashboard_kept_after = old.position;
            }
        }
    }
}

/// The live feed of every WebSocket session.
#[derive(Clone)]
pub struct Hub {
    registry: Arc<Mutex<Registry>>,
    through: Arc<AtomicU64>,
    capacity: usize,
    drops: IntCounter,
    snapshots: Arc<SnapshotCache>,
    status_pages: ProjectionHandle<StatusPages>,
}

impl Hub {
    /// Starts following the log from where the `dashboard` read model is (its state is where
    /// the `dashboard` topic's patches start from); `capacity` bounds each session's outbox.
    pub fn start(
        store: EventStore,
        dashboard: &ProjectionHandle<Dashboard>,
        status_pages: ProjectionHandle<StatusPages>,
        capacity: usize,
        drops: IntCounter,
    ) -> Hub {
        let seed = dashboard.read().clone();
        let start = seed.position;
        let hub = Hub {
            registry: Arc::new(Mutex::new(Registry {
                through: start,
                topics: HashMap::new(),
                next_id: 1,
                feed: DashboardFeed::new(seed),
                dashboard_frames: VecDeque::new(),
                dashboard_kept_after: start,
                // No session before the first one: nothing to resume.
                unfollowed_for: KEPT_DASHBOARD_FRAMES,
            })),
            through: Arc::new(AtomicU64::new(start)),
            capacity: capacity.max(1),
            drops,
            snapshots: Arc::new(SnapshotCache::default()),
            status_pages,
        };
        let follower = hub.clone();
        tokio::spawn(async move { follower.follow(store).await });
        hub
    }

    async fn follow(self, store: EventStore) {
        let mut subscription = store.subscribe(crate::events::Position(self.through()));
        let mut touched = Touched::default();
        let mut woken_at = tokio::time::Instant::now();
        'follow: loop {
            // `next` on a subscription is safe to drop unfinished.
            let mut next = if touched.outboxes.is_empty() {
                subscription.next().await
            } else {
                tokio::select! {
                    next = subscription.next() => next,
                    () = tokio::time::sleep_until(woken_at + WAKE_EVERY) => {
                        self.wake(&mut touched);
                        woken_at = tokio::time::Instant::now();
                        continue 'follow;
                    }
                }
            };
            // Events already at hand (one flush publishes many) go out together.
            for _ in 0..MAX_BATCH {
                match next {
                    Ok(event) => self.publish(&event, &mut touched),
                    Err(StoreError::Closed) => break 'follow,
                    Err(e) => {
                        self.wake(&mut touched);
                        tracing::error!(error = %e, "the WebSocket feed stopped following the log");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        subscription = store.subscribe(crate::events::Position(self.through()));
                        continue 'follow;
                    }
                }
                match subscription.next().now_or_never() {
                    Some(more) => next = more,
                    None => break,
                }
            }
            // A session is woken at most every few milliseconds: it then writes its frames
            // in one go, and its client reads them in one go.
            if woken_at.elapsed() >= WAKE_EVERY {
                self.wake(&mut touched);
                woken_at = tokio::time::Instant::now();
            }
        }
        self.wake(&mut touched);
    }

    /// Wakes every session given frames since the last call, and forgets the ones gone.
    fn wake(&self, touched: &mut Touched) {
        let gone: Vec<u64> = touched
            .outboxes
            .drain(..)
            .filter(|outbox| !outbox.wake())
            .map(|outbox| outbox.id)
            .collect();
        touched.ids.clear();
        if gone.is_empty() {
            return;
        }
        let mut registry = lock(&self.registry);
        for id in gone {
            for sessions in registry.topics.values_mut() {
                sessions.remove(&id);
            }
        }
        registry.topics.retain(|_, sessions| !sessions.is_empty());
    }

    /// The latest snapshots of the topics every session sees alike.
    pub(super) fn snapshots(&self) -> Arc<SnapshotCache> {
        self.snapshots.clone()
    }

    /// The last position fanned out to every outbox.
    pub fn through(&self) -> u64 {
        self.through.load(Ordering::Acquire)
    }

    /// A new, empty outbox for the session that `wake` reaches.
    pub fn outbox(&self, wake: Recipient<Wake>) -> Arc<Outbox> {
        let id = {
            let mut registry = lock(&self.registry);
            registry.next_id += 1;
            registry.next_id
        };
        Arc::new(Outbox {
            id,
            capacity: self.capacity,
            queue: Mutex::new(Queue::default()),
            wake,
            wake_pending: AtomicBool::new(false),
            drops: self.drops.clone(),
        })
    }

    /// Fans `event` out to the outboxes of every topic it updates.
    fn publish(&self, event: &RecordedEvent, touched: &mut Touched) {
        let mut registry = lock(&self.registry);
        if event.position.0 <= registry.feed.position() {
            // Already in the dashboard the feed started from.
            return;
        }
        // Every event is folded into the feed's dashboard, followed or not; its patch is
        // worked out while a session follows the dashboard, and for as many events after the
        // last one left as there are frames kept, so that a session back within them resumes.
        let patching = if registry.topics.contains_key(&Topic::Dashboard) {
            registry.unfollowed_for = 0;
            true
        } else {
            registry.unfollowed_for = registry.unfollowed_for.saturating_add(1);
            registry.unfollowed_for <= KEPT_DASHBOARD_FRAMES
        };
        if !patching {
            // The patches not made cannot be told again: a session resuming from before
            // this event gets a snapshot instead.
            registry.feed.fold(event);
            registry.skip_dashboard_frames(event.position.0);
            if registry.topics.is_empty() {
                registry.through = event.position.0;
                self.through.store(event.position.0, Ordering::Release);
                return;
            }
        }
        let mut rendering = Rendering::new(event);
        let dashboard = if patching {
            registry.feed.apply(event).map(|patch| {
                Arc::new(Frame {
                    position: event.position.0,
                    topic: Topic::Dashboard,
                    text: rendering.dashboard_update(&patch),
                })
            })
        } else {
            None
        };
        if let Some(frame) = &dashboard {
            registry.keep_dashboard_frame(frame);
        }
        for topic in affected(event) {
            let Some(sessions) = registry.topics.get(&topic).filter(|s| !s.is_empty()) else {
                continue;
            };
            let frame = if topic == Topic::Dashboard {
                match &dashboard {
                    Some(frame) => frame.clone(),
                    None => continue,
                }
            } else {
                let Some(text) = rendering.update(&topic) else {
                    continue;
                };
                Arc::new(Frame {
                    position: event.position.0,
                    topic,
                    text,
                })
            };
            for outbox in sessions.values() {
                outbox.push(&frame);
                if touched.ids.insert(outbox.id) {
                    touched.outboxes.push(outbox.clone());
                }
            }
        }
        let status = status_updates(event, &self.status_pages.read());
        for (topic, data) in status {
            let Some(sessions) = registry.topics.get(&topic).filter(|s| !s.is_empty()) else {
                continue;
            };
            let frame = Arc::new(Frame {
                position: event.position.0,
                text: rendering.status_update(&topic, &data),
                topic,
            });
            for outbox in sessions.values() {
                outbox.push(&frame);
                if touched.ids.insert(outbox.id) {
                    touched.outboxes.push(outbox.clone());
                }
            }
        }
        registry.through = event.position.0;
        self.through.store(event.position.0, Ordering::Release);
    }

    /// Adds `topics` to the session's feed: every event after the answer reaches its outbox.
    pub fn subscribe(&self, outbox: &Arc<Outbox>, topics: &[Topic]) -> u64 {
        let mut registry = lock(&self.registry);
        if topics.contains(&Topic::Dashboard) {
            registry.unfollowed_for = 0;
        }
        for topic in topics {
            registry
                .topics
                .entry(topic.clone())
                .or_default()
                .insert(outbox.id, outbox.clone());
        }
        registry.through
    }

    /// Every position after which the `dashboard` frames are still kept.
    pub fn dashboard_kept_after(&self) -> u64 {
        lock(&self.registry).dashboard_kept_after
    }

    /// The `dashboard` frames after `after` up to `until`, oldest first; `None` when some of
    /// them are no longer kept.
    pub fn dashboard_frames(&self, after: u64, until: u64) -> Option<Vec<Arc<Frame>>> {
        let registry = lock(&self.registry);
        if after < registry.dashboard_kept_after {
            return None;
        }
        Some(
            registry
                .dashboard_frames
                .iter()
                .filter(|f| f.position > after && f.position <= until)
                .cloned()
                .collect(),
        )
    }

    /// Takes `topics` out of the session's feed.
    pub fn unsubscribe(&self, outbox: &Outbox, topics: &[Topic]) {
        let mut registry = lock(&self.registry);
        for topic in topics {
            if let Some(sessions) = registry.topics.get_mut(topic) {
                sessions.remove(&outbox.id);
                if sessions.is_empty() {
                    registry.topics.remove(topic);
                }
            }
        }
    }

    /// Empties the session's outbox after an overflow: every event after the answer reaches it.
    pub fn reset(&self, outbox: &Outbox) -> u64 {
        // Under the registry lock no fan-out is half done, so the answer splits the log
        // cleanly into what the snapshots must cover and what the outbox will get.
        let registry = lock(&self.registry);
        let mut queue = lock(&outbox.queue);
        queue.frames.clear();
        queue.overflowed = false;
        registry.through
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sink;
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<Wake> for Sink {
        type Result = ();
        fn handle(&mut self, _: Wake, _: &mut Context<Self>) {}
    }

    fn frame(position: u64) -> Arc<Frame> {
        Arc::new(Frame {
            position,
            topic: Topic::Events,
            text: ByteString::from_static("{}"),
        })
    }

    #[test]
    fn the_oldest_dashboard_frames_go_first_and_move_where_resuming_may_start() {
        let mut registry = Registry {
            through: 10,
            topics: HashMap::new(),
            next_id: 1,
            feed: DashboardFeed::new(Dashboard::default()),
            dashboard_frames: VecDeque::new(),
            dashboard_kept_after: 10,
            unfollowed_for: 0,
        };
        let extra = 3u64;
        for p in 11..11 + KEPT_DASHBOARD_FRAMES as u64 + extra {
            registry.keep_dashboard_frame(&frame(p));
        }
        assert_eq!(registry.dashboard_frames.len(), KEPT_DASHBOARD_FRAMES);
        assert_eq!(
            registry.dashboard_kept_after,
            10 + extra,
            "the last position dropped"
        );
        assert_eq!(
            registry.dashboard_frames.front().map(|f| f.position),
            Some(11 + extra),
            "every frame after it is kept"
        );
    }

    #[actix_rt::test]
    async fn a_full_outbox_drops_its_backlog_and_counts_it() {
        let drops = IntCounter::new("drops", "drops").expect("a counter");
        let outbox = Outbox {
            id: 1,
            capacity: 3,
            queue: Mutex::new(Queue::default()),
            wake: Sink.start().recipient(),
            wake_pending: AtomicBool::new(false),
            drops: drops.clone(),
        };
        for p in 1..=3 {
            outbox.push(&frame(p));
        }
        assert!(outbox.wake());
        assert!(matches!(outbox.take_through(2), Taken::Frames(f) if f.len() == 2));
        outbox.push(&frame(4));
        outbox.push(&frame(5));
        assert_eq!(drops.get(), 0);
        outbox.push(&frame(6));
        assert_eq!(drops.get(), 1, "one overflow");
        outbox.push(&frame(7));
        assert_eq!(
            drops.get(),
            1,
            "frames after it are dropped with the backlog"
        );
        assert!(matches!(outbox.take(), Taken::Overflowed));
    }
}
