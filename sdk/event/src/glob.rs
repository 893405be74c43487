//! `*` patterns over event types (`order.*`), for routing and replays.

/// True when `text` matches `pattern`, where `*` matches any run of
/// characters (none included) and everything else matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    if text.len() < first.len() + last.len() || !text.starts_with(first) || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs() {
        assert!(glob_matches("order.*", "order.completed"));
        assert!(glob_matches("order.completed", "order.completed"));
        assert!(!glob_matches("order.completed", "order.completed.v2"));
        assert!(glob_matches("*.completed", "order.completed"));
        assert!(glob_matches("o*r.*d", "order.completed"));
        assert!(!glob_matches("invoice.*", "order.completed"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("a*a", "a"), "the ends may not overlap");
        assert!(glob_matches("a*a", "aa"));
        assert!(glob_matches("a**b", "ab"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "acb"));
        assert!(!glob_matches("ab*ba", "aba"));
    }
}
