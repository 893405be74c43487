//! The destination pages' JSON read as configs: fields, problems, secrets.
use serde_json::json;

use super::*;
use crate::config::{AwsAuth, KinesisStream};

const EXTERNAL: &str = "pr-abc";
/// The plugins this server offers customers.
const PLUGINS: &[String] = &[];

/// No network opened to every customer (`plugins.customer_network` unset).
static NETWORK: std::sync::LazyLock<crate::sinks::network::NetworkConfig> =
    std::sync::LazyLock::new(Default::default);

fn offer(plugins: &[String]) -> CustomerOffer<'_> {
    CustomerOffer {
        plugins,
        network: &NETWORK,
    }
}

fn offering(plugins: &[&str]) -> Vec<String> {
    plugins.iter().map(|p| (*p).to_owned()).collect()
}

fn keyring() -> Keyring {
    use base64::Engine;
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
    Keyring::new("k", &[("k".into(), crate::config::Secret::new(key))]).unwrap()
}

fn read(spec: Value) -> Result<DestinationConfig, Vec<SpecProblem>> {
    let Value::Object(mut spec) = spec else {
        return customer_destination(
            "acct_a",
            EXTERNAL,
            "dst_01ABC",
            &spec,
            &keyring(),
            offer(PLUGINS),
        );
    };
    seal_secrets(&mut spec, &keyring(), "acct_a", "dst_01ABC").map_err(|p| vec![p])?;
    customer_destination(
        "acct_a",
        EXTERNAL,
        "dst_01ABC",
        &Value::Object(spec),
        &keyring(),
        offer(PLUGINS),
    )
}

fn field(spec: Value) -> String {
    read(spec).unwrap_err()[0].field.clone()
}

