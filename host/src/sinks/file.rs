//! The local file output: appends lines to one file and makes them durable
//! before answering, so that a `delivered` outcome means "on disk".

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
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

/// One append-only JSON-lines file. Each append is all or nothing: a
/// write that fails part-way is cut back off before the next one, so no
/// line is ever glued to a half line.
pub struct FileSink {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    /// Open for appending; `None` until the first append and after a
    /// failed one (the file is then checked and cut back when reopened).
    file: Option<File>,
    /// Whole lines in the file so far, to number appended lines.
    lines: u64,
}

impl FileSink {
    /// Opens (creating) `path`, cuts off a half line a crash or a failed
    /// write left at its end, and counts its lines.
    pub fn open(path: &Path) -> Result<Arc<Self>, FileSinkError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| FileSinkError::Open {
                path: path.to_owned(),
                source,
            })?;
        }
        let sink = Self {
            path: path.to_owned(),
            state: Mutex::new(State {
                file: None,
                lines: 0,
            }),
        };
        {
            let mut state = sink.state.lock().unwrap_or_else(|p| p.into_inner());
            sink.reopen(&mut state)?;
        }
        Ok(Arc::new(sink))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file for appending after cutting it back to its last
    /// whole line, and counts those lines.
    fn reopen(&self, state: &mut State) -> Result<(), FileSinkError> {
        let open_error = |source| FileSinkError::Open {
            path: self.path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(open_error)?;
        let (whole, lines) = whole_lines(&mut file).map_err(open_error)?;
        if file.metadata().map_err(open_error)?.len() != whole {
            tracing::warn!(path = %self.path.display(), "cutting off a half-written line at the end of the file");
            file.set_len(whole)
                .and_then(|()| file.sync_data())
                .map_err(open_error)?;
        }
        state.lines = lines;
        state.file = Some(file);
        Ok(())
    }

    /// [`FileSink::append_lines`] on the shared write pool (a few
    /// threads for every destination: see [`crate::pool`]).
    pub async fn append(self: &Arc<Self>, lines: Vec<String>) -> Result<u64, FileSinkError> {
        let sink = self.clone();
        crate::pool::write(move || sink.append_lines(&lines))
            .await
            .unwrap_or_else(|e| {
                Err(FileSinkError::Write {
                    path: self.path.clone(),
                    source: std::io::Error::other(e.to_string()),
                })
            })
    }

    /// Appends the lines and syncs them; returns the number (from 1) of the
    /// first one. Blocking.
    pub fn append_lines(&self, lines: &[String]) -> Result<u64, FileSinkError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.file.is_none() {
            self.reopen(&mut state)?;
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
            // Reopening cuts off whatever part of this write landed.
            state.file = None;
            return Err(FileSinkError::Write {
                path: self.path.clone(),
                source,
            });
        }
        let first = state.lines + 1;
        state.lines += lines.len() as u64;
        Ok(first)
    }
}

/// The length of the file up to and including its last newline, and the
/// number of lines in it.
fn whole_lines(file: &mut File) -> std::io::Result<(u64, u64)> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(file);
    let (mut offset, mut whole, mut lines) = (0u64, 0u64, 0u64);
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok((whole, lines));
        }
        let read = buffer.len();
        for (i, byte) in buffer.iter().enumerate() {
            if *byte == b'\n' {
                lines += 1;
                whole = offset + i as u64 + 1;
            }
        }
        offset += read as u64;
        reader.consume(read);
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

    #[test]
    fn a_half_line_left_by_a_failed_write_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        // What a write that failed part-way (disk full) or a crash leaves.
        std::fs::write(&path, "a\nb\n{\"half\":").unwrap();
        let sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.append_lines(&["c".into()]).unwrap(), 3);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\nc\n");
    }
}
