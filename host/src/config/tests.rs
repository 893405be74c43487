use std::time::Duration;

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("t0ken".into()),
        "EMPTY" => Some(String::new()),
        "PORT_ADDR" => Some("0.0.0.0:9000".into()),
        "RETRIES" => Some("3".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, "test.toml", &env)
}

/// Every problem of an invalid config, as "path: message" lines.
fn problems(text: &str) -> Vec<String> {
    match parse(text) {
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.iter().map(ToString::to_string).collect()
        }
        other => panic!("expected problems, got {other:?}"),
    }
}

fn has(problems: &[String], path: &str, needle: &str) -> bool {
    problems
        .iter()
        .any(|p| p.starts_with(&format!("{path}: ")) && p.contains(needle))
}

#[test]
fn empty_config_is_the_embedded_default() {
    let config = parse("").unwrap();
    assert_eq!(config.server.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.storage.data_dir, PathBuf::from("./pushrail-data"));
    assert_eq!(
        config.storage.idempotency_window,
        Duration::from_secs(86_400)
    );
    assert_eq!(config.storage.retention, Duration::from_secs(7 * 86_400));
    assert_eq!(config.server.body_limit, 16 << 20);
    assert!(config.destinations.is_empty());
    assert!(config.server.api_tokens.is_empty());
}

