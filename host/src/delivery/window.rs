//! The events a destination has read but not finished, and the choice of
//! the next batch. Ordering lives here: an event whose key has an earlier
//! event in flight or waiting for a retry is held back, while other keys
//! keep flowing.
//!
//! Only unfinished events are kept: a finished one leaves at once, so
//! events delivered behind a stuck key cost nothing. Memory is bounded in
//! bytes as well as in count: events waiting behind their key's stuck head
//! can be evicted (their record dropped, their place kept) and are read
//! from the log again when their turn comes.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::fill::{Fill, KeyPolicy};
use crate::log::EventRecord;

pub struct Pending {
    /// `None` while evicted: read again from the log before it can go.
    pub record: Option<Arc<EventRecord>>,
    pub key: Arc<str>,
    /// Stored size, for the batch and window byte limits.
    pub bytes: usize,
    /// Attempts that failed on their own account: these count against
    /// `retry.max_retries` and set the backoff. Being held back behind an
    /// earlier failed event of the same key does not count.
    pub failures: u32,
    /// Tried at least once in this process (lingering is for fresh events).
    pub tried: bool,
    /// Not before this time (for retries).
    pub due: Instant,
    /// When it was read from the log: lingering counts from here.
    pub arrived: Instant,
    /// Handed to the plugins and not settled yet.
    pub in_flight: bool,
}

/// What [`Window::select`] found: a batch to send, and evicted events that
/// could go if they were loaded again.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Sequences of the batch, in log order.
    pub batch: Vec<u64>,
    /// Sequences to read from the log again, in log order.
    pub reload: Vec<u64>,
}

/// The in-memory window: unfinished events by sequence.
#[derive(Default)]
pub struct Window {
    open: BTreeMap<u64, Pending>,
    /// The highest sequence read into the window.
    read_through: u64,
    /// Bytes of the records held in memory (evicted ones not counted).
    loaded_bytes: usize,
    /// Events past the starting cursor that were finished before this
    /// start (see [`crate::log::Resume`]): passed over when read.
    finished_ahead: BTreeSet<u64>,
}

impl Window {
    /// A window that starts reading at `cursor`.
    pub fn new(cursor: u64) -> Self {
        Self {
            read_through: cursor.saturating_sub(1),
            ..Self::default()
        }
    }

    /// A window that resumes where the log says delivery stopped.
    pub fn resume(resume: crate::log::Resume) -> Self {
        Self {
            finished_ahead: resume.finished,
            ..Self::new(resume.cursor)
        }
    }

    /// True (once) for an event finished before this start.
    pub fn finished_already(&mut self, sequence: u64) -> bool {
        self.finished_ahead.remove(&sequence)
    }

