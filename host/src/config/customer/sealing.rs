//! Customers' secrets in their destinations' JSON: sealed before it is
//! stored, opened in place when it is read, re-sealed by a key rotation,
//! and never shown.

use serde_json::{Map, Value};

use super::checks::is_token;
use super::{SpecProblem, literal};
use crate::secrets::Keyring;

/// The fields that hold secrets: stored sealed, never shown.
const SECRET_FIELDS: [&str; 4] = [
    "auth.secretAccessKey",
    "auth.sessionToken",
    "auth.password",
    "auth.token",
];

/// Seals the secret fields of `spec` (a customer's JSON) for customer
/// destination `id`, before it is stored.
/// A blank secret is refused here: once sealed it could not be checked.
pub fn seal_secrets(
    spec: &mut Map<String, Value>,
    keyring: &Keyring,
    customer: &str,
    id: &str,
) -> Result<(), SpecProblem> {
    let Some(Value::Object(auth)) = spec.get_mut("auth") else {
        return Ok(());
    };
    for field in SECRET_FIELDS {
        let name = field.trim_start_matches("auth.");
        if let Some(Value::String(plain)) = auth.get(name) {
            if !is_token(plain) {
                return Err(SpecProblem {
                    field: field.to_owned(),
                    message: "must not be empty or hold control characters".into(),
                });
            }
            let sealed = keyring.seal(plain, &[customer, id, field]);
            auth.insert(name.to_owned(), Value::String(sealed));
        }
    }
    Ok(())
}

/// Re-seals the secrets of `spec` that are under another key than the
/// primary; how many were re-sealed, or the first that does not open.
pub fn reseal_secrets(
    spec: &mut Value,
    keyring: &Keyring,
    customer: &str,
    id: &str,
) -> Result<usize, SpecProblem> {
    let Some(Value::Object(auth)) = spec.get_mut("auth") else {
        return Ok(0);
    };
    let mut resealed = 0;
    for field in SECRET_FIELDS {
        let name = field.trim_start_matches("auth.");
        let Some(Value::String(sealed)) = auth.get(name) else {
            continue;
        };
        if !keyring.is_stale(sealed) {
            continue;
        }
        let secret = keyring
            .open(sealed, &[customer, id, field])
            .map_err(|e| SpecProblem {
                field: field.to_owned(),
                message: format!("the stored secret cannot be opened: {e}"),
            })?;
        let again = keyring.seal(secret.expose(), &[customer, id, field]);
        auth.insert(name.to_owned(), Value::String(again));
        resealed += 1;
    }
    Ok(resealed)
}

/// `spec` as the API shows it: each secret field replaced by
/// `"<field>Set": true`.
pub fn redacted(spec: &Value) -> Value {
    let mut out = spec.clone();
    if let Some(Value::Object(auth)) = out.get_mut("auth") {
        for field in SECRET_FIELDS {
            let name = field.trim_start_matches("auth.");
            if auth.remove(name).is_some() {
                auth.insert(format!("{name}Set"), Value::Bool(true));
            }
        }
    }
    out
}

/// Opens a destination's sealed fields, bound to its customer and id.
pub(super) struct Opener<'a> {
    pub(super) keyring: &'a Keyring,
    pub(super) customer: &'a str,
    pub(super) id: &'a str,
}

impl Opener<'_> {
    /// The secret in `auth.<name>` of `auth`, opened, as a literal TOML string.
    pub(super) fn open(
        &self,
        auth: &Map<String, Value>,
        field: &str,
    ) -> Result<Option<toml::Value>, Vec<SpecProblem>> {
        let name = field.trim_start_matches("auth.");
        let Some(sealed) = auth.get(name).and_then(Value::as_str) else {
            return Ok(None);
        };
        let secret = self
            .keyring
            .open(sealed, &[self.customer, self.id, field])
            .map_err(|e| {
                vec![SpecProblem {
                    field: field.to_owned(),
                    message: format!("the stored secret cannot be opened: {e}"),
                }]
            })?;
        Ok(Some(toml::Value::String(literal(secret.expose()))))
    }
}
