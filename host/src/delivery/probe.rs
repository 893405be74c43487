//! Test deliveries (`POST …/destinations/{id}/test`): one synthetic event
//! through a destination's transforms, plugin and sinks, so a customer
//! sees at once whether its stream, topic, role or password work. The
//! event never enters the log and the running worker is untouched: the
//! probe starts its own pipeline and sinks beside it and drops them after.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::pipeline::Pipeline;
use super::settle::Verdict;
use super::{DeliveryError, bind_sinks};
use crate::config::{Config, DestinationConfig, PartitionKey};
use crate::failure_codes;
use crate::log::format_time;
use crate::metrics::Metrics;
use crate::runtime::{Event, PluginVersions, Runtime};

/// The event type of test events, so a consumer can tell them apart.
pub const TEST_EVENT_TYPE: &str = "pushrail.test";

/// The longest a test delivery may take; a sink still waiting then is
/// reported as `timeout`. Kafka's `delivery_timeout` is cut to this.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(8);

/// What starting a destination's pipeline takes — the plugins, the
/// metrics, where file sinks write — for the running delivery and for test
/// deliveries alike.
#[derive(Clone)]
pub struct PipelineStarter {
    pub(super) runtime: Arc<Runtime>,
    pub(super) plugin_versions: Arc<PluginVersions>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) data_dir: PathBuf,
}

/// How a test delivery went.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    /// `delivered`, `filtered` (a transform dropped the event) or `failed`.
    pub outcome: ProbeOutcome,
    /// Where the event landed (e.g. `shardId` and `sequenceNumber`, or
    /// `partition` and `offset`), when delivered.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub coordinates: BTreeMap<String, String>,
    /// Why it failed, when it failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<ProbeError>,
    /// The test event's id, to find it in the stream or topic.
    pub event_id: String,
    pub took_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    Delivered,
    Filtered,
    Failed,
}

/// A failed test delivery: the code the sink or plugin gave, and what kind
/// of problem that is, so a UI can say "check the role's permissions"
/// rather than print a service's error name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeError {
    pub category: Category,
    pub code: String,
    pub message: String,
    /// Whether live delivery would retry this (it may pass by itself).
    pub retryable: bool,
}

/// The kinds of setup problem a test tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The credentials were refused: wrong key or password, a role that
    /// cannot be assumed, an expired token.
    AuthenticationFailed,
    /// Known credentials without the permission (IAM policy, Kafka ACL).
    AccessDenied,
    /// No such stream or topic.
    NotFound,
    /// The service did not answer (address, port, network, TLS), or not in time.
    Unreachable,
    /// The service asked us to slow down; the setup itself is fine.
    Throttled,
    /// The service refused the record (too large, bad key).
    InvalidRecord,
    /// A plugin failed (trap, time or memory limit, refused config).
    Plugin,
    Other,
}

impl PipelineStarter {
    /// Binds `destination`'s sinks and starts its plugins.
    pub(super) async fn start(
        &self,
        config: &Config,
        destination: &DestinationConfig,
    ) -> Result<Pipeline, DeliveryError> {
        let sinks = bind_sinks(&self.data_dir, destination, &self.metrics).await?;
        Pipeline::start(
            self.runtime.clone(),
            &self.plugin_versions,
            config,
            destination,
            sinks,
        )
        .await
    }