    /// Unfinished events, loaded or evicted.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn loaded_bytes(&self) -> usize {
        self.loaded_bytes
    }

    pub fn read_through(&self) -> u64 {
        self.read_through
    }

    /// Reads past an event the destination does not subscribe to: it is
    /// finished without entering the window.
    pub fn pass_over(&mut self, sequence: u64) {
        self.read_through = self.read_through.max(sequence);
    }

    pub fn push(&mut self, record: EventRecord, key: Arc<str>, bytes: usize, now: Instant) {
        self.read_through = self.read_through.max(record.sequence);
        self.loaded_bytes += bytes;
        self.open.insert(
            record.sequence,
            Pending {
                record: Some(Arc::new(record)),
                key,
                bytes,
                failures: 0,
                tried: false,
                due: now,
                arrived: now,
                in_flight: false,
            },
        );
    }

    /// The next batch: due events in log order, at most `max_events` and
    /// `max_bytes` (one oversize event still goes alone), skipping every
    /// event whose key has an earlier unfinished event that cannot go now:
    /// waiting for a retry, or in flight when `keys.one_batch_per_key`.
    /// With `keys.whole_keys` the batch takes keys in the order of their
    /// first event that can go, each with all of its events that can go.
    pub fn select(
        &self,
        now: Instant,
        max_events: usize,
        max_bytes: usize,
        keys: KeyPolicy,
    ) -> Selection {
        let mut blocked: HashSet<&str> = HashSet::new();
        let mut selection = Selection::default();
        let mut fill = Fill::new(max_events, max_bytes, keys.whole_keys);
        for (&sequence, entry) in &self.open {
            if blocked.contains(&*entry.key) {
                continue;
            }
            if entry.in_flight {
                if keys.one_batch_per_key {
                    blocked.insert(&entry.key);
                }
                continue;
            }
            if entry.due > now {
                blocked.insert(&entry.key);
                continue;
            }
            if entry.record.is_none() {
                blocked.insert(&entry.key);
                if selection.reload.len() < max_events {
                    selection.reload.push(sequence);
                }
                continue;
            }
            if !fill.offer(sequence, &entry.key, entry.bytes) {
                break;
            }
        }
        selection.batch = fill.finish();
        selection
    }

    /// How many unfinished events cannot go now: not due yet, or behind an
    /// earlier event of their key that is not due. They do not count against
    /// the window's movable capacity, so that one stuck key cannot stop the
    /// others.
    pub fn waiting(&self, now: Instant) -> usize {
        self.waiting_entries(now).count()
    }

    fn waiting_entries(&self, now: Instant) -> impl Iterator<Item = (u64, &Pending)> {
        let mut blocked: HashSet<&str> = HashSet::new();
        self.open.iter().filter_map(move |(&sequence, entry)| {
            if blocked.contains(&*entry.key) {
                return Some((sequence, entry));
            }
            // Behind an event in flight is not waiting: it goes as soon
            // as that one is settled.
            if entry.due > now && !entry.in_flight {
                blocked.insert(&entry.key);
                return Some((sequence, entry));
            }
            None
        })
    }

    /// Drops the records of waiting events, newest first, until at most
    /// `max_bytes` are loaded. A key's first unfinished event stays, so
    /// that it can go as soon as it is due. Returns how many were evicted.
    pub fn evict(&mut self, now: Instant, max_bytes: usize) -> usize {
        if self.loaded_bytes <= max_bytes {
            return 0;
        }
        let mut heads: HashSet<Arc<str>> = HashSet::new();
        let mut candidates = Vec::new();
        for (sequence, entry) in self.waiting_entries(now) {
            if entry.record.is_none() {
                continue;
            }
            // The first waiting event of a key is its head only if no
            // earlier event of the key is open; waiting_entries yields in
            // log order, so the first one seen per key is the earliest.
            if heads.insert(entry.key.clone()) && entry.due > now {
                continue;
            }
            candidates.push(sequence);
        }
        let mut evicted = 0;
        for sequence in candidates.into_iter().rev() {
            if self.loaded_bytes <= max_bytes {
                break;
            }
            let entry = self.open.get_mut(&sequence).expect("a candidate is open");
            entry.record = None;
            self.loaded_bytes -= entry.bytes;
            evicted += 1;
        }
        evicted
    }

    /// Puts records read again from the log back in their places.
    pub fn restore(&mut self, records: Vec<EventRecord>) {
        for record in records {
            if let Some(entry) = self.open.get_mut(&record.sequence)
                && entry.record.is_none()
            {
                entry.record = Some(Arc::new(record));
                self.loaded_bytes += entry.bytes;
            }
        }
    }

    pub fn get(&self, sequence: u64) -> &Pending {
        &self.open[&sequence]
    }

    pub fn get_mut(&mut self, sequence: u64) -> &mut Pending {
        self.open.get_mut(&sequence).expect("an open sequence")
    }

    /// Marks the batch as handed to the plugins.
    pub fn send(&mut self, batch: &[u64]) {
        for sequence in batch {
            let entry = self.get_mut(*sequence);
            entry.in_flight = true;
            entry.tried = true;
        }
    }

    /// Nothing more to do for the event: delivered, dead-lettered or
    /// filtered — or, read back after eviction, gone from the log (only
    /// retention deletes events, never ahead of the cursor; this keeps the
    /// window from waiting for it forever).
    pub fn finish(&mut self, sequence: u64) {
        if let Some(entry) = self.open.remove(&sequence)
            && entry.record.is_some()
        {
            self.loaded_bytes -= entry.bytes;
        }
        if self.open.is_empty() {
            // An emptied map keeps its root node (~900 bytes): 9 MiB over
            // 10,000 idle customers' destinations.
            self.open = BTreeMap::new();
        }
    }

    /// The event goes again at `due` with `failures` failures counted.
    pub fn retry(&mut self, sequence: u64, failures: u32, due: Instant) {
        let entry = self.get_mut(sequence);
        entry.in_flight = false;
        entry.failures = failures;
        entry.due = due;
    }

    /// The first unfinished sequence, or the one after everything read:
    /// every event below it is finished.
    pub fn cursor(&self) -> u64 {
        self.open
            .keys()
            .next()
            .copied()
            .unwrap_or(self.read_through + 1)
    }

    /// The earliest time a key's first unfinished event that is not in
    /// flight becomes due (later events of a key go only after it).
    pub fn next_due(&self) -> Option<Instant> {
        let mut seen: HashSet<&str> = HashSet::new();
        self.open
            .values()
            .filter(|e| seen.insert(&*e.key) && !e.in_flight)
            .map(|e| e.due)
            .min()
    }

    /// When the oldest fresh (never tried) event of `batch` arrived.
    pub fn oldest_fresh(&self, batch: &[u64]) -> Option<Instant> {
        batch
            .iter()
            .map(|s| self.get(*s))
            .filter(|e| !e.tried)
            .map(|e| e.arrived)
            .min()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;

    /// Log order, a key in one batch in flight: every sink but relaxed Kinesis.
    pub const ONE_BATCH_PER_KEY: KeyPolicy = KeyPolicy {
        one_batch_per_key: true,
        whole_keys: false,
    };

    /// Log order, a key in several batches in flight (relaxed Kinesis).
    const RELAXED: KeyPolicy = KeyPolicy {
        one_batch_per_key: false,
        whole_keys: false,
    };

    /// Whole keys, a key in one batch in flight (Kafka).
    const WHOLE_KEYS: KeyPolicy = KeyPolicy {
        one_batch_per_key: true,
        whole_keys: true,
    };

    pub(crate) fn record(sequence: u64) -> EventRecord {
        serde_json::from_value(serde_json::json!({
            "id": format!("evt_{sequence}"), "sequence": sequence, "receivedAt": "2026-05-26T14:21:09Z",
            "eventType": "t", "occurredAt": "2026-05-26T14:21:08Z", "source": "s",
            "customerExternalId": "c", "idempotencyKey": format!("k{sequence}"),
            "payload": {}, "metadata": {}
        }))
        .unwrap()
    }

    fn window(keys: &[&str], now: Instant) -> Window {
        let mut w = Window::new(1);
        for (i, key) in keys.iter().enumerate() {
            w.push(record(i as u64 + 1), Arc::from(*key), 100, now);
        }
        w
    }

    fn batch(w: &Window, now: Instant, max: usize) -> Vec<u64> {
        w.select(now, max, 1 << 20, ONE_BATCH_PER_KEY).batch
    }

    #[test]
    fn a_retrying_key_holds_back_its_later_events_only() {
        let now = Instant::now();
        let mut w = window(&["a", "b", "a", "c", "a"], now);
        assert_eq!(batch(&w, now, 10), [1, 2, 3, 4, 5]);
        w.send(&[1, 2, 3, 4, 5]);
        // Event 1 (key a) failed and waits; b and c were delivered, a's
        // later events were held back behind 1.
        w.retry(1, 1, now + Duration::from_secs(5));
        w.finish(2);
        w.finish(4);
        w.retry(3, 0, now);
        w.retry(5, 0, now);
        assert_eq!(
            batch(&w, now, 10),
            Vec::<u64>::new(),
            "a's later events wait"
        );
        assert_eq!(w.cursor(), 1, "the cursor stays at the waiting event");
        let later = now + Duration::from_secs(6);
        assert_eq!(batch(&w, later, 10), [1, 3, 5], "in log order once due");
    }

    #[test]
    fn an_event_in_flight_holds_back_its_key_and_others_go() {
        let now = Instant::now();
        let mut w = window(&["a", "b", "a", "c"], now);
        w.send(&[1, 2]);
        assert_eq!(batch(&w, now, 10), [4], "a waits for 1; b and c may go");
        assert_eq!(w.waiting(now), 0, "in flight is not waiting");
        assert_eq!(w.next_due(), Some(now), "4 is due");
    }

    #[test]
    fn without_one_batch_per_key_a_keys_later_events_go_while_it_is_in_flight() {
        let now = Instant::now();
        let mut w = window(&["a", "b", "a", "c"], now);
        w.send(&[1, 2]);
        assert_eq!(w.select(now, 10, 1 << 20, RELAXED).batch, [3, 4]);
        w.retry(1, 1, now + Duration::from_secs(5));
        assert_eq!(
            w.select(now, 10, 1 << 20, RELAXED).batch,
            [4],
            "a key waiting for a retry still holds back its later events"
        );
    }

    #[test]
    fn finished_events_leave_the_window_behind_a_stuck_head() {
        let now = Instant::now();
        let mut w = window(&["stuck"], now);
        w.send(&[1]);
        w.retry(1, 1, now + Duration::from_secs(30));
        for s in 2..=10_001 {
            w.push(record(s), Arc::from("other"), 100, now);
        }
        w.send(&(2..=10_001).collect::<Vec<_>>());
        for s in 2..=10_001 {
            w.finish(s);
        }
        assert_eq!(w.len(), 1, "only the stuck event stays");
        assert_eq!(w.loaded_bytes(), 100);
        assert_eq!(w.cursor(), 1);
        assert_eq!(w.read_through(), 10_001);
        w.finish(1);
        assert_eq!(w.cursor(), 10_002, "after everything read");
    }

    #[test]
    fn events_behind_a_waiting_key_are_counted_as_waiting() {
        let now = Instant::now();
        let mut w = window(&["k", "k", "a", "k", "b"], now);
        assert_eq!(w.waiting(now), 0);
        w.get_mut(1).due = now + Duration::from_secs(5);
        assert_eq!(w.waiting(now), 3, "k's three events wait; a and b can go");
    }

    #[test]
    fn waiting_events_are_evicted_newest_first_and_reloaded_when_due() {
        let now = Instant::now();
        let mut w = window(&["k", "k", "k", "a"], now);
        w.get_mut(1).due = now + Duration::from_secs(5);
        assert_eq!(w.evict(now, 400), 0, "within the limit");
        assert_eq!(w.evict(now, 250), 2, "3, then 2");
        assert_eq!(w.loaded_bytes(), 200);
        assert!(w.get(1).record.is_some(), "the stuck head stays");
        assert!(w.get(4).record.is_some(), "a is not waiting");
        assert_eq!(w.evict(now, 0), 0, "heads and movable events stay");
        let later = now + Duration::from_secs(6);
        let selection = w.select(later, 10, 1 << 20, ONE_BATCH_PER_KEY);
        assert_eq!(
            selection.batch,
            [1, 4],
            "k's evicted events wait for the reload"
        );
        assert_eq!(selection.reload, [2]);
        w.restore(vec![record(2), record(3)]);
        assert_eq!(w.loaded_bytes(), 400);
        assert_eq!(batch(&w, later, 10), [1, 2, 3, 4]);
    }

    #[test]
    fn limits_and_cursor() {
        let now = Instant::now();
        let mut w = window(&["a", "b", "c", "d"], now);
        assert_eq!(batch(&w, now, 2), [1, 2]);
        assert_eq!(
            w.select(now, 10, 250, ONE_BATCH_PER_KEY).batch,
            [1, 2],
            "byte limit"
        );
        assert_eq!(
            w.select(now, 10, 50, ONE_BATCH_PER_KEY).batch,
            [1],
            "one oversize event still goes alone"
        );
        for s in 1..=4 {
            w.finish(s);
        }
        assert_eq!(w.cursor(), 5);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_due(), None);
    }

    #[test]
    fn whole_keys_take_each_key_with_all_its_events_that_can_go() {
        let now = Instant::now();
        let mut w = window(&["a", "b", "a", "c", "b", "a", "c", "d"], now);
        // Log order would take 1-4 and leave a's 6th and b's 5th behind
        // their batch in flight; whole keys take a (1, 3, 6) and b (2, 5).
        let first = w.select(now, 5, 1 << 20, WHOLE_KEYS).batch;
        assert_eq!(first, [1, 2, 3, 5, 6], "in log order within the batch");
        w.send(&first);
        // The next batch holds the other keys, while a and b are in flight.
        assert_eq!(w.select(now, 5, 1 << 20, WHOLE_KEYS).batch, [4, 7, 8]);
        // A key that does not fit whole goes in part, its earliest first.
        let w = window(&["a", "a", "a", "b"], now);
        assert_eq!(w.select(now, 2, 1 << 20, WHOLE_KEYS).batch, [1, 2]);
        assert_eq!(
            w.select(now, 10, 250, WHOLE_KEYS).batch,
            [1, 2],
            "bytes too"
        );
    }

    #[test]
    fn whole_keys_keep_every_rule_of_log_order() {
        let now = Instant::now();
        let mut w = window(&["a", "b", "a", "c", "b"], now);
        w.send(&[2]);
        // b is in flight, so its later event waits; a retrying event
        // holds back its key.
        w.retry(1, 1, now + Duration::from_secs(5));
        assert_eq!(w.select(now, 10, 1 << 20, WHOLE_KEYS).batch, [4]);
        w.finish(2);
        let later = now + Duration::from_secs(6);
        assert_eq!(
            w.select(later, 10, 1 << 20, WHOLE_KEYS).batch,
            [1, 3, 4, 5],
            "the same events log order takes when nothing limits the batch"
        );
        assert_eq!(
            w.select(later, 10, 1 << 20, WHOLE_KEYS),
            w.select(later, 10, 1 << 20, ONE_BATCH_PER_KEY)
        );
        assert_eq!(
            w.select(later, 10, 50, WHOLE_KEYS).batch,
            [1],
            "one oversize event still goes alone"
        );
    }
}
