//! `GET /openapi.json`: the OpenAPI 3 description of this API, kept in
//! `docs/openapi.json` and checked against the router by `tests/openapi.rs`
//! and against the running binary by schemathesis (`tests/schemathesis.rs`).
//!
//! The file describes every server; the served copy states what holds for
//! this one: whether it needs a token, and its batch limit.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::AppState;

const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// The document for a server with these settings: its token rule, batch
/// limit, and the plugins its customers may choose (a `PLUGIN` destination
/// is not offered when there are none).
pub fn for_server(
    needs_token: bool,
    max_batch_events: usize,
    customer_plugins: &[String],
) -> Bytes {
    let mut doc: Value = serde_json::from_str(DOCUMENT).expect("docs/openapi.json is JSON");
    let schemas = &mut doc["components"]["schemas"];
    if customer_plugins.is_empty() {
        if let Some(variants) = schemas["CustomerDestinationRequest"]["oneOf"].as_array_mut() {
            variants.retain(|v| v["$ref"] != "#/components/schemas/PluginDestinationRequest");
        }
        if let Some(types) =
            schemas["CustomerDestinationPatch"]["properties"]["type"]["enum"].as_array_mut()
        {
            types.retain(|t| t != "PLUGIN");
        }
    } else {
        schemas["PluginDestinationRequest"]["properties"]["plugin"]["enum"] =
            json!(customer_plugins);
        schemas["CustomerDestinationPatch"]["properties"]["plugin"]["enum"] =
            json!(customer_plugins);
    }
    doc["security"] = if needs_token {
        json!([{"bearer": []}])
    } else {
        json!([])
    };
    doc["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        ["properties"]["events"]["maxItems"] = json!(max_batch_events);
    Bytes::from(serde_json::to_vec_pretty(&doc).expect("a Value serializes"))
}

pub async fn document(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_document_states_this_servers_token_rule_and_batch_limit() {
        let doc: Value = serde_json::from_slice(&for_server(true, 7, &[])).unwrap();
        assert_eq!(doc["security"], json!([{"bearer": []}]));
        let events = &doc["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["properties"]["events"];
        assert_eq!(events["maxItems"], 7);
        let open: Value = serde_json::from_slice(&for_server(false, 1000, &[])).unwrap();
        assert_eq!(open["security"], json!([]));
        // The file itself says both are possible.
        let file: Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(file["security"], json!([{"bearer": []}, {}]));
    }

    #[test]
    fn the_served_document_offers_exactly_this_servers_customer_plugins() {
        let variants = |doc: &Value| {
            doc["components"]["schemas"]["CustomerDestinationRequest"]["oneOf"].to_string()
        };
        let none: Value = serde_json::from_slice(&for_server(false, 10, &[])).unwrap();
        assert!(
            !variants(&none).contains("PluginDestinationRequest"),
            "{}",
            variants(&none)
        );
        let patch_types = &none["components"]["schemas"]["CustomerDestinationPatch"]["properties"]
            ["type"]["enum"];
        assert_eq!(patch_types, &json!(["KINESIS", "KAFKA"]));
        let some: Value =
            serde_json::from_slice(&for_server(false, 10, &["webhook".to_owned()])).unwrap();
        assert!(variants(&some).contains("PluginDestinationRequest"));
        let plugin =
            &some["components"]["schemas"]["PluginDestinationRequest"]["properties"]["plugin"];
        assert_eq!(plugin["enum"], json!(["webhook"]));
    }
}
