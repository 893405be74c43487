//! A destination written outside Pushrail: posts one line per event to a
//! chat channel's incoming webhook (Slack's and Mattermost's take
//! `{"text": "…"}`), using only the SDK's HTTP client. Drop the built
//! `chat.wasm` into the plugin directory; the host needs no change.
//!
//! ```toml
//! [[destinations]]
//! name = "ops-channel"
//! plugin = "chat"
//! config = { url = "https://hooks.slack.com/services/T000/B000/XXXX", text = "{eventType} for {customerExternalId}" }
//! [destinations.network]
//! allow = ["https://hooks.slack.com"]
//! ```
//!
//! `text` names event fields in braces (`{payload.orderId}`). A 2xx
//! answer delivers; 408, 429 and 5xx, a timeout or a failed connection are
//! retried with the destination's backoff; other answers, and a request
//! the network policy refuses, go to the dead-letter queue.

use pushrail_sdk::{
    Destination, Error, Event, Outcome, deliver_each, export_destination, http, parse_config,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Settings {
    /// The destination's partition key (a field path): a key's events are
    /// sent in order, and not past one that failed.
    partition_key: String,
    config: Chat,
}

/// Public so that its logic can be tested natively.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chat {
    url: String,
    #[serde(default = "default_text")]
    text: String,
    #[serde(skip)]
    partition_key: String,
}

fn default_text() -> String {
    "{eventType} for {customerExternalId}".into()
}

impl Chat {
    /// `text` with each `{field.path}` replaced by the event's value.
    pub fn line(&self, event: &Event) -> String {
        let mut out = String::new();
        let mut rest = self.text.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            match rest[open..].find('}') {
                Some(close) => {
                    out.push_str(&event.field(&rest[open + 1..open + close]));
                    rest = &rest[open + close + 1..];
                }
                None => {
                    rest = &rest[open..];
                    break;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

impl Destination for Chat {
    fn init(config: &str) -> Result<Self, Error> {
        let settings: Settings = parse_config(config)?;
        Ok(Chat {
            partition_key: settings.partition_key,
            ..settings.config
        })
    }

    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome> {
        deliver_each(
            &batch,
            |event| event.field(&self.partition_key),
            |event| self.post(event),
        )
    }
}

impl Chat {
    fn post(&self, event: &Event) -> Outcome {
        let body = serde_json::json!({ "text": self.line(event) }).to_string();
        match http::post_json(&self.url, body.as_bytes()) {
            Ok(response) if response.is_success() => {
                Outcome::Delivered(vec![("status".into(), response.status.to_string())])
            }
            Ok(response) => {
                let error = Error::new(
                    format!("http_{}", response.status),
                    String::from_utf8_lossy(&response.body)
                        .chars()
                        .take(200)
                        .collect::<String>(),
                );
                match response.status {
                    408 | 429 | 500..=599 => Outcome::Retryable(error),
                    _ => Outcome::Permanent(error),
                }
            }
            Err(error) if error.code == http::NETWORK_DENIED || error.code == http::BAD_REQUEST => {
                Outcome::Permanent(error)
            }
            Err(error) => Outcome::Retryable(error),
        }
    }
}

export_destination!(Chat);
