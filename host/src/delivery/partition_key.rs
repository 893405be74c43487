//! Reading an event's partition key: the field that orders its delivery.

use serde_json::Value;

use crate::config::PartitionKey;
use crate::log::EventRecord;

impl PartitionKey {
    /// The key of `event`. A missing field is the empty key (such events are
    /// ordered among themselves); `random` gives every event its own key.
    pub fn extract(&self, event: &EventRecord) -> String {
        let path = self.as_str();
        match path {
            "customerExternalId" => event.customer_external_id.clone(),
            "eventType" => event.event_type.clone(),
            "source" => event.source.clone(),
            "idempotencyKey" => event.idempotency_key.clone(),
            "correlationId" => event.correlation_id.clone().unwrap_or_default(),
            "random" => format!("\u{0}{}", event.sequence),
            _ => {
                let (raw, rest) = match path.split_once('.') {
                    Some(("metadata", rest)) => (event.metadata.get(), rest),
                    Some((_, rest)) => (event.payload.get(), rest),
                    None => return String::new(),
                };
                let Ok(root) = serde_json::from_str::<Value>(raw) else {
                    return String::new();
                };
                let found = rest
                    .split('.')
                    .try_fold(&root, |value, part| value.get(part));
                match found {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> EventRecord {
        serde_json::from_str(
            r#"{"id":"evt_1","sequence":7,"receivedAt":"2026-05-26T14:21:09Z","eventType":"order.completed",
            "occurredAt":"2026-05-26T14:21:08Z","source":"billing","customerExternalId":"acct_1",
            "idempotencyKey":"k","payload":{"order":{"id":"ord_1","n":3}},"metadata":{"region":"eu"}}"#,
        )
        .unwrap()
    }

    #[test]
    fn extracts_each_kind_of_path() {
        let event = record();
        let key = |p: &str| PartitionKey::parse(p).unwrap().extract(&event);
        assert_eq!(key("customerExternalId"), "acct_1");
        assert_eq!(key("eventType"), "order.completed");
        assert_eq!(key("correlationId"), "");
        assert_eq!(key("metadata.region"), "eu");
        assert_eq!(key("payload.order.id"), "ord_1");
        assert_eq!(key("payload.order.n"), "3");
        assert_eq!(key("payload.missing"), "");
        assert_ne!(key("random"), key("eventType"));
        assert!(PartitionKey::parse("payload.").is_none());
        assert!(PartitionKey::parse("customer").is_none());
    }
}
