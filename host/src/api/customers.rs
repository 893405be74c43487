//! The platform's customers: `PUT`/`GET`/`DELETE /v1/customers/{id}`, the
//! IAM trust policy their AWS roles need, and customer tokens.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::body::OperatorBody;
use super::codes::ErrorCode;
use super::error::{ApiError, FieldError};
use super::listing::{PageBody, bad, page_limit};
use super::tokens;
use super::validate::check_key;
use super::{AppState, blocking};
use crate::config::is_iam_arn;
use crate::log::{Customer, CustomerUpdate};

/// The body of `PUT /v1/customers/{id}` (none: no name).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CustomerRequest {
    /// A display name.
    name: Option<String>,
}

/// `PUT /v1/customers/{customer_id}`: creates the customer (201) or
/// updates it (200); its external ID is generated once and kept.
pub async fn put(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: OperatorBody,
) -> Result<(StatusCode, Json<Customer>), ApiError> {
    check_key("customer_id", &id)?;
    let request: CustomerRequest = body.parse("a customer body is {} or {\"name\": \"...\"}")?;
    if let Some(name) = &request.name {
        check_key("name", name)?;
    }
    let update = CustomerUpdate { name: request.name };
    let (customer, created) =
        blocking(&state.log, move |log| log.put_customer(&id, update)).await?;
    let status = if created {
        tracing::info!(customer = %customer.customer_external_id, "customer created");
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(customer)))
}

/// `GET /v1/customers/{customer_id}`.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Customer>, ApiError> {
    Ok(Json(existing(&state, id).await?))
}

/// `DELETE /v1/customers/{customer_id}`: the removed customer; its
/// destinations stop (their undelivered events stay until retention).
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Customer>, ApiError> {
    let lookup = id.clone();
    let owned = blocking(&state.log, move |log| log.customer_destinations(&lookup)).await?;
    let removed = blocking(&state.log, move |log| log.delete_customer(&id)).await?;
    let customer = removed.ok_or_else(not_found)?;
    // Its destinations stop after their batch in flight, in one reload.
    let names: Vec<String> = owned
        .iter()
        .map(|d| crate::config::destination_name(&d.id))
        .collect();
    if let Err(e) = state
        .reloader
        .change_customer_destinations(&names, None)
        .await
    {
        tracing::error!(destinations = ?names, error = %e, "a deleted customer's destinations did not stop");
    }
    tracing::info!(customer = %customer.customer_external_id, "customer deleted");
    Ok(Json(customer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/customers?limit=&cursor=`: customers by id, paged.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PageBody<Customer>>, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::new(FieldError::whole(
            ErrorCode::InvalidValue,
            format!("{}; the parameters are limit and cursor", e.body_text()),
        ))
    })?;
    let limit = page_limit(query.limit.as_deref())?;
    let cursor = query.cursor;
    let (items, more) = blocking(&state.log, move |log| {
        log.customers_page(cursor.as_deref(), limit)
    })
    .await?;
    let next = more
        .then(|| items.last().map(|c| c.customer_external_id.clone()))
        .flatten();
    Ok(Json(PageBody { items, next }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrustPolicyQuery {
    role_arn: Option<String>,
}

/// `GET /v1/customers/{customer_id}/trust-policy?roleArn=`: the IAM trust
/// policy to put on the customer's role: Pushrail's principal (`roleArn`,
/// or `security.aws_principal`) may assume it with the customer's external ID.
pub async fn trust_policy(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<TrustPolicyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::new(FieldError::whole(
            ErrorCode::InvalidValue,
            format!("{}; the parameter is roleArn", e.body_text()),
        ))
    })?;
    let customer = existing(&state, id).await?;
    let principal = match query.role_arn {
        Some(arn) if is_iam_arn(&arn) => arn,
        Some(arn) => {
            return Err(bad(
                "roleArn",
                format!("\"{arn}\" is not an IAM ARN like arn:aws:iam::111122223333:role/pushrail"),
            ));
        }
        None => match &state.aws_principal {
            Some(arn) => arn.to_string(),
            None => {
                return Err(ApiError::new(FieldError::new(
                    ErrorCode::NotConfigured,
                    "roleArn",
                    "pass ?roleArn= (the role Pushrail runs as) or set security.aws_principal",
                )));
            }
        },
    };
    Ok(Json(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PushrailAssumeRole",
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": customer.external_id}}
        }]
    })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenRequest {
    /// Seconds the token is valid (default 3600).
    expires_in: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenIssued {
    pub token: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// `POST /v1/customers/{customer_id}/token`: a token that acts for this
/// customer only (operator tokens only).
pub async fn mint_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: OperatorBody,
) -> Result<Json<TokenIssued>, ApiError> {
    let request: TokenRequest = body.parse("a token body is {} or {\"expiresIn\": seconds}")?;
    let Some(secret) = &state.token_secret else {
        return Err(ApiError::new(FieldError::whole(
            ErrorCode::NotConfigured,
            "customer tokens need security.token_secret",
        )));
    };
    let ttl = Duration::from_secs(request.expires_in.unwrap_or(3600));
    if ttl.is_zero() || ttl > tokens::MAX_TTL {
        return Err(bad(
            "expiresIn",
            format!("must be from 1 to {} seconds", tokens::MAX_TTL.as_secs()),
        ));
    }
    let customer = existing(&state, id).await?;
    let (token, expires_at) = tokens::mint(secret.expose(), &customer.customer_external_id, ttl);
    Ok(Json(TokenIssued { token, expires_at }))
}

async fn existing(state: &AppState, id: String) -> Result<Customer, ApiError> {
    blocking(&state.log, move |log| log.customer(&id))
        .await?
        .ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::not_found("customer", "customer_id")
}
