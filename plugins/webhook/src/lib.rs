//! The `webhook` destination: POSTs each event's canonical JSON (or, with
//! `batch = true`, the batch as one JSON array) to a URL, signed by the
//! Standard Webhooks spec with the destination's signing secret (the host
//! signs; this plugin never sees the secret).
//!
//! ```toml
//! [[destinations]]
//! name = "acme-hooks"
//! plugin = "webhook"
//! config = { url = "https://hooks.acme.example/pushrail", headers = { "x-team" = "orders" } }
//! [destinations.network]
//! allow = ["https://hooks.acme.example"]
//! [destinations.secrets]
//! signing_secret = "${ACME_WEBHOOK_SECRET}"   # whsec_…
//! ```
//!
//! What an answer means: 2xx delivered (status and response time in the
//! attempt log); 408, 429, 5xx, a timeout or a failed connection retried
//! (after `Retry-After` if the receiver sent one, up to `retry.max_wait`);
//! 410 Gone dead-letters the event and pauses the destination; any other
//! answer dead-letters the event. A key's next event goes only once the
//! one before it is settled; other keys' events go alongside it, up to
//! `max_in_flight` requests at once.

use pushrail_sdk::http::{self, Pending, Response};
use pushrail_sdk::{
    Destination, Error, Event, Outcome, deliver_concurrently, delivery, export_destination,
    parse_config, signing,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Settings {
    partition_key: String,
    config: Webhook,
}

/// Public so that its logic can be tested natively.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where events are POSTed.
    url: String,
    /// Extra headers sent with every request.
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    /// One request per batch, its body a JSON array of the events.
    #[serde(default)]
    batch: bool,
    /// Requests out at once (events of different keys).
    #[serde(default = "default_in_flight")]
    max_in_flight: usize,
    /// Sign with the destination's signing secret (`secrets.signing_secret`).
    #[serde(default = "yes")]
    signed: bool,
    #[serde(skip)]
    partition_key: String,
}

fn default_in_flight() -> usize {
    16
}

fn yes() -> bool {
    true
}

/// Headers the plugin sets itself: configured headers may not replace them.
const RESERVED: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

impl Webhook {
    /// The config's problems, for `init`.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::new("bad_config", message));
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            return bad(format!("url \"{}\" is not an http(s) URL", self.url));
        }
        if let Some(name) = self
            .headers
            .keys()
            .find(|n| RESERVED.contains(&n.to_ascii_lowercase().as_str()))
        {
            return bad(format!(
                "headers.{name} is set by the webhook destination itself"
            ));
        }
        if !(1..=1024).contains(&self.max_in_flight) {
            return bad("max_in_flight must be 1 to 1024".into());
        }
        Ok(())
    }

    /// Sends `body` as message `id`.
    fn start(&self, id: &str, body: &[u8]) -> Result<Pending, Error> {
        let mut headers: Vec<(String, Vec<u8>)> = vec![
            ("content-type".into(), b"application/json".to_vec()),
            ("user-agent".into(), b"Pushrail-Webhook/0.1".to_vec()),
        ];
        if self.signed {
            for (name, value) in signing::sign(id, body)? {
                headers.push((name, value.into_bytes()));
            }
        }
        for (name, value) in &self.headers {
            headers.push((name.to_ascii_lowercase(), value.clone().into_bytes()));
        }
        http::start("POST", &self.url, &headers, body)
    }
}

/// What an answer (or its absence) means for the events it carried.
pub fn outcome(answer: Result<Response, Error>, response_ms: u64) -> Outcome {
    let response = match answer {
        Ok(response) => response,
        Err(e) if e.code == http::NETWORK_DENIED || e.code == http::BAD_REQUEST => {
            return Outcome::Permanent(e);
        }
        Err(e) => return Outcome::Retryable(e),
    };
    if response.is_success() {
        return Outcome::Delivered(vec![
            ("status".into(), response.status.to_string()),
            ("responseMs".into(), response_ms.to_string()),
        ]);
    }
    let excerpt: String = String::from_utf8_lossy(&response.body)
        .chars()
        .take(200)
        .collect();
    let error = Error::new(
        format!("http_{}", response.status),
        format!("the receiver answered {}: {excerpt}", response.status),
    );
    match response.status {
        408 | 429 | 500..=599 => {
            if let Some(seconds) = retry_after(&response) {
                delivery::retry_after(seconds);
            }
            Outcome::Retryable(error)
        }
        410 => {
            delivery::pause(&format!(
                "the receiver at the webhook URL answered 410 Gone: {excerpt}"
            ));
            Outcome::Permanent(error)
        }
        _ => Outcome::Permanent(error),
    }
}

/// The seconds a `Retry-After` asks for: a number, or an HTTP date counted
/// from the response's own `Date` (a plugin has no clock).
pub fn retry_after(response: &Response) -> Option<u32> {
    let value = response.header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(seconds);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let now = httpdate::parse_http_date(response.header("date")?.trim()).ok()?;
    let wait = at.duration_since(now).unwrap_or_default().as_secs();
    Some(wait.min(u64::from(u32::MAX)) as u32)
}

/// The message id of a batch: its event's id, or the first and last ids.
fn batch_id(batch: &[Event]) -> String {
    match batch {
        [one] => one.id.clone(),
        [first, .., last] => format!("{}..{}", first.id, last.id),
        [] => String::new(),
    }
}

