//! The events every scenario sends: canonical 1 KiB events, and the bytes a
//! ceiling writes for them (what the engine would have written).

use serde_json::{Value, json};

/// A canonical event of about `size` bytes, for one of `keys` customers.
pub fn event(i: usize, size: usize, keys: usize) -> Value {
    let mut e = json!({
        "eventType": "order.completed",
        "occurredAt": "2026-05-26T14:21:08.493Z",
        "source": "bench",
        "customerExternalId": format!("acct_{}", i % keys.max(1)),
        "idempotencyKey": format!("bench-{i}"),
        "correlationId": format!("req_{i}"),
        "payload": { "orderId": format!("ord_{i}"), "amount": 12900 },
        "metadata": { "tier": "pro", "region": "us-east-1" }
    });
    let base = serde_json::to_vec(&e).map_or(0, |v| v.len());
    e["payload"]["pad"] = json!("x".repeat(size.saturating_sub(base + 10)));
    e
}

/// `count` canonical 1 KiB events over `keys` keys.
pub fn events(count: usize, keys: usize) -> Vec<Value> {
    (0..count).map(|i| event(i, 1024, keys)).collect()
}

/// What a destination plugin sends for event `i`: the canonical event with
/// its id and sequence (the kafka and kinesis plugins' record value).
pub fn delivered_value(e: &Value, i: usize) -> Vec<u8> {
    let mut data = e.clone();
    data["eventId"] = json!(format!("evt_{i:026}"));
    data["sequence"] = json!(i + 1);
    serde_json::to_vec(&data).unwrap_or_default()
}

/// What the log stores for an accepted event: id, sequence and receive time
/// in front of the posted fields.
pub fn log_record(body: &[u8], i: usize) -> Vec<u8> {
    let mut record = format!(
        "{{\"id\":\"evt_01M80A27HSQHVHYSMM1T0YE7B1\",\"sequence\":{i},\"receivedAt\":\"2026-05-26T14:21:08.493Z\","
    )
    .into_bytes();
    record.extend_from_slice(body.get(1..).unwrap_or_default());
    record
}

/// The partition key of a canonical event.
pub fn key(e: &Value) -> &str {
    e["customerExternalId"].as_str().unwrap_or_default()
}
