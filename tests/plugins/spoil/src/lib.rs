//! A transform that breaks the contract on purpose, for events of customer
//! `config.customer`; every other event is kept as it came. How it tries
//! (`config.through`):
//!
//! - `record` (the default): replaces the event with a copy whose payload
//!   is `config.payload`, text that is not a JSON object. Destinations
//!   render events without parsing them again, so the host must refuse it.
//! - `view`: sets `/payload` to `config.payload` through `views`, and fails
//!   the event with the error the host answers.
//! - `past-the-end`: reads an event past the end of the call's events.
//!
//! Written against the generated bindings rather than the SDK's traits, so
//! that it can reach what the SDK would never do.

// Only the WebAssembly build is the plugin; natively the crate is empty.
#![cfg(target_arch = "wasm32")]

use serde::Deserialize;

/// What `init` was given.
#[derive(Deserialize)]
pub struct Settings {
    customer: String,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    through: Through,
}

/// How a spoiled event is spoiled.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum Through {
    #[default]
    Record,
    View,
    PastTheEnd,
}

mod export {
    use std::cell::RefCell;

    use pushrail_sdk::transform::pushrail::plugin::views::{self, EnvelopeField};
    use pushrail_sdk::{Error, Verdict, parse_config};

    use super::{Settings, Through};

    thread_local! {
        static SETTINGS: RefCell<Option<Settings>> = const { RefCell::new(None) };
    }

    struct Spoil;

    impl pushrail_sdk::transform::Guest for Spoil {
        fn init(config: String) -> Result<(), Error> {
            let settings: Settings = parse_config(&config)?;
            SETTINGS.with(|s| *s.borrow_mut() = Some(settings));
            Ok(())
        }

        fn transform_views(count: u32) -> Vec<Verdict> {
            SETTINGS.with(|s| {
                let s = s.borrow();
                let s = s.as_ref().expect("init ran");
                (0..count)
                    .map(|i| {
                        let customer = views::envelope(i, EnvelopeField::CustomerExternalId);
                        if customer.as_deref() != Some(s.customer.as_str()) {
                            return Verdict::Keep;
                        }
                        match s.through {
                            Through::Record => {
                                let mut event = views::to_event(i);
                                event.payload = s.payload.clone();
                                Verdict::Replaced(vec![event])
                            }
                            Through::View => match views::set(i, "/payload", &s.payload) {
                                Ok(()) => Verdict::Keep,
                                Err(refused) => Verdict::Failed(refused),
                            },
                            Through::PastTheEnd => {
                                let _ = views::get(count + i, "/payload");
                                Verdict::Keep
                            }
                        }
                    })
                    .collect()
            })
        }
    }

    pushrail_sdk::transform::export_transform_world!(Spoil with_types_in pushrail_sdk::transform);
}
