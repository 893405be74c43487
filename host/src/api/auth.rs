//! Bearer-token authentication for every route but the health checks and
//! `/openapi.json`. An operator token (`server.api_tokens`) may do
//! everything; a customer token (a JWT from `POST /v1/customers/{id}/token`)
//! only what concerns its own customer: another customer's resources are
//! "not found", never shown, and the operator's routes are forbidden.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use percent_encoding::percent_decode_str;

use super::AppState;
use super::codes::ErrorCode;
use super::error::{ApiError, FieldError};
use super::tokens;

pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.tokens.is_empty() {
        return Ok(next.run(request).await);
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(presented) = presented else {
        state.metrics.rejected(ErrorCode::Unauthorized.as_str());
        return Err(unauthorized("missing Authorization: Bearer <token> header"));
    };
    let operator = state.tokens.iter().fold(false, |found, t| {
        found | constant_time_eq(t.expose().as_bytes(), presented.as_bytes())
    });
    if operator {
        return Ok(next.run(request).await);
    }
    let customer = state
        .token_secret
        .as_ref()
        .and_then(|secret| tokens::verify(secret.expose(), presented));
    let Some(customer) = customer else {
        state.metrics.rejected(ErrorCode::Unauthorized.as_str());
        return Err(unauthorized("the bearer token is not valid"));
    };
    match customer_scope(request.uri().path(), &customer) {
        Ok(()) => Ok(next.run(request).await),
        Err(error) => {
            state.metrics.rejected(error.error.code.as_str());
            Err(error)
        }
    }
}

/// What a customer token may reach: `/v1/customers/<its id>/…`, except
/// minting tokens.
fn customer_scope(path: &str, customer: &str) -> Result<(), ApiError> {
    let forbidden = || {
        ApiError::new(FieldError::whole(
            ErrorCode::Forbidden,
            "a customer token may only act on its own customer",
        ))
    };
    let Some(rest) = path.strip_prefix("/v1/customers/") else {
        return Err(forbidden());
    };
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let id = percent_decode_str(id).decode_utf8_lossy();
    if id != customer {
        return Err(ApiError::not_found("customer", "customer_id"));
    }
    if tail == "token" {
        return Err(ApiError::new(FieldError::whole(
            ErrorCode::Forbidden,
            "only an operator token may mint customer tokens",
        )));
    }
    Ok(())
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(FieldError::whole(ErrorCode::Unauthorized, message))
}

/// Compares without an early exit, so timing does not reveal a prefix match.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_tokens() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn a_customer_reaches_only_its_own_customer() {
        let code = |path: &str| customer_scope(path, "acct a").err().map(|e| e.error.code);
        assert_eq!(code("/v1/customers/acct%20a"), None);
        assert_eq!(code("/v1/customers/acct%20a/trust-policy"), None);
        assert_eq!(code("/v1/customers/acct%20b"), Some(ErrorCode::NotFound));
        assert_eq!(
            code("/v1/customers/acct%20ab/trust-policy"),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            code("/v1/customers/acct%20a/token"),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(code("/v1/customers"), Some(ErrorCode::Forbidden));
        assert_eq!(code("/v1/destinations"), Some(ErrorCode::Forbidden));
        assert_eq!(code("/v1/events"), Some(ErrorCode::Forbidden));
    }
}
