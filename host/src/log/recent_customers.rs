//! The index by customer, written late, like the idempotency index (see
//! [`super::idempotency`]): a commit holding events of many customers
//! dirtied a leaf of [`EVENTS_BY_CUSTOMER`] per customer. The writer
//! publishes each commit's events here by customer, readers see them
//! together with the index ([`customer_sequences`]), and the writer merges
//! them into the index many at a time. A crash loses only this memory:
//! opening the log indexes the events after the last merge again
//! ([`index_tail`]).
//!
//! A reader takes its [`Recent`] view **before** it opens its read
//! transaction: a merge commits before it forgets what it merged, so
//! whatever the view lacks of what was published, the transaction sees in
//! the index.

use std::collections::HashMap;
use std::sync::RwLock;

use redb::WriteTransaction;

use super::error::LogError;
use super::tables::{EVENTS_BY_CUSTOMER, META, META_CUSTOMERS_INDEXED_UPTO};
use super::unindexed::{MAX_HELD_EVENTS, unindexed};

/// Events published but not yet merged into [`EVENTS_BY_CUSTOMER`].
pub(crate) struct RecentCustomers(RwLock<Published>);

struct Published {
    /// Every event below this sequence is here or in the index.
    upto: u64,
    /// Sequences by customer, ascending.
    sequences: HashMap<String, Vec<u64>>,
    events: usize,
}

/// A reader's view of one customer's recent events.
#[derive(Debug, Clone)]
pub(crate) struct Recent {
    /// The reader may claim to know the log up to (not including) this sequence only.
    pub upto: u64,
    /// The customer's recent sequences from the reader's start on.
    pub sequences: Vec<u64>,
}

impl RecentCustomers {
    /// Nothing held; the log's events below `upto` are all in the index.
    pub fn new(upto: u64) -> Self {
        Self(RwLock::new(Published {
            upto,
            sequences: HashMap::new(),
            events: 0,
        }))
    }

    /// After a commit: its events (customer, sequence) in order, and the
    /// next sequence.
    pub fn publish<'a>(&self, events: impl IntoIterator<Item = (&'a str, u64)>, upto: u64) {
        let mut published = self.0.write().unwrap_or_else(|p| p.into_inner());
        for (customer, sequence) in events {
            match published.sequences.get_mut(customer) {
                Some(list) => list.push(sequence),
                None => {
                    published
                        .sequences
                        .insert(customer.to_owned(), vec![sequence]);
                }
            }
            published.events += 1;
        }
        published.upto = upto;
    }

    /// `customer`'s recent sequences ≥ `from`. Take it before the read transaction.
    pub fn view(&self, customer: &str, from: u64) -> Recent {
        let published = self.0.read().unwrap_or_else(|p| p.into_inner());
        let sequences = published
            .sequences
            .get(customer)
            .map_or_else(Vec::new, |all| {
                let start = all.partition_point(|s| *s < from);
                all[start..].to_vec()
            });
        Recent {
            upto: published.upto,
            sequences,
        }
    }

    pub fn is_full(&self) -> bool {
        self.0.read().unwrap_or_else(|p| p.into_inner()).events >= MAX_HELD_EVENTS
    }

    pub fn is_empty(&self) -> bool {
        self.0.read().unwrap_or_else(|p| p.into_inner()).events == 0
    }

    /// Writes every held event into the index in key order and records
    /// that the index is complete below the published sequence. The events
    /// stay until [`RecentCustomers::clear`]: the commit may still fail.
    pub fn write(&self, txn: &WriteTransaction) -> Result<(), LogError> {
        let published = self.0.read().unwrap_or_else(|p| p.into_inner());
        let mut customers: Vec<(&String, &Vec<u64>)> = published.sequences.iter().collect();
        customers.sort_unstable_by_key(|(customer, _)| *customer);
        let mut index = txn.open_table(EVENTS_BY_CUSTOMER)?;
        for (customer, sequences) in customers {
            for &sequence in sequences {
                index.insert((customer.as_str(), sequence), ())?;
            }
        }
        txn.open_table(META)?
            .insert(META_CUSTOMERS_INDEXED_UPTO, published.upto)?;
        Ok(())
    }

    /// Forgets every held event once [`RecentCustomers::write`] committed.
    pub fn clear(&self) {
        let mut published = self.0.write().unwrap_or_else(|p| p.into_inner());
        published.sequences.clear();
        published.events = 0;
    }
}

