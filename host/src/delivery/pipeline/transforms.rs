//! A destination's transform chain: each transform takes the batch in
//! chunks, a trapping event is isolated by halves, events move into each
//! call and back without a copy, edits made through views need no check,
//! and what a transform returns instead is checked before the next stage
//! (or the destination) sees it.

use std::time::Instant;

use super::Pipeline;
use crate::delivery::failure::Failure;
use crate::delivery::isolate::Isolation;
use crate::failure_codes;
use crate::runtime::{Answer, CallError, Event, TransformFailure};

/// The most events, and bytes of payload and metadata, one transform call
/// takes: a batch crosses into the plugin in chunks, so a plugin's memory
/// cap bounds what it holds, not the destination's batch size.
const TRANSFORM_CHUNK_EVENTS: usize = 1_000;
const TRANSFORM_CHUNK_BYTES: usize = 1 << 20;

impl Pipeline {
    /// Runs `events` through every transform in order; one result per
    /// event: what the last transform made of it (empty: filtered), or why
    /// it failed. Each transform takes the events in batches; an event a
    /// transform passes on `unchanged` is never copied back.
    pub async fn transform(&mut self, events: Vec<Event>) -> Vec<Result<Vec<Event>, Failure>> {
        self.admit().await;
        let mut results: Vec<Result<Vec<Event>, Failure>> =
            events.iter().map(|_| Ok(Vec::new())).collect();
        // What goes into the next transform, each with its log event's index.
        let mut current: Vec<(usize, Event)> = events.into_iter().enumerate().collect();
        for index in 0..self.stages.len() {
            current.retain(|(origin, _)| results[*origin].is_ok());
            if current.is_empty() {
                break;
            }
            let (origins, batch): (Vec<usize>, Vec<Event>) = current.into_iter().unzip();
            let answers = self.transform_stage(index, batch).await;
            let stage_name = &self.stages[index].name;
            let failure = |code: &str, message: &str| {
                Failure::new(code, format!("transform {stage_name}: {message}"))
            };
            current = Vec::with_capacity(origins.len());
            for (origin, answer) in origins.into_iter().zip(answers) {
                match answer {
                    Ok(Answer::Kept(event)) => current.push((origin, event)),
                    Ok(Answer::Replaced(events)) => {
                        // Plugins render events without parsing them again
                        // (canonical_json_unchecked): what a transform
                        // returns is checked here, once, natively.
                        match events.iter().try_for_each(pushrail_event::check_objects) {
                            Ok(()) => current.extend(events.into_iter().map(|e| (origin, e))),
                            Err(e) => {
                                results[origin] = Err(failure(
                                    failure_codes::PLUGIN_CONTRACT,
                                    &format!("returned an event whose {e}"),
                                ))
                            }
                        }
                    }
                    Ok(Answer::Failed(e)) => results[origin] = Err(failure(&e.code, &e.message)),
                    Err(e) => results[origin] = Err(failure(e.code(), &e.to_string())),
                }
            }
        }
        for (origin, event) in current {
            if let Ok(events) = &mut results[origin] {
                events.push(event);
            }
        }
        results
    }

    /// Transform `index` on `batch`, in chunks; one answer per event, or
    /// the failure of the call it was in (poison events isolated). The
    /// events move into each call and come back in its answers (or with its
    /// failure, to be tried again in halves): nothing is copied.
    async fn transform_stage(
        &mut self,
        index: usize,
        batch: Vec<Event>,
    ) -> Vec<Result<Answer, CallError>> {
        let mut answers = Vec::with_capacity(batch.len());
        let mut rest = batch.into_iter().peekable();
        while rest.peek().is_some() {
            let mut bytes = 0;
            let mut chunk: Vec<Option<Event>> = Vec::new();
            while let Some(event) = rest.next_if(|e| {
                bytes += e.payload.len() + e.metadata.len();
                chunk.is_empty()
                    || (chunk.len() < TRANSFORM_CHUNK_EVENTS && bytes <= TRANSFORM_CHUNK_BYTES)
            }) {
                chunk.push(Some(event));
            }
            let mut isolation = Isolation::new(chunk.len());
            while let Some(range) = isolation.next() {
                let events = chunk[range.clone()]
                    .iter_mut()
                    .map(|slot| slot.take().expect("a failed call gives its events back"))
                    .collect();
                let result = match self.transform_once(index, events).await {
                    Ok(answers) => Ok(answers),
                    Err((error, events)) => {
                        for (slot, event) in chunk[range].iter_mut().zip(events) {
                            *slot = Some(event);
                        }
                        Err(error)
                    }
                };
                isolation.record(result, &self.destination, &self.stages[index].name);
            }
            answers.extend(isolation.finish());
        }
        answers
    }

    /// One call of transform `index` on `events`, on a fresh instance if
    /// the last call failed.
    async fn transform_once(
        &mut self,
        index: usize,
        events: Vec<Event>,
    ) -> Result<Vec<Answer>, TransformFailure> {
        let stage = &mut self.stages[index];
        let instance = match stage.instance(&self.runtime, &self.destination).await {
            Ok(instance) => instance,
            Err(error) => return Err((error, events)),
        };
        let started = Instant::now();
        let result = instance.transform(events).await;
        let plugin = stage.plugin.name.clone();
        self.count_call(plugin, started.elapsed());
        result
    }
}
