//! The worlds a plugin can implement (`wit/`), and everything the runtime
//! does per world — link the host functions, recognise a component, start
//! an instance — written once over [`WorldBindings`]. Adding a world is a
//! `bindgen!` in bindings.rs, a variant of [`World`] and [`Pre`], and one
//! `world!` line here.

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store};

use super::bindings::PluginErrorRecord;
use super::bindings::destination::{Destination, DestinationPre};
use super::bindings::transform::{Transform, TransformPre};
use super::host::HostState;
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
    Transform(TransformPre<HostState>),
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
                $bindings::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
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
world!(Transform, Transform, TransformPre);

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
            transform: linker::<Transform>(engine)?,
        })
    }

    /// `component` linked as the first world it implements, or why it
    /// implements none (per world).
    pub fn prepare(&self, component: &Component) -> Result<Pre, String> {
        let mut reasons = Vec::new();
        for world in World::ALL {
            let prepared = match world {
                World::Destination => Destination::prepare(&self.destination, component),
                World::Transform => Transform::prepare(&self.transform, component),
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
