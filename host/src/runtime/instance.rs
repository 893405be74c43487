//! Live plugin instances. Each owns its store and is reused across calls;
//! after a failed call (trap, time budget, memory cap) it must be dropped
//! and a fresh one made, which [`Instance::is_poisoned`] tells.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::destination::Destination;
use pushrail_event::ParsedEvent;

use super::bindings::{Event, Outcome, PluginErrorRecord, Transformed, Verdict};
use super::error::CallError;
use super::host::HostState;
use super::registry::Plugin;
use super::sandbox::Activity;
use super::worlds::{TransformBindings, WorldBindings};

/// A plugin instance of one world (`B` is its generated bindings),
/// initialized with its config.
pub struct Instance<B> {
    store: Store<HostState>,
    bindings: B,
    plugin: Arc<Plugin>,
    poisoned: bool,
    /// Keeps the epoch ticking while this instance runs guest code.
    activity: Activity,
}

/// A destination plugin instance.
pub type DestinationInstance = Instance<Destination>;

/// A transform plugin instance (of either contract).
pub type TransformInstance = Instance<TransformBindings>;

/// Prepares a store: memory cap, and a deadline callback that interrupts a
/// call over its guest-time budget and otherwise yields to the executor
/// every tick, so a busy plugin never starves other tasks.
pub(super) fn new_store(engine: &wasmtime::Engine, state: HostState) -> Store<HostState> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.epoch_deadline_callback(|mut ctx| {
        if ctx.data_mut().clock.tick() {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store
}

/// Runs one call into the plugin under the wall-clock deadline, the epoch
/// ticking meanwhile; a call cut off there is dropped mid-way (the instance
/// must not be used again).
async fn within_deadline<T>(
    activity: &Activity,
    deadline: Duration,
    call: impl Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    let _running = activity.enter();
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or(Err(CallError::WallTimeout(deadline)))
}

fn begin_call(store: &mut Store<HostState>) {
    store.data_mut().clock.start();
    store.data_mut().call_started = std::time::Instant::now();
    store.set_epoch_deadline(1);
}

/// Turns a failed call into the reason an operator needs to see.
fn classify(store: &Store<HostState>, error: wasmtime::Error) -> CallError {
    let state = store.data();
    if state.limiter.exceeded {
        return CallError::MemoryLimit(format!("{error:#}"));
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return CallError::Timeout(state.clock.budget);
    }
    CallError::Trap(format!("{error:#}"))
}

/// The outcome of `init`: the plugin's own refusal, or a failed call.
fn init_result(
    store: &Store<HostState>,
    result: wasmtime::Result<Result<(), PluginErrorRecord>>,
) -> Result<(), CallError> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(PluginErrorRecord { code, message })) => Err(CallError::Init { code, message }),
        Err(e) => Err(classify(store, e)),
    }
}

