//! Reads aggregated Kinesis records with an independent implementation of
//! the KPL format: AWS's own `aws-kinesis-agg` deaggregator (PyPI), run in
//! a virtualenv beside the build. What it yields is what a consumer sees.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::kinesis::RawRecord;

/// The deaggregator imports `six` without declaring it.
const AWS_KINESIS_AGG: &str = "aws-kinesis-agg==1.2.3 protobuf==7.36.2 six==1.17.0";

/// Reads one stored record per input line (as boto3 returns them) and
/// prints every user record the deaggregator yields, as JSON.
const SCRIPT: &str = r#"
import base64, json, sys
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
out = []
for line in sys.stdin:
    stored = json.loads(line)
    record = {
        "SequenceNumber": stored["sequenceNumber"],
        "PartitionKey": stored["partitionKey"],
        "ApproximateArrivalTimestamp": 0,
        "Data": base64.b64decode(stored["data"]),
    }
    for user in iter_deaggregate_records(record, data_format="Boto3"):
        k = user["kinesis"]
        aggregated = bool(k.get("aggregated"))
        data = base64.b64decode(k["data"]) if aggregated else k["data"]
        out.append({
            "shardId": stored["shardId"],
            "sequenceNumber": k["sequenceNumber"],
            "subSequenceNumber": k.get("subSequenceNumber"),
            "aggregated": aggregated,
            "partitionKey": k["partitionKey"],
            "data": data.decode("utf-8"),
        })
json.dump(out, sys.stdout)
"#;

/// One user record as the deaggregator gives it to a consumer.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub shard_id: String,
    pub sequence_number: String,
    /// Its index in the aggregated record; `None` for a record that was
    /// not aggregated (the deaggregator passes it through).
    pub sub_sequence_number: Option<u64>,
    pub aggregated: bool,
    pub partition_key: String,
    /// The record data, parsed as JSON.
    pub data: Value,
}

/// Every user record in `stored`, in order, as `aws-kinesis-agg` unpacks them.
pub fn deaggregate(stored: &[RawRecord]) -> Vec<UserRecord> {
    let python = super::venv::tool("kinesis-agg", AWS_KINESIS_AGG, "python");
    let mut child = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the deaggregator");
    let mut input = String::new();
    for r in stored {
        let line = json!({
            "shardId": r.shard_id,
            "sequenceNumber": r.sequence_number,
            "partitionKey": r.partition_key,
            "data": STANDARD.encode(&r.data),
        });
        input.push_str(&line.to_string());
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().expect("the deaggregator ran");
    assert!(output.status.success(), "the deaggregator failed");
    let users: Vec<Value> = serde_json::from_slice(&output.stdout).expect("deaggregator JSON");
    users
        .into_iter()
        .map(|u| UserRecord {
            shard_id: u["shardId"].as_str().unwrap().to_owned(),
            sequence_number: u["sequenceNumber"].as_str().unwrap().to_owned(),
            sub_sequence_number: u["subSequenceNumber"].as_u64(),
            aggregated: u["aggregated"].as_bool().unwrap(),
            partition_key: u["partitionKey"].as_str().unwrap().to_owned(),
            data: serde_json::from_str(u["data"].as_str().unwrap())
                .expect("a user record's data is the event's JSON"),
        })
        .collect()
}
