//! Write Pushrail plugins in Rust.
//!
//! A plugin is a WebAssembly component that implements one of the worlds of
//! the `pushrail:plugin` WIT package: a [`Transform`] (one event in, zero or
//! more out) or a [`Destination`] (delivers batches). Implement the trait,
//! call the matching export macro, and build with
//! `cargo build --release --target wasm32-wasip2`.
//!
//! ```no_run
//! use pushrail_sdk::{Error, Event, export_transform_fn};
//! fn shout(mut event: Event) -> Result<Vec<Event>, Error> {
//!     event.event_type = event.event_type.to_uppercase();
//!     Ok(vec![event])
//! }
//! export_transform_fn!(shout);
//! ```
//!
//! A transform with a config or state implements [`Transform`] and is
//! exported with [`export_transform!`]. A [`Transform`] gets a whole copy of
//! each event; an [`EditTransform`] (exported with
//! [`export_edit_transform!`]) reads only the fields it needs and edits the
//! event in place through the host, which is several times cheaper per
//! event: the example transforms in the repository are written so.

#![warn(missing_docs)]

mod capabilities;
mod event;
pub mod http;
mod shapes;
mod view;

/// Generated bindings of the `destination` world.
#[doc(hidden)]
pub mod destination {
    wit_bindgen::generate!({
        path: "../wit",
        world: "pushrail:plugin/destination",
        pub_export_macro: true,
        export_macro_name: "export_destination_world",
        default_bindings_module: "pushrail_sdk::destination",
        // A `Transform` answers `keep` by comparing its output with its input.
        additional_derives: [PartialEq],
    });
}

/// Generated bindings of the `transform` world; its types are the destination's.
#[doc(hidden)]
pub mod transform {
    wit_bindgen::generate!({
        path: "../wit",
        world: "pushrail:plugin/transform",
        pub_export_macro: true,
        export_macro_name: "export_transform_world",
        default_bindings_module: "pushrail_sdk::transform",
        with: {
            "pushrail:plugin/types@0.7.0": crate::destination::pushrail::plugin::types,
            "pushrail:plugin/logging@0.7.0": crate::destination::pushrail::plugin::logging,
        },
    });
}

pub use destination::pushrail::plugin::types::{Error, Event, Outcome, Verdict};
/// The event logic the host shares with plugins: field paths (partition
/// keys), canonical JSON and `*` patterns — the host computes them with
/// the same code.
pub use pushrail_event::{EventFields, FieldPath, ParsedEvent, glob_matches};
pub use view::{EditTransform, Envelope, EventView, HostEvent, pointer_token};

/// A transform plugin: one instance lives across many events. The host
/// calls it with batches; the export macros run this per-event function on
/// each event of a batch.
pub trait Transform: Sized + 'static {
    /// Builds the transform from its config (JSON text; `{}` when none).
    fn init(config: &str) -> Result<Self, Error>;

    /// Zero events drops `event`, one maps it, several split it. An error
    /// sends the event to the destination's dead-letter queue.
    fn transform(&mut self, event: Event) -> Result<Vec<Event>, Error>;
}

/// A destination plugin: one instance lives across many batches.
pub trait Destination: Sized + 'static {
    /// Builds the destination from its `[[destinations]]` table (JSON text, secrets removed).
    fn init(config: &str) -> Result<Self, Error>;

    /// Returns one outcome per event, in order. Once an event of a partition
    /// key fails, return a failure for the later events of that key too.
    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome>;
}

impl Error {
    /// An error with a machine-readable `code` and a message for people.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Parses a plugin config into `T`; a mismatch is a `bad_config` error that
/// the host shows the operator.
pub fn parse_config<T: serde::de::DeserializeOwned>(config: &str) -> Result<T, Error> {
    serde_json::from_str(config).map_err(|e| Error::new("bad_config", e.to_string()))
}

pub use capabilities::{aws, delivery, file, kafka, kinesis, logging, signing};
pub use shapes::{
    CallLimits, RecordResult, deliver_concurrently, deliver_each, deliver_in_calls, deliver_records,
};

#[doc(hidden)]
pub mod __private {
    use std::any::Any;
    use std::cell::RefCell;

    thread_local! {
        static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    pub fn init<T: 'static>(built: Result<T, crate::Error>) -> Result<(), crate::Error> {
        let value = built?;
        STATE.with(|s| *s.borrow_mut() = Some(Box::new(value)));
        Ok(())
    }

    /// One event of a batch through the author's per-event function: the
    /// event is copied out of the host whole. One that comes back as it
    /// went in is kept, so the host copies nothing back.
    pub fn transform_one<T: crate::Transform>(
        transform: &mut T,
        event: crate::Event,
    ) -> crate::Verdict {
        let original = event.clone();
        match transform.transform(event) {
            Ok(mut events) if events.len() == 1 && events[0] == original => {
                events.clear();
                crate::Verdict::Keep
            }
            Ok(events) => crate::Verdict::Replaced(events),
            Err(error) => crate::Verdict::Failed(error),
        }
    }

