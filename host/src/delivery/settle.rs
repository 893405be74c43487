//! Settling a batch: the plugins' verdicts on its events become one
//! progress record (an attempt per event, dead letters, DLQ removals) and
//! say what happens next to each event. Live delivery, redrive and replay
//! differ only in what a failure means, which [`Run`] says.
//!
//! Attempt numbers are not chosen here: the log numbers each attempt when
//! it writes it (the next free number of that event at that destination),
//! so every attempt ever made has its own record, across restarts,
//! redrives and replays.

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use serde_json::value::RawValue;

use super::failure::Failure;
use super::status::LastError;
use crate::failure_codes;
use crate::log::{
    AttemptOutcome, AttemptRecord, DeadLetter, DeliveryProgress, EventRecord, format_time,
};
use crate::runtime::Outcome;

/// The verdict on one log event after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered(BTreeMap<String, String>),
    Filtered,
    Retryable(Failure),
    Permanent(Failure),
}

impl Verdict {
    pub fn no_outcome() -> Self {
        Verdict::Retryable(Failure::new(
            failure_codes::NO_OUTCOME,
            "the plugin returned no outcome for this event",
        ))
    }
}

/// Whose batch is settled.
#[derive(Debug, Clone, Copy)]
pub enum Run<'a> {
    /// Live delivery from the cursor: a retryable failure is retried up to
    /// `max_retries` times, then the event is dead-lettered.
    Live { max_retries: u32 },
    /// Dead letters delivered again: delivered ones leave the DLQ, the
    /// others stay with the new error.
    Redrive,
    /// A replay: retries stop the chunk at the first retryable failure
    /// while `retries_left`; failures never reach the DLQ.
    Replay { id: &'a str, retries_left: bool },
}

/// One event of the batch.
pub struct Item<'a> {
    pub record: &'a EventRecord,
    pub key: &'a str,
    /// Failures counted so far (live delivery).
    pub failures: u32,
}

/// What happens next to an event after settling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Finished: delivered, filtered, dead-lettered or failed for good.
    Done,
    /// Goes again. `held_back`: it did not fail on its own account, an
    /// earlier event of its key did, so it goes right after that one.
    Retry { failures: u32, held_back: bool },
    /// A replay stopped at an earlier event: not attempted, not recorded.
    NotReached,
}

/// The settled batch.
pub struct Settled {
    pub progress: DeliveryProgress,
    /// One per item, in batch order.
    pub next: Vec<Next>,
    /// Seconds from receipt to delivery of each delivered event.
    pub latencies: Vec<f64>,
    /// The batch's most recent failure, for the destination's status.
    pub last_error: Option<LastError>,
}

/// When and by what the batch was attempted.
pub struct Attempted<'a> {
    pub destination: &'a str,
    pub started_at: &'a str,
    pub duration_ms: u64,
    pub plugins: &'a [String],
}

