//! The Kafka sink behind the `kafka` host interface: a destination's
//! topic, written through the librdkafka producer it shares with every
//! destination on the same cluster with the same credentials and settings
//! ([`shared`]). librdkafka batches,
//! compresses and retries transient errors itself; with the idempotent
//! producer (the default) records of one partition land in the order they
//! were produced, across those retries.

mod classify;
mod producer;
mod shared;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer, PurgeConfig};

use super::Failure;
use crate::config::KafkaConfig;
use crate::failure_codes;
use crate::metrics::Metrics;
use producer::ProducerContext;
pub use producer::client_config;
use shared::SharedProducer;

/// Why a destination's producer could not be created.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// librdkafka refused a property; its message names it.
    #[error("librdkafka rejected the producer settings: {}", settings_message(.0))]
    Settings(#[source] RdKafkaError),
}

/// A record to produce.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub partition: i32,
    pub offset: i64,
}

/// A failed produce, named and classified.
fn failure(error: &RdKafkaError) -> Failure {
    let (code, retryable) = classify::classify(error);
    Failure {
        code,
        message: error.to_string(),
        retryable,
    }
}

pub struct KafkaSink {
    /// Shared with destinations of the same cluster and credentials.
    shared: Arc<SharedProducer>,
    destination: String,
    metrics: Arc<Metrics>,
    topic: String,
    /// How long a record may wait for room in librdkafka's local queue.
    queue_wait: Duration,
    /// Set after a topic-level failure (authorization, unknown topic):
    /// librdkafka caches that state until its next metadata refresh
    /// (minutes), so the next produce asks for fresh metadata first; a
    /// fixed ACL or a newly created topic then works at once, e.g. on redrive.
    stale_metadata: AtomicBool,
    /// librdkafka's `linger_ms`: how long [`KafkaSink::send_now`] flushes at most.
    linger: Duration,
    /// True while a flush of this destination's producer runs (see
    /// [`KafkaSink::send_now`]); shared with the thread that runs it.
    flushing: Arc<AtomicBool>,
}

/// Failures that librdkafka remembers per topic.
const TOPIC_FAILURES: &[&str] = &[
    "TopicAuthorizationFailed",
    "UnknownTopicOrPartition",
    "UnknownTopic",
    "UnknownPartition",
];

type Producer_ = FutureProducer<ProducerContext>;

