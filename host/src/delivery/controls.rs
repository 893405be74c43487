//! What operators can do to running destinations (pause, redrive, replay)
//! and see of them, by name; swapped whole when the config is reloaded.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, watch};

use super::replay::ReplayCommand;
use super::status::LiveStatus;
use crate::log::DeadLetter;

/// What an operator can do to a running destination.
#[derive(Clone)]
pub struct Control {
    /// Dead letters to deliver again.
    pub redrive: mpsc::Sender<Vec<DeadLetter>>,
    /// True while paused: the worker finishes its batch in flight, then waits.
    pub paused: watch::Sender<bool>,
    /// Plugins, events in flight and the last failure, as the worker sees them.
    pub live: Arc<LiveStatus>,
    /// Replays and dry runs for the worker.
    pub replay: mpsc::Sender<ReplayCommand>,
}

/// The controls of every running destination, in config order.
#[derive(Default)]
pub struct Controls {
    names: Vec<String>,
    by_name: HashMap<String, Control>,
}

impl Controls {
    pub fn insert(&mut self, name: String, control: Control) {
        if self.by_name.insert(name.clone(), control).is_none() {
            self.names.push(name);
        }
    }

    pub fn get(&self, name: &str) -> Option<&Control> {
        self.by_name.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Destination names in config order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// The current [`Controls`], replaced as a whole by a config reload.
#[derive(Default)]
pub struct SharedControls(RwLock<Arc<Controls>>);

impl SharedControls {
    pub fn current(&self) -> Arc<Controls> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, controls: Controls) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(controls);
    }
}
