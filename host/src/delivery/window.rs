//! The events a destination has read but not finished, and the choice of
//! the next batch. Ordering lives here: an event whose key has an earlier
//! event waiting for a retry is held back, while other keys keep flowing.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use crate::log::EventRecord;

pub struct Pending {
    pub record: Arc<EventRecord>,
    pub key: String,
    /// Serialized size, for the batch byte limit.
    pub bytes: usize,
    /// Attempts made so far (numbers the attempt log).
    pub attempts: u32,
    /// Attempts that failed on their own account: these count against
    /// `retry.max_retries` and set the backoff. Being held back behind an
    /// earlier failed event of the same key does not count.
    pub failures: u32,
    /// Not before this time (for retries).
    pub due: Instant,
    /// When it was read from the log: lingering counts from here.
    pub arrived: Instant,
    /// Delivered, dead-lettered or filtered: nothing more to do.
    pub finished: bool,
}

/// The in-memory window, in log order.
pub struct Window {
    entries: VecDeque<Pending>,
    /// The highest sequence read into the window.
    read_through: u64,
}

impl Window {
    /// A window that starts reading at `cursor`.
    pub fn new(cursor: u64) -> Self {
        Self {
            entries: VecDeque::new(),
            read_through: cursor.saturating_sub(1),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn read_through(&self) -> u64 {
        self.read_through
    }

    pub fn push(&mut self, record: EventRecord, key: String, bytes: usize, now: Instant) {
        self.read_through = record.sequence;
        self.entries.push_back(Pending {
            record: Arc::new(record),
            key,
            bytes,
            attempts: 0,
            failures: 0,
            due: now,
            arrived: now,
            finished: false,
        });
    }

    /// Indices of the next batch: due events in log order, skipping every
    /// event whose key has an earlier unfinished event that is not due.
    pub fn select(&self, now: Instant, max_events: usize, max_bytes: usize) -> Vec<usize> {
        let mut blocked: HashSet<&str> = HashSet::new();
        let mut batch = Vec::new();
        let mut bytes = 0;
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.finished || blocked.contains(entry.key.as_str()) {
                continue;
            }
            if entry.due > now {
                blocked.insert(&entry.key);
                continue;
            }
            if batch.len() == max_events || (bytes + entry.bytes > max_bytes && !batch.is_empty()) {
                break;
            }
            bytes += entry.bytes;
            batch.push(index);
        }
        batch
    }

    /// How many unfinished events cannot go now: not due yet, or behind an
    /// earlier event of their key that is not due. They do not count against
    /// the window's capacity, so that one stuck key cannot stop the others.
    pub fn waiting(&self, now: Instant) -> usize {
        let mut blocked: HashSet<&str> = HashSet::new();
        let mut waiting = 0;
        for entry in self.entries.iter().filter(|e| !e.finished) {
            if blocked.contains(entry.key.as_str()) || entry.due > now {
                blocked.insert(&entry.key);
                waiting += 1;
            }
        }
        waiting
    }

    pub fn get(&self, index: usize) -> &Pending {
        &self.entries[index]
    }

    pub fn get_mut(&mut self, index: usize) -> &mut Pending {
        &mut self.entries[index]
    }

    /// Drops the finished events at the front; returns the new cursor: the
    /// first unfinished sequence, or the one after everything read.
    pub fn advance(&mut self) -> u64 {
        while self.entries.front().is_some_and(|e| e.finished) {
            self.entries.pop_front();
        }
        self.entries
            .front()
            .map_or(self.read_through + 1, |e| e.record.sequence)
    }

    /// The earliest time an unfinished event becomes due.
    pub fn next_due(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter(|e| !e.finished)
            .map(|e| e.due)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn record(sequence: u64) -> EventRecord {
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
            w.push(record(i as u64 + 1), (*key).to_owned(), 100, now);
        }
        w
    }

    #[test]
    fn a_retrying_key_holds_back_its_later_events_only() {
        let now = Instant::now();
        let mut w = window(&["a", "b", "a", "c", "a"], now);
        assert_eq!(w.select(now, 10, 1 << 20), [0, 1, 2, 3, 4]);
        // Event 0 (key a) failed and waits; everything else was delivered but 2 and 4.
        w.get_mut(0).due = now + Duration::from_secs(5);
        w.get_mut(1).finished = true;
        w.get_mut(3).finished = true;
        assert_eq!(
            w.select(now, 10, 1 << 20),
            Vec::<usize>::new(),
            "a's later events wait"
        );
        assert_eq!(w.advance(), 1, "the cursor stays at the waiting event");
        let later = now + Duration::from_secs(6);
        assert_eq!(
            w.select(later, 10, 1 << 20),
            [0, 2, 4],
            "in log order once due"
        );
    }

    #[test]
    fn events_behind_a_waiting_key_are_counted_as_waiting() {
        let now = Instant::now();
        let mut w = window(&["k", "k", "a", "k", "b"], now);
        assert_eq!(w.waiting(now), 0);
        w.get_mut(0).due = now + Duration::from_secs(5);
        assert_eq!(w.waiting(now), 3, "k's three events wait; a and b can go");
    }

    #[test]
    fn limits_and_cursor() {
        let now = Instant::now();
        let mut w = window(&["a", "b", "c", "d"], now);
        assert_eq!(w.select(now, 2, 1 << 20), [0, 1]);
        assert_eq!(w.select(now, 10, 250), [0, 1], "byte limit");
        assert_eq!(
            w.select(now, 10, 50),
            [0],
            "one oversize event still goes alone"
        );
        for i in 0..4 {
            w.get_mut(i).finished = true;
        }
        assert_eq!(w.advance(), 5);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_due(), None);
    }
}
