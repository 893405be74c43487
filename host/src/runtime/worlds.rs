//! The worlds a plugin can implement (`wit/`), and everything the runtime
//! does per world — link the host functions, recognise a component, start
//! an instance — written once over [`WorldBindings`]. Adding a world is a
//! `bindgen!` in bindings.rs, a variant of [`World`] and [`Pre`], and one
//! `world!` line here. A transform has three sets of bindings (today's
//! views, the batch export of 0.3.0 to 0.6.0, and the per-event export of
//! contracts before 0.3.0), joined in [`TransformBindings`].

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store};

use super::bindings::batch_transform::{
    Transform as BatchTransform, TransformPre as BatchTransformPre,
};
use super::bindings::destination::{Destination, DestinationPre};
use super::bindings::per_event_transform::{
    Transform as PerEventTransform, TransformPre as PerEventTransformPre,
};
use super::bindings::transform::{Transform, TransformPre};
use super::bindings::{Event, PluginErrorRecord, Transformed, Verdict};
use super::contract;
use super::host::HostState;
use super::network;
use super::registry::Plugin;
use super::wasi;

/// Which world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    Destination,
    Transform,
}

impl World {
    /// Every world, in the order a component is tried against them.
    pub const ALL: [World; 2] = [World::Destination, World::Transform];
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            World::Destination => "destination",
            World::Transform => "transform",
        })
    }
}

/// A component linked against its world, ready to instantiate.
pub enum Pre {
    Destination(DestinationPre<HostState>),
    Transform(TransformBindingsPre),
}

/// The generated bindings of one world.
pub trait WorldBindings: Sized + Send {
    type Pre: Sync;
    const WORLD: World;

    /// Adds this world's host functions (and the restricted WASI) to `linker`.
    fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()>;

    /// `component` linked as this world, or why it is not one.
    fn prepare(linker: &Linker<HostState>, component: &Component) -> wasmtime::Result<Pre>;

    /// The prepared component, if `plugin` implements this world.
    fn pre(plugin: &Plugin) -> Option<&Self::Pre>;

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Self>> + Send;

    fn init(
        &self,
        store: &mut Store<HostState>,
        config: &str,
    ) -> impl Future<Output = wasmtime::Result<Result<(), PluginErrorRecord>>> + Send;
}

