//! A customer's own destinations: `POST /v1/customers/{id}/destinations`
//! with the destination pages' JSON, and per destination its status,
//! pause/resume, attempts and dead letters — the operator's destination
//! routes, reached through the customer (so a customer token reaches only
//! its own).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::body::{OperatorBody, PatchBody};
use super::codes::ErrorCode;
use super::destinations::{self, DestinationStatus, Items};
use super::error::{ApiError, FieldError};
use super::listing::{ListQuery, PageBody, time_ms};
use super::{AppState, blocking, merge_patch};
use super::{attempts, dlq};
use crate::config::DestinationConfig;
use crate::config::{
    CustomerOffer, SpecProblem, check_spec, customer_destination, destination_name, redacted,
    seal_secrets,
};
use crate::delivery::ReloadError;
use crate::log::{AttemptRecord, CustomerDestination, DeadLetter, Log, LogError, format_time};

/// `stored` as the API shows it: secrets as `"<field>Set": true`.
fn shown(mut stored: CustomerDestination) -> CustomerDestination {
    stored.spec = redacted(&stored.spec);
    stored
}

/// A customer destination as the API shows it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationView {
    #[serde(flatten)]
    pub stored: CustomerDestination,
    /// The running destination's status (its name is the id in lower case).
    pub status: DestinationStatus,
}

/// `POST /v1/customers/{customer_id}/destinations`: checks the JSON like
/// `pushrail check`, stores it and starts the destination. It gets the
/// customer's events received from now on, or from `"startFrom"`:
/// `"earliest"` (as far as retention reaches) or an RFC 3339 time.
pub async fn create(
    State(state): State<AppState>,
    Path(customer_id): Path<String>,
    body: OperatorBody,
) -> Result<(StatusCode, Json<DestinationView>), ApiError> {
    let id = format!("dst_{}", ulid::Ulid::new());
    let (start_from, prepared) = prepare(&state, &customer_id, &id, body).await?;
    let start = start_sequence(&state.log, start_from).await?;
    let stored = CustomerDestination {
        id: id.clone(),
        customer_external_id: customer_id.clone(),
        spec: prepared.spec,
        created_at: format_time(std::time::SystemTime::now()),
    };
    let name = prepared.config.name.clone();
    let cursor_name = name.clone();
    let view = apply(&state, stored, prepared.config, None, move |log| {
        log.start_cursor(&cursor_name, start)
    })
    .await?;
    tracing::info!(customer = %customer_id, destination = %id, "customer destination created");
    Ok((StatusCode::CREATED, Json(view)))
}

/// `PUT /v1/customers/{customer_id}/destinations/{destination_id}`: replaces
/// the destination whole (new credentials, another stream or topic). It
/// restarts after its batch in flight and goes on from its cursor: nothing
/// is lost or reordered.
pub async fn replace(
    State(state): State<AppState>,
    Path((customer_id, id)): Path<(String, String)>,
    body: OperatorBody,
) -> Result<Json<DestinationView>, ApiError> {
    let old = find(&state, customer_id.clone(), id.clone()).await?;
    // A `startFrom` is for new destinations: this one goes on from its cursor.
    let (_, prepared) = prepare(&state, &customer_id, &id, body).await?;
    let view = apply_over(&state, old, prepared).await?;
    tracing::info!(customer = %customer_id, destination = %id, "customer destination replaced");
    Ok(Json(view))
}

/// `PATCH /v1/customers/{customer_id}/destinations/{destination_id}`: a
/// JSON merge patch of the destination as stored — `{"auth": {"password":
/// "…"}}` rotates a password, `null` removes a field. Like `PUT`, it
/// restarts after its batch in flight and goes on from its cursor. A patch
/// with a wrong type is a 400; one that would make an invalid destination
/// (a field of another `auth.mode` left behind) a 409 naming the field.
pub async fn update(
    State(state): State<AppState>,
    Path((customer_id, id)): Path<(String, String)>,
    PatchBody(mut patch): PatchBody,
) -> Result<Json<DestinationView>, ApiError> {
    let old = find(&state, customer_id.clone(), id.clone()).await?;
    if patch.contains_key("startFrom") {
        return Err(FieldError::new(
            ErrorCode::UnknownField,
            "startFrom",
            "is for new destinations: this one goes on from its cursor (a replay sends past events again)",
        )
        .into());
    }
    check_spec(&merge_patch::settings(&patch)).map_err(spec_error)?;
    // Only the patch's secrets are new; the stored ones stay sealed as they are.
    seal_secrets(&mut patch, &state.keyring, &customer_id, &id).map_err(spec_error)?;
    let mut spec = old.spec.clone();
    merge_patch::merge(&mut spec, Value::Object(patch));
    let Value::Object(spec) = spec else {
        unreachable!("a stored destination is an object, and so is the patch")
    };
    let prepared = ready(&state, &customer_id, &id, spec, ErrorCode::PatchConflict).await?;
    let view = apply_over(&state, old, prepared).await?;
    tracing::info!(customer = %customer_id, destination = %id, "customer destination patched");
    Ok(Json(view))
}

