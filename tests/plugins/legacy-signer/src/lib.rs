//! A destination as a plugin author built it against
//! `pushrail:plugin@0.5.0`, the version before `http`: it signs each event
//! with the 0.5.0 `signing` interface, asks `delivery.elapsed-ms`, and
//! writes `<id> <webhook-signature>` per event through `file`. Built
//! without the SDK, straight from the frozen WIT, so a test sees a 0.5.0
//! component still load and reach the interfaces 0.5.0 added.

// Only the WebAssembly build is the plugin; natively the crate is empty.
#![cfg(target_arch = "wasm32")]
#![allow(unsafe_code, reason = "the bindings wit-bindgen generates")]

wit_bindgen::generate!({
    path: "../../../wit/versions/0.5.0",
    world: "pushrail:plugin/destination",
});

use pushrail::plugin::delivery::elapsed_ms;
use pushrail::plugin::file::append_lines;
use pushrail::plugin::signing::sign;

struct LegacySigner;

impl Guest for LegacySigner {
    fn init(_config: String) -> Result<(), Error> {
        Ok(())
    }

    fn deliver(batch: Vec<Event>) -> Vec<Outcome> {
        let signed: Result<Vec<String>, Error> = batch
            .iter()
            .map(|e| {
                let headers = sign(&e.id, e.payload.as_bytes())?;
                let signature = headers
                    .into_iter()
                    .find(|(name, _)| name == "webhook-signature")
                    .map(|(_, value)| value)
                    .unwrap_or_default();
                Ok(format!("{} {signature}", e.id))
            })
            .collect();
        let written = signed.and_then(|lines| append_lines(&lines));
        let took = elapsed_ms().to_string();
        batch
            .iter()
            .map(|_| match &written {
                Ok(_) => Outcome::Delivered(vec![("elapsedMs".into(), took.clone())]),
                Err(error) => Outcome::Permanent(error.clone()),
            })
            .collect()
    }
}

export!(LegacySigner);
