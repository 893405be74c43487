//! One librdkafka producer per cluster and credentials, shared by every
//! destination that names the same ones (topics differ per record). A
//! producer is several threads and a connection per broker; a platform has
//! thousands of customer destinations, many of them on one cluster.
//!
//! Destinations share only when every librdkafka property is the same —
//! brokers, credentials, TLS files, producer tuning — so sharing never
//! lends one customer's credentials to another's records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use sha2::{Digest, Sha256};

use super::producer::ProducerContext;
use super::{KafkaError, Producer_, client_config};
use crate::config::{KafkaAuth, KafkaConfig, OauthToken};

/// A producer and what it takes to make it again after a fatal error.
pub(super) struct SharedProducer {
    /// Replaced whole after a fatal error (see `KafkaSink::recover`).
    pub(super) producer: RwLock<Arc<Producer_>>,
    pub(super) config: KafkaConfig,
    /// The destination that made it: the name its librdkafka logs carry.
    pub(super) first: String,
}

/// Producers by the digest of their settings; a producer goes when its
/// last destination does.
static PRODUCERS: OnceLock<Mutex<HashMap<[u8; 32], Weak<SharedProducer>>>> = OnceLock::new();

/// The producer for `config`: the one already running with the same
/// settings, or a new one.
pub(super) fn producer_for(
    destination: &str,
    config: &KafkaConfig,
) -> Result<Arc<SharedProducer>, KafkaError> {
    let key = settings_digest(config);
    let mut producers = PRODUCERS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(shared) = producers.get(&key).and_then(Weak::upgrade) {
        return Ok(shared);
    }
    let shared = Arc::new(SharedProducer {
        producer: RwLock::new(Arc::new(new_producer(destination, config)?)),
        config: config.clone(),
        first: destination.to_owned(),
    });
    producers.retain(|_, producer| producer.strong_count() > 0);
    producers.insert(key, Arc::downgrade(&shared));
    Ok(shared)
}

pub(super) fn new_producer(
    destination: &str,
    config: &KafkaConfig,
) -> Result<Producer_, KafkaError> {
    client_config(config)
        .create_with_context(ProducerContext::new(destination, config))
        .map_err(KafkaError::Settings)
}

/// A digest of everything that makes a producer: every librdkafka
/// property (secrets included: kept only as this digest) and the
/// OAUTHBEARER token source, which lives in the context.
fn settings_digest(config: &KafkaConfig) -> [u8; 32] {
    let client = client_config(config);
    // `config_map` hides secrets behind a placeholder: the values come
    // from `get`, or two passwords would look alike and share a producer.
    let keys: Vec<&str> = client.config_map().into_keys().collect();
    let mut hash = Sha256::new();
    for key in keys {
        let value = client.get(key).unwrap_or_default();
        for part in [key.as_bytes(), b"\0", value.as_bytes(), b"\0"] {
            hash.update(part);
        }
    }
    if let KafkaAuth::SaslOauthbearer {
        token,
        principal,
        lifetime,
    } = &config.auth
    {
        match token {
            OauthToken::Value(secret) => hash.update(secret.expose().as_bytes()),
            OauthToken::File(path) => hash.update(path.display().to_string().as_bytes()),
        }
        hash.update(format!("\0{principal}\0{lifetime:?}").as_bytes());
    }
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::settings_digest;
    use crate::config::{KafkaAuth, KafkaConfig, Secret};

    fn scram(password: &str, topic: &str) -> KafkaConfig {
        KafkaConfig {
            brokers: vec!["kafka-0.acme.example:9094".into()],
            topic: topic.into(),
            auth: KafkaAuth::SaslPlain {
                username: "pushrail".into(),
                password: Secret::new(password.to_owned()),
            },
            tls: None,
            producer: Default::default(),
        }
    }

    #[test]
    fn the_same_cluster_and_credentials_share_and_nothing_else_does() {
        assert_eq!(
            settings_digest(&scram("p1", "a")),
            settings_digest(&scram("p1", "b")),
            "another topic on the same cluster shares"
        );
        assert_ne!(
            settings_digest(&scram("p1", "a")),
            settings_digest(&scram("p2", "a")),
            "other credentials never share"
        );
        let mut tuned = scram("p1", "a");
        tuned.producer.linger = std::time::Duration::from_millis(250);
        assert_ne!(settings_digest(&scram("p1", "a")), settings_digest(&tuned));
    }
}
