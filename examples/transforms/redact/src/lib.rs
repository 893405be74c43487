//! Redacts fields by JSON pointer before an event leaves Pushrail.
//!
//! ```toml
//! [[transforms]]
//! name = "redact-pii"
//! plugin = "redact"
//! config = { pointers = ["/payload/card/number", "/metadata/email"], replacement = "[REDACTED]" }
//! ```
//! Pointers start at the event: `/payload/…` or `/metadata/…`. Without
//! `replacement` the field is removed. A pointer that matches nothing is ignored.

use pushrail_sdk::{EditTransform, Error, EventView, Verdict, export_edit_transform, parse_config};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    pointers: Vec<String>,
    replacement: Option<Value>,
}

/// Public so that benchmarks can run the same logic natively.
pub struct Redact {
    pointers: Vec<String>,
    /// The replacement as JSON text; `None` removes.
    replacement: Option<String>,
}

/// Edits only the fields it names, through the host: the payload is parsed
/// and printed once by the host, not by the plugin.
impl EditTransform for Redact {
    fn init(config: &str) -> Result<Self, Error> {
        let config: Config = parse_config(config)?;
        for pointer in &config.pointers {
            let rest = pointer
                .strip_prefix("/payload")
                .or_else(|| pointer.strip_prefix("/metadata"))
                .ok_or_else(|| {
                    Error::new(
                        "bad_config",
                        format!("pointer {pointer:?} must start with /payload/ or /metadata/"),
                    )
                })?;
            if !rest.starts_with('/') {
                return Err(Error::new(
                    "bad_config",
                    format!("pointer {pointer:?} names no field"),
                ));
            }
        }
        Ok(Redact {
            pointers: config.pointers,
            replacement: config.replacement.as_ref().map(Value::to_string),
        })
    }

    fn edit(&mut self, event: &mut impl EventView) -> Result<Verdict, Error> {
        for pointer in &self.pointers {
            // A pointer that matches nothing (or whose parent is not a
            // container) is ignored.
            match &self.replacement {
                Some(json) => event.replace(pointer, json).map(drop)?,
                None => event.remove(pointer).map(drop)?,
            }
        }
        Ok(Verdict::Keep)
    }
}

export_edit_transform!(Redact);

#[cfg(test)]
mod tests {
    use pushrail_sdk::{EditTransform, Event, ParsedEvent, Verdict};
    use serde_json::{Value, json};

    use super::Redact;

    fn event(payload: Value, metadata: Value) -> ParsedEvent<Event> {
        ParsedEvent::new(Event::sample(&payload.to_string(), &metadata.to_string()))
    }

    #[test]
    fn replaces_removes_and_ignores() {
        let mut redact = Redact::init(
            r#"{"pointers": ["/payload/card/number", "/payload/emails/0", "/payload/missing/field", "/metadata/email"], "replacement": "[REDACTED]"}"#,
        )
        .unwrap();
        let mut e = event(
            json!({"card": {"number": "4242", "brand": "visa"}, "emails": ["a", "b"]}),
            json!({"email": "a@b", "region": "eu"}),
        );
        assert_eq!(redact.edit(&mut e).unwrap(), Verdict::Keep);
        let (e, changed) = e.finish();
        assert!(changed);
        let payload: Value = serde_json::from_str(&e.payload).unwrap();
        let metadata: Value = serde_json::from_str(&e.metadata).unwrap();
        assert_eq!(
            payload,
            json!({"card": {"number": "[REDACTED]", "brand": "visa"}, "emails": ["[REDACTED]", "b"]})
        );
        assert_eq!(metadata, json!({"email": "[REDACTED]", "region": "eu"}));

        let mut remove = Redact::init(r#"{"pointers": ["/payload/card/brand"]}"#).unwrap();
        let mut e = event(
            json!({"card": {"number": "4242", "brand": "visa"}}),
            json!({}),
        );
        remove.edit(&mut e).unwrap();
        let payload: Value = serde_json::from_str(&e.finish().0.payload).unwrap();
        assert_eq!(payload, json!({"card": {"number": "4242"}}));
        assert!(Redact::init(r#"{"pointers": ["/id"]}"#).is_err());
    }
}