/// A destination's JSON made ready to store (external ID filled in,
/// secrets sealed) and the config it runs with.
struct Prepared {
    spec: Value,
    config: DestinationConfig,
}

/// A whole destination from a request body: checked, its secrets sealed,
/// made ready; and its `startFrom`.
async fn prepare(
    state: &AppState,
    customer_id: &str,
    id: &str,
    body: OperatorBody,
) -> Result<(Option<Value>, Prepared), ApiError> {
    let Some(mut spec) = body.0 else {
        return Err(FieldError::whole(
            ErrorCode::MissingField,
            "a destination is {\"type\": \"KINESIS\" | \"KAFKA\", …}",
        )
        .into());
    };
    let start_from = spec.remove("startFrom");
    if let Some(start) = &start_from
        && !matches!(start, Value::String(s) if s == "earliest" || time_ms("startFrom", s).is_ok())
    {
        return Err(FieldError::new(
            ErrorCode::InvalidValue,
            "startFrom",
            "is \"earliest\" or an RFC 3339 time",
        )
        .into());
    }
    check_spec(&spec).map_err(spec_error)?;
    seal_secrets(&mut spec, &state.keyring, customer_id, id).map_err(spec_error)?;
    let prepared = ready(state, customer_id, id, spec, ErrorCode::InvalidValue).await?;
    Ok((start_from, prepared))
}

/// A destination's JSON, its secrets sealed, made ready: the customer's
/// external ID filled in and read into the config it runs with. A problem
/// is answered with `code`, naming the field.
async fn ready(
    state: &AppState,
    customer_id: &str,
    id: &str,
    mut spec: Map<String, Value>,
    code: ErrorCode,
) -> Result<Prepared, ApiError> {
    let customer = customer_of(state, customer_id).await?;
    // Shown as it is used: an assumed role is always asked with the
    // customer's own external ID.
    if let Some(Value::Object(auth)) = spec.get_mut("auth")
        && auth.get("mode").and_then(Value::as_str) == Some("ASSUME_ROLE")
    {
        auth.insert(
            "externalId".into(),
            Value::String(customer.external_id.clone()),
        );
    }
    let spec = Value::Object(spec);
    let config = customer_destination(
        customer_id,
        &customer.external_id,
        id,
        &spec,
        &state.keyring,
        CustomerOffer {
            plugins: &state.customer_plugins,
            network: &state.customer_network,
        },
    )
    .map_err(|mut problems| field_error(code, problems.remove(0)))?;
    Ok(Prepared { spec, config })
}

/// Runs `prepared` in place of `old`: same id and creation time, and it
/// goes on from the old one's cursor.
async fn apply_over(
    state: &AppState,
    old: CustomerDestination,
    prepared: Prepared,
) -> Result<DestinationView, ApiError> {
    let stored = CustomerDestination {
        spec: prepared.spec,
        ..old.clone()
    };
    apply(state, stored, prepared.config, Some(old), |_| Ok(())).await
}

/// Stores `stored` (after `before`, in the same blocking call) and runs it
/// as `config`; if it cannot run, the store goes back to `old` (or to no
/// destination) and the problems are the answer.
async fn apply(
    state: &AppState,
    stored: CustomerDestination,
    config: DestinationConfig,
    old: Option<CustomerDestination>,
    before: impl FnOnce(&Log) -> Result<(), LogError> + Send + 'static,
) -> Result<DestinationView, ApiError> {
    let name = config.name.clone();
    let record = stored.clone();
    let exists = blocking(&state.log, move |log| {
        before(log)?;
        log.put_customer_destination(&record)
    })
    .await?;
    if !exists {
        return Err(not_found_customer());
    }
    if let Err(error) = state
        .reloader
        .change_customer_destinations(std::slice::from_ref(&name), Some(config))
        .await
    {
        let (customer, id) = (stored.customer_external_id.clone(), stored.id.clone());
        let _ = blocking(&state.log, move |log| match old {
            Some(old) => log.put_customer_destination(&old).map(|_| ()),
            None => log.delete_customer_destination(&customer, &id).map(|_| ()),
        })
        .await;
        return Err(refused(error));
    }
    let status = destinations::describe(state, name).await?;
    Ok(DestinationView {
        stored: shown(stored),
        status,
    })
}

