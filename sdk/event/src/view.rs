//! An event read and edited in place through its fields: the host's side
//! of the WIT `views` interface (0.7.0). The payload and metadata are parsed
//! only when a field inside them is first read or written, and printed
//! again only if one was written, so a chain of transforms that each touch
//! a field or two does the JSON work once per edited part, natively,
//! instead of each transform parsing and printing the whole event inside
//! WebAssembly. Plugins compiled natively (tests, benchmarks) use the same
//! type, so the two sides run the very same edits.

use std::fmt;

use serde_json::Value;

use crate::EventFields;

/// An envelope field a view reads (they are Pushrail's: a view edits only
/// the payload and the metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// `eventId`.
    EventId,
    /// `eventType`.
    EventType,
    /// `occurredAt`.
    OccurredAt,
    /// `source`.
    Source,
    /// `customerExternalId`.
    CustomerExternalId,
    /// `idempotencyKey`.
    IdempotencyKey,
    /// `correlationId`: absent when the producer sent none.
    CorrelationId,
}

/// Write access to the JSON text of an event's payload and metadata.
pub trait EventPartsMut: EventFields {
    /// The payload, as JSON text.
    fn payload_mut(&mut self) -> &mut String;
    /// The metadata, as JSON text.
    fn metadata_mut(&mut self) -> &mut String;
}

/// A view's edit or read was refused: the pointer names no part of the
/// payload or metadata, the JSON given is not JSON, or the edit would make
/// the payload or metadata something other than an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewError(pub String);

impl ViewError {
    /// The machine-readable code plugins see.
    pub const CODE: &'static str = "bad_edit";
}

impl fmt::Display for ViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ViewError {}

/// One of the two edited parts, from its text until first touched.
#[derive(Debug, Clone)]
enum Part {
    /// The event's own text is current; nothing parsed yet.
    Text,
    /// Parsed; `edited` when it differs from the event's text.
    Parsed { value: Value, edited: bool },
}

/// An event under a view: the event as it came, and its payload and
/// metadata parsed on first use.
#[derive(Debug, Clone)]
pub struct ParsedEvent<E> {
    event: E,
    payload: Part,
    metadata: Part,
}

/// The part of the event a pointer reaches into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Payload,
    Metadata,
}

impl<E: EventPartsMut> ParsedEvent<E> {
    /// `event` under a view; nothing is parsed yet.
    pub fn new(event: E) -> Self {
        Self {
            event,
            payload: Part::Text,
            metadata: Part::Text,
        }
    }

    /// The event as it came in, edits dropped.
    pub fn into_original(self) -> E {
        self.event
    }

    /// The envelope field `field`.
    pub fn envelope(&self, field: Envelope) -> Option<&str> {
        let e = &self.event;
        Some(match field {
            Envelope::EventId => e.id(),
            Envelope::EventType => e.event_type(),
            Envelope::OccurredAt => e.occurred_at(),
            Envelope::Source => e.source(),
            Envelope::CustomerExternalId => e.customer_external_id(),
            Envelope::IdempotencyKey => e.idempotency_key(),
            Envelope::CorrelationId => return e.correlation_id(),
        })
    }

    /// The event's sequence in the log.
    pub fn sequence(&self) -> u64 {
        self.event.sequence()
    }

    /// The JSON at `pointer` (RFC 6901 from the event: `/payload`,
    /// `/metadata/email`, `/payload/items/0/sku`) as text; `None` when
    /// nothing is there. A whole part nobody edited comes back as it was
    /// posted, without being parsed.
    pub fn get(&mut self, pointer: &str) -> Result<Option<String>, ViewError> {
        let (which, inner) = split(pointer)?;
        if inner.is_empty() && matches!(self.part(which), Part::Text) {
            return Ok(Some(self.text(which).to_owned()));
        }
        Ok(self.value(which)?.pointer(inner).map(Value::to_string))
    }

    /// Sets the value at `pointer` to the JSON `json`: a member of an
    /// object is added or replaced, an element of an array replaced (its
    /// index must exist), a whole part replaced by an object.
    pub fn set(&mut self, pointer: &str, json: &str) -> Result<(), ViewError> {
        self.write(pointer, json, false).map(|_| ())
    }

    /// Like [`Self::set`], only where a value already is; false (and
    /// nothing changed) where none is.
    pub fn replace(&mut self, pointer: &str, json: &str) -> Result<bool, ViewError> {
        self.write(pointer, json, true)
    }

    /// Removes the value at `pointer` (a member of an object, an element of
    /// an array); false when nothing was there. A whole part cannot be
    /// removed.
    pub fn remove(&mut self, pointer: &str) -> Result<bool, ViewError> {
        let (which, inner) = split(pointer)?;
        let Some((parent, last)) = parent_and_last(inner) else {
            return Err(ViewError(format!(
                "{pointer}: the payload and metadata cannot be removed (set them to {{}})"
            )));
        };
        let root = self.value(which)?;
        let removed = match root.pointer_mut(parent) {
            Some(Value::Object(map)) => map.remove(&last).is_some(),
            Some(Value::Array(items)) => match index(&last, items.len()) {
                Some(i) => {
                    items.remove(i);
                    true
                }
                None => false,
            },
            _ => false,
        };
        if removed {
            self.mark_edited(which);
        }
        Ok(removed)
    }

