//! The scenarios: each runs ours and its ceiling interleaved, round after
//! round, and returns its figures.

mod aggregation;
mod backlog;
mod customers;
mod distance;
mod ingest;
mod kafka;
mod kinesis;
mod latency;
mod timing;
mod wasm;
mod webhook;

use std::path::PathBuf;

use anyhow::bail;
use serde::Serialize;

use crate::report::Measurement;
use crate::scale::Scale;

/// What every scenario gets.
pub struct Context {
    /// The `pushrail` binary under test.
    pub engine: PathBuf,
    /// Scratch space on the disk a deployment would use.
    pub data_dir: PathBuf,
    pub scale: Scale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Ingest,
    Wasm,
    Kafka,
    Kinesis,
    Latency,
    Backlog,
    Recovery,
    Customers,
    Distance,
    Aggregation,
    Webhook,
}

impl Scenario {
    pub const ALL: [Scenario; 11] = [
        Scenario::Ingest,
        Scenario::Wasm,
        Scenario::Kafka,
        Scenario::Kinesis,
        Scenario::Latency,
        Scenario::Backlog,
        Scenario::Recovery,
        Scenario::Customers,
        Scenario::Distance,
        Scenario::Aggregation,
        Scenario::Webhook,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ingest => "ingest",
            Scenario::Wasm => "wasm",
            Scenario::Kafka => "kafka",
            Scenario::Kinesis => "kinesis",
            Scenario::Latency => "latency",
            Scenario::Backlog => "backlog",
            Scenario::Recovery => "recovery",
            Scenario::Customers => "customers",
            Scenario::Distance => "distance",
            Scenario::Aggregation => "aggregation",
            Scenario::Webhook => "webhook",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Scenario::Ingest => "1. durable ingest: HTTP → 202 vs raw redb",
            Scenario::Wasm => "2. WASM plugin boundary vs the same logic native",
            Scenario::Kafka => "3. end to end to Kafka vs a raw rdkafka producer",
            Scenario::Kinesis => "4. end to end to Kinesis vs a raw PutRecords loop",
            Scenario::Latency => "5. latency post → delivered at 50% of the max rate",
            Scenario::Backlog => "6. backlog: memory and drain rate",
            Scenario::Recovery => "7. recovery: restart on a full log",
            Scenario::Customers => "8. customers: a destination per customer vs one for all",
            Scenario::Distance => "9. a destination 50 ms away: calls in flight vs raw clients",
            Scenario::Aggregation => {
                "10. Kinesis record aggregation: throughput and PUT payload units"
            }
            Scenario::Webhook => "11. signed webhooks: requests at a time vs a raw HTTP client",
        }
    }

    /// Names in the order given, `all` expanded, duplicates dropped.
    pub fn parse_all(names: &[String]) -> anyhow::Result<Vec<Scenario>> {
        let mut chosen = Vec::new();
        for name in names {
            let add: Vec<Scenario> = match name.as_str() {
                "all" => Self::ALL.to_vec(),
                other => match Self::ALL.iter().find(|s| s.name() == other) {
                    Some(s) => vec![*s],
                    None => bail!(
                        "unknown scenario {other:?}; choose from all, {}",
                        Self::ALL.map(Scenario::name).join(", ")
                    ),
                },
            };
            for s in add {
                if !chosen.contains(&s) {
                    chosen.push(s);
                }
            }
        }
        Ok(chosen)
    }

    pub async fn run(self, context: &Context) -> anyhow::Result<Vec<Measurement>> {
        match self {
            Scenario::Ingest => ingest::run(context).await,
            Scenario::Wasm => wasm::run(context).await,
            Scenario::Kafka => kafka::run(context).await,
            Scenario::Kinesis => kinesis::run(context).await,
            Scenario::Latency => latency::run(context).await,
            Scenario::Backlog => backlog::run(context).await,
            Scenario::Recovery => backlog::recovery(context).await,
            Scenario::Customers => customers::run(context).await,
            Scenario::Distance => distance::run(context).await,
            Scenario::Aggregation => aggregation::run(context).await,
            Scenario::Webhook => webhook::run(context).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_all() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Scenario::parse_all(&names(&["kafka", "ingest", "kafka"])).unwrap(),
            vec![Scenario::Kafka, Scenario::Ingest]
        );
        assert_eq!(Scenario::parse_all(&names(&["all"])).unwrap().len(), 11);
        let error = Scenario::parse_all(&names(&["kafak"])).unwrap_err();
        assert!(error.to_string().contains("unknown scenario \"kafak\""));
    }
}
