//! A reader over one TOML table that collects every problem with its path
//! instead of stopping at the first, and rejects keys nobody asked for.

use std::cell::RefCell;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use toml::Value;

use super::interpolate::interpolate;
use super::units::{parse_duration, parse_size};

/// One thing wrong with a config file, at a TOML path such as
/// `destinations[1].retry.max_wait`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Where problems are gathered, and how `${VAR}` is looked up.
pub struct Context<'e> {
    problems: RefCell<Vec<Problem>>,
    env: &'e dyn Fn(&str) -> Option<String>,
}

impl<'e> Context<'e> {
    pub fn new(env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            problems: RefCell::new(Vec::new()),
            env,
        }
    }

    pub fn report(&self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.borrow_mut().push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub fn into_problems(self) -> Vec<Problem> {
        self.problems.into_inner()
    }

    fn expand(&self, path: &str, raw: &str) -> Option<String> {
        match interpolate(raw, self.env) {
            Ok(value) => Some(value),
            Err(e) => {
                self.report(path, e.to_string());
                None
            }
        }
    }
}

/// Reads typed fields out of one table; call [`Fields::finish`] last so that
/// unknown keys are reported.
pub struct Fields<'t, 'c, 'e> {
    path: String,
    table: &'t toml::Table,
    known: Vec<&'t str>,
    ctx: &'c Context<'e>,
}

impl<'t, 'c, 'e> Fields<'t, 'c, 'e> {
    pub fn root(table: &'t toml::Table, ctx: &'c Context<'e>) -> Self {
        Self::at(String::new(), table, ctx)
    }

    fn at(path: String, table: &'t toml::Table, ctx: &'c Context<'e>) -> Self {
        Self {
            path,
            table,
            known: Vec::new(),
            ctx,
        }
    }

    /// The TOML path of `key` inside this table.
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn report(&self, key: &str, message: impl Into<String>) {
        self.ctx.report(self.path_of(key), message);
    }

