//! The worker's decisions, as pure functions of its state: how much to
//! read from the log, what to send, and when to look again. Kept apart
//! from the loop that carries them out so that they can be tested like
//! [`Window`] is.

use std::time::{Duration, Instant};

use super::fill::KeyPolicy;
use super::window::Window;
use crate::config::BatchConfig;

/// Batches' worth of events that may be read ahead of delivery (events
/// waiting behind a stuck key do not count).
const AHEAD_BATCHES: usize = 4;

/// Most unfinished events in memory per destination, evicted ones included
/// (an evicted event costs about 100 bytes): how far other keys may run
/// ahead of a stuck one.
pub const MAX_OPEN_EVENTS: usize = 100_000;

/// Most bytes of event records in memory per destination; past it, events
/// waiting behind a stuck key are evicted and read again when due.
pub const MAX_LOADED_BYTES: usize = 32 << 20;

/// Most events one log read brings into the window.
const READ_CHUNK: usize = 5_000;

/// How much one destination's window may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Events that can go now (not waiting behind a stuck key).
    pub movable_events: usize,
    /// Records in memory, waiting ones included.
    pub loaded_bytes: usize,
    /// Unfinished events, evicted ones included.
    pub open_events: usize,
    /// Most events one read brings in.
    pub read_chunk: usize,
}

impl Limits {
    pub fn for_batch(batch: &BatchConfig) -> Self {
        // The batches in flight and the read-ahead behind them.
        let batches = batch.in_flight + AHEAD_BATCHES;
        Self {
            movable_events: batch.max_events * batches,
            // Room for the read-ahead even when batches are large.
            loaded_bytes: MAX_LOADED_BYTES.max(batch.max_bytes * (batches + 1)),
            open_events: MAX_OPEN_EVENTS,
            read_chunk: batch.max_events.max(READ_CHUNK),
        }
    }
}

/// How much one log read may bring in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub events: usize,
    pub bytes: usize,
}

impl Room {
    pub fn is_empty(&self) -> bool {
        self.events == 0 || self.bytes == 0
    }
}

/// How much more the window may read now.
pub fn room(window: &Window, limits: &Limits, now: Instant) -> Room {
    let movable = window.len() - window.waiting(now);
    Room {
        events: limits
            .movable_events
            .saturating_sub(movable)
            .min(limits.open_events.saturating_sub(window.len()))
            .min(limits.read_chunk),
        bytes: limits.loaded_bytes.saturating_sub(window.loaded_bytes()),
    }
}

/// What the worker does next with live traffic.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Hand this batch (sequences in log order) to the plugins now.
    Send(Vec<u64>),
    /// Nothing to send yet: look again at this time (`None`: when
    /// something changes), and read these evicted events back first.
    Wait {
        until: Option<Instant>,
        reload: Vec<u64>,
    },
}

/// Whether a partial batch may wait for more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linger {
    /// The log has nothing more: a partial batch waits up to `batch.linger`.
    CaughtUp,
    /// More is in the log, or plugin instances are scarce over all
    /// destinations (this one waited its turn for them, and events gathered
    /// meanwhile): a partial batch goes now rather than holding its events
    /// and its turn for more.
    No,
}

impl Linger {
    pub fn when(caught_up: bool, instances_scarce: bool) -> Self {
        if caught_up && !instances_scarce {
            Self::CaughtUp
        } else {
            Self::No
        }
    }
}

/// The next step: a full batch goes at once, a partial one only when it
/// may linger (see [`Linger`]) and its oldest fresh event lingered long enough.
pub fn next_step(
    window: &Window,
    batch: &BatchConfig,
    keys: KeyPolicy,
    linger: Linger,
    now: Instant,
) -> Step {
    let selection = window.select(now, batch.max_events, batch.max_bytes, keys);
    if !selection.reload.is_empty() {
        return Step::Wait {
            until: Some(now),
            reload: selection.reload,
        };
    }
    if selection.batch.is_empty() {
        return Step::Wait {
            until: window.next_due(),
            reload: Vec::new(),
        };
    }
    let linger_until = (selection.batch.len() < batch.max_events && linger == Linger::CaughtUp)
        .then(|| window.oldest_fresh(&selection.batch))
        .flatten()
        .map(|arrived| arrived + batch.linger)
        .filter(|deadline| *deadline > now);
    match linger_until {
        Some(until) => Step::Wait {
            until: Some(until),
            reload: Vec::new(),
        },
        None => Step::Send(selection.batch),
    }
}

