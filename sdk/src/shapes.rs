//! The usual shapes of a destination's `deliver`, each keeping the
//! contract's order rule (a key's later events are not sent past its
//! failure): records in one host call, events one at a time, events of
//! different keys at once, and entries in a service's batch calls.

use crate::{Error, Event, Outcome};

/// Where a record landed (`("partition", "3")`…), or why not and whether a
/// retry may help: what a host sink answers per record.
pub type RecordResult = Result<Vec<(String, String)>, (Error, bool)>;

/// The usual shape of a destination's `deliver`: render each event into a
/// record (an event that does not render fails alone, for good), hand the
/// records to the host in one call, and map each answer back to an outcome
/// in event order.
pub fn deliver_records<R>(
    batch: &[Event],
    mut render: impl FnMut(&Event) -> Result<R, Error>,
    send: impl FnOnce(Vec<R>) -> Vec<RecordResult>,
) -> Vec<Outcome> {
    let mut records = Vec::with_capacity(batch.len());
    let mut rendered = Vec::with_capacity(batch.len());
    for event in batch {
        match render(event) {
            Ok(record) => {
                records.push(record);
                rendered.push(None);
            }
            Err(e) => rendered.push(Some(e)),
        }
    }
    let mut answers = send(records).into_iter();
    rendered
        .into_iter()
        .map(|failed| match failed {
            Some(e) => Outcome::Permanent(e),
            None => match answers.next() {
                Some(Ok(coordinates)) => Outcome::Delivered(coordinates),
                Some(Err((e, true))) => Outcome::Retryable(e),
                Some(Err((e, false))) => Outcome::Permanent(e),
                None => Outcome::Retryable(Error::new(
                    "missing_result",
                    "the host returned too few results",
                )),
            },
        })
        .collect()
}

/// The shape of a destination that sends events one at a time (an HTTP
/// endpoint): `send` each event in order, except that once an event
/// fails with a retryable outcome, every later event of its `key` in the
/// batch is held back unsent (retryable, `HeldBack`), so that none
/// overtakes it — what the contract asks of every destination.
pub fn deliver_each(
    batch: &[Event],
    key: impl Fn(&Event) -> String,
    mut send: impl FnMut(&Event) -> Outcome,
) -> Vec<Outcome> {
    let mut stuck = std::collections::HashSet::new();
    batch
        .iter()
        .map(|event| {
            let key = key(event);
            if stuck.contains(&key) {
                return Outcome::Retryable(Error::new(
                    "HeldBack",
                    "not sent: an earlier event of the same partition key failed in this batch",
                ));
            }
            let outcome = send(event);
            if matches!(outcome, Outcome::Retryable(_)) {
                stuck.insert(key);
            }
            outcome
        })
        .collect()
}

/// The shape of a destination that sends events one at a time but may
/// have several requests out at once (an HTTP endpoint): a key's events
/// go one after another, each only once the one before it was settled,
/// while up to `max_in_flight` keys have a request out. `start` sends an
/// event (or settles it at once with an outcome); `wait` blocks until one
/// of the requests out is answered, removes it from the list and returns
/// its position and outcome. Once an event fails with a retryable outcome,
/// the later events of its key are held back unsent (`HeldBack`).
pub fn deliver_concurrently<P>(
    batch: &[Event],
    key: impl Fn(&Event) -> String,
    max_in_flight: usize,
    mut start: impl FnMut(&Event) -> Result<P, Outcome>,
    mut wait: impl FnMut(&mut Vec<P>) -> (usize, Outcome),
) -> Vec<Outcome> {
    use std::collections::{HashMap, VecDeque};
    let mut queues: Vec<VecDeque<usize>> = Vec::new();
    let mut queue_of: HashMap<String, usize> = HashMap::new();
    for (i, event) in batch.iter().enumerate() {
        let next = queues.len();
        let q = *queue_of.entry(key(event)).or_insert(next);
        if q == next {
            queues.push(VecDeque::new());
        }
        queues[q].push_back(i);
    }
    let mut outcomes: Vec<Option<Outcome>> = (0..batch.len()).map(|_| None).collect();
    let mut busy = vec![false; queues.len()];
    let mut stuck = vec![false; queues.len()];
    // Requests out, and the (queue, event) of each, in the same order.
    let mut out: Vec<P> = Vec::new();
    let mut owners: Vec<(usize, usize)> = Vec::new();
    let settle = |outcome: Outcome, q: usize, stuck: &mut Vec<bool>| {
        if matches!(outcome, Outcome::Retryable(_)) {
            stuck[q] = true;
        }
        outcome
    };
    loop {
        for q in 0..queues.len() {
            while !busy[q] && !stuck[q] && out.len() < max_in_flight.max(1) {
                let Some(i) = queues[q].pop_front() else {
                    break;
                };
                match start(&batch[i]) {
                    Ok(request) => {
                        out.push(request);
                        owners.push((q, i));
                        busy[q] = true;
                    }
                    Err(outcome) => outcomes[i] = Some(settle(outcome, q, &mut stuck)),
                }
            }
        }
        if out.is_empty() {
            break;
        }
        let (at, outcome) = wait(&mut out);
        let (q, i) = owners.remove(at);
        busy[q] = false;
        outcomes[i] = Some(settle(outcome, q, &mut stuck));
    }
    outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                Outcome::Retryable(Error::new(
                    "HeldBack",
                    "not sent: an earlier event of the same partition key failed in this batch",
                ))
            })
        })
        .collect()
}

