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

/// A transform world's bindings from the WIT at `$path`; its types and
/// logging are the destination world's.
macro_rules! transform_bindings {
    ($path:literal) => {
        wasmtime::component::bindgen!({
            path: $path,
            world: "pushrail:plugin/transform",
            imports: { default: async },
            exports: { default: async },
            with: {
                "pushrail:plugin/types": super::destination::pushrail::plugin::types,
                "pushrail:plugin/logging": super::destination::pushrail::plugin::logging,
            },
        });
    };
}

/// Today's transform world. The views' functions are synchronous: each is
/// a lookup and a small native edit, called several times per event, where
/// an async host call's future would cost more than the work.
pub mod transform {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "pushrail:plugin/transform",
        imports: {
            "pushrail:plugin/views.envelope": trappable,
            "pushrail:plugin/views.sequence": trappable,
            "pushrail:plugin/views.get": trappable,
            "pushrail:plugin/views.set": trappable,
            "pushrail:plugin/views.replace": trappable,
            "pushrail:plugin/views.remove": trappable,
            "pushrail:plugin/views.to-event": trappable,
            default: async,
        },
        exports: { default: async },
        with: {
            "pushrail:plugin/types": super::destination::pushrail::plugin::types,
            "pushrail:plugin/logging": super::destination::pushrail::plugin::logging,
        },
    });
}

/// Transforms built against 0.3.0 to 0.6.0 export `transform-batch` (the
/// events as records in, `transformed` answers out) instead of
/// `transform-views`. Generated from the frozen 0.6.0 WIT for that export
/// only; its types and imports are today's.
pub mod batch_transform {
    transform_bindings!("../wit/versions/0.6.0");
}

/// Transforms built against 0.1.0 or 0.2.0 export `transform`, one event
/// per call, instead of `transform-batch`. Generated from the frozen 0.2.0
/// WIT for that export only; its types and imports are today's (the host
/// links the older import names in contract.rs).
pub mod per_event_transform {
    transform_bindings!("../wit/versions/0.2.0");
}

/// The `kinesis` interface as 0.1.0–0.3.0 had it (its location had no
/// sub-sequence number), for the adapter in contract.rs. Generated from the
/// frozen 0.3.0 WIT; every other interface is today's.
pub mod kinesis_before_0_4 {
    wasmtime::component::bindgen!({
        path: "../wit/versions/0.3.0",
        world: "pushrail:plugin/destination",
        imports: { default: async },
        exports: { default: async },
        with: {
            "pushrail:plugin/types": super::destination::pushrail::plugin::types,
            "pushrail:plugin/logging": super::destination::pushrail::plugin::logging,
            "pushrail:plugin/file": super::destination::pushrail::plugin::file,
            "pushrail:plugin/kafka": super::destination::pushrail::plugin::kafka,
        },
    });
}

pub use destination::pushrail::plugin::types::{
    Error as PluginErrorRecord, Event, Outcome, Transformed, Verdict,
};

#[cfg(test)]
mod tests {
    /// Plugin authors read the WIT: every interface, world, type, field,
    /// case and function in it says what it is.
    #[test]
    fn every_wit_item_is_documented() {
        let wit = include_str!("../../../wit/plugin.wit");
        let mut previous = "";
        let mut undocumented = Vec::new();
        for line in wit.lines().map(str::trim) {
            let declares = !(line.is_empty()
                || line.starts_with("//")
                || line.starts_with('}')
                || line.starts_with("use ")
                || line.starts_with("import ")
                || line.starts_with("package "));
            if declares && !previous.starts_with("///") {
                undocumented.push(line);
            }
            if !line.is_empty() {
                previous = line;
            }
        }
        assert!(
            undocumented.is_empty(),
            "undocumented WIT items: {undocumented:#?}"
        );
    }
}
