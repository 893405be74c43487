//! `GET /openapi.json`: the OpenAPI 3 description of this API, kept in
//! `docs/openapi.json` and checked against the router by `tests/openapi.rs`.

use axum::http::header;
use axum::response::IntoResponse;

const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
