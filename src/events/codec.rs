//! The bytes of a record on disk: a format byte, the chain hash, then the bincode envelope.
//!
//! bincode 1.3 is finished and unmaintained (RUSTSEC-2025-0141); every use of it is in
//! this file so it can be swapped for another encoding behind the format byte.

use bincode::Options;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::chain::{Chain, ChainHash};
use super::event::Event;
use super::types::{Actor, NewEvent, Position, RecordedEvent, StreamId, StreamVersion};

/// The record format this build writes.
pub const RECORD_FORMAT: u8 = 1;

/// Largest payload or envelope decoded, so a corrupt length cannot ask for gigabytes.
const DECODE_LIMIT: u64 = 16 * 1024 * 1024;

/// Why a record or payload could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The record is shorter than its fixed header.
    #[error("record is truncated ({0} bytes)")]
    Truncated(usize),
    /// The record was written in a format this build does not read.
    #[error("unknown record format {0}")]
    UnknownFormat(u8),
    /// The event type or its schema version is not known to this build.
    #[error("unknown event type {type_name} schema {schema}")]
    UnknownType {
        /// The stored type name.
        type_name: String,
        /// The stored schema version.
        schema: u16,
    },
    /// The bytes do not decode to the expected shape.
    #[error("malformed bytes: {0}")]
    Malformed(String),
    /// A stored field holds a value that cannot be right (a bad stream id, an impossible time).
    #[error("invalid field {field}: {detail}")]
    InvalidField {
        /// The envelope field.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(DECODE_LIMIT)
        .reject_trailing_bytes()
}

/// Encodes a payload struct with bincode.
pub fn encode_payload<T: Serialize>(payload: &T) -> Vec<u8> {
    // Serializing plain structs into a Vec cannot fail; an empty payload would fail decoding loudly.
    options().serialize(payload).unwrap_or_default()
}

/// Decodes a payload struct from bincode.
pub fn decode_payload<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    options()
        .deserialize(bytes)
        .map_err(|e| CodecError::Malformed(e.to_string()))
}

/// The envelope as it is hashed and stored, borrowing from the record's bytes.
#[derive(Serialize, Deserialize)]
struct Body<'a> {
    position: u64,
    #[serde(borrow)]
    stream: &'a str,
    version: u64,
    #[serde(borrow)]
    event_type: &'a str,
    schema_version: u16,
    timestamp_nanos: i64,
    #[serde(borrow)]
    actor: &'a str,
    correlation_id: [u8; 16],
    causation: Option<u64>,
    chain: u8,
    prev_in_chain: Option<u64>,
    #[serde(borrow, with = "serde_bytes")]
    payload: &'a [u8],
}

/// Where a new event goes: everything the writer decides about it.
pub struct Placement<'a> {
    /// Its global position.
    pub position: Position,
    /// Its stream.
    pub stream: &'a StreamId,
    /// Its version within the stream.
    pub version: StreamVersion,
    /// When it is recorded.
    pub timestamp: DateTime<Utc>,
    /// Position of the previous event of its chain.
    pub prev_in_chain: Option<Position>,
    /// Hash of the previous event of its chain.
    pub prev_hash: &'a ChainHash,
}

/// Encodes a new event into its stored record, returning the bytes and the event's chain hash.
pub fn encode_record(place: &Placement<'_>, new: &NewEvent) -> (Vec<u8>, ChainHash) {
    let payload = new.event.encode_payload();
    let body = Body {
        position: place.position.0,
        stream: place.stream.as_str(),
        version: place.version.0,
        event_type: new.event.type_name(),
        schema_version: new.event.schema_version(),
        timestamp_nanos: place.timestamp.timestamp_nanos_opt().unwrap_or(i64::MAX),
        actor: &new.actor.0,
        correlation_id: *new.correlation_id.as_bytes(),
        causation: new.causation.map(|p| p.0),
        chain: new.event.chain() as u8,
        prev_in_chain: place.prev_in_chain.map(|p| p.0),
        payload: &payload,
    };
    let body_bytes = options().serialize(&body).unwrap_or_default();
    let hash = ChainHash::link(place.prev_hash, &body_bytes);
    let mut record = Vec::with_capacity(1 + 32 + body_bytes.len());
    record.push(RECORD_FORMAT);
    record.extend_from_slice(&hash.0);
    record.extend_from_slice(&body_bytes);
    (record, hash)
}

/// A record split into its parts without decoding the payload: what verification needs.
pub struct RawRecord<'a> {
    /// The stored chain hash.
    pub hash: ChainHash,
    /// The bytes the hash covers, besides the previous hash.
    pub body_bytes: &'a [u8],
    /// The position the record claims.
    pub position: Position,
    /// Its chain.
    pub chain: Chain,
    /// The position of the previous event of its chain, as the record claims.
    pub prev_in_chain: Option<Position>,
    /// The recording time, in nanoseconds since the Unix epoch.
    pub timestamp_nanos: i64,
    body: Body<'a>,
}

