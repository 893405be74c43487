//! Event filters: which events a destination subscribes to, as a small
//! JSON language over the event's fields (in the spirit of MongoDB's query
//! operators, which many platform teams already know).
//!
//! ```json
//! {"metadata.region": {"$in": ["eu-west-1", "eu-central-1"]},
//!  "payload.amount": {"$gte": 1000},
//!  "$or": [{"source": "billing"}, {"eventType": {"$glob": "order.*"}}]}
//! ```
//!
//! An object's members must all hold (and). A member is `$and`, `$or`
//! (arrays of filters), `$not` (a filter), or a field path (as for partition
//! keys: `eventType`, `source`, `customerExternalId`, `idempotencyKey`,
//! `correlationId`, `metadata.x.y`, `payload.x.y`) with either a value
//! (equal to it) or an object of operators: `$eq`, `$ne`, `$in`, `$nin`,
//! `$gt`, `$gte`, `$lt`, `$lte` (numbers with numbers, strings with
//! strings), `$exists` (true/false) and `$glob` (`*` patterns over strings).
//! A missing field equals nothing, is in nothing, and compares with nothing.

use std::cmp::Ordering;
use std::sync::OnceLock;

use serde_json::Value;

use crate::{EventFields, FieldPath, glob_matches};

/// A parsed filter, ready to test events.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Node);

/// Why a filter could not be parsed: `at` is where in it (`$or[1].payload.n.$gt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// Where in the filter the problem is (empty: the filter itself).
    pub at: String,
    /// What is wrong there.
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.at, self.message)
        }
    }
}

impl std::error::Error for FilterError {}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Field(FieldPath, Vec<Op>),
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Cmp(Ordering, bool, Value),
    Exists(bool),
    Glob(String),
}

impl Filter {
    /// Parses a filter from its JSON form.
    pub fn parse(value: &Value) -> Result<Self, FilterError> {
        node(value, "").map(Filter)
    }

    /// True when `event` passes the filter.
    pub fn matches(&self, event: &impl EventFields) -> bool {
        let fields = Fields {
            event,
            metadata: OnceLock::new(),
            payload: OnceLock::new(),
        };
        eval(&self.0, &fields)
    }
}

fn error(at: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        at: at.to_owned(),
        message: message.into(),
    }
}

fn join(at: &str, part: &str) -> String {
    if at.is_empty() {
        part.to_owned()
    } else {
        format!("{at}.{part}")
    }
}

fn node(value: &Value, at: &str) -> Result<Node, FilterError> {
    let Value::Object(members) = value else {
        return Err(error(at, "a filter is a JSON object"));
    };
    let mut all = Vec::with_capacity(members.len());
    for (name, value) in members {
        let here = join(at, name);
        all.push(match name.as_str() {
            "$and" | "$or" => {
                let Some(items) = value.as_array().filter(|a| !a.is_empty()) else {
                    return Err(error(&here, "must be a non-empty array of filters"));
                };
                let nodes = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| node(item, &format!("{here}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                if name == "$and" {
                    Node::All(nodes)
                } else {
                    Node::Any(nodes)
                }
            }
            "$not" => Node::Not(Box::new(node(value, &here)?)),
            other if other.starts_with('$') => {
                return Err(error(&here, "unknown operator; use $and, $or, $not or a field path"));
            }
            path => {
                let field = match FieldPath::parse(path) {
                    Some(FieldPath::Random) | None => {
                        return Err(error(
                            &here,
                            "not a field path (eventType, source, customerExternalId, idempotencyKey, correlationId, metadata.x, payload.x)",
                        ));
                    }
                    Some(field) => field,
                };
                Node::Field(field, ops(value, &here)?)
            }
        });
    }
    Ok(Node::All(all))
}

fn ops(value: &Value, at: &str) -> Result<Vec<Op>, FilterError> {
    let operators = match value {
        Value::Object(map) if map.keys().any(|k| k.starts_with('$')) => map,
        literal => return Ok(vec![Op::Eq(literal.clone())]),
    };
    operators
        .iter()
        .map(|(name, operand)| op(name, operand, &join(at, name)))
        .collect()
}

fn op(name: &str, operand: &Value, at: &str) -> Result<Op, FilterError> {
    let list = || {
        operand
            .as_array()
            .cloned()
            .ok_or_else(|| error(at, "must be an array of values"))
    };
    let comparable = || match operand {
        Value::Number(_) | Value::String(_) => Ok(operand.clone()),
        _ => Err(error(at, "compares with a number or a string")),
    };
    Ok(match name {
        "$eq" => Op::Eq(operand.clone()),
        "$ne" => Op::Ne(operand.clone()),
        "$in" => Op::In(list()?),
        "$nin" => Op::Nin(list()?),
        "$gt" => Op::Cmp(Ordering::Greater, false, comparable()?),
        "$gte" => Op::Cmp(Ordering::Greater, true, comparable()?),
        "$lt" => Op::Cmp(Ordering::Less, false, comparable()?),
        "$lte" => Op::Cmp(Ordering::Less, true, comparable()?),
        "$exists" => Op::Exists(
            operand
                .as_bool()
                .ok_or_else(|| error(at, "must be true or false"))?,
        ),
        "$glob" => Op::Glob(
            operand
                .as_str()
                .ok_or_else(|| error(at, "must be a string pattern"))?
                .to_owned(),
        ),
        _ => {
            return Err(error(
                at,
                "unknown operator; use $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists or $glob",
            ));
        }
    })
}

/// An event's fields with its metadata and payload parsed at most once.
struct Fields<'a, E> {
    event: &'a E,
    metadata: OnceLock<Value>,
    payload: OnceLock<Value>,
}

