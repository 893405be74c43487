//! Host-side bindings generated from `wit/`. Both worlds share the `types`
//! and `logging` interfaces, generated once in [`destination`].

pub mod destination {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "pushrail:plugin/destination",
        imports: { default: async },
        exports: { default: async },
    });
}

pub mod transform {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "pushrail:plugin/transform",
        imports: { default: async },
        exports: { default: async },
        with: {
            "pushrail:plugin/types": super::destination::pushrail::plugin::types,
            "pushrail:plugin/logging": super::destination::pushrail::plugin::logging,
        },
    });
}

pub use destination::pushrail::plugin::types::{Error as PluginErrorRecord, Event, Outcome};