#[test]
fn the_page_json_of_a_kinesis_stream() {
    let d = read(json!({"type": "KINESIS", "name": "Customer Kinesis stream",
        "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/pushrail-events",
        "partitionKey": "customerExternalId", "aggregation": true, "aggregationMaxBytes": 51200,
        "auth": {"mode": "ASSUME_ROLE", "roleArn": "arn:aws:iam::123456789012:role/PushrailKinesisWriter",
                 "externalId": EXTERNAL}}))
    .unwrap();
    assert_eq!(d.name, "dst_01abc");
    assert_eq!(d.plugin, "kinesis");
    assert_eq!(d.subscription.customers, ["acct_a"]);
    let k = d.kinesis.unwrap();
    assert_eq!(k.region.as_deref(), Some("us-east-1"), "from the ARN");
    assert!(matches!(k.stream, KinesisStream::Arn(_)));
    assert_eq!(k.aggregation, Some(51200));
    match k.auth {
        AwsAuth::AssumeRole { external_id, .. } => {
            assert_eq!(external_id.unwrap().expose(), EXTERNAL);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_page_json_of_a_kafka_topic() {
    let d = read(json!({"type": "KAFKA", "name": "Customer Kafka cluster",
        "brokers": ["kafka-0.acme.example:9094"], "topic": "pushrail.events.v1",
        "partitionKey": "customerExternalId", "auth": {"mode": "NONE", "tls": true},
        "producer": {"lingerMs": 100, "batchSizeBytes": 1048576, "acks": "all"}}))
    .unwrap();
    let k = d.kafka.unwrap();
    assert_eq!(k.topic, "pushrail.events.v1");
    assert!(k.tls.is_some());
    assert_eq!(k.producer.linger, std::time::Duration::from_millis(100));
}

#[test]
fn problems_name_the_json_field() {
    let kinesis = |auth: Value| json!({"type": "KINESIS", "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/s", "auth": auth});
    let role = "arn:aws:iam::123456789012:role/w";
    assert_eq!(field(json!({"type": "SQS"})), "type");
    assert_eq!(
        field(kinesis(json!({"mode": "ASSUME_ROLE"}))),
        "auth.roleArn"
    );
    assert_eq!(
        field(kinesis(json!({"mode": "ASSUME_ROLE", "roleArn": "r"}))),
        "auth.roleArn"
    );
    assert_eq!(
        field(kinesis(
            json!({"mode": "ACCESS_KEY", "accessKeyId": "AKIA1"})
        )),
        "auth.secretAccessKey"
    );
    assert_eq!(
        field(kinesis(
            json!({"mode": "ASSUME_ROLE", "roleArn": role, "color": 1})
        )),
        "auth.color"
    );
    let with = |field: &str, value: Value| {
        let mut spec = kinesis(json!({"mode": "ASSUME_ROLE", "roleArn": role}));
        spec[field] = value;
        spec
    };
    assert_eq!(field(with("aggregation", json!("yes"))), "aggregation");
    // Without a region (or with one that cannot be a host name) the
    // stream cannot be reached: refused here, not failed at start.
    for arn in [
        "arn:aws:kinesis::123456789012:stream/s",
        "arn:aws:kinesis:US East:123456789012:stream/s",
    ] {
        assert_eq!(field(with("streamArn", json!(arn))), "streamArn", "{arn}");
    }
    assert_eq!(
        field(with("aggregationMaxBytes", json!(2 << 20))),
        "aggregationMaxBytes"
    );
    // A customer cannot choose another external ID: it is replaced.
    let chosen = read(kinesis(
        json!({"mode": "ASSUME_ROLE", "roleArn": role, "externalId": "mine"}),
    ));
    match chosen.unwrap().kinesis.unwrap().auth {
        AwsAuth::AssumeRole { external_id, .. } => {
            assert_eq!(external_id.unwrap().expose(), EXTERNAL);
        }
        other => panic!("{other:?}"),
    }
    let kafka = |extra: Value| {
        let mut spec = json!({"type": "KAFKA", "brokers": ["b:9092"], "topic": "t"});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        spec
    };
    assert_eq!(field(kafka(json!({"topic": "bad topic!"}))), "topic");
    assert_eq!(field(kafka(json!({"brokers": ["b:99999"]}))), "brokers");
    assert_eq!(
        field(kafka(json!({"producer": {"acks": "some"}}))),
        "producer.acks"
    );
    assert_eq!(
        field(kafka(json!({"producer": {"lingerMs": "100"}}))),
        "producer.lingerMs",
        "the API takes JSON types strictly"
    );
    assert_eq!(field(kafka(json!({"filter": {"x": 1}}))), "filter.x");
    assert_eq!(
        field(kafka(
            json!({"filter": {"$or": [{"payload.n": {"$gt": true}}]}})
        )),
        "filter.$or[0].payload.n.$gt"
    );
    assert_eq!(field(kafka(json!({"filter": []}))), "filter");
}

#[test]
fn a_filter_is_read_from_the_json_itself() {
    use pushrail_event::Filter;
    let filter = json!({"metadata.region": {"$in": ["eu-west-1"]}, "payload.coupon": null});
    let d = read(json!({"type": "KAFKA", "brokers": ["b:9092"], "topic": "t", "filter": filter}))
        .unwrap();
    // `null` stays null (TOML has none).
    assert_eq!(d.subscription.filter, Some(Filter::parse(&filter).unwrap()));
    assert_eq!(d.subscription.customers, ["acct_a"]);
}

#[test]
fn secrets_are_sealed_opened_in_place_and_never_shown() {
    let mut spec = json!({"type": "KAFKA", "brokers": ["b:9092"], "topic": "t",
        "auth": {"mode": "SASL_SCRAM_SHA_512", "username": "u", "password": "hunter2", "tls": true}})
    .as_object()
    .unwrap()
    .clone();
    seal_secrets(&mut spec, &keyring(), "acct_a", "dst_1").unwrap();
    let stored = Value::Object(spec);
    assert!(!stored.to_string().contains("hunter2"), "{stored}");
    let d = customer_destination(
        "acct_a",
        EXTERNAL,
        "dst_1",
        &stored,
        &keyring(),
        offer(PLUGINS),
    )
    .unwrap();
    match d.kafka.unwrap().auth {
        crate::config::KafkaAuth::SaslScram { password, .. } => {
            assert_eq!(password.expose(), "hunter2")
        }
        other => panic!("{other:?}"),
    }
    // The same stored JSON under another destination id does not open.
    let moved = customer_destination(
        "acct_a",
        EXTERNAL,
        "dst_2",
        &stored,
        &keyring(),
        offer(PLUGINS),
    );
    assert_eq!(moved.unwrap_err()[0].field, "auth.password");
    let shown = redacted(&stored);
    assert_eq!(shown["auth"]["passwordSet"], true);
    assert!(shown["auth"].get("password").is_none());
}

#[test]
fn an_oauth_bearer_token_is_a_sealed_secret_with_its_principal_and_lifetime() {
    let spec = json!({"type": "KAFKA", "brokers": ["b:9092"], "topic": "t",
        "auth": {"mode": "SASL_OAUTHBEARER", "token": "eyJ.bearer", "principal": "svc-pushrail",
                 "tokenLifetimeSeconds": 900, "tls": true}});
    let mut sealed = spec.as_object().unwrap().clone();
    seal_secrets(&mut sealed, &keyring(), "acct_a", "dst_01ABC").unwrap();
    assert!(
        !Value::Object(sealed.clone())
            .to_string()
            .contains("eyJ.bearer")
    );
    assert_eq!(redacted(&Value::Object(sealed))["auth"]["tokenSet"], true);
    let d = read(spec).unwrap();
    let kafka = d.kafka.unwrap();
    assert!(kafka.tls.is_some());
    match kafka.auth {
        crate::config::KafkaAuth::SaslOauthbearer {
            token: crate::config::OauthToken::Value(token),
            principal,
            lifetime,
        } => {
            assert_eq!(token.expose(), "eyJ.bearer");
            assert_eq!(principal, "svc-pushrail");
            assert_eq!(lifetime, std::time::Duration::from_secs(900));
        }
        other => panic!("{other:?}"),
    }
    let oauth =
        |auth: Value| json!({"type": "KAFKA", "brokers": ["b:9092"], "topic": "t", "auth": auth});
    assert_eq!(
        field(oauth(json!({"mode": "SASL_OAUTHBEARER"}))),
        "auth.token"
    );
    assert_eq!(
        field(oauth(
            json!({"mode": "SASL_OAUTHBEARER", "token": "t", "tokenLifetimeSeconds": 5})
        )),
        "auth.tokenLifetimeSeconds"
    );
    // A file on the server is the operator's to name, never a customer's.
    assert_eq!(
        field(oauth(
            json!({"mode": "SASL_OAUTHBEARER", "tokenFile": "/etc/shadow"})
        )),
        "auth.tokenFile"
    );
}

#[test]
fn a_customers_strings_never_expand_the_servers_environment() {
    let d = read(json!({"type": "KAFKA", "brokers": ["b:9092"], "topic": "t",
        "eventTypes": ["${HOME}"]}))
    .unwrap();
    assert_eq!(d.subscription.event_types, ["${HOME}"]);
}

#[test]
fn a_plugin_destination_takes_an_offered_plugin_its_config_and_sealed_secrets() {
    let spec = json!({"type": "PLUGIN", "plugin": "webhook", "config": {"url": "https://hooks.acme.example/in", "n": null},
        "secrets": {"signingSecret": "whsec_c2VjcmV0", "api-key_2": "k-123"}, "eventTypes": ["order.*"]});
    let offered = offering(&["webhook", "sqs"]);
    let mut sealed = spec.as_object().unwrap().clone();
    seal_secrets(&mut sealed, &keyring(), "acct_a", "dst_p").unwrap();
    let stored = Value::Object(sealed);
    for plain in ["whsec_c2VjcmV0", "k-123"] {
        assert!(!stored.to_string().contains(plain), "{stored}");
    }
    let shown = redacted(&stored);
    assert_eq!(shown["secretsSet"], json!(["api-key_2", "signingSecret"]));
    assert!(shown.get("secrets").is_none());
    let d = customer_destination(
        "acct_a",
        EXTERNAL,
        "dst_p",
        &stored,
        &keyring(),
        offer(&offered),
    )
    .unwrap();
    assert_eq!(d.plugin, "webhook");
    assert_eq!(d.config, spec["config"], "as sent, null and all");
    assert_eq!(d.secrets["signingSecret"].expose(), "whsec_c2VjcmV0");
    assert_eq!(d.secrets["api-key_2"].expose(), "k-123");
    assert_eq!(d.subscription.customers, ["acct_a"]);
    // The plugin itself is never handed a secret.
    let settings = d.plugin_settings().to_string();
    assert!(
        !settings.contains("whsec_c2VjcmV0") && !settings.contains("k-123"),
        "{settings}"
    );
    // A secret moved to another name does not open.
    let mut moved = stored.clone();
    let sealed_value = moved["secrets"]["signingSecret"].take();
    moved["secrets"]["other"] = sealed_value;
    moved["secrets"]
        .as_object_mut()
        .unwrap()
        .remove("signingSecret");
    let err = customer_destination(
        "acct_a",
        EXTERNAL,
        "dst_p",
        &moved,
        &keyring(),
        offer(&offered),
    )
    .unwrap_err();
    assert_eq!(err[0].field, "secrets.other");

    let problem = |spec: Value, plugins: &[String]| {
        customer_destination(
            "acct_a",
            EXTERNAL,
            "dst_p",
            &spec,
            &keyring(),
            offer(plugins),
        )
        .unwrap_err()[0]
            .clone()
    };
    let refused = problem(json!({"type": "PLUGIN", "plugin": "misbehave"}), &offered);
    assert_eq!(refused.field, "plugin");
    assert!(
        refused.message.contains("webhook, sqs"),
        "{}",
        refused.message
    );
    let none = problem(json!({"type": "PLUGIN", "plugin": "webhook"}), &[]);
    assert!(
        none.message.contains("plugins.customer_plugins"),
        "{}",
        none.message
    );
    assert_eq!(problem(json!({"type": "PLUGIN"}), &offered).field, "plugin");
    assert_eq!(
        problem(
            json!({"type": "PLUGIN", "plugin": "webhook", "secrets": {"bad name": "x"}}),
            &offered
        )
        .field,
        "secrets.bad name"
    );
    assert_eq!(
        problem(
            json!({"type": "PLUGIN", "plugin": "webhook", "secrets": {"n": 5}}),
            &offered
        )
        .field,
        "secrets.n"
    );
    assert_eq!(
        problem(
            json!({"type": "PLUGIN", "plugin": "webhook", "config": []}),
            &offered
        )
        .field,
        "config"
    );
    // Host capabilities are the operator's to grant, never a customer's.
    assert_eq!(
        problem(
            json!({"type": "PLUGIN", "plugin": "webhook", "file": {"path": "/etc/passwd"}}),
            &offered
        )
        .field,
        "file"
    );
}

/// #14: a customer's webhook reaches the origin of its own URL (at public
/// addresses only) and the operator's shared origins, within the
/// operator's limits; its rotation's end is `signing.previousExpiresAt`.
#[test]
fn a_plugin_destination_reaches_its_own_urls_origin() {
    let offered = offering(&["webhook"]);
    let mut template = crate::sinks::network::NetworkConfig {
        max_in_flight: 4,
        ..Default::default()
    };
    template
        .policy
        .allow
        .push(crate::sinks::network::Origin::parse("http://127.0.0.1:9000").unwrap());
    let offer = CustomerOffer {
        plugins: &offered,
        network: &template,
    };
    let read = |spec: Value| {
        let Value::Object(mut spec) = spec else {
            unreachable!("an object")
        };
        seal_secrets(&mut spec, &keyring(), "acct_a", "dst_w").map_err(|p| vec![p])?;
        customer_destination(
            "acct_a",
            EXTERNAL,
            "dst_w",
            &Value::Object(spec),
            &keyring(),
            offer,
        )
    };
    let d = read(json!({"type": "PLUGIN", "plugin": "webhook",
        "config": {"url": "https://hooks.customer.example/in"},
        "secrets": {"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "previous_signing_secret": "whsec_c2Vjb25kIHNlY3JldCBvZiAyNCBieXRlcyE="},
        "signing": {"previousExpiresAt": "2026-12-02T09:00:00Z"}}))
    .unwrap();
    let network = d.network.unwrap();
    assert_eq!(network.max_in_flight, 4, "the operator's limits");
    assert_eq!(network.policy.allow, template.policy.allow);
    assert_eq!(
        network.policy.allow_public,
        [crate::sinks::network::Origin::parse("https://hooks.customer.example").unwrap()]
    );
    assert!(d.signing.previous_expires_at.is_some());

    let problem = |spec: Value| read(spec).unwrap_err().remove(0);
    let bad_url = problem(
        json!({"type": "PLUGIN", "plugin": "webhook", "config": {"url": "https://*.x.example/"}}),
    );
    assert_eq!(bad_url.field, "config.url");
    let bad_time = problem(
        json!({"type": "PLUGIN", "plugin": "webhook", "config": {"url": "https://h.example/"},
        "signing": {"previousExpiresAt": "soon"}}),
    );
    assert_eq!(bad_time.field, "signing.previousExpiresAt", "{bad_time:?}");
    let unknown =
        problem(json!({"type": "PLUGIN", "plugin": "webhook", "signing": {"previous": "x"}}));
    assert_eq!(unknown.field, "signing.previous");
}
