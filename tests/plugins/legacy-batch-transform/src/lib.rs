//! A transform as a plugin author built it against `pushrail:plugin@0.6.0`
//! (before views): `transform-batch` takes the events as records. It
//! answers `unchanged` for events of an even sequence and replaces those of
//! an odd one with a copy whose metadata has `"batchContract": "0.6.0"`, so
//! a test sees both answers work. Built without the SDK, straight from the
//! frozen WIT.

// Only the WebAssembly build is the plugin; natively the crate is empty.
#![cfg(target_arch = "wasm32")]
#![allow(unsafe_code, reason = "the bindings wit-bindgen generates")]

wit_bindgen::generate!({
    path: "../../../wit/versions/0.6.0",
    world: "pushrail:plugin/transform",
});

struct LegacyBatch;

impl Guest for LegacyBatch {
    fn init(_config: String) -> Result<(), Error> {
        Ok(())
    }

    fn transform_batch(events: Vec<Event>) -> Vec<Transformed> {
        events
            .into_iter()
            .map(|mut event| {
                if event.sequence % 2 == 0 {
                    return Transformed::Unchanged;
                }
                let rest = event
                    .metadata
                    .trim_start()
                    .trim_start_matches('{')
                    .trim_start();
                let separator = if rest.starts_with('}') { "" } else { "," };
                event.metadata = format!("{{\"batchContract\":\"0.6.0\"{separator}{rest}");
                Transformed::Replaced(vec![event])
            })
            .collect()
    }
}

export!(LegacyBatch);
