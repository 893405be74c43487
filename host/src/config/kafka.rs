//! `[destinations.kafka]`: the brokers and topic a destination writes, how
//! it authenticates, and the producer's tuning.

use std::path::PathBuf;
use std::time::Duration;

use super::Secret;
use super::fields::Fields;

/// `[destinations.kafka]`.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    pub topic: String,
    pub auth: KafkaAuth,
    /// `Some` when the connection uses TLS (`auth.tls = true`).
    pub tls: Option<KafkaTls>,
    pub producer: KafkaProducerConfig,
}

/// `[destinations.kafka.auth] mode`.
#[derive(Debug, Clone, PartialEq)]
pub enum KafkaAuth {
    None,
    SaslPlain {
        username: String,
        password: Secret,
    },
    SaslScram {
        mechanism: ScramMechanism,
        username: String,
        password: Secret,
    },
    /// A bearer token handed to the broker; `token_file` is read again at
    /// every refresh, so a sidecar can rotate it.
    SaslOauthbearer {
        token: OauthToken,
        principal: String,
        lifetime: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OauthToken {
    Value(Secret),
    File(PathBuf),
}

/// TLS settings; without files, the system's CA store is used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KafkaTls {
    pub ca_file: Option<PathBuf>,
    /// mTLS client certificate and key (both or neither).
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub key_password: Option<Secret>,
}

/// `[destinations.kafka.producer]`.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaProducerConfig {
    /// librdkafka's `linger.ms`. Short by default: the delivery batch has
    /// already waited its own `batch.linger`, so this only gathers the
    /// records of the batches in flight into shared produce requests. The
    /// idempotent producer keeps at most 5 requests per partition in
    /// flight, so a broker a round trip away is kept busy by few, large
    /// requests, not many small ones (docs/performance.md, session 13).
    pub linger: Duration,
    pub batch_size_bytes: u64,
    pub acks: KafkaAcks,
    /// Exactly-once per partition under retries; needs `acks = "all"`.
    pub idempotence: bool,
    pub compression: KafkaCompression,
    /// How long librdkafka keeps retrying a record before it reports it failed
    /// (retryable: the destination's retry policy takes over).
    pub delivery_timeout: Duration,
    /// Any other librdkafka producer property, applied last.
    pub properties: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaAcks {
    All,
    Leader,
    None,
}

impl KafkaAcks {
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaAcks::All => "all",
            KafkaAcks::Leader => "1",
            KafkaAcks::None => "0",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaCompression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl KafkaCompression {
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaCompression::None => "none",
            KafkaCompression::Gzip => "gzip",
            KafkaCompression::Snappy => "snappy",
            KafkaCompression::Lz4 => "lz4",
            KafkaCompression::Zstd => "zstd",
        }
    }
}

/// Properties the typed settings own; the pass-through table may not set
/// them, so a secret or the topic binding cannot be changed behind our back.
const OWNED_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.key.password",
    "linger.ms",
    "queue.buffering.max.ms",
    "batch.size",
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "compression.type",
    "compression.codec",
    "message.timeout.ms",
    "delivery.timeout.ms",
];

pub(super) fn read(k: &mut Fields<'_, '_, '_>) -> Option<KafkaConfig> {
    let brokers = read_brokers(k);
    let topic = k.required_string("topic");
    if let Some(topic) = &topic
        && !valid_topic(topic)
    {
        k.report(
            "topic",
            format!("\"{topic}\" is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)"),
        );
    }
    let (auth, tls) = match k.table("auth") {
        None => (Some(KafkaAuth::None), None),
        Some(mut a) => {
            let auth = read_auth(&mut a);
            let tls = read_tls(&mut a);
            a.finish();
            (auth, tls)
        }
    };
    let producer = match k.table("producer") {
        None => KafkaProducerConfig::default(),
        Some(mut p) => {
            let producer = read_producer(&mut p);
            p.finish();
            producer
        }
    };
    Some(KafkaConfig {
        brokers: brokers?,
        topic: topic?,
        auth: auth?,
        tls,
        producer,
    })
}

/// `brokers = "a:9092,b:9092"` or `brokers = ["a:9092", "b:9092"]`.
fn read_brokers(k: &mut Fields<'_, '_, '_>) -> Option<Vec<String>> {
    let brokers: Vec<String> = if k.is_string("brokers") {
        k.string("brokers")
            .map(|s| s.split(',').map(|b| b.trim().to_owned()).collect())
            .unwrap_or_default()
    } else {
        k.string_list("brokers")
    };
    let brokers: Vec<String> = brokers.into_iter().filter(|b| !b.is_empty()).collect();
    if brokers.is_empty() {
        k.report("brokers", "is required: one or more \"host:port\"");
        return None;
    }
    for broker in &brokers {
        let port_ok = broker
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            k.report(
                "brokers",
                format!("\"{broker}\" is not \"host:port\" (e.g. \"kafka-1:9092\")"),
            );
            return None;
        }
    }
    Some(brokers)
}

