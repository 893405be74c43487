//! What operators can do to running destinations (pause, redrive, replay)
//! and see of them, by name; swapped whole when the config is reloaded.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use super::inbox;

use super::redrive::Operator;
use super::replay::ReplayCommand;
use super::status::LiveStatus;

/// What an operator can do to a running destination.
#[derive(Clone)]
pub struct Control {
    /// Redrive and discard of dead letters, carried out by the worker in
    /// the order they arrive.
    pub operator: inbox::Sender<Operator>,
    /// True while paused: the worker finishes its batch in flight, then waits.
    pub paused: watch::Sender<bool>,
    /// Plugins, events in flight and the last failure, as the worker sees them.
    pub live: Arc<LiveStatus>,
    /// Replays and dry runs for the worker.
    pub replay: inbox::Sender<ReplayCommand>,
    /// The one customer it delivers for, if one: it reads only that
    /// customer's events and its stored cursor lags while others' flow
    /// (see `Log::customer_cursor`).
    pub customer: Option<Arc<str>>,
}

/// The controls of every running destination, and the start errors of
/// configured destinations that could not start, in config order.
#[derive(Default, Clone)]
pub struct Controls {
    /// Every configured destination, running or not.
    names: Vec<String>,
    by_name: HashMap<String, Control>,
    /// Configured destinations that could not start, with the reason.
    failed: HashMap<String, String>,
}

impl Controls {
    pub fn insert(&mut self, name: String, control: Control) {
        self.failed.remove(&name);
        if !self.names.contains(&name) {
            self.names.push(name.clone());
        }
        self.by_name.insert(name, control);
    }

    /// Records a configured destination that could not start: it keeps its
    /// place (retention still waits for its cursor) and shows `error`.
    pub fn fail(&mut self, name: String, error: String) {
        self.by_name.remove(&name);
        if !self.names.contains(&name) {
            self.names.push(name.clone());
        }
        self.failed.insert(name, error);
    }

    /// The controls of a running destination.
    pub fn get(&self, name: &str) -> Option<&Control> {
        self.by_name.get(name)
    }

    /// Why a configured destination is not running, if it could not start.
    pub fn start_error(&self, name: &str) -> Option<&str> {
        self.failed.get(name).map(String::as_str)
    }

    /// True for every configured destination, running or not.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name) || self.failed.contains_key(name)
    }

    /// Every configured destination's name in config order, running or not.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// `name` with its one customer, if it has one.
    pub fn scope(&self, name: &str) -> crate::log::CursorScope {
        crate::log::CursorScope {
            destination: name.to_owned(),
            customer: self.by_name.get(name).and_then(|c| c.customer.clone()),
        }
    }

    /// Every configured destination with its one customer, if it has one.
    pub fn scopes(&self) -> Vec<crate::log::CursorScope> {
        self.names.iter().map(|name| self.scope(name)).collect()
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