/// `GET /v1/customers/{customer_id}/destinations`.
pub async fn list(
    State(state): State<AppState>,
    Path(customer_id): Path<String>,
) -> Result<Json<Items<DestinationView>>, ApiError> {
    customer_of(&state, &customer_id).await?;
    let stored = blocking(&state.log, move |log| {
        log.customer_destinations(&customer_id)
    })
    .await?;
    let mut items = Vec::with_capacity(stored.len());
    for stored in stored {
        let status = destinations::describe(&state, destination_name(&stored.id)).await?;
        items.push(DestinationView {
            stored: shown(stored),
            status,
        });
    }
    Ok(Json(Items { items }))
}

/// `GET /v1/customers/{customer_id}/destinations/{destination_id}`.
pub async fn get(
    State(state): State<AppState>,
    Path((customer_id, id)): Path<(String, String)>,
) -> Result<Json<DestinationView>, ApiError> {
    let stored = find(&state, customer_id, id).await?;
    let status = destinations::describe(&state, destination_name(&stored.id)).await?;
    Ok(Json(DestinationView {
        stored: shown(stored),
        status,
    }))
}

/// `DELETE /v1/customers/{customer_id}/destinations/{destination_id}`:
/// stops it after its batch in flight; its undelivered events stay in the
/// log until retention.
pub async fn delete(
    State(state): State<AppState>,
    Path((customer_id, id)): Path<(String, String)>,
) -> Result<Json<CustomerDestination>, ApiError> {
    let stored = find(&state, customer_id.clone(), id.clone()).await?;
    state
        .reloader
        .change_customer_destinations(&[destination_name(&id)], None)
        .await
        .map_err(refused)?;
    blocking(&state.log, move |log| {
        log.delete_customer_destination(&customer_id, &id)
    })
    .await?;
    tracing::info!(customer = %stored.customer_external_id, destination = %stored.id, "customer destination deleted");
    Ok(Json(shown(stored)))
}

/// `POST …/destinations/{destination_id}/pause`.
pub async fn pause(
    State(state): State<AppState>,
    Path((customer_id, id)): Path<(String, String)>,
) -> Result<Json<DestinationStatus>, ApiError> {
    let name = running_name(&state, customer_id, id).await?;
    destinations::pause(State(state), Path(name)).await
}

/// `POST …/destinations/{destination_id}/resume`.
pub async fn resume(
    State(state): State<AppState>,
    Path((customer_id, id)): Path<(String, String)>,
) -> Result<Json<DestinationStatus>, ApiError> {
    let name = running_name(&state, customer_id, id).await?;
    destinations::resume(State(state), Path(name)).await
}

/// `POST …/destinations/{destination_id}/test`: a test event through it,
/// as the operator's.
pub async fn test(
    State(state): State<AppState>,
    Path((customer_id, id)): Path<(String, String)>,
) -> Result<Json<crate::delivery::ProbeReport>, ApiError> {
    let name = running_name(&state, customer_id, id).await?;
    destinations::probe(&state, &name, "destination_id")
        .await
        .map(Json)
}