fn read_auth(a: &mut Fields<'_, '_, '_>) -> Option<KafkaAuth> {
    let mode = a.choice(
        "mode",
        "none",
        &[
            ("none", "none"),
            ("sasl_plain", "sasl_plain"),
            ("sasl_scram_sha_256", "sasl_scram_sha_256"),
            ("sasl_scram_sha_512", "sasl_scram_sha_512"),
            ("sasl_oauthbearer", "sasl_oauthbearer"),
        ],
    );
    let credentials = |a: &mut Fields<'_, '_, '_>| {
        let username = a.required_string("username");
        let password = a.required_string("password").map(Secret);
        username.zip(password)
    };
    match mode {
        "sasl_plain" => {
            credentials(a).map(|(username, password)| KafkaAuth::SaslPlain { username, password })
        }
        "sasl_scram_sha_256" | "sasl_scram_sha_512" => {
            let mechanism = if mode == "sasl_scram_sha_256" {
                ScramMechanism::Sha256
            } else {
                ScramMechanism::Sha512
            };
            credentials(a).map(|(username, password)| KafkaAuth::SaslScram {
                mechanism,
                username,
                password,
            })
        }
        "sasl_oauthbearer" => {
            let token = match (a.string("token"), a.string("token_file")) {
                (Some(token), None) if !token.trim().is_empty() => {
                    Some(OauthToken::Value(Secret(token)))
                }
                (None, Some(path)) => {
                    let path = PathBuf::from(path);
                    if let Err(e) = std::fs::metadata(&path) {
                        a.report("token_file", format!("cannot read {}: {e}", path.display()));
                    }
                    Some(OauthToken::File(path))
                }
                (Some(_), Some(_)) => {
                    a.report("token", "set token or token_file, not both");
                    None
                }
                _ => {
                    a.report("token", "is required for sasl_oauthbearer (or token_file)");
                    None
                }
            };
            let principal = a.string("principal").unwrap_or_else(|| "pushrail".into());
            let lifetime = a.duration("token_lifetime", Duration::from_secs(3600));
            token.map(|token| KafkaAuth::SaslOauthbearer {
                token,
                principal,
                lifetime,
            })
        }
        _ => Some(KafkaAuth::None),
    }
}

fn read_tls(a: &mut Fields<'_, '_, '_>) -> Option<KafkaTls> {
    let enabled = a.boolean("tls", false);
    let file = |a: &mut Fields<'_, '_, '_>, key: &'static str| {
        let path = a.string(key).map(PathBuf::from)?;
        if !enabled {
            a.report(key, "needs tls = true");
        } else if let Err(e) = std::fs::File::open(&path) {
            a.report(key, format!("cannot read {}: {e}", path.display()));
        }
        Some(path)
    };
    let tls = KafkaTls {
        ca_file: file(a, "ca_file"),
        cert_file: file(a, "cert_file"),
        key_file: file(a, "key_file"),
        key_password: a.string("key_password").map(Secret),
    };
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        let missing = if tls.cert_file.is_some() {
            "key_file"
        } else {
            "cert_file"
        };
        a.report(
            missing,
            "mTLS needs both cert_file and key_file; only one is set",
        );
    }
    enabled.then_some(tls)
}

impl Default for KafkaProducerConfig {
    fn default() -> Self {
        Self {
            linger: Duration::from_millis(5),
            batch_size_bytes: 1 << 20,
            acks: KafkaAcks::All,
            idempotence: true,
            compression: KafkaCompression::None,
            delivery_timeout: Duration::from_secs(120),
            properties: Vec::new(),
        }
    }
}

fn read_producer(p: &mut Fields<'_, '_, '_>) -> KafkaProducerConfig {
    let default = KafkaProducerConfig::default();
    let linger = Duration::from_millis(p.integer(
        "linger_ms",
        default.linger.as_millis() as u64,
        0..=900_000,
    ));
    let batch_size_bytes = p.size("batch_size_bytes", default.batch_size_bytes);
    if !(1..=(i32::MAX as u64)).contains(&batch_size_bytes) {
        p.report("batch_size_bytes", "must be between 1 byte and 2GiB");
    }
    let acks = p.choice(
        "acks",
        KafkaAcks::All,
        &[
            ("all", KafkaAcks::All),
            ("-1", KafkaAcks::All),
            ("1", KafkaAcks::Leader),
            ("0", KafkaAcks::None),
        ],
    );
    let idempotence = p.boolean("idempotence", true);
    if idempotence && acks != KafkaAcks::All {
        p.report(
            "acks",
            "the idempotent producer needs acks = \"all\"; set idempotence = false to use fewer acks (order per key is then not kept under retries)",
        );
    }
    let compression = p.choice(
        "compression",
        KafkaCompression::None,
        &[
            ("none", KafkaCompression::None),
            ("gzip", KafkaCompression::Gzip),
            ("snappy", KafkaCompression::Snappy),
            ("lz4", KafkaCompression::Lz4),
            ("zstd", KafkaCompression::Zstd),
        ],
    );
    let delivery_timeout = p.duration("delivery_timeout", default.delivery_timeout);
    if delivery_timeout < Duration::from_secs(1) {
        p.report("delivery_timeout", "must be at least 1s");
    }
    let properties = match p.table("properties") {
        None => Vec::new(),
        Some(mut t) => {
            let properties = t.scalars_as_strings();
            for (key, _) in &properties {
                if OWNED_PROPERTIES.contains(&key.as_str()) {
                    t.report(
                        key,
                        "is set by Pushrail from the typed settings (brokers, auth, producer); set it there",
                    );
                }
            }
            properties
        }
    };
    KafkaProducerConfig {
        linger,
        batch_size_bytes,
        acks,
        idempotence,
        compression,
        delivery_timeout,
        properties,
    }
}

/// Kafka's legal topic names.
fn valid_topic(topic: &str) -> bool {
    (1..=249).contains(&topic.len())
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
