//! Following the log: catch up from disk, then switch to live events with no gap and
//! no duplicate; a subscriber that falls behind the live buffer goes back to disk.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::store::{EventStore, StoreError};
use super::types::{Position, SharedEvent};

/// Events read from disk per catch-up step.
const CATCH_UP_CHUNK: usize = 512;

/// A cursor over the log that yields every event after its start exactly once, in order.
pub struct Subscription {
    store: EventStore,
    next: Position,
    buffered: VecDeque<SharedEvent>,
    live: Option<broadcast::Receiver<SharedEvent>>,
    disk_reads: u64,
}

impl Subscription {
    pub(super) fn new(store: EventStore, after: Position) -> Subscription {
        Subscription {
            store,
            next: after.next(),
            buffered: VecDeque::new(),
            live: None,
            disk_reads: 0,
        }
    }

    /// The position the next event will have at least.
    pub fn next_position(&self) -> Position {
        self.next
    }

    /// How many times this subscription has read from disk (catch-up and fallback).
    pub fn disk_reads(&self) -> u64 {
        self.disk_reads
    }

    /// Whether the subscription is following live events rather than reading disk.
    pub fn is_live(&self) -> bool {
        self.live.is_some() && self.buffered.is_empty()
    }

    /// The next event; waits for one to be appended when caught up.
    pub async fn next(&mut self) -> Result<SharedEvent, StoreError> {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                self.next = event.position.next();
                return Ok(event);
            }
            match self.live.as_mut() {
                None => {
                    // Subscribe before reading disk: whatever becomes durable after the read
                    // is then in the receiver, so the switch leaves no gap.
                    let receiver = self.store.live_receiver();
                    let after = Position(self.next.0 - 1);
                    self.disk_reads += 1;
                    let events = self.store.read_all_async(after, CATCH_UP_CHUNK).await?;
                    if events.is_empty() {
                        self.live = Some(receiver);
                    } else {
                        self.buffered.extend(events.into_iter().map(Arc::new));
                    }
                }
                Some(receiver) => match receiver.recv().await {
                    Ok(event) if event.position < self.next => continue,
                    Ok(event) if event.position == self.next => {
                        self.next = event.position.next();
                        return Ok(event);
                    }
                    // Something between was not seen live: read it from disk.
                    Ok(_) | Err(RecvError::Lagged(_)) => self.live = None,
                    Err(RecvError::Closed) => return Err(StoreError::Closed),
                },
            }
        }
    }
}
