//! The `/metrics` page, rendered a chunk at a time as the response is
//! sent. With 10,000 busy customers' destinations the page is ~40 MB: built
//! whole, it was the largest allocation of a scrape (and of the customers
//! scenario's peak); streamed, a scrape holds one chunk of text and a
//! snapshot of the numbers.

use std::fmt::Write;

use super::{DestinationMetrics, Histogram, escape};

/// Text rendered per chunk of the response.
const CHUNK: usize = 64 << 10;

/// A metric family with series per destination, in page order.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    /// One destination's series (`destination` is escaped); none when it
    /// has nothing to show.
    series: fn(&mut String, &'static str, &str, &DestinationMetrics),
}

const FAMILIES: [Family; 11] = [
    Family {
        name: "pushrail_delivery_events_total",
        kind: "counter",
        help: "Delivery attempts per event, by outcome.",
        series: |out, name, destination, d| {
            labelled(out, name, destination, "outcome", &d.outcomes)
        },
    },
    Family {
        name: "pushrail_http_requests_total",
        kind: "counter",
        help: "Outbound HTTP requests of destination plugins, by answer (2xx to 5xx) or failed (refused, no connection, timeout).",
        series: |out, name, destination, d| {
            labelled(out, name, destination, "answer", &d.http_requests)
        },
    },
    Family {
        name: "pushrail_sink_restarts_total",
        kind: "counter",
        help: "Sink clients recreated after a fatal error (a Kafka producer).",
        series: |out, name, destination, d| one(out, name, destination, d.sink_restarts),
    },
    Family {
        name: "pushrail_kinesis_records_total",
        kind: "counter",
        help: "Kinesis records that landed; an aggregated record counts once, however many events it carries.",
        series: |out, name, destination, d| {
            if d.kinesis_records > 0 {
                one(out, name, destination, d.kinesis_records)
            }
        },
    },
    Family {
        name: "pushrail_kinesis_put_payload_units_total",
        kind: "counter",
        help: "PUT payload units (25 KiB, rounded up per record) of the Kinesis records that landed.",
        series: |out, name, destination, d| {
            if d.kinesis_records > 0 {
                one(out, name, destination, d.kinesis_put_payload_units)
            }
        },
    },
    Family {
        name: "pushrail_plugin_calls_total",
        kind: "counter",
        help: "Calls into each plugin (one per event for transforms, one per batch for destinations).",
        series: |out, name, destination, d| {
            for (plugin, (_, calls)) in &d.plugin_calls {
                per_plugin(out, name, destination, plugin, calls);
            }
        },
    },
    Family {
        name: "pushrail_plugin_call_seconds_total",
        kind: "counter",
        help: "Time spent in each plugin's calls, WASM and the host functions it called.",
        series: |out, name, destination, d| {
            for (plugin, (seconds, _)) in &d.plugin_calls {
                per_plugin(out, name, destination, plugin, seconds);
            }
        },
    },
    Family {
        name: "pushrail_delivery_latency_seconds",
        kind: "histogram",
        help: "From receipt to delivery, per delivered event.",
        series: |out, name, destination, d| histogram(out, name, destination, &d.latency),
    },
    Family {
        name: "pushrail_delivery_batch_events",
        kind: "histogram",
        help: "Events per delivered batch.",
        series: |out, name, destination, d| histogram(out, name, destination, &d.batch_events),
    },
    Family {
        name: "pushrail_plugin_call_seconds",
        kind: "histogram",
        help: "Time in plugin calls per batch.",
        series: |out, name, destination, d| histogram(out, name, destination, &d.plugin_seconds),
    },
    Family {
        name: "pushrail_http_request_seconds",
        kind: "histogram",
        help: "Outbound HTTP requests of destination plugins that were answered, from sending to the whole response.",
        series: |out, name, destination, d| histogram(out, name, destination, &d.http_seconds),
    },
];

fn labelled(
    out: &mut String,
    name: &str,
    destination: &str,
    label: &str,
    counts: &std::collections::BTreeMap<&'static str, u64>,
) {
    for (value, n) in counts {
        let _ = writeln!(
            out,
            "{name}{{destination=\"{destination}\",{label}=\"{value}\"}} {n}"
        );
    }
}

fn one(out: &mut String, name: &str, destination: &str, value: u64) {
    let _ = writeln!(out, "{name}{{destination=\"{destination}\"}} {value}");
}

