//! Running a projection: load its checkpoint, catch up, follow live, save as it goes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::events::{EventStore, Position, RecordedEvent, StoreError};

/// A read model: a pure fold over recorded events.
pub trait Projection: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The checkpoint's name.
    const NAME: &'static str;
    /// Bumped when the saved shape changes; a checkpoint of another version is rebuilt.
    const VERSION: u32;
    /// Seconds between checkpoint saves (a restart replays at most this much of the log).
    const SAVE_EVERY_S: u64 = 1;
    /// Folds one event into the state.
    fn apply(&mut self, event: &RecordedEvent);
}

#[derive(Serialize, Deserialize)]
struct Saved<P> {
    version: u32,
    state: P,
}

/// How far a read model has applied the log, and the one way to wait for it to get further.
#[derive(Clone, Default)]
pub struct Progress(Arc<ProgressInner>);

#[derive(Default)]
struct ProgressInner {
    applied: AtomicU64,
    advanced: Notify,
}

/// Longest anyone waits for a read model to reach a position: a command's answer, a
/// query's `min_position`, a WebSocket snapshot. Past it, the read model is behind.
pub const READ_MODEL_WAIT: Duration = Duration::from_secs(5);

/// A read model did not reach a position within [`READ_MODEL_WAIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the read model has not reached position {0} within 5 s")]
pub struct NotReached(pub Position);

impl Progress {
    /// Progress that starts at `applied`.
    pub fn new(applied: Position) -> Progress {
        let progress = Progress::default();
        progress.0.applied.store(applied.0, Ordering::Release);
        progress
    }

    /// The last position applied.
    pub fn applied(&self) -> Position {
        Position(self.0.applied.load(Ordering::Acquire))
    }

    /// Records that everything up to `position` is applied, and wakes who waits for it.
    pub fn advance(&self, position: Position) {
        self.0.applied.store(position.0, Ordering::Release);
        self.0.advanced.notify_waiters();
    }

    /// Waits until everything up to `position` is applied.
    pub async fn caught_up(&self, position: Position) {
        loop {
            // Made before the check: an advance between the check and the wait still wakes it.
            let advanced = self.0.advanced.notified();
            if self.applied() >= position {
                return;
            }
            advanced.await;
        }
    }

    /// Waits, up to [`READ_MODEL_WAIT`], until everything up to `position` is applied.
    pub async fn reached(&self, position: Position) -> Result<(), NotReached> {
        tokio::time::timeout(READ_MODEL_WAIT, self.caught_up(position))
            .await
            .map_err(|_| NotReached(position))
    }
}

/// How far a projection is behind the log.
pub trait LagSource: Send + Sync {
    /// The projection's name.
    fn name(&self) -> &'static str;
    /// How far it has applied the log.
    fn progress(&self) -> &Progress;
    /// The last position it has applied.
    fn applied(&self) -> Position {
        self.progress().applied()
    }
}

/// A running projection: its state, and how far it has applied the log.
pub struct ProjectionHandle<P> {
    state: Arc<RwLock<P>>,
    progress: Progress,
}

impl<P> Clone for ProjectionHandle<P> {
    fn clone(&self) -> Self {
        ProjectionHandle {
            state: self.state.clone(),
            progress: self.progress.clone(),
        }
    }
}

impl<P: Projection> LagSource for ProjectionHandle<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn progress(&self) -> &Progress {
        &self.progress
    }
}

impl<P: Projection> ProjectionHandle<P> {
    /// Loads the checkpoint (or starts empty) and follows the log on the current runtime.
    pub fn start(store: EventStore) -> Result<ProjectionHandle<P>, StoreError> {
        let (applied, state) = load::<P>(&store)?;
        let handle = ProjectionHandle {
            state: Arc::new(RwLock::new(state)),
            progress: Progress::new(applied),
        };
        let follower = handle.clone();
        tokio::spawn(async move { follower.follow(store).await });
        Ok(handle)
    }

