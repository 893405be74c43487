//! Which Kafka errors are worth retrying.

use crate::failure_codes;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Errors that pass with time: leadership moves, brokers restarting,
/// requests or records timing out, a full local queue. librdkafka has
/// already retried these until `delivery_timeout`; the destination's retry
/// policy takes over from there.
const TRANSIENT: &[RDKafkaErrorCode] = &[
    RDKafkaErrorCode::MessageTimedOut,
    RDKafkaErrorCode::QueueFull,
    RDKafkaErrorCode::NotLeaderForPartition,
    RDKafkaErrorCode::LeaderNotAvailable,
    RDKafkaErrorCode::RequestTimedOut,
    RDKafkaErrorCode::OperationTimedOut,
    RDKafkaErrorCode::BrokerTransportFailure,
    RDKafkaErrorCode::AllBrokersDown,
    RDKafkaErrorCode::NetworkException,
    RDKafkaErrorCode::NotEnoughReplicas,
    RDKafkaErrorCode::NotEnoughReplicasAfterAppend,
    RDKafkaErrorCode::KafkaStorageError,
    RDKafkaErrorCode::BrokerNotAvailable,
    RDKafkaErrorCode::ReplicaNotAvailable,
    RDKafkaErrorCode::NotController,
    RDKafkaErrorCode::TimedOutQueue,
    RDKafkaErrorCode::Retry,
    RDKafkaErrorCode::Resolve,
    RDKafkaErrorCode::BrokerDestroy,
    RDKafkaErrorCode::Fatal,
    RDKafkaErrorCode::PurgeQueue,
    RDKafkaErrorCode::PurgeInflight,
    RDKafkaErrorCode::OutOfOrderSequenceNumber,
    RDKafkaErrorCode::ThrottlingQuotaExceeded,
];

/// The Kafka error name of a failed produce (`TopicAuthorizationFailed`)
/// and whether it may succeed if retried. Everything not known to be
/// transient is permanent: TopicAuthorizationFailed, UnknownTopicOrPartition
/// (after librdkafka's metadata refresh), MessageSizeTooLarge, InvalidRecord…
pub fn classify(error: &KafkaError) -> (String, bool) {
    match error.rdkafka_error_code() {
        Some(code) => (format!("{code:?}"), TRANSIENT.contains(&code)),
        // Not a broker or librdkafka code: the producer itself is gone.
        None => (failure_codes::PRODUCER_UNAVAILABLE.into(), true),
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};

    fn produce(code: RDKafkaErrorCode) -> (String, bool) {
        super::classify(&KafkaError::MessageProduction(code))
    }

    #[test]
    fn names_and_classes() {
        assert_eq!(
            produce(RDKafkaErrorCode::NotLeaderForPartition),
            ("NotLeaderForPartition".into(), true)
        );
        assert_eq!(
            produce(RDKafkaErrorCode::MessageTimedOut),
            ("MessageTimedOut".into(), true)
        );
        assert_eq!(
            produce(RDKafkaErrorCode::BrokerTransportFailure),
            ("BrokerTransportFailure".into(), true)
        );
        assert_eq!(
            produce(RDKafkaErrorCode::TopicAuthorizationFailed),
            ("TopicAuthorizationFailed".into(), false)
        );
        assert_eq!(
            produce(RDKafkaErrorCode::MessageSizeTooLarge),
            ("MessageSizeTooLarge".into(), false)
        );
        assert_eq!(
            produce(RDKafkaErrorCode::UnknownTopicOrPartition),
            ("UnknownTopicOrPartition".into(), false)
        );
        assert_eq!(
            produce(RDKafkaErrorCode::InvalidRecord),
            ("InvalidRecord".into(), false)
        );
    }
}
