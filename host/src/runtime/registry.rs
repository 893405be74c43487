//! Finding plugins: the built-ins embedded in the binary, then every `*.wasm`
//! in the plugin directory (a file overrides a built-in of the same name).
//! Each component is compiled once (precompiled artifacts are cached on disk,
//! keyed by content hash and engine) and checked against each world.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::LoadError;
use super::worlds::{Linkers, Pre, World};

/// Where build.rs put every component this build made (built-ins, the
/// example transforms, test plugins): for tests and benchmarks on the machine
/// that built it. A deployed binary does not read it.
pub const BUILD_PLUGIN_DIR: &str = concat!(env!("OUT_DIR"), "/plugins");

/// Plugins compiled into the binary (built from `plugins/` by build.rs).
pub const BUILTINS: &[(&str, &[u8])] = &[
    (
        "file",
        include_bytes!(concat!(env!("OUT_DIR"), "/plugins/file.wasm")),
    ),
    (
        "kinesis",
        include_bytes!(concat!(env!("OUT_DIR"), "/plugins/kinesis.wasm")),
    ),
    (
        "kafka",
        include_bytes!(concat!(env!("OUT_DIR"), "/plugins/kafka.wasm")),
    ),
    (
        "webhook",
        include_bytes!(concat!(env!("OUT_DIR"), "/plugins/webhook.wasm")),
    ),
    (
        "eventbridge",
        include_bytes!(concat!(env!("OUT_DIR"), "/plugins/eventbridge.wasm")),
    ),
    (
        "sqs",
        include_bytes!(concat!(env!("OUT_DIR"), "/plugins/sqs.wasm")),
    ),
];

#[derive(Debug, Clone)]
pub enum Origin {
    BuiltIn,
    File(PathBuf),
}

/// A loaded, validated plugin, ready to instantiate.
pub struct Plugin {
    pub name: String,
    /// sha256 of the component bytes, hex: which exact code ran.
    pub hash: String,
    pub origin: Origin,
    pub(super) pre: Pre,
}

impl Plugin {
    pub fn world(&self) -> World {
        match self.pre {
            Pre::Destination(_) => World::Destination,
            Pre::Transform(_) => World::Transform,
        }
    }
}

/// Every plugin known by name, and the files that failed to load.
#[derive(Default)]
pub struct Registry {
    plugins: BTreeMap<String, Arc<Plugin>>,
    failed: BTreeMap<String, LoadError>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.get(name)
    }

    pub fn failure(&self, name: &str) -> Option<&LoadError> {
        self.failed.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.plugins.keys().map(String::as_str)
    }

    pub fn failures(&self) -> impl Iterator<Item = (&str, &LoadError)> {
        self.failed.iter().map(|(n, e)| (n.as_str(), e))
    }
}

/// Compiles components, through an on-disk cache when one is configured.
pub(super) struct Loader<'a> {
    pub engine: &'a Engine,
    pub linkers: &'a Linkers,
    pub cache_dir: Option<&'a Path>,
}

impl Loader<'_> {
    pub fn load_all(&self, dir: Option<&Path>) -> Result<Registry, LoadError> {
        let mut registry = Registry::default();
        for (name, bytes) in BUILTINS {
            let plugin = self.load(name, bytes, Origin::BuiltIn)?;
            registry
                .plugins
                .insert((*name).to_owned(), Arc::new(plugin));
        }
        let Some(dir) = dir else {
            return Ok(registry);
        };
        for path in wasm_files(dir)? {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let loaded = std::fs::read(&path)
                .map_err(|e| LoadError::Read {
                    path: path.clone(),
                    source: Arc::new(e),
                })
                .and_then(|bytes| self.load(&name, &bytes, Origin::File(path.clone())));
            match loaded {
                Ok(plugin) => {
                    if registry.plugins.contains_key(&name) {
                        tracing::info!(plugin = %name, path = %path.display(), "plugin file overrides the built-in");
                    }
                    registry.plugins.insert(name, Arc::new(plugin));
                }
                Err(e) => {
                    tracing::warn!(plugin = %name, error = %e, "plugin not loaded");
                    registry.failed.insert(name, e);
                }
            }
        }
        Ok(registry)
    }

    /// Compiles `bytes` and finds which world it implements.
    pub fn load(&self, name: &str, bytes: &[u8], origin: Origin) -> Result<Plugin, LoadError> {
        let hash = hex(&Sha256::digest(bytes));
        let component = self.compile(name, bytes, &hash)?;
        let pre = self
            .linkers
            .prepare(&component)
            .map_err(|reasons| LoadError::WrongWorld {
                name: name.to_owned(),
                reasons,
            })?;
        tracing::debug!(plugin = name, hash = &hash[..12], "plugin loaded");
        Ok(Plugin {
            name: name.to_owned(),
            hash,
            origin,
            pre,
        })
    }

    #[allow(
        unsafe_code,
        reason = "loading precompiled artifacts; see the SAFETY notes"
    )]
    fn compile(&self, name: &str, bytes: &[u8], hash: &str) -> Result<Component, LoadError> {
        let not_a_component = |e: wasmtime::Error| LoadError::NotAComponent {
            name: name.to_owned(),
            message: format!("{e:#}"),
        };
        let Some(cache_dir) = self.cache_dir else {
            return Component::new(self.engine, bytes).map_err(not_a_component);
        };
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let cached = cache_dir.join(format!("{hash}-{:016x}.cwasm", engine_hash.finish()));
        if cached.exists() {
            // SAFETY: the cache directory holds only artifacts this code wrote
            // with `precompile_component` for the same engine configuration
            // (the file name carries the engine's compatibility hash).
            match unsafe { Component::deserialize_file(self.engine, &cached) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %cached.display(), error = %e, "ignoring unusable cached plugin artifact")
                }
            }
        }
        let artifact = self
            .engine
            .precompile_component(bytes)
            .map_err(not_a_component)?;
        if let Err(e) = write_atomically(&cached, &artifact) {
            tracing::warn!(path = %cached.display(), error = %e, "cannot cache the compiled plugin");
        }
        // SAFETY: `artifact` was produced just now by this engine.
        unsafe { Component::deserialize(self.engine, &artifact) }.map_err(not_a_component)
    }
}

fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), "plugin directory does not exist; only built-in plugins are available");
            return Ok(Vec::new());
        }
        Err(e) => {
            return Err(LoadError::Read {
                path: dir.to_owned(),
                source: Arc::new(e),
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