    /// Delivers a test event for `destination` (as configured in `config`)
    /// and reports how it went. Never fails: a destination that cannot even
    /// start is a failed test with the reason.
    pub async fn probe(&self, config: &Config, destination: &DestinationConfig) -> ProbeReport {
        let customer = match destination.subscription.customers.as_slice() {
            [only] => only.as_str(),
            _ => "pushrail-test",
        };
        let mut event = test_event(customer);
        give_key(&mut event, &destination.partition_key);
        let event_id = event.id.clone();
        let started = Instant::now();
        let destination = bounded(destination);
        let run = self.run(config, &destination, event);
        let verdict = match tokio::time::timeout(PROBE_TIMEOUT, run).await {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(error)) => Verdict::Permanent(super::Failure::new(
                start_failure_code(&error),
                error.to_string(),
            )),
            Err(_) => Verdict::Retryable(super::Failure::new(
                "timeout",
                format!("no answer within {}s", PROBE_TIMEOUT.as_secs()),
            )),
        };
        report(verdict, event_id, started.elapsed())
    }

    async fn run(
        &self,
        config: &Config,
        destination: &DestinationConfig,
        event: Event,
    ) -> Result<Verdict, DeliveryError> {
        let mut pipeline = self.start(config, destination).await?;
        let verdict = pipeline
            .run(vec![event], &destination.batch)
            .await
            .pop()
            .flatten()
            .unwrap_or_else(Verdict::no_outcome);
        // A Kafka producer's teardown waits on librdkafka: not on an async thread.
        tokio::task::spawn_blocking(move || drop(pipeline));
        Ok(verdict)
    }
}

/// `destination` with its sink waits cut to the probe's timeout.
fn bounded(destination: &DestinationConfig) -> DestinationConfig {
    let mut destination = destination.clone();
    if let Some(kafka) = &mut destination.kafka {
        let limit = PROBE_TIMEOUT - Duration::from_secs(2);
        kafka.producer.delivery_timeout = kafka.producer.delivery_timeout.min(limit);
    }
    destination
}

/// The synthetic event: marked as a test in its type, source and payload.
fn test_event(customer: &str) -> Event {
    let id = format!("evt_test_{}", ulid::Ulid::new());
    let now = format_time(SystemTime::now());
    Event {
        id: id.clone(),
        sequence: 0,
        event_type: TEST_EVENT_TYPE.to_owned(),
        occurred_at: now,
        source: "pushrail".to_owned(),
        customer_external_id: customer.to_owned(),
        idempotency_key: id,
        correlation_id: None,
        payload: r#"{"test":true,"message":"A test event from Pushrail: this destination works."}"#
            .to_owned(),
        metadata: "{}".to_owned(),
    }
}

/// Fills the field the destination's partition key names, so the test
/// event has a key like a real one (a `payload.account` key would
/// otherwise be empty, which Kinesis refuses).
fn give_key(event: &mut Event, key: &PartitionKey) {
    let (json, path) = match key {
        PartitionKey::CorrelationId => {
            event.correlation_id = Some(event.id.clone());
            return;
        }
        PartitionKey::Payload(path) => (&mut event.payload, path),
        PartitionKey::Metadata(path) => (&mut event.metadata, path),
        _ => return,
    };
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(json) else {
        return;
    };
    let mut at = &mut value;
    for part in path {
        if !at.is_object() {
            *at = serde_json::Value::Object(serde_json::Map::new());
        }
        at = at
            .as_object_mut()
            .expect("made an object above")
            .entry(part.clone())
            .or_insert(serde_json::Value::Null);
    }
    *at = serde_json::Value::String("pushrail-test".to_owned());
    *json = value.to_string();
}

fn report(verdict: Verdict, event_id: String, took: Duration) -> ProbeReport {
    let retryable = matches!(verdict, Verdict::Retryable(_));
    let (outcome, coordinates, error) = match verdict {
        Verdict::Delivered(coordinates) => (ProbeOutcome::Delivered, coordinates, None),
        Verdict::Filtered => (ProbeOutcome::Filtered, BTreeMap::new(), None),
        Verdict::Retryable(failure) | Verdict::Permanent(failure) => (
            ProbeOutcome::Failed,
            BTreeMap::new(),
            Some(probe_error(failure, retryable)),
        ),
    };
    ProbeReport {
        outcome,
        coordinates,
        error,
        event_id,
        took_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
    }
}

fn probe_error(failure: super::Failure, retryable: bool) -> ProbeError {
    ProbeError {
        category: categorize(&failure.code, &failure.message),
        code: failure.code,
        message: failure.message,
        retryable,
    }
}

