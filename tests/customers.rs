//! #13: customers and customer tokens, over the real binary's HTTP API.
//! Tokens are checked with an independent JWT library (PyJWT, from PyPI
//! into a virtualenv like moto), and attacked: another customer's id, the
//! operator's routes, a forged signature, `alg: none`, an expired token.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::Server;

const OPERATOR: &str = "op-token-1f7a";
const SECRET: &str = "customer-token-secret-0123456789abcdef";
const PRINCIPAL: &str = "arn:aws:iam::111122223333:role/pushrail";
const PYJWT: &str = "PyJWT==2.10.1";

async fn server(security: &str) -> Server {
    let mut server = Server::start_with(&format!("api_tokens = [\"{OPERATOR}\"]"), security).await;
    server.authorize(OPERATOR);
    server
}

fn secured() -> String {
    format!("[security]\ntoken_secret = \"{SECRET}\"\naws_principal = \"{PRINCIPAL}\"\n")
}

async fn put(server: &Server, id: &str, body: Value) -> (u16, Value) {
    server.put(&format!("/v1/customers/{id}"), &body).await
}

/// A request with `token` instead of the operator's.
async fn as_token(server: &Server, token: &str, method: &str, path: &str) -> (u16, Value) {
    server.send_as(token, method, path, json!({})).await
}