impl<B> Instance<B> {
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// True after a failed call: the instance must be replaced.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

impl<B: WorldBindings> Instance<B> {
    /// Instantiates the plugin and calls its `init` with `config`, within
    /// the call deadline.
    pub(super) async fn start(
        mut store: Store<HostState>,
        plugin: Arc<Plugin>,
        pre: &B::Pre,
        config: &str,
        activity: Activity,
    ) -> Result<Self, CallError> {
        let deadline = store.data().call_timeout;
        within_deadline(&activity.clone(), deadline, async move {
            begin_call(&mut store);
            let bindings = B::instantiate(pre, &mut store).await.map_err(|e| {
                match e.downcast_ref::<Trap>() {
                    // The component's own start code failed.
                    Some(_) => classify(&store, e),
                    // The host could not set it up (mmap failed…).
                    None => CallError::Unavailable(format!("{e:#}")),
                }
            })?;
            let result = bindings.init(&mut store, config).await;
            store.data_mut().outbound.forget();
            init_result(&store, result)?;
            Ok(Self {
                store,
                bindings,
                plugin,
                poisoned: false,
                activity,
            })
        })
        .await
    }
}

impl<B: WorldBindings> Instance<B> {
    /// Runs one call into the plugin under the wall-clock deadline. The
    /// instance counts as poisoned until the call returns: one that failed
    /// or was cut off must not be used again.
    async fn call<R>(
        &mut self,
        f: impl AsyncFnOnce(&B, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        begin_call(&mut self.store);
        self.poisoned = true;
        let deadline = self.store.data().call_timeout;
        let (store, bindings) = (&mut self.store, &self.bindings);
        let result = within_deadline(&self.activity, deadline, async {
            let called = f(bindings, &mut *store).await;
            called.map_err(|e| classify(store, e))
        })
        .await;
        // Requests belong to the call: those it left out hold room under
        // the destination's network.max_in_flight until dropped.
        self.store.data_mut().outbound.forget();
        let result = result?;
        self.poisoned = false;
        Ok(result)
    }
}

impl Instance<Destination> {
    /// Delivers `batch`; exactly one outcome per event or an error for the whole call.
    pub async fn deliver(&mut self, batch: &[Event]) -> Result<Vec<Outcome>, CallError> {
        let outcomes = self
            .call(async |bindings, store| bindings.call_deliver(store, batch).await)
            .await?;
        one_each("deliver", "outcomes", outcomes.len(), batch.len())?;
        Ok(outcomes)
    }
}

/// What a transform made of one event, whichever contract it speaks.
#[derive(Debug)]
pub enum Answer {
    /// Passed on: the event as it came, or with the edits made through its
    /// view (whose payload and metadata are JSON objects by construction).
    Kept(Event),
    /// Replaced by these events (none: dropped); to be checked.
    Replaced(Vec<Event>),
    /// Failed: the event goes to the dead-letter queue.
    Failed(PluginErrorRecord),
}

/// A failed transform call, with the events it was given back (to try
/// again in halves).
pub type TransformFailure = (CallError, Vec<Event>);

impl Instance<TransformBindings> {
    /// Transforms `events`: exactly one answer per event, or an error for
    /// the whole call and the events back. Today's transforms are lent the
    /// events for the call (moved into the store, not copied); a transform built before
    /// 0.7.0 gets them as records, and one before 0.3.0 one call per event,
    /// each on its own time budget.
    pub async fn transform(&mut self, events: Vec<Event>) -> Result<Vec<Answer>, TransformFailure> {
        if !self.bindings.takes_views() {
            return self.transform_records(events).await;
        }
        let count = self.store.data_mut().lend_views(events);
        let result = self
            .call(async |bindings, store| bindings.call_views(store, count).await)
            .await;
        // Taken back whatever happened, also from a call cut off mid-way.
        let lent = self.store.data_mut().take_views();
        let verdicts = match result {
            Ok(verdicts) => verdicts,
            Err(error) => return Err((error, originals(lent))),
        };
        if let Err(error) = one_each("transform", "answers", verdicts.len(), lent.len()) {
            return Err((error, originals(lent)));
        }
        Ok(verdicts
            .into_iter()
            .zip(lent)
            .map(|(verdict, view)| match verdict {
                Verdict::Keep => Answer::Kept(view.finish().0),
                Verdict::Replaced(events) => Answer::Replaced(events),
                Verdict::Failed(error) => Answer::Failed(error),
            })
            .collect())
    }

    /// [`Self::transform`] for the contracts before 0.7.0.
    async fn transform_records(
        &mut self,
        events: Vec<Event>,
    ) -> Result<Vec<Answer>, TransformFailure> {
        let per_call = if self.bindings.takes_batches() {
            events.len().max(1)
        } else {
            1
        };
        let mut answers = Vec::with_capacity(events.len());
        for chunk in events.chunks(per_call) {
            let chunk_answers = match self
                .call(async |bindings, store| bindings.call_records(store, chunk).await)
                .await
            {
                Ok(answers) => answers,
                Err(error) => return Err((error, events)),
            };
            if let Err(error) = one_each("transform", "answers", chunk_answers.len(), chunk.len()) {
                return Err((error, events));
            }
            answers.extend(chunk_answers);
        }
        Ok(events
            .into_iter()
            .zip(answers)
            .map(|(event, answer)| match answer {
                Transformed::Unchanged => Answer::Kept(event),
                Transformed::Replaced(events) => Answer::Replaced(events),
                Transformed::Failed(error) => Answer::Failed(error),
            })
            .collect())
    }
}

/// The events as they were lent, edits dropped.
fn originals(lent: Vec<ParsedEvent<Event>>) -> Vec<Event> {
    lent.into_iter().map(ParsedEvent::into_original).collect()
}

/// The contract of every batch call: one answer per event.
fn one_each(function: &str, what: &str, answers: usize, events: usize) -> Result<(), CallError> {
    if answers == events {
        return Ok(());
    }
    Err(CallError::Contract(format!(
        "{function} returned {answers} {what} for {events} events"
    )))
}
