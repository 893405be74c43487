//! The newest loaded version of every plugin, for hot reload: the plugin
//! directory watcher publishes new versions here, and each destination's
//! pipeline picks them up between batches.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::registry::{Plugin, Registry};

pub struct PluginVersions {
    plugins: Mutex<BTreeMap<String, Arc<Plugin>>>,
    /// The last failed load (or swap) of a plugin, until a good version comes.
    errors: Mutex<BTreeMap<String, String>>,
    /// Bumped on every new version.
    generation: watch::Sender<u64>,
}

impl PluginVersions {
    /// Starts from what was loaded at startup.
    pub fn new(registry: &Registry) -> Arc<Self> {
        let plugins = registry
            .names()
            .filter_map(|n| registry.get(n).map(|p| (n.to_owned(), p.clone())))
            .collect();
        let errors = registry
            .failures()
            .map(|(n, e)| (n.to_owned(), e.to_string()))
            .collect();
        Arc::new(Self {
            plugins: Mutex::new(plugins),
            errors: Mutex::new(errors),
            generation: watch::channel(0).0,
        })
    }

    /// Every plugin name, sorted.
    pub fn names(&self) -> Vec<String> {
        lock(&self.plugins).keys().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        lock(&self.plugins).get(name).cloned()
    }

    /// Makes `plugin` the newest version of its name.
    pub fn publish(&self, plugin: Plugin) {
        let name = plugin.name.clone();
        lock(&self.errors).remove(&name);
        lock(&self.plugins).insert(name, Arc::new(plugin));
        self.generation.send_modify(|g| *g += 1);
    }

    /// Records why a new version of `name` was not taken; the old one runs on.
    pub fn fail(&self, name: &str, error: String) {
        lock(&self.errors).insert(name.to_owned(), error);
    }

    pub fn error(&self, name: &str) -> Option<String> {
        lock(&self.errors).get(name).cloned()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
