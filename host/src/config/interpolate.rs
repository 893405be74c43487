//! `${VAR}` and `${VAR:-default}` expansion inside TOML string values.
//!
//! Expansion happens per value, after TOML parsing, so that a problem can be
//! reported with the TOML path of the value it came from, and so that a
//! variable holding quotes or newlines cannot change the shape of the file.

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    #[error("environment variable {0} is not set (use ${{{0}:-default}} for a fallback)")]
    Missing(String),
    #[error("unterminated ${{...}} reference")]
    Unterminated,
    #[error("invalid variable name {0:?}: use letters, digits and _")]
    BadName(String),
}

/// Expands every `${NAME}` and `${NAME:-default}` in `input` with `lookup`.
/// `$$` is a literal `$`.
pub fn interpolate(
    input: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    if !input.contains('$') {
        return Ok(input.to_owned());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').ok_or(InterpolateError::Unterminated)?;
            let reference = &inner[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (reference, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(InterpolateError::BadName(name.to_owned()));
            }
            match (lookup(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => return Err(InterpolateError::Missing(name.to_owned())),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_variables_and_defaults() {
        assert_eq!(interpolate("a ${TOKEN} b", env).unwrap(), "a s3cret b");
        assert_eq!(interpolate("${NOPE:-x:y}", env).unwrap(), "x:y");
        assert_eq!(interpolate("${TOKEN:-x}", env).unwrap(), "s3cret");
        assert_eq!(interpolate("${EMPTY:-x}", env).unwrap(), "");
        assert_eq!(
            interpolate("cost $5 and $${TOKEN}", env).unwrap(),
            "cost $5 and ${TOKEN}"
        );
    }

    #[test]
    fn reports_missing_and_malformed_references() {
        assert_eq!(
            interpolate("${NOPE}", env),
            Err(InterpolateError::Missing("NOPE".into()))
        );
        assert_eq!(
            interpolate("${TOKEN", env),
            Err(InterpolateError::Unterminated)
        );
        assert_eq!(
            interpolate("${A-B}", env),
            Err(InterpolateError::BadName("A-B".into()))
        );
    }
}
