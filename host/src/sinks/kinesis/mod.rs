//! The Kinesis sink behind the `kinesis` host interface: one client per
//! destination, bound to its one stream. It batches records into PutRecords
//! calls, retries throttled records individually, and in strict ordering
//! never lets a later record of a partition key land before an earlier one.
//! With aggregation on, it packs a key's records into aggregated records
//! first (aggregate.rs) and does all of that per aggregated record.

pub mod aggregate;
mod batching;
mod classify;
mod client;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use super::{Failure, error_chain};
use crate::config::{KinesisConfig, KinesisOrdering, KinesisStream, RetryConfig};
use crate::failure_codes;
use crate::metrics::Metrics;
pub use batching::MAX_CALL_BYTES;

/// Longest partition key Kinesis accepts, in Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// Attempts of one record within one call before it is handed back as
/// retryable (the destination's retry policy takes it from there).
const CALL_ROUNDS: u32 = 4;

/// PutRecords calls in flight at once for one destination.
const CONCURRENT_CALLS: usize = 4;

/// Longest wait between in-call rounds.
const MAX_ROUND_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum KinesisError {
    #[error("no AWS region: set [destinations.kinesis] region or AWS_REGION")]
    NoRegion,
}

/// A record to put.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub shard_id: String,
    pub sequence_number: String,
    /// The record's index inside the aggregated record that carried it
    /// (which has `sequence_number`); `None` when it went unaggregated.
    pub sub_sequence_number: Option<u64>,
}

/// A failure with an AWS error code, classified.
fn failure(code: &str, message: impl Into<String>) -> Failure {
    Failure {
        code: code.to_owned(),
        message: message.into(),
        retryable: classify::is_transient(code),
    }
}

pub struct KinesisSink {
    client: aws_sdk_kinesis::Client,
    stream: KinesisStream,
    ordering: KinesisOrdering,
    max_records_per_call: usize,
    /// The largest aggregated record, if records are aggregated.
    aggregation: Option<usize>,
    retry: RetryConfig,
    destination: String,
    metrics: Arc<Metrics>,
}

