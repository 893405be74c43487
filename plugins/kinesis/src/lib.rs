//! The `kinesis` destination: each event becomes one record on the
//! destination's stream. The record data is the canonical JSON event with
//! Pushrail's envelope fields (`eventId`, `sequence`, …) embedded, since
//! Kinesis has no headers; the partition key comes from the configured
//! field. Batching, signing, retries, ordering and aggregation are the
//! host's; an aggregated record's user records carry their sub-sequence
//! number in their coordinates.

use pushrail_sdk::kinesis::{self, KinesisRecord};
use pushrail_sdk::{
    Destination, Error, Event, Outcome, deliver_records, export_destination, parse_config,
};
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
        deliver_records(
            &batch,
            |event| {
                Ok(KinesisRecord {
                    partition_key: event.field(&self.partition_key),
                    explicit_hash_key: None,
                    data: event.to_json_string()?.into_bytes(),
                })
            },
            |records| {
                kinesis::put_records(&records)
                    .into_iter()
                    .map(|answer| match answer {
                        Ok(at) => {
                            let mut coordinates = vec![
                                ("shardId".into(), at.shard_id),
                                ("sequenceNumber".into(), at.sequence_number),
                            ];
                            if let Some(sub) = at.sub_sequence_number {
                                coordinates.push(("subSequenceNumber".into(), sub.to_string()));
                            }
                            Ok(coordinates)
                        }
                        Err(f) => Err((Error::new(f.code, f.message), f.retryable)),
                    })
                    .collect()
            },
        )
    }
}

export_destination!(KinesisDestination);
