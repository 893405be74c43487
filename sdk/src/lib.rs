//! Write Pushrail plugins in Rust.
//!
//! A plugin is a WebAssembly component that implements one of the worlds of
//! the `pushrail:plugin` WIT package: a [`Transform`] (one event in, zero or
//! more out) or a [`Destination`] (delivers batches). Implement the trait,
//! call the matching export macro, and build with
//! `cargo build --release --target wasm32-wasip2`.
//!
//! ```no_run
//! use pushrail_sdk::{Error, Event, export_transform_fn};
//! fn shout(mut event: Event) -> Result<Vec<Event>, Error> {
//!     event.event_type = event.event_type.to_uppercase();
//!     Ok(vec![event])
//! }
//! export_transform_fn!(shout);
//! ```
//!
//! A transform with a config or state implements [`Transform`] and is
//! exported with [`export_transform!`]; see the examples in the repository.

#![warn(missing_docs)]

mod event;
pub mod http;

/// Generated bindings of the `destination` world.
#[doc(hidden)]
pub mod destination {
    wit_bindgen::generate!({
        path: "../wit",
        world: "pushrail:plugin/destination",
        pub_export_macro: true,
        export_macro_name: "export_destination_world",
        default_bindings_module: "pushrail_sdk::destination",
        // A transform answers `unchanged` by comparing its output with its input.
        additional_derives: [PartialEq],
    });
}

/// Generated bindings of the `transform` world; its types are the destination's.
#[doc(hidden)]
pub mod transform {
    wit_bindgen::generate!({
        path: "../wit",
        world: "pushrail:plugin/transform",
        pub_export_macro: true,
        export_macro_name: "export_transform_world",
        default_bindings_module: "pushrail_sdk::transform",
        with: {
            "pushrail:plugin/types@0.5.0": crate::destination::pushrail::plugin::types,
            "pushrail:plugin/logging@0.5.0": crate::destination::pushrail::plugin::logging,
        },
    });
}

pub use destination::pushrail::plugin::types::{Error, Event, Outcome, Transformed};
/// The event logic the host shares with plugins: field paths (partition
/// keys), canonical JSON and `*` patterns — the host computes them with
/// the same code.
pub use pushrail_event::{EventFields, FieldPath, glob_matches};

/// A transform plugin: one instance lives across many events. The host
/// calls it with batches; the export macros run this per-event function on
/// each event of a batch.
pub trait Transform: Sized + 'static {
    /// Builds the transform from its config (JSON text; `{}` when none).
    fn init(config: &str) -> Result<Self, Error>;

    /// Zero events drops `event`, one maps it, several split it. An error
    /// sends the event to the destination's dead-letter queue.
    fn transform(&mut self, event: Event) -> Result<Vec<Event>, Error>;
}

/// A destination plugin: one instance lives across many batches.
pub trait Destination: Sized + 'static {
    /// Builds the destination from its `[[destinations]]` table (JSON text, secrets removed).
    fn init(config: &str) -> Result<Self, Error>;

    /// Returns one outcome per event, in order. Once an event of a partition
    /// key fails, return a failure for the later events of that key too.
    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome>;
}

impl Error {
    /// An error with a machine-readable `code` and a message for people.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Parses a plugin config into `T`; a mismatch is a `bad_config` error that
/// the host shows the operator.
pub fn parse_config<T: serde::de::DeserializeOwned>(config: &str) -> Result<T, Error> {
    serde_json::from_str(config).map_err(|e| Error::new("bad_config", e.to_string()))
}

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

/// Lines in the host's log output, tagged with this plugin and its
/// destination (sanitized and rate-limited by the host).
pub mod logging {
    use crate::destination::pushrail::plugin::logging::{Level, write};

    /// A debug line.
    pub fn debug(message: &str) {
        write(Level::Debug, message);
    }

    /// An info line.
    pub fn info(message: &str) {
        write(Level::Info, message);
    }

    /// A warning.
    pub fn warn(message: &str) {
        write(Level::Warn, message);
    }

    /// An error line.
    pub fn error(message: &str) {
        write(Level::Error, message);
    }
}

/// The destination's own Kinesis stream (`[destinations.kinesis]`): the
/// host batches, signs, retries and keeps per-key order.
pub mod kinesis {
    pub use crate::destination::pushrail::plugin::kinesis::{
        KinesisFailure, KinesisLocation, KinesisRecord,
    };

    /// Puts the records in order; one result per record.
    pub fn put_records(records: &[KinesisRecord]) -> Vec<Result<KinesisLocation, KinesisFailure>> {
        crate::destination::pushrail::plugin::kinesis::put_records(records)
    }
}

/// The destination's own Kafka topic (`[destinations.kafka]`): the host's
/// producer batches, compresses, authenticates and retries in order.
pub mod kafka {
    pub use crate::destination::pushrail::plugin::kafka::{
        KafkaFailure, KafkaLocation, KafkaRecord,
    };

