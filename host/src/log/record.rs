//! How an event is stored: one JSON object holding the log's own fields
//! (`id`, `sequence`, `receivedAt`) followed by the canonical event. The same
//! bytes are what `GET /v1/events/{id}` returns.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The canonical event as a client sent it, after validation. Field order
/// here is the order in the stored JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventBody<'a> {
    pub event_type: &'a str,
    pub occurred_at: &'a str,
    pub source: &'a str,
    pub customer_external_id: &'a str,
    pub idempotency_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<&'a str>,
    pub payload: &'a RawValue,
    pub metadata: &'a RawValue,
}

/// An event ready to append: its canonical JSON and its idempotency scope.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `customerExternalId`, for the log's index by customer.
    pub customer: String,
    pub source: String,
    pub idempotency_key: String,
    /// The serialized [`EventBody`], a JSON object.
    pub body: Vec<u8>,
}

impl NewEvent {
    pub fn new(body: &EventBody<'_>) -> Self {
        Self {
            customer: body.customer_external_id.to_owned(),
            source: body.source.to_owned(),
            idempotency_key: body.idempotency_key.to_owned(),
            body: serde_json::to_vec(body).expect("an EventBody always serializes"),
        }
    }
}

/// A stored event, decoded.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    pub id: String,
    pub sequence: u64,
    pub received_at: String,
    pub event_type: String,
    pub occurred_at: String,
    pub source: String,
    pub customer_external_id: String,
    pub idempotency_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    pub payload: Box<RawValue>,
    pub metadata: Box<RawValue>,
}

/// The few fields the retention sweep and duplicate lookups need,
/// borrowed when they can be (a value with a JSON escape in it, such as a
/// quote in an idempotency key, is unescaped into an owned copy).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecordKeys<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub received_at: Cow<'a, str>,
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    #[serde(borrow)]
    pub idempotency_key: Cow<'a, str>,
    #[serde(borrow)]
    pub customer_external_id: Cow<'a, str>,
}

/// Builds the stored record by prefixing the body object with the log's fields.
pub(crate) fn encode(id: &str, sequence: u64, received_at: &str, body: &[u8]) -> Vec<u8> {
    debug_assert!(body.first() == Some(&b'{') && body.len() > 2);
    let mut out = Vec::with_capacity(body.len() + 96);
    out.extend_from_slice(b"{\"id\":\"");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\",\"sequence\":");
    out.extend_from_slice(sequence.to_string().as_bytes());
    out.extend_from_slice(b",\"receivedAt\":\"");
    out.extend_from_slice(received_at.as_bytes());
    out.extend_from_slice(b"\",");
    out.extend_from_slice(&body[1..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_record_decodes_with_all_fields() {
        let payload = RawValue::from_string(r#"{"amount":12900}"#.into()).unwrap();
        let metadata = RawValue::from_string("{}".into()).unwrap();
        let body = EventBody {
            event_type: "order.completed",
            occurred_at: "2026-05-26T14:21:08.493Z",
            source: "billing",
            customer_external_id: "acct_1",
            idempotency_key: "k1",
            correlation_id: Some("req_1"),
            payload: &payload,
            metadata: &metadata,
        };
        let event = NewEvent::new(&body);
        let bytes = encode("evt_X", 42, "2026-05-26T14:21:09Z", &event.body);
        let record: EventRecord = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(record.id, "evt_X");
        assert_eq!(record.sequence, 42);
        assert_eq!(record.event_type, "order.completed");
        assert_eq!(record.correlation_id.as_deref(), Some("req_1"));
        assert_eq!(record.payload.get(), r#"{"amount":12900}"#);
        let keys: RecordKeys<'_> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            (keys.source.as_ref(), keys.idempotency_key.as_ref()),
            ("billing", "k1")
        );
    }
}