/// Settles `items` (in log order) with their verdicts.
pub fn settle(
    run: Run<'_>,
    attempted: &Attempted<'_>,
    items: &[Item<'_>],
    verdicts: Vec<Option<Verdict>>,
) -> Settled {
    let mut settled = Settled {
        progress: DeliveryProgress {
            destination: attempted.destination.to_owned(),
            ..DeliveryProgress::default()
        },
        next: Vec::with_capacity(items.len()),
        latencies: Vec::new(),
        last_error: None,
    };
    // The first retryable failure of a key counts against its retries;
    // later events of that key in this batch were held back behind it.
    let mut failed_keys: HashSet<&str> = HashSet::new();
    let mut stopped = false;
    for (item, verdict) in items.iter().zip(verdicts) {
        if stopped {
            settled.next.push(Next::NotReached);
            continue;
        }
        let record = item.record;
        let verdict = verdict.unwrap_or_else(Verdict::no_outcome);
        let held_back = failed_keys.contains(item.key);
        let mut attempt = new_attempt(attempted, record);
        let next = match verdict {
            Verdict::Delivered(coordinates) => {
                if held_back {
                    tracing::warn!(destination = %attempted.destination, sequence = record.sequence, "the plugin delivered an event after an earlier one of its key failed; order may be broken");
                }
                attempt.coordinates = coordinates;
                if let Some(latency) = since(&record.received_at) {
                    settled.latencies.push(latency);
                }
                if matches!(run, Run::Redrive) {
                    settled.progress.leave_dlq.push(record.sequence);
                }
                Next::Done
            }
            Verdict::Filtered => {
                attempt.outcome = AttemptOutcome::Filtered;
                if matches!(run, Run::Redrive) {
                    settled.progress.leave_dlq.push(record.sequence);
                }
                Next::Done
            }
            Verdict::Retryable(failure) => {
                match run {
                    Run::Live { .. } if held_back => {
                        fail(&mut attempt, AttemptOutcome::Retryable, &failure);
                        Next::Retry {
                            failures: item.failures,
                            held_back: true,
                        }
                    }
                    Run::Live { max_retries } if item.failures < max_retries => {
                        failed_keys.insert(item.key);
                        fail(&mut attempt, AttemptOutcome::Retryable, &failure);
                        settled.last_error = Some(last_error(&failure, attempted, record));
                        Next::Retry {
                            failures: item.failures + 1,
                            held_back: false,
                        }
                    }
                    Run::Live { .. } => {
                        // Its later events in this call were still held back
                        // behind this last failure.
                        failed_keys.insert(item.key);
                        let failure = failure.gave_up(item.failures + 1);
                        dead(&mut settled, attempted, record, &mut attempt, failure)
                    }
                    Run::Redrive => dead(&mut settled, attempted, record, &mut attempt, failure),
                    Run::Replay {
                        retries_left: true, ..
                    } => {
                        fail(&mut attempt, AttemptOutcome::Retryable, &failure);
                        settled.last_error = Some(last_error(&failure, attempted, record));
                        stopped = true;
                        Next::Retry {
                            failures: 0,
                            held_back: false,
                        }
                    }
                    Run::Replay { .. } => {
                        fail(&mut attempt, AttemptOutcome::Failed, &failure);
                        settled.last_error = Some(last_error(&failure, attempted, record));
                        Next::Done
                    }
                }
            }
            Verdict::Permanent(failure) => {
                if let Run::Replay { .. } = run {
                    fail(&mut attempt, AttemptOutcome::Failed, &failure);
                    settled.last_error = Some(last_error(&failure, attempted, record));
                    Next::Done
                } else {
                    dead(&mut settled, attempted, record, &mut attempt, failure)
                }
            }
        };
        if let Run::Replay { id, .. } = run {
            attempt.replay = Some(id.to_owned());
        }
        settled.progress.attempts.push(attempt);
        settled.next.push(next);
    }
    settled
}

/// The status's last error for `failure` of `record`.
fn last_error(failure: &Failure, attempted: &Attempted<'_>, record: &EventRecord) -> LastError {
    LastError {
        failure: failure.clone(),
        event_id: record.id.clone(),
        at: attempted.started_at.to_owned(),
    }
}

/// Records `failure` as the event's dead letter.
fn dead(
    settled: &mut Settled,
    attempted: &Attempted<'_>,
    record: &EventRecord,
    attempt: &mut AttemptRecord,
    failure: Failure,
) -> Next {
    fail(attempt, AttemptOutcome::DeadLettered, &failure);
    settled.last_error = Some(last_error(&failure, attempted, record));
    settled.progress.dead_letters.push(DeadLetter {
        destination: attempted.destination.to_owned(),
        sequence: record.sequence,
        event_id: record.id.clone(),
        error_code: failure.code,
        error_message: failure.message,
        // The log sets it to the number of this attempt.
        attempts: 0,
        dead_lettered_at: format_time(SystemTime::now()),
        event: raw_record(record),
    });
    Next::Done
}

/// An attempt record, `delivered` until the verdict says otherwise; its
/// number is given by the log when written.
fn new_attempt(attempted: &Attempted<'_>, record: &EventRecord) -> AttemptRecord {
    AttemptRecord {
        destination: attempted.destination.to_owned(),
        event_id: record.id.clone(),
        sequence: record.sequence,
        attempt: 0,
        started_at: attempted.started_at.to_owned(),
        duration_ms: attempted.duration_ms,
        outcome: AttemptOutcome::Delivered,
        error_code: None,
        error_message: None,
        coordinates: BTreeMap::new(),
        plugins: attempted.plugins.to_vec(),
        replay: None,
    }
}

/// Marks `attempt` as failed with `outcome` and `failure`.
fn fail(attempt: &mut AttemptRecord, outcome: AttemptOutcome, failure: &Failure) {
    attempt.outcome = outcome;
    attempt.error_code = Some(failure.code.clone());
    attempt.error_message = Some(failure.message.clone());
}

/// Folds one plugin outcome into the verdict of its log event: a split
/// event is delivered only when every part is; any permanent failure wins.
pub fn merge(verdict: &mut Option<Verdict>, outcome: Outcome) {
    let incoming = match outcome {
        Outcome::Delivered(coordinates) => Verdict::Delivered(coordinates.into_iter().collect()),
        Outcome::Retryable(e) => Verdict::Retryable(Failure::new(e.code, e.message)),
        Outcome::Permanent(e) => Verdict::Permanent(Failure::new(e.code, e.message)),
    };
    *verdict = Some(match (verdict.take(), incoming) {
        (None, v) => v,
        (Some(Verdict::Permanent(failure)), _) | (_, Verdict::Permanent(failure)) => {
            Verdict::Permanent(failure)
        }
        (Some(Verdict::Retryable(failure)), _) | (_, Verdict::Retryable(failure)) => {
            Verdict::Retryable(failure)
        }
        (Some(Verdict::Delivered(mut a)), Verdict::Delivered(b)) => {
            a.extend(b);
            Verdict::Delivered(a)
        }
        (Some(other), _) => other,
    });
}

/// Seconds since an RFC 3339 time the log wrote.
fn since(rfc3339: &str) -> Option<f64> {
    let then = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?;
    let elapsed = time::OffsetDateTime::now_utc() - then;
    (elapsed.is_positive()).then(|| elapsed.as_seconds_f64())
}

fn raw_record(record: &EventRecord) -> Box<RawValue> {
    let json = serde_json::to_string(record).expect("records serialize");
    RawValue::from_string(json).expect("serialized records are JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::window::tests::record;

    fn retry() -> Option<Verdict> {
        Some(Verdict::Retryable(Failure::new("Flaky", "try again")))
    }

    fn delivered() -> Option<Verdict> {
        Some(Verdict::Delivered(BTreeMap::new()))
    }

    fn run(run: Run<'_>, keys: &[&str], failures: u32, verdicts: Vec<Option<Verdict>>) -> Settled {
        let records: Vec<EventRecord> = (1..=keys.len() as u64).map(record).collect();
        let items: Vec<Item<'_>> = records
            .iter()
            .zip(keys)
            .map(|(record, key)| Item {
                record,
                key,
                failures,
            })
            .collect();
        let attempted = Attempted {
            destination: "d",
            started_at: "2026-05-26T14:21:09Z",
            duration_ms: 1,
            plugins: &[],
        };
        settle(run, &attempted, &items, verdicts)
    }

    #[test]
    fn live_a_keys_first_failure_counts_and_its_later_events_are_held_back() {
        let s = run(
            Run::Live { max_retries: 3 },
            &["a", "b", "a"],
            0,
            vec![retry(), delivered(), retry()],
        );
        assert_eq!(
            s.next,
            [
                Next::Retry {
                    failures: 1,
                    held_back: false
                },
                Next::Done,
                Next::Retry {
                    failures: 0,
                    held_back: true
                }
            ]
        );
        assert!(s.progress.dead_letters.is_empty());
        assert_eq!(s.progress.attempts.len(), 3, "every attempt is recorded");
    }

    #[test]
    fn live_retries_used_up_go_to_the_dlq() {
        let s = run(Run::Live { max_retries: 3 }, &["a"], 3, vec![retry()]);
        assert_eq!(s.next, [Next::Done]);
        assert_eq!(s.progress.dead_letters.len(), 1);
        assert!(
            s.progress.dead_letters[0]
                .error_message
                .contains("gave up after 4")
        );
    }

    #[test]
    fn redrive_delivered_leave_the_dlq_and_failures_stay() {
        let s = run(Run::Redrive, &["a", "b"], 0, vec![delivered(), retry()]);
        assert_eq!(s.progress.leave_dlq, [1]);
        assert_eq!(s.progress.dead_letters.len(), 1);
        assert_eq!(s.progress.dead_letters[0].sequence, 2);
    }

    #[test]
    fn a_replay_stops_at_its_first_retryable_failure() {
        let s = run(
            Run::Replay {
                id: "rpl_1",
                retries_left: true,
            },
            &["a", "b", "c"],
            0,
            vec![delivered(), retry(), delivered()],
        );
        assert_eq!(s.next[2], Next::NotReached);
        assert_eq!(s.progress.attempts.len(), 2, "the third was not attempted");
        assert!(
            s.progress.dead_letters.is_empty(),
            "replays never dead-letter"
        );
        assert_eq!(s.progress.attempts[0].replay.as_deref(), Some("rpl_1"));
    }
}
