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

use pushrail_sdk::{Error, Event, Transform, export_transform, glob_matches, parse_config};
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
        let included = self.include.is_empty()
            || self
                .include
                .iter()
                .any(|p| glob_matches(p, &event.event_type));
        let excluded = self
            .exclude
            .iter()
            .any(|p| glob_matches(p, &event.event_type));
        Ok(if included && !excluded {
            vec![event]
        } else {
            Vec::new()
        })
    }
}

export_transform!(Route);

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str) -> Event {
        Event {
            id: "evt_1".into(),
            sequence: 1,
            event_type: event_type.into(),
            occurred_at: "2026-05-26T14:21:08.493Z".into(),
            source: "s".into(),
            customer_external_id: "c".into(),
            idempotency_key: "k".into(),
            correlation_id: None,
            payload: "{}".into(),
            metadata: "{}".into(),
        }
    }

    #[test]
    fn includes_then_excludes() {
        let mut route = Route::init(r#"{"include": ["order.*"], "exclude": ["*.test"]}"#).unwrap();
        let kept = |route: &mut Route, t: &str| !route.transform(event(t)).unwrap().is_empty();
        assert!(kept(&mut route, "order.completed"));
        assert!(!kept(&mut route, "order.test"));
        assert!(!kept(&mut route, "refund.completed"));
    }
}
