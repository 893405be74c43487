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

use pushrail_sdk::{Error, Event, Transform, export_transform, parse_config};
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
    /// (part, pointer inside the part): ("payload", "/card/number").
    targets: Vec<(Part, String)>,
    replacement: Option<Value>,
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Payload,
    Metadata,
}

impl Transform for Redact {
    fn init(config: &str) -> Result<Self, Error> {
        let config: Config = parse_config(config)?;
        let mut targets = Vec::new();
        for pointer in config.pointers {
            let (part, rest) = if let Some(rest) = pointer.strip_prefix("/payload") {
                (Part::Payload, rest)
            } else if let Some(rest) = pointer.strip_prefix("/metadata") {
                (Part::Metadata, rest)
            } else {
                return Err(Error::new(
                    "bad_config",
                    format!("pointer {pointer:?} must start with /payload/ or /metadata/"),
                ));
            };
            if !rest.starts_with('/') {
                return Err(Error::new(
                    "bad_config",
                    format!("pointer {pointer:?} names no field"),
                ));
            }
            targets.push((part, rest.to_owned()));
        }
        Ok(Redact {
            targets,
            replacement: config.replacement,
        })
    }

    fn transform(&mut self, mut event: Event) -> Result<Vec<Event>, Error> {
        for part in [Part::Payload, Part::Metadata] {
            let pointers: Vec<&str> = self
                .targets
                .iter()
                .filter(|(p, _)| *p == part)
                .map(|(_, pointer)| pointer.as_str())
                .collect();
            if pointers.is_empty() {
                continue;
            }
            let mut value = match part {
                Part::Payload => event.payload_value()?,
                Part::Metadata => event.metadata_value()?,
            };
            for pointer in pointers {
                redact(&mut value, pointer, self.replacement.as_ref());
            }
            match part {
                Part::Payload => event.set_payload_value(&value)?,
                Part::Metadata => event.set_metadata_value(&value)?,
            }
        }
        Ok(vec![event])
    }
}

/// Replaces (or removes) the value at `pointer`, if there is one.
fn redact(root: &mut Value, pointer: &str, replacement: Option<&Value>) {
    let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    let last = last.replace("~1", "/").replace("~0", "~");
    let Some(parent) = root.pointer_mut(parent) else {
        return;
    };
    match parent {
        Value::Object(map) => match replacement {
            Some(r) if map.contains_key(&last) => {
                map.insert(last, r.clone());
            }
            Some(_) => {}
            None => {
                map.remove(&last);
            }
        },
        Value::Array(items) => {
            if let Ok(index) = last.parse::<usize>()
                && index < items.len()
            {
                match replacement {
                    Some(r) => items[index] = r.clone(),
                    None => {
                        items.remove(index);
                    }
                }
            }
        }
        _ => {}
    }
}

export_transform!(Redact);

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn replaces_removes_and_ignores() {
        let mut v = json!({"card": {"number": "4242", "brand": "visa"}, "emails": ["a", "b"]});
        super::redact(&mut v, "/card/number", Some(&json!("[REDACTED]")));
        super::redact(&mut v, "/card/brand", None);
        super::redact(&mut v, "/emails/0", Some(&json!("x")));
        super::redact(&mut v, "/missing/field", None);
        assert_eq!(
            v,
            json!({"card": {"number": "[REDACTED]"}, "emails": ["x", "b"]})
        );
    }
}
