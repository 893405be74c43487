//! How much each scenario sends: the published sizes, or a smoke run of a
//! few seconds per scenario that only checks everything works.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    pub smoke: bool,
    /// Interleaved rounds of ours and the ceiling.
    pub rounds: usize,
    pub ingest_events: usize,
    pub wasm_events: usize,
    pub kafka_events: usize,
    pub kinesis_events: usize,
    /// Events to find the maximum rate, and seconds at half of it.
    pub latency_probe_events: usize,
    pub latency_seconds: f64,
    pub backlog_events: usize,
    /// Customers with a destination each, and events spread over them.
    pub customers: usize,
    pub customer_events: usize,
}

impl Scale {
    pub fn full() -> Self {
        Self {
            smoke: false,
            rounds: 3,
            ingest_events: 100_000,
            wasm_events: 20_000,
            kafka_events: 100_000,
            kinesis_events: 20_000,
            latency_probe_events: 20_000,
            latency_seconds: 10.0,
            backlog_events: 1_000_000,
            customers: 10_000,
            customer_events: 1_000_000,
        }
    }

    pub fn smoke() -> Self {
        Self {
            smoke: true,
            rounds: 1,
            ingest_events: 2_000,
            wasm_events: 500,
            kafka_events: 1_000,
            kinesis_events: 1_000,
            latency_probe_events: 1_000,
            latency_seconds: 1.0,
            backlog_events: 5_000,
            customers: 50,
            customer_events: 2_000,
        }
    }
}
