//! The OpenAPI document (`docs/openapi.json`, served at `/openapi.json`)
//! describes exactly the routes the router has, and the real binary
//! answers every one of them.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use support::Server;

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path))
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// (METHOD, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// (METHOD, path) of every `.route(...)` in the router's source.
fn routed(source: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut rest = source;
    while let Some(start) = rest.find(".route(") {
        let call = &rest[start + ".route(".len()..];
        let mut depth = 1;
        let end = call
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("balanced .route(...)");
        let args = &call[..end];
        let path = args.split('"').nth(1).expect("a path literal");
        for method in ["get", "post", "put", "patch", "delete"] {
            let called = args
                .match_indices(&format!("{method}("))
                .any(|(i, _)| i == 0 || !args.as_bytes()[i - 1].is_ascii_alphanumeric());
            if called {
                out.insert((method.to_uppercase(), path.to_owned()));
            }
        }
        rest = &call[end..];
    }
    out
}

#[test]
fn the_document_lists_exactly_the_routes_of_the_router() {
    let doc: Value = serde_json::from_str(&repo_file("docs/openapi.json")).expect("valid JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes = routed(&repo_file("host/src/api/mod.rs"));
    assert!(routes.len() >= 15, "parsed the router: {routes:?}");
    let documented = documented(&doc);
    let missing: Vec<_> = routes.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes without documentation: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "documented routes that do not exist: {stale:?}"
    );

    // Every $ref points at a schema or response that exists.
    let text = doc.to_string();
    for kind in ["schemas", "responses"] {
        for part in text
            .split(&format!("\"$ref\":\"#/components/{kind}/"))
            .skip(1)
        {
            let name = part.split('"').next().unwrap();
            assert!(
                doc["components"][kind].get(name).is_some(),
                "missing {kind} {name}"
            );
        }
    }
}

#[tokio::test]
async fn the_binary_serves_the_document_and_answers_every_documented_route() {
    let server = Server::start("").await;
    let (status, served) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&repo_file("docs/openapi.json")).unwrap();
    // The file says a token may be required; this server (no api_tokens)
    // states that none is, and offers its customers no plugin.
    let mut expected = doc.clone();
    expected["security"] = serde_json::json!([]);
    let schemas = &mut expected["components"]["schemas"];
    schemas["CustomerDestinationRequest"]["oneOf"]
        .as_array_mut()
        .unwrap()
        .retain(|v| v["$ref"] != "#/components/schemas/PluginDestinationRequest");
    schemas["CustomerDestinationPatch"]["properties"]["type"]["enum"] =
        serde_json::json!(["KINESIS", "KAFKA"]);
    assert_eq!(served, expected, "the binary serves the file in the repo");

    for (method, path) in documented(&doc) {
        let url = server.url(
            &path
                .replace("{name}", "local")
                .replace("{id}", "evt_none")
                .replace("{event_id}", "evt_none"),
        );
        let request = server
            .http
            .request(method.parse().unwrap(), &url)
            .header("content-type", "application/json");
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}: method not allowed");
        assert!(
            !body.contains("no such route"),
            "{method} {path} is documented but not routed: {status} {body}"
        );
    }
}