/// `customer`'s sequences from `from` on, below `recent.upto`: those in the
/// index and the recent ones, in order, each once.
pub(crate) fn customer_sequences<'a>(
    index: &'a redb::ReadOnlyTable<(&'static str, u64), ()>,
    customer: &'a str,
    from: u64,
    recent: &'a Recent,
) -> Result<impl Iterator<Item = Result<u64, LogError>> + 'a, LogError> {
    let indexed = if from < recent.upto {
        Some(index.range((customer, from)..(customer, recent.upto))?)
    } else {
        None
    };
    let mut indexed = indexed
        .into_iter()
        .flatten()
        .map(|entry| entry.map(|(key, _)| key.value().1).map_err(LogError::from))
        .peekable();
    let mut held = recent
        .sequences
        .iter()
        .copied()
        .filter(move |s| (from..recent.upto).contains(s))
        .peekable();
    Ok(std::iter::from_fn(move || {
        let next_held = held.peek().copied();
        match (indexed.peek(), next_held) {
            (Some(Err(_)), _) => indexed.next(),
            (Some(Ok(a)), Some(b)) if *a == b => {
                held.next();
                indexed.next()
            }
            (Some(Ok(a)), Some(b)) if *a > b => held.next().map(Ok),
            (Some(Ok(_)), _) => indexed.next(),
            (None, _) => held.next().map(Ok),
        }
    }))
}

/// Indexes the events stored after the last merge, which a crash left only
/// in memory. Blocking; part of opening the log.
pub(crate) fn index_tail(txn: &WriteTransaction, next_sequence: u64) -> Result<(), LogError> {
    let tail = unindexed(
        txn,
        META_CUSTOMERS_INDEXED_UPTO,
        next_sequence,
        |sequence, keys| (keys.customer_external_id.into_owned(), sequence),
    )?;
    let Some(mut tail) = tail else {
        return Ok(());
    };
    tail.sort_unstable();
    let mut index = txn.open_table(EVENTS_BY_CUSTOMER)?;
    for (customer, sequence) in &tail {
        index.insert((customer.as_str(), *sequence), ())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use redb::ReadableDatabase;

    use super::*;

    #[test]
    fn the_index_and_the_recent_events_are_read_in_order_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut index = txn.open_table(EVENTS_BY_CUSTOMER).unwrap();
            for (customer, sequence) in [("a", 1), ("b", 2), ("a", 3), ("a", 5), ("a", 9)] {
                index.insert((customer, sequence), ()).unwrap();
            }
        }
        txn.commit().unwrap();
        let txn = db.begin_read().unwrap();
        let index = txn.open_table(EVENTS_BY_CUSTOMER).unwrap();
        let read = |from, recent: &Recent| -> Vec<u64> {
            customer_sequences(&index, "a", from, recent)
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        // A merge of 5 committed after the view was taken: both hold it.
        let recent = Recent {
            upto: 9,
            sequences: vec![5, 6, 8],
        };
        assert_eq!(read(1, &recent), [1, 3, 5, 6, 8], "9 is past the view");
        assert_eq!(read(4, &recent), [5, 6, 8]);
        assert_eq!(read(9, &recent), Vec::<u64>::new());
        let nothing_recent = Recent {
            upto: 10,
            sequences: vec![],
        };
        assert_eq!(read(2, &nothing_recent), [3, 5, 9]);
    }

    #[test]
    fn a_view_holds_what_was_published_from_its_start() {
        let recent = RecentCustomers::new(1);
        recent.publish([("a", 1), ("b", 2), ("a", 3)], 4);
        recent.publish([("a", 4)], 5);
        let view = recent.view("a", 2);
        assert_eq!((view.upto, view.sequences), (5, vec![3, 4]));
        assert!(recent.view("c", 0).sequences.is_empty());
        assert!(!recent.is_full() && !recent.is_empty());
        recent.clear();
        assert!(recent.is_empty());
        assert_eq!(recent.view("a", 0).upto, 5, "still knows the log up to 5");
    }
}