impl KafkaSink {
    /// Creates the producer (connecting happens in the background: a broker
    /// that is down now is not an error, its records are retried).
    pub fn connect(
        destination: &str,
        config: &KafkaConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, KafkaError> {
        Ok(Arc::new(Self {
            shared: shared::producer_for(destination, config)?,
            destination: destination.to_owned(),
            metrics,
            topic: config.topic.clone(),
            queue_wait: config.producer.delivery_timeout,
            stale_metadata: AtomicBool::new(false),
            linger: config.producer.linger,
            flushing: Arc::new(AtomicBool::new(false)),
        }))
    }

    /// Checks that librdkafka accepts the settings, without keeping a producer.
    pub fn check(destination: &str, config: &KafkaConfig) -> Result<(), KafkaError> {
        shared::new_producer(destination, config).map(drop)
    }

    fn current(&self) -> Arc<Producer_> {
        self.shared
            .producer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Produces `records` in order and waits for every acknowledgement;
    /// one result per record, in order. A record whose key already failed
    /// to enqueue in this call is not sent (it would overtake the failed
    /// one): it fails as retryable, behind it.
    pub async fn produce(self: &Arc<Self>, records: Vec<Record>) -> Vec<Result<Location, Failure>> {
        let producer = self.current();
        if self.stale_metadata.swap(false, Ordering::Relaxed) {
            self.refresh_metadata(&producer).await;
        }
        // Whether records of other batches are out: these then wait out
        // `linger_ms` and share their produce requests (see `send_now`).
        let busy_before = producer.in_flight_count() > 0;
        let mut pending = Vec::with_capacity(records.len());
        let mut failed_keys: HashSet<&[u8]> = HashSet::new();
        for record in &records {
            let key = record.key.as_deref();
            if key.is_some_and(|k| failed_keys.contains(k)) {
                pending.push(Err(held_back()));
                continue;
            }
            let enqueued = self.enqueue(&producer, record).await;
            if enqueued.is_err()
                && let Some(key) = key
            {
                failed_keys.insert(key);
            }
            pending.push(enqueued);
        }
        if !busy_before {
            self.send_now(&producer);
        }
        let mut results = Vec::with_capacity(records.len());
        for enqueued in pending {
            let result = match enqueued {
                Err(failure) => Err(failure),
                Ok(delivery) => match delivery.await {
                    Ok(Ok(d)) => Ok(Location {
                        partition: d.partition,
                        offset: d.offset,
                    }),
                    Ok(Err((error, _))) => Err(failure(&error)),
                    Err(_canceled) => Err(Failure {
                        code: failure_codes::PRODUCER_UNAVAILABLE.into(),
                        message: "the producer shut down before the broker answered".into(),
                        retryable: true,
                    }),
                },
            };
            results.push(result);
        }
        if let Some((code, reason)) = producer.client().fatal_error() {
            self.recover(&producer, &format!("{code:?}: {reason}"));
            for result in &mut results {
                if let Err(failure) = result {
                    *failure = Failure {
                        code: failure_codes::PRODUCER_FATAL.into(),
                        message: format!(
                            "the Kafka producer hit a fatal error ({code:?}: {reason}); it was recreated and the record will be retried"
                        ),
                        retryable: true,
                    };
                }
            }
        }
        let topic_failed = results
            .iter()
            .any(|r| matches!(r, Err(f) if TOPIC_FAILURES.contains(&f.code.as_str())));
        if topic_failed {
            self.stale_metadata.store(true, Ordering::Relaxed);
        }
        results
    }

    /// After a fatal error (e.g. the idempotent producer lost its sequence
    /// with the broker) a producer refuses everything until it is
    /// replaced: purge and drop it, and create a new one. Records that did
    /// not land are failed as retryable and go again, in order, through
    /// the new producer.
    fn recover(&self, failed: &Arc<Producer_>, reason: &str) {
        let mut current = self
            .shared
            .producer
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&current, failed) {
            return; // another call already replaced it
        }
        failed.purge(PurgeConfig::default().queue().inflight().non_blocking());
        match shared::new_producer(&self.shared.first, &self.shared.config) {
            Ok(producer) => {
                *current = Arc::new(producer);
                tracing::error!(destination = %self.destination, reason, "the Kafka producer hit a fatal error; it was recreated and the affected records will be retried");
                self.metrics
                    .destination(&self.destination, |m| m.sink_restarts += 1);
            }
            Err(e) => {
                tracing::error!(destination = %self.destination, reason, error = %e, "the Kafka producer hit a fatal error and could not be recreated; retrying later");
            }
        }
    }

    /// Hands one record to librdkafka, waiting while its local queue is full.
    async fn enqueue(
        &self,
        producer: &Producer_,
        record: &Record,
    ) -> Result<rdkafka::producer::DeliveryFuture, Failure> {
        let deadline = tokio::time::Instant::now() + self.queue_wait;
        loop {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for (key, value) in &record.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let mut future_record = FutureRecord::to(&self.topic)
                .payload(&record.value)
                .headers(headers);
            if let Some(key) = &record.key {
                future_record = future_record.key(key);
            }
            match producer.send_result(future_record) {
                Ok(delivery) => return Ok(delivery),
                Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => return Err(failure(&error)),
            }
        }
    }

    /// Sends a batch that found the producer idle at once rather than after
    /// `linger_ms`: it has nothing to share requests with, and the delivery
    /// batch already waited its own `batch.linger`. librdkafka skips the
    /// linger only while a flush runs, and while one runs it sends every
    /// record the moment it is queued — so the flush runs (on a blocking
    /// thread) for at most `linger_ms`, and a batch that finds others in
    /// flight does not flush: flushing behind batches in flight cut their
    /// records into many small requests, which hit the idempotent producer's
    /// limit of 5 requests per partition in flight and left the broker
    /// thread spinning until an answer came (docs/performance.md, session 13).
    #[allow(unsafe_code, reason = "librdkafka's own flush; see the SAFETY note")]
    fn send_now(&self, producer: &Arc<Producer_>) {
        if self.linger.is_zero() || self.flushing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (producer, flushing) = (producer.clone(), self.flushing.clone());
        let timeout_ms = i32::try_from(self.linger.as_millis()).unwrap_or(i32::MAX);
        tokio::task::spawn_blocking(move || {
            // SAFETY: the pointer is the live producer this closure owns,
            // and rd_kafka_flush may be called from any thread.
            unsafe {
                rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), timeout_ms)
            };
            flushing.store(false, Ordering::Release);
        });
    }

    /// Asks the brokers for the topic's metadata now (librdkafka updates its
    /// cache from the answer); a failure here shows up in the produce.
    async fn refresh_metadata(&self, producer: &Arc<Producer_>) {
        let (producer, topic) = (producer.clone(), self.topic.clone());
        let refreshed = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(5))
                .map(drop)
        })
        .await;
        if let Ok(Err(e)) = refreshed {
            tracing::warn!(topic = %self.topic, error = %e, "Kafka metadata refresh failed");
        }
    }
}

/// A record not sent because an earlier record of its key failed to
/// enqueue in the same call.
fn held_back() -> Failure {
    Failure {
        code: failure_codes::HELD_BACK.into(),
        message: "not sent: an earlier record of its key could not be enqueued".into(),
        retryable: true,
    }
}

/// librdkafka's own words for a rejected property (`No such configuration
/// property: "foo"`), without the wrapper.
fn settings_message(error: &RdKafkaError) -> String {
    match error {
        RdKafkaError::ClientCreation(message) | RdKafkaError::ClientConfig(_, message, _, _) => {
            message.clone()
        }
        other => other.to_string(),
    }
}
