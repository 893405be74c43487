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

use pushrail_sdk::{
    EditTransform, Error, EventView, Verdict, export_edit_transform, glob_matches, parse_config,
};
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

/// Reads one field (`eventType`) and edits nothing: the event itself never
/// crosses into the plugin.
impl EditTransform for Route {
    fn init(config: &str) -> Result<Self, Error> {
        parse_config(config)
    }

    fn edit(&mut self, event: &mut impl EventView) -> Result<Verdict, Error> {
        let event_type = event.event_type();
        let included =
            self.include.is_empty() || self.include.iter().any(|p| glob_matches(p, &event_type));
        let excluded = self.exclude.iter().any(|p| glob_matches(p, &event_type));
        Ok(if included && !excluded {
            Verdict::Keep
        } else {
            Verdict::Replaced(Vec::new())
        })
    }
}

export_edit_transform!(Route);

#[cfg(test)]
mod tests {
    use super::*;
    use pushrail_sdk::{Event, ParsedEvent};

    fn event(event_type: &str) -> ParsedEvent<Event> {
        ParsedEvent::new(Event {
            event_type: event_type.into(),
            ..Event::sample("{}", "{}")
        })
    }

    #[test]
    fn includes_then_excludes() {
        let mut route = Route::init(r#"{"include": ["order.*"], "exclude": ["*.test"]}"#).unwrap();
        let kept = |route: &mut Route, t: &str| route.edit(&mut event(t)).unwrap() == Verdict::Keep;
        assert!(kept(&mut route, "order.completed"));
        assert!(!kept(&mut route, "order.test"));
        assert!(!kept(&mut route, "refund.completed"));
    }
}