impl KinesisSink {
    pub async fn connect(
        destination: &str,
        config: &KinesisConfig,
        retry: RetryConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, KinesisError> {
        Ok(Arc::new(Self {
            client: client::build(config).await?,
            stream: config.stream.clone(),
            ordering: config.ordering,
            max_records_per_call: config.max_records_per_call,
            aggregation: config.aggregation,
            retry,
            destination: destination.to_owned(),
            metrics,
        }))
    }

    /// Puts `records` and returns one result per record, in order. With
    /// aggregation on, the records go in aggregated records, and each gets
    /// the result of the one that carried it.
    pub async fn put_records(&self, records: Vec<Record>) -> Vec<Result<Location, Failure>> {
        let mut results: Vec<Option<Result<Location, Failure>>> =
            records.iter().map(validate).collect();
        let Some(max_bytes) = self.aggregation else {
            return self.put(&records, results).await;
        };
        let skip: Vec<bool> = results.iter().map(Option::is_some).collect();
        let packed = aggregate::pack(records, &skip, max_bytes);
        let (sent, members): (Vec<Record>, Vec<aggregate::Members>) =
            packed.into_iter().map(|p| (p.record, p.members)).unzip();
        let answers = self.put(&sent, vec![None; sent.len()]).await;
        for (answer, members) in answers.into_iter().zip(members) {
            for (i, sub_sequence_number) in members.each() {
                results[i] = Some(match &answer {
                    Ok(at) => Ok(Location {
                        sub_sequence_number,
                        ..at.clone()
                    }),
                    Err(failure) => Err(failure.clone()),
                });
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every record was validated out or packed"))
            .collect()
    }

    /// Puts `records` (the ones `results` has no answer for yet). Healthy
    /// records keep going round after round; a throttled record is retried
    /// up to [`CALL_ROUNDS`] times here, then handed back as retryable (and,
    /// in strict ordering, so is every later record of its key).
    async fn put(
        &self,
        records: &[Record],
        mut results: Vec<Option<Result<Location, Failure>>>,
    ) -> Vec<Result<Location, Failure>> {
        let mut last_error: Vec<Option<Failure>> = vec![None; records.len()];
        let mut failures = vec![0u32; records.len()];
        // Records of a call Kinesis rejected whole as invalid: each goes
        // alone next, so one bad record fails by itself.
        let mut alone = vec![false; records.len()];
        // Records that landed, and their PUT payload units.
        let mut landed = (0u64, 0u64);
        loop {
            let sendable = self.sendable(records, &results, &failures);
            if sendable.is_empty() {
                break;
            }
            let mut throttled = 0;
            let sizes: Vec<usize> = sendable.iter().map(|&i| records[i].size()).collect();
            let flags: Vec<bool> = sendable.iter().map(|&i| alone[i]).collect();
            // The calls of one round go out concurrently: in strict ordering a
            // round holds at most one record per key, so none can overtake another.
            let calls: Vec<Vec<usize>> =
                batching::calls_with_alone(&sizes, &flags, self.max_records_per_call)
                    .into_iter()
                    .map(|call| call.into_iter().map(|n| sendable[n]).collect())
                    .collect();
            let mut answers: Vec<Vec<Result<Location, Failure>>> = Vec::with_capacity(calls.len());
            for group in calls.chunks(CONCURRENT_CALLS) {
                let in_flight: Vec<_> = group
                    .iter()
                    .map(|indices| self.put_call(records, indices.as_slice()))
                    .collect();
                answers.extend(futures_util::future::join_all(in_flight).await);
            }
            for (indices, answer) in calls.iter().zip(answers) {
                let rejected_whole = indices.len() > 1
                    && answer
                        .iter()
                        .all(|r| matches!(r, Err(f) if classify::is_invalid_request(&f.code)));
                if rejected_whole {
                    tracing::warn!(
                        records = indices.len(),
                        "Kinesis rejected a whole PutRecords call as invalid; sending its records one by one to find the bad one"
                    );
                    for &i in indices {
                        alone[i] = true;
                    }
                    continue;
                }
                for (&i, result) in indices.iter().zip(answer) {
                    match result {
                        Ok(location) => {
                            landed.0 += 1;
                            landed.1 += aggregate::put_payload_units(records[i].size());
                            results[i] = Some(Ok(location));
                        }
                        Err(failure) if failure.retryable => {
                            failures[i] += 1;
                            throttled = throttled.max(failures[i]);
                            last_error[i] = Some(failure);
                        }
                        Err(failure) => results[i] = Some(Err(failure)),
                    }
                }
            }
            if throttled > 0 && throttled < CALL_ROUNDS {
                let wait =
                    crate::delivery::backoff_wait(&self.retry, throttled).min(MAX_ROUND_WAIT);
                tokio::time::sleep(wait).await;
            }
        }
        self.metrics.destination(&self.destination, |m| {
            m.kinesis_records += landed.0;
            m.kinesis_put_payload_units += landed.1;
        });
        results
            .into_iter()
            .zip(last_error)
            .map(|(result, error)| {
                result.unwrap_or_else(|| {
                    Err(error.unwrap_or_else(|| Failure {
                        code: failure_codes::HELD_BACK.into(),
                        message: "not sent: an earlier record with the same partition key has not landed yet".into(),
                        retryable: true,
                    }))
                })
            })
            .collect()
    }

    /// The records to send this round: every unfinished one that has
    /// retries left (relaxed), or only the first unfinished record of each
    /// partition key, if it has retries left (strict).
    fn sendable(
        &self,
        records: &[Record],
        results: &[Option<Result<Location, Failure>>],
        failures: &[u32],
    ) -> Vec<usize> {
        let unfinished = (0..records.len()).filter(|&i| results[i].is_none());
        match self.ordering {
            KinesisOrdering::Relaxed => unfinished.filter(|&i| failures[i] < CALL_ROUNDS).collect(),
            KinesisOrdering::Strict => {
                let mut seen = HashSet::new();
                unfinished
                    .filter(|&i| seen.insert(records[i].partition_key.as_str()))
                    .filter(|&i| failures[i] < CALL_ROUNDS)
                    .collect()
            }
        }
    }

    /// One PutRecords call; one result per index.
    async fn put_call(
        &self,
        records: &[Record],
        indices: &[usize],
    ) -> Vec<Result<Location, Failure>> {
        let entries = indices.iter().map(|&i| {
            let r = &records[i];
            PutRecordsRequestEntry::builder()
                .partition_key(&r.partition_key)
                .set_explicit_hash_key(r.explicit_hash_key.clone())
                .data(Blob::new(r.data.clone()))
                .build()
                .expect("data and partition key are set")
        });
        let mut request = self
            .client
            .put_records()
            .set_records(Some(entries.collect()));
        request = match &self.stream {
            KinesisStream::Name(name) => request.stream_name(name),
            KinesisStream::Arn(arn) => request.stream_arn(arn),
        };
        match request.send().await {
            Ok(output) => {
                let entries = output.records();
                indices
                    .iter()
                    .enumerate()
                    .map(|(n, _)| match entries.get(n) {
                        Some(entry) => match (
                            entry.shard_id(),
                            entry.sequence_number(),
                            entry.error_code(),
                        ) {
                            (Some(shard), Some(sequence), None) => Ok(Location {
                                shard_id: shard.to_owned(),
                                sequence_number: sequence.to_owned(),
                                sub_sequence_number: None,
                            }),
                            (_, _, code) => {
                                let code = code.unwrap_or(failure_codes::UNKNOWN_ERROR);
                                Err(failure(code, entry.error_message().unwrap_or(code)))
                            }
                        },
                        None => Err(failure(
                            failure_codes::INTERNAL_FAILURE,
                            "PutRecords returned fewer results than records",
                        )),
                    })
                    .collect()
            }
            Err(error) => {
                let failure = call_failure(&error);
                tracing::warn!(code = %failure.code, retryable = failure.retryable, message = %failure.message, "PutRecords failed");
                indices.iter().map(|_| Err(failure.clone())).collect()
            }
        }
    }
}

/// Kinesis' limit on one record: its data and partition key together.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

impl Record {
    /// What counts against Kinesis' record and call limits.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// A record Kinesis would reject anyway fails here, alone and for good:
/// sent, it would make Kinesis reject the whole call with its neighbours.
fn validate(record: &Record) -> Option<Result<Location, Failure>> {
    if record.size() > MAX_RECORD_BYTES {
        return Some(Err(Failure {
            code: failure_codes::RECORD_TOO_LARGE.into(),
            message: format!(
                "the record is {} bytes (data and partition key), over Kinesis' limit of {MAX_RECORD_BYTES}",
                record.size()
            ),
            retryable: false,
        }));
    }
    let chars = record.partition_key.chars().count();
    if chars == 0 || chars > MAX_PARTITION_KEY_CHARS {
        return Some(Err(Failure {
            code: failure_codes::INVALID_PARTITION_KEY.into(),
            message: format!(
                "a partition key must be 1 to {MAX_PARTITION_KEY_CHARS} characters; this one has {chars}"
            ),
            retryable: false,
        }));
    }
    None
}

/// Classifies a failed call: service errors by code; no answer at all
/// (connection refused, timeout) is transient.
fn call_failure<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: &SdkError<E, R>,
) -> Failure {
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("UnknownServiceError");
            let message = service.err().message().unwrap_or(code);
            failure(code, message)
        }
        SdkError::ConstructionFailure(_) => Failure {
            code: "RequestConstructionFailed".into(),
            message: error_chain(error),
            retryable: false,
        },
        _ => Failure {
            code: crate::failure_codes::CONNECTION_FAILED.into(),
            message: format!("Kinesis did not answer: {}", error_chain(error)),
            retryable: true,
        },
    }
}