    /// A copy of the event as it is now, edits included.
    pub fn to_event(&self) -> E
    where
        E: Clone,
    {
        let mut event = self.event.clone();
        print_edits(&self.payload, &self.metadata, &mut event);
        event
    }

    /// The event with the edits in it, and whether there were any: only an
    /// edited part is printed again.
    pub fn finish(self) -> (E, bool) {
        let Self {
            mut event,
            payload,
            metadata,
        } = self;
        let changed = print_edits(&payload, &metadata, &mut event);
        (event, changed)
    }

    fn part(&self, which: Which) -> &Part {
        match which {
            Which::Payload => &self.payload,
            Which::Metadata => &self.metadata,
        }
    }

    fn text(&self, which: Which) -> &str {
        match which {
            Which::Payload => self.event.payload(),
            Which::Metadata => self.event.metadata(),
        }
    }

    /// The part parsed (once).
    fn value(&mut self, which: Which) -> Result<&mut Value, ViewError> {
        if matches!(self.part(which), Part::Text) {
            let value: Value = serde_json::from_str(self.text(which))
                .map_err(|e| ViewError(format!("{} is not JSON: {e}", name(which))))?;
            *self.part_mut(which) = Part::Parsed {
                value,
                edited: false,
            };
        }
        match self.part_mut(which) {
            Part::Parsed { value, .. } => Ok(value),
            Part::Text => unreachable!("parsed just above"),
        }
    }

    fn part_mut(&mut self, which: Which) -> &mut Part {
        match which {
            Which::Payload => &mut self.payload,
            Which::Metadata => &mut self.metadata,
        }
    }

    fn mark_edited(&mut self, which: Which) {
        if let Part::Parsed { edited, .. } = self.part_mut(which) {
            *edited = true;
        }
    }

    fn write(&mut self, pointer: &str, json: &str, only_existing: bool) -> Result<bool, ViewError> {
        let (which, inner) = split(pointer)?;
        let new: Value = serde_json::from_str(json)
            .map_err(|e| ViewError(format!("{pointer}: the value is not JSON: {e}")))?;
        let Some((parent, last)) = parent_and_last(inner) else {
            if !new.is_object() {
                return Err(ViewError(format!(
                    "{pointer}: the {} must stay a JSON object",
                    name(which)
                )));
            }
            *self.part_mut(which) = Part::Parsed {
                value: new,
                edited: true,
            };
            return Ok(true);
        };
        let root = self.value(which)?;
        let written = match root.pointer_mut(parent) {
            Some(Value::Object(map)) => match map.get_mut(&last) {
                Some(slot) => {
                    *slot = new;
                    true
                }
                None if only_existing => false,
                None => {
                    map.insert(last, new);
                    true
                }
            },
            Some(Value::Array(items)) => match index(&last, items.len()) {
                Some(i) => {
                    items[i] = new;
                    true
                }
                None if only_existing => false,
                None => {
                    return Err(ViewError(format!(
                        "{pointer}: no element {last:?} in an array of {}",
                        items.len()
                    )));
                }
            },
            _ if only_existing => false,
            Some(_) => {
                return Err(ViewError(format!(
                    "{pointer}: the parent is neither an object nor an array"
                )));
            }
            None => return Err(ViewError(format!("{pointer}: the parent does not exist"))),
        };
        if written {
            self.mark_edited(which);
        }
        Ok(written)
    }
}

/// Prints each edited part into `event`; true when there was one.
fn print_edits<E: EventPartsMut>(payload: &Part, metadata: &Part, event: &mut E) -> bool {
    let mut changed = false;
    if let Part::Parsed {
        value,
        edited: true,
    } = payload
    {
        *event.payload_mut() = value.to_string();
        changed = true;
    }
    if let Part::Parsed {
        value,
        edited: true,
    } = metadata
    {
        *event.metadata_mut() = value.to_string();
        changed = true;
    }
    changed
}

fn name(which: Which) -> &'static str {
    match which {
        Which::Payload => "payload",
        Which::Metadata => "metadata",
    }
}

/// `/payload/a/b` → (payload, `/a/b`); anything outside the two parts is refused.
fn split(pointer: &str) -> Result<(Which, &str), ViewError> {
    for (prefix, which) in [("/payload", Which::Payload), ("/metadata", Which::Metadata)] {
        if let Some(rest) = pointer.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return Ok((which, rest));
        }
    }
    Err(ViewError(format!(
        "{pointer:?}: a view reads and edits only /payload… and /metadata… (JSON pointers)"
    )))
}

