//! Per-event cost of the WebAssembly plugin boundary, in a release build:
//! a chain of the three example transforms, and a destination round trip
//! (host → guest `deliver` of 500 events → outcomes back).
//!
//! `cargo bench -p pushrail --bench wasm -- [--events 20000] [--size 1024]`

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pushrail::runtime::{Event, Limits, Plugin, Runtime, SinkBindings};

fn load(runtime: &Runtime, name: &str) -> Arc<Plugin> {
    let path = format!("{}/{name}.wasm", env!("PUSHRAIL_PLUGIN_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Arc::new(runtime.load_plugin(name, &bytes).expect("load plugin"))
}

fn event(i: usize, size: usize) -> Event {
    let payload = serde_json::json!({
        "orderId": format!("ord_{i}"),
        "amount": 12900,
        "card": { "number": "4242424242424242", "brand": "visa" },
        "pad": "x".repeat(size.saturating_sub(420)),
    });
    Event {
        id: format!("evt_{i:026}"),
        sequence: i as u64 + 1,
        event_type: "order.completed".into(),
        occurred_at: "2026-05-26T14:21:08.493Z".into(),
        source: "billing-service".into(),
        customer_external_id: format!("acct_{}", i % 1000),
        idempotency_key: format!("order_{i}-completed"),
        correlation_id: Some(format!("req_{i}")),
        payload: payload.to_string(),
        metadata: r#"{"tier":"pro","region":"us-east-1","email":"a@example.com"}"#.into(),
    }
}

fn per_event(elapsed: Duration, events: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / events as f64
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let events = common::arg("--events", 20_000);
    let size = common::arg("--size", 1024);
    let limits = Limits {
        memory: 64 << 20,
        time: Duration::from_secs(5),
    };
    let runtime = Runtime::new(limits, None).expect("runtime");
    let input: Vec<Event> = (0..events).map(|i| event(i, size)).collect();

    let compile_started = Instant::now();
    let redact = load(&runtime, "redact");
    let compile = compile_started.elapsed();
    let route = load(&runtime, "route");
    let enrich = load(&runtime, "enrich");
    let sink = load(&runtime, "misbehave");

    let instantiate_started = Instant::now();
    let rounds = 200;
    for _ in 0..rounds {
        runtime
            .transform(&route, "bench", r#"{"include":["order.*"]}"#)
            .await
            .expect("route");
    }
    let instantiate = instantiate_started.elapsed() / rounds;

    let mut chain = [
        runtime
            .transform(&redact, "bench", r#"{"pointers":["/payload/card/number","/metadata/email"],"replacement":"[REDACTED]"}"#)
            .await
            .expect("redact"),
        runtime.transform(&route, "bench", r#"{"include":["order.*"]}"#).await.expect("route"),
        runtime
            .transform(&enrich, "bench", r#"{"set":{"pipeline":"pushrail"},"computed":["eventFamily"]}"#)
            .await
            .expect("enrich"),
    ];

    let mut outputs = Vec::with_capacity(events);
    let started = Instant::now();
    for e in &input {
        let mut current = vec![e.clone()];
        for stage in chain.iter_mut() {
            let mut next = Vec::new();
            for e in &current {
                next.extend(stage.transform(e).await.expect("call").expect("transform"));
            }
            current = next;
        }
        outputs.extend(current);
    }
    let chain_time = started.elapsed();
    assert_eq!(outputs.len(), events);

    let mut one = runtime
        .transform(&route, "bench", "{}")
        .await
        .expect("route");
    let started = Instant::now();
    for e in &input {
        one.transform(e).await.expect("call").expect("transform");
    }
    let single_time = started.elapsed();

    let config = r#"{"config":{"mode":"discard"}}"#;
    let mut destination = runtime
        .destination(&sink, "bench", SinkBindings::default(), config)
        .await
        .expect("destination");
    let started = Instant::now();
    for batch in input.chunks(500) {
        let outcomes = destination.deliver(batch).await.expect("deliver");
        assert_eq!(outcomes.len(), batch.len());
    }
    let deliver_time = started.elapsed();

    println!("WASM plugin overhead: {events} events of ~{size} bytes (release host)\n");
    println!("| measurement | per event µs | notes |");
    println!("|---|---:|---|");
    println!(
        "| transform chain (redact → route → enrich) | {:.2} | 3 guest calls, each parses and re-serializes JSON |",
        per_event(chain_time, events)
    );
    println!(
        "| one transform call (route: glob on eventType) | {:.2} | the boundary cost: copy in, copy out |",
        per_event(single_time, events)
    );
    println!(
        "| deliver round trip, batches of 500 | {:.2} | host → guest → outcomes back, no I/O |",
        per_event(deliver_time, events)
    );
    println!(
        "\ncompile one component: {:.1} ms; instantiate + init: {:.1} µs",
        compile.as_secs_f64() * 1e3,
        instantiate.as_secs_f64() * 1e6
    );
}
