//! Adds fields to an event's metadata: static ones from the config and
//! computed ones from the event itself.
//!
//! ```toml
//! [[transforms]]
//! name = "enrich"
//! plugin = "enrich"
//! config = { set = { pipeline = "pushrail", env = "prod" }, computed = ["eventFamily", "payloadBytes"] }
//! ```
//! Computed fields: `eventFamily` (the eventType up to its first `.`),
//! `payloadBytes` (size of the payload JSON), `sequence` (log position).

use pushrail_sdk::{
    EditTransform, Envelope, Error, EventView, Verdict, export_edit_transform, parse_config,
    pointer_token,
};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    set: Map<String, Value>,
    #[serde(default)]
    computed: Vec<String>,
}

const COMPUTED: [&str; 3] = ["eventFamily", "payloadBytes", "sequence"];

/// Public so that benchmarks can run the same logic natively.
pub struct Enrich {
    /// (`/metadata/<key>` pointer, JSON text) for each static field.
    set: Vec<(String, String)>,
    /// (`/metadata/<name>` pointer, name) for each computed field.
    computed: Vec<(String, String)>,
}

/// Sets its fields through the host: the metadata is parsed and printed
/// once by the host, and the rest of the event never enters the plugin.
impl EditTransform for Enrich {
    fn init(config: &str) -> Result<Self, Error> {
        let config: Config = parse_config(config)?;
        if let Some(unknown) = config
            .computed
            .iter()
            .find(|c| !COMPUTED.contains(&c.as_str()))
        {
            return Err(Error::new(
                "bad_config",
                format!(
                    "unknown computed field {unknown:?}; known: {}",
                    COMPUTED.join(", ")
                ),
            ));
        }
        let pointer = |key: &str| format!("/metadata/{}", pointer_token(key));
        Ok(Enrich {
            set: config
                .set
                .iter()
                .map(|(key, value)| (pointer(key), value.to_string()))
                .collect(),
            computed: config
                .computed
                .into_iter()
                .map(|name| (pointer(&name), name))
                .collect(),
        })
    }

    fn edit(&mut self, event: &mut impl EventView) -> Result<Verdict, Error> {
        for (pointer, json) in &self.set {
            event.set(pointer, json)?;
        }
        for (pointer, name) in &self.computed {
            let value: Value = match name.as_str() {
                "eventFamily" => event
                    .envelope(Envelope::EventType)
                    .unwrap_or_default()
                    .split('.')
                    .next()
                    .unwrap_or_default()
                    .into(),
                "payloadBytes" => event.get("/payload")?.unwrap_or_default().len().into(),
                _ => event.sequence().into(),
            };
            event.set(pointer, &value.to_string())?;
        }
        Ok(Verdict::Keep)
    }
}

export_edit_transform!(Enrich);

#[cfg(test)]
mod tests {
    use pushrail_sdk::{EditTransform, Event, ParsedEvent, Verdict};
    use serde_json::{Value, json};

    use super::Enrich;

    #[test]
    fn sets_static_and_computed_fields() {
        let mut enrich = Enrich::init(
            r#"{"set": {"pipeline": "pushrail", "a/b": 1}, "computed": ["eventFamily", "payloadBytes", "sequence"]}"#,
        )
        .unwrap();
        let payload = r#"{"amount": 12900}"#;
        let mut e = ParsedEvent::new(Event {
            sequence: 42,
            ..Event::sample(payload, r#"{"region": "eu"}"#)
        });
        assert_eq!(enrich.edit(&mut e).unwrap(), Verdict::Keep);
        let (e, changed) = e.finish();
        assert!(changed);
        assert_eq!(e.payload, payload, "the payload is not touched");
        let metadata: Value = serde_json::from_str(&e.metadata).unwrap();
        assert_eq!(
            metadata,
            json!({"region": "eu", "pipeline": "pushrail", "a/b": 1, "eventFamily": "order",
                   "payloadBytes": payload.len(), "sequence": 42})
        );
        assert!(Enrich::init(r#"{"computed": ["nope"]}"#).is_err());
    }
}