/// `/a/b~1c` → (`/a`, `b/c`); `None` for the part itself (``).
fn parent_and_last(inner: &str) -> Option<(&str, String)> {
    let (parent, last) = inner.rsplit_once('/')?;
    let last = if last.contains('~') {
        last.replace("~1", "/").replace("~0", "~")
    } else {
        last.to_owned()
    };
    Some((parent, last))
}

/// An array index as RFC 6901 writes it (no leading zeros), if in range.
fn index(token: &str, len: usize) -> Option<usize> {
    if token.len() > 1 && token.starts_with('0') {
        return None;
    }
    token.parse().ok().filter(|i| *i < len)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ev {
        id: String,
        sequence: u64,
        event_type: String,
        occurred_at: String,
        source: String,
        customer_external_id: String,
        idempotency_key: String,
        correlation_id: Option<String>,
        payload: String,
        metadata: String,
    }
    crate::impl_event_fields!(Ev);

    fn view(payload: &str, metadata: &str) -> ParsedEvent<Ev> {
        ParsedEvent::new(Ev {
            id: "evt_1".into(),
            sequence: 7,
            event_type: "order.completed".into(),
            occurred_at: "2026-05-26T14:21:08.493Z".into(),
            source: "billing".into(),
            customer_external_id: "acct_1".into(),
            idempotency_key: "k".into(),
            correlation_id: None,
            payload: payload.into(),
            metadata: metadata.into(),
        })
    }

    #[test]
    fn reads_without_editing_change_nothing() {
        let text = r#"{ "card": {"number": "4242"}, "items": [1, 2] }"#;
        let mut v = view(text, "{}");
        assert_eq!(v.envelope(Envelope::EventType), Some("order.completed"));
        assert_eq!(v.envelope(Envelope::CorrelationId), None);
        assert_eq!(v.sequence(), 7);
        // A whole part nobody edited comes back byte for byte.
        assert_eq!(v.get("/payload").unwrap().as_deref(), Some(text));
        assert_eq!(
            v.get("/payload/card/number").unwrap().as_deref(),
            Some("\"4242\"")
        );
        assert_eq!(v.get("/payload/items/1").unwrap().as_deref(), Some("2"));
        assert_eq!(v.get("/payload/missing").unwrap(), None);
        assert!(!v.replace("/payload/missing", "1").unwrap());
        assert!(!v.remove("/metadata/missing").unwrap());
        let (event, changed) = v.finish();
        assert!(!changed);
        assert_eq!(event.payload, text, "not printed again");
    }

    #[test]
    fn edits_land_in_the_printed_parts() {
        let mut v = view(
            r#"{"card": {"number": "4242", "brand": "visa"}, "items": [1, 2], "amount": 3}"#,
            r#"{"email": "a@b"}"#,
        );
        assert!(
            v.replace("/payload/card/number", r#""[REDACTED]""#)
                .unwrap()
        );
        assert!(v.remove("/payload/card/brand").unwrap());
        v.set("/payload/items/0", "{\"sku\": \"x\"}").unwrap();
        assert!(v.remove("/payload/items/1").unwrap());
        v.set("/metadata/a~1b", "true").unwrap();
        v.set("/metadata/email", "null").unwrap();
        let (event, changed) = v.finish();
        assert!(changed);
        let payload: Value = serde_json::from_str(&event.payload).unwrap();
        let metadata: Value = serde_json::from_str(&event.metadata).unwrap();
        assert_eq!(
            payload,
            serde_json::json!({"card": {"number": "[REDACTED]"}, "items": [{"sku": "x"}], "amount": 3})
        );
        assert_eq!(metadata, serde_json::json!({"email": null, "a/b": true}));
        assert!(
            event.payload.starts_with(r#"{"card":"#),
            "members keep their order: {}",
            event.payload
        );
    }

    #[test]
    fn refuses_what_would_break_the_event() {
        let mut v = view(r#"{"n": 1, "items": []}"#, "{}");
        for (pointer, json) in [
            ("/eventType", r#""x""#),
            ("/payloads/x", "1"),
            ("payload/x", "1"),
            ("/payload", "[1]"),
            ("/payload/n", "{oops"),
            ("/payload/n/deeper", "1"),
            ("/payload/missing/deeper", "1"),
            ("/payload/items/0", "1"),
            ("/payload/items/01", "1"),
        ] {
            assert!(v.set(pointer, json).is_err(), "{pointer} = {json}");
        }
        assert!(v.remove("/payload").is_err());
        assert!(v.get("/id").is_err());
        let (event, changed) = v.finish();
        assert!(!changed, "a refused edit changes nothing");
        assert_eq!(event.payload, r#"{"n": 1, "items": []}"#);
        v = view(r#"{"n": 1}"#, "{}");
        v.set("/payload", r#"{"m": 2}"#).unwrap();
        assert_eq!(v.get("/payload/m").unwrap().as_deref(), Some("2"));
        assert_eq!(v.finish().0.payload, r#"{"m":2}"#);
    }
}
