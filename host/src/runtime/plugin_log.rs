//! Plugins' log lines: a plugin must not be able to forge the host's log
//! lines (newlines, terminal escapes) or flood the log. Each message is
//! escaped and cut to a bounded length, and each instance may log a burst
//! of lines, then a steady rate; what is dropped is counted and said.

use std::time::Instant;

/// Most characters of one plugin log message that are kept.
const MAX_MESSAGE_CHARS: usize = 2_048;

/// Lines an instance may log at once, and per second after that.
const BURST: f64 = 100.0;
const PER_SECOND: f64 = 20.0;

/// `message` with every control character escaped (`\n`, `\u{1b}`, …), so
/// that it stays one line and cannot drive a terminal, cut to a bounded
/// length.
pub fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS));
    for (count, c) in message.chars().enumerate() {
        if count == MAX_MESSAGE_CHARS {
            out.push_str("…[cut]");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A token bucket per plugin instance.
pub struct LogBudget {
    tokens: f64,
    refilled: Instant,
    /// Lines dropped since the last one that was let through.
    dropped: u64,
}

impl Default for LogBudget {
    fn default() -> Self {
        Self {
            tokens: BURST,
            refilled: Instant::now(),
            dropped: 0,
        }
    }
}

impl LogBudget {
    /// Whether a line may be logged now; `Some(n)` when it may and `n`
    /// lines were dropped before it.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * PER_SECOND).min(BURST);
        self.refilled = now;
        if self.tokens < 1.0 {
            self.dropped += 1;
            return None;
        }
        self.tokens -= 1.0;
        Some(std::mem::take(&mut self.dropped))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_message_stays_one_inert_line() {
        let forged = "ok\n2026-01-01T00:00:00Z ERROR pushrail: forged\r\u{1b}[2J";
        let clean = sanitize(forged);
        assert!(!clean.chars().any(char::is_control), "{clean:?}");
        assert!(clean.contains("\\n2026-01-01"), "{clean}");
        assert!(sanitize(&"x".repeat(10_000)).chars().count() < 2_100);
        assert_eq!(sanitize("naïve ✓"), "naïve ✓", "printable text is kept");
    }

    #[test]
    fn a_flood_is_cut_and_counted() {
        let start = Instant::now();
        let mut budget = LogBudget::default();
        let admitted = (0..1_000).filter(|_| budget.admit(start).is_some()).count();
        assert_eq!(admitted, 100, "the burst");
        let later = start + Duration::from_secs(1);
        assert_eq!(
            budget.admit(later),
            Some(900),
            "the next line says how many were dropped"
        );
        assert_eq!(
            (0..100).filter(|_| budget.admit(later).is_some()).count(),
            19,
            "then the steady rate"
        );
    }
}