fn per_plugin(
    out: &mut String,
    name: &str,
    destination: &str,
    plugin: &str,
    value: &impl std::fmt::Display,
) {
    let _ = writeln!(
        out,
        "{name}{{destination=\"{destination}\",plugin=\"{}\"}} {value}",
        escape(plugin)
    );
}

/// A destination's series appear with its first observation: a file
/// destination has no HTTP times, and ten thousand idle customers' empty
/// buckets would be most of the page.
fn histogram(out: &mut String, name: &str, destination: &str, h: &Histogram) {
    if h.count > 0 {
        h.render(out, name, &format!("destination=\"{destination}\""));
    }
}

/// The page still to send: the process-wide series, then the lag gauge
/// and each [`FAMILIES`] entry over every destination. Iterating it gives
/// chunks of about [`CHUNK`] bytes.
pub struct Page {
    head: String,
    /// (destination, events behind), names unescaped.
    lag: Vec<(String, u64)>,
    /// A snapshot (escaped names): the numbers of one moment, whatever the
    /// destinations record while the page is sent.
    destinations: Vec<(String, DestinationMetrics)>,
    /// 0 is the lag gauge, then `FAMILIES[part - 1]`.
    part: usize,
    /// The next destination of that part; `None` before its header.
    next: Option<usize>,
}

impl Page {
    pub(super) fn new(
        head: String,
        lag: Vec<(String, u64)>,
        destinations: Vec<(String, DestinationMetrics)>,
    ) -> Self {
        Self {
            head,
            lag,
            destinations,
            part: 0,
            next: None,
        }
    }

    /// Renders the current part's header or its next destination; false
    /// when the page is done.
    fn step(&mut self, out: &mut String) -> bool {
        let (name, kind, help, len) = match self.part {
            0 => (
                "pushrail_destination_lag_events",
                "gauge",
                "Stored events a destination has not finished.",
                self.lag.len(),
            ),
            part => match FAMILIES.get(part - 1) {
                Some(f) => (f.name, f.kind, f.help, self.destinations.len()),
                None => return false,
            },
        };
        let Some(at) = self.next else {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            self.next = Some(0);
            return true;
        };
        if at == len {
            self.part += 1;
            self.next = None;
            return true;
        }
        if self.part == 0 {
            let (destination, events) = &self.lag[at];
            one(out, name, &escape(destination), *events);
        } else {
            let (destination, d) = &self.destinations[at];
            (FAMILIES[self.part - 1].series)(out, name, destination, d);
        }
        self.next = Some(at + 1);
        true
    }
}

impl Iterator for Page {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut out = std::mem::take(&mut self.head);
        out.reserve(CHUNK);
        while out.len() < CHUNK && self.step(&mut out) {}
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::CHUNK;
    use crate::log::LogStats;
    use crate::metrics::Metrics;

    #[test]
    fn a_large_page_comes_in_bounded_chunks_with_every_series_once() {
        let metrics = Metrics::default();
        let names: Vec<String> = (0..3_000).map(|i| format!("acct_{i}")).collect();
        for name in &names {
            metrics.destination(name, |d| {
                d.latency.observe(0.2);
                *d.outcomes.entry("delivered").or_default() += 1;
            });
        }
        let lag: Vec<(String, u64)> = names.iter().map(|n| (n.clone(), 7)).collect();
        let chunks: Vec<String> = metrics.page(lag.clone(), &LogStats::default()).collect();
        assert!(chunks.len() > 10, "{} chunks", chunks.len());
        for chunk in &chunks {
            assert!(chunk.len() < CHUNK + 2048, "{} bytes", chunk.len());
            assert!(chunk.ends_with('\n'), "a chunk ends with a whole line");
        }
        let page = chunks.concat();
        assert_eq!(page, metrics.render(&lag, &LogStats::default()));
        for kind in ["gauge", "counter", "histogram"] {
            assert!(page.contains(&format!(" {kind}\n")));
        }
        let headers = |name: &str| page.matches(&format!("# TYPE {name} ")).count();
        assert_eq!(headers("pushrail_delivery_latency_seconds"), 1);
        assert_eq!(headers("pushrail_destination_lag_events"), 1);
        let series = |prefix: &str| page.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(series("pushrail_destination_lag_events{"), 3_000);
        assert_eq!(series("pushrail_delivery_events_total{"), 3_000);
        assert_eq!(series("pushrail_delivery_latency_seconds_count{"), 3_000);
        assert!(page.contains(
            "pushrail_delivery_events_total{destination=\"acct_2999\",outcome=\"delivered\"} 1\n"
        ));
    }
}
