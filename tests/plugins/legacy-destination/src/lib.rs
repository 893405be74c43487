//! A destination as a plugin author built it against
//! `pushrail:plugin@0.1.0`: it writes `<id> <eventType>` per event through
//! the 0.1.0 `file` interface. Built without the SDK, straight from the
//! frozen WIT, so a test sees an old destination still load and deliver.

// Only the WebAssembly build is the plugin; natively the crate is empty.
#![cfg(target_arch = "wasm32")]
#![allow(unsafe_code, reason = "the bindings wit-bindgen generates")]

wit_bindgen::generate!({
    path: "../../../wit/versions/0.1.0",
    world: "pushrail:plugin/destination",
});

use pushrail::plugin::file::append_lines;
use pushrail::plugin::log::{Level, log};

struct Legacy;

impl Guest for Legacy {
    fn init(_config: String) -> Result<(), Error> {
        log(Level::Info, "legacy destination ready");
        Ok(())
    }

    fn deliver(batch: Vec<Event>) -> Vec<Outcome> {
        let lines: Vec<String> = batch
            .iter()
            .map(|e| format!("{} {}", e.id, e.event_type))
            .collect();
        match append_lines(&lines) {
            Ok(first) => (0..batch.len() as u64)
                .map(|i| Outcome::Delivered(vec![("line".into(), (first + i).to_string())]))
                .collect(),
            Err(error) => batch
                .iter()
                .map(|_| Outcome::Retryable(error.clone()))
                .collect(),
        }
    }
}

export!(Legacy);
