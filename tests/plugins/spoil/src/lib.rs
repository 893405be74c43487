//! A transform that breaks the contract on purpose: events of customer
//! `config.customer` leave it with `config.payload` as their payload (text
//! that is not a JSON object); every other event passes unchanged.
//! Destinations render events without parsing them again, so the host must
//! refuse such an event before any destination sees it.

use pushrail_sdk::{Error, Event, Transform, export_transform, parse_config};
use serde::Deserialize;

#[derive(Deserialize)]
struct Settings {
    customer: String,
    payload: String,
}

pub struct Spoil(Settings);

impl Transform for Spoil {
    fn init(config: &str) -> Result<Self, Error> {
        Ok(Spoil(parse_config(config)?))
    }

    fn transform(&mut self, mut event: Event) -> Result<Vec<Event>, Error> {
        if event.customer_external_id == self.0.customer {
            event.payload = self.0.payload.clone();
        }
        Ok(vec![event])
    }
}

export_transform!(Spoil);
