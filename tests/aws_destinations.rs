//! The built-in `eventbridge` and `sqs` destinations (#14), written only
//! against the host's signed `aws.call`, against moto's EventBridge, SQS
//! and STS, read back with boto3. A proxy in front of moto fails chosen
//! entries the way AWS reports a partial failure
//! (tests/support/aws_proxy.rs) and records every request, whose SigV4
//! signature botocore's signer recomputes.

mod support;

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use support::aws_proxy::{AwsProxy, EntryRule};
use support::moto::Moto;
use support::{Server, boto, event, eventually, post_batch};

const STATIC_AUTH: &str = r#"auth = { mode = "static", access_key_id = "AKIDPUSHRAIL", secret_access_key = "pushrail-test-secret" }"#;

/// Fails an entry whose event payload says so: `failOnce` (retryable, the
/// first time it is seen) or `reject` (for good).
fn scripted_failures() -> EntryRule {
    Box::new(|entry: &Value, seen: u32| {
        let text = entry["Detail"]
            .as_str()
            .or_else(|| entry["MessageBody"].as_str())?;
        let event: Value = serde_json::from_str(text).ok()?;
        let payload = &event["payload"];
        if payload["reject"] == true {
            Some(false)
        } else if payload["failOnce"] == true && seen == 0 {
            Some(true)
        } else {
            None
        }
    })
}

fn destination(
    name: &str,
    plugin: &str,
    config: &str,
    endpoint: &str,
    target: &str,
    auth: &str,
) -> String {
    format!(
        r#"
[[destinations]]
name = "{name}"
plugin = "{plugin}"
partition_key = "customerExternalId"
config = {config}
batch = {{ linger = "20ms", max_events = 50 }}
retry = {{ initial_wait = "50ms", backoff = "constant", jitter = false }}
[destinations.aws]
region = "us-east-1"
endpoint_url = "{endpoint}"
targets = ["{target}"]
{auth}
"#
    )
}

fn events(keys: usize, per_key: usize, special: &[(usize, Value)]) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..per_key {
        for k in 0..keys {
            let mut e = event(&format!("acct_{k}"), &format!("e{k}-{i}"));
            if let Some((_, extra)) = special.iter().find(|(at, _)| *at == out.len()) {
                for (name, value) in extra.as_object().unwrap() {
                    e["payload"][name] = value.clone();
                }
            }
            out.push(e);
        }
    }
    out
}

