//! #13: customers' secrets are sealed at rest. Checked from the attacker's
//! side: the raw bytes of the redb file and the server's log never hold a
//! secret; a sealed secret copied into another destination's row does not
//! open; a restart without the key shows the destinations as failed, with
//! the reason, and the server keeps running.

mod support;

use serde_json::{Value, json};
use support::Server;

const OPERATOR: &str = "op-token-71ad";
const PASSWORD: &str = "pw-Zq9-unique-8d1f";
const SECRET_KEY: &str = "sk-Wv3-unique-4c2e";
/// base64 of 32 bytes.
const KEY_1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
const KEY_2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI";

fn security(keys: &[(&str, &str)], primary: &str) -> String {
    let keys: Vec<String> = keys
        .iter()
        .map(|(id, key)| format!("{{ id = \"{id}\", key = \"{key}\" }}"))
        .collect();
    format!(
        "[security]\nprimary_key = \"{primary}\"\nmaster_keys = [{}]\n",
        keys.join(", ")
    )
}

fn sasl(password: &str) -> Value {
    json!({"type": "KAFKA", "brokers": ["127.0.0.1:9"], "topic": "t",
           "auth": {"mode": "SASL_SCRAM_SHA_512", "username": "pushrail-writer", "password": password, "tls": false}})
}

async fn destination_state(server: &Server, id: &str) -> Value {
    server
        .get(&format!("/v1/customers/acct_a/destinations/{id}"))
        .await
        .1["status"]
        .clone()
}

/// None of `secrets` is in the (stopped) server's redb file or its log.
fn assert_nowhere_at_rest(server: &Server, secrets: &[&str]) {
    let bytes = std::fs::read(server.data_dir().join("pushrail.redb")).unwrap();
    for secret in secrets {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the redb file"
        );
        assert!(
            !server.server_log().contains(secret),
            "{secret} is in the log"
        );
    }
}

