//! Paged reads of the attempt log and the dead-letter queues, for
//! operators. Pages follow the table's key order (log order), and a page's
//! `next` key resumes exactly after its last entry, so pages neither skip
//! nor repeat entries while new ones are written.

use std::time::{Duration, SystemTime};

use redb::{Database, ReadableDatabase, ReadableTable};

use super::error::LogError;
use super::retention::received_ms;
use super::tables::{ATTEMPTS, ATTEMPTS_BY_START, DEAD_LETTERS, META, META_ATTEMPTS_INDEXED};
use super::{AttemptOutcome, AttemptRecord, DeadLetter, Log};

/// Most entries one page looks at; a page with a rare filter may come back
/// short (even empty) with a `next` key to continue from.
const MAX_SCANNED: usize = 50_000;

/// Most stored bytes one page of dead letters reads (each carries a copy of
/// its event, up to 1 MiB): a page stops there, with a `next` key.
const MAX_PAGE_BYTES: usize = 8 << 20;

/// Which entries a page keeps; `None` keeps everything.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<AttemptOutcome>,
    pub error_code: Option<String>,
    /// Unix ms, inclusive.
    pub since_ms: Option<u64>,
    /// Unix ms, exclusive.
    pub until_ms: Option<u64>,
}

impl ListFilter {
    fn keeps_time(&self, rfc3339: &str) -> bool {
        let at = received_ms(rfc3339);
        self.since_ms.is_none_or(|s| at >= s) && self.until_ms.is_none_or(|u| at < u)
    }
}

/// One page; `next` is the key of its last scanned entry when more may follow.
#[derive(Debug)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    pub next: Option<K>,
}

impl Log {
    /// Attempts of `destination` after `after` (sequence, attempt), in log
    /// order, that pass `filter`. Blocking.
    pub fn attempts_page(
        &self,
        destination: &str,
        filter: &ListFilter,
        after: Option<(u64, u32)>,
        limit: usize,
    ) -> Result<Page<AttemptRecord, (u64, u32)>, LogError> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(ATTEMPTS)?;
        let start = match after {
            None => (destination, 0, 0),
            Some((sequence, u32::MAX)) => (destination, sequence.saturating_add(1), 0),
            Some((sequence, attempt)) => (destination, sequence, attempt + 1),
        };
        let mut page = Page {
            items: Vec::new(),
            next: None,
        };
        for (scanned, entry) in table
            .range(start..=(destination, u64::MAX, u32::MAX))?
            .enumerate()
        {
            let (key, bytes) = entry?;
            let (_, sequence, attempt) = key.value();
            if page.items.len() == limit || scanned == MAX_SCANNED {
                return Ok(page);
            }
            page.next = Some((sequence, attempt));
            let record: AttemptRecord =
                serde_json::from_slice(bytes.value()).map_err(|e| LogError::Unreadable {
                    sequence,
                    source: e,
                })?;
            let keep = filter.status.is_none_or(|s| s == record.outcome)
                && filter
                    .error_code
                    .as_ref()
                    .is_none_or(|c| record.error_code.as_ref() == Some(c))
                && filter.keeps_time(&record.started_at);
            if keep {
                page.items.push(record);
            }
        }
        page.next = None;
        Ok(page)
    }

    /// Dead letters of `destination` after sequence `after`, in log order,
    /// that pass `filter` (error code, dead-lettered time). Blocking.
    pub fn dead_letters_page(
        &self,
        destination: &str,
        filter: &ListFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<DeadLetter, u64>, LogError> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(DEAD_LETTERS)?;
        let start = after.map_or(0, |s| s.saturating_add(1));
        let mut bytes_read = 0;
        let mut page = Page {
            items: Vec::new(),
            next: None,
        };
        for (scanned, entry) in table
            .range((destination, start)..=(destination, u64::MAX))?
            .enumerate()
        {
            let (key, bytes) = entry?;
            let sequence = key.value().1;
            if page.items.len() == limit || scanned == MAX_SCANNED || bytes_read >= MAX_PAGE_BYTES {
                return Ok(page);
            }
            bytes_read += bytes.value().len();
            page.next = Some(sequence);
            let letter: DeadLetter =
                serde_json::from_slice(bytes.value()).map_err(|e| LogError::Unreadable {
                    sequence,
                    source: e,
                })?;
            let keep = filter
                .error_code
                .as_ref()
                .is_none_or(|c| &letter.error_code == c)
                && filter.keeps_time(&letter.dead_lettered_at);
            if keep {
                page.items.push(letter);
            }
        }
        page.next = None;
        Ok(page)
    }

    /// Deletes attempt records that started more than `retention` ago, in
    /// transactions of a few thousand; returns how many. They are found by
    /// range in the start-time index, on a blocking thread with its own read
    /// transaction: only the deletes go through the writer.
    pub async fn prune_attempts(&self, retention: Duration) -> Result<usize, LogError> {
        let cutoff = super::group_commit::unix_ms(SystemTime::now())
            .saturating_sub(retention.as_millis() as u64);
        let mut total = 0;
        loop {
            let db = self.inner.db.clone();
            let doomed = tokio::task::spawn_blocking(move || {
                old_attempts(&db, cutoff, PRUNE_ATTEMPTS_CHUNK)
            })
            .await
            .map_err(|_| LogError::Closed)??;
            if doomed.is_empty() {
                return Ok(total);
            }
            let more = doomed.len() == PRUNE_ATTEMPTS_CHUNK;
            total += self.remove_attempts(doomed).await?;
            if !more {
                return Ok(total);
            }
        }
    }
}

