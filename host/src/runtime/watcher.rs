//! Watches the plugin directory: a new or changed `.wasm` is compiled and
//! validated in the background and published as the plugin's newest
//! version; one that fails to load is logged and recorded, and the running
//! version stays. Polling (not inotify) keeps it portable and simple; a file
//! is loaded only once it stopped changing for one interval, so a copy in
//! progress is never read half-written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Runtime;
use super::registry::Origin;
use super::versions::PluginVersions;

/// What a file looked like: modification time and length.
type Signature = (Option<SystemTime>, u64);

/// Polls `dir` every `interval` until the task is aborted.
pub fn spawn_watcher(
    runtime: Arc<Runtime>,
    dir: PathBuf,
    interval: Duration,
    plugin_versions: Arc<PluginVersions>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Files as loaded (or found already running) and as last seen.
        let mut settled: HashMap<PathBuf, Signature> = scan(&dir).into_iter().collect();
        let mut seen = settled.clone();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let now: HashMap<PathBuf, Signature> = scan(&dir).into_iter().collect();
            for (path, signature) in &now {
                let stable = seen.get(path) == Some(signature);
                if settled.get(path) == Some(signature) || !stable {
                    continue;
                }
                settled.insert(path.clone(), *signature);
                load(&runtime, &plugin_versions, path).await;
            }
            seen = now;
        }
    })
}

/// Loads one file and publishes it, unless it is the version running.
async fn load(runtime: &Arc<Runtime>, plugin_versions: &Arc<PluginVersions>, path: &Path) {
    let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
        return;
    };
    let (runtime, file) = (runtime.clone(), path.to_owned());
    let plugin_name = name.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let bytes =
            std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        runtime
            .load_plugin_from(&plugin_name, &bytes, Origin::File(file.clone()))
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(format!("the load task failed: {e}")));
    match loaded {
        Ok(plugin) => {
            if plugin_versions
                .get(&name)
                .is_some_and(|p| p.hash == plugin.hash)
            {
                return;
            }
            tracing::info!(plugin = %name, hash = &plugin.hash[..12], path = %path.display(), "new plugin version loaded; destinations switch to it between batches");
            plugin_versions.publish(plugin);
        }
        Err(error) => {
            tracing::warn!(plugin = %name, path = %path.display(), %error, "new plugin version not loaded; the running version stays");
            plugin_versions.fail(&name, error);
        }
    }
}

/// Every `*.wasm` in `dir` with its signature (none if the directory is gone).
fn scan(dir: &Path) -> Vec<(PathBuf, Signature)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .filter_map(|p| {
            let meta = std::fs::metadata(&p).ok()?;
            meta.is_file()
                .then(|| (p, (meta.modified().ok(), meta.len())))
        })
        .collect()
}