/// How [`deliver_in_calls`] packs events into one service call.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    /// Entries per call (EventBridge and SQS: 10).
    pub max_entries: usize,
    /// Bytes of entries per call, as the service counts them (256 KiB).
    pub max_bytes: usize,
    /// At most one entry of a key per call, so that a failed entry cannot
    /// be overtaken by a later one of its key in the same call.
    pub one_per_key: bool,
}

/// The shape of a destination whose service takes entries in batch calls
/// that answer per entry (EventBridge `PutEvents`, SQS
/// `SendMessageBatch`): each event is rendered to an entry and its size;
/// entries go in log order, in calls within `limits`; `send` makes one
/// call and answers per entry, in order. An entry larger than a call may
/// hold fails alone, for good. Once an event fails with a retryable
/// answer, its key's later events are held back (`HeldBack`).
pub fn deliver_in_calls<R>(
    batch: &[Event],
    key: impl Fn(&Event) -> String,
    limits: CallLimits,
    mut render: impl FnMut(&Event) -> Result<(R, usize), Error>,
    mut send: impl FnMut(Vec<R>) -> Vec<RecordResult>,
) -> Vec<Outcome> {
    use std::collections::HashSet;
    let mut outcomes: Vec<Option<Outcome>> = (0..batch.len()).map(|_| None).collect();
    let keys: Vec<String> = batch.iter().map(&key).collect();
    let mut waiting: Vec<(usize, R, usize)> = Vec::new();
    for (i, event) in batch.iter().enumerate() {
        match render(event) {
            Ok((_, size)) if size > limits.max_bytes => {
                outcomes[i] = Some(Outcome::Permanent(Error::new(
                    "EntryTooLarge",
                    format!(
                        "{size} bytes: more than the {} a call may hold",
                        limits.max_bytes
                    ),
                )))
            }
            Ok((entry, size)) => waiting.push((i, entry, size)),
            Err(e) => outcomes[i] = Some(Outcome::Permanent(e)),
        }
    }
    let mut stuck: HashSet<&str> = HashSet::new();
    while !waiting.is_empty() {
        let mut call = Vec::new();
        let mut members = Vec::new();
        let mut later = Vec::new();
        let mut bytes = 0;
        let mut in_call: HashSet<&str> = HashSet::new();
        let mut deferred: HashSet<&str> = HashSet::new();
        let mut full = false;
        for (i, entry, size) in waiting {
            let key = keys[i].as_str();
            if stuck.contains(key) {
                outcomes[i] = Some(Outcome::Retryable(Error::new(
                    "HeldBack",
                    "not sent: an earlier event of the same partition key failed in this batch",
                )));
                continue;
            }
            full = full || call.len() == limits.max_entries || bytes + size > limits.max_bytes;
            // Once the call is full, or the key already has its entry in it,
            // the event waits for a later call, and so does every later
            // event of its key (kept in order behind it).
            if full || (limits.one_per_key && in_call.contains(key)) || deferred.contains(key) {
                deferred.insert(key);
                later.push((i, entry, size));
                continue;
            }
            bytes += size;
            in_call.insert(key);
            members.push(i);
            call.push(entry);
        }
        let mut answers = send(call).into_iter();
        for i in members {
            let outcome = match answers.next() {
                Some(Ok(coordinates)) => Outcome::Delivered(coordinates),
                Some(Err((e, true))) => {
                    stuck.insert(keys[i].as_str());
                    Outcome::Retryable(e)
                }
                Some(Err((e, false))) => Outcome::Permanent(e),
                None => Outcome::Retryable(Error::new(
                    "missing_result",
                    "the service answered fewer entries than were sent",
                )),
            };
            outcomes[i] = Some(outcome);
        }
        waiting = later;
    }
    outcomes
        .into_iter()
        .map(|o| o.expect("every event is settled"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(customer: &str, sequence: u64) -> Event {
        Event {
            id: format!("evt_{sequence}"),
            sequence,
            event_type: "order.completed".into(),
            occurred_at: "2026-05-26T14:21:08.493Z".into(),
            source: "billing".into(),
            customer_external_id: customer.into(),
            idempotency_key: format!("k{sequence}"),
            correlation_id: None,
            payload: "{}".into(),
            metadata: "{}".into(),
        }
    }

    /// Keys go side by side up to the limit, a key's events one after
    /// another, nothing of a key past its retryable failure.
    #[test]
    fn deliver_concurrently_overlaps_keys_and_keeps_each_in_order() {
        let batch = [
            event("a", 1),
            event("b", 2),
            event("a", 3),
            event("c", 4),
            event("b", 5),
            event("a", 6),
        ];
        let mut started = Vec::new();
        let mut most_out = 0;
        let outcomes = deliver_concurrently(
            &batch,
            |e| e.customer_external_id.clone(),
            2,
            |e| {
                started.push(e.sequence);
                Ok(e.sequence)
            },
            |out: &mut Vec<u64>| {
                most_out = most_out.max(out.len());
                // The newest answers first; b's first event fails.
                let at = out.len() - 1;
                let sequence = out.remove(at);
                let outcome = if sequence == 2 {
                    Outcome::Retryable(Error::new("http_503", "busy"))
                } else {
                    Outcome::Delivered(vec![("n".into(), sequence.to_string())])
                };
                (at, outcome)
            },
        );
        assert_eq!(most_out, 2);
        let position = |s: u64| started.iter().position(|&x| x == s).unwrap();
        assert!(
            position(1) < position(3) && position(3) < position(6),
            "{started:?}"
        );
        assert!(
            !started.contains(&5),
            "b's second event is never sent: {started:?}"
        );
        assert!(matches!(&outcomes[1], Outcome::Retryable(e) if e.code == "http_503"));
        assert!(matches!(&outcomes[4], Outcome::Retryable(e) if e.code == "HeldBack"));
        for i in [0, 2, 3, 5] {
            assert!(matches!(outcomes[i], Outcome::Delivered(_)), "{i}");
        }
    }

    /// Calls hold at most the limits, one entry per key when asked, in
    /// log order per key; a too-large entry fails alone; nothing of a key
    /// goes past its retryable failure.
    #[test]
    fn deliver_in_calls_packs_within_the_limits_and_keeps_each_key_in_order() {
        let batch: Vec<Event> = (1..=9)
            .map(|s| event(["a", "b", "c"][(s % 3) as usize], s))
            .collect();
        let limits = CallLimits {
            max_entries: 4,
            max_bytes: 100,
            one_per_key: true,
        };
        let mut calls: Vec<Vec<u64>> = Vec::new();
        let outcomes = deliver_in_calls(
            &batch,
            |e| e.customer_external_id.clone(),
            limits,
            |e| Ok((e.sequence, if e.sequence == 5 { 101 } else { 30 })),
            |call| {
                calls.push(call.clone());
                call.iter()
                    .map(|&s| {
                        if s == 1 {
                            Err((Error::new("ThrottlingException", "slow down"), true))
                        } else {
                            Ok(vec![("n".into(), s.to_string())])
                        }
                    })
                    .collect()
            },
        );
        for call in &calls {
            assert!(call.len() <= 4 && call.len() * 30 <= 100, "{calls:?}");
            let mut keys: Vec<u64> = call.iter().map(|s| s % 3).collect();
            keys.dedup();
            assert_eq!(keys.len(), call.len(), "one entry per key: {calls:?}");
        }
        let sent: Vec<u64> = calls.concat();
        assert!(!sent.contains(&5), "too large: never sent");
        assert!(matches!(&outcomes[4], Outcome::Permanent(e) if e.code == "EntryTooLarge"));
        // 1 is key b (1 % 3); b's later events 4 and 7 are held back.
        assert!(!sent.contains(&4) && !sent.contains(&7), "{calls:?}");
        assert!(matches!(&outcomes[3], Outcome::Retryable(e) if e.code == "HeldBack"));
        for key in 0..3 {
            let order: Vec<u64> = sent.iter().copied().filter(|s| s % 3 == key).collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        }
        for s in [2, 3, 6, 8, 9] {
            assert!(
                matches!(outcomes[s as usize - 1], Outcome::Delivered(_)),
                "{s}"
            );
        }
    }

    #[test]
    fn deliver_each_sends_nothing_of_a_key_past_its_retryable_failure() {
        let batch = [event("a", 1), event("b", 2), event("a", 3), event("b", 4)];
        let mut sent = Vec::new();
        let outcomes = deliver_each(
            &batch,
            |e| e.customer_external_id.clone(),
            |e| {
                sent.push(e.sequence);
                if e.sequence == 1 {
                    Outcome::Retryable(Error::new("http_503", "busy"))
                } else {
                    Outcome::Delivered(Vec::new())
                }
            },
        );
        assert_eq!(sent, [1, 2, 4], "a's second event is never sent");
        assert!(matches!(&outcomes[2], Outcome::Retryable(e) if e.code == "HeldBack"));
        assert!(matches!(outcomes[3], Outcome::Delivered(_)));
    }
}
