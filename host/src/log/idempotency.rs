//! The idempotency index, written late. Its keys, (source, idempotencyKey),
//! are scattered: writing each event's entry in the commit that stores the
//! event dirtied a leaf page of the index per event, most of a batch
//! commit's pages. The writer keeps the entries of recent events in memory
//! ([`RecentKeys`]) and merges them into [`IDEMPOTENCY`] in key order, many
//! at a time, in a commit of their own: entries that share a leaf share its
//! write. A crash loses only that memory; opening the log indexes the events
//! stored after the last merge again ([`index_tail`]).

use std::collections::HashMap;

use redb::WriteTransaction;

use super::error::LogError;
use super::retention::received_ms;
use super::tables::{IDEMPOTENCY, META, META_IDEMPOTENCY_INDEXED};
use super::unindexed::{MAX_HELD_EVENTS, unindexed};

/// Most bytes of scopes held before a merge (keys may be 256 characters).
const MAX_BYTES: usize = 4 << 20;

/// What the index stores for a scope: the sequence of its first event and
/// when that event was received (unix ms).
pub(crate) type Original = (u64, u64);

/// Entries not yet in [`IDEMPOTENCY`], by scope (see [`scope_key`]).
#[derive(Default)]
pub(crate) struct RecentKeys {
    entries: HashMap<Vec<u8>, Original>,
    bytes: usize,
}

impl RecentKeys {
    pub fn get(&self, scope: &[u8]) -> Option<Original> {
        self.entries.get(scope).copied()
    }

    /// Adds the entries of a committed group (a later event's entry replaces
    /// an expired one of the same scope).
    pub fn extend(&mut self, staged: HashMap<Vec<u8>, Original>) {
        for (scope, original) in staged {
            let len = scope.len();
            if self.entries.insert(scope, original).is_none() {
                self.bytes += len;
            }
        }
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= MAX_HELD_EVENTS || self.bytes >= MAX_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes every entry into the index in key order, and records that
    /// every event below `next_sequence` is indexed. The entries stay until
    /// [`RecentKeys::clear`]: the commit may still fail.
    pub fn write(&self, txn: &WriteTransaction, next_sequence: u64) -> Result<(), LogError> {
        let mut sorted: Vec<((&str, &str), Original)> = self
            .entries
            .iter()
            .map(|(scope, original)| (split(scope), *original))
            .collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut index = txn.open_table(IDEMPOTENCY)?;
        for (scope, original) in sorted {
            index.insert(scope, original)?;
        }
        txn.open_table(META)?
            .insert(META_IDEMPOTENCY_INDEXED, next_sequence)?;
        Ok(())
    }

    /// Forgets every entry after [`RecentKeys::write`] committed.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

/// Writes the map key of (source, key) into `out`: the source's length
/// first, so that no two scopes share a key.
pub(crate) fn scope_key(source: &str, key: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&(source.len() as u32).to_le_bytes());
    out.extend_from_slice(source.as_bytes());
    out.extend_from_slice(key.as_bytes());
}

/// The (source, key) of a map key made by [`scope_key`].
fn split(scope: &[u8]) -> (&str, &str) {
    let (len, rest) = scope.split_at(4);
    let len = u32::from_le_bytes(len.try_into().expect("four bytes")) as usize;
    let (source, key) = rest.split_at(len);
    let text = |bytes| std::str::from_utf8(bytes).expect("scopes are made of strings");
    (text(source), text(key))
}

/// Indexes the events stored after the last merge, which a crash left only
/// in memory. Blocking; part of opening the log.
pub(crate) fn index_tail(txn: &WriteTransaction, next_sequence: u64) -> Result<(), LogError> {
    let tail = unindexed(
        txn,
        META_IDEMPOTENCY_INDEXED,
        next_sequence,
        |sequence, keys| {
            let original = (sequence, received_ms(&keys.received_at));
            (
                keys.source.into_owned(),
                keys.idempotency_key.into_owned(),
                original,
            )
        },
    )?;
    let Some(mut tail) = tail else {
        return Ok(());
    };
    // Key order for the writes; of two events of one scope (the first one
    // expired), the later is written last and stays.
    tail.sort_unstable();
    let mut index = txn.open_table(IDEMPOTENCY)?;
    for (source, key, original) in &tail {
        index.insert((source.as_str(), key.as_str()), *original)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_do_not_run_into_each_other() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        scope_key("ab", "c", &mut a);
        scope_key("a", "bc", &mut b);
        assert_ne!(a, b);
        assert_eq!(split(&a), ("ab", "c"));
        assert_eq!(split(&b), ("a", "bc"));
        scope_key("", "ü\"k", &mut a);
        assert_eq!(split(&a), ("", "ü\"k"));
    }

    /// `n` staged entries whose scopes are `size` bytes each.
    fn staged(n: usize, size: usize) -> HashMap<Vec<u8>, Original> {
        (0..n as u64)
            .map(|i| {
                let mut scope = vec![b'k'; size - 8];
                scope.extend_from_slice(&i.to_le_bytes());
                (scope, (i, 0))
            })
            .collect()
    }

    #[test]
    fn full_by_count() {
        let mut recent = RecentKeys::default();
        recent.extend(staged(MAX_HELD_EVENTS - 1, 16));
        assert!(!recent.is_full());
        recent.extend(staged(MAX_HELD_EVENTS, 16));
        assert_eq!(recent.entries.len(), MAX_HELD_EVENTS, "a scope counts once");
        assert!(recent.is_full());
        recent.clear();
        assert!(!recent.is_full() && recent.is_empty());
    }

    #[test]
    fn full_by_bytes() {
        let mut recent = RecentKeys::default();
        recent.extend(staged(MAX_BYTES / 1024 - 1, 1024));
        assert!(!recent.is_full());
        recent.extend(staged(MAX_BYTES / 1024, 1024));
        assert!(recent.is_full());
        assert!(recent.entries.len() < MAX_HELD_EVENTS);
    }
}
