//! What the host and its plugins must compute the same way about an event:
//! the value at a field path (the partition key), the canonical JSON a
//! destination writes, `*` patterns over event types, and the filters a
//! destination subscribes with. The host and
//! the plugin SDK both use this crate, so a key or a record can never
//! differ between the two sides. It builds for `wasm32-wasip2` and needs
//! only `serde_json`.

#![warn(missing_docs)]

mod filter;
mod glob;
mod json;
mod path;
mod view;

pub use filter::{Filter, FilterError};
pub use glob::glob_matches;
pub use json::{CanonicalJsonError, canonical_json, canonical_json_unchecked, check_objects};
pub use path::FieldPath;
pub use view::{Envelope, EventPartsMut, ParsedEvent, ViewError};

/// Read access to an event's fields, whichever side holds it (the host's
/// stored record, or the plugin's WIT `event`).
pub trait EventFields {
    /// Pushrail's event id (`evt_…`).
    fn id(&self) -> &str;
    /// The event's sequence in the log.
    fn sequence(&self) -> u64;
    /// `eventType`.
    fn event_type(&self) -> &str;
    /// `occurredAt` (RFC 3339), as the producer sent it.
    fn occurred_at(&self) -> &str;
    /// `source`.
    fn source(&self) -> &str;
    /// `customerExternalId`.
    fn customer_external_id(&self) -> &str;
    /// `idempotencyKey`.
    fn idempotency_key(&self) -> &str;
    /// `correlationId`, if the producer sent one.
    fn correlation_id(&self) -> Option<&str>;
    /// The payload, as JSON text (an object).
    fn payload(&self) -> &str;
    /// The metadata, as JSON text (an object).
    fn metadata(&self) -> &str;
}

/// Implements [`EventFields`] and [`EventPartsMut`] for a struct shaped like the WIT `event`
/// record (the SDK's `Event`, the host's generated binding of it): fields
/// `id`, `sequence`, `event_type`, `occurred_at`, `source`,
/// `customer_external_id`, `idempotency_key`, `correlation_id:
/// Option<String>`, and `payload` and `metadata` as JSON text.
#[macro_export]
macro_rules! impl_event_fields {
    ($type:ty) => {
        impl $crate::EventFields for $type {
            fn id(&self) -> &str {
                &self.id
            }
            fn sequence(&self) -> u64 {
                self.sequence
            }
            fn event_type(&self) -> &str {
                &self.event_type
            }
            fn occurred_at(&self) -> &str {
                &self.occurred_at
            }
            fn source(&self) -> &str {
                &self.source
            }
            fn customer_external_id(&self) -> &str {
                &self.customer_external_id
            }
            fn idempotency_key(&self) -> &str {
                &self.idempotency_key
            }
            fn correlation_id(&self) -> Option<&str> {
                self.correlation_id.as_deref()
            }
            fn payload(&self) -> &str {
                &self.payload
            }
            fn metadata(&self) -> &str {
                &self.metadata
            }
        }

        impl $crate::EventPartsMut for $type {
            fn payload_mut(&mut self) -> &mut String {
                &mut self.payload
            }
            fn metadata_mut(&mut self) -> &mut String {
                &mut self.metadata
            }
        }
    };
}

#[cfg(test)]
pub(crate) mod test_event {
    use super::EventFields;

    /// An event for the tests of this crate.
    pub struct TestEvent {
        pub correlation_id: Option<String>,
        pub payload: String,
    }

    impl TestEvent {
        pub fn new() -> Self {
            Self {
                correlation_id: Some("req_4f30b2".into()),
                payload: r#"{"order": {"id": "ord_1", "n": 3}, "quote": "a\"b"}"#.into(),
            }
        }
    }

    impl EventFields for TestEvent {
        fn id(&self) -> &str {
            "evt_1"
        }
        fn sequence(&self) -> u64 {
            7
        }
        fn event_type(&self) -> &str {
            "order.\"completed\""
        }
        fn occurred_at(&self) -> &str {
            "2026-05-26T14:21:08.493Z"
        }
        fn source(&self) -> &str {
            "billing"
        }
        fn customer_external_id(&self) -> &str {
            "acct_1"
        }
        fn idempotency_key(&self) -> &str {
            "k"
        }
        fn correlation_id(&self) -> Option<&str> {
            self.correlation_id.as_deref()
        }
        fn payload(&self) -> &str {
            &self.payload
        }
        fn metadata(&self) -> &str {
            r#"{"region": "eu"}"#
        }
    }
}
