//! Field paths: how a destination names the field that orders its
//! delivery (its partition key).

use serde_json::Value;

use crate::EventFields;

/// A parsed field path: an envelope field, a path into the metadata or
/// the payload, or `random`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldPath {
    /// `customerExternalId`.
    CustomerExternalId,
    /// `eventType`.
    EventType,
    /// `source`.
    Source,
    /// `idempotencyKey`.
    IdempotencyKey,
    /// `correlationId` (empty when absent).
    CorrelationId,
    /// `random`: the event id, so every event has its own key (no
    /// ordering) and keys spread evenly over shards and partitions.
    Random,
    /// `metadata.<field>…`.
    Metadata(Vec<String>),
    /// `payload.<field>…`.
    Payload(Vec<String>),
}

impl FieldPath {
    /// The envelope fields a path may name.
    pub const ENVELOPE_FIELDS: [&'static str; 5] = [
        "customerExternalId",
        "eventType",
        "source",
        "idempotencyKey",
        "correlationId",
    ];

    /// Parses `customerExternalId`, `metadata.region`, `payload.order.id`,
    /// `random`…; `None` for anything else (an unknown field, an empty
    /// part).
    pub fn parse(text: &str) -> Option<Self> {
        let nested = |rest: &str| {
            let parts: Vec<String> = rest.split('.').map(str::to_owned).collect();
            parts.iter().all(|p| !p.is_empty()).then_some(parts)
        };
        Some(match text {
            "customerExternalId" => Self::CustomerExternalId,
            "eventType" => Self::EventType,
            "source" => Self::Source,
            "idempotencyKey" => Self::IdempotencyKey,
            "correlationId" => Self::CorrelationId,
            "random" => Self::Random,
            _ => {
                if let Some(rest) = text.strip_prefix("metadata.") {
                    Self::Metadata(nested(rest)?)
                } else if let Some(rest) = text.strip_prefix("payload.") {
                    Self::Payload(nested(rest)?)
                } else {
                    return None;
                }
            }
        })
    }

    /// The path as written in a config.
    pub fn to_text(&self) -> String {
        match self {
            Self::CustomerExternalId => "customerExternalId".into(),
            Self::EventType => "eventType".into(),
            Self::Source => "source".into(),
            Self::IdempotencyKey => "idempotencyKey".into(),
            Self::CorrelationId => "correlationId".into(),
            Self::Random => "random".into(),
            Self::Metadata(parts) => format!("metadata.{}", parts.join(".")),
            Self::Payload(parts) => format!("payload.{}", parts.join(".")),
        }
    }

    /// The value at this path in `event`, as a string: strings as they
    /// are, other JSON values as JSON text; a missing field (or null) is
    /// the empty string.
    pub fn value_in(&self, event: &impl EventFields) -> String {
        match self {
            Self::CustomerExternalId => event.customer_external_id().to_owned(),
            Self::EventType => event.event_type().to_owned(),
            Self::Source => event.source().to_owned(),
            Self::IdempotencyKey => event.idempotency_key().to_owned(),
            Self::CorrelationId => event.correlation_id().unwrap_or_default().to_owned(),
            Self::Random => event.id().to_owned(),
            Self::Metadata(parts) => nested_value(event.metadata(), parts),
            Self::Payload(parts) => nested_value(event.payload(), parts),
        }
    }
}

impl Default for FieldPath {
    /// `customerExternalId`: one customer's events stay in order.
    fn default() -> Self {
        Self::CustomerExternalId
    }
}

fn nested_value(json: &str, parts: &[String]) -> String {
    let Ok(root) = serde_json::from_str::<Value>(json) else {
        return String::new();
    };
    match parts.iter().try_fold(&root, |value, part| value.get(part)) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_event::TestEvent;

    #[test]
    fn parses_and_reads_each_kind_of_path() {
        let event = TestEvent::new();
        let key = |p: &str| FieldPath::parse(p).unwrap().value_in(&event);
        assert_eq!(key("customerExternalId"), "acct_1");
        assert_eq!(key("eventType"), "order.\"completed\"");
        assert_eq!(key("correlationId"), "req_4f30b2");
        assert_eq!(key("metadata.region"), "eu");
        assert_eq!(key("payload.order.id"), "ord_1");
        assert_eq!(key("payload.order.n"), "3");
        assert_eq!(key("payload.missing"), "");
        assert_eq!(key("random"), "evt_1");
        for text in ["payload.", "payload..x", "customer", "metadata", ""] {
            assert!(FieldPath::parse(text).is_none(), "{text}");
        }
        for text in ["random", "payload.order.id", "correlationId"] {
            assert_eq!(FieldPath::parse(text).unwrap().to_text(), text);
        }
        let none = TestEvent {
            correlation_id: None,
            ..TestEvent::new()
        };
        assert_eq!(FieldPath::CorrelationId.value_in(&none), "");
    }
}
