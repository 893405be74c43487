//! Conveniences on [`Event`]: its JSON parts and its canonical form.

use serde_json::{Map, Value};

use crate::{Error, Event};

impl Event {
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

    /// The canonical JSON event with Pushrail's envelope fields (`eventId`,
    /// `sequence`) first: what destinations write as a record.
    pub fn to_json(&self) -> Result<Value, Error> {
        let mut out = Map::new();
        out.insert("eventId".into(), self.id.clone().into());
        out.insert("sequence".into(), self.sequence.into());
        out.insert("eventType".into(), self.event_type.clone().into());
        out.insert("occurredAt".into(), self.occurred_at.clone().into());
        out.insert("source".into(), self.source.clone().into());
        out.insert(
            "customerExternalId".into(),
            self.customer_external_id.clone().into(),
        );
        out.insert("idempotencyKey".into(), self.idempotency_key.clone().into());
        if let Some(correlation) = &self.correlation_id {
            out.insert("correlationId".into(), correlation.clone().into());
        }
        out.insert("payload".into(), self.payload_value()?);
        out.insert("metadata".into(), self.metadata_value()?);
        Ok(Value::Object(out))
    }
}

fn object_text(name: &str, value: &Value) -> Result<String, Error> {
    if !value.is_object() {
        return Err(Error::new(
            "bad_event",
            format!("{name} must be a JSON object"),
        ));
    }
    Ok(value.to_string())
}
