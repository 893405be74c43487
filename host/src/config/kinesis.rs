//! `[destinations.kinesis]`: the stream a destination writes, its region,
//! endpoint, ordering and credentials.

use super::aws::AwsAuth;
use super::fields::Fields;

/// `[destinations.kinesis]`.
#[derive(Debug, Clone, PartialEq)]
pub struct KinesisConfig {
    pub stream: KinesisStream,
    /// AWS region; `None`: from the environment (AWS_REGION, profile).
    pub region: Option<String>,
    /// A different endpoint, e.g. a local Kinesis API server.
    pub endpoint_url: Option<String>,
    pub ordering: KinesisOrdering,
    /// Records per PutRecords call, at most 500.
    pub max_records_per_call: usize,
    /// `aggregation = true`: a key's records go packed in aggregated records
    /// (the KPL format) of at most this many bytes, data plus partition key.
    pub aggregation: Option<usize>,
    pub auth: AwsAuth,
}

/// The largest `aggregation_max_bytes`: Kinesis' record limit less room
/// for the longest partition key (256 characters of up to 4 bytes).
pub const MAX_AGGREGATE_BYTES: u64 = (1 << 20) - 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KinesisStream {
    Name(String),
    Arn(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KinesisOrdering {
    /// No record of a partition key lands before an earlier one, even under
    /// partial failure: one record per key per call.
    Strict,
    /// Records are packed freely: highest throughput; a retried record may
    /// land after a later one of its key.
    Relaxed,
}

pub(super) fn read(k: &mut Fields<'_, '_, '_>) -> Option<KinesisConfig> {
    let stream = match (k.string("stream_name"), k.string("stream_arn")) {
        (Some(name), None) => Some(KinesisStream::Name(name)),
        (None, Some(arn)) if arn.starts_with("arn:") => Some(KinesisStream::Arn(arn)),
        (None, Some(arn)) => {
            k.report(
                "stream_arn",
                format!("\"{arn}\" is not an ARN (arn:aws:kinesis:…)"),
            );
            None
        }
        (Some(_), Some(_)) => {
            k.report("stream_name", "set stream_name or stream_arn, not both");
            None
        }
        (None, None) => {
            k.report("stream_name", "is required (or stream_arn)");
            None
        }
    };
    let ordering = k.choice(
        "ordering",
        KinesisOrdering::Strict,
        &[
            ("strict", KinesisOrdering::Strict),
            ("relaxed", KinesisOrdering::Relaxed),
        ],
    );
    let max_records_per_call = k.integer("max_records_per_call", 500, 1..=500) as usize;
    let aggregation = aggregation(k);
    let region = k.string("region");
    let endpoint_url = k.string("endpoint_url");
    let auth = super::aws::read_auth(k);
    Some(KinesisConfig {
        stream: stream?,
        region,
        endpoint_url,
        ordering,
        max_records_per_call,
        aggregation,
        auth: auth?,
    })
}

/// `aggregation` and `aggregation_max_bytes` (checked, and kept for when
/// aggregation is turned on, also while it is off).
fn aggregation(k: &mut Fields<'_, '_, '_>) -> Option<usize> {
    let on = k.boolean("aggregation", false);
    let default = crate::sinks::kinesis::aggregate::DEFAULT_MAX_BYTES as u64;
    let max_bytes = k.size("aggregation_max_bytes", default);
    if !(1024..=MAX_AGGREGATE_BYTES).contains(&max_bytes) {
        k.report(
            "aggregation_max_bytes",
            format!("must be from 1KiB to {MAX_AGGREGATE_BYTES} bytes (Kinesis' 1 MiB record limit less room for the partition key); {max_bytes} is not"),
        );
    }
    on.then_some(max_bytes as usize)
}