    /// Waits until the projection has applied everything up to `position`.
    pub async fn caught_up(&self, position: Position) {
        self.progress.caught_up(position).await
    }

    /// The last position applied.
    pub fn applied_position(&self) -> Position {
        self.progress.applied()
    }

    /// How far it has applied the log, to wait on.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Reads the current state.
    pub fn read(&self) -> RwLockReadGuard<'_, P> {
        match self.state.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    async fn follow(self, store: EventStore) {
        let mut subscription = store.subscribe(LagSource::applied(&self));
        let mut tick = tokio::time::interval(Duration::from_secs(P::SAVE_EVERY_S.max(1)));
        let mut saved = LagSource::applied(&self);
        loop {
            tokio::select! {
                next = subscription.next() => match next {
                    Ok(event) => {
                        let mut state = match self.state.write() {
                            Ok(s) => s,
                            Err(poisoned) => poisoned.into_inner(),
                        };
                        state.apply(&event);
                        // Under the lock: a checkpoint never pairs a state with an older position.
                        self.progress.advance(event.position);
                    }
                    Err(StoreError::Closed) => break,
                    Err(e) => {
                        tracing::error!(projection = P::NAME, error = %e, "projection stopped following the log");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        subscription = store.subscribe(LagSource::applied(&self));
                    }
                },
                _ = tick.tick() => {
                    if LagSource::applied(&self) != saved {
                        let (state, progress, store) = (self.state.clone(), self.progress.clone(), store.clone());
                        let done = tokio::task::spawn_blocking(move || {
                            store.save_checkpoint_with(P::NAME, |out| {
                                // The position is read under the same lock as the state it goes with.
                                let state = match state.read() {
                                    Ok(g) => g,
                                    Err(poisoned) => poisoned.into_inner(),
                                };
                                let position = progress.applied();
                                serde_json::to_writer(out, &Saved { version: P::VERSION, state: &*state })?;
                                Ok(position)
                            })
                        })
                        .await;
                        match done {
                            Ok(Ok(position)) => saved = position,
                            Ok(Err(e)) => tracing::error!(projection = P::NAME, error = %e, "cannot save projection"),
                            Err(e) => tracing::error!(projection = P::NAME, error = %e, "cannot save projection"),
                        }
                    }
                }
            }
        }
    }
}

fn load<P: Projection>(store: &EventStore) -> Result<(Position, P), StoreError> {
    if let Some((position, bytes)) = store.load_checkpoint(P::NAME)? {
        match serde_json::from_slice::<Saved<P>>(&bytes) {
            Ok(saved) if saved.version == P::VERSION => return Ok((position, saved.state)),
            _ => tracing::info!(
                projection = P::NAME,
                "checkpoint is of another version: rebuilding"
            ),
        }
    }
    Ok((Position::START, P::default()))
}

/// Folds every event up to `until` (inclusive) into a fresh projection.
pub fn fold<P: Projection>(events: impl IntoIterator<Item = RecordedEvent>, until: Position) -> P {
    let mut state = P::default();
    for e in events.into_iter().take_while(|e| e.position <= until) {
        state.apply(&e);
    }
    state
}

/// Drops a projection's checkpoint, folds it anew from the whole log and saves it (blocking).
pub fn rebuild<P: Projection>(store: &EventStore) -> Result<P, StoreError> {
    let mut state = P::default();
    let mut after = Position::START;
    loop {
        let events = store.read_all(after, 4096)?;
        let Some(last) = events.last() else { break };
        after = last.position;
        for e in &events {
            state.apply(e);
        }
    }
    let bytes = serde_json::to_vec(&Saved {
        version: P::VERSION,
        state: &state,
    })
    .map_err(|e| StoreError::Storage(e.to_string()))?;
    store.save_checkpoint(P::NAME, after, &bytes)?;
    Ok(state)
}