/// `GET …/destinations/{destination_id}/attempts`, paged like the operator's.
pub async fn attempts(
    State(state): State<AppState>,
    Path((customer_id, id)): Path<(String, String)>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PageBody<AttemptRecord>>, ApiError> {
    let name = running_name(&state, customer_id, id).await?;
    attempts::destination_attempts(State(state), Path(name), query).await
}

/// `GET …/destinations/{destination_id}/dlq`, paged like the operator's.
pub async fn dead_letters(
    State(state): State<AppState>,
    Path((customer_id, id)): Path<(String, String)>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PageBody<DeadLetter>>, ApiError> {
    let name = running_name(&state, customer_id, id).await?;
    dlq::dead_letters(State(state), Path(name), query).await
}

/// `POST …/destinations/{destination_id}/dlq/redrive`, as the operator's.
pub async fn redrive(
    State(state): State<AppState>,
    Path((customer_id, id)): Path<(String, String)>,
    body: OperatorBody,
) -> Result<(StatusCode, Json<dlq::RedriveQueued>), ApiError> {
    let name = running_name(&state, customer_id, id).await?;
    dlq::redrive(State(state), Path(name), body).await
}

/// `GET …/destinations/{destination_id}/dlq/{event_id}`.
pub async fn dead_letter(
    State(state): State<AppState>,
    Path((customer_id, id, event_id)): Path<(String, String, String)>,
) -> Result<Json<DeadLetter>, ApiError> {
    let name = running_name(&state, customer_id, id).await?;
    dlq::dead_letter(State(state), Path((name, event_id))).await
}

/// `DELETE …/destinations/{destination_id}/dlq/{event_id}`.
pub async fn discard(
    State(state): State<AppState>,
    Path((customer_id, id, event_id)): Path<(String, String, String)>,
) -> Result<Json<DeadLetter>, ApiError> {
    let name = running_name(&state, customer_id, id).await?;
    dlq::discard(State(state), Path((name, event_id))).await
}

/// `POST …/destinations/{destination_id}/replay`, as the operator's.
pub async fn replay(
    State(state): State<AppState>,
    Path((customer_id, id)): Path<(String, String)>,
    body: OperatorBody,
) -> Result<axum::response::Response, ApiError> {
    let name = running_name(&state, customer_id, id).await?;
    super::replays::start(State(state), Path(name), body).await
}

/// `GET …/destinations/{destination_id}/replays/{replay_id}`: a replay of
/// this destination (another's is not found).
pub async fn replay_status(
    State(state): State<AppState>,
    Path((customer_id, id, replay_id)): Path<(String, String, String)>,
) -> Result<Json<crate::delivery::ReplayStatus>, ApiError> {
    let name = running_name(&state, customer_id, id).await?;
    let replays = state.replays.lock().unwrap_or_else(|p| p.into_inner());
    replays
        .get(&replay_id)
        .map(|progress| progress.snapshot())
        .filter(|status| status.destination == name)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("replay", "replay_id"))
}

async fn running_name(state: &AppState, customer: String, id: String) -> Result<String, ApiError> {
    Ok(destination_name(&find(state, customer, id).await?.id))
}

async fn find(
    state: &AppState,
    customer: String,
    id: String,
) -> Result<CustomerDestination, ApiError> {
    let stored = blocking(&state.log, move |log| log.customer_destinations(&customer)).await?;
    stored
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ApiError::not_found("destination", "destination_id"))
}

async fn customer_of(state: &AppState, id: &str) -> Result<crate::log::Customer, ApiError> {
    let id = id.to_owned();
    blocking(&state.log, move |log| log.customer(&id))
        .await?
        .ok_or_else(not_found_customer)
}

fn not_found_customer() -> ApiError {
    ApiError::not_found("customer", "customer_id")
}

/// Where a new destination starts: now, the earliest stored event, or the
/// first received at or after a time.
async fn start_sequence(log: &Log, start_from: Option<Value>) -> Result<u64, ApiError> {
    let since_ms = match start_from {
        None => None,
        Some(Value::String(s)) if s == "earliest" => return Ok(1),
        Some(Value::String(s)) => Some(time_ms("startFrom", &s)?),
        Some(_) => {
            return Err(FieldError::new(
                ErrorCode::InvalidValue,
                "startFrom",
                "is \"earliest\" or an RFC 3339 time",
            )
            .into());
        }
    };
    blocking(log, move |log| {
        let next = log.next_sequence()?;
        let Some(since_ms) = since_ms else {
            return Ok(next);
        };
        let selection = crate::log::Selection {
            from_sequence: Some(1),
            since_ms: Some(since_ms),
            ..Default::default()
        };
        Ok(log
            .select(&selection, 1)?
            .0
            .first()
            .copied()
            .unwrap_or(next))
    })
    .await
}

/// A 400 naming the JSON field at fault.
fn spec_error(problem: SpecProblem) -> ApiError {
    field_error(ErrorCode::InvalidValue, problem)
}

fn field_error(code: ErrorCode, problem: SpecProblem) -> ApiError {
    ApiError::new(FieldError {
        code,
        message: problem.message,
        field: (!problem.field.is_empty()).then_some(problem.field),
    })
}

fn refused(error: ReloadError) -> ApiError {
    ApiError::new(FieldError::whole(
        ErrorCode::InvalidValue,
        error.to_string(),
    ))
}
