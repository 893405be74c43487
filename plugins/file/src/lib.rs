//! The `file` destination: appends each event as one line of canonical JSON
//! to the destination's file (`[destinations.file] path`, bound by the host).
//! It is the embedded default's destination, so the first `pushrail serve`
//! shows events flowing end to end.

use pushrail_sdk::{Destination, Error, Event, Outcome, export_destination, file};

struct FileDestination;

impl Destination for FileDestination {
    fn init(_config: &str) -> Result<Self, Error> {
        Ok(FileDestination)
    }

    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome> {
        // Render every event first: one that cannot be rendered is a permanent
        // failure of that event alone.
        let rendered: Vec<Result<String, Error>> =
            batch.iter().map(|event| event.to_json_string()).collect();
        let lines: Vec<String> = rendered
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        let first_line = if lines.is_empty() {
            Ok(0)
        } else {
            file::append_lines(&lines)
        };
        let mut line = match &first_line {
            Ok(first) => *first,
            Err(_) => 0,
        };
        rendered
            .into_iter()
            .map(|r| match (r, &first_line) {
                (Err(e), _) => Outcome::Permanent(e),
                (Ok(_), Err(e)) => Outcome::Retryable(e.clone()),
                (Ok(_), Ok(_)) => {
                    let coordinates = vec![("line".to_owned(), line.to_string())];
                    line += 1;
                    Outcome::Delivered(coordinates)
                }
            })
            .collect()
    }
}

export_destination!(FileDestination);