/// The code of a destination that could not even start for the test.
fn start_failure_code(error: &DeliveryError) -> &'static str {
    match error {
        DeliveryError::Init { .. }
        | DeliveryError::UnknownPlugin { .. }
        | DeliveryError::PluginFailed { .. }
        | DeliveryError::WrongWorld { .. }
        | DeliveryError::Signing { .. } => failure_codes::PLUGIN_INIT,
        DeliveryError::File { .. } => failure_codes::IO_ERROR,
        DeliveryError::Kinesis { .. } | DeliveryError::Kafka { .. } | DeliveryError::Aws { .. } => {
            "SinkUnavailable"
        }
    }
}

/// What kind of problem a failure code (an AWS or Kafka error name, or one
/// of ours) is. The message decides only where the code is too general
/// (an AWS SDK connection failure that was really a refused AssumeRole).
pub fn categorize(code: &str, message: &str) -> Category {
    const AUTHENTICATION: &[&str] = &[
        "UnrecognizedClient",
        "InvalidSignature",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidClientTokenId",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "SaslAuthenticationFailed",
        "Authentication",
    ];
    const ACCESS: &[&str] = &["AccessDenied", "AuthorizationFailed", "NotAuthorized"];
    const NOT_FOUND: &[&str] = &["ResourceNotFound", "UnknownTopic", "UnknownPartition"];
    const THROTTLED: &[&str] = &["ProvisionedThroughputExceeded", "LimitExceeded", "Throttl"];
    const UNREACHABLE: &[&str] = &[
        "ConnectionFailed",
        "SinkUnavailable",
        "timeout",
        "TimedOut",
        "Transport",
        "AllBrokersDown",
        "BrokerNotAvailable",
        "Resolve",
        "NetworkException",
        "ProducerUnavailable",
    ];
    const INVALID: &[&str] = &[
        "RecordTooLarge",
        "InvalidPartitionKey",
        "MessageSizeTooLarge",
        "InvalidArgument",
        "InvalidRecord",
    ];
    let has = |list: &[&str]| list.iter().any(|c| code.contains(c));
    if code.starts_with("plugin_") {
        Category::Plugin
    } else if has(AUTHENTICATION) {
        Category::AuthenticationFailed
    } else if has(ACCESS) {
        Category::AccessDenied
    } else if has(NOT_FOUND) {
        Category::NotFound
    } else if has(THROTTLED) {
        Category::Throttled
    } else if has(INVALID) {
        Category::InvalidRecord
    } else if has(UNREACHABLE) {
        // The AWS SDK reports a refused AssumeRole as a failed dispatch.
        if message.contains("AccessDenied") || message.contains("assume role") {
            Category::AuthenticationFailed
        } else {
            Category::Unreachable
        }
    } else {
        Category::Other
    }
}

#[cfg(test)]
mod tests {
    use super::{Category, categorize};

    #[test]
    fn service_codes_fall_in_their_categories() {
        let cases = [
            ("AccessDeniedException", Category::AccessDenied),
            ("TopicAuthorizationFailed", Category::AccessDenied),
            (
                "UnrecognizedClientException",
                Category::AuthenticationFailed,
            ),
            ("SaslAuthenticationFailed", Category::AuthenticationFailed),
            ("ExpiredTokenException", Category::AuthenticationFailed),
            ("ResourceNotFoundException", Category::NotFound),
            ("UnknownTopicOrPartition", Category::NotFound),
            (
                "ProvisionedThroughputExceededException",
                Category::Throttled,
            ),
            ("MessageTimedOut", Category::Unreachable),
            ("ConnectionFailed", Category::Unreachable),
            ("RecordTooLarge", Category::InvalidRecord),
            ("plugin_trap", Category::Plugin),
            ("InternalFailure", Category::Other),
        ];
        for (code, category) in cases {
            assert_eq!(categorize(code, ""), category, "{code}");
        }
    }
}
