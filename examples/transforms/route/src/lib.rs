//! Keeps or drops events by their `eventType`, so that a destination gets
//! only the events it is for.
//!
//! ```toml
//! [[transforms]]
//! name = "orders-only"
//! plugin = "route"
//! config = { include = ["order.*"], exclude = ["*.test"] }
//! ```
//! An event passes when it matches any `include` pattern (all pass when
//! there is none) and no `exclude` pattern. `*` matches any run of characters.

use pushrail_sdk::{Error, Event, Transform, export_transform, parse_config};
use serde::Deserialize;

/// Public so that benchmarks can run the same logic natively.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

impl Transform for Route {
    fn init(config: &str) -> Result<Self, Error> {
        parse_config(config)
    }

    fn transform(&mut self, event: Event) -> Result<Vec<Event>, Error> {
        let included =
            self.include.is_empty() || self.include.iter().any(|p| matches(p, &event.event_type));
        let excluded = self.exclude.iter().any(|p| matches(p, &event.event_type));
        Ok(if included && !excluded {
            vec![event]
        } else {
            Vec::new()
        })
    }
}

/// Glob match with `*` as the only wildcard.
fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

export_transform!(Route);

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("order.*", "order.completed"));
        assert!(matches("*.test", "order.test"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(matches("order.completed", "order.completed"));
        assert!(!matches("order.*", "refund.completed"));
        assert!(!matches("a*b*c", "acb"));
        assert!(!matches("ab*ba", "aba"));
    }
}
