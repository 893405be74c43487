//! Wires the stages together for `pushrail serve`: open the log, start the
//! background sweeper, serve HTTP until told to stop, then drain and close.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::{AppState, router};
use crate::config::{Config, CustomerOffer, DestinationConfig, customer_destination};
use crate::delivery::{Delivery, DeliveryError, Reloader, with_customers};
use crate::log::{Log, LogError, spawn_sweeper};
use crate::metrics::Metrics;
use crate::runtime::{Limits, PluginVersions, Runtime, RuntimeError, spawn_watcher};
use crate::secrets::{self, KeyError, Keyring};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error(transparent)]
    Keys(#[from] KeyError),
}

impl AppError {
    /// True when the operator's config (or plugin directory) must change.
    pub fn is_config_problem(&self) -> bool {
        matches!(
            self,
            Self::Delivery(_) | Self::Runtime(RuntimeError::Load(_))
        )
    }
}

/// Runs the engine until `shutdown` resolves. In-flight requests get up to
/// `server.shutdown_timeout` to finish; the commit in progress always finishes.
/// `path` is the config file that SIGHUP and `POST /v1/admin/reload` re-read.
pub async fn run(
    config: Config,
    path: Option<PathBuf>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let log = Log::open(&config.storage)?;
    let metrics = Arc::new(Metrics::default());
    let keyring = Arc::new(keyring(&config)?);
    let (customers, unreadable) = customer_destinations(&log, &keyring, &config.plugins);
    let started = start(&with_customers(&config, &customers), &log, metrics.clone()).await;
    let Started {
        listener,
        delivery,
        background,
        plugin_versions,
    } = match started {
        Ok(parts) => parts,
        Err(e) => {
            let closing = log.clone();
            let _ = tokio::task::spawn_blocking(move || closing.close()).await;
            return Err(e);
        }
    };
    let addr = listener.local_addr().map_err(AppError::Serve)?;
    let controls = delivery.controls();
    // Unreadable ones are shown as failed in their status, with the
    // reason, across reloads; their events wait.
    let reloader = Arc::new(Reloader::new(
        path,
        delivery,
        config.clone(),
        customers,
        unreadable,
        config.server.shutdown_timeout,
    ));
    let hangups = spawn_reload_on_hangup(reloader.clone());
    tracing::info!(%addr, auth = !config.server.api_tokens.is_empty(), "listening");

    let app = router(AppState::new(
        log.clone(),
        &config,
        metrics,
        controls,
        reloader.clone(),
        plugin_versions,
        keyring,
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let server = crate::api::serve(listener, app, &config.server, stop_rx.clone());
    let timeout = config.server.shutdown_timeout;
    let mut stopped = stop_rx;
    let result = tokio::select! {
        () = server => Ok(()),
        _ = async {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(timeout).await;
        } => {
            tracing::warn!(?timeout, "in-flight requests did not finish in time; closing anyway");
            Ok(())
        }
    };
    hangups.abort();
    for task in background {
        task.abort();
    }
    reloader.stop(config.server.shutdown_timeout).await;
    let closing = log.clone();
    let _ = tokio::task::spawn_blocking(move || closing.close()).await;
    result
}

/// The master keys that seal customers' secrets: `security.master_keys`,
/// or a key file created in the data directory on first start.
fn keyring(config: &Config) -> Result<Keyring, AppError> {
    let security = &config.security;
    if let Some(primary) = &security.primary_key {
        return Ok(Keyring::new(primary, &security.master_keys)?);
    }
    let (keyring, created) = Keyring::local(&config.storage.data_dir)?;
    if created {
        tracing::warn!(
            path = %config.storage.data_dir.join(secrets::LOCAL_KEY_FILE).display(),
            "created a master key for customers' secrets; back it up with the data (without it they cannot be read), or set security.master_keys"
        );
    }
    Ok(keyring)
}

/// The customers' destinations stored in the log, as they run, and those
/// that cannot (a secret under a key no longer configured), by name with
/// the reason: they show as failed, and their events stay in the log.
fn customer_destinations(
    log: &Log,
    keyring: &Keyring,
    plugins: &crate::config::PluginsConfig,
) -> (Vec<Arc<DestinationConfig>>, Vec<(String, String)>) {
    let offer = CustomerOffer {
        plugins: &plugins.customer_plugins,
        network: &plugins.customer_network,
    };
    let stored = match log.all_customer_destinations() {
        Ok(stored) => stored,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the customers' destinations; none run");
            return (Vec::new(), Vec::new());
        }
    };
    let mut out = Vec::new();
    let mut unreadable = Vec::new();
    for d in stored {
        let customer = match log.customer(&d.customer_external_id) {
            Ok(Some(customer)) => customer,
            _ => continue,
        };
        match customer_destination(
            &customer.customer_external_id,
            &customer.external_id,
            &d.id,
            &d.spec,
            keyring,
            offer,
        ) {
            Ok(config) => out.push(Arc::new(config)),
            Err(problems) => {
                let reason = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                tracing::error!(destination = %d.id, customer = %d.customer_external_id, %reason, "a stored customer destination cannot run");
                unreadable.push((crate::config::destination_name(&d.id), reason));
            }
        }
    }
    (out, unreadable)
}
/// What [`start`] brings up.
struct Started {
    listener: TcpListener,
    delivery: Delivery,
    /// The retention sweeper and the plugin directory watcher.
    background: Vec<tokio::task::JoinHandle<()>>,
    plugin_versions: Arc<PluginVersions>,
}

/// Everything between opening the log and serving: plugins, delivery,
/// the retention sweeper, the plugin watcher and the listening socket.
async fn start(config: &Config, log: &Log, metrics: Arc<Metrics>) -> Result<Started, AppError> {
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| AppError::Bind {
            addr: config.server.listen,
            source,
        })?;
    let cache_dir = config
        .plugins
        .cache
        .then(|| config.storage.data_dir.join("plugin-cache"));
    let limits = Limits::from_config(&config.plugins);
    let runtime = Runtime::new(limits, cache_dir)?;
    let registry = runtime.load_plugins(config.plugins.dir.as_deref())?;
    let plugin_versions = PluginVersions::new(&registry);
    let delivery = Delivery::start(
        config,
        log,
        runtime.clone(),
        plugin_versions.clone(),
        metrics,
    )
    .await?;
    tracing::info!(
        destinations = config.destinations.len(),
        plugins = registry.names().collect::<Vec<_>>().join(","),
        "delivery running"
    );
    // The sweeper holds back for the destinations running now (a reload changes them).
    let controls = delivery.controls();
    let mut background = vec![spawn_sweeper(
        log.clone(),
        config.storage.retention,
        config.storage.attempt_retention,
        config.storage.retention_interval,
        Arc::new(move || controls.current().scopes()),
    )];
    if let Some(dir) = &config.plugins.dir
        && !config.plugins.watch_interval.is_zero()
    {
        background.push(spawn_watcher(
            runtime,
            dir.clone(),
            config.plugins.watch_interval,
            plugin_versions.clone(),
        ));
    }
    Ok(Started {
        listener,
        delivery,
        background,
        plugin_versions,
    })
}

/// Reloads the config file on every SIGHUP; a refused one is logged and the
/// running config stays.
fn spawn_reload_on_hangup(reloader: Arc<Reloader>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; use POST /v1/admin/reload");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config");
            if let Err(e) = reloader.reload().await {
                tracing::error!(error = %e, "config reload refused; the running config stays");
            }
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("received Ctrl-C"),
        _ = terminate => tracing::info!("received SIGTERM"),
    }
}
