//! The platform's customers, kept in the log beside their events: each with
//! the external ID its AWS roles' trust policies name.

use rand::Rng;
use rand::distr::Alphanumeric;
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::tables::{CUSTOMER_DESTINATIONS, CUSTOMERS};
use super::{Log, LogError, format_time};

/// A customer, as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// The platform's id for it: events with this `customerExternalId` are its.
    pub customer_external_id: String,
    /// A display name, if the platform gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Generated once; the `sts:ExternalId` its roles' trust policies require.
    pub external_id: String,
    pub created_at: String,
    pub updated_at: String,
}

/// What a `PUT` may set.
#[derive(Debug, Clone, Default)]
pub struct CustomerUpdate {
    pub name: Option<String>,
}

/// Characters of a generated external ID after its `pr-` prefix (AWS allows 2 to 1224).
const EXTERNAL_ID_CHARS: usize = 32;

impl Log {
    /// Creates the customer or updates it; true when it was created. Its
    /// external ID never changes. Blocking.
    pub fn put_customer(
        &self,
        id: &str,
        update: CustomerUpdate,
    ) -> Result<(Customer, bool), LogError> {
        let now = format_time(std::time::SystemTime::now());
        let txn = self.inner.db.begin_write()?;
        let result = {
            let mut table = txn.open_table(CUSTOMERS)?;
            let existing = table.get(id)?.map(|g| decode(id, g.value())).transpose()?;
            let created = existing.is_none();
            let customer = match existing {
                Some(mut customer) => {
                    customer.name = update.name;
                    customer.updated_at = now;
                    customer
                }
                None => Customer {
                    customer_external_id: id.to_owned(),
                    name: update.name,
                    external_id: new_external_id(),
                    created_at: now.clone(),
                    updated_at: now,
                },
            };
            let bytes = serde_json::to_vec(&customer).expect("customers serialize");
            table.insert(id, bytes.as_slice())?;
            (customer, created)
        };
        txn.commit()?;
        Ok(result)
    }

    /// The customer, if it exists. Blocking.
    pub fn customer(&self, id: &str) -> Result<Option<Customer>, LogError> {
        let txn = self.inner.db.begin_read()?;
        let table = match txn.open_table(CUSTOMERS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(redb::Error::from(e).into()),
        };
        table.get(id)?.map(|g| decode(id, g.value())).transpose()
    }

    /// Up to `limit` customers after `after` (by id), and whether more follow. Blocking.
    pub fn customers_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Customer>, bool), LogError> {
        let txn = self.inner.db.begin_read()?;
        let table = match txn.open_table(CUSTOMERS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((Vec::new(), false)),
            Err(e) => return Err(redb::Error::from(e).into()),
        };
        let mut items = Vec::new();
        let range = match after {
            Some(after) => table
                .range::<&str>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))?,
            None => table.range::<&str>(..)?,
        };
        for entry in range {
            let (key, value) = entry?;
            if items.len() == limit {
                return Ok((items, true));
            }
            items.push(decode(key.value(), value.value())?);
        }
        Ok((items, false))
    }

    /// Removes the customer and its destinations; the removed customer,
    /// if it existed. Blocking.
    pub fn delete_customer(&self, id: &str) -> Result<Option<Customer>, LogError> {
        let txn = self.inner.db.begin_write()?;
        let removed = {
            let mut table = txn.open_table(CUSTOMERS)?;
            let removed = table.remove(id)?;
            let removed = removed.map(|g| decode(id, g.value())).transpose()?;
            let mut destinations = txn.open_table(CUSTOMER_DESTINATIONS)?;
            destinations.retain_in((id, "")..=(id, "\u{10ffff}"), |_, _| false)?;
            removed
        };
        txn.commit()?;
        Ok(removed)
    }
}

fn decode(id: &str, bytes: &[u8]) -> Result<Customer, LogError> {
    serde_json::from_slice(bytes).map_err(|source| LogError::UnreadableCustomer {
        id: id.to_owned(),
        source,
    })
}

/// `pr-` and 32 random letters and digits: unguessable, and within the
/// characters AWS allows in an external ID.
fn new_external_id() -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(EXTERNAL_ID_CHARS)
        .map(char::from)
        .collect();
    format!("pr-{random}")
}
