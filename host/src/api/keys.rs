//! `POST /v1/admin/keys/rotate` (and `pushrail keys rotate`): re-seals
//! every stored secret under the primary master key, online, so that old
//! keys can then be removed from `security.master_keys`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::{AppState, blocking};
use crate::config::reseal_secrets;

/// What a rotation did.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// The key every secret is now sealed with.
    pub primary_key: String,
    /// Secrets re-sealed under it.
    pub resealed: usize,
    /// Secrets that could not be opened (their key is gone), by destination.
    pub failed: Vec<RotationFailure>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationFailure {
    pub destination_id: String,
    pub field: String,
    pub error: String,
}

pub async fn rotate(State(state): State<AppState>) -> Result<Json<Rotation>, ApiError> {
    let keyring = state.keyring.clone();
    let rotation = blocking(&state.log, move |log| {
        let mut rotation = Rotation {
            primary_key: keyring.primary().to_owned(),
            ..Rotation::default()
        };
        for mut stored in log.all_customer_destinations()? {
            match reseal_secrets(
                &mut stored.spec,
                &keyring,
                &stored.customer_external_id,
                &stored.id,
            ) {
                Ok(0) => {}
                Ok(n) => {
                    log.put_customer_destination(&stored)?;
                    rotation.resealed += n;
                }
                Err(problem) => rotation.failed.push(RotationFailure {
                    destination_id: stored.id,
                    field: problem.field,
                    error: problem.message,
                }),
            }
        }
        Ok(rotation)
    })
    .await?;
    tracing::info!(primary = %rotation.primary_key, resealed = rotation.resealed, failed = rotation.failed.len(), "secrets re-sealed");
    Ok(Json(rotation))
}
