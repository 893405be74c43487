//! Destinations as operators see them: status (plugins, cursor, lag, in
//! flight, last error, paused) and pausing and resuming delivery.

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::codes::ErrorCode;
use super::error::{ApiError, FieldError};
use crate::delivery::{LastError, ProbeReport};
use crate::log::LogError;

#[derive(Serialize, Deserialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// What `GET /v1/destinations/{name}` tells about a destination (the
/// command-line client reads it back).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationStatus {
    pub name: String,
    /// The destination plugin.
    pub plugin: String,
    /// `name@sha256` of the destination plugin, then each transform.
    pub plugins: Vec<String>,
    /// The next sequence the destination has not finished.
    pub cursor: u64,
    /// Events stored but not yet finished by this destination.
    pub lag_events: u64,
    /// How long the oldest unfinished event has waited (0 when none).
    pub lag_seconds: f64,
    /// Events handed to the plugins whose outcome is not recorded yet.
    pub in_flight: usize,
    /// Events in its dead-letter queue.
    pub dead_letters: usize,
    /// Paused by an operator or its plugin (until resumed; a restart keeps it).
    pub paused: bool,
    /// Why its plugin paused it (a webhook receiver answered 410 Gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// `running`, `paused`, or `failed`: configured but could not start
    /// (see `startError`); its events are kept until it runs.
    pub state: RunState,
    /// Why the destination could not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_error: Option<String>,
    /// The most recent failed attempt, if any since the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// New versions of this destination's plugins that failed to load or
    /// start (the running versions stay), by plugin name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugin_errors: Vec<PluginError>,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Paused,
    Failed,
}

#[derive(Serialize, Deserialize)]
pub struct PluginError {
    pub plugin: String,
    pub error: String,
}

/// `GET /v1/destinations`: every configured destination, in config order.
pub async fn list(
    State(state): State<AppState>,
) -> Result<Json<Items<DestinationStatus>>, ApiError> {
    let names = state.controls.current().names().to_vec();
    let mut items = Vec::with_capacity(names.len());
    for name in &names {
        items.push(describe(&state, name.clone()).await?);
    }
    Ok(Json(Items { items }))
}

/// `GET /v1/destinations/{name}`.
pub async fn status(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DestinationStatus>, ApiError> {
    Ok(Json(describe(&state, name).await?))
}

pub async fn describe(state: &AppState, name: String) -> Result<DestinationStatus, ApiError> {
    let controls = state.controls.current();
    let paused_reason = controls.get(&name).and_then(|c| c.live.pause_reason());
    let (state_name, paused, plugins, in_flight, last_error) = match controls.get(&name) {
        Some(control) => {
            let paused = *control.paused.borrow();
            (
                if paused {
                    RunState::Paused
                } else {
                    RunState::Running
                },
                paused,
                control.live.plugins(),
                control.live.in_flight(),
                control.live.last_error(),
            )
        }
        None if controls.contains(&name) => (RunState::Failed, false, Vec::new(), 0, None),
        None => return Err(ApiError::not_found("destination", "name")),
    };
    let start_error = controls.start_error(&name).map(str::to_owned);
    let scope = controls.scope(&name);
    let log = state.log.clone();
    let (cursor, lag_events, dead_letters, oldest) = tokio::task::spawn_blocking(move || {
        let (cursor, lag) = log.position(&scope)?;
        let dead_letters = log.dead_letter_count(&scope.destination)?;
        let oldest = if lag > 0 {
            log.read_from(cursor, 1)?.pop().map(|e| e.received_at)
        } else {
            None
        };
        Ok::<_, LogError>((cursor, lag, dead_letters, oldest))
    })
    .await
    .map_err(|_| LogError::Closed)??;
    let lag_seconds = oldest.as_deref().map_or(0.0, seconds_since);
    let plugin_errors = plugins
        .iter()
        .filter_map(|id| id.split('@').next())
        .filter_map(|plugin| {
            state
                .plugin_versions
                .error(plugin)
                .map(|error| PluginError {
                    plugin: plugin.to_owned(),
                    error,
                })
        })
        .collect();
    Ok(DestinationStatus {
        name,
        plugin: plugins
            .first()
            .and_then(|p| p.split('@').next())
            .unwrap_or_default()
            .to_owned(),
        plugins,
        cursor,
        lag_events,
        lag_seconds,
        in_flight,
        dead_letters,
        paused,
        paused_reason,
        state: state_name,
        start_error,
        last_error,
        plugin_errors,
    })
}

/// Seconds from an RFC 3339 time written by the log until now.
fn seconds_since(rfc3339: &str) -> f64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| {
            let age = time::OffsetDateTime::from(SystemTime::now()) - t;
            age.as_seconds_f64().max(0.0)
        })
        .unwrap_or(0.0)
}

/// `POST /v1/destinations/{name}/pause`: stop delivering after the batch in
/// flight, until resumed (a restart keeps it paused).
pub async fn pause(
    state: State<AppState>,
    name: Path<String>,
) -> Result<Json<DestinationStatus>, ApiError> {
    set_paused(state, name, true).await
}

/// `POST /v1/destinations/{name}/resume`.
pub async fn resume(
    state: State<AppState>,
    name: Path<String>,
) -> Result<Json<DestinationStatus>, ApiError> {
    set_paused(state, name, false).await
}

/// `POST /v1/destinations/{name}/test`: delivers a synthetic test event
/// (type `pushrail.test`) through the destination's plugins and sinks,
/// outside the log, and answers how it went: where it landed, or the
/// error and what kind of problem it is. A failed test is still a 200.
pub async fn test(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ProbeReport>, ApiError> {
    probe(&state, &name, "name").await.map(Json)
}

/// A test delivery through the destination `name` (the path parameter
/// `field` names it).
pub async fn probe(state: &AppState, name: &str, field: &str) -> Result<ProbeReport, ApiError> {
    if let Some(report) = state.reloader.probe(name).await {
        tracing::info!(destination = %name, outcome = ?report.outcome, "test delivery");
        return Ok(report);
    }
    let controls = state.controls.current();
    match controls.start_error(name) {
        Some(error) => Err(ApiError::new(FieldError::whole(
            ErrorCode::NotConfigured,
            format!("the destination is not running: {error}"),
        ))),
        None => Err(ApiError::not_found("destination", field)),
    }
}

async fn set_paused(
    State(state): State<AppState>,
    Path(name): Path<String>,
    paused: bool,
) -> Result<Json<DestinationStatus>, ApiError> {
    let controls = state.controls.current();
    let Some(control) = controls.get(&name) else {
        return Err(ApiError::not_found("destination", "name"));
    };
    let log = state.log.clone();
    let key = name.clone();
    tokio::task::spawn_blocking(move || log.set_paused(&key, paused))
        .await
        .map_err(|_| LogError::Closed)??;
    control.live.set_pause_reason(None);
    control.paused.send_replace(paused);
    tracing::info!(destination = %name, paused, "destination {}", if paused { "paused" } else { "resumed" });
    Ok(Json(describe(&state, name).await?))
}
