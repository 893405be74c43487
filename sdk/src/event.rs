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

    /// The value at a partition-key path: an envelope field
    /// (`customerExternalId`, `eventType`, `source`, `idempotencyKey`,
    /// `correlationId`), `metadata.<field>…`, `payload.<field>…`, or
    /// `random` (the event id, which spreads evenly). Missing: empty.
    pub fn field(&self, path: &str) -> String {
        match path {
            "customerExternalId" => self.customer_external_id.clone(),
            "eventType" => self.event_type.clone(),
            "source" => self.source.clone(),
            "idempotencyKey" => self.idempotency_key.clone(),
            "correlationId" => self.correlation_id.clone().unwrap_or_default(),
            "random" => self.id.clone(),
            _ => {
                let (root, rest) = match path.split_once('.') {
                    Some(("metadata", rest)) => (self.metadata_value(), rest),
                    Some(("payload", rest)) => (self.payload_value(), rest),
                    _ => return String::new(),
                };
                let Ok(root) = root else {
                    return String::new();
                };
                match rest
                    .split('.')
                    .try_fold(&root, |value, part| value.get(part))
                {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                }
            }
        }
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
