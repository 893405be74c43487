//! Building one destination's librdkafka producer from its config: brokers,
//! security, producer tuning and the pass-through properties. Secrets go
//! into librdkafka's config only; nothing here prints them.

use std::error::Error;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

use crate::config::{KafkaAuth, KafkaConfig, OauthToken, ScramMechanism};

/// The librdkafka properties for `config`, without anything a log may show.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    let producer = &config.producer;
    c.set("bootstrap.servers", config.brokers.join(","))
        .set("client.id", "pushrail")
        .set("acks", producer.acks.as_str())
        .set("enable.idempotence", producer.idempotence.to_string())
        .set("linger.ms", producer.linger.as_millis().to_string())
        .set("batch.size", producer.batch_size_bytes.to_string())
        .set("compression.type", producer.compression.as_str())
        .set(
            "message.timeout.ms",
            producer.delivery_timeout.as_millis().to_string(),
        )
        // Same partition for the same key as the Java client's default, so a
        // consumer joining our topic with Java producers sees one order per key.
        .set("partitioner", "murmur2_random")
        .set("log.connection.close", "false");
    let sasl = !matches!(config.auth, KafkaAuth::None);
    let protocol = match (sasl, config.tls.is_some()) {
        (false, false) => "plaintext",
        (false, true) => "ssl",
        (true, false) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    c.set("security.protocol", protocol);
    match &config.auth {
        KafkaAuth::None => {}
        KafkaAuth::SaslPlain { username, password } => {
            c.set("sasl.mechanism", "PLAIN")
                .set("sasl.username", username)
                .set("sasl.password", password.expose());
        }
        KafkaAuth::SaslScram {
            mechanism,
            username,
            password,
        } => {
            let name = match mechanism {
                ScramMechanism::Sha256 => "SCRAM-SHA-256",
                ScramMechanism::Sha512 => "SCRAM-SHA-512",
            };
            c.set("sasl.mechanism", name)
                .set("sasl.username", username)
                .set("sasl.password", password.expose());
        }
        KafkaAuth::SaslOauthbearer { .. } => {
            c.set("sasl.mechanism", "OAUTHBEARER");
        }
    }
    if let Some(tls) = &config.tls {
        if let Some(ca) = &tls.ca_file {
            c.set("ssl.ca.location", ca.display().to_string());
        }
        if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
            c.set("ssl.certificate.location", cert.display().to_string())
                .set("ssl.key.location", key.display().to_string());
        }
        if let Some(password) = &tls.key_password {
            c.set("ssl.key.password", password.expose());
        }
    }
    for (key, value) in &producer.properties {
        c.set(key, value);
    }
    c
}

/// Routes librdkafka's logs and errors into ours, tagged with the
/// destination, and hands it OAUTHBEARER tokens.
pub struct ProducerContext {
    pub destination: String,
    pub oauth: Option<(OauthToken, String, Duration)>,
    /// When the last client error was logged as a warning, and how many
    /// were logged at debug since: librdkafka repeats "all brokers are
    /// down" at every reconnect attempt.
    warned: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
}

/// At most one client-error warning per destination this often.
const WARN_EVERY: Duration = Duration::from_secs(30);

impl ProducerContext {
    pub fn new(destination: &str, config: &KafkaConfig) -> Self {
        let oauth = match &config.auth {
            KafkaAuth::SaslOauthbearer {
                token,
                principal,
                lifetime,
            } => Some((token.clone(), principal.clone(), *lifetime)),
            _ => None,
        };
        Self {
            destination: destination.to_owned(),
            oauth,
            warned: std::sync::Mutex::new((None, 0)),
        }
    }
}

