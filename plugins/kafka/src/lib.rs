//! The `kafka` destination: each event becomes one record on the
//! destination's topic. The value is the canonical JSON event (with
//! `eventId` and `sequence`), the key is the configured partition key, and
//! the envelope rides along as headers so consumers can route without
//! parsing the value. Batching, authentication, retries and per-partition
//! order are the host's.

use pushrail_sdk::kafka::{self, KafkaRecord};
use pushrail_sdk::{
    Destination, Error, Event, Outcome, deliver_records, export_destination, parse_config,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Settings {
    partition_key: String,
}

struct KafkaDestination {
    partition_key: String,
}

/// The record headers of an event: its envelope, as UTF-8 text.
fn headers(event: &Event) -> Vec<(String, Vec<u8>)> {
    let mut headers = vec![
        (
            "event_type".to_owned(),
            event.event_type.clone().into_bytes(),
        ),
        (
            "occurred_at".to_owned(),
            event.occurred_at.clone().into_bytes(),
        ),
        (
            "customer_external_id".to_owned(),
            event.customer_external_id.clone().into_bytes(),
        ),
        (
            "idempotency_key".to_owned(),
            event.idempotency_key.clone().into_bytes(),
        ),
        ("event_id".to_owned(), event.id.clone().into_bytes()),
        ("source".to_owned(), event.source.clone().into_bytes()),
    ];
    if let Some(correlation_id) = &event.correlation_id {
        headers.push((
            "correlation_id".to_owned(),
            correlation_id.clone().into_bytes(),
        ));
    }
    headers
}

impl Destination for KafkaDestination {
    fn init(config: &str) -> Result<Self, Error> {
        let settings: Settings = parse_config(config)?;
        Ok(KafkaDestination {
            partition_key: settings.partition_key,
        })
    }

    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome> {
        deliver_records(
            &batch,
            |event| {
                Ok(KafkaRecord {
                    key: Some(event.field(&self.partition_key).into_bytes()),
                    value: event.to_json_string()?.into_bytes(),
                    headers: headers(event),
                })
            },
            |records| {
                kafka::produce(&records)
                    .into_iter()
                    .map(|answer| match answer {
                        Ok(at) => Ok(vec![
                            ("partition".into(), at.partition.to_string()),
                            ("offset".into(), at.offset.to_string()),
                        ]),
                        Err(f) => Err((Error::new(f.code, f.message), f.retryable)),
                    })
                    .collect()
            },
        )
    }
}

export_destination!(KafkaDestination);