/// Runs Python with PyJWT and returns its stdout.
fn pyjwt(script: &str) -> String {
    let python = support::venv::tool("pyjwt", PYJWT, "python");
    let output = Command::new(python).args(["-c", script]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A token PyJWT signs with `key` (a Python expression) and `algorithm`,
/// for `sub`, expiring `exp_in` seconds from now.
fn pyjwt_token(sub: &str, key: &str, algorithm: &str, exp_in: i64) -> String {
    pyjwt(&format!(
        "import jwt, time; print(jwt.encode({{'sub': '{sub}', 'iss': 'pushrail', 'aud': 'pushrail', 'exp': int(time.time()) + {exp_in}}}, {key}, algorithm='{algorithm}'))"
    ))
}

#[tokio::test]
async fn a_customer_has_a_stable_external_id_and_a_trust_policy() {
    let server = server(&secured()).await;
    let (status, created) = put(&server, "acct_a", json!({"name": "Acme"})).await;
    assert_eq!(status, 201, "{created}");
    let external_id = created["externalId"].as_str().unwrap().to_owned();
    assert!(
        external_id.starts_with("pr-") && external_id.len() == 35,
        "{created}"
    );
    let (status, updated) = put(&server, "acct_a", json!({"name": "Acme Inc"})).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["externalId"],
        external_id.as_str(),
        "kept on update"
    );
    assert_eq!(updated["name"], "Acme Inc");
    let (status, b) = put(&server, "acct_b", json!({})).await;
    assert_eq!(status, 201);
    assert_ne!(
        b["externalId"],
        external_id.as_str(),
        "each customer its own"
    );

    let (_, page) = server.get("/v1/customers?limit=1").await;
    assert_eq!(page["items"][0]["customerExternalId"], "acct_a", "{page}");
    let next = page["next"].as_str().unwrap();
    let (_, page) = server
        .get(&format!("/v1/customers?limit=1&cursor={next}"))
        .await;
    assert_eq!(page["items"][0]["customerExternalId"], "acct_b", "{page}");
    assert!(page.get("next").is_none(), "{page}");

    let (status, policy) = server.get("/v1/customers/acct_a/trust-policy").await;
    assert_eq!(status, 200, "{policy}");
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Principal"]["AWS"], PRINCIPAL);
    assert_eq!(statement["Action"], "sts:AssumeRole");
    assert_eq!(
        statement["Condition"]["StringEquals"]["sts:ExternalId"],
        external_id.as_str()
    );
    let role = "arn:aws:iam::123456789012:role/platform-pushrail";
    let (_, policy) = server
        .get(&format!("/v1/customers/acct_a/trust-policy?roleArn={role}"))
        .await;
    assert_eq!(policy["Statement"][0]["Principal"]["AWS"], role);
    let (status, bad) = server
        .get("/v1/customers/acct_a/trust-policy?roleArn=pushrail")
        .await;
    assert_eq!(
        (status, &bad["error"]["field"]),
        (400, &json!("roleArn")),
        "{bad}"
    );

    let (status, _) = put(&server, "%20", json!({})).await;
    assert_eq!(status, 400, "a blank id");
    let (status, removed) = server.delete("/v1/customers/acct_b").await;
    assert_eq!(
        (status, &removed["customerExternalId"]),
        (200, &json!("acct_b"))
    );
    let (status, gone) = server.get("/v1/customers/acct_b").await;
    assert_eq!((status, &gone["error"]["code"]), (404, &json!("not_found")));
}

#[tokio::test]
async fn a_customer_token_reaches_its_own_customer_and_nothing_else() {
    let server = server(&secured()).await;
    put(&server, "acct_a", json!({})).await;
    put(&server, "acct_b", json!({"name": "Beta"})).await;
    let (status, issued) = server
        .post("/v1/customers/acct_a/token", &json!({"expiresIn": 600}))
        .await;
    assert_eq!(status, 200, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();

    // An independent library reads it as a standard HS256 JWT for acct_a.
    let claims = pyjwt(&format!(
        "import jwt, json; print(json.dumps(jwt.decode('{token}', '{SECRET}', algorithms=['HS256'], audience='pushrail', issuer='pushrail')))"
    ));
    let claims: Value = serde_json::from_str(&claims).unwrap();
    assert_eq!(claims["sub"], "acct_a");
    assert_eq!(claims["exp"], issued["expiresAt"]);

    let (status, own) = as_token(&server, &token, "GET", "/v1/customers/acct_a").await;
    assert_eq!(status, 200, "{own}");
    let (status, _) = as_token(&server, &token, "GET", "/v1/customers/acct_a/trust-policy").await;
    assert_eq!(status, 200);
    // Another customer's resources are not found, never shown or changed.
    for (method, path) in [
        ("GET", "/v1/customers/acct_b"),
        ("GET", "/v1/customers/acct_b/trust-policy"),
        ("PUT", "/v1/customers/acct_b"),
        ("DELETE", "/v1/customers/acct_b"),
        ("POST", "/v1/customers/acct_b/token"),
        ("GET", "/v1/customers/acct_%61"), // not acct_a: the id is compared decoded
    ] {
        let (status, body) = as_token(&server, &token, method, path).await;
        if path.ends_with("%61") {
            assert_eq!(status, 200, "{path} is acct_a itself: {body}");
            continue;
        }
        assert_eq!(
            (status, &body["error"]["code"]),
            (404, &json!("not_found")),
            "{method} {path}: {body}"
        );
        assert!(!body.to_string().contains("Beta"), "{body}");
    }
    let (_, b) = server.get("/v1/customers/acct_b").await;
    assert_eq!(b["name"], "Beta", "acct_b untouched");
    // The operator's routes, and minting tokens, are forbidden.
    for (method, path) in [
        ("GET", "/v1/customers"),
        ("POST", "/v1/customers/acct_a/token"),
        ("POST", "/v1/events"),
        ("GET", "/v1/destinations"),
        ("GET", "/v1/destinations/local/dlq"),
        ("GET", "/v1/replays"),
        ("GET", "/metrics"),
        ("POST", "/v1/admin/reload"),
    ] {
        let (status, body) = as_token(&server, &token, method, path).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (403, &json!("forbidden")),
            "{method} {path}: {body}"
        );
    }

    // Forged, unsigned and expired tokens are refused; a token another
    // library signed with the right secret works (it is a standard JWT).
    let forged = pyjwt_token(
        "acct_b",
        "'not-the-secret-but-32-bytes-long!!'",
        "HS256",
        600,
    );
    let unsigned = pyjwt_token("acct_b", "None", "none", 600);
    let expired = pyjwt_token("acct_b", &format!("'{SECRET}'"), "HS256", -60);
    for bad in [&forged, &unsigned, &expired] {
        let (status, body) = as_token(&server, bad, "GET", "/v1/customers/acct_b").await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (401, &json!("unauthorized")),
            "{body}"
        );
    }
    let theirs = pyjwt_token("acct_b", &format!("'{SECRET}'"), "HS256", 600);
    let (status, body) = as_token(&server, &theirs, "GET", "/v1/customers/acct_b").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn without_a_token_secret_no_customer_token_is_minted() {
    let server = server("").await;
    put(&server, "acct_a", json!({})).await;
    let (status, body) = server.post("/v1/customers/acct_a/token", &json!({})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("not_configured")),
        "{body}"
    );
    let (status, body) = server.get("/v1/customers/acct_a/trust-policy").await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (409, &json!("roleArn")),
        "{body}"
    );
}
