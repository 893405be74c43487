//! Conveniences on [`Event`]: its JSON parts and its canonical form.

use pushrail_event::{FieldPath, canonical_json_unchecked};
use serde_json::Value;

use crate::{Error, Event};

impl Event {
    /// An `order.completed` event with this payload and metadata (JSON
    /// object texts) and placeholder envelope fields: for plugins' unit
    /// tests (`Event { sequence: 42, ..Event::sample("{}", "{}") }`).
    pub fn sample(payload: &str, metadata: &str) -> Self {
        Self {
            id: "evt_1".into(),
            sequence: 1,
            event_type: "order.completed".into(),
            occurred_at: "2026-05-26T14:21:08.493Z".into(),
            source: "billing".into(),
            customer_external_id: "acct_1".into(),
            idempotency_key: "k".into(),
            correlation_id: None,
            payload: payload.into(),
            metadata: metadata.into(),
        }
    }

    /// The payload as a JSON value.
    pub fn payload_value(&self) -> Result<Value, Error> {
        serde_json::from_str(&self.payload)
            .map_err(|e| Error::new("bad_event", format!("payload: {e}")))
    }

    /// Replaces the payload; it must be a JSON object.
    pub fn set_payload_value(&mut self, payload: &Value) -> Result<(), Error> {
        self.payload = object_text("payload", payload)?;
        Ok(())
    }

    /// The metadata as a JSON value.
    pub fn metadata_value(&self) -> Result<Value, Error> {
        serde_json::from_str(&self.metadata)
            .map_err(|e| Error::new("bad_event", format!("metadata: {e}")))
    }

    /// Replaces the metadata; it must be a JSON object.
    pub fn set_metadata_value(&mut self, metadata: &Value) -> Result<(), Error> {
        self.metadata = object_text("metadata", metadata)?;
        Ok(())
    }

    /// The value at a partition-key path: an envelope field
    /// (`customerExternalId`, `eventType`, `source`, `idempotencyKey`,
    /// `correlationId`), `metadata.<field>…`, `payload.<field>…`, or
    /// `random` (the event id, which spreads evenly). Missing or not a
    /// path: empty. The host orders delivery by the same function.
    pub fn field(&self, path: &str) -> String {
        FieldPath::parse(path).map_or_else(String::new, |path| path.value_in(self))
    }

    /// The canonical JSON event with Pushrail's envelope fields (`eventId`,
    /// `sequence`) first: what destinations write as a record.
    pub fn to_json(&self) -> Result<Value, Error> {
        serde_json::from_str(&self.to_json_string()?)
            .map_err(|e| Error::new("bad_event", e.to_string()))
    }

    /// [`Event::to_json`] as text, built without parsing the payload and
    /// metadata (they are spliced in as they are): what a destination
    /// writes per record, at a fraction of the cost. The host renders
    /// events with the same function. Their JSON is not checked again here:
    /// the host hands a plugin only events whose payload and metadata are
    /// JSON objects (checked at ingest, and of every event a transform
    /// returns); an event a plugin changed itself is rendered as it is.
    /// (Always `Ok`; the `Result` stays so that plugins written when it
    /// checked still build.)
    pub fn to_json_string(&self) -> Result<String, Error> {
        Ok(canonical_json_unchecked(self))
    }
}

pushrail_event::impl_event_fields!(Event);

fn object_text(name: &str, value: &Value) -> Result<String, Error> {
    if !value.is_object() {
        return Err(Error::new(
            "bad_event",
            format!("{name} must be a JSON object"),
        ));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use crate::Event;

    #[test]
    fn the_spliced_text_equals_the_parsed_form() {
        let event = Event {
            id: "evt_1".into(),
            sequence: 7,
            event_type: "order.\"completed\"".into(),
            occurred_at: "2026-05-26T14:21:08.493Z".into(),
            source: "billing".into(),
            customer_external_id: "acct_1".into(),
            idempotency_key: "k".into(),
            correlation_id: Some("req".into()),
            payload: r#"{"amount": 12900, "nested": {"a": [1, 2]}}"#.into(),
            metadata: "{}".into(),
        };
        let spliced: serde_json::Value =
            serde_json::from_str(&event.to_json_string().unwrap()).unwrap();
        assert_eq!(spliced, event.to_json().unwrap());
        let broken = Event {
            payload: "{oops".into(),
            ..event
        };
        assert_eq!(broken.to_json().unwrap_err().code, "bad_event");
    }
}