#[test]
fn a_full_config_parses_with_interpolation() {
    let config = parse(
        r#"
        [server]
        listen = "${PORT_ADDR}"
        body_limit = "4MiB"
        max_batch_events = 200
        worker_threads = 3
        api_tokens = ["${TOKEN}", "literal"]

        [storage]
        data_dir = "${DATA:-/var/lib/pushrail}"
        idempotency_window = "1h"
        retention = "2d"
        group_commit = { max_batch = 512, max_wait = "2ms" }

        [[destinations]]
        name = "orders-kinesis"
        plugin = "kinesis"
        transforms = ["redact"]
        batch = { max_events = 250, max_bytes = "2MiB", linger = "50ms", in_flight = 8 }
        retry = { max_retries = "${RETRIES}", initial_wait = "100ms", max_wait = "30s", backoff = "linear", jitter = false }
        partition_key = "metadata.region"
        [destinations.config]
        stream_name = "orders"
        secret = "${TOKEN}"

        [plugins]
        dir = "/opt/pushrail/plugins"
        memory_limit = "32MiB"
        time_limit = "2s"

        [[transforms]]
        name = "redact"
        plugin = "redact"
        config = { pointers = ["/payload/card"] }
        "#,
    )
    .unwrap();
    assert_eq!(config.server.listen, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(config.server.body_limit, 4 << 20);
    assert_eq!(config.server.worker_threads, 3);
    assert_eq!(config.server.api_tokens[0].expose(), "t0ken");
    assert_eq!(config.storage.data_dir, PathBuf::from("/var/lib/pushrail"));
    assert_eq!(
        config.storage.group_commit.max_wait,
        Duration::from_millis(2)
    );
    let d = &config.destinations[0];
    assert_eq!(
        (d.name.as_str(), d.plugin.as_str()),
        ("orders-kinesis", "kinesis")
    );
    assert_eq!(d.batch.max_events, 250);
    assert_eq!(d.batch.in_flight, 8);
    assert_eq!(d.retry.max_retries, 3);
    assert_eq!(d.retry.backoff, Backoff::Linear);
    assert!(!d.retry.jitter);
    assert_eq!(d.config["stream_name"], "orders");
    assert_eq!(d.config["secret"], "t0ken");
    assert_eq!(d.partition_key.to_text(), "metadata.region");
    let settings = d.plugin_settings();
    assert_eq!(settings["config"]["stream_name"], "orders");
    assert_eq!(settings["partition_key"], "metadata.region");
    assert_eq!(
        config.plugins.dir,
        Some(PathBuf::from("/opt/pushrail/plugins"))
    );
    assert_eq!(config.plugins.memory_limit, 32 << 20);
    assert_eq!(config.plugins.time_limit, Duration::from_secs(2));
    assert_eq!(config.transforms[0].config["pointers"][0], "/payload/card");
}

#[test]
fn the_embedded_default_delivers_to_a_local_file() {
    let config = Config::embedded_default();
    assert_eq!(config.destinations.len(), 1);
    let local = &config.destinations[0];
    assert_eq!(
        (local.name.as_str(), local.plugin.as_str()),
        ("local", "file")
    );
    assert_eq!(local.file, Some(PathBuf::from("local.jsonl")));
    assert_eq!(local.partition_key.to_text(), "customerExternalId");
}

#[test]
fn plugin_and_transform_problems() {
    let found = problems(
        r#"
        [plugins]
        memory_limit = "1KiB"
        time_limit = "1ms"
        colour = 1

        [[transforms]]
        name = "t"
        plugin = "redact"
        config = "pointers"

        [[transforms]]
        name = "t"

        [[destinations]]
        name = "d"
        plugin = "x"
        partition_key = "customer"
        file = { }
        "#,
    );
    assert!(
        has(&found, "plugins.memory_limit", "at least 1MiB"),
        "{found:#?}"
    );
    assert!(
        has(&found, "plugins.time_limit", "at least 10ms"),
        "{found:#?}"
    );
    assert!(has(&found, "plugins.colour", "unknown key"), "{found:#?}");
    assert!(
        has(&found, "transforms[0].config", "expected a table"),
        "{found:#?}"
    );
    assert!(
        has(&found, "transforms[1].name", "used by another transform"),
        "{found:#?}"
    );
    assert!(
        has(&found, "transforms[1].plugin", "is required"),
        "{found:#?}"
    );
    assert!(
        has(&found, "destinations[0].partition_key", "not a field path"),
        "{found:#?}"
    );
    assert!(
        has(&found, "destinations[0].file.path", "is required"),
        "{found:#?}"
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let config = parse("[server]\napi_tokens = [\"${TOKEN}\"]").unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("t0ken"), "{shown}");
}

#[test]
fn every_problem_is_reported_at_once_with_its_path() {
    let found = problems(
        r#"
        [server]
        listen = "localhost"
        max_batch_events = 0
        colour = "blue"

        [storage]
        retention = "1h"
        retention_interval = "0s"

        [[destinations]]
        name = "a"
        plugin = "file"

        [[destinations]]
        name = "b"
        plugin = "file"
        retry = { max_wait = "soon" }
        "#,
    );
    assert!(
        has(
            &found,
            "server.listen",
            "expected an address like \"127.0.0.1:8080\""
        ),
        "{found:#?}"
    );
    assert!(
        has(&found, "server.max_batch_events", "from 1 to 10000"),
        "{found:#?}"
    );
    assert!(has(&found, "server.colour", "unknown key"), "{found:#?}");
    assert!(
        has(&found, "storage.retention", "at least idempotency_window"),
        "{found:#?}"
    );
    assert!(
        has(&found, "storage.retention_interval", "greater than zero"),
        "{found:#?}"
    );
    assert!(
        found.contains(
            &"destinations[1].retry.max_wait: expected a duration like \"30s\"".to_owned()
        ),
        "{found:#?}"
    );
    assert_eq!(found.len(), 6, "{found:#?}");
}

#[test]
fn missing_environment_variables_are_named() {
    let found = problems("[server]\napi_tokens = [\"${PUSHRAIL_TOKEN}\"]");
    assert!(
        has(
            &found,
            "server.api_tokens[0]",
            "environment variable PUSHRAIL_TOKEN is not set"
        ),
        "{found:#?}"
    );
    let found = problems("[server]\napi_tokens = [\"${EMPTY}\"]");
    assert!(
        has(&found, "server.api_tokens", "must not be empty"),
        "{found:#?}"
    );
    let found = problems(
        "[[destinations]]\nname = \"a\"\nplugin = \"file\"\n[destinations.file]\npath = \"${NOPE}/x\"",
    );
    assert!(
        has(&found, "destinations[0].file.path", "NOPE is not set"),
        "{found:#?}"
    );
}

#[test]
fn destination_problems() {
    let found = problems(
        r#"
        [[destinations]]
        plugin = "file"

        [[destinations]]
        name = "Bad Name"
        plugin = ""

        [[destinations]]
        name = "dup"
        plugin = "file"
        [destinations.webhook]
        url = "x"

        [[destinations]]
        name = "dup"
        plugin = "file"
        retry = { backoff = "fibonacci", initial_wait = "10s", max_wait = "1s", max_retries = -1 }
        batch = { max_bytes = "1KiB", max_events = "lots", in_flight = 0 }
        transforms = "redact"
        "#,
    );
    assert!(
        has(&found, "destinations[0].name", "is required"),
        "{found:#?}"
    );
    assert!(
        has(&found, "destinations[1].name", "may use only"),
        "{found:#?}"
    );
    assert!(
        has(&found, "destinations[1].plugin", "must not be empty"),
        "{found:#?}"
    );
    assert!(
        has(&found, "destinations[2].webhook", "unknown key"),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "destinations[3].name",
            "used by another destination"
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "destinations[3].retry.backoff",
            "expected one of \"constant\", \"linear\", \"exponential\""
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "destinations[3].retry.max_wait",
            "at least initial_wait"
        ),
        "{found:#?}"
    );
    assert!(
        has(&found, "destinations[3].retry.max_retries", "whole number"),
        "{found:#?}"
    );
    assert!(
        has(&found, "destinations[3].batch.max_bytes", "at least 1MiB"),
        "{found:#?}"
    );
    assert!(
        has(&found, "destinations[3].batch.max_events", "whole number"),
        "{found:#?}"
    );
    assert!(
        has(&found, "destinations[3].batch.in_flight", "from 1 to 64"),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "destinations[3].transforms",
            "expected an array of strings"
        ),
        "{found:#?}"
    );
}

