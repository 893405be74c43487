//! `pushrail:plugin/views`: the events of a `transform-views` call, read and
//! edited in place by the transform (`pushrail_event::ParsedEvent` does
//! the edits; the same type runs them when a plugin is compiled natively).
//! The events sit in [`HostState`]'s `views` only while the call runs, and
//! a guest names them by their index in the call: there is no handle to
//! keep past it.

use pushrail_event::{Envelope, ParsedEvent, ViewError};

use super::bindings::transform::pushrail::plugin::views::{self, EnvelopeField};
use super::bindings::{Event, PluginErrorRecord};
use super::host::HostState;

impl HostState {
    /// Lends `events` to the call about to start (moved, not copied): how
    /// many there are.
    pub(super) fn lend_views(&mut self, events: Vec<Event>) -> u32 {
        self.views = events.into_iter().map(ParsedEvent::new).collect();
        self.views.len() as u32
    }

    /// Takes the events back after the call, edits and all.
    pub(super) fn take_views(&mut self) -> Vec<ParsedEvent<Event>> {
        std::mem::take(&mut self.views)
    }

    /// Event `index` of the call's batch; an index past the end is a broken
    /// contract and traps the call.
    fn view(&mut self, index: u32) -> wasmtime::Result<&mut ParsedEvent<Event>> {
        let len = self.views.len();
        self.views.get_mut(index as usize).ok_or_else(|| {
            wasmtime::format_err!("event {index} is not in this call's batch of {len}")
        })
    }
}

fn refused(error: ViewError) -> PluginErrorRecord {
    PluginErrorRecord {
        code: ViewError::CODE.into(),
        message: error.0,
    }
}

impl views::Host for HostState {
    fn envelope(&mut self, event: u32, field: EnvelopeField) -> wasmtime::Result<Option<String>> {
        let field = match field {
            EnvelopeField::EventId => Envelope::EventId,
            EnvelopeField::EventType => Envelope::EventType,
            EnvelopeField::OccurredAt => Envelope::OccurredAt,
            EnvelopeField::Source => Envelope::Source,
            EnvelopeField::CustomerExternalId => Envelope::CustomerExternalId,
            EnvelopeField::IdempotencyKey => Envelope::IdempotencyKey,
            EnvelopeField::CorrelationId => Envelope::CorrelationId,
        };
        Ok(self.view(event)?.envelope(field).map(str::to_owned))
    }

    fn sequence(&mut self, event: u32) -> wasmtime::Result<u64> {
        Ok(self.view(event)?.sequence())
    }

    fn get(
        &mut self,
        event: u32,
        pointer: String,
    ) -> wasmtime::Result<Result<Option<String>, PluginErrorRecord>> {
        Ok(self.view(event)?.get(&pointer).map_err(refused))
    }

    fn set(
        &mut self,
        event: u32,
        pointer: String,
        json: String,
    ) -> wasmtime::Result<Result<(), PluginErrorRecord>> {
        Ok(self.view(event)?.set(&pointer, &json).map_err(refused))
    }

    fn replace(
        &mut self,
        event: u32,
        pointer: String,
        json: String,
    ) -> wasmtime::Result<Result<bool, PluginErrorRecord>> {
        Ok(self.view(event)?.replace(&pointer, &json).map_err(refused))
    }

    fn remove(
        &mut self,
        event: u32,
        pointer: String,
    ) -> wasmtime::Result<Result<bool, PluginErrorRecord>> {
        Ok(self.view(event)?.remove(&pointer).map_err(refused))
    }

    fn to_event(&mut self, event: u32) -> wasmtime::Result<Event> {
        Ok(self.view(event)?.to_event())
    }
}
