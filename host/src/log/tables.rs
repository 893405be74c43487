//! The redb tables of the log. Each is keyed so that the common walk is a
//! range scan: events by sequence, cursors by destination name.

use redb::TableDefinition;

/// sequence → the stored event record (JSON, see [`super::record`]).
pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

/// event id → sequence, for `GET /v1/events/{id}`.
pub const EVENT_IDS: TableDefinition<&str, u64> = TableDefinition::new("event_ids");

/// (source, idempotencyKey) → (sequence of the first event, its receipt in unix ms).
/// An entry older than the idempotency window no longer counts; entries are
/// removed together with their event by the retention sweep. Written late,
/// many at a time (see [`super::idempotency`]).
pub const IDEMPOTENCY: TableDefinition<(&str, &str), (u64, u64)> =
    TableDefinition::new("idempotency");

/// `META` key: every event below this sequence is in [`IDEMPOTENCY`]; the
/// writer holds the entries of later ones in memory.
pub const META_IDEMPOTENCY_INDEXED: &str = "idempotency_indexed";

/// Counters that must survive the deletion of every event, such as the next sequence.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// destination name → the next sequence that destination has not finished.
/// Events below every destination's cursor are safe to delete.
pub const CURSORS: TableDefinition<&str, u64> = TableDefinition::new("cursors");

/// (destination, sequence, attempt) → [`super::AttemptRecord`] as JSON.
pub const ATTEMPTS: TableDefinition<(&str, u64, u32), &[u8]> = TableDefinition::new("attempts");

/// (started_at in unix ms, destination, sequence, attempt) of every stored
/// attempt: the retention sweep finds expired attempts by range instead of
/// reading them all.
pub const ATTEMPTS_BY_START: TableDefinition<(u64, &str, u64, u32), ()> =
    TableDefinition::new("attempts_by_start");

/// `META` key set once every attempt is in [`ATTEMPTS_BY_START`] (logs
/// written before the index existed are indexed once, when opened).
pub const META_ATTEMPTS_INDEXED: &str = "attempts_indexed";

/// (destination, sequence) → [`super::DeadLetter`] as JSON.
pub const DEAD_LETTERS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("dead_letters");

pub const META_NEXT_SEQUENCE: &str = "next_sequence";

/// `META` key prefix of a paused destination (`paused:<name>` = 1).
pub const META_PAUSED_PREFIX: &str = "paused:";

/// (customerExternalId, sequence) of every event: a destination of one
/// customer reads only that customer's events, in log order, by range.
pub const EVENTS_BY_CUSTOMER: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("events_by_customer");

/// `META` key set once every event is in [`EVENTS_BY_CUSTOMER`] (logs
/// written before the index existed are indexed once, when opened).
pub const META_CUSTOMERS_INDEXED: &str = "customers_indexed";

/// `META` key: every event below this sequence is in [`EVENTS_BY_CUSTOMER`];
/// the writer holds later ones in memory (see [`super::recent_customers`]).
pub const META_CUSTOMERS_INDEXED_UPTO: &str = "customers_indexed_upto";

/// customerExternalId → [`super::Customer`] as JSON.
pub const CUSTOMERS: TableDefinition<&str, &[u8]> = TableDefinition::new("customers");

/// (customerExternalId, destination id) → [`super::CustomerDestination`] as JSON.
pub const CUSTOMER_DESTINATIONS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("customer_destinations");
