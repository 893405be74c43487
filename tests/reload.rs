//! Hot reload through the real binary: a changed `.wasm` in the plugin
//! directory is swapped in between batches, with nothing lost or doubled,
//! and a broken one leaves the running version in place.

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
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
