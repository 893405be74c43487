//! The canonical JSON of an event: what destinations write as a record,
//! with Pushrail's envelope fields first.

use std::fmt;

use crate::EventFields;

/// The event's payload or metadata is not valid JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalJsonError {
    /// `payload` or `metadata`.
    pub field: &'static str,
    /// What the JSON parser said.
    pub reason: String,
}

impl fmt::Display for CanonicalJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not a JSON object: {}", self.field, self.reason)
    }
}

impl std::error::Error for CanonicalJsonError {}

/// `{"eventId", "sequence", "eventType", "occurredAt", "source",
/// "customerExternalId", "idempotencyKey", ["correlationId",] "payload",
/// "metadata"}` as text. The payload and metadata are checked
/// ([`check_objects`]) and spliced in as they are, not parsed and printed
/// again: a fraction of the cost.
pub fn canonical_json(event: &impl EventFields) -> Result<String, CanonicalJsonError> {
    check_objects(event)?;
    Ok(canonical_json_unchecked(event))
}

/// That the event's payload and metadata are JSON objects, which is what
/// [`canonical_json_unchecked`] needs. The host checks it of every event
/// before a plugin sees it: at ingest, and of each event a transform
/// returns.
pub fn check_objects(event: &impl EventFields) -> Result<(), CanonicalJsonError> {
    for (field, text) in [("payload", event.payload()), ("metadata", event.metadata())] {
        let invalid = |reason: String| CanonicalJsonError { field, reason };
        if !text.trim_start().starts_with('{') {
            return Err(invalid("not an object".into()));
        }
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(())
}

/// [`canonical_json`] without the check, for an event whose payload and
/// metadata are known to be JSON objects (every event the host hands a
/// plugin): the check is a whole JSON parse, in a plugin the largest part
/// of rendering an event. Text that is not JSON is spliced in as it is.
pub fn canonical_json_unchecked(event: &impl EventFields) -> String {
    let (payload, metadata) = (event.payload().trim(), event.metadata().trim());
    let mut out = String::with_capacity(payload.len() + metadata.len() + 320);
    let field = |out: &mut String, name: &str, value: &str| {
        out.push_str(name);
        out.push_str(&serde_json::to_string(value).expect("strings serialize"));
    };
    field(&mut out, "{\"eventId\":", event.id());
    out.push_str(",\"sequence\":");
    out.push_str(&event.sequence().to_string());
    field(&mut out, ",\"eventType\":", event.event_type());
    field(&mut out, ",\"occurredAt\":", event.occurred_at());
    field(&mut out, ",\"source\":", event.source());
    field(
        &mut out,
        ",\"customerExternalId\":",
        event.customer_external_id(),
    );
    field(&mut out, ",\"idempotencyKey\":", event.idempotency_key());
    if let Some(correlation) = event.correlation_id() {
        field(&mut out, ",\"correlationId\":", correlation);
    }
    out.push_str(",\"payload\":");
    out.push_str(payload);
    out.push_str(",\"metadata\":");
    out.push_str(metadata);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::test_event::TestEvent;

    #[test]
    fn the_spliced_text_is_the_canonical_object() {
        let text = canonical_json(&TestEvent::new()).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            json!({
                "eventId": "evt_1", "sequence": 7, "eventType": "order.\"completed\"",
                "occurredAt": "2026-05-26T14:21:08.493Z", "source": "billing",
                "customerExternalId": "acct_1", "idempotencyKey": "k",
                "correlationId": "req_4f30b2",
                "payload": {"order": {"id": "ord_1", "n": 3}, "quote": "a\"b"},
                "metadata": {"region": "eu"}
            })
        );
        assert!(text.starts_with("{\"eventId\":\"evt_1\",\"sequence\":7,"));
    }

    #[test]
    fn a_broken_payload_is_an_error_not_a_broken_record() {
        let broken = TestEvent {
            payload: "{oops".into(),
            ..TestEvent::new()
        };
        assert_eq!(canonical_json(&broken).unwrap_err().field, "payload");
        let not_an_object = TestEvent {
            payload: " [1]".into(),
            ..TestEvent::new()
        };
        let error = check_objects(&not_an_object).unwrap_err();
        assert_eq!(
            (error.field, error.reason.as_str()),
            ("payload", "not an object")
        );
        assert!(check_objects(&TestEvent::new()).is_ok());
        let without = TestEvent {
            correlation_id: None,
            ..TestEvent::new()
        };
        assert!(!canonical_json(&without).unwrap().contains("correlationId"));
    }
}
