//! The HTTP API: where an event enters Pushrail.

mod attempts;
mod auth;
mod body;
mod codes;
mod customer_destinations;
mod customers;
mod destinations;
mod dlq;
mod error;
mod events;
mod idle;
mod keys;
mod listing;
mod merge_patch;
mod openapi;
mod replays;
mod serve;
mod tokens;
pub mod validate;

pub use serve::serve;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router, middleware};
use serde_json::json;

pub use codes::ErrorCode;
/// The response types, which the command-line client reads back.
pub use destinations::{DestinationStatus, Items, RunState};
pub use dlq::RedriveQueued;
pub use error::{ApiError, FieldError};
pub use keys::Rotation;
pub use listing::PageBody;
pub use replays::DryRun;

use crate::config::{Config, Secret};
use crate::delivery::{Reloader, SharedControls};
use crate::log::{Log, LogError};
use crate::metrics::Metrics;

/// Request limits taken from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_batch_events: usize,
    pub body_limit: usize,
}

/// What every handler reaches. One `Arc`: axum clones the state for
/// every extractor of every request, and cloning (then dropping) the
/// fields one by one was ~6% of the engine's CPU on single-event ingest
/// (twenty atomic counters bouncing between cores).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub log: Log,
    pub limits: Limits,
    pub tokens: Vec<Secret>,
    /// Signs and checks customer tokens (`security.token_secret`).
    pub token_secret: Option<Secret>,
    /// What customers' trust policies trust (`security.aws_principal`).
    pub aws_principal: Option<String>,
    pub metrics: Arc<Metrics>,
    /// Pause, resume, redrive and replay, per running destination.
    pub controls: Arc<SharedControls>,
    /// Applies a changed config file (`POST /v1/admin/reload`).
    pub reloader: Arc<Reloader>,
    /// Replays started since the process started, by id.
    pub replays: Arc<crate::delivery::Replays>,
    /// The newest plugin versions and failed loads (hot reload).
    pub plugin_versions: Arc<crate::runtime::PluginVersions>,
    /// Request timeout and the memory of bodies being read.
    pub request_limits: serve::RequestLimits,
    /// `/openapi.json` as it holds for this server.
    pub openapi: axum::body::Bytes,
    /// Seals customers' secrets before they are stored.
    pub keyring: Arc<crate::secrets::Keyring>,
    /// The plugins customers may choose (`plugins.customer_plugins`).
    pub customer_plugins: Vec<String>,
    /// Their plugin destinations' network (`plugins.customer_network`).
    pub customer_network: crate::sinks::network::NetworkConfig,
}

impl AppState {
    pub fn new(
        log: Log,
        config: &Config,
        metrics: Arc<Metrics>,
        controls: Arc<SharedControls>,
        reloader: Arc<Reloader>,
        plugin_versions: Arc<crate::runtime::PluginVersions>,
        keyring: Arc<crate::secrets::Keyring>,
    ) -> Self {
        Self(Arc::new(Shared {
            log,
            limits: Limits {
                max_batch_events: config.server.max_batch_events,
                body_limit: config.server.body_limit,
            },
            tokens: config.server.api_tokens.clone(),
            token_secret: config.security.token_secret.clone(),
            aws_principal: config.security.aws_principal.clone(),
            metrics,
            replays: Arc::default(),
            plugin_versions,
            controls,
            reloader,
            request_limits: serve::RequestLimits::new(&config.server),
            openapi: openapi::for_server(
                !config.server.api_tokens.is_empty(),
                config.server.max_batch_events,
                &config.plugins.customer_plugins,
            ),
            keyring,
            customer_plugins: config.plugins.customer_plugins.clone(),
            customer_network: config.plugins.customer_network.clone(),
        }))
    }
}

/// Runs a blocking log call off the async threads; its error is the API's.
pub(crate) async fn blocking<T: Send + 'static>(
    log: &Log,
    f: impl FnOnce(&Log) -> Result<T, LogError> + Send + 'static,
) -> Result<T, ApiError> {
    let log = log.clone();
    Ok(tokio::task::spawn_blocking(move || f(&log))
        .await
        .map_err(|_| LogError::Closed)??)
}

