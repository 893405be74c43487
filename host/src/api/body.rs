//! Reading a JSON request body: content type, size limit, and clear errors
//! for both instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::AppState;
use super::codes::ErrorCode;
use super::error::{ApiError, FieldError};

/// How much of an oversize body is read and thrown away so that the client,
/// still sending, receives the 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 64 << 20;

/// The raw bytes of a request whose content type is JSON.
pub struct JsonBody(pub Bytes);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = content_type(&req);
        if !is_json(content_type) {
            return Err(unsupported(content_type));
        }
        read_limited(req, state.limits.body_limit).await.map(Self)
    }
}

/// The body of an operator request (redrive, replay): a JSON object, or no
/// body at all (`None`). Null members are refused rather than read as
/// absent, so a request means one thing.
pub struct OperatorBody(pub Option<Map<String, Value>>);

impl FromRequest<AppState> for OperatorBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(members) = read_object(req, state).await? else {
            return Ok(Self(None));
        };
        if let Some((name, _)) = members.iter().find(|(_, v)| v.is_null()) {
            return Err(FieldError::new(
                ErrorCode::InvalidType,
                name.clone(),
                format!("{name} is null; leave it out instead"),
            )
            .into());
        }
        Ok(Self(Some(members)))
    }
}

/// A JSON merge patch (RFC 7396) body: an object whose `null` members
/// remove what they name. `application/merge-patch+json` or JSON.
pub struct PatchBody(pub Map<String, Value>);

impl FromRequest<AppState> for PatchBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match read_object(req, state).await? {
            Some(members) => Ok(Self(members)),
            None => Err(FieldError::whole(
                ErrorCode::MissingField,
                "a patch is a JSON object of the fields to change (null removes one)",
            )
            .into()),
        }
    }
}

/// A JSON object body, or `None` for no body at all.
async fn read_object(
    req: Request,
    state: &AppState,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let content_type = content_type(&req).to_owned();
    let bytes = read_limited(req, state.limits.body_limit).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !is_json(&content_type) {
        return Err(unsupported(&content_type));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        FieldError::whole(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    match value {
        Value::Object(members) => Ok(Some(members)),
        _ => {
            Err(FieldError::whole(ErrorCode::InvalidType, "the body must be a JSON object").into())
        }
    }
}

impl OperatorBody {
    /// The body as `T` (its `Default` when there is none); `shape` tells
    /// the client what a valid body looks like.
    pub fn parse<T: DeserializeOwned + Default>(self, shape: &str) -> Result<T, ApiError> {
        match self.0 {
            None => Ok(T::default()),
            Some(members) => serde_json::from_value(Value::Object(members)).map_err(|e| {
                FieldError::whole(ErrorCode::InvalidValue, format!("{shape}: {e}")).into()
            }),
        }
    }
}

fn content_type(req: &Request) -> &str {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn unsupported(content_type: &str) -> ApiError {
    let shown = if content_type.is_empty() {
        "none"
    } else {
        content_type
    };
    FieldError::whole(
        ErrorCode::UnsupportedMediaType,
        format!("Content-Type must be application/json, found {shown}"),
    )
    .into()
}

/// The whole body, or a 413 once it passes `limit` (after draining a bounded
/// amount, so that a client still sending receives the answer).
async fn read_limited(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = req.into_body();
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            FieldError::whole(
                ErrorCode::UnreadableBody,
                format!("could not read the request body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen > limit {
            bytes = Vec::new();
            if seen > DRAIN_LIMIT {
                break;
            }
        } else {
            bytes.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(FieldError::whole(
            ErrorCode::BodyTooLarge,
            format!(
                "the request body is larger than server.body_limit ({limit} bytes); send fewer events per batch"
            ),
        )
        .into());
    }
    Ok(Bytes::from(bytes))
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_content_types() {
        assert!(super::is_json("application/json"));
        assert!(super::is_json("application/json; charset=utf-8"));
        assert!(super::is_json("Application/JSON"));
        assert!(super::is_json("application/cloudevents+json"));
        assert!(!super::is_json("text/plain"));
        assert!(!super::is_json(""));
    }
}