/// Reads the customer destinations table of the redb file, lets `swap`
/// look at or change the rows, and writes them back.
fn tamper(server: &Server, swap: impl FnOnce(&mut Vec<((String, String), Value)>)) {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    const TABLE: TableDefinition<(&str, &str), &[u8]> =
        TableDefinition::new("customer_destinations");
    let db = redb::Database::open(server.data_dir().join("pushrail.redb")).unwrap();
    let mut rows = Vec::new();
    {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TABLE).unwrap();
        for entry in table.iter().unwrap() {
            let (key, value) = entry.unwrap();
            let (customer, id) = key.value();
            rows.push((
                (customer.to_owned(), id.to_owned()),
                serde_json::from_slice(value.value()).unwrap(),
            ));
        }
    }
    swap(&mut rows);
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(TABLE).unwrap();
        for ((customer, id), value) in &rows {
            let bytes = serde_json::to_vec(value).unwrap();
            table
                .insert((customer.as_str(), id.as_str()), bytes.as_slice())
                .unwrap();
        }
    }
    txn.commit().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sealed_at_rest_and_bound_to_their_place() {
    let mut server = Server::start_with(
        &format!("api_tokens = [\"{OPERATOR}\"]"),
        &security(&[("k1", KEY_1)], "k1"),
    )
    .await;
    server.authorize(OPERATOR);
    assert_eq!(server.put("/v1/customers/acct_a", &json!({})).await.0, 201);
    let (status, first) = server
        .post("/v1/customers/acct_a/destinations", &sasl(PASSWORD))
        .await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = server
        .post(
            "/v1/customers/acct_a/destinations",
            &sasl("another-password-1"),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let (status, kinesis) = server
        .post(
            "/v1/customers/acct_a/destinations",
            &json!({"type": "KINESIS", "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
                    "endpointUrl": "http://127.0.0.1:9",
                    "auth": {"mode": "ACCESS_KEY", "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": SECRET_KEY}}),
        )
        .await;
    assert_eq!(status, 201, "{kinesis}");
    // Write-only: the answers say a secret is set, never what it is.
    assert_eq!(first["spec"]["auth"]["passwordSet"], true, "{first}");
    assert_eq!(
        kinesis["spec"]["auth"]["secretAccessKeySet"], true,
        "{kinesis}"
    );
    let (_, list) = server.get("/v1/customers/acct_a/destinations").await;
    for shown in [&first, &kinesis, &list] {
        let text = shown.to_string();
        assert!(
            !text.contains(PASSWORD) && !text.contains(SECRET_KEY),
            "{text}"
        );
        assert!(!text.contains("pr1."), "not even sealed: {text}");
    }
    let (first_id, second_id) = (
        first["id"].as_str().unwrap().to_owned(),
        second["id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        destination_state(&server, &first_id).await["state"],
        "running"
    );

    // The file and the log: no secret in plaintext.
    assert_eq!(server.stop(), Some(0), "{}", server.server_log());
    assert_nowhere_at_rest(&server, &[PASSWORD, SECRET_KEY, "another-password-1"]);

    // A sealed secret copied into another destination's row does not open
    // there: that destination fails, the others run.
    tamper(&server, |rows| {
        let sealed = rows
            .iter()
            .find(|((_, id), _)| id == &first_id)
            .map(|(_, v)| v["spec"]["auth"]["password"].clone())
            .unwrap();
        assert!(sealed.as_str().unwrap().starts_with("pr1.k1."), "{sealed}");
        let second = rows
            .iter_mut()
            .find(|((_, id), _)| id == &second_id)
            .unwrap();
        second.1["spec"]["auth"]["password"] = sealed;
    });
    server.restart().await;
    let moved = destination_state(&server, &second_id).await;
    assert_eq!(moved["state"], "failed", "{moved}");
    assert!(
        moved["startError"]
            .as_str()
            .unwrap()
            .contains("auth.password"),
        "{moved}"
    );
    assert_eq!(
        destination_state(&server, &first_id).await["state"],
        "running"
    );

    // Without key k1 (only k2 configured): shown as failed, never a crash.
    assert_eq!(server.stop(), Some(0));
    server.set_rest_config(&security(&[("k2", KEY_2)], "k2"));
    server.restart().await;
    let locked = destination_state(&server, &first_id).await;
    assert_eq!(locked["state"], "failed", "{locked}");
    assert!(
        locked["startError"].as_str().unwrap().contains("k1"),
        "{locked}"
    );
    // An operator's reload keeps showing it failed, with its reason.
    let (status, body) = server.post("/v1/admin/reload", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let still = destination_state(&server, &first_id).await;
    assert_eq!(still["state"], "failed", "after a reload: {still}");
    assert!(
        still["startError"].as_str().unwrap().contains("k1"),
        "{still}"
    );
    let (status, _) = server.get("/v1/customers/acct_a").await;
    assert_eq!(status, 200, "the server runs on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_reseals_every_secret_so_the_old_key_can_go() {
    let mut server = Server::start_with(
        &format!("api_tokens = [\"{OPERATOR}\"]"),
        &security(&[("k1", KEY_1)], "k1"),
    )
    .await;
    server.authorize(OPERATOR);
    assert_eq!(server.put("/v1/customers/acct_a", &json!({})).await.0, 201);
    let (status, created) = server
        .post("/v1/customers/acct_a/destinations", &sasl(PASSWORD))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // A new primary key beside the old one, then `pushrail keys rotate`.
    assert_eq!(server.stop(), Some(0));
    server.set_rest_config(&security(&[("k1", KEY_1), ("k2", KEY_2)], "k2"));
    server.restart().await;
    let output = std::process::Command::new(support::BIN)
        .args([
            "keys",
            "rotate",
            "--server",
            &server.url(""),
            "--token",
            OPERATOR,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("re-sealed 1 secret(s) under key k2"),
        "{stdout}"
    );

    // Every stored secret now names k2 (read from the table itself: redb
    // writes copies, so freed pages may still hold the old ciphertext —
    // sealed, and useless without k1); without k1 the destination runs.
    assert_eq!(server.stop(), Some(0));
    tamper(&server, |rows| {
        for (_, row) in rows.iter() {
            let sealed = row["spec"]["auth"]["password"].as_str().unwrap();
            assert!(sealed.starts_with("pr1.k2."), "{sealed}");
        }
    });
    server.set_rest_config(&security(&[("k2", KEY_2)], "k2"));
    server.restart().await;
    assert_eq!(destination_state(&server, &id).await["state"], "running");
}

/// A customer's `PLUGIN` destination: only a plugin the operator offers,
/// its config reaching the real plugin (a permanent failure it was told to
/// give, in the dead-letter queue), and its `secrets` — like a Kafka
/// OAuth bearer token — sealed: never in an answer, the log or the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_destinations_take_offered_plugins_and_seal_their_secrets() {
    const SIGNING: &str = "whsec-Pq7-unique-2b9a";
    const BEARER: &str = "eyJ-bearer-unique-71c3";
    let mut server = Server::start_with(
        &format!("api_tokens = [\"{OPERATOR}\"]"),
        &format!(
            "{}\n[plugins]\ndir = \"{}\"\ncustomer_plugins = [\"misbehave\"]\n",
            security(&[("k1", KEY_1)], "k1"),
            support::PLUGIN_DIR
        ),
    )
    .await;
    server.authorize(OPERATOR);
    assert_eq!(server.put("/v1/customers/acct_p", &json!({})).await.0, 201);
    let (status, plugin) = server
        .post(
            "/v1/customers/acct_p/destinations",
            &json!({"type": "PLUGIN", "plugin": "misbehave", "name": "Hook",
                    "config": {"mode": "permanent", "key": "acct_p"},
                    "secrets": {"signingSecret": SIGNING}}),
        )
        .await;
    assert_eq!(status, 201, "{plugin}");
    assert_eq!(
        plugin["spec"]["secretsSet"],
        json!(["signingSecret"]),
        "{plugin}"
    );
    let (status, oauth) = server
        .post(
            "/v1/customers/acct_p/destinations",
            &json!({"type": "KAFKA", "brokers": ["127.0.0.1:9"], "topic": "t",
                    "auth": {"mode": "SASL_OAUTHBEARER", "token": BEARER, "principal": "svc"}}),
        )
        .await;
    assert_eq!(status, 201, "{oauth}");
    assert_eq!(oauth["spec"]["auth"]["tokenSet"], true, "{oauth}");
    // Only the plugins offered; the served document lists exactly them.
    let (status, refused) = server
        .post(
            "/v1/customers/acct_p/destinations",
            &json!({"type": "PLUGIN", "plugin": "sleeper"}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["field"], "plugin", "{refused}");
    let (_, doc) = server.get("/openapi.json").await;
    assert_eq!(
        doc["components"]["schemas"]["PluginDestinationRequest"]["properties"]["plugin"]["enum"],
        json!(["misbehave"])
    );

    // The plugin runs with the customer's config: it rejects acct_p's
    // events for good, as told.
    let (status, _) = server
        .post("/v1/events", &support::event("acct_p", "k1"))
        .await;
    assert_eq!(status, 202);
    let id = plugin["id"].as_str().unwrap();
    let letters = support::eventually(30, "a dead letter", async || {
        let (_, page) = server
            .get(&format!("/v1/customers/acct_p/destinations/{id}/dlq"))
            .await;
        (page["items"].as_array().is_some_and(|i| !i.is_empty())).then_some(page)
    })
    .await;
    assert!(
        letters.to_string().contains("acct_p is rejected"),
        "{letters}"
    );

    let (_, list) = server.get("/v1/customers/acct_p/destinations").await;
    assert_eq!(server.stop(), Some(0), "{}", server.server_log());
    for secret in [SIGNING, BEARER] {
        for shown in [&plugin, &oauth, &list] {
            assert!(!shown.to_string().contains(secret), "{shown}");
        }
    }
    assert_nowhere_at_rest(&server, &[SIGNING, BEARER]);
}
