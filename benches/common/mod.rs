//! What the benchmarks share: the event they append, a store on a data dir, a runtime.

use uuid::Uuid;
use watchfire::events::{
    Actor, DataDir, Event, EventStore, MonitorChecked, NewEvent, StoreOptions,
};

/// A typical observation: one check of one of a thousand monitors.
pub fn check(n: u64) -> NewEvent {
    NewEvent::new(
        Event::MonitorChecked(MonitorChecked {
            monitor_id: Uuid::from_u128(u128::from(n % 1000)),
            ok: true,
            latency_ms: 12.5,
            status_code: Some(200),
            error: None,
            cert_expires_at: None,
            ping: None,
        }),
        Actor::system(),
    )
}

/// A store with the server's default options in `dir`.
pub fn open(dir: &std::path::Path) -> EventStore {
    EventStore::open(
        DataDir::create_or_open(dir).expect("bench data dir"),
        StoreOptions::default(),
    )
    .expect("bench store")
}

/// A two-worker runtime, like the server's.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
