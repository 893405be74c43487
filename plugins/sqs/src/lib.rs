//! The `sqs` destination: sends each event as one message to an Amazon SQS
//! queue with `SendMessageBatch` (up to 10 messages and 256 KiB per call),
//! through the host's signed `aws.call`: the plugin never sees a credential.
//!
//! ```toml
//! [[destinations]]
//! name = "acme-queue"
//! plugin = "sqs"
//! partition_key = "customerExternalId"
//! config = { queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo" }
//! [destinations.aws]
//! region = "eu-west-1"
//! targets = ["AmazonSQS.SendMessageBatch"]
//! ```
//!
//! The message body is the canonical JSON event, with the attribute
//! `eventType`. On a FIFO queue (its name ends in `.fifo`) the message
//! group is the event's partition key and the deduplication id its event
//! id, so the customer's consumers get each key in order and a message
//! sent twice (a retry after a lost answer) once; a call holds at most one
//! message per group, so that a failed one cannot be overtaken. A standard
//! queue keeps no order; calls are packed freely. A message that fails
//! alone is retried when SQS says the fault is not the sender's, and
//! dead-lettered otherwise.

use std::collections::HashMap;

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
    config: Config,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The queue's URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`).
    queue_url: String,
}

struct Sqs {
    queue_url: String,
    fifo: bool,
    partition_key: String,
}

/// The longest message group id SQS takes.
const MAX_GROUP_ID: usize = 128;

impl Sqs {
    /// The message of `event` (its batch id is set at sending), and its
    /// size as SQS counts it: the body and the attribute.
    fn message(&self, event: &Event) -> Result<(Value, usize), Error> {
        let body = event.to_json_string()?;
        let size = body.len() + "eventType".len() + "String".len() + event.event_type.len();
        let mut message = json!({
            "MessageBody": body,
            "MessageAttributes": {
                "eventType": {"DataType": "String", "StringValue": event.event_type},
            },
        });
        if self.fifo {
            message["MessageGroupId"] = json!(group_id(&event.field(&self.partition_key)));
            message["MessageDeduplicationId"] = json!(event.id);
        }
        Ok((message, size))
    }

    fn send(&self, mut messages: Vec<Value>) -> Vec<RecordResult> {
        let count = messages.len();
        for (i, m) in messages.iter_mut().enumerate() {
            m["Id"] = json!(format!("m{i}"));
        }
        let body = json!({"QueueUrl": self.queue_url, "Entries": messages})
            .to_string()
            .into_bytes();
        let answer = match aws::batch_call("sqs", "AmazonSQS.SendMessageBatch", "1.0", body, count)
        {
            Ok(answer) => answer,
            Err(each) => return each,
        };
        let mut by_id: HashMap<String, RecordResult> = HashMap::new();
        for ok in answer["Successful"].as_array().into_iter().flatten() {
            let mut coordinates = vec![(
                "messageId".to_owned(),
                ok["MessageId"].as_str().unwrap_or_default().to_owned(),
            )];
            if let Some(sequence) = ok["SequenceNumber"].as_str() {
                coordinates.push(("sequenceNumber".into(), sequence.to_owned()));
            }
            by_id.insert(id_of(ok), Ok(coordinates));
        }
        for failed in answer["Failed"].as_array().into_iter().flatten() {
            let code = failed["Code"].as_str().unwrap_or("UnknownError");
            let message = failed["Message"].as_str().unwrap_or(code);
            let retryable = !failed["SenderFault"].as_bool().unwrap_or(false);
            by_id.insert(id_of(failed), Err((Error::new(code, message), retryable)));
        }
        (0..count)
            .map(|i| {
                by_id.remove(&format!("m{i}")).unwrap_or_else(|| {
                    Err((
                        Error::new("InternalError", "SQS did not answer for this message"),
                        true,
                    ))
                })
            })
            .collect()
    }
}

fn id_of(entry: &Value) -> String {
    entry["Id"].as_str().unwrap_or_default().to_owned()
}

/// A FIFO message group id from a partition key: SQS takes 1 to 128
/// characters of letters, digits and punctuation; others become `_`.
fn group_id(key: &str) -> String {
    let id: String = key
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(MAX_GROUP_ID)
        .collect();
    if id.is_empty() { "_".into() } else { id }
}

impl Destination for Sqs {
    fn init(config: &str) -> Result<Self, Error> {
        let settings: Settings = parse_config(config)?;
        let queue_url = settings.config.queue_url;
        if !queue_url.starts_with("https://") && !queue_url.starts_with("http://") {
            return Err(Error::new(
                "bad_config",
                format!("queue_url \"{queue_url}\" is not a queue URL"),
            ));
        }
        Ok(Sqs {
            fifo: queue_url.ends_with(".fifo"),
            queue_url,
            partition_key: settings.partition_key,
        })
    }

    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome> {
        let limits = CallLimits {
            max_entries: 10,
            max_bytes: 256 * 1024,
            one_per_key: self.fifo,
        };
        deliver_in_calls(
            &batch,
            |e| e.field(&self.partition_key),
            limits,
            |e| self.message(e),
            |messages| self.send(messages),
        )
    }
}

export_destination!(Sqs);

#[cfg(test)]
mod tests {
    use super::group_id;

    #[test]
    fn group_ids_are_what_sqs_takes() {
        assert_eq!(group_id("acct_1"), "acct_1");
        assert_eq!(group_id(""), "_");
        assert_eq!(group_id("a b\u{e9}"), "a_b_");
        assert_eq!(group_id(&"k".repeat(300)).len(), 128);
    }
}
