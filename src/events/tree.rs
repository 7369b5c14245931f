//! A projection's own ordered key-value tree in the log's database: for read models too
//! large to hold in memory and checkpoint as one file. Writes go in one [`TreeBatch`], so a
//! tree changes all at once, and they are durable with the log's next flush.

use std::ops::RangeBounds;

use super::StoreError;

/// An ordered map of byte keys to byte values that a projection keeps beside the log.
#[derive(Clone)]
pub struct ProjectionTree {
    tree: sled::Tree,
    /// Whether a batch is flushed as it is applied: a tree in a database of its own (not
    /// the log's) is not made durable by the log's flushes.
    flush_on_apply: bool,
}

/// Inserts and removals applied to a [`ProjectionTree`] at once.
#[derive(Default)]
pub struct TreeBatch(sled::Batch);

impl TreeBatch {
    /// Sets `key` to `value` when the batch is applied.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.0.insert(key.as_ref(), value.as_ref());
    }

    /// Removes `key` when the batch is applied.
    pub fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.0.remove(key.as_ref());
    }
}

impl ProjectionTree {
    /// Wraps a tree of the log's database.
    pub(crate) fn new(tree: sled::Tree) -> ProjectionTree {
        ProjectionTree {
            tree,
            flush_on_apply: false,
        }
    }

    /// Wraps a tree of a node's own database, beside a log kept elsewhere.
    pub(crate) fn local(tree: sled::Tree) -> ProjectionTree {
        ProjectionTree {
            tree,
            flush_on_apply: true,
        }
    }

    /// A tree in a throwaway database, gone when dropped: for tests of a projection's saves.
    pub fn temporary(name: &str) -> Result<ProjectionTree, StoreError> {
        let db = sled::Config::new().temporary(true).open()?;
        Ok(ProjectionTree::new(db.open_tree(name)?))
    }

    /// The value at `key`, if any.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(key.as_ref())?.map(|v| v.to_vec()))
    }

    /// Removes every key.
    pub fn clear(&self) -> Result<(), StoreError> {
        Ok(self.tree.clear()?)
    }

    /// The keys that start with `prefix`, in order.
    pub fn keys_with_prefix(
        &self,
        prefix: impl AsRef<[u8]>,
    ) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> {
        self.tree
            .scan_prefix(prefix.as_ref())
            .keys()
            .map(|k| Ok(k?.to_vec()))
    }

    /// The first key at or after `from`, if any.
    pub fn first_key_from(&self, from: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree
            .range(from..)
            .keys()
            .next()
            .transpose()?
            .map(|k| k.to_vec()))
    }

    /// The keys in `range`, in order.
    pub fn keys_in<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
    ) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> {
        self.tree.range(range).keys().map(|k| Ok(k?.to_vec()))
    }

    /// The keys and values in `range`, in key order.
    pub fn entries_in<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> {
        self.tree.range(range).map(|item| {
            let (k, v) = item?;
            Ok((k.to_vec(), v.to_vec()))
        })
    }

    /// Every key and value, in key order.
    pub fn entries(&self) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> {
        self.tree.iter().map(|item| {
            let (k, v) = item?;
            Ok((k.to_vec(), v.to_vec()))
        })
    }

    /// Applies every insert and removal of `batch` at once.
    pub fn apply(&self, batch: TreeBatch) -> Result<(), StoreError> {
        self.tree.apply_batch(batch.0)?;
        if self.flush_on_apply {
            self.tree.flush()?;
        }
        Ok(())
    }

    /// Makes every applied batch durable now (blocking).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.tree.flush()?;
        Ok(())
    }
}
