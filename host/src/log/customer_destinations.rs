//! Customers' destinations as the API received them, kept in the log so
//! that they run again after a restart.

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::tables::{CUSTOMER_DESTINATIONS, CUSTOMERS};
use super::{Log, LogError};

/// One customer destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDestination {
    /// `dst_…`.
    pub id: String,
    pub customer_external_id: String,
    /// The JSON the customer sent (the destination pages' shape).
    pub spec: Value,
    pub created_at: String,
}

impl Log {
    /// Stores `destination` if its customer exists; false when it does not. Blocking.
    pub fn put_customer_destination(
        &self,
        destination: &CustomerDestination,
    ) -> Result<bool, LogError> {
        let txn = self.inner.db.begin_write()?;
        {
            let customers = txn.open_table(CUSTOMERS)?;
            if customers
                .get(destination.customer_external_id.as_str())?
                .is_none()
            {
                return Ok(false);
            }
            let mut table = txn.open_table(CUSTOMER_DESTINATIONS)?;
            let bytes = serde_json::to_vec(destination).expect("destinations serialize");
            table.insert(
                (
                    destination.customer_external_id.as_str(),
                    destination.id.as_str(),
                ),
                bytes.as_slice(),
            )?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// The customer's destinations, by id. Blocking.
    pub fn customer_destinations(
        &self,
        customer: &str,
    ) -> Result<Vec<CustomerDestination>, LogError> {
        self.read_destinations(Some(customer))
    }

    /// Every customer's destinations. Blocking.
    pub fn all_customer_destinations(&self) -> Result<Vec<CustomerDestination>, LogError> {
        self.read_destinations(None)
    }

    fn read_destinations(
        &self,
        customer: Option<&str>,
    ) -> Result<Vec<CustomerDestination>, LogError> {
        let txn = self.inner.db.begin_read()?;
        let table = match txn.open_table(CUSTOMER_DESTINATIONS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(redb::Error::from(e).into()),
        };
        let range = match customer {
            Some(c) => table.range((c, "")..=(c, "\u{10ffff}"))?,
            None => table.range::<(&str, &str)>(..)?,
        };
        let mut out = Vec::new();
        for entry in range {
            let (key, value) = entry?;
            let (customer, id) = key.value();
            out.push(decode(customer, id, value.value())?);
        }
        Ok(out)
    }

    /// Removes one destination; the removed one. Blocking.
    pub fn delete_customer_destination(
        &self,
        customer: &str,
        id: &str,
    ) -> Result<Option<CustomerDestination>, LogError> {
        let txn = self.inner.db.begin_write()?;
        let removed = {
            let mut table = txn.open_table(CUSTOMER_DESTINATIONS)?;
            let removed = table.remove((customer, id))?;
            removed
                .map(|g| decode(customer, id, g.value()))
                .transpose()?
        };
        txn.commit()?;
        Ok(removed)
    }
}

fn decode(customer: &str, id: &str, bytes: &[u8]) -> Result<CustomerDestination, LogError> {
    serde_json::from_slice(bytes).map_err(|source| LogError::UnreadableCustomer {
        id: format!("{customer} (destination {id})"),
        source,
    })
}