impl Destination for Webhook {
    fn init(config: &str) -> Result<Self, Error> {
        let settings: Settings = parse_config(config)?;
        let webhook = Webhook {
            partition_key: settings.partition_key,
            ..settings.config
        };
        webhook.check()?;
        if webhook.signed {
            signing::sign("check", b"").map_err(|e| {
                Error::new(
                    "bad_config",
                    format!(
                        "{}: set secrets.signing_secret, or config.signed = false to send unsigned",
                        e.message
                    ),
                )
            })?;
        }
        Ok(webhook)
    }

    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome> {
        if self.batch {
            return self.deliver_array(&batch);
        }
        deliver_concurrently(
            &batch,
            |event| event.field(&self.partition_key),
            self.max_in_flight,
            |event| {
                let body = event.to_json_string().map_err(Outcome::Permanent)?;
                let sent = self.start(&event.id, body.as_bytes());
                sent.map(|pending| (pending, delivery::elapsed_ms()))
                    .map_err(|e| outcome(Err(e), 0))
            },
            |out: &mut Vec<(Pending, u64)>| {
                let at = http::ready(&out.iter().map(|(p, _)| p).collect::<Vec<_>>());
                let (pending, started) = out.remove(at);
                let answer = pending.finish();
                (at, outcome(answer, delivery::elapsed_ms() - started))
            },
        )
    }
}

impl Webhook {
    /// The whole batch in one request; every event shares its outcome.
    fn deliver_array(&self, batch: &[Event]) -> Vec<Outcome> {
        let mut body = Vec::from(*b"[");
        for (i, event) in batch.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            match event.to_json_string() {
                Ok(json) => body.extend_from_slice(json.as_bytes()),
                Err(e) => {
                    return batch
                        .iter()
                        .map(|_| Outcome::Permanent(e.clone()))
                        .collect();
                }
            }
        }
        body.push(b']');
        let started = delivery::elapsed_ms();
        let answer = self
            .start(&batch_id(batch), &body)
            .and_then(Pending::finish);
        let shared = outcome(answer, delivery::elapsed_ms() - started);
        batch.iter().map(|_| shared.clone()).collect()
    }
}

export_destination!(Webhook);

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body: b"nope".to_vec(),
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date_from_the_responses_own() {
        assert_eq!(
            retry_after(&response(429, &[("retry-after", "120")])),
            Some(120)
        );
        let dated = response(
            503,
            &[
                ("date", "Wed, 21 Oct 2026 07:28:00 GMT"),
                ("retry-after", "Wed, 21 Oct 2026 07:29:30 GMT"),
            ],
        );
        assert_eq!(retry_after(&dated), Some(90));
        let undated = response(503, &[("retry-after", "Wed, 21 Oct 2026 07:29:30 GMT")]);
        assert_eq!(retry_after(&undated), None);
        assert_eq!(
            retry_after(&response(503, &[("retry-after", "soon")])),
            None
        );
        assert_eq!(retry_after(&response(503, &[])), None);
    }

    #[test]
    fn answers_are_classified() {
        let code = |o: Outcome| match o {
            Outcome::Delivered(c) => format!("delivered {}", c[0].1),
            Outcome::Retryable(e) => format!("retry {}", e.code),
            Outcome::Permanent(e) => format!("dead {}", e.code),
        };
        assert_eq!(code(outcome(Ok(response(204, &[])), 3)), "delivered 204");
        for status in [408, 500, 502, 599] {
            assert_eq!(
                code(outcome(Ok(response(status, &[])), 3)),
                format!("retry http_{status}")
            );
        }
        for status in [301, 400, 401, 404, 422] {
            assert_eq!(
                code(outcome(Ok(response(status, &[])), 3)),
                format!("dead http_{status}")
            );
        }
        let failed = |c: &str| outcome(Err(Error::new(c, "x")), 0);
        assert_eq!(code(failed(http::TIMEOUT)), "retry timeout");
        assert_eq!(
            code(failed(http::CONNECTION_FAILED)),
            "retry connection_failed"
        );
        assert_eq!(code(failed(http::NETWORK_DENIED)), "dead network_denied");
    }

    #[test]
    fn a_config_may_not_replace_the_signature_headers() {
        let config = |extra: &str| {
            serde_json::from_str::<Webhook>(&format!(r#"{{"url": "https://h.example/in"{extra}}}"#))
                .unwrap()
                .check()
        };
        assert!(config("").is_ok());
        assert!(config(r#", "headers": {"x-team": "a"}"#).is_ok());
        let err = config(r#", "headers": {"Webhook-Signature": "v1,forged"}"#).unwrap_err();
        assert_eq!(err.code, "bad_config");
        assert!(config(r#", "max_in_flight": 0"#).is_err());
        assert!(serde_json::from_str::<Webhook>(r#"{"url": "x", "bacth": true}"#).is_err());
        let err = serde_json::from_str::<Webhook>(r#"{"url": "ftp://h"}"#)
            .unwrap()
            .check()
            .unwrap_err();
        assert!(
            err.message.contains("not an http(s) URL"),
            "{}",
            err.message
        );
    }
}
