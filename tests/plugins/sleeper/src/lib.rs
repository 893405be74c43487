//! A destination that sleeps on a WASI monotonic-clock timer in every call:
//! inside host code, where epoch interruption never fires. Pushrail gives
//! plugins no clocks, so this component must be refused when loaded.

use pushrail_sdk::{Destination, Error, Event, Outcome, export_destination};

pub struct Sleeper;

impl Destination for Sleeper {
    fn init(_config: &str) -> Result<Self, Error> {
        Ok(Sleeper)
    }

    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome> {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        batch
            .iter()
            .map(|_| Outcome::Delivered(Vec::new()))
            .collect()
    }
}

export_destination!(Sleeper);
