//! #13, first part: a destination subscribes to some customers, event types
//! and a filter, and gets nothing else — not by live delivery, not by a
//! replay. Checked from the outside: what landed in each destination's
//! file, and what the API says.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{Server, event, eventually, json_lines, post_batch};

const EVENTS: usize = 300;

/// Three customers, two event types, two regions, interleaved.
fn events() -> Vec<Value> {
    (0..EVENTS)
        .map(|i| {
            let customer = ["acct_a", "acct_b", "acct_c"][i % 3];
            let mut e = event(customer, &format!("k{i}"));
            e["eventType"] = json!(if i % 2 == 0 {
                "order.completed"
            } else {
                "invoice.paid"
            });
            e["metadata"]["region"] = json!(if i % 5 == 0 { "eu-west-1" } else { "us-east-1" });
            e
        })
        .collect()
}

fn destinations() -> String {
    let file = |name: &str, extra: &str| {
        format!(
            "[[destinations]]\nname = \"{name}\"\nplugin = \"file\"\nbatch = {{ linger = \"5ms\" }}\n{extra}\n"
        )
    };
    [
        file("a_feed", "customers = [\"acct_a\"]"),
        file("b_feed", "customers = [\"acct_b\"]"),
        file(
            "eu_orders",
            "event_types = [\"order.*\"]\nfilter = { \"metadata.region\" = { \"$in\" = [\"eu-west-1\"] } }",
        ),
        // Subscribed to a customer that never posts: passes everything over.
        file("quiet", "customers = [\"acct_none\"]"),
    ]
    .concat()
}

/// (sequence, customer, eventType, region) of the lines the file plugin wrote.
fn landed(server: &Server, name: &str) -> Vec<(u64, String, String, String)> {
    json_lines(server, &format!("{name}.jsonl"))
        .iter()
        .map(|l| {
            (
                l["sequence"].as_u64().unwrap(),
                l["customerExternalId"].as_str().unwrap().to_owned(),
                l["eventType"].as_str().unwrap().to_owned(),
                l["metadata"]["region"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn caught_up(server: &Server, names: &[&str]) {
    for name in names {
        eventually(30, &format!("{name} caught up"), async || {
            let (_, status) = server.get(&format!("/v1/destinations/{name}")).await;
            (status["lagEvents"] == 0).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn each_destination_gets_only_the_events_it_subscribes_to() {
    let server = Server::start_with("", &destinations()).await;
    let posted = post_batch(&server, events()).await;
    // Lag reaches 0 for every destination, also for those whose last
    // events were all passed over (the cursor moves without a batch).
    caught_up(&server, &["a_feed", "b_feed", "eu_orders", "quiet"]).await;

    let a = landed(&server, "a_feed");
    assert_eq!(a.len(), EVENTS / 3);
    assert!(
        a.iter().all(|(_, c, _, _)| c == "acct_a"),
        "only acct_a: {a:?}"
    );
    assert!(a.windows(2).all(|w| w[0].0 < w[1].0), "in log order");
    let b = landed(&server, "b_feed");
    assert_eq!(b.len(), EVENTS / 3);
    assert!(
        b.iter().all(|(_, c, _, _)| c == "acct_b"),
        "only acct_b: {b:?}"
    );
    let eu = landed(&server, "eu_orders");
    let expected: Vec<u64> = (0..EVENTS)
        .filter(|i| i % 2 == 0 && i % 5 == 0)
        .map(|i| i as u64 + 1)
        .collect();
    assert_eq!(
        eu.iter().map(|l| l.0).collect::<Vec<_>>(),
        expected,
        "order.* in eu-west-1 only"
    );
    assert!(landed(&server, "quiet").is_empty());

    // Passed-over events leave no attempt at the destinations that passed them over.
    let c_event = posted[2]["id"].as_str().unwrap();
    let (_, attempts) = server.get(&format!("/v1/events/{c_event}/attempts")).await;
    let at: BTreeSet<&str> = attempts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["destination"].as_str().unwrap())
        .collect();
    assert!(
        !at.contains("a_feed") && !at.contains("b_feed"),
        "{attempts}"
    );

    // A replay of the whole log sends a_feed only acct_a's events again;
    // the others count as filtered.
    let (status, started) = server
        .post(
            "/v1/destinations/a_feed/replay",
            &json!({"fromSequence": 1}),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    let done = eventually(30, "the replay done", async || {
        let (_, s) = server.get(&format!("/v1/replays/{id}")).await;
        (s["state"] == "done").then_some(s)
    })
    .await;
    assert_eq!(done["delivered"], EVENTS / 3, "{done}");
    assert_eq!(done["filtered"], EVENTS - EVENTS / 3, "{done}");
    let a = landed(&server, "a_feed");
    assert_eq!(a.len(), 2 * EVENTS / 3);
    assert!(
        a.iter().all(|(_, c, _, _)| c == "acct_a"),
        "a replay sent another customer's event"
    );

    // A dry run shows which events b_feed would pass over, with nothing to send.
    let (status, dry) = server
        .post(
            "/v1/destinations/b_feed/replay",
            &json!({"fromSequence": 1, "dryRun": true, "limit": 3}),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    let items = dry["items"].as_array().unwrap();
    assert_eq!(
        items[1]["records"].as_array().unwrap().len(),
        1,
        "acct_b's: {dry}"
    );
    for passed in [&items[0], &items[2]] {
        assert!(passed["records"].as_array().unwrap().is_empty(), "{dry}");
        assert!(
            passed["error"]
                .as_str()
                .unwrap()
                .contains("not for this destination")
        );
    }
}

#[tokio::test]
async fn a_bad_filter_is_a_config_error_that_names_where() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pushrail.toml");
    std::fs::write(
        &config,
        "[[destinations]]\nname = \"x\"\nplugin = \"file\"\nfilter = { \"metadata.region\" = { \"$near\" = 1 } }\n",
    )
    .unwrap();
    let output = std::process::Command::new(support::BIN)
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("destinations[0].filter: metadata.region.$near"),
        "{stdout}{stderr}"
    );
}
