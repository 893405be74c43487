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

impl Event {
    /// [`Event::to_json`] as text, built without parsing the payload and
    /// metadata (they are spliced in after a validity check): what a
    /// destination writes per record, at a fraction of the cost.
    pub fn to_json_string(&self) -> Result<String, Error> {
        for (name, text) in [("payload", &self.payload), ("metadata", &self.metadata)] {
            serde_json::from_str::<serde::de::IgnoredAny>(text)
                .map_err(|e| Error::new("bad_event", format!("{name} is not JSON: {e}")))?;
        }
        let mut out = String::with_capacity(self.payload.len() + self.metadata.len() + 320);
        let field = |out: &mut String, name: &str, value: &str| {
            out.push_str(name);
            out.push_str(&serde_json::to_string(value).expect("strings serialize"));
        };
        field(&mut out, "{\"eventId\":", &self.id);
        out.push_str(",\"sequence\":");
        out.push_str(&self.sequence.to_string());
        field(&mut out, ",\"eventType\":", &self.event_type);
        field(&mut out, ",\"occurredAt\":", &self.occurred_at);
        field(&mut out, ",\"source\":", &self.source);
        field(
            &mut out,
            ",\"customerExternalId\":",
            &self.customer_external_id,
        );
        field(&mut out, ",\"idempotencyKey\":", &self.idempotency_key);
        if let Some(correlation) = &self.correlation_id {
            field(&mut out, ",\"correlationId\":", correlation);
        }
        out.push_str(",\"payload\":");
        out.push_str(self.payload.trim());
        out.push_str(",\"metadata\":");
        out.push_str(self.metadata.trim());
        out.push('}');
        Ok(out)
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
        assert_eq!(broken.to_json_string().unwrap_err().code, "bad_event");
    }
}
