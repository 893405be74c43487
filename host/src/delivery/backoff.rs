//! How long to wait before the next attempt of a retryable failure.

use std::time::Duration;

use crate::config::{Backoff, RetryConfig};

/// The wait before retry number `retry` (1 for the first retry): constant,
/// linear or exponential from `initial_wait`, capped at `max_wait`. With
/// jitter the wait is drawn from its upper half, so that many workers
/// retrying at once spread out while the configured shape still holds.
pub fn wait(policy: &RetryConfig, retry: u32) -> Duration {
    let retry = retry.max(1);
    let base = match policy.backoff {
        Backoff::Constant => policy.initial_wait,
        Backoff::Linear => policy.initial_wait.saturating_mul(retry),
        Backoff::Exponential => {
            let factor = 2u32.checked_pow(retry - 1).unwrap_or(u32::MAX);
            policy.initial_wait.saturating_mul(factor)
        }
    };
    let capped = base.min(policy.max_wait);
    if policy.jitter && !capped.is_zero() {
        let half = capped / 2;
        half + capped.mul_f64(rand::random::<f64>() * 0.5)
    } else {
        capped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(backoff: Backoff, jitter: bool) -> RetryConfig {
        RetryConfig {
            max_retries: 10,
            initial_wait: Duration::from_millis(100),
            max_wait: Duration::from_millis(1000),
            backoff,
            jitter,
        }
    }

    #[test]
    fn shapes_and_cap() {
        let ms = |p: &RetryConfig, n| wait(p, n).as_millis();
        let constant = policy(Backoff::Constant, false);
        assert_eq!([ms(&constant, 1), ms(&constant, 5)], [100, 100]);
        let linear = policy(Backoff::Linear, false);
        assert_eq!(
            [ms(&linear, 1), ms(&linear, 3), ms(&linear, 50)],
            [100, 300, 1000]
        );
        let exponential = policy(Backoff::Exponential, false);
        assert_eq!(
            [
                ms(&exponential, 1),
                ms(&exponential, 2),
                ms(&exponential, 4),
                ms(&exponential, 40)
            ],
            [100, 200, 800, 1000]
        );
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let p = policy(Backoff::Exponential, true);
        for retry in 1..8 {
            let expected = wait(&policy(Backoff::Exponential, false), retry);
            let got = wait(&p, retry);
            assert!(
                got >= expected / 2 && got <= expected,
                "retry {retry}: {got:?} vs {expected:?}"
            );
        }
    }
}
