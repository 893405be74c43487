//! Scenario 2, the WebAssembly plugin boundary, per event: the three example
//! transforms chained, one transform, and a destination `deliver`
//! round trip, each as a component in the engine's runtime next to the very
//! same plugin code compiled natively (the example crates are libraries
//! too). Ours − native is what WebAssembly costs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use pushrail::runtime::{Answer, BUILD_PLUGIN_DIR, Event, Limits, Plugin, Runtime, SinkBindings};
use pushrail_example_enrich::Enrich;
use pushrail_example_redact::Redact;
use pushrail_example_route::Route;
use pushrail_sdk::{Destination, EditTransform, ParsedEvent, Verdict};
use pushrail_test_misbehave::Misbehave;

use super::{Context, Scenario};
use crate::report::{Measurement, Unit};

const REDACT: &str =
    r#"{"pointers":["/payload/card/number","/metadata/email"],"replacement":"[REDACTED]"}"#;
const ROUTE: &str = r#"{"include":["order.*"]}"#;
const ENRICH: &str = r#"{"set":{"pipeline":"pushrail"},"computed":["eventFamily"]}"#;
const DISCARD: &str = r#"{"config":{"mode":"discard"}}"#;
const DELIVER_BATCH: usize = 500;
/// The published goals, per row: what crossing into WebAssembly may add
/// per event (the chain of three, one transform, a deliver round trip).
const GOALS_US: [f64; 3] = [2.0, 0.5, 2.0];

pub async fn run(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let count = context.scale.wasm_events;
    let input: Vec<Event> = (0..count).map(|i| event(i, 1024)).collect();
    let runtime = Runtime::new(
        Limits {
            memory: 64 << 20,
            time: Duration::from_secs(5),
            call_timeout: Duration::from_secs(300),
            max_instances: 1_000,
        },
        None,
    )?;
    let compile_started = Instant::now();
    let redact = load(&runtime, "redact")?;
    let compile_ms = compile_started.elapsed().as_secs_f64() * 1e3;
    let route = load(&runtime, "route")?;
    let enrich = load(&runtime, "enrich")?;
    let sink = load(&runtime, "misbehave")?;

    let mut chain = [
        runtime.transform(&redact, "bench", REDACT).await?,
        runtime.transform(&route, "bench", ROUTE).await?,
        runtime.transform(&enrich, "bench", ENRICH).await?,
    ];
    let instantiate_started = Instant::now();
    let mut single = runtime.transform(&route, "bench", ROUTE).await?;
    let instantiate_us = instantiate_started.elapsed().as_secs_f64() * 1e6;
    let mut destination = runtime
        .destination(&sink, "bench", SinkBindings::default(), DISCARD)
        .await?;
    let mut native = Native::new()?;

    let per_event = |elapsed: Duration| elapsed.as_secs_f64() * 1e6 / count as f64;
    let mut rounds: [(Vec<f64>, Vec<f64>); 3] = Default::default();
    for _ in 0..context.scale.rounds {
        rounds[0].1.push(per_event(native.chain(&input)?));
        rounds[0]
            .0
            .push(per_event(wasm_chain(&mut chain, &input).await?));
        rounds[1].1.push(per_event(native.one(&input)?));
        rounds[1].0.push(per_event(
            wasm_chain(std::slice::from_mut(&mut single), &input).await?,
        ));
        rounds[2].1.push(per_event(native.deliver(&input)?));
        let started = Instant::now();
        for batch in input.chunks(DELIVER_BATCH) {
            let outcomes = destination.deliver(batch).await?;
            ensure!(outcomes.len() == batch.len(), "one outcome per event");
        }
        rounds[2].0.push(per_event(started.elapsed()));
    }

    let names = [
        "transform chain redact → route → enrich, per event",
        "one transform (route), per event",
        "deliver round trip, 500 per batch, per event",
    ];
    let notes = [
        "batches of 500; views: each transform reads and edits only its fields, the host parses and prints each edited part once".to_owned(),
        format!(
            "instantiate + init {instantiate_us:.0} µs; compile a component {compile_ms:.0} ms"
        ),
        "host → guest → outcomes back; the sink writes nothing".to_owned(),
    ];
    Ok(rounds
        .into_iter()
        .zip(names)
        .zip(notes)
        .zip(GOALS_US)
        .map(|((((ours, native), name), note), goal)| {
            let m = Measurement::new(Scenario::Wasm, name, Unit::MicrosPerEvent, ours)
                .against("same plugin code, native", native);
            let overhead = m.ours.median - m.ceiling.as_ref().map_or(0.0, |c| c.summary.median);
            m.notes(format!("WASM adds {overhead:.2} µs/event; {note}"))
                .goal(format!("WASM adds ≤ {goal} µs/event"), overhead <= goal)
        })
        .collect())
}

fn load(runtime: &Runtime, name: &str) -> anyhow::Result<Arc<Plugin>> {
    let path = format!("{BUILD_PLUGIN_DIR}/{name}.wasm");
    let bytes = std::fs::read(&path).with_context(|| format!("read {path}"))?;
    Ok(Arc::new(runtime.load_plugin(name, &bytes)?))
}

