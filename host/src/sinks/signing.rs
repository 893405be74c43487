//! Webhook signatures by the Standard Webhooks spec, made in the host so
//! that a plugin never holds a signing secret (the WIT `signing`
//! interface). A destination signs with `secrets.signing_secret`; while a
//! secret rotates, `secrets.previous_signing_secret` signs too until
//! `signing.previous_expires_at`, so receivers that still know only the
//! previous secret keep verifying during the overlap.

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

/// The secret that signs (its name in a destination's `secrets`).
pub const SECRET: &str = "signing_secret";
/// The secret that signs too until `signing.previous_expires_at`.
pub const PREVIOUS_SECRET: &str = "previous_signing_secret";
/// What a secret starts with in the spec's notation.
const PREFIX: &str = "whsec_";
/// Fewer key bytes than this are a mistake (the spec asks for 24 to 64).
const MIN_KEY_BYTES: usize = 16;

/// Why a destination's signing settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error(
        "secrets.{0} is not a signing secret: write whsec_ followed by the base64 of 24 to 64 random bytes"
    )]
    Malformed(&'static str),
    #[error(
        "secrets.{0} is set but secrets.{SECRET} is not: the previous secret signs only beside a current one"
    )]
    PreviousAlone(&'static str),
    #[error(
        "secrets.{PREVIOUS_SECRET} needs signing.previous_expires_at: until when it signs beside the new one"
    )]
    NoExpiry,
}

/// `[destinations.signing]`: how a rotation ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SigningConfig {
    /// When the previous secret stops signing.
    pub previous_expires_at: Option<SystemTime>,
}

/// A destination's signing keys.
pub struct Signer {
    current: Vec<u8>,
    previous: Option<(Vec<u8>, SystemTime)>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(***)")
    }
}

impl Signer {
    /// The signer of a destination's `secrets`, or none when it has no
    /// signing secret.
    pub fn new(
        secrets: &BTreeMap<String, Secret>,
        config: &SigningConfig,
    ) -> Result<Option<Self>, SigningError> {
        let key = |name: &'static str| secrets.get(name).map(|s| decode(name, s)).transpose();
        let (current, previous) = (key(SECRET)?, key(PREVIOUS_SECRET)?);
        let Some(current) = current else {
            return match previous {
                Some(_) => Err(SigningError::PreviousAlone(PREVIOUS_SECRET)),
                None => Ok(None),
            };
        };
        let previous = match (previous, config.previous_expires_at) {
            (Some(key), Some(until)) => Some((key, until)),
            (Some(_), None) => return Err(SigningError::NoExpiry),
            (None, _) => None,
        };
        Ok(Some(Self { current, previous }))
    }

    /// The headers that sign `body` as message `id` at `now`.
    pub fn headers(&self, id: &str, body: &[u8], now: SystemTime) -> Vec<(String, String)> {
        let timestamp = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            .to_string();
        let mut signatures = vec![signature(&self.current, id, &timestamp, body)];
        if let Some((key, until)) = &self.previous
            && now < *until
        {
            signatures.push(signature(key, id, &timestamp, body));
        }
        vec![
            ("webhook-id".into(), id.to_owned()),
            ("webhook-timestamp".into(), timestamp),
            ("webhook-signature".into(), signatures.join(" ")),
        ]
    }
}

/// The key bytes of a `whsec_…` secret (the prefix may be left out).
fn decode(name: &'static str, secret: &Secret) -> Result<Vec<u8>, SigningError> {
    let text = secret.expose().trim();
    let encoded = text.strip_prefix(PREFIX).unwrap_or(text);
    match STANDARD.decode(encoded) {
        Ok(key) if key.len() >= MIN_KEY_BYTES => Ok(key),
        _ => Err(SigningError::Malformed(name)),
    }
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
fn signature(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
        mac.update(part);
    }
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn secrets(pairs: &[(&str, &str)]) -> BTreeMap<String, Secret> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Secret::new(*v)))
            .collect()
    }

    const KEY_A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const KEY_B: &str = "whsec_c2Vjb25kIHNlY3JldCBvZiAyNCBieXRlcyE=";

    #[test]
    fn settings_and_their_problems() {
        let none = SigningConfig::default();
        assert!(Signer::new(&secrets(&[]), &none).unwrap().is_none());
        assert!(Signer::new(&secrets(&[(SECRET, KEY_A)]), &none).is_ok());
        for bad in ["whsec_", "whsec_!!", "whsec_c2hvcnQ=", "plain text"] {
            assert_eq!(
                Signer::new(&secrets(&[(SECRET, bad)]), &none).unwrap_err(),
                SigningError::Malformed(SECRET),
                "{bad}"
            );
        }
        assert_eq!(
            Signer::new(&secrets(&[(PREVIOUS_SECRET, KEY_A)]), &none).unwrap_err(),
            SigningError::PreviousAlone(PREVIOUS_SECRET)
        );
        assert_eq!(
            Signer::new(
                &secrets(&[(SECRET, KEY_A), (PREVIOUS_SECRET, KEY_B)]),
                &none
            )
            .unwrap_err(),
            SigningError::NoExpiry
        );
    }

    /// The example in the Standard Webhooks spec (its README and reference
    /// libraries' tests): this secret, id, timestamp and body sign to this.
    #[test]
    fn the_spec_example_signs_alike() {
        let signer = Signer::new(&secrets(&[(SECRET, KEY_A)]), &SigningConfig::default())
            .unwrap()
            .unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_614_265_330);
        let headers = signer.headers(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            br#"{"test": 2432232314}"#,
            at,
        );
        assert_eq!(
            headers,
            [
                (
                    "webhook-id".to_owned(),
                    "msg_p5jXN8AQM9LWM0D4loKWxJek".to_owned()
                ),
                ("webhook-timestamp".to_owned(), "1614265330".to_owned()),
                (
                    "webhook-signature".to_owned(),
                    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned()
                ),
            ]
        );
    }

    /// The previous secret signs until it expires, then only the current one.
    #[test]
    fn the_previous_secret_signs_until_it_expires() {
        let until = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let config = SigningConfig {
            previous_expires_at: Some(until),
        };
        let signer = Signer::new(
            &secrets(&[(SECRET, KEY_A), (PREVIOUS_SECRET, KEY_B)]),
            &config,
        )
        .unwrap()
        .unwrap();
        let header = |at: u64| {
            let headers = signer.headers(
                "msg_1",
                b"{}",
                SystemTime::UNIX_EPOCH + Duration::from_secs(at),
            );
            assert_eq!(headers[1].1, at.to_string());
            headers[2].1.clone()
        };
        let during = header(999);
        let after = header(1_000);
        assert_eq!(during.split(' ').count(), 2, "{during}");
        assert_eq!(after.split(' ').count(), 1, "{after}");
        assert!(after.starts_with("v1,"));
    }
}
