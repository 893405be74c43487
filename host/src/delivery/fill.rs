//! How a batch is filled from the events the window finds can go: in log
//! order, or by whole keys (docs/delivery.md says when and why).

use std::collections::HashMap;

use crate::config::DestinationConfig;

/// How a destination's batches treat keys ([`KeyPolicy::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// A key rides in at most one batch in flight.
    pub one_batch_per_key: bool,
    /// A batch takes whole keys (all of a key's events that can go) rather
    /// than events in log order: with a key in one batch in flight, a key
    /// moves one batch per acknowledgement, so a batch that holds fewer keys,
    /// each with more of its events, leaves the other keys to the next
    /// batches in flight instead of blocking them.
    pub whole_keys: bool,
}

impl KeyPolicy {
    /// The policy a destination's config asks for.
    pub fn of(config: &DestinationConfig) -> Self {
        Self {
            one_batch_per_key: config.one_batch_per_key(),
            whole_keys: config.whole_keys(),
        }
    }
}

/// Builds a batch from the events [`Window::select`] finds can go, in log
/// order: either taking them as they come, or gathering them by key.
pub(super) struct Fill<'a> {
    max_events: usize,
    max_bytes: usize,
    /// The batch so far: sequences with their sizes.
    taken: Vec<(u64, usize)>,
    bytes: usize,
    /// Whole keys: the events that can go, gathered by key.
    by_key: Option<ByKey<'a>>,
}

/// Events (sequence, bytes) by key, keys in the order of their first event.
#[derive(Default)]
struct ByKey<'a> {
    keys: Vec<&'a str>,
    events: HashMap<&'a str, Vec<(u64, usize)>>,
}

impl<'a> Fill<'a> {
    pub(super) fn new(max_events: usize, max_bytes: usize, whole_keys: bool) -> Self {
        Self {
            max_events,
            max_bytes,
            taken: Vec::new(),
            bytes: 0,
            by_key: whole_keys.then(Default::default),
        }
    }

    /// Takes one event that can go; false when the batch is full and
    /// looking further is pointless.
    pub(super) fn offer(&mut self, sequence: u64, key: &'a str, bytes: usize) -> bool {
        if let Some(by_key) = &mut self.by_key {
            by_key
                .events
                .entry(key)
                .or_insert_with(|| {
                    by_key.keys.push(key);
                    Vec::new()
                })
                .push((sequence, bytes));
            return true;
        }
        self.take(sequence, bytes)
    }

    /// Adds one event to the batch unless it is full.
    fn take(&mut self, sequence: u64, bytes: usize) -> bool {
        if self.taken.len() == self.max_events
            || (self.bytes + bytes > self.max_bytes && !self.taken.is_empty())
        {
            return false;
        }
        self.bytes += bytes;
        self.taken.push((sequence, bytes));
        true
    }

    /// The batch's sequences, in log order.
    pub(super) fn finish(mut self) -> Vec<u64> {
        if let Some(mut by_key) = self.by_key.take() {
            'keys: for key in by_key.keys {
                for (sequence, bytes) in by_key.events.remove(key).unwrap_or_default() {
                    if !self.take(sequence, bytes) {
                        break 'keys;
                    }
                }
            }
            self.taken.sort_unstable();
        }
        self.taken
            .into_iter()
            .map(|(sequence, _)| sequence)
            .collect()
    }
}
