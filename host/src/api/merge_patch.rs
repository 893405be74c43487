//! JSON merge patch (RFC 7396), how `PATCH` changes a customer's
//! destination: a member replaces the one it names, objects merge member
//! by member, and `null` removes.

use serde_json::{Map, Value};

/// Applies `patch` to `target`.
pub fn merge(target: &mut Value, patch: Value) {
    let Value::Object(members) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(here) = target else {
        unreachable!("made an object above")
    };
    for (name, value) in members {
        if value.is_null() {
            here.remove(&name);
        } else {
            merge(here.entry(name).or_insert(Value::Null), value);
        }
    }
}

/// `patch` without its removals: what it sets, to be checked like a
/// destination's fields.
pub fn settings(patch: &Map<String, Value>) -> Map<String, Value> {
    patch
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| {
            let value = match value {
                Value::Object(inner) => Value::Object(settings(inner)),
                other => other.clone(),
            };
            (name.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The examples of RFC 7396, appendix A.
    #[test]
    fn merges_like_the_rfc_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, want) in cases {
            let mut got = target.clone();
            merge(&mut got, patch.clone());
            assert_eq!(got, want, "{target} patched with {patch}");
        }
    }

    #[test]
    fn settings_leave_out_removals_at_every_depth() {
        let patch =
            json!({"name": null, "auth": {"password": "p", "tls": null}, "eventTypes": ["a"]});
        assert_eq!(
            Value::Object(settings(patch.as_object().unwrap())),
            json!({"auth": {"password": "p"}, "eventTypes": ["a"]})
        );
    }
}
