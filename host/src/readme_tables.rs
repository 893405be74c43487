//! Test support: the README's tables that are generated from a list in the
//! code (error codes, failure codes) are checked against it, and rewritten
//! from it with `PUSHRAIL_BLESS=1`.

use std::path::PathBuf;

/// A markdown table: `header` (`| a | b |`), then one row per item.
pub fn markdown(header: &str, rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let columns = header.matches('|').count() - 1;
    let mut out = format!("{header}\n|{}\n", "---|".repeat(columns));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

/// Asserts that the README holds `table` where its first line is (or
/// rewrites it there when `PUSHRAIL_BLESS` is set); `source` names the list.
pub fn check(table: &str, source: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let first_line = &table[..=table.find('\n').unwrap()];
    let start = readme
        .find(first_line)
        .unwrap_or_else(|| panic!("the README has no table starting {first_line:?}"));
    let end = readme[start..]
        .find("\n\n")
        .map_or(readme.len(), |i| start + i + 1);
    if std::env::var_os("PUSHRAIL_BLESS").is_some() {
        let updated = format!("{}{}{}", &readme[..start], table, &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        table,
        "the README's table differs from {source}; run PUSHRAIL_BLESS=1 cargo test -p pushrail --lib"
    );
}