    /// Produces the records in order; one result per record.
    pub fn produce(records: &[KafkaRecord]) -> Vec<Result<KafkaLocation, KafkaFailure>> {
        crate::destination::pushrail::plugin::kafka::produce(records)
    }
}

/// The destination's own file output (`[destinations.file]`).
pub mod file {
    /// Appends each line, in order, durably; returns the first line's number.
    pub fn append_lines(lines: &[String]) -> Result<u64, crate::Error> {
        crate::destination::pushrail::plugin::file::append_lines(lines)
    }
}

/// Standard Webhooks signatures made by the host with the destination's
/// signing secrets (`secrets.signing_secret`); the plugin never sees them.
pub mod signing {
    /// The headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
    /// that sign `body` as message `id`. Fails with `no_signing_secret`
    /// when the destination has no signing secret.
    pub fn sign(id: &str, body: &[u8]) -> Result<Vec<(String, String)>, crate::Error> {
        crate::destination::pushrail::plugin::signing::sign(id, body)
    }
}

/// AWS API calls of the JSON protocol, signed by the host with the
/// destination's credentials (`[destinations.aws]`); the plugin never sees
/// them. Only the operations in the destination's `aws.targets` go out.
pub mod aws {
    pub use crate::destination::pushrail::plugin::aws::{AwsFailure, AwsRequest, AwsResponse};

    /// Calls `target` (`AWSEvents.PutEvents`) of `service` (`events`) with
    /// the JSON `body`, in the service's JSON protocol `json_version`.
    pub fn call(
        service: &str,
        target: &str,
        json_version: &str,
        body: Vec<u8>,
    ) -> Result<AwsResponse, AwsFailure> {
        crate::destination::pushrail::plugin::aws::call(&AwsRequest {
            service: service.into(),
            target: target.into(),
            json_version: json_version.into(),
            body,
        })
    }

    /// The error name of an AWS JSON error answer (`__type`, without the
    /// namespace AWS sometimes prefixes: `ResourceNotFoundException`).
    pub fn error_type(body: &[u8]) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let name = value.get("__type")?.as_str()?;
        Some(name.rsplit('#').next().unwrap_or(name).to_owned())
    }

    /// A call AWS refused as a whole, as an error and whether a later
    /// attempt may succeed: server errors, throttling and expired
    /// credentials may pass; anything else (a missing bus or queue, a
    /// denied role, a malformed request) will not until the config changes.
    pub fn refused(response: &AwsResponse) -> (crate::Error, bool) {
        let code =
            error_type(&response.body).unwrap_or_else(|| format!("http_{}", response.status));
        let message = serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .or_else(|| v.get("Message"))
                    .and_then(|m| m.as_str().map(str::to_owned))
            })
            .unwrap_or_else(|| format!("AWS answered {}", response.status));
        let retryable = response.status >= 500
            || [
                "Throttl",
                "LimitExceeded",
                "ExpiredToken",
                "ServiceUnavailable",
                "InternalFailure",
            ]
            .iter()
            .any(|part| code.contains(part));
        (crate::Error::new(code, message), retryable)
    }

    /// A call that got no answer, as an error and whether to retry.
    pub fn failed(failure: AwsFailure) -> (crate::Error, bool) {
        (
            crate::Error::new(failure.code, failure.message),
            failure.retryable,
        )
    }

    /// Calls a batch operation of `entries` entries (`PutEvents`,
    /// `SendMessageBatch`): AWS's JSON answer, or, when the call failed as
    /// a whole, that failure once for each entry.
    pub fn batch_call(
        service: &str,
        target: &str,
        json_version: &str,
        body: Vec<u8>,
        entries: usize,
    ) -> Result<serde_json::Value, Vec<crate::RecordResult>> {
        let all = |(error, retryable): (crate::Error, bool)| {
            (0..entries)
                .map(|_| Err((error.clone(), retryable)))
                .collect::<Vec<_>>()
        };
        let response = match call(service, target, json_version, body) {
            Ok(r) if r.status == 200 => r,
            Ok(r) => return Err(all(refused(&r))),
            Err(f) => return Err(all(failed(f))),
        };
        serde_json::from_slice(&response.body).map_err(|e| {
            all((
                crate::Error::new("InternalFailure", format!("AWS's answer is not JSON: {e}")),
                true,
            ))
        })
    }
}

/// What a destination may ask of its own delivery.
pub mod delivery {
    use crate::destination::pushrail::plugin::delivery as host;

    /// Milliseconds since the host called this plugin (for response times).
    pub fn elapsed_ms() -> u64 {
        host::elapsed_ms()
    }

    /// The receiver asked to wait: this destination's retryable events are
    /// not tried again before `seconds` from now (at most `retry.max_wait`).
    pub fn retry_after(seconds: u32) {
        host::retry_after(seconds)
    }

