//! Record aggregation in the Kinesis Producer Library's format: many user
//! records of one partition key packed into one Kinesis record, which
//! consumers (the KCL, Lambda with the deaggregation modules, Firehose)
//! unpack transparently. A record is the 4-byte magic, a protobuf
//! `AggregatedRecord`, and the MD5 of the protobuf bytes.
//!
//! Packing is per key (and explicit hash key): every user record of an
//! aggregate shares its partition key, so a key's order inside the
//! aggregate is its log order, and the aggregates of one key are listed in
//! order too. A user record too large to share an aggregate goes alone,
//! unaggregated, as the KPL does (deaggregators pass such a record through).

use std::collections::HashMap;

use md5::{Digest, Md5};
use prost::Message;
use prost::encoding::encoded_len_varint;

use super::Record;

/// What every aggregated record starts with (KPL's format).
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// The MD5 digest that ends an aggregated record.
const DIGEST_BYTES: usize = 16;

/// Kinesis bills PUT payload units of 25 KB; the KPL counts them as 25 KiB
/// (its default aggregate size is two of them).
pub const PUT_PAYLOAD_UNIT: usize = 25 * 1024;

/// The default size of an aggregated record (data plus partition key): 40
/// PUT payload units, under the 1 MiB record limit with room for any key.
pub const DEFAULT_MAX_BYTES: usize = 40 * PUT_PAYLOAD_UNIT;

/// PUT payload units one record of `bytes` (data plus partition key) costs.
pub fn put_payload_units(bytes: usize) -> u64 {
    bytes.div_ceil(PUT_PAYLOAD_UNIT).max(1) as u64
}

/// The format's `AggregatedRecord` (tags, field 4 of a user record, are
/// never written).
#[derive(Clone, PartialEq, Message)]
pub struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<UserRecord>,
}

/// One user record inside an aggregate: indexes into the key tables.
#[derive(Clone, PartialEq, Message)]
pub struct UserRecord {
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "vec", required, tag = "3")]
    pub data: Vec<u8>,
}

/// A Kinesis record to put, and the user records (indexes into the input)
/// it carries, in order: the position of one is its sub-sequence number.
#[derive(Debug)]
pub struct Packed {
    pub record: Record,
    /// One user record sent as it is, or several aggregated.
    pub members: Members,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Members {
    Plain(usize),
    Aggregated(Vec<usize>),
}

impl Members {
    /// (input index, sub-sequence number) of each user record carried.
    pub fn each(&self) -> Vec<(usize, Option<u64>)> {
        match self {
            Members::Plain(i) => vec![(*i, None)],
            Members::Aggregated(all) => all
                .iter()
                .enumerate()
                .map(|(sub, &i)| (i, Some(sub as u64)))
                .collect(),
        }
    }
}

/// An aggregate being filled.
struct Open {
    members: Vec<usize>,
    /// Its record's size so far: magic, protobuf, digest and partition key.
    bytes: usize,
}

/// Packs the records not `skip`ped into aggregates of at most `max_bytes`
/// (record data plus partition key), in order per key. The result lists a
/// key's records in its log order. The records' data moves into the
/// aggregates: each event's bytes are copied once, into the record sent.
pub fn pack(records: Vec<Record>, skip: &[bool], max_bytes: usize) -> Vec<Packed> {
    enum Slot {
        Plain(usize),
        Aggregate(Open),
    }
    let mut slots: Vec<Slot> = Vec::new();
    {
        // Per (partition key, explicit hash key): the slot of its open aggregate.
        let mut open: HashMap<(&str, Option<&str>), usize> = HashMap::new();
        for (i, record) in records.iter().enumerate() {
            if skip[i] {
                continue;
            }
            let key = (
                record.partition_key.as_str(),
                record.explicit_hash_key.as_deref(),
            );
            let entry = entry_len(record);
            if empty_len(record) + entry > max_bytes {
                // Too large to share: alone, and the key's next records start
                // a new aggregate after it.
                open.remove(&key);
                slots.push(Slot::Plain(i));
                continue;
            }
            if let Some(&slot) = open.get(&key)
                && let Slot::Aggregate(aggregate) = &mut slots[slot]
                && aggregate.bytes + entry <= max_bytes
            {
                aggregate.members.push(i);
                aggregate.bytes += entry;
                continue;
            }
            open.insert(key, slots.len());
            slots.push(Slot::Aggregate(Open {
                members: vec![i],
                bytes: empty_len(record) + entry,
            }));
        }
    }
    let mut records: Vec<Option<Record>> = records.into_iter().map(Some).collect();
    let mut take = |i: usize| records[i].take().expect("each record is packed once");
    slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Plain(i) => Packed {
                record: take(i),
                members: Members::Plain(i),
            },
            Slot::Aggregate(aggregate) => Packed {
                record: encode(aggregate.members.iter().map(|&i| take(i)).collect()),
                members: Members::Aggregated(aggregate.members),
            },
        })
        .collect()
}

