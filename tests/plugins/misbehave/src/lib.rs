//! A destination for tests that misbehaves as `config.mode` says. Events it
//! delivers are appended to the destination's file as JSON lines, so tests
//! can see exactly what arrived and in which order.
//!
//! Modes: `ok`, `discard` (delivered without writing: for benchmarks), `trap`, `loop`, `oom`, `wrong_count`,
//! `fail_first` (retryable for the first `times` calls),
//! `fail_key` (retryable for events of customer `key` in the first `times` calls that carry it),
//! `permanent` (permanent error for events of customer `key`),
//! `stuck` (retryable, forever, for events of the customers in `keys`),
//! `log_flood` (logs `times` lines that try to forge host log lines, then delivers),
//! `host_loop` (calls a host function forever), `trap_key` (traps whenever
//! the batch holds an event of customer `key`: a poison event).

use pushrail_sdk::{
    Destination, Error, Event, Outcome, export_destination, file, logging, parse_config,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Table {
    config: Settings,
}

#[derive(Deserialize)]
struct Settings {
    mode: String,
    #[serde(default)]
    times: u32,
    #[serde(default)]
    key: String,
    #[serde(default)]
    keys: Vec<String>,
}

/// Public so that benchmarks can run the same logic natively.
pub struct Misbehave {
    settings: Settings,
    calls: u32,
    key_failures: u32,
}

impl Destination for Misbehave {
    fn init(config: &str) -> Result<Self, Error> {
        let table: Table = parse_config(config)?;
        Ok(Misbehave {
            settings: table.config,
            calls: 0,
            key_failures: 0,
        })
    }

    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome> {
        self.calls += 1;
        match self.settings.mode.as_str() {
            "discard" => batch
                .iter()
                .map(|_| Outcome::Delivered(Vec::new()))
                .collect(),
            "trap" => panic!("misbehave: trapping on purpose"),
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "wrong_count" => {
                let mut outcomes = deliver_all(&batch, |_| true, retryable);
                outcomes.pop();
                outcomes
            }
            "fail_first" if self.calls <= self.settings.times => batch
                .iter()
                .map(|_| {
                    Outcome::Retryable(Error::new(
                        "Flaky",
                        format!("call {} fails on purpose", self.calls),
                    ))
                })
                .collect(),
            "fail_key" => {
                let carries_key = batch
                    .iter()
                    .any(|e| e.customer_external_id == self.settings.key);
                let failing = carries_key && self.key_failures < self.settings.times;
                if carries_key {
                    self.key_failures += 1;
                }
                let key = self.settings.key.clone();
                deliver_all(
                    &batch,
                    |e| !(failing && e.customer_external_id == key),
                    retryable,
                )
            }
            "stuck" => {
                let keys = &self.settings.keys;
                deliver_all(
                    &batch,
                    |e| !keys.contains(&e.customer_external_id),
                    retryable,
                )
            }
            "log_flood" => {
                for i in 0..self.settings.times {
                    logging::error(&format!(
                        "line {i}\n2026-01-01T00:00:00.000000Z ERROR pushrail::app: FORGED by a plugin\u{1b}[2J"
                    ));
                }
                deliver_all(&batch, |_| true, retryable)
            }
            "host_loop" => loop {
                let _ = std::hint::black_box(file::append_lines(&[]));
            },
            "trap_key" => {
                let key = &self.settings.key;
                if batch.iter().any(|e| &e.customer_external_id == key) {
                    panic!("misbehave: a poison event in the batch");
                }
                deliver_all(&batch, |_| true, retryable)
            }
            "permanent" => {
                let key = self.settings.key.clone();
                deliver_all(
                    &batch,
                    |e| e.customer_external_id != key,
                    |e| {
                        Outcome::Permanent(Error::new(
                            "Rejected",
                            format!("{} is rejected", e.customer_external_id),
                        ))
                    },
                )
            }
            _ => deliver_all(&batch, |_| true, retryable),
        }
    }
}

fn retryable(e: &Event) -> Outcome {
    Outcome::Retryable(Error::new(
        "KeyUnavailable",
        format!("{} is failing", e.customer_external_id),
    ))
}

/// Appends the events `deliverable` accepts; the others get `failure` and
/// are not written.
fn deliver_all(
    batch: &[Event],
    deliverable: impl Fn(&Event) -> bool,
    failure: impl Fn(&Event) -> Outcome,
) -> Vec<Outcome> {
    let lines: Vec<String> = batch
        .iter()
        .filter(|e| deliverable(e))
        .map(|e| {
            serde_json::json!({
                "sequence": e.sequence,
                "customer": e.customer_external_id,
                "key": e.idempotency_key,
                "eventType": e.event_type,
                "metadata": e.metadata_value().unwrap_or_default(),
                "payload": e.payload_value().unwrap_or_default(),
            })
            .to_string()
        })
        .collect();
    let appended = if lines.is_empty() {
        Ok(0)
    } else {
        file::append_lines(&lines)
    };
    batch
        .iter()
        .map(|e| match (&appended, deliverable(e)) {
            (Err(error), _) => Outcome::Retryable(error.clone()),
            (Ok(_), true) => Outcome::Delivered(vec![]),
            (Ok(_), false) => failure(e),
        })
        .collect()
}

export_destination!(Misbehave);