#[test]
fn wrong_shapes_are_reported() {
    let found = problems(
        "server = 3\ndestinations = { name = \"x\" }\n[storage]\ndata_dir = 7\nbody_limit = \"huge\"",
    );
    assert!(
        has(&found, "server", "expected a table, found integer"),
        "{found:#?}"
    );
    assert!(
        has(&found, "destinations", "expected an array of tables"),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "storage.data_dir",
            "expected a string, found integer"
        ),
        "{found:#?}"
    );
    assert!(
        has(&found, "storage.body_limit", "unknown key"),
        "{found:#?}"
    );
    let found = problems("[server]\nbody_limit = \"huge\"");
    assert!(
        has(&found, "server.body_limit", "expected a size like \"8MiB\""),
        "{found:#?}"
    );
}

#[test]
fn toml_syntax_errors_name_the_line() {
    match parse("[server\nlisten = 1") {
        Err(ConfigError::Syntax { message, .. }) => {
            assert!(message.contains("line 1"), "{message}")
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn unreadable_file_is_a_clear_error() {
    let err = Config::load(std::path::Path::new("/nonexistent/pushrail.toml")).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot read config file /nonexistent/pushrail.toml"),
        "{err}"
    );
}

#[test]
fn kinesis_settings_and_their_problems() {
    let config = parse(
        r#"
        [[destinations]]
        name = "orders"
        plugin = "kinesis"
        [destinations.kinesis]
        stream_arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/orders"
        region = "eu-west-1"
        endpoint_url = "http://127.0.0.1:4567"
        ordering = "relaxed"
        max_records_per_call = 250
        aggregation = true
        aggregation_max_bytes = "100KiB"
        partition_key = "metadata.region"
        auth = { mode = "static", access_key_id = "AKID", secret_access_key = "${TOKEN}", session_token = "tok" }
        "#,
    )
    .unwrap();
    let d = &config.destinations[0];
    let k = d.kinesis.as_ref().unwrap();
    assert_eq!(
        k.stream,
        KinesisStream::Arn("arn:aws:kinesis:eu-west-1:123456789012:stream/orders".into())
    );
    assert_eq!(k.ordering, KinesisOrdering::Relaxed);
    assert_eq!(k.max_records_per_call, 250);
    assert_eq!(k.aggregation, Some(100 * 1024));
    assert_eq!(
        d.partition_key.to_text(),
        "metadata.region",
        "the kinesis table sets the partition key"
    );
    assert!(
        matches!(&k.auth, AwsAuth::Static { secret_access_key, session_token: Some(_), .. } if secret_access_key.expose() == "t0ken")
    );
    let shown = format!("{config:?} {}", d.plugin_settings());
    assert!(
        !shown.contains("t0ken") && !shown.contains("AKID"),
        "secrets stay out of logs and plugins: {shown}"
    );

    let found = problems(
        r#"
        [[destinations]]
        name = "a"
        plugin = "kinesis"
        [destinations.kinesis]
        ordering = "fifo"
        max_records_per_call = 501
        aggregation = true
        aggregation_max_bytes = "1MiB"
        auth = { mode = "static", access_key_id = "AKID" }

        [[destinations]]
        name = "b"
        plugin = "kinesis"
        [destinations.kinesis]
        stream_arn = "orders"
        auth = { mode = "magic" }

        [[destinations]]
        name = "c"
        plugin = "kinesis"
        [destinations.kinesis]
        stream_name = "orders"
        auth = { mode = "assume_role", external_id = "x" }
        "#,
    );
    assert!(
        has(
            &found,
            "destinations[0].kinesis.stream_name",
            "is required (or stream_arn)"
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "destinations[0].kinesis.ordering",
            "expected one of \"strict\", \"relaxed\""
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "destinations[0].kinesis.max_records_per_call",
            "from 1 to 500"
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "destinations[0].kinesis.auth.secret_access_key",
            "is required"
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "destinations[0].kinesis.aggregation_max_bytes",
            "must be from 1KiB to 1047552 bytes"
        ),
        "{found:#?}"
    );

    assert!(
        has(
            &found,
            "destinations[1].kinesis.stream_arn",
            "is not an ARN"
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "destinations[1].kinesis.auth.mode",
            "expected one of \"default_chain\", \"static\", \"assume_role\""
        ),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "destinations[2].kinesis.auth.role_arn",
            "is required"
        ),
        "{found:#?}"
    );
}

#[test]
fn kafka_batches_default_to_1000_events_of_whole_keys() {
    let config = parse(
        r#"
        [[destinations]]
        name = "kafka"
        plugin = "kafka"
        [destinations.kafka]
        brokers = "k1:9092"
        topic = "t"

        [[destinations]]
        name = "tuned"
        plugin = "kafka"
        batch = { max_events = 300 }
        [destinations.kafka]
        brokers = "k1:9092"
        topic = "t"

        [[destinations]]
        name = "file"
        plugin = "file"
        file = { path = "out.jsonl" }
        "#,
    )
    .unwrap();
    let [kafka, tuned, file] = &config.destinations[..] else {
        panic!("three destinations")
    };
    assert_eq!(kafka.batch.max_events, 1000);
    assert!(kafka.whole_keys() && kafka.one_batch_per_key());
    assert_eq!(tuned.batch.max_events, 300, "an explicit size wins");
    assert_eq!(file.batch.max_events, 500);
    assert!(!file.whole_keys());
    assert_eq!(
        kafka.kafka.as_ref().unwrap().producer.linger,
        Duration::from_millis(5)
    );
}

#[test]
fn kafka_settings_and_their_problems() {
    let config = parse(
        r#"
        [[destinations]]
        name = "orders"
        plugin = "kafka"
        [destinations.kafka]
        brokers = ["k1:9092", "k2:9092"]
        topic = "orders.v1"
        partition_key = "payload.orderId"
        auth = { mode = "sasl_plain", username = "svc", password = "${TOKEN}" }
        [destinations.kafka.producer]
        acks = "1"
        idempotence = false
        compression = "lz4"
        delivery_timeout = "30s"
        "#,
    )
    .unwrap();
    let d = &config.destinations[0];
    let k = d.kafka.as_ref().unwrap();
    assert_eq!(k.brokers, ["k1:9092", "k2:9092"]);
    assert_eq!(k.topic, "orders.v1");
    assert_eq!(d.partition_key.to_text(), "payload.orderId");
    assert_eq!(k.producer.acks, KafkaAcks::Leader);
    assert_eq!(k.producer.compression, KafkaCompression::Lz4);
    assert_eq!(k.producer.delivery_timeout, Duration::from_secs(30));
    assert!(
        matches!(&k.auth, KafkaAuth::SaslPlain { password, .. } if password.expose() == "t0ken")
    );
    let shown = format!("{config:?} {}", d.plugin_settings());
    assert!(!shown.contains("t0ken"), "secrets stay out: {shown}");
    assert_eq!(d.plugin_settings()["kafka"]["topic"], "orders.v1");

    let found = problems(
        r#"
        [[destinations]]
        name = "a"
        plugin = "kafka"
        [destinations.kafka]
        brokers = "k1"
        topic = "no spaces"
        auth = { mode = "kerberos" }

        [[destinations]]
        name = "b"
        plugin = "kafka"
        [destinations.kafka]
        brokers = "k1:9092"
        topic = "t"
        auth = { mode = "sasl_scram_sha_256", username = "svc" }
        [destinations.kafka.producer]
        acks = "1"
        compression = "brotli"
        properties = { "bootstrap.servers" = "elsewhere:9092", "nested" = { a = 1 } }

        [[destinations]]
        name = "c"
        plugin = "kafka"
        [destinations.kafka]
        topic = "t"
        auth = { mode = "none", tls = true, cert_file = "/nonexistent/client.pem" }

        [[destinations]]
        name = "d"
        plugin = "kafka"
        [destinations.kafka]
        brokers = "k1:9092"
        topic = "t"
        auth = { mode = "sasl_oauthbearer" }
        "#,
    );
    for (path, needle) in [
        ("destinations[0].kafka.brokers", "is not \"host:port\""),
        ("destinations[0].kafka.topic", "is not a Kafka topic name"),
        (
            "destinations[0].kafka.auth.mode",
            "expected one of \"none\", \"sasl_plain\", \"sasl_scram_sha_256\", \"sasl_scram_sha_512\", \"sasl_oauthbearer\"",
        ),
        ("destinations[1].kafka.auth.password", "is required"),
        (
            "destinations[1].kafka.producer.acks",
            "the idempotent producer needs acks = \"all\"",
        ),
        (
            "destinations[1].kafka.producer.compression",
            "expected one of",
        ),
        (
            "destinations[1].kafka.producer.properties.bootstrap.servers",
            "is set by Pushrail",
        ),
        (
            "destinations[1].kafka.producer.properties.nested",
            "expected a string, number or boolean",
        ),
        ("destinations[2].kafka.brokers", "is required"),
        (
            "destinations[2].kafka.auth.cert_file",
            "cannot read /nonexistent/client.pem",
        ),
        (
            "destinations[2].kafka.auth.key_file",
            "mTLS needs both cert_file and key_file",
        ),
        (
            "destinations[3].kafka.auth.token",
            "is required for sasl_oauthbearer",
        ),
    ] {
        assert!(has(&found, path, needle), "{path}: {needle}\n{found:#?}");
    }
}

#[test]
fn two_destinations_cannot_write_one_file() {
    let found = problems(
        r#"
[[destinations]]
name = "a"
plugin = "file"
file = { path = "out/events.jsonl" }

[[destinations]]
name = "b"
plugin = "file"
file = { path = "./out/events.jsonl" }
"#,
    );
    assert!(
        has(
            &found,
            "destinations[1].file",
            "written by destination \"a\" too"
        ),
        "{found:?}"
    );
}

#[test]
fn destination_secrets_and_the_plugins_offered_to_customers() {
    let config = parse(
        r#"
        [plugins]
        customer_plugins = ["webhook", "sqs"]

        [[destinations]]
        name = "hooks"
        plugin = "webhook"
        secrets = { signing = "whsec_${TOKEN}" }
        "#,
    )
    .unwrap();
    assert_eq!(config.plugins.customer_plugins, ["webhook", "sqs"]);
    let hooks = &config.destinations[0];
    assert_eq!(hooks.secrets["signing"].expose(), "whsec_t0ken");
    assert!(
        !format!("{hooks:?}").contains("t0ken"),
        "never in debug output"
    );
    assert!(!hooks.plugin_settings().to_string().contains("t0ken"));
    let found = problems(
        r#"
        [plugins]
        customer_plugins = ["webhook", "Web Hook", "webhook"]

        [[destinations]]
        name = "hooks"
        plugin = "webhook"
        secrets = { "bad name" = "x", empty = " " }
        "#,
    );
    assert!(
        has(
            &found,
            "plugins.customer_plugins",
            "\"Web Hook\" is not a plugin name"
        ),
        "{found:?}"
    );
    assert!(
        has(&found, "plugins.customer_plugins", "listed twice"),
        "{found:?}"
    );
    assert!(
        has(&found, "destinations[0].secrets.bad name", "1 to 64"),
        "{found:?}"
    );
    assert!(
        has(&found, "destinations[0].secrets.empty", "must not be empty"),
        "{found:?}"
    );
}

#[test]
fn network_settings_and_their_problems() {
    let config = parse(
        r#"
        [[destinations]]
        name = "hooks"
        plugin = "fetcher"
        [destinations.network]
        allow = ["https://hooks.acme.example", "https://*.acme.example:8443", "http://127.0.0.1:9000"]
        hosts = { "hooks.acme.example" = "203.0.113.7" }
        timeout = "10s"
        max_response_bytes = "64KiB"
        max_in_flight = 4
        "#,
    )
    .unwrap();
    let n = config.destinations[0].network.as_ref().unwrap();
    assert_eq!(n.policy.allow.len(), 3);
    assert_eq!(
        n.hosts,
        [(
            "hooks.acme.example".to_owned(),
            "203.0.113.7".parse().unwrap()
        )]
    );
    assert_eq!(n.timeout, std::time::Duration::from_secs(10));
    assert_eq!(
        n.connect_timeout,
        std::time::Duration::from_secs(5),
        "default"
    );
    assert_eq!((n.max_response_bytes, n.max_in_flight), (64 * 1024, 4));

    let found = problems(
        r#"
        [[destinations]]
        name = "a"
        plugin = "fetcher"
        [destinations.network]
        allow = ["hooks.acme.example", "https://a.example/path", "https://x.*.example"]
        hosts = { "a.example" = "not-an-address" }
        timeout = "0s"
        max_in_flight = 0

        [[destinations]]
        name = "b"
        plugin = "fetcher"
        [destinations.network]
        "#,
    );
    for (path, needle) in [
        (
            "destinations[0].network.allow[0]",
            "is not scheme://host[:port]",
        ),
        ("destinations[0].network.allow[1]", "has a path"),
        (
            "destinations[0].network.allow[2]",
            "a wildcard stands for whole labels",
        ),
        (
            "destinations[0].network.hosts.a.example",
            "is not an IP address",
        ),
        ("destinations[0].network.timeout", "more than 0"),
        ("destinations[0].network.max_in_flight", "from 1 to 1024"),
        ("destinations[1].network.allow", "list the origins"),
    ] {
        assert!(has(&found, path, needle), "{path}: {found:#?}");
    }
}

/// #14: webhook signing secrets and the end of a rotation.
#[test]
fn signing_settings_and_their_problems() {
    let config = parse(
        r#"
        [[destinations]]
        name = "hooks"
        plugin = "webhook"
        secrets = { signing_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", previous_signing_secret = "whsec_c2Vjb25kIHNlY3JldCBvZiAyNCBieXRlcyE=" }
        signing = { previous_expires_at = "2026-12-02T09:00:00Z" }
        "#,
    )
    .unwrap();
    let until = config.destinations[0].signing.previous_expires_at.unwrap();
    let seconds = until
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(seconds, 1_796_202_000);

    let found = problems(
        r#"
        [[destinations]]
        name = "a"
        plugin = "webhook"
        secrets = { signing_secret = "hunter2" }

        [[destinations]]
        name = "b"
        plugin = "webhook"
        secrets = { signing_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", previous_signing_secret = "whsec_c2Vjb25kIHNlY3JldCBvZiAyNCBieXRlcyE=" }

        [[destinations]]
        name = "c"
        plugin = "webhook"
        secrets = { previous_signing_secret = "whsec_c2Vjb25kIHNlY3JldCBvZiAyNCBieXRlcyE=" }
        signing = { previous_expires_at = "tomorrow", previous = 1 }
        "#,
    );
    for (path, needle) in [
        (
            "destinations[0].secrets.signing_secret",
            "whsec_ followed by",
        ),
        ("destinations[1].signing.previous_expires_at", "until when"),
        (
            "destinations[2].signing.previous_expires_at",
            "not an RFC 3339 time",
        ),
        ("destinations[2].signing.previous", "unknown"),
        (
            "destinations[2].secrets.previous_signing_secret",
            "beside a current one",
        ),
    ] {
        assert!(has(&found, path, needle), "{path}: {found:#?}");
    }
    assert!(!format!("{found:?}").contains("hunter2"), "{found:#?}");
}

/// #14: `[destinations.aws]`, where a plugin's signed AWS calls go.
#[test]
fn aws_settings_and_their_problems() {
    let config = parse(
        r#"
        [[destinations]]
        name = "bus"
        plugin = "eventbridge"
        [destinations.aws]
        region = "eu-west-1"
        endpoint_url = "http://127.0.0.1:5000"
        targets = ["AWSEvents.PutEvents"]
        auth = { mode = "assume_role", role_arn = "arn:aws:iam::123456789012:role/p", external_id = "x" }
        "#,
    )
    .unwrap();
    let aws = config.destinations[0].aws.as_ref().unwrap();
    assert_eq!(aws.region.as_deref(), Some("eu-west-1"));
    assert_eq!(aws.targets, ["AWSEvents.PutEvents"]);
    assert!(matches!(aws.auth, AwsAuth::AssumeRole { .. }));

    let found = problems(
        r#"
        [[destinations]]
        name = "a"
        plugin = "sqs"
        [destinations.aws]
        targets = ["SendMessageBatch", "AmazonSQS.Send Message"]
        auth = { mode = "static", access_key_id = "AKID" }

        [[destinations]]
        name = "b"
        plugin = "sqs"
        [destinations.aws]
        regoin = "eu-west-1"
        "#,
    );
    for (path, needle) in [
        ("destinations[0].aws.targets[0]", "is not an X-Amz-Target"),
        ("destinations[0].aws.targets[1]", "is not an X-Amz-Target"),
        ("destinations[0].aws.auth.secret_access_key", "required"),
        ("destinations[1].aws.targets", "list the operations"),
        ("destinations[1].aws.regoin", "unknown"),
    ] {
        assert!(has(&found, path, needle), "{path}: {found:#?}");
    }
}
