//! A transform as a plugin author built it against `pushrail:plugin@0.1.0`
//! (before the SDK's batch export): `transform` takes one event, logging is
//! `log.log`. It marks each event's metadata with `"contract": "0.1.0"` and
//! logs one line per event, so a test sees both its export and its import
//! work. Built without the SDK, straight from the frozen WIT.

// Only the WebAssembly build is the plugin; natively the crate is empty.
#![cfg(target_arch = "wasm32")]
#![allow(unsafe_code, reason = "the bindings wit-bindgen generates")]

wit_bindgen::generate!({
    path: "../../../wit/versions/0.1.0",
    world: "pushrail:plugin/transform",
});

use pushrail::plugin::log::{Level, log};

struct Legacy;

impl Guest for Legacy {
    fn init(_config: String) -> Result<(), Error> {
        Ok(())
    }

    fn transform(mut event: Event) -> Result<Vec<Event>, Error> {
        log(Level::Info, &format!("legacy transform saw {}", event.id));
        let rest = event
            .metadata
            .trim_start()
            .trim_start_matches('{')
            .trim_start();
        let separator = if rest.starts_with('}') { "" } else { "," };
        event.metadata = format!("{{\"contract\":\"0.1.0\"{separator}{rest}");
        Ok(vec![event])
    }
}

export!(Legacy);
