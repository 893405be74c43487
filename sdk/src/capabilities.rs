//! The host capabilities a plugin calls: logging, the destination's
//! sinks (file, Kinesis, Kafka), webhook signatures, AWS calls, and what a
//! destination may ask of its own delivery. Each is bound by the host to
//! the one destination the instance serves.

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