/// Splits a stored record into hash and envelope, without decoding the payload.
pub fn decode_raw(bytes: &[u8]) -> Result<RawRecord<'_>, CodecError> {
    if bytes.len() < 33 {
        return Err(CodecError::Truncated(bytes.len()));
    }
    if bytes[0] != RECORD_FORMAT {
        return Err(CodecError::UnknownFormat(bytes[0]));
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[1..33]);
    let body_bytes = &bytes[33..];
    let body: Body<'_> = options()
        .deserialize(body_bytes)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    let chain = Chain::from_byte(body.chain).ok_or(CodecError::InvalidField {
        field: "chain",
        detail: format!("unknown chain {}", body.chain),
    })?;
    Ok(RawRecord {
        hash: ChainHash(hash),
        body_bytes,
        position: Position(body.position),
        chain,
        prev_in_chain: body.prev_in_chain.map(Position),
        timestamp_nanos: body.timestamp_nanos,
        body,
    })
}

impl RawRecord<'_> {
    /// The stored stream id.
    pub fn stream(&self) -> &str {
        self.body.stream
    }

    /// The stored stream version.
    pub fn version(&self) -> StreamVersion {
        StreamVersion(self.body.version)
    }

    /// Decodes the payload and builds the full recorded event.
    pub fn into_event(self) -> Result<RecordedEvent, CodecError> {
        let body = self.body;
        let event = Event::decode(body.event_type, body.schema_version, body.payload)?;
        let stream = StreamId::new(body.stream).map_err(|e| CodecError::InvalidField {
            field: "stream",
            detail: e.to_string(),
        })?;
        Ok(RecordedEvent {
            position: Position(body.position),
            stream,
            version: StreamVersion(body.version),
            schema_version: body.schema_version,
            timestamp: DateTime::from_timestamp_nanos(body.timestamp_nanos),
            actor: Actor(body.actor.to_owned()),
            correlation_id: Uuid::from_bytes(body.correlation_id),
            causation: body.causation.map(Position),
            chain: self.chain,
            prev_in_chain: self.prev_in_chain,
            event,
            hash: self.hash,
        })
    }
}

/// Decodes a stored record into a recorded event.
pub fn decode_record(bytes: &[u8]) -> Result<RecordedEvent, CodecError> {
    decode_raw(bytes)?.into_event()
}

/// The block format this build writes: one sled value holds the records of one commit.
pub const BLOCK_FORMAT: u8 = 1;

/// Bytes of an entry's header in a block: its position and its record's length.
const ENTRY_HEADER: usize = 8 + 4;

/// Builds a block: the format byte, then each record as big-endian position, length, bytes.
#[derive(Debug, Clone)]
pub struct BlockBuilder {
    bytes: Vec<u8>,
    first: Option<Position>,
    last: Option<Position>,
}

impl Default for BlockBuilder {
    fn default() -> BlockBuilder {
        BlockBuilder {
            bytes: vec![BLOCK_FORMAT],
            first: None,
            last: None,
        }
    }
}

impl BlockBuilder {
    /// Adds a record; positions must be added in increasing order.
    pub fn push(&mut self, position: Position, record: &[u8]) {
        self.bytes.reserve(ENTRY_HEADER + record.len());
        self.bytes.extend_from_slice(&position.0.to_be_bytes());
        let len = u32::try_from(record.len()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(record);
        self.first.get_or_insert(position);
        self.last = Some(position);
    }

    /// The first position in the block, which is its key in the log.
    pub fn first(&self) -> Option<Position> {
        self.first
    }

    /// The last position in the block.
    pub fn last(&self) -> Option<Position> {
        self.last
    }

    /// Bytes the block takes so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether no record was added.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The finished block.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// The entries of a stored block, in order: each its position and its record's bytes.
pub fn block_entries(block: &[u8]) -> Result<BlockEntries<'_>, CodecError> {
    match block.first() {
        None => Err(CodecError::Truncated(0)),
        Some(&BLOCK_FORMAT) => Ok(BlockEntries { rest: &block[1..] }),
        Some(&other) => Err(CodecError::UnknownFormat(other)),
    }
}

/// Iterator over a block's entries; yields an error once, then stops, if the block is cut short.
pub struct BlockEntries<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for BlockEntries<'a> {
    type Item = Result<(Position, &'a [u8]), CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.rest);
        let Some((header, tail)) = rest.split_first_chunk::<ENTRY_HEADER>() else {
            return Some(Err(CodecError::Truncated(rest.len())));
        };
        let (pos, len) = header.split_at(8);
        let position = Position(u64::from_be_bytes(pos.try_into().unwrap_or_default()));
        let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
        if tail.len() < len {
            return Some(Err(CodecError::Truncated(tail.len())));
        }
        let (record, after) = tail.split_at(len);
        self.rest = after;
        Some(Ok((position, record)))
    }
}
