//! The `kinesis` destination: each event becomes one record on the
//! destination's stream. The record data is the canonical JSON event with
//! Pushrail's envelope fields (`eventId`, `sequence`, …) embedded, since
//! Kinesis has no headers; the partition key comes from the configured
//! field. Batching, signing, retries and ordering are the host's.

use pushrail_sdk::kinesis::{self, KinesisRecord};
use pushrail_sdk::{Destination, Error, Event, Outcome, export_destination, parse_config};
use serde::Deserialize;

#[derive(Deserialize)]
struct Settings {
    partition_key: String,
}

struct KinesisDestination {
    partition_key: String,
}

impl Destination for KinesisDestination {
    fn init(config: &str) -> Result<Self, Error> {
        let settings: Settings = parse_config(config)?;
        Ok(KinesisDestination {
            partition_key: settings.partition_key,
        })
    }

    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome> {
        let mut records = Vec::with_capacity(batch.len());
        let mut rendered = Vec::with_capacity(batch.len());
        for event in &batch {
            match event.to_json_string() {
                Ok(json) => {
                    records.push(KinesisRecord {
                        partition_key: event.field(&self.partition_key),
                        explicit_hash_key: None,
                        data: json.into_bytes(),
                    });
                    rendered.push(Ok(()));
                }
                Err(e) => rendered.push(Err(e)),
            }
        }
        let mut results = kinesis::put_records(&records).into_iter();
        rendered
            .into_iter()
            .map(|r| match r {
                Err(e) => Outcome::Permanent(e),
                Ok(()) => match results.next() {
                    Some(Ok(location)) => Outcome::Delivered(vec![
                        ("shardId".into(), location.shard_id),
                        ("sequenceNumber".into(), location.sequence_number),
                    ]),
                    Some(Err(f)) if f.retryable => {
                        Outcome::Retryable(Error::new(f.code, f.message))
                    }
                    Some(Err(f)) => Outcome::Permanent(Error::new(f.code, f.message)),
                    None => Outcome::Retryable(Error::new(
                        "missing_result",
                        "the host returned too few results",
                    )),
                },
            })
            .collect()
    }
}

export_destination!(KinesisDestination);