/// Receives (and deletes) messages from `queue` until `count` came: each
/// with its body, FIFO group and deduplication ids, and `eventType`
/// attribute, as boto3 reads them.
async fn drain_queue(moto: &Moto, queue: &str, count: usize) -> Vec<Value> {
    let read = r#"
sqs = boto3.client("sqs", **kw)
out = []
while True:
    got = sqs.receive_message(QueueUrl=args["queue"], MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
    if not got:
        break
    for m in got:
        a, attributes = m.get("Attributes", {}), m.get("MessageAttributes", {})
        out.append({"body": m["Body"], "group": a.get("MessageGroupId"), "dedup": a.get("MessageDeduplicationId"),
                    "eventType": attributes.get("eventType", {}).get("StringValue")})
        sqs.delete_message(QueueUrl=args["queue"], ReceiptHandle=m["ReceiptHandle"])
"#;
    let mut landed = Vec::new();
    eventually(60, &format!("{count} messages in {queue}"), async || {
        let got = boto::run(&moto.url(), read, &json!({"queue": queue}));
        landed.extend(got.as_array().unwrap().iter().cloned());
        (landed.len() >= count).then_some(())
    })
    .await;
    landed
}

/// botocore's SigV4 signer recomputes the signature of every recorded
/// request from the same secret, time and signed headers: ours must equal it.
fn assert_signatures_verify(moto: &Moto, proxy: &AwsProxy, secret: &str) {
    let requests: Vec<Value> = proxy
        .requests()
        .iter()
        .map(|r| {
            json!({
                "headers": r.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
                "body": String::from_utf8_lossy(&r.body),
            })
        })
        .collect();
    let checked = boto::run(
        &moto.url(),
        r#"
import re
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
out = []
for r in args["requests"]:
    h = {n.lower(): v for n, v in r["headers"]}
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d+)/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=(\w+)", h["authorization"])
    key, day, region, service, signed, ours = m.groups()
    signed_headers = {n: h[n] for n in signed.split(";")}
    req = AWSRequest(method="POST", url=args["url"] + "/", data=r["body"].encode(), headers=signed_headers)
    req.context["timestamp"] = h["x-amz-date"]
    auth = SigV4Auth(Credentials(key, args["secret"]), service, region)
    theirs = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
    out.append({"service": service, "ours": ours, "botocore": theirs})
"#,
        &json!({"requests": requests, "secret": secret, "url": proxy.url()}),
    );
    let checked = checked.as_array().unwrap();
    assert!(!checked.is_empty());
    for c in checked {
        assert_eq!(c["ours"], c["botocore"], "{c}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_puts_each_event_once_and_retries_a_failed_entry_alone() {
    let moto = Moto::start().await;
    let setup = boto::run(
        &moto.url(),
        r#"
sqs = boto3.client("sqs", **kw); ev = boto3.client("events", **kw)
q = sqs.create_queue(QueueName="bus-target")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
ev.create_event_bus(Name="acme")
ev.put_rule(Name="all", EventBusName="acme", EventPattern=json.dumps({"source": ["billing-service"]}))
ev.put_targets(Rule="all", EventBusName="acme", Targets=[{"Id": "q", "Arn": arn}])
out = q
"#,
        &json!({}),
    );
    let queue = setup.as_str().unwrap().to_owned();
    let proxy = AwsProxy::start(&moto.url(), scripted_failures()).await;
    let config = destination(
        "bus",
        "eventbridge",
        r#"{ event_bus_name = "acme" }"#,
        &proxy.url(),
        "AWSEvents.PutEvents",
        STATIC_AUTH,
    );
    let server = Server::start_with("", &config).await;
    let special = [
        (4, json!({"failOnce": true})),
        (9, json!({"reject": true})),
        (17, json!({"failOnce": true})),
    ];
    let posted = post_batch(&server, events(3, 10, &special)).await;
    let ids: Vec<String> = posted
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();

    let landed: Vec<Value> = drain_queue(&moto, &queue, 29)
        .await
        .into_iter()
        .map(|m| serde_json::from_str(m["body"].as_str().unwrap()).unwrap())
        .collect();
    let mut by_id: HashMap<String, Value> = HashMap::new();
    for e in &landed {
        assert_eq!(e["source"], "billing-service");
        assert_eq!(e["detail-type"], "order.completed");
        let id = e["detail"]["eventId"].as_str().unwrap().to_owned();
        assert!(by_id.insert(id, e.clone()).is_none(), "twice: {e}");
    }
    let expected: HashSet<&String> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 9)
        .map(|(_, id)| id)
        .collect();
    assert_eq!(by_id.keys().collect::<HashSet<_>>(), expected);

    // The retried entries: throttled once, then delivered alone with the
    // EventBridge id the bus's target saw.
    for at in [4, 17] {
        let tried = server.attempts_until_delivered(&ids[at]).await;
        assert_eq!(tried[0]["errorCode"], "ThrottlingException", "{tried:?}");
        let delivered = tried.iter().find(|a| a["outcome"] == "delivered").unwrap();
        assert_eq!(
            delivered["coordinates"]["eventBridgeId"],
            by_id[&ids[at]]["id"]
        );
    }
    let (_, dlq) = server.get("/v1/destinations/bus/dlq").await;
    assert_eq!(dlq["items"].as_array().unwrap().len(), 1, "{dlq}");
    assert_eq!(dlq["items"][0]["eventId"], json!(ids[9]));
    assert_eq!(dlq["items"][0]["errorCode"], "InvalidArgument");

    // Calls of at most 10 entries. EventBridge keeps no order, so calls
    // are packed freely, but each key's events are first sent in log
    // order, and nothing of a key goes while its failed event waits.
    let rank: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let calls: Vec<Vec<Value>> = proxy
        .requests()
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["Entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap())
                .collect()
        })
        .collect();
    let mut first_sent = HashSet::new();
    let mut last: HashMap<String, usize> = HashMap::new();
    for call in &calls {
        assert!(call.len() <= 10);
        for e in call {
            let id = e["eventId"].as_str().unwrap();
            if first_sent.insert(id.to_owned()) {
                let key = e["customerExternalId"].as_str().unwrap().to_owned();
                if let Some(before) = last.insert(key.clone(), rank[id]) {
                    assert!(
                        before < rank[id],
                        "{key}: {before} first sent after {}",
                        rank[id]
                    );
                }
            }
        }
    }
    for at in [4, 17] {
        let key = format!("acct_{}", at % 3);
        let with = |c: &Vec<Value>| c.iter().any(|e| e["eventId"] == json!(ids[at]));
        let failed = calls.iter().position(with).unwrap();
        let retried = failed + 1 + calls[failed + 1..].iter().position(with).unwrap();
        for call in &calls[failed + 1..retried] {
            assert!(
                call.iter().all(|e| e["customerExternalId"] != json!(key)),
                "{key} sent while event {at} waited for its retry"
            );
        }
    }
    assert_signatures_verify(&moto, &proxy, "pushrail-test-secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_fifo_keeps_each_key_in_order_with_its_group_and_dedup_ids() {
    let moto = Moto::start().await;
    let queue = boto::run(
        &moto.url(),
        r#"out = boto3.client("sqs", **kw).create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]"#,
        &json!({}),
    );
    let queue = queue.as_str().unwrap().to_owned();
    let proxy = AwsProxy::start(&moto.url(), scripted_failures()).await;
    let config = destination(
        "queue",
        "sqs",
        &format!(r#"{{ queue_url = "{queue}" }}"#),
        &proxy.url(),
        "AmazonSQS.SendMessageBatch",
        STATIC_AUTH,
    );
    let server = Server::start_with("", &config).await;
    let special = [
        (5, json!({"failOnce": true})),
        (22, json!({"failOnce": true})),
    ];
    let posted = post_batch(&server, events(4, 10, &special)).await;
    let ids: Vec<String> = posted
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();

    let landed: Vec<Value> = drain_queue(&moto, &queue, 40)
        .await
        .into_iter()
        .map(|mut m| {
            m["body"] = serde_json::from_str(m["body"].as_str().unwrap()).unwrap();
            m
        })
        .collect();
    let rank: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut seen = HashSet::new();
    let mut per_group: HashMap<String, Vec<usize>> = HashMap::new();
    for m in &landed {
        let id = m["body"]["eventId"].as_str().unwrap();
        assert!(seen.insert(id.to_owned()), "twice: {id}");
        assert_eq!(m["dedup"], json!(id), "dedup id is the event id");
        assert_eq!(
            m["group"], m["body"]["customerExternalId"],
            "group is the key"
        );
        assert_eq!(m["eventType"], "order.completed");
        per_group
            .entry(m["group"].as_str().unwrap().to_owned())
            .or_default()
            .push(rank[id]);
    }
    assert_eq!(seen.len(), 40);
    for (group, order) in &per_group {
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{group}: {order:?}");
    }
    // One message per group per call, so a failed one is never overtaken.
    for call in proxy.forwarded() {
        let groups: HashSet<&str> = call
            .iter()
            .map(|m| m["MessageGroupId"].as_str().unwrap())
            .collect();
        assert_eq!(groups.len(), call.len(), "{call:?}");
    }
    let tried = server.attempts_until_delivered(&ids[5]).await;
    assert_eq!(tried[0]["errorCode"], "InternalError", "{tried:?}");
    let delivered = tried.iter().find(|a| a["outcome"] == "delivered").unwrap();
    assert!(
        delivered["coordinates"]["sequenceNumber"].is_string(),
        "{delivered}"
    );
    assert_signatures_verify(&moto, &proxy, "pushrail-test-secret");
}

/// With `assume_role` the calls are signed with the role's short-lived
/// credentials from moto's STS (access keys `ASIA…`), never the caller's
/// own; an operation outside `targets` is refused in the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_signs_with_the_roles_credentials_and_targets_bound_the_calls() {
    let moto = Moto::start().await;
    let queue = boto::run(
        &moto.url(),
        r#"out = boto3.client("sqs", **kw).create_queue(QueueName="plain")["QueueUrl"]"#,
        &json!({}),
    );
    let queue = queue.as_str().unwrap().to_owned();
    let proxy = AwsProxy::start(&moto.url(), Box::new(|_, _| None)).await;
    let assume = format!(
        r#"auth = {{ mode = "assume_role", role_arn = "arn:aws:iam::123456789012:role/pushrail", external_id = "ext-42", sts_endpoint_url = "{}" }}"#,
        moto.url()
    );
    let config = destination(
        "roled",
        "sqs",
        &format!(r#"{{ queue_url = "{queue}" }}"#),
        &proxy.url(),
        "AmazonSQS.SendMessageBatch",
        &assume,
    ) + &destination(
        "wrong-target",
        "sqs",
        &format!(r#"{{ queue_url = "{queue}" }}"#),
        &proxy.url(),
        "AmazonSQS.SendMessage",
        STATIC_AUTH,
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDCALLER"),
        ("AWS_SECRET_ACCESS_KEY", "caller-secret"),
        ("AWS_REGION", "us-east-1"),
    ];
    let server = Server::start_with_env("", &config, &env).await;
    let posted = post_batch(
        &server,
        (0..5).map(|i| event("acct_r", &format!("r{i}"))).collect(),
    )
    .await;
    let count = r#"
sqs = boto3.client("sqs", **kw)
out = int(sqs.get_queue_attributes(QueueUrl=args["queue"], AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
"#;
    eventually(60, "5 messages", async || {
        let n = boto::run(&moto.url(), count, &json!({"queue": queue}))
            .as_u64()
            .unwrap();
        (n >= 5).then_some(())
    })
    .await;
    let keys: HashSet<String> = proxy
        .requests()
        .iter()
        .filter_map(|r| {
            let auth = r
                .headers
                .iter()
                .find(|(n, _)| n == "authorization")?
                .1
                .clone();
            let key = auth
                .split("Credential=")
                .nth(1)?
                .split('/')
                .next()?
                .to_owned();
            Some(key)
        })
        .collect();
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(
            key.starts_with("ASIA"),
            "signed with {key}, not the role's credentials"
        );
    }
    // The destination whose targets do not name SendMessageBatch: refused
    // in the host, never sent, dead-lettered with the reason.
    let dead = eventually(30, "5 dead letters", async || {
        let (_, body) = server.get("/v1/destinations/wrong-target/dlq").await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (items.len() >= 5).then_some(items)
    })
    .await;
    assert_eq!(dead[0]["errorCode"], "aws_denied");
    assert!(
        dead[0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("not among the destination's aws.targets"),
        "{}",
        dead[0]
    );
    assert_eq!(posted.len(), 5);
}
