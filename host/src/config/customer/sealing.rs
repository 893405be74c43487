//! Customers' secrets in their destinations' JSON: sealed before it is
//! stored, opened in place when it is read, re-sealed by a key rotation,
//! and never shown.

use serde_json::{Map, Value};

use super::checks::is_token;
use super::{SpecProblem, literal};
use crate::secrets::Keyring;

/// The fields of `auth` that hold secrets; every member of a `PLUGIN`
/// destination's `secrets` is one too (`secrets.<name>`).
const AUTH_SECRETS: [&str; 4] = [
    "auth.secretAccessKey",
    "auth.sessionToken",
    "auth.password",
    "auth.token",
];

/// Calls `f` with each secret field of `spec` (`auth.password`,
/// `secrets.apiKey`) and its value.
fn each_secret(
    spec: &mut Map<String, Value>,
    mut f: impl FnMut(&str, &mut Value) -> Result<(), SpecProblem>,
) -> Result<(), SpecProblem> {
    if let Some(Value::Object(auth)) = spec.get_mut("auth") {
        for field in AUTH_SECRETS {
            if let Some(value) = auth.get_mut(member(field)) {
                f(field, value)?;
            }
        }
    }
    if let Some(Value::Object(named)) = spec.get_mut("secrets") {
        for (name, value) in named.iter_mut() {
            f(&format!("secrets.{name}"), value)?;
        }
    }
    Ok(())
}

/// `password` of `auth.password`.
fn member(field: &str) -> &str {
    field.split_once('.').map_or(field, |(_, name)| name)
}

/// Seals the secret fields of `spec` (a customer's JSON) for customer
/// destination `id`, before it is stored.
/// A blank secret is refused here: once sealed it could not be checked.
pub fn seal_secrets(
    spec: &mut Map<String, Value>,
    keyring: &Keyring,
    customer: &str,
    id: &str,
) -> Result<(), SpecProblem> {
    each_secret(spec, |field, value| {
        if let Value::String(plain) = value {
            if !is_token(plain) {
                return Err(SpecProblem {
                    field: field.to_owned(),
                    message: "must not be empty or hold control characters".into(),
                });
            }
            *plain = keyring.seal(plain, &[customer, id, field]);
        }
        Ok(())
    })
}

/// Re-seals the secrets of `spec` that are under another key than the
/// primary; how many were re-sealed, or the first that does not open.
pub fn reseal_secrets(
    spec: &mut Value,
    keyring: &Keyring,
    customer: &str,
    id: &str,
) -> Result<usize, SpecProblem> {
    let Value::Object(spec) = spec else {
        return Ok(0);
    };
    let mut resealed = 0;
    each_secret(spec, |field, value| {
        let Value::String(sealed) = value else {
            return Ok(());
        };
        if !keyring.is_stale(sealed) {
            return Ok(());
        }
        let secret = keyring
            .open(sealed, &[customer, id, field])
            .map_err(|e| SpecProblem {
                field: field.to_owned(),
                message: format!("the stored secret cannot be opened: {e}"),
            })?;
        *sealed = keyring.seal(secret.expose(), &[customer, id, field]);
        resealed += 1;
        Ok(())
    })?;
    Ok(resealed)
}

/// `spec` as the API shows it: each secret field of `auth` replaced by
/// `"<field>Set": true`, and `secrets` by the list of their names
/// (`"secretsSet": ["apiKey"]`).
pub fn redacted(spec: &Value) -> Value {
    let mut out = spec.clone();
    if let Some(Value::Object(auth)) = out.get_mut("auth") {
        for field in AUTH_SECRETS {
            let name = member(field);
            if auth.remove(name).is_some() {
                auth.insert(format!("{name}Set"), Value::Bool(true));
            }
        }
    }
    if let Value::Object(spec) = &mut out
        && let Some(Value::Object(named)) = spec.remove("secrets")
    {
        let mut names: Vec<String> = named.into_iter().map(|(name, _)| name).collect();
        // Sorted whatever order the JSON map keeps.
        names.sort_unstable();
        let names = names.into_iter().map(Value::String).collect();
        spec.insert("secretsSet".into(), Value::Array(names));
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
    /// The secret `field` (`auth.password`) in its object (`auth`), opened,
    /// as a literal TOML string.
    pub(super) fn open(
        &self,
        within: &Map<String, Value>,
        field: &str,
    ) -> Result<Option<toml::Value>, Vec<SpecProblem>> {
        let Some(sealed) = within.get(member(field)).and_then(Value::as_str) else {
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
