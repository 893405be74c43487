//! The stored event as the shared event logic reads it, so that the host
//! computes partition keys exactly as the plugins do.

use pushrail_event::EventFields;

use crate::log::EventRecord;

impl EventFields for EventRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn sequence(&self) -> u64 {
        self.sequence
    }
    fn event_type(&self) -> &str {
        &self.event_type
    }
    fn occurred_at(&self) -> &str {
        &self.occurred_at
    }
    fn source(&self) -> &str {
        &self.source
    }
    fn customer_external_id(&self) -> &str {
        &self.customer_external_id
    }
    fn idempotency_key(&self) -> &str {
        &self.idempotency_key
    }
    fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }
    fn payload(&self) -> &str {
        self.payload.get()
    }
    fn metadata(&self) -> &str {
        self.metadata.get()
    }
}

// The plugin's view of the event: the WIT record's generated binding.
pushrail_event::impl_event_fields!(crate::runtime::Event);

#[cfg(test)]
mod tests {
    use pushrail_event::{FieldPath, canonical_json};

    use super::*;

    fn record() -> EventRecord {
        serde_json::from_str(
            r#"{"id":"evt_1","sequence":7,"receivedAt":"2026-05-26T14:21:09Z","eventType":"order.completed",
            "occurredAt":"2026-05-26T14:21:08Z","source":"billing","customerExternalId":"acct_1",
            "idempotencyKey":"k","payload":{"order":{"id":"ord_1","n":3}},"metadata":{"region":"eu"}}"#,
        )
        .unwrap()
    }

    /// The stored record and the event the plugins get from it read the
    /// same: same keys, same canonical JSON.
    #[test]
    fn the_record_and_the_plugin_event_read_the_same() {
        let record = record();
        let event = crate::delivery::flights::to_plugin_event(&record);
        for path in [
            "customerExternalId",
            "payload.order.n",
            "metadata.region",
            "random",
        ] {
            let path = FieldPath::parse(path).unwrap();
            assert_eq!(path.value_in(&record), path.value_in(&event));
        }
        assert_eq!(
            canonical_json(&record).unwrap(),
            canonical_json(&event).unwrap()
        );
    }
}
