//! The `eventbridge` destination: puts each event on an Amazon EventBridge
//! bus with `PutEvents` (up to 10 entries and 256 KiB per call), through
//! the host's signed `aws.call`: the plugin never sees a credential.
//!
//! ```toml
//! [[destinations]]
//! name = "acme-bus"
//! plugin = "eventbridge"
//! config = { event_bus_name = "acme-events" }   # source, detail_type: see below
//! [destinations.aws]
//! region = "eu-west-1"
//! targets = ["AWSEvents.PutEvents"]
//! auth = { mode = "assume_role", role_arn = "arn:aws:iam::123456789012:role/pushrail", external_id = "${EXTERNAL_ID}" }
//! ```
//!
//! Each entry's `Detail` is the canonical JSON event, its `Source` and
//! `DetailType` the configured ones or, by default, the event's `source`
//! and `eventType`. An entry that fails alone is retried alone when AWS
//! says it may pass (`InternalFailure`, throttling) and dead-lettered
//! otherwise. EventBridge does not keep order (rules deliver to targets in
//! any order), so calls are packed freely; a key's events are still sent
//! in log order, and none past one that waits for a retry.

use pushrail_sdk::aws;
use pushrail_sdk::{
    CallLimits, Destination, Error, Event, Outcome, RecordResult, deliver_in_calls,
    export_destination, parse_config,
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Settings {
    partition_key: String,
    #[serde(default)]
    config: Config,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The bus's name or ARN; default: the account's default bus.
    event_bus_name: Option<String>,
    /// Every entry's `Source`; default: the event's `source`.
    source: Option<String>,
    /// Every entry's `DetailType`; default: the event's `eventType`.
    detail_type: Option<String>,
}

struct EventBridge {
    config: Config,
    partition_key: String,
}

/// PutEvents' limits.
const LIMITS: CallLimits = CallLimits {
    max_entries: 10,
    max_bytes: 256 * 1024,
    one_per_key: false,
};

/// Entry errors AWS names as worth another attempt.
const RETRYABLE: &[&str] = &["InternalFailure", "ThrottlingException"];

impl EventBridge {
    /// The entry of `event`, and its size as EventBridge counts it.
    fn entry(&self, event: &Event) -> Result<(Value, usize), Error> {
        let detail = event.to_json_string()?;
        let source = self.config.source.as_deref().unwrap_or(&event.source);
        let detail_type = self
            .config
            .detail_type
            .as_deref()
            .unwrap_or(&event.event_type);
        let size = detail.len() + source.len() + detail_type.len();
        let mut entry = json!({"Source": source, "DetailType": detail_type, "Detail": detail});
        if let Some(bus) = &self.config.event_bus_name {
            entry["EventBusName"] = json!(bus);
        }
        Ok((entry, size))
    }

    fn put(&self, entries: Vec<Value>) -> Vec<RecordResult> {
        let count = entries.len();
        let body = json!({ "Entries": entries }).to_string().into_bytes();
        let answer = match aws::batch_call("events", "AWSEvents.PutEvents", "1.1", body, count) {
            Ok(answer) => answer,
            Err(each) => return each,
        };
        let results = answer["Entries"].as_array().cloned().unwrap_or_default();
        results
            .iter()
            .map(|r| match r["EventId"].as_str() {
                Some(id) => Ok(vec![("eventBridgeId".into(), id.to_owned())]),
                None => {
                    let code = r["ErrorCode"].as_str().unwrap_or("UnknownError");
                    let message = r["ErrorMessage"].as_str().unwrap_or(code);
                    Err((Error::new(code, message), RETRYABLE.contains(&code)))
                }
            })
            .collect()
    }
}

impl Destination for EventBridge {
    fn init(config: &str) -> Result<Self, Error> {
        let settings: Settings = parse_config(config)?;
        Ok(EventBridge {
            config: settings.config,
            partition_key: settings.partition_key,
        })
    }

    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome> {
        deliver_in_calls(
            &batch,
            |e| e.field(&self.partition_key),
            LIMITS,
            |e| self.entry(e),
            |entries| self.put(entries),
        )
    }
}

export_destination!(EventBridge);