impl ClientContext for ProducerContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let destination = self.destination.as_str();
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(destination, facility, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(destination, facility, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(destination, facility, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(destination, facility, "librdkafka: {message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Connection trouble is retried by librdkafka; records report their
        // own outcome. This is for the operator's log, without the flood.
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if warned
            .0
            .is_some_and(|at| now.duration_since(at) < WARN_EVERY)
        {
            warned.1 += 1;
            tracing::debug!(destination = %self.destination, %error, "Kafka: {reason}");
            return;
        }
        let repeated = std::mem::take(&mut warned.1);
        warned.0 = Some(now);
        tracing::warn!(destination = %self.destination, %error, similar_since_last_warning = repeated, "Kafka: {reason}");
    }

    fn generate_oauth_token(&self, _config: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
        let Some((token, principal, lifetime)) = &self.oauth else {
            return Err("auth.mode is not sasl_oauthbearer".into());
        };
        let token = match token {
            OauthToken::Value(secret) => secret.expose().to_owned(),
            OauthToken::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read token_file {}: {e}", path.display()))?
                .trim()
                .to_owned(),
        };
        let expires = SystemTime::now()
            .checked_add(*lifetime)
            .unwrap_or_else(SystemTime::now)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Ok(OAuthToken {
            token,
            principal_name: principal.clone(),
            lifetime_ms: expires.as_millis() as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn properties(toml: &str) -> std::collections::BTreeMap<String, String> {
        let config = Config::from_toml_str(toml, "test.toml", &|name| match name {
            "KAFKA_PASSWORD" => Some("s3cret".into()),
            _ => None,
        })
        .expect("valid");
        let kafka = config.destinations[0].kafka.as_ref().expect("kafka");
        let config = super::client_config(kafka);
        // `get` shows values as set; librdkafka's own map view hides secrets.
        config
            .config_map()
            .keys()
            .map(|k| (k.to_string(), config.get(k).unwrap_or_default().to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_idempotent_acks_all() {
        let p = properties(
            r#"
            [[destinations]]
            name = "k"
            plugin = "kafka"
            [destinations.kafka]
            brokers = "a:9092, b:9092"
            topic = "orders"
            "#,
        );
        assert_eq!(p["bootstrap.servers"], "a:9092,b:9092");
        assert_eq!(p["acks"], "all");
        assert_eq!(p["enable.idempotence"], "true");
        assert_eq!(p["linger.ms"], "5");
        assert_eq!(p["batch.size"], "1048576");
        assert_eq!(p["compression.type"], "none");
        assert_eq!(p["security.protocol"], "plaintext");
        assert!(!p.contains_key("sasl.mechanism"));
    }

    #[test]
    fn scram_over_tls_with_mtls_and_passthrough() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let d = dir.path().display();
        let p = properties(&format!(
            r#"
            [[destinations]]
            name = "k"
            plugin = "kafka"
            [destinations.kafka]
            brokers = ["a:9093"]
            topic = "orders"
            [destinations.kafka.auth]
            mode = "sasl_scram_sha_512"
            username = "svc"
            password = "${{KAFKA_PASSWORD}}"
            tls = true
            ca_file = "{d}/ca.pem"
            cert_file = "{d}/cert.pem"
            key_file = "{d}/key.pem"
            [destinations.kafka.producer]
            linger_ms = 7
            batch_size_bytes = "64KiB"
            compression = "zstd"
            [destinations.kafka.producer.properties]
            "queue.buffering.max.messages" = 50000
            "socket.keepalive.enable" = true
            "#
        ));
        assert_eq!(p["security.protocol"], "sasl_ssl");
        assert_eq!(p["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(p["sasl.username"], "svc");
        assert_eq!(p["sasl.password"], "s3cret");
        assert_eq!(p["ssl.ca.location"], format!("{d}/ca.pem"));
        assert_eq!(p["ssl.certificate.location"], format!("{d}/cert.pem"));
        assert_eq!(p["ssl.key.location"], format!("{d}/key.pem"));
        assert_eq!(p["linger.ms"], "7");
        assert_eq!(p["batch.size"], "65536");
        assert_eq!(p["compression.type"], "zstd");
        assert_eq!(p["queue.buffering.max.messages"], "50000");
        assert_eq!(p["socket.keepalive.enable"], "true");
    }

    #[test]
    fn plain_and_oauthbearer_mechanisms() {
        let p = properties(
            r#"
            [[destinations]]
            name = "k"
            plugin = "kafka"
            [destinations.kafka]
            brokers = "a:9092"
            topic = "t"
            auth = { mode = "sasl_plain", username = "u", password = "p" }
            "#,
        );
        assert_eq!(p["security.protocol"], "sasl_plaintext");
        assert_eq!(p["sasl.mechanism"], "PLAIN");
        let p = properties(
            r#"
            [[destinations]]
            name = "k"
            plugin = "kafka"
            [destinations.kafka]
            brokers = "a:9092"
            topic = "t"
            auth = { mode = "sasl_oauthbearer", token = "eyJ", tls = true }
            "#,
        );
        assert_eq!(p["security.protocol"], "sasl_ssl");
        assert_eq!(p["sasl.mechanism"], "OAUTHBEARER");
        assert!(!p.contains_key("sasl.password"));
    }
}
