//! Transforms that read and edit events in place ([`EditTransform`]): the
//! host lends each event as a view, and a transform reads only the fields it
//! needs and edits the payload and metadata by JSON pointer. The JSON work
//! is the host's, done natively and once per chain; nothing the transform
//! does not touch crosses into WebAssembly.

use crate::transform::pushrail::plugin::views;
use crate::{Error, Verdict};
pub use pushrail_event::Envelope;
use pushrail_event::{EventPartsMut, ParsedEvent, ViewError};

/// An event read and edited in place. Pointers are JSON pointers (RFC
/// 6901) from the event into its payload or metadata (`/payload/card/number`,
/// `/metadata/email`, `/payload` itself); values are JSON text. A refused
/// edit changes nothing and is the error `bad_edit`.
pub trait EventView {
    /// An envelope field (`eventType`, `source`, …); `None` only for a
    /// missing `correlationId`.
    fn envelope(&self, field: Envelope) -> Option<String>;
    /// The event's position in the log.
    fn sequence(&self) -> u64;
    /// The JSON at `pointer`; `None` when nothing is there.
    fn get(&mut self, pointer: &str) -> Result<Option<String>, Error>;
    /// Sets the value at `pointer`: adds or replaces an object's member,
    /// replaces an existing array element, or a whole part with an object.
    fn set(&mut self, pointer: &str, json: &str) -> Result<(), Error>;
    /// Like [`EventView::set`], only where a value already is (false: none was).
    fn replace(&mut self, pointer: &str, json: &str) -> Result<bool, Error>;
    /// Removes a member or element; false when nothing was there.
    fn remove(&mut self, pointer: &str) -> Result<bool, Error>;

    /// `eventType`.
    fn event_type(&self) -> String {
        self.envelope(Envelope::EventType).unwrap_or_default()
    }
}

/// A transform plugin that edits events in place: one instance lives
/// across many events; exported with [`export_edit_transform!`](crate::export_edit_transform).
pub trait EditTransform: Sized + 'static {
    /// Builds the transform from its config (JSON text; `{}` when none).
    fn init(config: &str) -> Result<Self, Error>;

    /// Decides about one event: [`Verdict::Keep`] passes it on with the edits
    /// made through `event`, [`Verdict::Replaced`] replaces it (an empty list
    /// drops it), an error sends it to the destination's dead-letter queue.
    fn edit(&mut self, event: &mut impl EventView) -> Result<Verdict, Error>;
}

/// Natively (tests, benchmarks) a view is the host's own type, so the same
/// edits run on both sides.
impl<E: EventPartsMut> EventView for ParsedEvent<E> {
    fn envelope(&self, field: Envelope) -> Option<String> {
        ParsedEvent::envelope(self, field).map(str::to_owned)
    }
    fn sequence(&self) -> u64 {
        ParsedEvent::sequence(self)
    }
    fn get(&mut self, pointer: &str) -> Result<Option<String>, Error> {
        ParsedEvent::get(self, pointer).map_err(refused)
    }
    fn set(&mut self, pointer: &str, json: &str) -> Result<(), Error> {
        ParsedEvent::set(self, pointer, json).map_err(refused)
    }
    fn replace(&mut self, pointer: &str, json: &str) -> Result<bool, Error> {
        ParsedEvent::replace(self, pointer, json).map_err(refused)
    }
    fn remove(&mut self, pointer: &str) -> Result<bool, Error> {
        ParsedEvent::remove(self, pointer).map_err(refused)
    }
}

fn refused(error: ViewError) -> Error {
    Error::new(ViewError::CODE, error.0)
}

/// In a plugin: event `index` (from 0) of the call in progress, as the
/// host holds it.
pub struct HostEvent {
    index: u32,
}

impl HostEvent {
    /// Event `index` (from 0) of the call in progress.
    pub fn new(index: u32) -> Self {
        Self { index }
    }

    /// The whole event as it is now, edits included (copied out of the host).
    pub fn to_event(&self) -> crate::Event {
        views::to_event(self.index)
    }
}

impl EventView for HostEvent {
    fn envelope(&self, field: Envelope) -> Option<String> {
        use views::EnvelopeField as F;
        let field = match field {
            Envelope::EventId => F::EventId,
            Envelope::EventType => F::EventType,
            Envelope::OccurredAt => F::OccurredAt,
            Envelope::Source => F::Source,
            Envelope::CustomerExternalId => F::CustomerExternalId,
            Envelope::IdempotencyKey => F::IdempotencyKey,
            Envelope::CorrelationId => F::CorrelationId,
        };
        views::envelope(self.index, field)
    }
    fn sequence(&self) -> u64 {
        views::sequence(self.index)
    }
    fn get(&mut self, pointer: &str) -> Result<Option<String>, Error> {
        views::get(self.index, pointer)
    }
    fn set(&mut self, pointer: &str, json: &str) -> Result<(), Error> {
        views::set(self.index, pointer, json)
    }
    fn replace(&mut self, pointer: &str, json: &str) -> Result<bool, Error> {
        views::replace(self.index, pointer, json)
    }
    fn remove(&mut self, pointer: &str) -> Result<bool, Error> {
        views::remove(self.index, pointer)
    }
}

/// `name` as one reference token of a JSON pointer (`a/b` → `a~1b`).
pub fn pointer_token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}