/// Attempts per prune transaction.
pub(crate) const PRUNE_ATTEMPTS_CHUNK: usize = 5_000;

/// (started_at in unix ms, destination, sequence, attempt number): an
/// attempt's entry in the start-time index.
pub(crate) type AttemptKey = (u64, String, u64, u32);

/// Up to `limit` attempts that started before `before_ms`, oldest first.
fn old_attempts(db: &Database, before_ms: u64, limit: usize) -> Result<Vec<AttemptKey>, LogError> {
    let txn = db.begin_read()?;
    let index = txn.open_table(ATTEMPTS_BY_START)?;
    let mut doomed = Vec::new();
    for entry in index.range(..(before_ms, "", 0, 0))?.take(limit) {
        let (key, _) = entry?;
        let (started, destination, sequence, attempt) = key.value();
        doomed.push((started, destination.to_owned(), sequence, attempt));
    }
    Ok(doomed)
}

/// Deletes the attempts at `keys` and their index entries in one
/// transaction; returns how many attempts were there. On the writer thread.
pub(crate) fn remove_attempts(db: &Database, keys: &[AttemptKey]) -> Result<usize, LogError> {
    let txn = db.begin_write()?;
    let mut removed = 0;
    {
        let mut attempts = txn.open_table(ATTEMPTS)?;
        let mut index = txn.open_table(ATTEMPTS_BY_START)?;
        for (started, destination, sequence, attempt) in keys {
            index.remove((*started, destination.as_str(), *sequence, *attempt))?;
            // The attempt may have been written again since (a later start):
            // then it stays, under its new index entry.
            let current = attempts
                .get((destination.as_str(), *sequence, *attempt))?
                .map(|stored| attempt_start_ms(stored.value()));
            if current == Some(*started) {
                attempts.remove((destination.as_str(), *sequence, *attempt))?;
                removed += 1;
            }
        }
    }
    txn.commit()?;
    Ok(removed)
}

/// When a stored attempt started, in unix ms (`u64::MAX` if unreadable:
/// such a record is never old enough to delete).
pub(crate) fn attempt_start_ms(stored: &[u8]) -> u64 {
    serde_json::from_slice::<AttemptStart>(stored).map_or(u64::MAX, |a| received_ms(a.started_at))
}

/// Indexes every attempt by start time, once, for logs written before the
/// index existed; a no-op afterwards. Blocking; part of opening the log.
pub(crate) fn index_attempts_once(txn: &redb::WriteTransaction) -> Result<(), LogError> {
    let mut meta = txn.open_table(META)?;
    if meta.get(META_ATTEMPTS_INDEXED)?.is_some() {
        return Ok(());
    }
    let attempts = txn.open_table(ATTEMPTS)?;
    let mut index = txn.open_table(ATTEMPTS_BY_START)?;
    let mut indexed = 0u64;
    for entry in attempts.iter()? {
        let (key, stored) = entry?;
        let (destination, sequence, attempt) = key.value();
        index.insert(
            (
                attempt_start_ms(stored.value()),
                destination,
                sequence,
                attempt,
            ),
            (),
        )?;
        indexed += 1;
    }
    if indexed > 0 {
        tracing::info!(
            attempts = indexed,
            "indexed the attempt log by start time (once)"
        );
    }
    meta.insert(META_ATTEMPTS_INDEXED, 1)?;
    Ok(())
}

/// Just the start time of a stored attempt.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptStart<'a> {
    started_at: &'a str,
}
