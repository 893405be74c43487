//! The log by customer: a destination of one customer (every customer
//! destination) reads only that customer's events, in log order, through
//! the [`EVENTS_BY_CUSTOMER`] index and the events not yet in it
//! ([`super::recent_customers`]), and is woken only when that customer's
//! events are committed. Thousands of idle customer destinations then cost
//! no reads and no wake-ups while other customers' events flow.

use std::collections::HashMap;
use std::sync::Mutex;

use redb::{ReadableDatabase, ReadableTable};
use tokio::sync::watch;

use super::error::LogError;
use super::recent_customers::{Recent, customer_sequences};
use super::tables::{EVENTS, EVENTS_BY_CUSTOMER, META, META_CUSTOMERS_INDEXED};
use super::{CursorScope, EventRecord, Log, decode, next_sequence_in, stored_cursor};
use crate::log::record::RecordKeys;

/// Events of one customer read from the index.
pub struct CustomerRead {
    /// The customer's events from the start sequence on, each with its stored size.
    pub records: Vec<(EventRecord, usize)>,
    /// Every sequence up to this one was either read or is another
    /// customer's: the reader may move past it.
    pub through: u64,
    /// True when that was everything the log had for the customer.
    pub caught_up: bool,
}

impl Log {
    /// `customer`'s events with sequence ≥ `from`, in log order, bounded as
    /// [`Log::read_from_bounded`]. Blocking.
    pub fn read_customer_bounded(
        &self,
        customer: &str,
        from: u64,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<CustomerRead, LogError> {
        let recent = self.inner.recent_customers.view(customer, from);
        let txn = self.inner.db.begin_read()?;
        let index = txn.open_table(EVENTS_BY_CUSTOMER)?;
        let events = txn.open_table(EVENTS)?;
        let mut records = Vec::new();
        let mut bytes = 0;
        for sequence in customer_sequences(&index, customer, from, &recent)? {
            let sequence = sequence?;
            if records.len() == max_events || (bytes >= max_bytes && !records.is_empty()) {
                return Ok(CustomerRead {
                    // Up to the event before the next one of the customer.
                    through: sequence - 1,
                    records,
                    caught_up: false,
                });
            }
            // Gone with retention between the index and the event: skip it.
            let Some(stored) = events.get(sequence)? else {
                continue;
            };
            let size = stored.value().len();
            bytes += size;
            records.push((decode(stored.value(), sequence)?, size));
        }
        Ok(CustomerRead {
            records,
            through: recent.upto - 1,
            caught_up: true,
        })
    }

    /// Where `customer`'s destination at `cursor` really stands: its first
    /// event at or after the cursor, or the end of the log. An idle
    /// destination's stored cursor does not move while other customers'
    /// events arrive (it is not woken for them), so retention and lag
    /// figures ask this instead. Blocking.
    pub fn customer_cursor(&self, customer: &str, cursor: u64) -> Result<u64, LogError> {
        let recent = self.inner.recent_customers.view(customer, cursor);
        let txn = self.inner.db.begin_read()?;
        customer_cursor(&txn, &recent, customer, cursor)
    }

    /// Where a destination stands: its cursor and how many of its events
    /// wait (only its customer's, for a destination of one customer), as of
    /// one read transaction. Blocking.
    pub fn position(&self, scope: &CursorScope) -> Result<(u64, u64), LogError> {
        // The view before the transaction (see `recent_customers`).
        let customer = scope
            .customer
            .as_ref()
            .map(|customer| (customer, self.inner.recent_customers.view(customer, 0)));
        let txn = self.inner.db.begin_read()?;
        let stored = stored_cursor(&txn, &scope.destination)?;
        match customer {
            Some((customer, recent)) => {
                let cursor = customer_cursor(&txn, &recent, customer, stored)?;
                let index = txn.open_table(EVENTS_BY_CUSTOMER)?;
                let mut waiting = 0;
                for sequence in customer_sequences(&index, customer, cursor, &recent)? {
                    sequence?;
                    waiting += 1;
                }
                Ok((cursor, waiting))
            }
            None => Ok((stored, next_sequence_in(&txn)?.saturating_sub(stored))),
        }
    }

    /// Watches `customer`'s last committed sequence: it changes after every
    /// commit that stored an event of that customer.
    pub fn subscribe_customer(&self, customer: &str) -> watch::Receiver<u64> {
        self.inner.wakers.subscribe(customer)
    }
}

/// [`Log::customer_cursor`] inside a read transaction opened after `recent`
/// was taken.
pub(crate) fn customer_cursor(
    txn: &redb::ReadTransaction,
    recent: &Recent,
    customer: &str,
    cursor: u64,
) -> Result<u64, LogError> {
    let index = txn.open_table(EVENTS_BY_CUSTOMER)?;
    if let Some(first) = customer_sequences(&index, customer, cursor, recent)?.next() {
        return first;
    }
    Ok(recent.upto.max(cursor))
}

/// One watch per customer someone waits on; the writer wakes the
/// customers of each commit.
#[derive(Default)]
pub(crate) struct Wakers(Mutex<HashMap<String, watch::Sender<u64>>>);

impl Wakers {
    fn subscribe(&self, customer: &str) -> watch::Receiver<u64> {
        let mut senders = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Forget customers nobody waits on any more.
        if senders.len() > 64 && senders.len().is_power_of_two() {
            senders.retain(|_, sender| sender.receiver_count() > 0);
        }
        senders
            .entry(customer.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes whoever waits on these customers' events.
    pub(crate) fn wake<'a>(&self, customers: impl IntoIterator<Item = (&'a str, u64)>) {
        let senders = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if senders.is_empty() {
            return;
        }
        for (customer, sequence) in customers {
            if let Some(sender) = senders.get(customer) {
                sender.send_replace(sequence);
            }
        }
    }
}

/// Indexes every event by customer, once, for logs written before the
/// index existed; a no-op afterwards. Blocking; part of opening the log.
pub(crate) fn index_customers_once(txn: &redb::WriteTransaction) -> Result<(), LogError> {
    let mut meta = txn.open_table(META)?;
    if meta.get(META_CUSTOMERS_INDEXED)?.is_some() {
        return Ok(());
    }
    let events = txn.open_table(EVENTS)?;
    let mut index = txn.open_table(EVENTS_BY_CUSTOMER)?;
    let mut indexed = 0u64;
    for entry in events.iter()? {
        let (sequence, stored) = entry?;
        let sequence = sequence.value();
        let keys: RecordKeys<'_> = decode(stored.value(), sequence)?;
        index.insert((keys.customer_external_id.as_ref(), sequence), ())?;
        indexed += 1;
    }
    if indexed > 0 {
        tracing::info!(events = indexed, "indexed the log by customer (once)");
    }
    meta.insert(META_CUSTOMERS_INDEXED, 1)?;
    Ok(())
}
