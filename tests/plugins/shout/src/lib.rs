//! The SDK's hello-world transform, exactly as its docs show it: upper-cases
//! the event type.

use pushrail_sdk::{Error, Event, export_transform_fn};
fn shout(mut event: Event) -> Result<Vec<Event>, Error> {
    event.event_type = event.event_type.to_uppercase();
    Ok(vec![event])
}
export_transform_fn!(shout);
