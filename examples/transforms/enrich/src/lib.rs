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

use pushrail_sdk::{Error, Event, Transform, export_transform, parse_config};
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
pub struct Enrich(Config);

impl Transform for Enrich {
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
        Ok(Enrich(config))
    }

    fn transform(&mut self, mut event: Event) -> Result<Vec<Event>, Error> {
        let mut metadata = event.metadata_value()?;
        let Some(fields) = metadata.as_object_mut() else {
            return Err(Error::new("bad_event", "metadata is not an object"));
        };
        for (key, value) in &self.0.set {
            fields.insert(key.clone(), value.clone());
        }
        for name in &self.0.computed {
            let value: Value = match name.as_str() {
                "eventFamily" => event
                    .event_type
                    .split('.')
                    .next()
                    .unwrap_or_default()
                    .into(),
                "payloadBytes" => event.payload.len().into(),
                _ => event.sequence.into(),
            };
            fields.insert(name.clone(), value);
        }
        event.set_metadata_value(&metadata)?;
        Ok(vec![event])
    }
}

export_transform!(Enrich);