/// The aggregated record of `members` (which share a partition key and
/// explicit hash key), encoded straight into the bytes sent.
fn encode(members: Vec<Record>) -> Record {
    let partition_key = members[0].partition_key.clone();
    let explicit_hash_key = members[0].explicit_hash_key.clone();
    let message = AggregatedRecord {
        partition_key_table: vec![partition_key.clone()],
        explicit_hash_key_table: explicit_hash_key.iter().cloned().collect(),
        records: members
            .into_iter()
            .map(|member| UserRecord {
                partition_key_index: 0,
                explicit_hash_key_index: explicit_hash_key.as_ref().map(|_| 0),
                data: member.data,
            })
            .collect(),
    };
    let mut data = Vec::with_capacity(MAGIC.len() + message.encoded_len() + DIGEST_BYTES);
    data.extend_from_slice(&MAGIC);
    message
        .encode(&mut data)
        .expect("a Vec has room for any message");
    let digest = Md5::digest(&data[MAGIC.len()..]);
    data.extend_from_slice(&digest);
    Record {
        partition_key,
        explicit_hash_key,
        data,
    }
}

/// The size of an aggregate of `record`'s key with no user record in it:
/// magic, the key tables, digest, and the partition key Kinesis counts.
fn empty_len(record: &Record) -> usize {
    let table = |s: &str| 1 + encoded_len_varint(s.len() as u64) + s.len();
    MAGIC.len()
        + table(&record.partition_key)
        + record.explicit_hash_key.as_deref().map_or(0, table)
        + DIGEST_BYTES
        + record.partition_key.len()
}

/// What one user record adds to an aggregate: its `records` entry.
fn entry_len(record: &Record) -> usize {
    let data = record.data.len();
    let body = 2 // partition_key_index = 0
        + if record.explicit_hash_key.is_some() { 2 } else { 0 }
        + 1 + encoded_len_varint(data as u64) + data;
    1 + encoded_len_varint(body as u64) + body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, bytes: usize) -> Record {
        Record {
            partition_key: key.to_owned(),
            explicit_hash_key: None,
            data: vec![b'x'; bytes],
        }
    }

    fn decode(record: &Record) -> AggregatedRecord {
        let data = &record.data;
        assert_eq!(data[..4], MAGIC);
        let body = &data[4..data.len() - DIGEST_BYTES];
        assert_eq!(data[data.len() - DIGEST_BYTES..], Md5::digest(body)[..]);
        AggregatedRecord::decode(body).unwrap()
    }

    #[test]
    fn the_size_arithmetic_is_the_encoded_size() {
        for (bytes, ehk) in [
            (0, None),
            (1, Some("17")),
            (127, None),
            (128, None),
            (70_000, Some("3")),
        ] {
            let mut r = record("customer-42", bytes);
            r.explicit_hash_key = ehk.map(str::to_owned);
            let packed = pack(vec![r.clone()], &[false], DEFAULT_MAX_BYTES);
            assert_eq!(
                packed[0].record.size(),
                empty_len(&r) + entry_len(&r),
                "{bytes} bytes, {ehk:?}"
            );
        }
    }

    #[test]
    fn packs_per_key_in_order_within_the_size() {
        let records = [
            record("a", 10),
            record("b", 10),
            record("a", 10),
            record("a", 10),
            record("b", 10),
        ];
        let one = empty_len(&records[0]) + entry_len(&records[0]);
        // Room for two of "a"'s records per aggregate.
        let packed = pack(records.to_vec(), &[false; 5], one + entry_len(&records[0]));
        let members: Vec<_> = packed.iter().map(|p| &p.members).collect();
        assert_eq!(
            members,
            [
                &Members::Aggregated(vec![0, 2]),
                &Members::Aggregated(vec![1, 4]),
                &Members::Aggregated(vec![3]),
            ]
        );
        let first = decode(&packed[0].record);
        assert_eq!(first.partition_key_table, ["a"]);
        assert_eq!(first.records.len(), 2);
        assert!(
            packed
                .iter()
                .all(|p| p.record.size() <= one + entry_len(&records[0]))
        );
    }

    #[test]
    fn a_record_too_large_to_share_goes_alone_between_its_keys_aggregates() {
        let records = [record("a", 10), record("a", 5_000), record("a", 10)];
        let packed = pack(records.to_vec(), &[false; 3], 1_000);
        let members: Vec<_> = packed.iter().map(|p| &p.members).collect();
        assert_eq!(
            members,
            [
                &Members::Aggregated(vec![0]),
                &Members::Plain(1),
                &Members::Aggregated(vec![2]),
            ]
        );
        assert_eq!(packed[1].record.data, records[1].data);
    }

    #[test]
    fn skipped_records_are_left_out() {
        let records = [record("a", 1), record("a", 1)];
        let packed = pack(records.to_vec(), &[true, false], DEFAULT_MAX_BYTES);
        assert_eq!(packed.len(), 1);
        assert_eq!(packed[0].members, Members::Aggregated(vec![1]));
    }

    #[test]
    fn put_payload_units_round_up() {
        assert_eq!(put_payload_units(0), 1);
        assert_eq!(put_payload_units(1024), 1);
        assert_eq!(put_payload_units(PUT_PAYLOAD_UNIT), 1);
        assert_eq!(put_payload_units(PUT_PAYLOAD_UNIT + 1), 2);
        assert_eq!(put_payload_units(DEFAULT_MAX_BYTES), 40);
    }
}