impl<E: EventFields> Fields<'_, E> {
    fn value(&self, path: &FieldPath) -> Option<Value> {
        let text = |s: &str| Some(Value::String(s.to_owned()));
        let nested = |cell: &OnceLock<Value>, json: &str, parts: &[String]| {
            let root = cell.get_or_init(|| serde_json::from_str(json).unwrap_or(Value::Null));
            parts
                .iter()
                .try_fold(root, |value, part| value.get(part))
                .filter(|v| !v.is_null())
                .cloned()
        };
        match path {
            FieldPath::CustomerExternalId => text(self.event.customer_external_id()),
            FieldPath::EventType => text(self.event.event_type()),
            FieldPath::Source => text(self.event.source()),
            FieldPath::IdempotencyKey => text(self.event.idempotency_key()),
            FieldPath::CorrelationId => self.event.correlation_id().and_then(text),
            FieldPath::Random => None,
            FieldPath::Metadata(parts) => nested(&self.metadata, self.event.metadata(), parts),
            FieldPath::Payload(parts) => nested(&self.payload, self.event.payload(), parts),
        }
    }
}

fn eval<E: EventFields>(node: &Node, fields: &Fields<'_, E>) -> bool {
    match node {
        Node::All(nodes) => nodes.iter().all(|n| eval(n, fields)),
        Node::Any(nodes) => nodes.iter().any(|n| eval(n, fields)),
        Node::Not(node) => !eval(node, fields),
        Node::Field(path, ops) => {
            let value = fields.value(path);
            ops.iter().all(|op| holds(op, value.as_ref()))
        }
    }
}

fn holds(op: &Op, value: Option<&Value>) -> bool {
    match (op, value) {
        (Op::Exists(wanted), value) => value.is_some() == *wanted,
        (Op::Ne(other), value) => value.is_none_or(|v| !same(v, other)),
        (Op::Nin(list), value) => value.is_none_or(|v| !list.iter().any(|o| same(v, o))),
        (_, None) => false,
        (Op::Eq(other), Some(v)) => same(v, other),
        (Op::In(list), Some(v)) => list.iter().any(|o| same(v, o)),
        (Op::Cmp(side, or_equal, bound), Some(v)) => {
            compare(v, bound).is_some_and(|o| o == *side || (*or_equal && o == Ordering::Equal))
        }
        (Op::Glob(pattern), Some(Value::String(s))) => glob_matches(pattern, s),
        (Op::Glob(_), Some(_)) => false,
    }
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_event::TestEvent;

    fn passes(filter: Value) -> bool {
        Filter::parse(&filter).unwrap().matches(&TestEvent::new())
    }

    #[test]
    fn fields_values_and_operators() {
        // TestEvent: source billing, customer acct_1, metadata {"region": "eu"},
        // payload {"order": {"id": "ord_1", "n": 3}, ...}.
        assert!(passes(json!({})));
        assert!(passes(
            json!({"source": "billing", "metadata.region": "eu"})
        ));
        assert!(!passes(
            json!({"source": "billing", "metadata.region": "us"})
        ));
        assert!(passes(json!({"metadata.region": {"$in": ["us", "eu"]}})));
        assert!(!passes(json!({"metadata.region": {"$nin": ["us", "eu"]}})));
        assert!(passes(json!({"payload.order.n": {"$gte": 3, "$lt": 4}})));
        assert!(passes(json!({"payload.order.n": 3.0})));
        assert!(!passes(json!({"payload.order.n": {"$gt": 3}})));
        assert!(
            !passes(json!({"payload.order.n": {"$gt": "3"}})),
            "no cross-type comparison"
        );
        assert!(passes(json!({"payload.order.id": {"$glob": "ord_*"}})));
        assert!(passes(json!({"correlationId": {"$exists": true}})));
        assert!(passes(json!({"payload.missing": {"$exists": false}})));
        assert!(
            !passes(json!({"payload.missing": {"$in": [null]}})),
            "missing is in nothing"
        );
        assert!(passes(json!({"payload.missing": {"$ne": 1}})));
        assert!(passes(
            json!({"$or": [{"source": "x"}, {"customerExternalId": "acct_1"}]})
        ));
        assert!(!passes(
            json!({"$and": [{"source": "billing"}, {"source": "x"}]})
        ));
        assert!(passes(json!({"$not": {"source": "x"}})));
        let mut without = TestEvent::new();
        without.correlation_id = None;
        let filter = Filter::parse(&json!({"correlationId": {"$exists": true}})).unwrap();
        assert!(!filter.matches(&without));
    }

    #[test]
    fn errors_say_where() {
        let at = |filter: Value| Filter::parse(&filter).unwrap_err().at;
        assert_eq!(at(json!([1])), "");
        assert_eq!(at(json!({"$or": []})), "$or");
        assert_eq!(
            at(json!({"$or": [{"source": {"$gt": true}}]})),
            "$or[0].source.$gt"
        );
        assert_eq!(at(json!({"payload.n": {"$near": 1}})), "payload.n.$near");
        assert_eq!(at(json!({"random": 1})), "random");
        assert_eq!(at(json!({"region": 1})), "region");
        assert_eq!(at(json!({"$where": 1})), "$where");
    }
}
