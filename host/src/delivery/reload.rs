//! Applying a new config to running delivery (SIGHUP, `POST
//! /v1/admin/reload`): added destinations start, removed ones stop after
//! their batches in flight, changed ones restart from their cursor, the rest
//! run on untouched. A config with any problem is refused whole and the
//! running one stays.

use std::sync::Arc;

use serde::Serialize;

use super::{Controls, Delivery, DeliveryError, Running, transforms_of, validate_destination};
use crate::config::{Config, DestinationConfig};

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{} problem(s) in the new config; nothing changed:\n{}", .0.len(), list(.0))]
    Destinations(Vec<DeliveryError>),
}

fn list(problems: &[DeliveryError]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a reload did, by destination name.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Changed: the old worker finishes its batches in flight, then the
    /// new one goes on from the cursor.
    pub restarted: Vec<String>,
    /// As before: running, or (when the reload did not retry them) still
    /// not started.
    pub unchanged: Vec<String>,
    /// Changed but could not start after the old one stopped (see the log).
    pub failed: Vec<String>,
    /// Sections that changed but take effect only at the next start.
    pub needs_restart: Vec<&'static str>,
}

/// Which destinations that could not start before a reload tries again.
#[derive(Debug, Clone, Copy)]
pub enum Retry<'a> {
    /// Every one (the operator reloads the config file).
    All,
    /// Only these (one customer's change): starting a destination can
    /// take a while (credentials, a plugin's init), and one customer's
    /// change must not pay for every other customer's broken one.
    Named(&'a [String]),
}

impl Retry<'_> {
    fn covers(&self, name: &str) -> bool {
        match self {
            Retry::All => true,
            Retry::Named(names) => names.iter().any(|n| n == name),
        }
    }
}

impl Delivery {
    /// Moves delivery to `new`; stopping destinations get `stop_timeout`
    /// to finish their batches in flight, and the reload does not wait
    /// for them.
    pub async fn reload(
        &mut self,
        new: Config,
        retry: Retry<'_>,
        stop_timeout: std::time::Duration,
    ) -> Result<ReloadReport, ReloadError> {
        let mut report = ReloadReport::default();
        for (section, changed) in [
            ("server", new.server != self.config.server),
            ("storage", new.storage != self.config.storage),
            ("plugins", new.plugins != self.config.plugins),
            ("security", new.security != self.config.security),
        ] {
            if changed {
                report.needs_restart.push(section);
            }
        }
        // Everything that would start is checked first, sinks untouched.
        let mut problems = Vec::new();
        let mut starting = Vec::new();
        for destination in &new.destinations {
            let transforms = transforms_of(&new, destination);
            let unchanged = self.running.iter().any(|(name, r)| {
                name == &destination.name && r.config == *destination && r.transforms == transforms
            });
            let still_failed = !retry.covers(&destination.name)
                && self
                    .failed
                    .iter()
                    .any(|(config, t)| config == destination && *t == transforms);
            if unchanged || still_failed {
                report.unchanged.push(destination.name.clone());
                continue;
            }
            problems.extend(
                validate_destination(&new, destination, &self.runtime, &self.plugin_versions).await,
            );
            starting.push(destination.clone());
        }
        if !problems.is_empty() {
            return Err(ReloadError::Destinations(problems));
        }

        // Stop what goes away or changes, after its batches in flight,
        // without waiting here: a successor under the same name waits for
        // its predecessor (see `handoff`), nobody else does.
        let mut kept = Vec::new();
        for (name, running) in std::mem::take(&mut self.running) {
            if report.unchanged.contains(&name) {
                kept.push((name, running));
                continue;
            }
            if new.destinations.iter().any(|d| d.name == name) {
                report.restarted.push(name.clone());
            } else {
                report.removed.push(name.clone());
            }
            self.leave(name, running, stop_timeout);
        }

        // Start the new and changed ones, in config order.
        let old_controls = self.controls.current();
        let mut controls = Controls::default();
        let mut running: Vec<(String, Running)> = Vec::new();
        let mut failed = Vec::new();
        for destination in &new.destinations {
            let unchanged_failure = report.unchanged.contains(&destination.name)
                && !kept.iter().any(|(name, _)| name == &destination.name);
            if unchanged_failure {
                let error = old_controls
                    .start_error(&destination.name)
                    .unwrap_or("could not start")
                    .to_owned();
                controls.fail(destination.name.clone(), error);
                failed.push((destination.clone(), transforms_of(&new, destination)));
                continue;
            }
            if let Some(at) = kept.iter().position(|(name, _)| name == &destination.name) {
                let (name, worker) = kept.remove(at);
                if let Some(control) = old_controls.get(&name) {
                    controls.insert(name.clone(), control.clone());
                }
                running.push((name, worker));
                continue;
            }
            if !starting.iter().any(|d| d.name == destination.name) {
                continue;
            }
            if !report.restarted.contains(&destination.name) {
                report.added.push(destination.name.clone());
            }
            match self.prepare(&new, destination).await {
                Ok(ready) => {
                    controls.insert(destination.name.clone(), ready.control.clone());
                    let worker = self.spawn(&new, destination, ready);
                    running.push((destination.name.clone(), worker));
                }
                Err(e) => {
                    tracing::error!(destination = %destination.name, error = %e, "destination could not start after the reload; its events are kept until it runs");
                    controls.fail(destination.name.clone(), e.to_string());
                    report.failed.push(destination.name.clone());
                    failed.push((destination.clone(), transforms_of(&new, destination)));
                }
            }
        }
        self.running = running;
        self.failed = failed;
        self.controls.replace(controls);
        self.config = new;
        tracing::info!(
            added = ?report.added,
            removed = ?report.removed,
            restarted = ?report.restarted,
            needs_restart = ?report.needs_restart,
            "config reloaded"
        );
        Ok(report)
    }
}

