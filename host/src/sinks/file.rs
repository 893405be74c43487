//! The local file output: appends lines to one file and makes them durable
//! before answering, so that a `delivered` outcome means "on disk".

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum FileSinkError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One append-only JSON-lines file.
pub struct FileSink {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    file: Option<File>,
    /// Lines in the file so far, to number appended lines.
    lines: u64,
}

impl FileSink {
    /// Opens (creating) `path` and counts its lines. The file is reopened on
    /// the next append after a write error, so that a fixed disk heals it.
    pub fn open(path: &Path) -> Result<Arc<Self>, FileSinkError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| FileSinkError::Open {
                path: path.to_owned(),
                source,
            })?;
        }
        let lines = match File::open(path) {
            Ok(f) => BufReader::new(f).split(b'\n').count() as u64,
            Err(_) => 0,
        };
        Ok(Arc::new(Self {
            path: path.to_owned(),
            state: Mutex::new(State { file: None, lines }),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the lines and syncs them; returns the number (from 1) of the
    /// first one. Blocking.
    pub fn append_lines(&self, lines: &[String]) -> Result<u64, FileSinkError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let write_error = |source| FileSinkError::Write {
            path: self.path.clone(),
            source,
        };
        if state.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|source| FileSinkError::Open {
                    path: self.path.clone(),
                    source,
                })?;
            state.file = Some(file);
        }
        let mut buffer = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            // A line must stay one line: newlines inside would split an event.
            buffer.extend(line.bytes().map(|b| if b == b'\n' { b' ' } else { b }));
            buffer.push(b'\n');
        }
        let file = state.file.as_mut().expect("opened above");
        let result = file.write_all(&buffer).and_then(|()| file.sync_data());
        if let Err(source) = result {
            state.file = None;
            return Err(write_error(source));
        }
        let first = state.lines + 1;
        state.lines += lines.len() as u64;
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lines_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/events.jsonl");
        let sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.append_lines(&["a".into(), "b".into()]).unwrap(), 1);
        assert_eq!(sink.append_lines(&["c\nd".into()]).unwrap(), 3);
        drop(sink);
        let sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.append_lines(&["e".into()]).unwrap(), 4);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\nc d\ne\n");
    }
}