    fn take(&mut self, key: &'static str) -> Option<&'t Value> {
        self.known.push(key);
        self.table.get(key)
    }

    /// A string value with `${VAR}` expanded; `None` when absent or invalid.
    pub fn string(&mut self, key: &'static str) -> Option<String> {
        let value = self.take(key)?;
        self.expect_string(key, value)
    }

    fn expect_string(&self, key: &str, value: &Value) -> Option<String> {
        match value {
            Value::String(raw) => self.ctx.expand(&self.path_of(key), raw),
            other => {
                self.report(
                    key,
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// Like [`Fields::string`], but reports a missing or empty value.
    pub fn required_string(&mut self, key: &'static str) -> Option<String> {
        match self.table.contains_key(key) {
            false => {
                self.known.push(key);
                self.report(key, "is required");
                None
            }
            true => {
                let value = self.string(key)?;
                if value.trim().is_empty() {
                    self.report(key, "must not be empty");
                    return None;
                }
                Some(value)
            }
        }
    }

    /// A scalar written either natively or as a string (so `"${PORT}"` works),
    /// parsed by `parse`; reports `expected` when it does not parse.
    fn scalar<T>(
        &mut self,
        key: &'static str,
        expected: &str,
        native: impl Fn(&Value) -> Option<T>,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let value = self.take(key)?;
        let parsed = match value {
            Value::String(raw) => {
                let text = self.ctx.expand(&self.path_of(key), raw)?;
                parse(&text)
            }
            other => native(other),
        };
        if parsed.is_none() {
            self.report(key, format!("expected {expected}"));
        }
        parsed
    }

    pub fn duration(&mut self, key: &'static str, default: Duration) -> Duration {
        self.scalar(key, "a duration like \"30s\"", |_| None, parse_duration)
            .unwrap_or(default)
    }

    pub fn size(&mut self, key: &'static str, default: u64) -> u64 {
        let expected = "a size like \"8MiB\" or a number of bytes";
        let native = |v: &Value| v.as_integer().and_then(|i| u64::try_from(i).ok());
        self.scalar(key, expected, native, parse_size)
            .unwrap_or(default)
    }

    pub fn integer(&mut self, key: &'static str, default: u64, range: RangeInclusive<u64>) -> u64 {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        let within = |n: u64| range.contains(&n).then_some(n);
        let native = |v: &Value| {
            v.as_integer()
                .and_then(|i| u64::try_from(i).ok())
                .and_then(within)
        };
        let parse = |s: &str| s.trim().parse().ok().and_then(within);
        self.scalar(key, &expected, native, parse)
            .unwrap_or(default)
    }

    pub fn boolean(&mut self, key: &'static str, default: bool) -> bool {
        self.scalar(key, "true or false", Value::as_bool, |s| {
            s.trim().parse().ok()
        })
        .unwrap_or(default)
    }

    /// One of a fixed set of words.
    pub fn choice<T: Copy>(&mut self, key: &'static str, default: T, options: &[(&str, T)]) -> T {
        let Some(text) = self.string(key) else {
            return default;
        };
        match options.iter().find(|(name, _)| *name == text) {
            Some((_, value)) => *value,
            None => {
                let names: Vec<_> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                self.report(
                    key,
                    format!("expected one of {}, found \"{text}\"", names.join(", ")),
                );
                default
            }
        }
    }

    pub fn string_list(&mut self, key: &'static str) -> Vec<String> {
        let Some(value) = self.take(key) else {
            return Vec::new();
        };
        let Some(items) = value.as_array() else {
            self.report(
                key,
                format!("expected an array of strings, found {}", value.type_str()),
            );
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.expect_string(&format!("{key}[{i}]"), item))
            .collect()
    }

    /// True when `key` is present, whatever it holds (so a default can
    /// depend on a sibling table).
    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// True when `key` holds a string (so a caller can accept a string or a list).
    pub fn is_string(&self, key: &str) -> bool {
        self.table.get(key).is_some_and(Value::is_str)
    }

    /// Every key of a free-form table of scalars (strings expanded, numbers
    /// and booleans written out), e.g. properties passed through to a library.
    pub fn scalars_as_strings(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (key, value) in self.table {
            self.known.push(key.as_str());
            let text = match value {
                Value::String(raw) => self.ctx.expand(&self.path_of(key), raw),
                Value::Integer(i) => Some(i.to_string()),
                Value::Float(f) => Some(f.to_string()),
                Value::Boolean(b) => Some(b.to_string()),
                other => {
                    self.report(
                        key,
                        format!(
                            "expected a string, number or boolean, found {}",
                            other.type_str()
                        ),
                    );
                    None
                }
            };
            if let Some(text) = text {
                out.push((key.clone(), text));
            }
        }
        out
    }

    /// A nested table; `None` when absent (or, reported, when not a table).
    pub fn table(&mut self, key: &'static str) -> Option<Fields<'t, 'c, 'e>> {
        let value = self.take(key)?;
        match value {
            Value::Table(table) => Some(Fields::at(self.path_of(key), table, self.ctx)),
            other => {
                self.report(key, format!("expected a table, found {}", other.type_str()));
                None
            }
        }
    }

    /// An array of tables (`[[key]]`), each with its index in its path.
    pub fn tables(&mut self, key: &'static str) -> Vec<Fields<'t, 'c, 'e>> {
        let Some(value) = self.take(key) else {
            return Vec::new();
        };
        let Some(items) = value.as_array() else {
            self.report(
                key,
                format!(
                    "expected an array of tables ([[{key}]]), found {}",
                    value.type_str()
                ),
            );
            return Vec::new();
        };
        let mut tables = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::Table(table) => tables.push(Fields::at(
                    self.path_of(&format!("{key}[{i}]")),
                    table,
                    self.ctx,
                )),
                other => self.report(
                    &format!("{key}[{i}]"),
                    format!("expected a table, found {}", other.type_str()),
                ),
            }
        }
        tables
    }

    /// A free-form table handed on as JSON (to a plugin's `init`), with
    /// every string expanded; `{}` when absent.
    pub fn free_table(&mut self, key: &'static str) -> serde_json::Value {
        let empty = serde_json::Value::Object(Default::default());
        let Some(value) = self.take(key) else {
            return empty;
        };
        if !value.is_table() {
            self.report(key, format!("expected a table, found {}", value.type_str()));
            return empty;
        }
        self.to_json(&self.path_of(key), value).unwrap_or(empty)
    }

    fn to_json(&self, path: &str, value: &Value) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match value {
            Value::String(raw) => J::String(self.ctx.expand(path, raw)?),
            Value::Integer(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Boolean(b) => J::Bool(*b),
            Value::Datetime(d) => J::String(d.to_string()),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.to_json(&format!("{path}[{i}]"), item)?);
                }
                J::Array(out)
            }
            Value::Table(table) => {
                let mut out = serde_json::Map::new();
                for (k, v) in table {
                    out.insert(k.clone(), self.to_json(&format!("{path}.{k}"), v)?);
                }
                J::Object(out)
            }
        })
    }

    /// Reports every key in the table that no accessor asked for.
    pub fn finish(self) {
        for key in self.table.keys() {
            if !self.known.iter().any(|k| k == key) {
                let mut expected: Vec<&str> = self.known.clone();
                expected.sort_unstable();
                expected.dedup();
                self.report(
                    key,
                    format!("unknown key (expected one of: {})", expected.join(", ")),
                );
            }
        }
    }
}