/// Why `POST /v1/admin/reload` or SIGHUP changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadFailure {
    #[error("the server runs on the embedded default (no --config), so there is no file to reload")]
    NoConfigFile,
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Delivery(#[from] ReloadError),
}

/// Changes what runs, one change at a time: the operator's config file
/// (SIGHUP, `POST /v1/admin/reload`) and customers' destinations (the
/// customer API). What runs is both: the file's destinations, then the
/// customers'.
pub struct Reloader {
    path: Option<std::path::PathBuf>,
    inner: tokio::sync::Mutex<Inner>,
    stop_timeout: std::time::Duration,
}

struct Inner {
    delivery: Delivery,
    /// The operator's config as read (without customers' destinations).
    file: Config,
    customers: Vec<Arc<DestinationConfig>>,
    /// Customer destinations that could not be read at start (a secret
    /// under a missing key), with why: shown as failed after every change,
    /// until replaced or deleted.
    unreadable: Vec<(String, String)>,
}

impl Inner {
    fn show_unreadable(&self) {
        if self.unreadable.is_empty() {
            return;
        }
        let controls = self.delivery.controls();
        let mut shown = (*controls.current()).clone();
        for (name, error) in &self.unreadable {
            shown.fail(name.clone(), error.clone());
        }
        controls.replace(shown);
    }
}

/// The operator's config with the customers' destinations after its own.
pub fn with_customers(file: &Config, customers: &[Arc<DestinationConfig>]) -> Config {
    let mut config = file.clone();
    config.destinations.extend(customers.iter().cloned());
    config
}

impl Reloader {
    /// `delivery` runs `with_customers(&file, &customers)`; `unreadable`
    /// are customer destinations that could not be read, shown as failed.
    pub fn new(
        path: Option<std::path::PathBuf>,
        delivery: Delivery,
        file: Config,
        customers: Vec<Arc<DestinationConfig>>,
        unreadable: Vec<(String, String)>,
        stop_timeout: std::time::Duration,
    ) -> Self {
        let inner = Inner {
            delivery,
            file,
            customers,
            unreadable,
        };
        inner.show_unreadable();
        Self {
            path,
            inner: tokio::sync::Mutex::new(inner),
            stop_timeout,
        }
    }

    pub async fn reload(&self) -> Result<ReloadReport, ReloadFailure> {
        let path = self.path.as_ref().ok_or(ReloadFailure::NoConfigFile)?;
        let file = Config::load(path)?;
        let mut inner = self.inner.lock().await;
        let effective = with_customers(&file, &inner.customers);
        let report = inner
            .delivery
            .reload(effective, Retry::All, self.stop_timeout)
            .await?;
        inner.file = file;
        inner.show_unreadable();
        Ok(report)
    }

    /// Removes the customer destinations named in `remove` and adds (or,
    /// under a removed name, replaces) `add`, in one reload; refused whole,
    /// with its problems, if the result cannot run.
    pub async fn change_customer_destinations(
        &self,
        remove: &[String],
        add: Option<DestinationConfig>,
    ) -> Result<ReloadReport, ReloadError> {
        let mut inner = self.inner.lock().await;
        let mut customers: Vec<Arc<DestinationConfig>> = inner
            .customers
            .iter()
            .filter(|d| !remove.contains(&d.name))
            .cloned()
            .collect();
        let add_name = add.as_ref().map(|d| d.name.clone());
        customers.extend(add.map(Arc::new));
        let effective = with_customers(&inner.file, &customers);
        let mut named = remove.to_vec();
        named.extend(add_name.clone());
        let report = inner
            .delivery
            .reload(effective, Retry::Named(&named), self.stop_timeout)
            .await?;
        inner.customers = customers;
        // Replaced or deleted: no longer the unreadable one.
        inner.unreadable.retain(|(name, _)| {
            !remove.contains(name) && add_name.as_deref() != Some(name.as_str())
        });
        inner.show_unreadable();
        Ok(report)
    }

    /// Delivers a test event through the running destination `name` as
    /// it is configured now; `None` when no such destination runs. The
    /// lock is held only to copy the config: a slow sink delays no reload.
    pub async fn probe(&self, name: &str) -> Option<super::ProbeReport> {
        let (starter, config, destination) = {
            let inner = self.inner.lock().await;
            let destination = inner
                .file
                .destinations
                .iter()
                .chain(&inner.customers)
                .find(|d| d.name == name)?
                .clone();
            // The file holds the named transforms a destination may use.
            (inner.delivery.starter(), inner.file.clone(), destination)
        };
        Some(starter.probe(&config, &destination).await)
    }

    /// Stops every destination (at shutdown).
    pub async fn stop(&self, timeout: std::time::Duration) {
        self.inner.lock().await.delivery.stop(timeout).await;
    }
}