/// All routes. Health checks stay open; everything else passes the token check.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/v1/events", post(events::post_event))
        .route("/v1/events/batch", post(events::post_batch))
        .route("/v1/events/{id}", get(events::get_event))
        .route("/v1/destinations", get(destinations::list))
        .route("/v1/destinations/{name}", get(destinations::status))
        .route(
            "/v1/destinations/{name}/attempts",
            get(attempts::destination_attempts),
        )
        .route("/metrics", get(prometheus))
        .route("/v1/events/{id}/attempts", get(attempts::event_attempts))
        .route("/v1/destinations/{name}/dlq", get(dlq::dead_letters))
        .route(
            "/v1/destinations/{name}/dlq/{event_id}",
            get(dlq::dead_letter).delete(dlq::discard),
        )
        .route("/v1/destinations/{name}/dlq/redrive", post(dlq::redrive))
        .route("/v1/destinations/{name}/replay", post(replays::start))
        .route("/v1/replays", get(replays::list))
        .route("/v1/replays/{id}", get(replays::status))
        .route("/v1/admin/reload", post(admin_reload))
        .route("/v1/admin/keys/rotate", post(keys::rotate))
        .route("/v1/customers", get(customers::list))
        .route(
            "/v1/customers/{customer_id}",
            put(customers::put)
                .get(customers::get)
                .delete(customers::delete),
        )
        .route(
            "/v1/customers/{customer_id}/trust-policy",
            get(customers::trust_policy),
        )
        .route(
            "/v1/customers/{customer_id}/token",
            post(customers::mint_token),
        )
        .route(
            "/v1/customers/{customer_id}/destinations",
            post(customer_destinations::create).get(customer_destinations::list),
        )
        .route(
            "/v1/customers/{customer_id}/destinations/{destination_id}",
            get(customer_destinations::get)
                .put(customer_destinations::replace)
                .patch(customer_destinations::update)
                .delete(customer_destinations::delete),
        )
        .route(
            "/v1/customers/{customer_id}/destinations/{destination_id}/dlq/redrive",
            post(customer_destinations::redrive),
        )
        .route(
            "/v1/customers/{customer_id}/destinations/{destination_id}/dlq/{event_id}",
            get(customer_destinations::dead_letter).delete(customer_destinations::discard),
        )
        .route(
            "/v1/customers/{customer_id}/destinations/{destination_id}/replay",
            post(customer_destinations::replay),
        )
        .route(
            "/v1/customers/{customer_id}/destinations/{destination_id}/replays/{replay_id}",
            get(customer_destinations::replay_status),
        )
        .route(
            "/v1/customers/{customer_id}/destinations/{destination_id}/pause",
            post(customer_destinations::pause),
        )
        .route(
            "/v1/customers/{customer_id}/destinations/{destination_id}/resume",
            post(customer_destinations::resume),
        )
        .route(
            "/v1/customers/{customer_id}/destinations/{destination_id}/attempts",
            get(customer_destinations::attempts),
        )
        .route(
            "/v1/customers/{customer_id}/destinations/{destination_id}/dlq",
            get(customer_destinations::dead_letters),
        )
        .route(
            "/v1/customers/{customer_id}/destinations/{destination_id}/test",
            post(customer_destinations::test),
        )
        .route("/v1/destinations/{name}/test", post(destinations::test))
        .route("/v1/destinations/{name}/pause", post(destinations::pause))
        .route("/v1/destinations/{name}/resume", post(destinations::resume))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi::document))
        .merge(protected)
        .fallback(not_found)
        // JsonBody enforces server.body_limit itself, with a JSON 413.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            state.request_limits.clone(),
            serve::limit_request,
        ))
        .with_state(state)
}

/// `GET /metrics`: Prometheus text format.
async fn prometheus(
    State(state): State<AppState>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let log = state.log.clone();
    let scopes = state.controls.current().scopes();
    let lag = tokio::task::spawn_blocking(move || {
        scopes
            .into_iter()
            .map(|scope| Ok((scope.destination.clone(), log.position(&scope)?.1)))
            .collect::<Result<Vec<_>, LogError>>()
    })
    .await
    .map_err(|_| LogError::Closed)??;
    // Rendered as it is sent: with thousands of destinations the page is
    // tens of megabytes.
    let page = state.metrics.page(lag, state.log.stats());
    let chunks = futures_util::stream::iter(page.map(Ok::<_, std::convert::Infallible>));
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        axum::body::Body::from_stream(chunks),
    ))
}

/// `POST /v1/admin/reload`: re-reads the config file and applies it, as
/// SIGHUP does. A config with problems is refused whole (400).
async fn admin_reload(
    State(state): State<AppState>,
) -> Result<Json<crate::delivery::ReloadReport>, ApiError> {
    use crate::delivery::ReloadFailure;
    match state.reloader.reload().await {
        Ok(report) => Ok(Json(report)),
        Err(e @ ReloadFailure::NoConfigFile) => Err(ApiError::new(FieldError::whole(
            ErrorCode::NoConfigFile,
            e.to_string(),
        ))),
        Err(e) => {
            tracing::warn!(error = %e, "config reload refused; the running config stays");
            Err(ApiError::new(FieldError::whole(
                ErrorCode::InvalidConfig,
                e.to_string(),
            )))
        }
    }
}

/// Liveness: the process answers.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the log accepts writes.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    match state.log.unready_reason() {
        None => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": reason})),
        ),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(FieldError::whole(
        ErrorCode::NotFound,
        "no such route; see /v1/events and /v1/events/batch",
    ))
}
