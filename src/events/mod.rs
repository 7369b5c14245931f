//! The event log: envelope, event types, codec, the store (on sled, or on PostgreSQL for
//! several nodes), subscriptions, hash chains and retention. Only this module knows sled
//! and PostgreSQL exist.

mod alerting;
pub mod backup;
mod chain;
mod channel_settings;
mod codec;
mod datadir;
mod event;
mod people;
mod pg_store;
pub mod remote;
mod sled_store;
mod status;
mod store;
mod subscription;
mod tree;
mod types;

pub use alerting::*;
pub use chain::{
    Chain, ChainHash, ChainLink, ChainState, ChainVerifier, VerifyProblem, VerifyReport,
};
pub use channel_settings::*;
pub use codec::{
    block_entries, decode_record, BlockBuilder, BlockEntries, CodecError, BLOCK_FORMAT,
    RECORD_FORMAT,
};
pub use datadir::{DataDir, DataDirError};
pub use event::*;
pub use people::*;
pub use status::*;
pub use store::{
    Accepted, AppendRequest, Core, EventStore, Fence, LeaseBook, LogBackend, Membership, NodeInfo,
    RecordVisitor, RetentionOutcome, StoreError, StoreMetrics, StoreOptions, UNHURRIED_FLUSH_DELAY,
};
pub use subscription::Subscription;
pub use tree::{ProjectionTree, TreeBatch};
pub use types::*;

/// Encodes a payload struct with the log's codec (for golden files and tools).
pub fn encode_payload<T: serde::Serialize>(payload: &T) -> Vec<u8> {
    codec::encode_payload(payload)
}

/// Verifies the raw records of a log against its chain state, as `verify` does.
pub fn verify_records<'a>(
    state: ChainState,
    records: impl IntoIterator<Item = (Position, &'a [u8])>,
) -> VerifyReport {
    let mut verifier = chain::ChainVerifier::new(state);
    for (position, bytes) in records {
        if !verifier.check(position, bytes) {
            break;
        }
    }
    verifier.finish()
}
