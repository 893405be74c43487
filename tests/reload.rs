//! Hot reload through the real binary: a changed `.wasm` in the plugin
//! directory is swapped in between batches, with nothing lost or doubled,
//! and a broken one leaves the running version in place.

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::{PLUGIN_DIR, Server, event, eventually, json_lines, post_batch};

/// `component` with a custom section appended: the same behaviour, another hash.
fn with_custom_section(component: &[u8], note: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"pushrail-test";
    let mut contents = Vec::new();
    leb(name.len(), &mut contents);
    contents.extend_from_slice(name);
    contents.extend_from_slice(note.as_bytes());
    let mut out = component.to_vec();
    out.push(0);
    leb(contents.len(), &mut out);
    out.extend_from_slice(&contents);
    out
}

/// Replaces `path` atomically, as an operator's deploy would.
fn install(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The `xform@hash` of each attempt at `local`, in log order.
async fn transform_hashes(server: &Server) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, page) = server
            .get(&format!(
                "/v1/destinations/local/attempts?limit=1000{cursor}"
            ))
            .await;
        for attempt in page["items"].as_array().unwrap() {
            let xform = attempt["plugins"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .find(|p| p.starts_with("xform@"))
                .expect("the transform is in the attempt")
                .to_owned();
            out.push(xform);
        }
        match page["next"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_transform_is_swapped_between_batches_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("xform.wasm");
    let original = std::fs::read(Path::new(PLUGIN_DIR).join("enrich.wasm")).unwrap();
    install(&plugin, &original);
    let rest = format!(
        "[plugins]\ndir = \"{}\"\nwatch_interval = \"100ms\"\n\
         [[destinations]]\nname = \"local\"\nplugin = \"file\"\ntransforms = [\"xform\"]\nbatch = {{ linger = \"5ms\", max_events = 20 }}\n",
        dir.path().display()
    );
    let server = Server::start_with("", &rest).await;
    let (_, status) = server.get("/v1/destinations/local").await;
    let old = status["plugins"][1].as_str().unwrap().to_owned();
    assert!(old.starts_with("xform@"), "{status}");

    // Events flow while the new version is installed.
    let mut posted = Vec::new();
    for round in 0..40 {
        if round == 15 {
            install(&plugin, &with_custom_section(&original, "v2"));
        }
        let events = (0..10)
            .map(|i| event(&format!("acct_{}", i % 3), &format!("r{round}-{i}")))
            .collect();
        posted.extend(post_batch(&server, events).await);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let new = eventually(20, "the new version running", async || {
        let (_, status) = server.get("/v1/destinations/local").await;
        let running = status["plugins"][1].as_str()?.to_owned();
        (running != old).then_some(running)
    })
    .await;
    eventually(30, "all 400 delivered", async || {
        (json_lines(&server, "local.jsonl").len() >= 400).then_some(())
    })
    .await;
    let lines = json_lines(&server, "local.jsonl");
    assert_eq!(lines.len(), 400, "none delivered twice");
    let ids: HashSet<&str> = lines
        .iter()
        .map(|l| l["eventId"].as_str().unwrap())
        .collect();
    let expected: HashSet<&str> = posted.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, expected, "none lost");

    // The attempt log names the version that ran: old ones first, then new ones.
    let hashes = transform_hashes(&server).await;
    assert_eq!(hashes.len(), 400);
    let switch = hashes
        .iter()
        .position(|h| *h == new)
        .expect("some ran on the new version");
    assert!(switch > 0, "some ran on the old version");
    assert!(hashes[..switch].iter().all(|h| *h == old));
    assert!(
        hashes[switch..].iter().all(|h| *h == new),
        "no event went back to the old version"
    );

    // A broken file: refused, recorded, and the running version keeps delivering.
    install(&plugin, b"this is not a component");
    let status = eventually(20, "the refused version reported", async || {
        let (_, status) = server.get("/v1/destinations/local").await;
        status["pluginErrors"].is_array().then_some(status)
    })
    .await;
    assert_eq!(status["pluginErrors"][0]["plugin"], "xform", "{status}");
    assert!(
        status["pluginErrors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly component"),
        "{status}"
    );
    assert_eq!(status["plugins"][1], new.as_str());
    post_batch(&server, vec![event("acct_1", "after-broken")]).await;
    eventually(20, "delivered by the running version", async || {
        (json_lines(&server, "local.jsonl").len() == 401).then_some(())
    })
    .await;
    let hashes = transform_hashes(&server).await;
    assert_eq!(hashes.last(), Some(&new));
}

fn file_destination(name: &str, linger: &str) -> String {
    format!(
        "[[destinations]]\nname = \"{name}\"\nplugin = \"file\"\nbatch = {{ linger = \"{linger}\" }}\n"
    )
}

/// Rewrites the server's config file with `rest` in place of `old_rest`.
fn rewrite(server: &Server, old_rest: &str, rest: &str) {
    let text = std::fs::read_to_string(server.config_path()).unwrap();
    assert!(text.contains(old_rest));
    std::fs::write(server.config_path(), text.replace(old_rest, rest)).unwrap();
}

async fn running(server: &Server) -> Vec<String> {
    let (_, list) = server.get("/v1/destinations").await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn lines_eventually(server: &Server, file: &str, count: usize) -> Vec<Value> {
    eventually(20, &format!("{count} lines in {file}"), async || {
        let lines = json_lines(server, file);
        (lines.len() >= count).then_some(lines)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_reload_adds_removes_and_restarts_destinations_and_refuses_a_bad_file() {
    let first = file_destination("a", "5ms") + &file_destination("b", "5ms");
    let server = Server::start_with("", &first).await;
    let before: Vec<Value> = (0..5)
        .map(|i| event("acct_1", &format!("one-{i}")))
        .collect();
    post_batch(&server, before).await;
    lines_eventually(&server, "a.jsonl", 5).await;
    lines_eventually(&server, "b.jsonl", 5).await;

    // a changes, b goes, c comes.
    let second = file_destination("a", "10ms") + &file_destination("c", "5ms");
    rewrite(&server, &first, &second);
    let (status, report) = server.post("/v1/admin/reload", &Value::Null).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["added"], serde_json::json!(["c"]), "{report}");
    assert_eq!(report["removed"], serde_json::json!(["b"]));
    assert_eq!(report["restarted"], serde_json::json!(["a"]));
    assert_eq!(running(&server).await, ["a", "c"]);

    post_batch(
        &server,
        (0..5)
            .map(|i| event("acct_1", &format!("two-{i}")))
            .collect(),
    )
    .await;
    let a = lines_eventually(&server, "a.jsonl", 10).await;
    let c = lines_eventually(&server, "c.jsonl", 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sequences = |lines: &[Value]| {
        lines
            .iter()
            .map(|l| l["sequence"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sequences(&json_lines(&server, "a.jsonl")),
        (1..=10).collect::<Vec<_>>(),
        "a restarted from its cursor: none twice"
    );
    assert_eq!(
        sequences(&c),
        (1..=10).collect::<Vec<_>>(),
        "a new destination starts at the log's beginning"
    );
    assert_eq!(a.len(), 10);
    assert_eq!(
        json_lines(&server, "b.jsonl").len(),
        5,
        "a removed destination delivers no more"
    );
    let (status, _) = server.get("/v1/destinations/b").await;
    assert_eq!(status, 404);

    // A config with a problem is refused whole; the running one stays.
    let broken =
        file_destination("a", "10ms") + "[[destinations]]\nname = \"d\"\nplugin = \"nope\"\n";
    rewrite(&server, &second, &broken);
    let (status, error) = server.post("/v1/admin/reload", &Value::Null).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["code"], "invalid_config");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no plugin named `nope`"),
        "{error}"
    );
    assert_eq!(running(&server).await, ["a", "c"], "nothing changed");
    std::fs::write(server.config_path(), "this is [not toml").unwrap();
    let (status, error) = server.post("/v1/admin/reload", &Value::Null).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("invalid_config")),
        "{error}"
    );
    assert_eq!(running(&server).await, ["a", "c"]);

    // SIGHUP reloads too.
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\n[storage]\ndata_dir = \"{}\"\n",
        server.port,
        server.data_dir().display()
    );
    text.push_str(&(second.clone() + &file_destination("d", "5ms")));
    std::fs::write(server.config_path(), text).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    eventually(20, "d running after SIGHUP", async || {
        (running(&server).await == ["a", "c", "d"]).then_some(())
    })
    .await;
    lines_eventually(&server, "d.jsonl", 10).await;
}

/// A customer's change starts and stops only the destinations it names.
/// Before, every call also tried again each destination that could not
/// start, one after another under the reload lock: with dozens of them
/// (loading credentials, starting plugins each time) one customer's
/// DELETE waited over 10 s for everybody else's broken destinations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_change_does_not_retry_destinations_that_could_not_start() {
    let first = file_destination("ok", "5ms");
    let server = Server::start_with_env(
        "",
        &first,
        &[
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
        ],
    )
    .await;
    // A Kinesis destination with no region anywhere: a valid config that
    // cannot start.
    let second = format!(
        "{first}[[destinations]]\nname = \"broken\"\nplugin = \"kinesis\"\n[destinations.kinesis]\nstream_name = \"orders\"\nendpoint_url = \"http://127.0.0.1:9\"\n"
    );
    rewrite(&server, &first, &second);
    let (status, report) = server.post("/v1/admin/reload", &Value::Null).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["failed"], json!(["broken"]), "{report}");
    let tries = || {
        server
            .server_log()
            .matches("could not start after the reload")
            .count()
    };
    assert_eq!(tries(), 1);

    // A customer's destination comes, changes and goes, then the customer.
    let (status, customer) = server
        .put("/v1/customers/acct_1", &json!({"name": "one"}))
        .await;
    assert_eq!(status, 201, "{customer}");
    let (status, created) = server
        .post(
            "/v1/customers/acct_1/destinations",
            &json!({"type": "KAFKA", "brokers": ["127.0.0.1:9"], "topic": "t", "auth": {"mode": "NONE"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let path = format!(
        "/v1/customers/acct_1/destinations/{}",
        created["id"].as_str().unwrap()
    );
    let (status, patched) = server.patch(&path, &json!({"topic": "u"})).await;
    assert_eq!(status, 200, "{patched}");
    let (status, deleted) = server.delete(&path).await;
    assert_eq!(status, 200, "{deleted}");
    let (status, created) = server
        .post(
            "/v1/customers/acct_1/destinations",
            &json!({"type": "KAFKA", "brokers": ["127.0.0.1:9"], "topic": "t", "auth": {"mode": "NONE"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, deleted) = server.delete("/v1/customers/acct_1").await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        tries(),
        1,
        "a customer's change tried the operator's broken destination again:\n{}",
        server.server_log()
    );
    // It still shows as failed, with why.
    let (_, status) = server.get("/v1/destinations/broken").await;
    assert_eq!(status["state"], "failed", "{status}");
    assert!(
        status["startError"].as_str().unwrap().contains("region"),
        "{status}"
    );
    // The operator's reload does try it again.
    let (status, report) = server.post("/v1/admin/reload", &Value::Null).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["failed"], json!(["broken"]), "{report}");
    assert_eq!(tries(), 2);
    assert_eq!(running(&server).await, ["ok", "broken"]);
}
