//! What operators use every day, through the real binary: the paged attempt
//! log, the paged and filtered dead-letter queue, destination status.

mod support;

use std::collections::HashSet;

use serde_json::{Value, json};
use support::{PLUGIN_DIR, Server, event, eventually, post_batch};

/// Reads every page of `path` (a list endpoint) with `query`, following
/// `next`; returns the items in order and the number of pages.
async fn all_pages(server: &Server, path: &str, query: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{path}?{query}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = server.get(&url).await;
        assert_eq!(status, 200, "{url}: {body}");
        pages += 1;
        items.extend(body["items"].as_array().unwrap().iter().cloned());
        match body.get("next").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (items, pages),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_attempts_read_page_by_page_each_once_with_filters() {
    let server = Server::start_with(
        "",
        "[[destinations]]\nname = \"local\"\nplugin = \"file\"\nbatch = { linger = \"5ms\" }\n",
    )
    .await;
    let mut posted = Vec::new();
    for chunk in 0..10 {
        let events = (0..100)
            .map(|i| event(&format!("acct_{}", i % 7), &format!("k-{chunk}-{i}")))
            .collect();
        posted.extend(post_batch(&server, events).await);
    }
    eventually(30, "1,000 delivered", async || {
        let (_, status) = server.get("/v1/destinations/local").await;
        (status["lagEvents"] == 0).then_some(())
    })
    .await;

    let (items, pages) = all_pages(&server, "/v1/destinations/local/attempts", "limit=37").await;
    assert_eq!(items.len(), 1000);
    assert_eq!(pages, 28, "27 full pages of 37 and one of 1");
    let ids: Vec<&str> = items
        .iter()
        .map(|a| a["eventId"].as_str().unwrap())
        .collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 1000, "each attempt once");
    let expected: Vec<&str> = posted.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, expected, "in log order");
    assert!(
        items
            .iter()
            .all(|a| a["outcome"] == "delivered" && a["coordinates"]["line"].is_string())
    );

    let (delivered, _) = all_pages(
        &server,
        "/v1/destinations/local/attempts",
        "status=delivered&limit=1000",
    )
    .await;
    assert_eq!(delivered.len(), 1000);
    let (retried, _) = all_pages(
        &server,
        "/v1/destinations/local/attempts",
        "status=retryable",
    )
    .await;
    assert!(retried.is_empty());
    let (future, _) = all_pages(
        &server,
        "/v1/destinations/local/attempts",
        "since=2999-01-01T00:00:00Z",
    )
    .await;
    assert!(future.is_empty());
    let (past, _) = all_pages(
        &server,
        "/v1/destinations/local/attempts",
        "until=2999-01-01T00:00:00Z&limit=1000",
    )
    .await;
    assert_eq!(past.len(), 1000);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("status=lost", "status"),
        ("since=yesterday", "since"),
        ("cursor=abc", "cursor"),
    ] {
        let (status, body) = server
            .get(&format!("/v1/destinations/local/attempts?{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (status, body) = server
        .get("/v1/destinations/local/attempts?colour=red")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{body}"
    );
    let (status, _) = server.get("/v1/destinations/nowhere/attempts").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dlq_pages_and_filters_and_status_shows_the_last_error() {
    let rest = format!(
        "[plugins]\ndir = \"{PLUGIN_DIR}\"\n\
         [[destinations]]\nname = \"picky\"\nplugin = \"misbehave\"\nfile = {{ path = \"picky.jsonl\" }}\n\
         config = {{ mode = \"permanent\", key = \"acct_bad\" }}\nbatch = {{ linger = \"5ms\" }}\n\
         [[destinations]]\nname = \"local\"\nplugin = \"file\"\n"
    );
    let server = Server::start_with("", &rest).await;
    let events: Vec<Value> = (0..30)
        .map(|i| {
            let customer = if i % 3 == 0 { "acct_bad" } else { "acct_ok" };
            event(customer, &format!("k-{i}"))
        })
        .collect();
    let posted = post_batch(&server, events).await;
    let rejected: Vec<&str> = posted
        .iter()
        .step_by(3)
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    eventually(30, "ten dead letters", async || {
        let (_, status) = server.get("/v1/destinations/picky").await;
        (status["deadLetters"] == 10 && status["lagEvents"] == 0).then_some(())
    })
    .await;

    let (letters, pages) = all_pages(&server, "/v1/destinations/picky/dlq", "limit=3").await;
    assert_eq!(pages, 4);
    let ids: Vec<&str> = letters
        .iter()
        .map(|l| l["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, rejected, "each once, in log order");
    let (by_code, _) = all_pages(&server, "/v1/destinations/picky/dlq", "errorCode=Rejected").await;
    assert_eq!(by_code.len(), 10);
    let (other_code, _) =
        all_pages(&server, "/v1/destinations/picky/dlq", "errorCode=Throttled").await;
    assert!(other_code.is_empty());
    let (later, _) = all_pages(
        &server,
        "/v1/destinations/picky/dlq",
        "since=2999-01-01T00:00:00Z",
    )
    .await;
    assert!(later.is_empty());
    // Times before 1970 are valid RFC 3339 times: they mean 1970.
    let (early, _) = all_pages(
        &server,
        "/v1/destinations/picky/dlq",
        "since=1073-02-09T20:42:53Z",
    )
    .await;
    assert_eq!(early.len(), 10);
    // A redrive body must be an object without nulls: `[null, null]` used
    // to be read as "no filter" and redrove every dead letter.
    for body in [json!([null, null]), json!({"ids": null}), json!("all")] {
        let (status, answer) = server
            .post("/v1/destinations/picky/dlq/redrive", &body)
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (_, picky) = server.get("/v1/destinations/picky").await;
    assert_eq!(picky["deadLetters"], 10, "nothing was redriven: {picky}");
    let (status, body) = server
        .get("/v1/destinations/picky/dlq?status=delivered")
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("status")),
        "{body}"
    );

    let (status, list) = server.get("/v1/destinations").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["picky", "local"]);
    let picky = &list["items"][0];
    assert_eq!(picky["plugin"], "misbehave");
    let plugin_id = picky["plugins"][0].as_str().unwrap();
    assert!(
        plugin_id.starts_with("misbehave@") && plugin_id.len() == "misbehave@".len() + 64,
        "{picky}"
    );
    assert_eq!(picky["inFlight"], 0);
    assert_eq!(picky["lagSeconds"], 0.0);
    assert_eq!(picky["lastError"]["code"], "Rejected", "{picky}");
    assert_eq!(picky["lastError"]["eventId"], *rejected.last().unwrap());
    assert!(list["items"][1].get("lastError").is_none(), "{list}");
    assert_eq!(list["items"][1]["plugin"], "file");

    // A paused destination shows its lag in events and seconds.
    eventually(30, "local caught up", async || {
        let (_, local) = server.get("/v1/destinations/local").await;
        (local["lagEvents"] == 0).then_some(())
    })
    .await;
    let (status, _) = server
        .post("/v1/destinations/local/pause", &json!({}))
        .await;
    assert_eq!(status, 200);
    post_batch(&server, vec![event("acct_ok", "late")]).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, local) = server.get("/v1/destinations/local").await;
    assert_eq!(local["lagEvents"], 1, "{local}");
    assert!(local["lagSeconds"].as_f64().unwrap() >= 0.25, "{local}");
    assert_eq!(local["paused"], true);
}

#[tokio::test]
async fn admin_endpoints_need_the_token_and_change_nothing_without_it() {
    let server = Server::start_with(
        "api_tokens = [\"adm1n-token\"]",
        "[[destinations]]\nname = \"local\"\nplugin = \"file\"\n",
    )
    .await;
    let call = |method: &str, path: &str, token: Option<&str>| {
        let mut request = server
            .http
            .request(method.parse().unwrap(), server.url(path))
            .header("content-type", "application/json")
            .body("{}");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for token in [None, Some("wrong")] {
        for (method, path) in [
            ("POST", "/v1/destinations/local/pause"),
            ("POST", "/v1/destinations/local/dlq/redrive"),
            ("DELETE", "/v1/destinations/local/dlq/evt_x"),
            ("GET", "/v1/destinations"),
            ("GET", "/v1/destinations/local/attempts"),
            ("GET", "/v1/destinations/local/dlq"),
            ("GET", "/metrics"),
        ] {
            let response = call(method, path, token).await.unwrap();
            assert_eq!(
                response.status().as_u16(),
                401,
                "{method} {path} with {token:?}"
            );
        }
    }
    let response = call("GET", "/v1/destinations/local", Some("adm1n-token"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["paused"], false, "the refused pause changed nothing");
    let response = call("GET", "/openapi.json", None).await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "the API description is public"
    );
}

/// Runs the `pushrail` command line against `server`; (exit code, stdout, stderr).
fn pushrail(server: &Server, token: &str, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(support::BIN)
        .args(args)
        .args(["--server", &server.url(""), "--token", token])
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_shows_status_works_the_dlq_and_follows_a_replay() {
    let rest = format!(
        "[plugins]\ndir = \"{PLUGIN_DIR}\"\n\
         [[destinations]]\nname = \"picky\"\nplugin = \"misbehave\"\nfile = {{ path = \"picky.jsonl\" }}\n\
         config = {{ mode = \"permanent\", key = \"acct_bad\" }}\nbatch = {{ linger = \"5ms\" }}\n\
         [[destinations]]\nname = \"local\"\nplugin = \"file\"\nbatch = {{ linger = \"5ms\" }}\n"
    );
    let server = Server::start_with("api_tokens = [\"cli-token\"]", &rest).await;
    let auth = |path: &str| {
        server
            .http
            .get(server.url(path))
            .bearer_auth("cli-token")
            .send()
    };
    let mut events = Vec::new();
    for i in 0..12 {
        let customer = if i % 4 == 0 { "acct_bad" } else { "acct_ok" };
        events.push(event(customer, &format!("k-{i}")));
    }
    let response = server
        .http
        .post(server.url("/v1/events/batch"))
        .bearer_auth("cli-token")
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let posted: Value = response.json().await.unwrap();
    let bad: Vec<String> = posted["results"]
        .as_array()
        .unwrap()
        .iter()
        .step_by(4)
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    eventually(30, "three dead letters and local caught up", async || {
        let list: Value = auth("/v1/destinations").await.ok()?.json().await.ok()?;
        let items = list["items"].as_array()?;
        (items[0]["deadLetters"] == 3 && items[1]["lagEvents"] == 0).then_some(())
    })
    .await;

    let (code, out, err) = pushrail(&server, "cli-token", &["status"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("DESTINATION") && lines[0].contains("LAST ERROR"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("picky")
            && lines[1].contains("misbehave")
            && lines[1].ends_with("Rejected"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("local") && lines[2].contains("running"),
        "{out}"
    );

    let (code, out, err) = pushrail(&server, "cli-token", &["dlq", "list", "picky"]);
    assert_eq!(code, 0, "{err}");
    for id in &bad {
        assert!(out.contains(id.as_str()), "{out}");
    }
    assert!(out.ends_with("3 dead letter(s)\n"), "{out}");
    let (code, out, _) = pushrail(&server, "cli-token", &["dlq", "show", "picky", &bad[0]]);
    assert_eq!(code, 0);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["eventId"], bad[0].as_str());
    let (code, out, _) = pushrail(&server, "cli-token", &["dlq", "discard", "picky", &bad[0]]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = pushrail(
        &server,
        "cli-token",
        &["dlq", "redrive", "picky", "--error-code", "Rejected"],
    );
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "queued 2 dead letter(s) for redrive");

    let (code, out, err) = pushrail(
        &server,
        "cli-token",
        &["replay", "local", "--from", "1", "--to", "5", "--dry-run"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("5 event(s) would be replayed; the first 5:"),
        "{out}"
    );
    let (code, out, err) = pushrail(
        &server,
        "cli-token",
        &["replay", "local", "--from", "1", "--to", "5"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("done: delivered 5, filtered 0, failed 0"),
        "{out}"
    );
    assert!(err.contains("100% 5/5"), "a progress bar: {err}");

    let (code, _, err) = pushrail(&server, "wrong-token", &["status"]);
    assert_eq!(code, 1);
    assert!(err.contains("401: unauthorized"), "{err}");
    let (code, _, err) = pushrail(&server, "cli-token", &["dlq", "list", "nowhere"]);
    assert_eq!(code, 1);
    assert!(err.contains("404: not_found"), "{err}");
    let output = std::process::Command::new(support::BIN)
        .args(["status", "--server", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("cannot reach the Pushrail server at http://127.0.0.1:9")
    );
}
