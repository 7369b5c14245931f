//! Tamper evidence: two hash chains over the log, and the walk that verifies them.
//!
//! Facts (kept forever) and observations (expired by retention) each form a chain. An
//! event's hash is SHA-256 over the previous hash of its chain and its whole stored
//! envelope, which also names the position of the previous event of its chain. Retention
//! only ever removes a prefix of the observation chain, so one anchor (the position and
//! hash of the last removed observation) is all verification needs across the gap.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::codec;
use super::types::Position;

/// A SHA-256 chain hash.
#[derive(Copy, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The hash that precedes the first event of a chain.
    pub const GENESIS: ChainHash = ChainHash([0u8; 32]);

    /// The hash of an event whose stored envelope is `body`, following `prev`.
    pub fn link(prev: &ChainHash, body: &[u8]) -> ChainHash {
        let mut h = Sha256::new();
        h.update(prev.0);
        h.update(body);
        ChainHash(h.finalize().into())
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(self.0))
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(self.0))
    }
}

/// The two chains of the log.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Chain {
    /// Events kept forever.
    Facts = 0,
    /// Observations (`MonitorChecked`, `HeartbeatReceived`, `HostMetricsReported`), which expire.
    Observations = 1,
}

impl Chain {
    /// Both chains, in index order.
    pub const ALL: [Chain; 2] = [Chain::Facts, Chain::Observations];

    /// The chain stored as `b`.
    pub fn from_byte(b: u8) -> Option<Chain> {
        match b {
            0 => Some(Chain::Facts),
            1 => Some(Chain::Observations),
            _ => None,
        }
    }

    /// The chain's index into per-chain arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The chain's name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Chain::Facts => "facts",
            Chain::Observations => "observations",
        }
    }
}

/// The last event of a chain: what the next event links to.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// Position of the last event, if the chain has any.
    pub position: Option<Position>,
    /// Its hash (the genesis hash for an empty chain).
    pub hash: ChainHash,
}

/// Where verification starts and where it must end, as recorded beside the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainState {
    /// The last event of each chain.
    pub heads: [ChainLink; 2],
    /// The last observation removed by retention: the observation chain restarts after it.
    pub retention_anchor: ChainLink,
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// How many retained events were checked.
    pub checked: u64,
    /// The last position checked.
    pub last_position: Position,
    /// The first problem, if any.
    pub problem: Option<VerifyProblem>,
}

impl VerifyReport {
    /// Whether every check passed.
    pub fn intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// The first position where the log is not what its chains say it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyProblem {
    /// The first bad position.
    pub position: Position,
    /// What is wrong there.
    pub reason: String,
}

/// Walks the log in position order and checks both chains, stopping at the first problem.
pub struct ChainVerifier {
    state: ChainState,
    links: [ChainLink; 2],
    walked: [bool; 2],
    checked: u64,
    last_key: Position,
    problem: Option<VerifyProblem>,
}

impl ChainVerifier {
    /// Starts a walk against the chain state recorded beside the log.
    pub fn new(state: ChainState) -> ChainVerifier {
        let links = [ChainLink::default(), state.retention_anchor];
        ChainVerifier {
            state,
            links,
            walked: [false; 2],
            checked: 0,
            last_key: Position::START,
            problem: None,
        }
    }

    fn fail(&mut self, position: Position, reason: String) -> bool {
        self.problem = Some(VerifyProblem { position, reason });
        false
    }

    /// Reports stored bytes around `key` that cannot even be split into records.
    pub fn unreadable(&mut self, key: Position, reason: String) {
        if self.problem.is_none() {
            self.fail(key, reason);
        }
    }

    /// Checks the next stored record, read at `key`; false once a problem is found.
    pub fn check(&mut self, key: Position, bytes: &[u8]) -> bool {
        if self.problem.is_some() {
            return false;
        }
        if key <= self.last_key {
            return self.fail(key, format!("key {key} is out of order"));
        }
        self.last_key = key;
        let raw = match codec::decode_raw(bytes) {
            Ok(raw) => raw,
            Err(e) => return self.fail(key, format!("record does not decode: {e}")),
        };
        if raw.position != key {
            return self.fail(
                key,
                format!(
                    "record claims position {} (events moved or swapped)",
                    raw.position
                ),
            );
        }
        let chain = raw.chain;
        let link = self.links[chain.index()];
        if raw.prev_in_chain != link.position {
            let name = chain.name();
            let walked = self.walked[chain.index()];
            return match (raw.prev_in_chain, link.position) {
                (Some(claimed), seen) if seen.is_none_or(|s| claimed > s) => self.fail(
                    claimed,
                    format!("{name} event {claimed} is missing (removed)"),
                ),
                (_, Some(seen)) if walked => self.fail(
                    seen,
                    format!("{name} event {seen} is not linked by the event after it (inserted)"),
                ),
                (claimed, _) => self.fail(
                    key,
                    format!(
                        "{name} chain link names {} but the chain restarts after {}",
                        claimed.map_or("none".to_owned(), |p| p.to_string()),
                        link.position.map_or("none".to_owned(), |p| p.to_string())
                    ),
                ),
            };
        }
        let expected = ChainHash::link(&link.hash, raw.body_bytes);
        if expected != raw.hash {
            return self.fail(
                key,
                "hash mismatch: the event's content or hash was changed".to_owned(),
            );
        }
        self.links[chain.index()] = ChainLink {
            position: Some(key),
            hash: raw.hash,
        };
        self.walked[chain.index()] = true;
        self.checked += 1;
        true
    }

    /// Ends the walk of a prefix of the log: its chains end wherever the walk left them,
    /// and that state (the heads at the last position walked) is answered with the report.
    pub fn finish_prefix(mut self) -> (ChainState, VerifyReport) {
        self.state.heads = self.links;
        let state = self.state.clone();
        (state, self.finish())
    }

    /// Ends the walk: checks that each chain ends where the log says its head is.
    pub fn finish(mut self) -> VerifyReport {
        if self.problem.is_none() {
            for chain in Chain::ALL {
                let recorded = self.state.heads[chain.index()];
                let seen = self.links[chain.index()];
                if recorded != seen {
                    let at = match (recorded.position, seen.position) {
                        (Some(r), Some(s)) if s > r => s,
                        (None, Some(s)) => s,
                        (r, _) => r.unwrap_or(Position::START),
                    };
                    self.problem = Some(VerifyProblem {
                        position: at,
                        reason: format!(
                            "{} chain should end at position {} but ends at {} (events removed from or added at the end)",
                            chain.name(),
                            recorded.position.map_or("none".to_owned(), |p| p.to_string()),
                            seen.position.map_or("none".to_owned(), |p| p.to_string())
                        ),
                    });
                    break;
                }
            }
        }
        VerifyReport {
            checked: self.checked,
            last_position: self.last_key,
            problem: self.problem,
        }
    }
}
