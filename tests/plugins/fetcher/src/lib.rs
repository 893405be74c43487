//! A destination that POSTs each event's JSON to `payload.url` and reads
//! the whole response: with the SDK's client (`pushrail:plugin/http`), or
//! with plain wasi:http when `payload.via` is `"wasi-http"`. With
//! `payload.flood = n` it sends `n` requests and reads none of their
//! answers, as a plugin that tries to pile requests up in the host. Delivered: coordinates `status` and `bytes`. Failed:
//! the SDK's classification of the host's answer (`network_denied`,
//! `response_too_large`, `timeout`, …), permanent so that a test sees it
//! in the DLQ at once.

#[cfg(target_arch = "wasm32")]
mod wasi_http;

use pushrail_sdk::{Destination, Error, Event, Outcome, export_destination, http};

pub struct Fetcher;

impl Destination for Fetcher {
    fn init(_config: &str) -> Result<Self, Error> {
        Ok(Fetcher)
    }

    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome> {
        batch.iter().map(deliver_one).collect()
    }
}

fn deliver_one(event: &Event) -> Outcome {
    let url = event.field("payload.url");
    if let Ok(flood) = event.field("payload.flood").parse::<usize>() {
        return send_without_waiting(&url, flood);
    }
    let post = match event.field("payload.via").as_str() {
        #[cfg(target_arch = "wasm32")]
        "wasi-http" => wasi_http::post_json,
        _ => http::post_json,
    };
    let sent = event
        .to_json_string()
        .and_then(|body| post(&url, body.as_bytes()));
    match sent {
        Ok(response) => Outcome::Delivered(vec![
            ("status".into(), response.status.to_string()),
            ("bytes".into(), response.body.len().to_string()),
        ]),
        Err(error) => Outcome::Permanent(error),
    }
}

/// Sends `count` requests and reads no answer: the host refuses past its
/// cap on unanswered requests, and that refusal is the outcome.
fn send_without_waiting(url: &str, count: usize) -> Outcome {
    let mut out = Vec::new();
    for _ in 0..count {
        match http::start("POST", url, &[], b"{}") {
            Ok(pending) => out.push(pending),
            Err(error) => return Outcome::Permanent(error),
        }
    }
    Outcome::Delivered(vec![("sent".into(), out.len().to_string())])
}

export_destination!(Fetcher);
