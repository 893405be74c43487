//! A destination as a plugin author built it against
//! `pushrail:plugin@0.1.0`: it writes `<id> <eventType>` per event through
//! the 0.1.0 `file` interface, or, on a destination with a Kinesis stream,
//! puts `{"id", "eventType"}` records keyed by customer through the 0.1.0
//! `kinesis` interface. Built without the SDK, straight from the frozen
//! WIT, so a test sees an old destination still load and deliver.

// Only the WebAssembly build is the plugin; natively the crate is empty.
#![cfg(target_arch = "wasm32")]
#![allow(unsafe_code, reason = "the bindings wit-bindgen generates")]

wit_bindgen::generate!({
    path: "../../../wit/versions/0.1.0",
    world: "pushrail:plugin/destination",
});

use std::sync::atomic::{AtomicBool, Ordering};

use pushrail::plugin::file::append_lines;
use pushrail::plugin::kinesis::{KinesisRecord, put_records};
use pushrail::plugin::log::{Level, log};

struct Legacy;

/// The destination has a Kinesis stream: deliver there.
static TO_KINESIS: AtomicBool = AtomicBool::new(false);

impl Guest for Legacy {
    fn init(config: String) -> Result<(), Error> {
        let settings: serde_json::Value = serde_json::from_str(&config).map_err(|e| Error {
            code: "bad_config".into(),
            message: e.to_string(),
        })?;
        TO_KINESIS.store(settings["kinesis"].is_object(), Ordering::Relaxed);
        log(Level::Info, "legacy destination ready");
        Ok(())
    }

    fn deliver(batch: Vec<Event>) -> Vec<Outcome> {
        if TO_KINESIS.load(Ordering::Relaxed) {
            return to_kinesis(&batch);
        }
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

/// One record per event; 0.1.0's location has a shard and a sequence number.
fn to_kinesis(batch: &[Event]) -> Vec<Outcome> {
    let records: Vec<KinesisRecord> = batch
        .iter()
        .map(|e| KinesisRecord {
            partition_key: e.customer_external_id.clone(),
            explicit_hash_key: None,
            data: serde_json::json!({ "id": e.id, "eventType": e.event_type })
                .to_string()
                .into_bytes(),
        })
        .collect();
    put_records(&records)
        .into_iter()
        .map(|answer| match answer {
            Ok(at) => Outcome::Delivered(vec![
                ("shardId".into(), at.shard_id),
                ("sequenceNumber".into(), at.sequence_number),
            ]),
            Err(f) => {
                let error = Error {
                    code: f.code,
                    message: f.message,
                };
                if f.retryable {
                    Outcome::Retryable(error)
                } else {
                    Outcome::Permanent(error)
                }
            }
        })
        .collect()
}

export!(Legacy);
