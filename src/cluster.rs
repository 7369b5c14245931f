//! Several watchfire nodes on one shared log (PostgreSQL): each node heartbeats, and owns
//! a share of the things that run somewhere (monitors, hosts, alert rules, notification
//! channels) through leases in the shared log.
//!
//! Who should own a thing is decided by rendezvous hashing over the live nodes, so every
//! node computes the same answer from the same membership, a joining node takes about
//! its share, and a dying node's things spread over the others. Ownership itself is a
//! lease: a node starts a thing only once it holds the lease, renews every lease it holds
//! once a tick, and gives a thing up (stopping its actor first) when the hash says
//! another node should have it, so that node can take the lease. A node that dies
//! (kill -9) stops renewing: its leases expire after `cluster.lease_s` and the others
//! take them with a higher fencing token, which the log checks on every append made
//! under a lease. A node that cannot renew for a whole lease stops everything it owns
//! by itself.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::events::{LeaseBook, Membership, NodeInfo};

/// How often a node looks at membership and leases, as a share of the lease.
const TICKS_PER_LEASE: u32 = 10;

/// The file in the data directory that keeps a node's id across restarts.
const NODE_ID_FILE: &str = "node.id";

/// This node's id, kept in its data directory so a restarted node is the same node.
pub fn node_id(data_dir: &Path) -> std::io::Result<Uuid> {
    let path = data_dir.join(NODE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Uuid::parse_str(text.trim())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = Uuid::new_v4();
            let partial = data_dir.join(format!("{NODE_ID_FILE}.partial"));
            std::fs::write(&partial, id.to_string())?;
            std::fs::rename(&partial, &path)?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

/// The node among `nodes` that should own `resource`: the highest rendezvous score.
pub fn owner_of(resource: &str, nodes: &[Uuid]) -> Option<Uuid> {
    nodes
        .iter()
        .copied()
        .max_by_key(|node| (score(node, resource), *node))
}

/// A stable 64-bit hash of a node and a resource (FNV-1a, then a final mix so close
/// inputs spread): the same on every node and every run.
fn score(node: &Uuid, resource: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node.as_bytes().iter().chain(resource.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// A kind of thing nodes own: which ones exist, and how to start and stop one here.
pub trait Owned: Send + Sync + 'static {
    /// Whether `resource` names a thing of this kind.
    fn claims(&self, resource: &str) -> bool;
    /// Every thing of this kind that should run on some node, as its resource name.
    fn resources(&self) -> Vec<String>;
    /// Starts the thing here; its appends are fenced by the lease already held.
    fn start(&self, resource: &str);
    /// Stops the thing here (before its lease is given up, or after it was lost).
    fn stop(&self, resource: &str);
}

/// What this node knows of the cluster; cheap to clone, read by `/health/ready`,
/// `/metrics` and the forwarding of requests to a thing's owner.
#[derive(Clone)]
pub struct ClusterView {
    inner: Arc<RwLock<ViewState>>,
}

#[derive(Default)]
struct ViewState {
    node: Uuid,
    addr: String,
    nodes: Vec<NodeInfo>,
    owners: HashMap<String, Uuid>,
    owned: usize,
}

impl ClusterView {
    /// This node's id.
    pub fn node(&self) -> Uuid {
        self.inner.read().map(|v| v.node).unwrap_or_default()
    }

    /// The live nodes, as of the last heartbeat.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.inner
            .read()
            .map(|v| v.nodes.clone())
            .unwrap_or_default()
    }

    /// How many things this node owns.
    pub fn owned(&self) -> usize {
        self.inner.read().map_or(0, |v| v.owned)
    }

    /// The live node that serves `resource` and its address, if it is another node: the
    /// holder of its lease, or, for a thing no node holds yet (a host's first push), the
    /// node it hashes to.
    pub fn elsewhere(&self, resource: &str) -> Option<(Uuid, String)> {
        let v = self.inner.read().ok()?;
        let live: Vec<Uuid> = v.nodes.iter().map(|n| n.id).collect();
        let owner = match v.owners.get(resource) {
            Some(owner) if live.contains(owner) => *owner,
            _ => owner_of(resource, &live)?,
        };
        if owner == v.node {
            return None;
        }
        let node = v.nodes.iter().find(|n| n.id == owner)?;
        Some((owner, node.addr.clone()))
    }

    /// How many leases each node holds.
    pub fn owned_by_node(&self) -> HashMap<Uuid, usize> {
        self.owned_by_node_with_prefix("")
    }

    /// How many leases on resources starting with `prefix` each node holds.
    pub fn owned_by_node_with_prefix(&self, prefix: &str) -> HashMap<Uuid, usize> {
        let mut counts = HashMap::new();
        if let Ok(v) = self.inner.read() {
            for (resource, owner) in &v.owners {
                if resource.starts_with(prefix) {
                    *counts.entry(*owner).or_insert(0) += 1;
                }
            }
        }
        counts
    }

    /// The live node that holds `resource`'s lease, this one included.
    pub fn owner(&self, resource: &str) -> Option<Uuid> {
        self.inner.read().ok()?.owners.get(resource).copied()
    }

    /// This node's advertised address.
    pub fn addr(&self) -> String {
        self.inner
            .read()
            .map(|v| v.addr.clone())
            .unwrap_or_default()
    }
}

/// A node's part in a cluster: its id, address and the loop that keeps its leases.
pub struct Node {
    id: Uuid,
    addr: String,
    started: DateTime<Utc>,
    lease: Duration,
    membership: Arc<dyn Membership>,
    book: Arc<LeaseBook>,
    kinds: Vec<Arc<dyn Owned>>,
    view: ClusterView,
    /// Held things no kind listed at the last round: given up only when a second round
    /// still does not list them (a host registered here a moment ago may not be in the
    /// read model yet).
    unlisted: std::sync::Mutex<HashSet<String>>,
}

impl Node {
    /// A node `id` serving at `addr`, holding leases of `lease` in `membership`, recorded
    /// in `book` (the log's, so fenced appends find their tokens).
    pub fn new(
        id: Uuid,
        addr: String,
        lease: Duration,
        membership: Arc<dyn Membership>,
        book: Arc<LeaseBook>,
    ) -> Node {
        let view = ClusterView {
            inner: Arc::new(RwLock::new(ViewState {
                node: id,
                addr: addr.clone(),
                ..ViewState::default()
            })),
        };
        Node {
            id,
            addr,
            started: Utc::now(),
            lease,
            membership,
            book,
            kinds: Vec::new(),
            view,
            unlisted: std::sync::Mutex::new(HashSet::new()),
        }
    }

    /// Adds a kind of thing this node may own.
    pub fn owns(&mut self, kind: Arc<dyn Owned>) {
        self.kinds.push(kind);
    }

    /// What this node knows of the cluster.
    pub fn view(&self) -> ClusterView {
        self.view.clone()
    }

    /// Joins the cluster (one heartbeat, so the others see this node before it owns
    /// anything), then keeps its leases until `stop` resolves; leaves the cluster,
    /// stopping and giving up everything it owns.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let tick = self.lease / TICKS_PER_LEASE;
        let mut last_renewed = Instant::now();
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = &mut stop => break,
            }
            match self.step().await {
                Ok(()) => last_renewed = Instant::now(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot keep this node's leases");
                    if last_renewed.elapsed() >= self.lease {
                        // The leases may have expired and been taken: stop before anyone
                        // else's actor and ours run the same thing.
                        self.stop_all("leases not renewed for a whole lease");
                    }
                }
            }
        }
        self.stop_all("the node is stopping");
        if let Err(e) = self.membership.leave(self.id).await {
            tracing::warn!(error = %e, "cannot leave the cluster cleanly; its leases will expire");
        }
    }

    fn kind_of(&self, resource: &str) -> Option<&Arc<dyn Owned>> {
        self.kinds.iter().find(|k| k.claims(resource))
    }

    fn stop_all(&self, why: &str) {
        let held = self.book.held();
        if !held.is_empty() {
            tracing::warn!(
                owned = held.len(),
                why,
                "stopping everything this node owns"
            );
        }
        for resource in held {
            self.book.forget(&resource);
            if let Some(kind) = self.kind_of(&resource) {
                kind.stop(&resource);
            }
        }
        self.publish(None, None);
    }

    /// One round: heartbeat, give up what belongs elsewhere, take what belongs here,
    /// renew the rest, and learn who owns what.
    async fn step(&self) -> Result<(), crate::events::StoreError> {
        let nodes = self
            .membership
            .heartbeat(self.id, self.addr.clone(), self.started, self.lease)
            .await?;
        let live: Vec<Uuid> = nodes.iter().map(|n| n.id).collect();
        let mut listed: HashSet<String> = HashSet::new();
        for kind in &self.kinds {
            listed.extend(kind.resources());
        }
        let mut wanted: HashSet<String> = listed
            .iter()
            .filter(|r| owner_of(r, &live) == Some(self.id))
            .cloned()
            .collect();
        let held: HashSet<String> = self.book.held().into_iter().collect();
        if let Ok(mut unlisted) = self.unlisted.lock() {
            let now: HashSet<String> = held.difference(&listed).cloned().collect();
            for resource in &now {
                if !unlisted.contains(resource) && owner_of(resource, &live) == Some(self.id) {
                    wanted.insert(resource.clone());
                }
            }
            *unlisted = now;
        }
        let leaving: Vec<String> = held.difference(&wanted).cloned().collect();
        for resource in &leaving {
            // Stop first: the actor must be gone before another node can take the lease.
            self.book.forget(resource);
            if let Some(kind) = self.kind_of(resource) {
                kind.stop(resource);
            }
        }
        if !leaving.is_empty() {
            self.membership.release(self.id, leaving).await?;
        }
        let renewed = self.membership.renew(self.id, self.lease).await?;
        let renewed: HashMap<String, u64> = renewed.into_iter().collect();
        for resource in held.intersection(&wanted) {
            match renewed.get(resource) {
                Some(token) if self.book.token(resource) == Some(*token) => {}
                _ => {
                    // Taken over while this node was not looking (paused, cut off).
                    tracing::warn!(resource, "lost a lease to another node");
                    self.book.forget(resource);
                    if let Some(kind) = self.kind_of(resource) {
                        kind.stop(resource);
                    }
                }
            }
        }
        let missing: Vec<String> = wanted
            .iter()
            .filter(|r| self.book.token(r).is_none())
            .cloned()
            .collect();
        if !missing.is_empty() {
            let granted = self
                .membership
                .acquire(self.id, missing, self.lease)
                .await?;
            let mut starts = Vec::with_capacity(granted.len());
            for (resource, token) in granted {
                self.book.hold(&resource, token);
                if let Some(kind) = self.kind_of(&resource) {
                    starts.push((kind.clone(), resource));
                }
            }
            // Starting a thing reads its stream from the log: off the async threads.
            let started = tokio::task::spawn_blocking(move || {
                for (kind, resource) in starts {
                    kind.start(&resource);
                }
            })
            .await;
            if let Err(e) = started {
                tracing::warn!(error = %e, "starting what this node took over failed");
            }
        }
        let owners = self.membership.owners().await?;
        self.publish(Some(nodes), Some(owners.into_iter().collect()));
        Ok(())
    }

    fn publish(&self, nodes: Option<Vec<NodeInfo>>, owners: Option<HashMap<String, Uuid>>) {
        if let Ok(mut v) = self.view.inner.write() {
            if let Some(nodes) = nodes {
                v.nodes = nodes;
            }
            if let Some(owners) = owners {
                v.owners = owners;
            }
            v.owned = self.book.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<Uuid> {
        (0..n)
            .map(|i| Uuid::from_u128(0x1000 + i as u128))
            .collect()
    }

    #[test]
    fn every_node_computes_the_same_owner_whatever_the_order_it_lists_them_in() {
        let mut listed = nodes(3);
        let first = owner_of("monitor-a", &listed);
        listed.reverse();
        assert_eq!(owner_of("monitor-a", &listed), first);
        assert_eq!(owner_of("monitor-a", &[]), None);
    }

    #[test]
    fn ownership_spreads_evenly_over_three_nodes() {
        let live = nodes(3);
        let mut counts: HashMap<Uuid, usize> = HashMap::new();
        for i in 0..3000 {
            let resource = format!("monitor-{}", Uuid::from_u128(i));
            *counts
                .entry(owner_of(&resource, &live).expect("three live nodes"))
                .or_default() += 1;
        }
        assert_eq!(counts.len(), 3);
        for (_, n) in counts {
            assert!((800..=1200).contains(&n), "a node owns {n} of 3000");
        }
    }

    #[test]
    fn a_dying_node_moves_only_its_own_things_and_a_joining_node_takes_about_its_share() {
        let three = nodes(3);
        let two = &three[..2];
        let four = nodes(4);
        let (mut moved_on_death, mut moved_on_join) = (0, 0);
        for i in 0..3000 {
            let resource = format!("monitor-{}", Uuid::from_u128(i));
            let before = owner_of(&resource, &three).expect("three live nodes");
            let after = owner_of(&resource, two).expect("two live nodes");
            if before != after {
                assert_eq!(before, three[2], "only the dead node's things move");
                moved_on_death += 1;
            }
            let joined = owner_of(&resource, &four).expect("four live nodes");
            if joined != before {
                assert_eq!(joined, four[3], "things move only to the new node");
                moved_on_join += 1;
            }
        }
        assert!((800..=1200).contains(&moved_on_death));
        assert!((550..=950).contains(&moved_on_join));
    }

    #[test]
    fn a_node_keeps_its_id_across_restarts() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let first = node_id(dir.path()).expect("a new id is kept");
        assert_eq!(node_id(dir.path()).expect("the id reads back"), first);
    }
}
