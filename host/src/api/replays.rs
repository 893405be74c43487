//! Replays: `POST /v1/destinations/{name}/replay` delivers a range of the
//! log again (or, with `dryRun`, shows what would be sent), and
//! `GET /v1/replays/{id}` follows its progress.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::body::OperatorBody;
use super::codes::ErrorCode;
use super::destinations::Items;
use super::error::{ApiError, FieldError, with_worker};
use super::listing::time_ms;
use crate::delivery::{DryRunItem, ReplayCommand, ReplayProgress, ReplayStatus};
use crate::log::{LogError, Selection};

/// Most events one replay may cover.
const MAX_REPLAY_EVENTS: usize = 10_000_000;
/// Events a dry run shows unless `limit` says otherwise, and the most it may.
const DRY_RUN_DEFAULT: usize = 20;
const DRY_RUN_MAX: usize = 1000;

/// The body of `POST /v1/destinations/{name}/replay`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayRequest {
    from_sequence: Option<u64>,
    /// Inclusive.
    to_sequence: Option<u64>,
    /// RFC 3339; events received at or after it.
    since: Option<String>,
    /// RFC 3339; events received before it.
    until: Option<String>,
    /// Only events of this type (`*` matches anything: `order.*`).
    event_type: Option<String>,
    #[serde(alias = "dry_run")]
    dry_run: Option<bool>,
    /// Events shown by a dry run.
    limit: Option<usize>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    pub dry_run: bool,
    /// Events the replay would cover.
    pub total: usize,
    /// The first `limit` of them, after the transforms.
    pub items: Vec<DryRunItem>,
}

/// `POST /v1/destinations/{name}/replay`.
pub async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: OperatorBody,
) -> Result<Response, ApiError> {
    let controls = state.controls.current();
    let Some(control) = controls.get(&name) else {
        return Err(ApiError::not_found("destination", "name"));
    };
    let request: ReplayRequest = body.parse(
        "a replay body is {\"fromSequence\", \"toSequence\"} and/or {\"since\", \"until\"}, with optional \"eventType\" and \"dryRun\"",
    )?;
    let limit = request.limit.unwrap_or(DRY_RUN_DEFAULT);
    if !(1..=DRY_RUN_MAX).contains(&limit) {
        return Err(ApiError::new(FieldError::new(
            ErrorCode::InvalidValue,
            "limit",
            format!("must be from 1 to {DRY_RUN_MAX}"),
        )));
    }
    let mut selection = selection(&request)?;
    let log = state.log.clone();
    // A replay covers what is stored now; events arriving while it runs are
    // live traffic, not part of it.
    let last = log.next_sequence()?.saturating_sub(1);
    selection.to_sequence = Some(selection.to_sequence.map_or(last, |to| to.min(last)));
    let counted = selection.clone();
    let (total, too_many) =
        tokio::task::spawn_blocking(move || log.count_selected(&counted, MAX_REPLAY_EVENTS))
            .await
            .map_err(|_| LogError::Closed)??;
    if too_many {
        return Err(ApiError::new(FieldError::whole(
            ErrorCode::TooManyEvents,
            format!("a replay covers at most {MAX_REPLAY_EVENTS} events; narrow the range"),
        )));
    }
    if request.dry_run.unwrap_or(false) {
        let log = state.log.clone();
        let (shown, _) = tokio::task::spawn_blocking(move || log.select(&selection, limit))
            .await
            .map_err(|_| LogError::Closed)??;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let items = with_worker(async {
            control
                .replay
                .send(ReplayCommand::DryRun {
                    sequences: shown,
                    reply,
                })
                .await
                .map_err(|_| LogError::Closed)?;
            Ok(answer.await.map_err(|_| LogError::Closed)??)
        })
        .await?;
        return Ok(Json(DryRun {
            dry_run: true,
            total,
            items,
        })
        .into_response());
    }
    let id = format!("rpl_{}", ulid::Ulid::new());
    let progress = ReplayProgress::new(id.clone(), name.clone(), total);
    crate::delivery::remember_replay(&state.replays, progress.clone());
    let start = ReplayCommand::Start {
        selection: Box::new(selection),
        progress: progress.clone(),
    };
    with_worker(async {
        control
            .replay
            .send(start)
            .await
            .map_err(|_| LogError::Closed)?;
        Ok(())
    })
    .await?;
    tracing::info!(destination = %name, replay = %id, total, "replay queued");
    Ok((StatusCode::ACCEPTED, Json(progress.snapshot())).into_response())
}

/// The range a request names; a start is required. A range that selects
/// nothing (an end before its start) is a replay of 0 events, as a list
/// with such bounds is an empty page.
fn selection(request: &ReplayRequest) -> Result<Selection, ApiError> {
    let time =
        |field: &str, text: &Option<String>| text.as_deref().map(|t| time_ms(field, t)).transpose();
    let selection = Selection {
        from_sequence: request.from_sequence,
        to_sequence: request.to_sequence,
        since_ms: time("since", &request.since)?,
        until_ms: time("until", &request.until)?,
        event_type: request.event_type.clone(),
    };
    if selection.from_sequence.is_none() && selection.since_ms.is_none() {
        return Err(ApiError::new(FieldError::new(
            ErrorCode::MissingField,
            "fromSequence",
            "a replay needs a start: fromSequence or since",
        )));
    }
    Ok(selection)
}

/// `GET /v1/replays/{id}`.
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ReplayStatus>, ApiError> {
    let replays = state.replays.lock().unwrap_or_else(|p| p.into_inner());
    match replays.get(&id) {
        Some(progress) => Ok(Json(progress.snapshot())),
        None => Err(ApiError::not_found("replay", "id")),
    }
}

/// `GET /v1/replays`: every replay since the process started, newest first.
pub async fn list(State(state): State<AppState>) -> Json<Items<ReplayStatus>> {
    let replays = state.replays.lock().unwrap_or_else(|p| p.into_inner());
    let mut items: Vec<ReplayStatus> = replays.values().map(|p| p.snapshot()).collect();
    items.sort_by(|a, b| b.id.cmp(&a.id));
    Json(Items { items })
}