    /// Pauses the destination once this batch is recorded, with `reason`
    /// in its status, until an operator resumes it.
    pub fn pause(reason: &str) {
        host::pause(reason)
    }
}

#[doc(hidden)]
pub mod __private {
    use std::any::Any;
    use std::cell::RefCell;

    thread_local! {
        static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    pub fn init<T: 'static>(built: Result<T, crate::Error>) -> Result<(), crate::Error> {
        let value = built?;
        STATE.with(|s| *s.borrow_mut() = Some(Box::new(value)));
        Ok(())
    }

    /// One event of a batch through the author's per-event function. An
    /// event that comes back as it went in is answered `unchanged`, so the
    /// host copies nothing back (a copy and a compare here cost less than
    /// the host lifting the event out of the guest again).
    pub fn transform_one<T: crate::Transform>(
        transform: &mut T,
        event: crate::Event,
    ) -> crate::Transformed {
        let original = event.clone();
        match transform.transform(event) {
            Ok(mut events) if events.len() == 1 && events[0] == original => {
                events.clear();
                crate::Transformed::Unchanged
            }
            Ok(events) => crate::Transformed::Replaced(events),
            Err(error) => crate::Transformed::Failed(error),
        }
    }

    pub fn with<T: 'static, R>(f: impl FnOnce(&mut T) -> R) -> R {
        STATE.with(|s| {
            let mut state = s.borrow_mut();
            let value = state
                .as_mut()
                .and_then(|b| b.downcast_mut::<T>())
                .expect("the host calls init before anything else");
            f(value)
        })
    }
}

/// Exports a [`Transform`] implementation as this component's `transform` world.
/// Only a `wasm32` build exports anything: natively the crate stays a plain
/// library, so its logic can be unit-tested and benchmarked outside WebAssembly.
#[macro_export]
macro_rules! export_transform {
    ($ty:ty) => {
        // Natively: only that the type is a transform (and is used).
        #[cfg(not(target_arch = "wasm32"))]
        const _: (
            fn(&str) -> Result<$ty, $crate::Error>,
            fn(&mut $ty, $crate::Event) -> Result<Vec<$crate::Event>, $crate::Error>,
        ) = (
            <$ty as $crate::Transform>::init,
            <$ty as $crate::Transform>::transform,
        );

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct PushrailTransform;

            impl $crate::transform::Guest for PushrailTransform {
                fn init(config: String) -> Result<(), $crate::Error> {
                    $crate::__private::init(<$ty as $crate::Transform>::init(&config))
                }

                fn transform_batch(events: Vec<$crate::Event>) -> Vec<$crate::Transformed> {
                    $crate::__private::with(|t: &mut $ty| {
                        events
                            .into_iter()
                            .map(|event| $crate::__private::transform_one(t, event))
                            .collect()
                    })
                }
            }

            $crate::transform::export_transform_world!(PushrailTransform with_types_in $crate::transform);
        };
    };
}

/// Exports a plain function `fn(Event) -> Result<Vec<Event>, Error>` as a
/// stateless transform (its config is ignored): the shortest plugin there is.
#[macro_export]
macro_rules! export_transform_fn {
    ($f:path) => {
        const _: () = {
            /// The function, as a [`Transform`]($crate::Transform).
            struct PushrailTransformFn;

            impl $crate::Transform for PushrailTransformFn {
                fn init(_config: &str) -> Result<Self, $crate::Error> {
                    Ok(Self)
                }

                fn transform(
                    &mut self,
                    event: $crate::Event,
                ) -> Result<Vec<$crate::Event>, $crate::Error> {
                    $f(event)
                }
            }

            $crate::export_transform!(PushrailTransformFn);
        };
    };
}

/// Exports a [`Destination`] implementation as this component's `destination` world
/// (in a `wasm32` build only, as [`export_transform!`]).
#[macro_export]
macro_rules! export_destination {
    ($ty:ty) => {
        // Natively: only that the type is a destination (and is used).
        #[cfg(not(target_arch = "wasm32"))]
        const _: (
            fn(&str) -> Result<$ty, $crate::Error>,
            fn(&mut $ty, Vec<$crate::Event>) -> Vec<$crate::Outcome>,
        ) = (
            <$ty as $crate::Destination>::init,
            <$ty as $crate::Destination>::deliver,
        );

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct PushrailDestination;

            impl $crate::destination::Guest for PushrailDestination {
                fn init(config: String) -> Result<(), $crate::Error> {
                    $crate::__private::init(<$ty as $crate::Destination>::init(&config))
                }

                fn deliver(batch: Vec<$crate::Event>) -> Vec<$crate::Outcome> {
                    $crate::__private::with(|d: &mut $ty| $crate::Destination::deliver(d, batch))
                }
            }

            $crate::destination::export_destination_world!(PushrailDestination with_types_in $crate::destination);
        };
    };
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