macro_rules! world {
    ($world:ident, $bindings:ident, $pre:ident) => {
        impl WorldBindings for $bindings {
            type Pre = $pre<HostState>;
            const WORLD: World = World::$world;

            fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
                wasi::add_to_linker(linker)?;
                network::add_to_linker(linker)?;
                $bindings::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
                contract::link_older(linker, World::$world)
            }

            fn prepare(linker: &Linker<HostState>, component: &Component) -> wasmtime::Result<Pre> {
                Ok(Pre::$world($pre::new(linker.instantiate_pre(component)?)?))
            }

            fn pre(plugin: &Plugin) -> Option<&Self::Pre> {
                match &plugin.pre {
                    Pre::$world(pre) => Some(pre),
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            async fn instantiate(
                pre: &Self::Pre,
                store: &mut Store<HostState>,
            ) -> wasmtime::Result<Self> {
                pre.instantiate_async(store).await
            }

            async fn init(
                &self,
                store: &mut Store<HostState>,
                config: &str,
            ) -> wasmtime::Result<Result<(), PluginErrorRecord>> {
                self.call_init(store, config).await
            }
        }
    };
}

world!(Destination, Destination, DestinationPre);

/// A transform instance of any contract.
pub enum TransformBindings {
    /// 0.7.0 and later: `transform-views`, one call per batch, the events
    /// lent to the call and read and edited in place.
    Views(Transform),
    /// 0.3.0 to 0.6.0: `transform-batch`, one call per batch of records.
    Batch(BatchTransform),
    /// 0.1.0 and 0.2.0: `transform`, one call per event.
    PerEvent(PerEventTransform),
}

impl TransformBindings {
    /// One `transform-views` call over the `count` events lent to the
    /// store (`HostState::lend_views`), if [`Self::takes_views`].
    pub(super) async fn call_views(
        &self,
        store: &mut Store<HostState>,
        count: u32,
    ) -> wasmtime::Result<Vec<Verdict>> {
        match self {
            Self::Views(views) => views.call_transform_views(store, count).await,
            Self::Batch(_) | Self::PerEvent(_) => unreachable!("records: call_records"),
        }
    }

    /// True when the transform reads the events through views.
    pub(super) fn takes_views(&self) -> bool {
        matches!(self, Self::Views(_))
    }

    /// True when one call takes many events.
    pub(super) fn takes_batches(&self) -> bool {
        !matches!(self, Self::PerEvent(_))
    }

    /// One call of an older contract (not [`Self::takes_views`]) with
    /// `events` as records (a per-event
    /// transform is called once for each: give it one at a time to keep one
    /// call each).
    pub(super) async fn call_records(
        &self,
        store: &mut Store<HostState>,
        events: &[Event],
    ) -> wasmtime::Result<Vec<Transformed>> {
        match self {
            Self::Views(_) => unreachable!("views take no records: call_views"),
            Self::Batch(batch) => batch.call_transform_batch(store, events).await,
            Self::PerEvent(one) => {
                let mut answers = Vec::with_capacity(events.len());
                for event in events {
                    answers.push(match one.call_transform(&mut *store, event).await? {
                        Ok(events) => Transformed::Replaced(events),
                        Err(error) => Transformed::Failed(error),
                    });
                }
                Ok(answers)
            }
        }
    }
}

/// A transform component linked against the contract it was built for.
pub enum TransformBindingsPre {
    Views(TransformPre<HostState>),
    Batch(BatchTransformPre<HostState>),
    PerEvent(PerEventTransformPre<HostState>),
}

impl WorldBindings for TransformBindings {
    type Pre = TransformBindingsPre;
    const WORLD: World = World::Transform;

    fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wasi::add_to_linker(linker)?;
        Transform::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
        contract::link_older(linker, World::Transform)
    }

    /// Today's export first; a component without it may be an older
    /// batch or per-event transform.
    fn prepare(linker: &Linker<HostState>, component: &Component) -> wasmtime::Result<Pre> {
        let linked = linker.instantiate_pre(component)?;
        let pre = match TransformPre::new(linked.clone()) {
            Ok(pre) => TransformBindingsPre::Views(pre),
            Err(today) => match BatchTransformPre::new(linked.clone()) {
                Ok(pre) => TransformBindingsPre::Batch(pre),
                Err(_) => match PerEventTransformPre::new(linked) {
                    Ok(pre) => TransformBindingsPre::PerEvent(pre),
                    Err(_) => return Err(today),
                },
            },
        };
        Ok(Pre::Transform(pre))
    }

    fn pre(plugin: &Plugin) -> Option<&Self::Pre> {
        match &plugin.pre {
            Pre::Transform(pre) => Some(pre),
            _ => None,
        }
    }

    async fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self> {
        Ok(match pre {
            TransformBindingsPre::Views(pre) => Self::Views(pre.instantiate_async(store).await?),
            TransformBindingsPre::Batch(pre) => Self::Batch(pre.instantiate_async(store).await?),
            TransformBindingsPre::PerEvent(pre) => {
                Self::PerEvent(pre.instantiate_async(store).await?)
            }
        })
    }

    async fn init(
        &self,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), PluginErrorRecord>> {
        match self {
            Self::Views(bindings) => bindings.call_init(store, config).await,
            Self::Batch(bindings) => bindings.call_init(store, config).await,
            Self::PerEvent(bindings) => bindings.call_init(store, config).await,
        }
    }
}

/// One linker per world: a plugin can import only its own world's host
/// functions (a transform cannot reach the destination's sinks).
pub(super) struct Linkers {
    destination: Linker<HostState>,
    transform: Linker<HostState>,
}

impl Linkers {
    pub fn new(engine: &Engine) -> wasmtime::Result<Self> {
        Ok(Self {
            destination: linker::<Destination>(engine)?,
            transform: linker::<TransformBindings>(engine)?,
        })
    }

    /// `component` linked as the first world it implements, or why it
    /// implements none (per world).
    pub fn prepare(&self, component: &Component) -> Result<Pre, String> {
        let mut reasons = Vec::new();
        for world in World::ALL {
            let prepared = match world {
                World::Destination => Destination::prepare(&self.destination, component),
                World::Transform => TransformBindings::prepare(&self.transform, component),
            };
            match prepared {
                Ok(pre) => return Ok(pre),
                Err(e) => reasons.push(format!("as a {world}: {e:#}")),
            }
        }
        Err(reasons.join("; "))
    }
}

fn linker<B: WorldBindings>(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    B::add_to_linker(&mut linker)?;
    Ok(linker)
}