    /// One event through an [`EditTransform`](crate::EditTransform).
    pub fn edit_one<T: crate::EditTransform>(
        transform: &mut T,
        event: &mut impl crate::EventView,
    ) -> crate::Verdict {
        transform.edit(event).unwrap_or_else(crate::Verdict::Failed)
    }

    pub fn with<T: 'static, R>(f: impl FnOnce(&mut T) -> R) -> R {
        STATE.with(|s| {
            let mut state = s.borrow_mut();
            let value = state
                .as_mut()
                .and_then(|b| b.downcast_mut::<T>())
                .expect("the host calls init before anything else");
            f(value)
        })
    }
}

/// Exports a [`Transform`] implementation as this component's `transform` world.
/// Only a `wasm32` build exports anything: natively the crate stays a plain
/// library, so its logic can be unit-tested and benchmarked outside WebAssembly.
#[macro_export]
macro_rules! export_transform {
    ($ty:ty) => {
        // Natively: only that the type is a transform (and is used).
        #[cfg(not(target_arch = "wasm32"))]
        const _: (
            fn(&str) -> Result<$ty, $crate::Error>,
            fn(&mut $ty, $crate::Event) -> Result<Vec<$crate::Event>, $crate::Error>,
        ) = (
            <$ty as $crate::Transform>::init,
            <$ty as $crate::Transform>::transform,
        );

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct PushrailTransform;

            impl $crate::transform::Guest for PushrailTransform {
                fn init(config: String) -> Result<(), $crate::Error> {
                    $crate::__private::init(<$ty as $crate::Transform>::init(&config))
                }

                fn transform_views(count: u32) -> Vec<$crate::Verdict> {
                    $crate::__private::with(|t: &mut $ty| {
                        (0..count)
                            .map(|i| {
                                let event = $crate::HostEvent::new(i).to_event();
                                $crate::__private::transform_one(t, event)
                            })
                            .collect()
                    })
                }
            }

            $crate::transform::export_transform_world!(PushrailTransform with_types_in $crate::transform);
        };
    };
}

/// Exports an [`EditTransform`] implementation as this component's
/// `transform` world (in a `wasm32` build only, as [`export_transform!`]).
#[macro_export]
macro_rules! export_edit_transform {
    ($ty:ty) => {
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn(&str) -> Result<$ty, $crate::Error> = <$ty as $crate::EditTransform>::init;

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct PushrailTransform;

            impl $crate::transform::Guest for PushrailTransform {
                fn init(config: String) -> Result<(), $crate::Error> {
                    $crate::__private::init(<$ty as $crate::EditTransform>::init(&config))
                }

                fn transform_views(count: u32) -> Vec<$crate::Verdict> {
                    $crate::__private::with(|t: &mut $ty| {
                        (0..count)
                            .map(|i| $crate::__private::edit_one(t, &mut $crate::HostEvent::new(i)))
                            .collect()
                    })
                }
            }

            $crate::transform::export_transform_world!(PushrailTransform with_types_in $crate::transform);
        };
    };
}

/// Exports a plain function `fn(Event) -> Result<Vec<Event>, Error>` as a
/// stateless transform (its config is ignored): the shortest plugin there is.
#[macro_export]
macro_rules! export_transform_fn {
    ($f:path) => {
        const _: () = {
            /// The function, as a [`Transform`]($crate::Transform).
            struct PushrailTransformFn;

            impl $crate::Transform for PushrailTransformFn {
                fn init(_config: &str) -> Result<Self, $crate::Error> {
                    Ok(Self)
                }

                fn transform(
                    &mut self,
                    event: $crate::Event,
                ) -> Result<Vec<$crate::Event>, $crate::Error> {
                    $f(event)
                }
            }

            $crate::export_transform!(PushrailTransformFn);
        };
    };
}

/// Exports a [`Destination`] implementation as this component's `destination` world
/// (in a `wasm32` build only, as [`export_transform!`]).
#[macro_export]
macro_rules! export_destination {
    ($ty:ty) => {
        // Natively: only that the type is a destination (and is used).
        #[cfg(not(target_arch = "wasm32"))]
        const _: (
            fn(&str) -> Result<$ty, $crate::Error>,
            fn(&mut $ty, Vec<$crate::Event>) -> Vec<$crate::Outcome>,
        ) = (
            <$ty as $crate::Destination>::init,
            <$ty as $crate::Destination>::deliver,
        );

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct PushrailDestination;

            impl $crate::destination::Guest for PushrailDestination {
                fn init(config: String) -> Result<(), $crate::Error> {
                    $crate::__private::init(<$ty as $crate::Destination>::init(&config))
                }

                fn deliver(batch: Vec<$crate::Event>) -> Vec<$crate::Outcome> {
                    $crate::__private::with(|d: &mut $ty| $crate::Destination::deliver(d, batch))
                }
            }

            $crate::destination::export_destination_world!(PushrailDestination with_types_in $crate::destination);
        };
    };
}