/// Every event through each stage in turn, a batch at a time, as the
/// delivery pipeline does: the batch's events move into each call and come
/// back in its answers.
async fn wasm_chain(
    stages: &mut [pushrail::runtime::TransformInstance],
    input: &[Event],
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut out = 0;
    for batch in input.chunks(DELIVER_BATCH) {
        let mut current = batch.to_vec();
        for stage in stages.iter_mut() {
            let answers = stage.transform(current).await.map_err(|(error, _)| error)?;
            let mut next = Vec::with_capacity(answers.len());
            for answer in answers {
                match answer {
                    Answer::Kept(event) => next.push(event),
                    Answer::Replaced(events) => next.extend(events),
                    Answer::Failed(e) => bail!("{}: {}", e.code, e.message),
                }
            }
            current = next;
        }
        out += std::hint::black_box(current).len();
    }
    let elapsed = started.elapsed();
    ensure!(out == input.len(), "every event passes the chain");
    Ok(elapsed)
}

/// The same plugin crates, linked natively.
struct Native {
    redact: Redact,
    route: Route,
    enrich: Enrich,
    sink: Misbehave,
}

impl Native {
    fn new() -> anyhow::Result<Self> {
        let err = |e: pushrail_sdk::Error| anyhow!("{}: {}", e.code, e.message);
        Ok(Self {
            redact: Redact::init(REDACT).map_err(err)?,
            route: Route::init(ROUTE).map_err(err)?,
            enrich: Enrich::init(ENRICH).map_err(err)?,
            sink: Misbehave::init(DISCARD).map_err(err)?,
        })
    }

    /// The chain, with the copies the WASM side makes.
    fn chain(&mut self, input: &[Event]) -> anyhow::Result<Duration> {
        let Self {
            redact,
            route,
            enrich,
            ..
        } = self;
        native_chain(&mut [redact as &mut dyn Stage, route, enrich], input)
    }

    fn one(&mut self, input: &[Event]) -> anyhow::Result<Duration> {
        native_chain(&mut [&mut self.route as &mut dyn Stage], input)
    }

    fn deliver(&mut self, input: &[Event]) -> anyhow::Result<Duration> {
        let started = Instant::now();
        for batch in input.chunks(DELIVER_BATCH) {
            let copies: Vec<pushrail_sdk::Event> = batch.iter().map(to_sdk).collect();
            let outcomes = std::hint::black_box(self.sink.deliver(copies));
            ensure!(outcomes.len() == batch.len(), "one outcome per event");
        }
        Ok(started.elapsed())
    }
}

/// Every event through each stage in turn, a batch at a time, as
/// [`wasm_chain`] does: a copy of the batch, then each event moves from
/// stage to stage.
fn native_chain(stages: &mut [&mut dyn Stage], input: &[Event]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut out = 0;
    for batch in input.chunks(DELIVER_BATCH) {
        let mut current: Vec<pushrail_sdk::Event> = batch.iter().map(to_sdk).collect();
        for stage in stages.iter_mut() {
            let mut next = Vec::with_capacity(current.len());
            for e in current {
                next.extend(stage.apply(e)?);
            }
            current = next;
        }
        out += std::hint::black_box(current).len();
    }
    let elapsed = started.elapsed();
    ensure!(out == input.len(), "every event passes the chain");
    Ok(elapsed)
}

/// A transform, object-safe: one event under a view of the host's own
/// type (`ParsedEvent`), edited, and printed again if it was — what the
/// host does around a WASM call.
trait Stage {
    fn apply(&mut self, event: pushrail_sdk::Event) -> anyhow::Result<Vec<pushrail_sdk::Event>>;
}

impl<T: EditTransform> Stage for T {
    fn apply(&mut self, event: pushrail_sdk::Event) -> anyhow::Result<Vec<pushrail_sdk::Event>> {
        let mut view = ParsedEvent::new(event);
        match self
            .edit(&mut view)
            .map_err(|e| anyhow!("{}: {}", e.code, e.message))?
        {
            Verdict::Keep => Ok(vec![view.finish().0]),
            Verdict::Replaced(events) => Ok(events),
            Verdict::Failed(e) => bail!("{}: {}", e.code, e.message),
        }
    }
}

/// The event as a plugin receives it (a copy, as the host makes).
fn to_sdk(e: &Event) -> pushrail_sdk::Event {
    pushrail_sdk::Event {
        id: e.id.clone(),
        sequence: e.sequence,
        event_type: e.event_type.clone(),
        occurred_at: e.occurred_at.clone(),
        source: e.source.clone(),
        customer_external_id: e.customer_external_id.clone(),
        idempotency_key: e.idempotency_key.clone(),
        correlation_id: e.correlation_id.clone(),
        payload: e.payload.clone(),
        metadata: e.metadata.clone(),
    }
}

/// An event with a card number and an email for `redact` to find.
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
