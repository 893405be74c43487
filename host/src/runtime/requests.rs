//! What a destination's plugins asked of its delivery through the WIT
//! `delivery` interface (wait before retrying, pause), kept until the
//! destination's worker acts on it. One per destination, shared by its
//! lanes: a receiver's `Retry-After` or `410 Gone` is about the receiver,
//! not about one batch.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Requests {
    /// Retries wait at least until then.
    not_before: Mutex<Option<Instant>>,
    /// Why the plugin asked to pause the destination, until the worker does.
    pause: Mutex<Option<String>>,
}

impl Requests {
    /// No retry before `wait` from now (a later ask extends it, never shortens).
    pub fn retry_after(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut not_before = lock(&self.not_before);
        *not_before = Some(not_before.map_or(until, |t| t.max(until)));
    }

    /// When a retry due at `due` may go: not before what a plugin asked,
    /// and not later than `cap` from now.
    pub fn retry_due(&self, due: Instant, now: Instant, cap: Duration) -> Instant {
        match *lock(&self.not_before) {
            Some(t) if t > due => t.min(now + cap).max(due),
            _ => due,
        }
    }

    pub fn pause(&self, reason: String) {
        *lock(&self.pause) = Some(reason);
    }

    /// The pause asked for since the last call, if any.
    pub fn take_pause(&self) -> Option<String> {
        lock(&self.pause).take()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_waits_for_the_ask_up_to_the_cap() {
        let requests = Requests::default();
        let now = Instant::now();
        let soon = now + Duration::from_millis(10);
        assert_eq!(requests.retry_due(soon, now, Duration::from_secs(60)), soon);
        requests.retry_after(Duration::from_secs(30));
        let due = requests.retry_due(soon, now, Duration::from_secs(60));
        assert!(due >= now + Duration::from_secs(30), "{:?}", due - now);
        let capped = requests.retry_due(soon, now, Duration::from_secs(5));
        assert_eq!(capped, now + Duration::from_secs(5));
        // A shorter ask does not shorten the wait.
        requests.retry_after(Duration::from_secs(1));
        assert!(
            requests.retry_due(soon, now, Duration::from_secs(60)) >= now + Duration::from_secs(30)
        );
    }
}