/// How long a failed log read or write waits before it is tried again.
pub const STORAGE_RETRY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::delivery::window::tests::{ONE_BATCH_PER_KEY, record};

    fn batch(max_events: usize) -> BatchConfig {
        BatchConfig {
            max_events,
            max_bytes: 5 << 20,
            linger: Duration::from_millis(100),
            in_flight: 1,
        }
    }

    fn push(w: &mut Window, from: u64, to: u64, key: &str, now: Instant) {
        for s in from..=to {
            w.push(record(s), Arc::from(key), 1000, now);
        }
    }

    #[test]
    fn a_stuck_key_never_uses_up_the_room_of_the_others() {
        let now = Instant::now();
        let limits = Limits::for_batch(&batch(500));
        let mut w = Window::new(1);
        push(&mut w, 1, 1, "stuck", now);
        w.send(&[1]);
        w.retry(1, 1, now + Duration::from_secs(30));
        // Round after round of other keys' events are read and delivered.
        let mut next = 2;
        for _ in 0..50 {
            let room = room(&w, &limits, now);
            assert!(room.events >= 500, "room for a batch: {room:?}");
            push(&mut w, next, next + 499, "other", now);
            let Step::Send(sent) = next_step(&w, &batch(500), ONE_BATCH_PER_KEY, Linger::No, now)
            else {
                panic!("a full batch of other keys goes at once");
            };
            assert_eq!(sent.len(), 500);
            w.send(&sent);
            for s in sent {
                w.finish(s);
            }
            next += 500;
        }
        assert_eq!(w.cursor(), 1, "the stuck event holds the cursor");
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn the_stuck_keys_own_events_are_bounded() {
        let now = Instant::now();
        let limits = Limits {
            open_events: 1_000,
            ..Limits::for_batch(&batch(500))
        };
        let mut w = Window::new(1);
        push(&mut w, 1, 1, "stuck", now);
        w.send(&[1]);
        w.retry(1, 1, now + Duration::from_secs(30));
        push(&mut w, 2, 1_000, "stuck", now);
        assert_eq!(room(&w, &limits, now).events, 0, "the count bound holds");
        let tight = Limits {
            loaded_bytes: 10_000,
            ..limits
        };
        assert_eq!(room(&w, &tight, now).bytes, 0, "the byte bound holds");
        assert_eq!(w.evict(now, tight.loaded_bytes), 990);
        assert_eq!(room(&w, &tight, now).bytes, 0);
        assert_eq!(w.loaded_bytes(), 10_000);
    }

    #[test]
    fn a_partial_batch_lingers_only_when_caught_up() {
        let now = Instant::now();
        let mut w = Window::new(1);
        push(&mut w, 1, 3, "a", now);
        assert_eq!(
            next_step(&w, &batch(500), ONE_BATCH_PER_KEY, Linger::CaughtUp, now),
            Step::Wait {
                until: Some(now + Duration::from_millis(100)),
                reload: vec![]
            }
        );
        assert_eq!(
            next_step(&w, &batch(500), ONE_BATCH_PER_KEY, Linger::No, now),
            Step::Send(vec![1, 2, 3]),
            "more is in the log: no point waiting"
        );
        let later = now + Duration::from_millis(100);
        assert_eq!(
            next_step(&w, &batch(500), ONE_BATCH_PER_KEY, Linger::CaughtUp, later),
            Step::Send(vec![1, 2, 3])
        );
        assert_eq!(
            next_step(&w, &batch(3), ONE_BATCH_PER_KEY, Linger::CaughtUp, now),
            Step::Send(vec![1, 2, 3]),
            "a full batch goes at once"
        );
        assert_eq!(
            next_step(
                &w,
                &batch(500),
                ONE_BATCH_PER_KEY,
                Linger::when(true, true),
                now
            ),
            Step::Send(vec![1, 2, 3]),
            "instances are scarce: what was read goes now"
        );
    }

    #[test]
    fn nothing_due_waits_for_the_earliest_retry() {
        let now = Instant::now();
        let mut w = Window::new(1);
        push(&mut w, 1, 2, "a", now);
        w.send(&[1, 2]);
        w.retry(1, 1, now + Duration::from_secs(2));
        w.retry(2, 0, now);
        assert_eq!(
            next_step(&w, &batch(500), ONE_BATCH_PER_KEY, Linger::CaughtUp, now),
            Step::Wait {
                until: Some(now + Duration::from_secs(2)),
                reload: vec![]
            },
            "2 is due but held behind 1; the worker looks again when 1 is due"
        );
    }
}
