//! Schemathesis (a property-based API tester, from PyPI) reads the served
//! `/openapi.json` and sends every operation generated valid and invalid
//! requests; it must find nothing: no 5xx, no answer outside the document,
//! no schema-valid request refused, no schema-invalid one accepted, and no
//! route that ignores the token rule the document states. Run against the
//! real binary with tokens configured and without.
//!
//! The run is reproducible: `PUSHRAIL_SCHEMATHESIS_SEED` (default 1) and
//! `PUSHRAIL_SCHEMATHESIS_EXAMPLES` (default 40 per operation) choose it.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::{PLUGIN_DIR, Server, event, eventually};

const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const TOKEN: &str = "st-token-5b1f";
const TOKEN_SECRET: &str = "st-secret-9c1d7e3a0b2f4c6d8e0a1b3c5d7e9f11";

/// A server with a file destination and one that dead-letters `acct_dead`,
/// holding one stored event and one dead letter for the fuzzer to find.
async fn server(tokens: bool) -> (Server, Known) {
    let extra = if tokens {
        format!("api_tokens = [\"{TOKEN}\"]")
    } else {
        String::new()
    };
    let security = if tokens {
        format!(
            "[security]\ntoken_secret = \"{TOKEN_SECRET}\"\naws_principal = \"arn:aws:iam::111122223333:role/pushrail\"\n\n"
        )
    } else {
        String::new()
    };
    let rest = format!(
        "{security}[plugins]\ndir = \"{PLUGIN_DIR}\"\n\n\
         [[destinations]]\nname = \"local\"\nplugin = \"file\"\nfile = {{ path = \"local.jsonl\" }}\n\n\
         [[destinations]]\nname = \"dead\"\nplugin = \"misbehave\"\nfile = {{ path = \"dead.jsonl\" }}\n\
         config = {{ mode = \"permanent\", key = \"acct_dead\" }}\nbatch = {{ linger = \"10ms\" }}\n"
    );
    let mut server = Server::start_with(&extra, &rest).await;
    if tokens {
        server.authorize(TOKEN);
    }
    let (status, stored) = server.post("/v1/events", &event("acct_ok", "k-ok")).await;
    assert_eq!(status, 202, "{stored}");
    let (status, dead) = server
        .post("/v1/events", &event("acct_dead", "k-dead"))
        .await;
    assert_eq!(status, 202, "{dead}");
    let dead_id = dead["id"].as_str().unwrap().to_owned();
    eventually(30, "a dead letter", async || {
        let (status, _) = server
            .get(&format!("/v1/destinations/dead/dlq/{dead_id}"))
            .await;
        (status == 200).then_some(())
    })
    .await;
    // A customer with a Kafka destination (its broker never answers; it
    // has no events to send).
    let (status, customer) = server
        .put("/v1/customers/acct_st", &json!({"name": "fuzzed"}))
        .await;
    assert_eq!(status, 201, "{customer}");
    let (status, destination) = server
        .post(
            "/v1/customers/acct_st/destinations",
            &json!({"type": "KAFKA", "brokers": ["127.0.0.1:9"], "topic": "t", "auth": {"mode": "NONE"}}),
        )
        .await;
    assert_eq!(status, 201, "{destination}");
    let destination_id = destination["id"].as_str().unwrap().to_owned();
    (
        server,
        Known {
            stored_id: stored["id"].as_str().unwrap().to_owned(),
            dead_id,
            destination_id,
        },
    )
}

/// Identifiers the fuzzer is given so that it gets past 404s.
struct Known {
    stored_id: String,
    dead_id: String,
    destination_id: String,
}

/// Runs schemathesis against `server` and returns (passed, its output).
fn run(server: &Server, known: &Known) -> (bool, String) {
    let st = support::venv::tool("schemathesis", SCHEMATHESIS, "st");
    // Known identifiers for the operations that need one to get past 404.
    let config = server.dir.path().join("schemathesis.toml");
    let operations = json!([
        {"include-path-regex": "^/v1/events/\\{id\\}", "parameters": {"id": known.stored_id}},
        {"include-path": "/v1/destinations/{name}/dlq/{event_id}",
         "parameters": {"name": "dead", "event_id": known.dead_id}},
        {"include-path-regex": "^/v1/customers/\\{customer_id\\}/destinations/\\{destination_id\\}",
         "parameters": {"customer_id": "acct_st", "destination_id": known.destination_id}},
    ]);
    let mut toml = String::new();
    for op in operations.as_array().unwrap() {
        toml.push_str("[[operations]]\n");
        for (key, value) in op.as_object().unwrap() {
            if key == "parameters" {
                toml.push_str("parameters = { ");
                let pairs: Vec<String> = value
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| format!("\"{k}\" = {v}"))
                    .collect();
                toml.push_str(&pairs.join(", "));
                toml.push_str(" }\n");
            } else {
                toml.push_str(&format!("{key} = {value}\n"));
            }
        }
    }
    std::fs::write(&config, toml).unwrap();
    let seed = std::env::var("PUSHRAIL_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let examples = std::env::var("PUSHRAIL_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "40".into());
    let mut command = Command::new(st);
    command
        // Its cache of crashes goes in the test's directory, not the repo.
        .current_dir(server.dir.path())
        .arg("--config-file")
        .arg(&config)
        .args(["--no-color", "run", &server.url("/openapi.json")])
        .args([
            "--checks",
            "all",
            "--max-examples",
            &examples,
            "--seed",
            &seed,
        ])
        // One worker: Hypothesis' caches are not safe across threads (a
        // "KeyError" from its lambda-source cache, seen with two).
        .args(["--workers", "1"]);
    if let Some(token) = &server.token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command.output().expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn check(tokens: bool) {
    let (server, known) = server(tokens).await;
    let (passed, output) = tokio::task::block_in_place(|| run(&server, &known));
    // The server's warnings and errors say why a request was slow or failed.
    let log = server.server_log();
    let noted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(
        passed,
        "schemathesis found problems:\n{output}\nthe server's warnings and errors:\n{}",
        noted.join("\n")
    );
    // It did run every operation (a broken config would test nothing);
    // schemathesis leaves out the document's own URL.
    let doc: Value = server.get("/openapi.json").await.1;
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    let tested = operations - 1;
    assert!(
        output.contains(&format!("Tested: {tested}\n")),
        "expected {tested} operations tested:\n{output}"
    );
    assert!(server.server_log().lines().all(|l| !l.contains("panicked")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_with_tokens() {
    check(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_without_tokens() {
    check(false).await;
}
