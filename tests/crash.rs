//! Crash safety: `kill -9` the real binary under concurrent load; after a
//! restart every event that got a 202 is there with its id and sequence,
//! and the log holds no half-written event. Half the clients post over
//! HTTP/2 (all on one connection), half over HTTP/1.1: a 202 means durable
//! either way.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pushrail::config::{Config, StorageConfig};
use pushrail::log::Log;
use support::{Server, event};
use tokio::sync::Mutex;

const EVENTS: usize = 10_000;
const CLIENTS: usize = 16;
/// Kill once this many events were acknowledged: mid-load.
const KILL_AFTER: usize = 3_000;

/// What a 202 promised: key → (id, sequence).
type Acked = HashMap<String, (String, u64)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_event_survives_kill_9() {
    let mut server = Server::start("").await;
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let url = server.url("/v1/events");
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let h2_acked = Arc::new(AtomicUsize::new(0));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (acked, count, url) = (acked.clone(), count.clone(), url.clone());
            let h2_acked = h2_acked.clone();
            let http = if client % 2 == 0 {
                h2.clone()
            } else {
                reqwest::Client::new()
            };
            tokio::spawn(async move {
                for i in (client..EVENTS).step_by(CLIENTS) {
                    let key = format!("crash-{i}");
                    let body = event(&format!("acct_{}", i % 50), &key);
                    let Ok(response) = http.post(&url).json(&body).send().await else {
                        return; // the server died: this request was never acknowledged
                    };
                    if response.status().as_u16() != 202 {
                        return;
                    }
                    let over_h2 = response.version() == reqwest::Version::HTTP_2;
                    let Ok(answer) = response.json::<serde_json::Value>().await else {
                        return;
                    };
                    let id = answer["id"].as_str().unwrap().to_owned();
                    let sequence = answer["sequence"].as_u64().unwrap();
                    acked.lock().await.insert(key, (id, sequence));
                    count.fetch_add(1, Ordering::Relaxed);
                    if over_h2 {
                        h2_acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    while count.load(Ordering::Relaxed) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill9();
    for client in clients {
        client.await.unwrap();
    }
    let acked = acked.lock().await.clone();
    let over_h2 = h2_acked.load(Ordering::Relaxed);
    assert!(
        over_h2 > 0 && over_h2 < acked.len(),
        "{over_h2} of {} acked over HTTP/2",
        acked.len()
    );
    assert!(
        acked.len() >= KILL_AFTER && acked.len() < EVENTS,
        "killed mid-load: {} acked",
        acked.len()
    );

    // Read the log file directly: every stored event decodes, sequences are
    // dense and increasing, and every id resolves.
    let log = Log::open(&storage(&server)).unwrap();
    let stored = log.read_from(0, EVENTS + 1).unwrap();
    assert!(
        stored.len() >= acked.len(),
        "{} stored < {} acked",
        stored.len(),
        acked.len()
    );
    for (i, record) in stored.iter().enumerate() {
        assert_eq!(record.sequence, i as u64 + 1, "sequences are dense");
        let by_id = log
            .get_by_id(&record.id)
            .unwrap()
            .expect("id index is complete");
        assert_eq!(by_id.sequence, record.sequence);
    }
    let by_key: HashMap<&str, (&str, u64)> = stored
        .iter()
        .map(|r| (r.idempotency_key.as_str(), (r.id.as_str(), r.sequence)))
        .collect();
    for (key, (id, sequence)) in &acked {
        assert_eq!(
            by_key.get(key.as_str()),
            Some(&(id.as_str(), *sequence)),
            "acked {key} lost or changed"
        );
    }
    log.close();
    drop(log);

    // The restarted server serves them, and re-sending an acked event is a duplicate.
    server.restart().await;
    for (key, (id, sequence)) in acked.iter().take(200) {
        let (status, body) = server.get(&format!("/v1/events/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["sequence"], *sequence);
        assert_eq!(body["idempotencyKey"], key.as_str());
    }
    // The idempotency keys of the last events before the kill were only in
    // the writer's memory (merged into the index many at a time): opening
    // the log indexed them again. Every acked key re-sent is a duplicate.
    for (key, (id, sequence)) in acked.iter().take(300) {
        let i: usize = key.trim_start_matches("crash-").parse().unwrap();
        let (status, again) = server
            .post("/v1/events", &event(&format!("acct_{}", i % 50), key))
            .await;
        assert_eq!(status, 202);
        assert_eq!(
            (
                again["id"].as_str(),
                again["sequence"].as_u64(),
                again["duplicate"].as_bool()
            ),
            (Some(id.as_str()), Some(*sequence), Some(true)),
            "{key} re-sent after the crash"
        );
    }
    let (_, fresh) = server
        .post("/v1/events", &event("acct_1", "after-crash"))
        .await;
    assert_eq!(
        fresh["sequence"],
        stored.len() as u64 + 1,
        "sequences continue after the crash"
    );
}

fn storage(server: &Server) -> StorageConfig {
    let mut storage = Config::embedded_default().storage;
    storage.data_dir = server.data_dir();
    storage
}
