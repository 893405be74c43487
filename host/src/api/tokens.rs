//! Customer tokens: HS256 JWTs (RFC 7519) whose `sub` is a customer, so a
//! platform can hand one to its customer's browser and its own UI can call
//! this API for that customer only. Signed with `[security] token_secret`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// `iss` and `aud` of every token: a token from another system that shares
/// the secret by accident is still refused.
const ISSUER: &str = "pushrail";

/// Longest lifetime a token may be minted with.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    /// Not required of tokens another library minted.
    #[serde(default)]
    iat: u64,
    exp: u64,
}

/// A token for `customer`, valid for `ttl`, and when it expires (unix seconds).
pub fn mint(secret: &str, customer: &str, ttl: Duration) -> (String, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        sub: customer.to_owned(),
        iss: ISSUER.into(),
        aud: ISSUER.into(),
        iat: now,
        exp: now + ttl.as_secs(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing does not fail");
    (token, claims.exp)
}

/// The customer a valid token is for; `None` for anything else (another
/// algorithm, a bad signature, expired, another issuer or audience).
pub fn verify(secret: &str, token: &str) -> Option<String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 5;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .ok()
    .map(|data| data.claims.sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_minted_token_verifies_and_others_do_not() {
        let (token, _) = mint(SECRET, "acct_a", Duration::from_secs(60));
        assert_eq!(verify(SECRET, &token).as_deref(), Some("acct_a"));
        assert_eq!(verify("another secret of 32 bytes or more!!", &token), None);
        let (expired, _) = mint(SECRET, "acct_a", Duration::ZERO);
        std::thread::sleep(Duration::from_millis(10));
        // Within the 5 s leeway an exactly-expired token still passes; one
        // far in the past does not.
        let claims = Claims {
            sub: "acct_a".into(),
            iss: ISSUER.into(),
            aud: ISSUER.into(),
            iat: 1,
            exp: 2,
        };
        let old = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(verify(SECRET, &old), None);
        assert!(verify(SECRET, &expired).is_some());
        // Unsigned ("alg": "none") is never accepted.
        let payload = token.split('.').nth(1).unwrap();
        assert_eq!(
            verify(SECRET, &format!("eyJhbGciOiJub25lIn0.{payload}.")),
            None
        );
    }
}
