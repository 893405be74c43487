//! Counters and histograms for `GET /metrics`, in Prometheus text format.
//! Each stage records into one shared [`Metrics`]; values that live in the
//! log (lag) are read at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::log::LogStats;

/// Bucket bounds in seconds for latencies and call times.
const SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Bucket bounds for batch sizes (events).
const SIZES: [f64; 9] = [1.0, 5.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0];

/// Buckets of the widest histogram.
const MAX_BUCKETS: usize = SECONDS.len();
const _: () = assert!(SIZES.len() <= MAX_BUCKETS);

/// A fixed-bucket histogram. Its counts are inline (no allocation of their
/// own): a scrape copies every destination's, ten thousand of them.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bound of `bounds`, in order; the rest unused.
    counts: [u64; MAX_BUCKETS],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: [0; MAX_BUCKETS],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// What one destination did.
#[derive(Debug, Clone)]
pub struct DestinationMetrics {
    /// outcome (delivered, retryable, dead_lettered, filtered) → events.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// From the log to a final outcome, per delivered event.
    pub latency: Histogram,
    pub batch_events: Histogram,
    /// Time in plugin calls (transforms and deliver) per batch.
    pub plugin_seconds: Histogram,
    /// plugin name → (seconds in its calls, calls): the WASM cost per plugin.
    pub plugin_calls: BTreeMap<String, (f64, u64)>,
    /// Sink clients recreated after a fatal error (a Kafka producer).
    pub sink_restarts: u64,
    /// Kinesis records that landed (an aggregated record counts once).
    pub kinesis_records: u64,
    /// Their PUT payload units: what the stream's owner is billed for.
    pub kinesis_put_payload_units: u64,
    /// The plugin's HTTP requests that were answered, from sending to the
    /// whole response: the receiver's response time.
    pub http_seconds: Histogram,
    /// Its HTTP requests by answer (`2xx` … `5xx`) or `failed` (no answer).
    pub http_requests: BTreeMap<&'static str, u64>,
}

impl Default for DestinationMetrics {
    fn default() -> Self {
        Self {
            outcomes: BTreeMap::new(),
            latency: Histogram::new(&SECONDS),
            batch_events: Histogram::new(&SIZES),
            plugin_seconds: Histogram::new(&SECONDS),
            plugin_calls: BTreeMap::new(),
            sink_restarts: 0,
            kinesis_records: 0,
            kinesis_put_payload_units: 0,
            http_seconds: Histogram::new(&SECONDS),
            http_requests: BTreeMap::new(),
        }
    }
}

/// Every metric of the process.
#[derive(Default)]
pub struct Metrics {
    pub ingested: AtomicU64,
    pub duplicates: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    destinations: Mutex<BTreeMap<String, DestinationMetrics>>,
    /// Bytes of the last page rendered.
    last_page: AtomicUsize,
}

impl Metrics {
    pub fn rejected(&self, code: &'static str) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    /// Runs `f` on one destination's metrics.
    pub fn destination(&self, name: &str, f: impl FnOnce(&mut DestinationMetrics)) {
        let mut all = self.destinations.lock().unwrap_or_else(|p| p.into_inner());
        f(all.entry(name.to_owned()).or_default());
    }

    /// The Prometheus text exposition. `lag` gives (destination, events
    /// behind); `log` the writer's counters.
    pub fn render(&self, lag: &[(String, u64)], log: &LogStats) -> String {
        // Sized like the last page: with thousands of destinations it is
        // megabytes, and growing it by doubling copies it over and again.
        let last = self.last_page.load(Ordering::Relaxed);
        let mut out = String::with_capacity(last + last / 8);
        let counter = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        let total = |out: &mut String, name: &str, help: &str, value: String| {
            counter(out, name, help);
            let _ = writeln!(out, "{name} {value}");
        };
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed).to_string();
        total(
            &mut out,
            "pushrail_events_ingested_total",
            "Events stored in the log.",
            load(&self.ingested),
        );
        total(
            &mut out,
            "pushrail_events_duplicate_total",
            "Posted events answered as duplicates of a stored one.",
            load(&self.duplicates),
        );
        counter(
            &mut out,
            "pushrail_requests_rejected_total",
            "Requests rejected, by error code.",
        );
        for (code, n) in self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "pushrail_requests_rejected_total{{code=\"{code}\"}} {n}"
            );
        }
        total(
            &mut out,
            "pushrail_log_commits_total",
            "Durable group commits of ingested events.",
            load(&log.commits),
        );
        let micros = log.commit_micros.load(Ordering::Relaxed);
        let commit_time = log.commit_histogram();
        let _ = writeln!(
            out,
            "# HELP pushrail_log_commit_seconds Duration of each durable group commit (redb write and fsync).\n# TYPE pushrail_log_commit_seconds histogram"
        );
        let mut cumulative = 0;
        for (bound, count) in commit_time {
            cumulative += count;
            let _ = writeln!(
                out,
                "pushrail_log_commit_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let commits = log.commits.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "pushrail_log_commit_seconds_bucket{{le=\"+Inf\"}} {commits}"
        );
        let _ = writeln!(
            out,
            "pushrail_log_commit_seconds_sum {}",
            micros as f64 / 1e6
        );
        let _ = writeln!(out, "pushrail_log_commit_seconds_count {commits}");
        let _ = writeln!(
            out,
            "# HELP pushrail_destination_lag_events Stored events a destination has not finished.\n# TYPE pushrail_destination_lag_events gauge"
        );
        for (name, events) in lag {
            let _ = writeln!(
                out,
                "pushrail_destination_lag_events{{destination=\"{}\"}} {events}",
                escape(name)
            );
        }
        let destinations = self
            .destinations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // Counters per destination and one more label.
        for (metric, help, label, counts) in [
            (
                "pushrail_delivery_events_total",
                "Delivery attempts per event, by outcome.",
                "outcome",
                (|d: &DestinationMetrics| &d.outcomes)
                    as fn(&DestinationMetrics) -> &BTreeMap<&'static str, u64>,
            ),
            (
                "pushrail_http_requests_total",
                "Outbound HTTP requests of destination plugins, by answer (2xx to 5xx) or failed (refused, no connection, timeout).",
                "answer",
                |d| &d.http_requests,
            ),
        ] {
            counter(&mut out, metric, help);
            for (name, d) in &destinations {
                for (value, n) in counts(d) {
                    let _ = writeln!(
                        out,
                        "{metric}{{destination=\"{}\",{label}=\"{value}\"}} {n}",
                        escape(name)
                    );
                }
            }
        }
        counter(
            &mut out,
            "pushrail_sink_restarts_total",
            "Sink clients recreated after a fatal error (a Kafka producer).",
        );
        for (name, d) in &destinations {
            let _ = writeln!(
                out,
                "pushrail_sink_restarts_total{{destination=\"{}\"}} {}",
                escape(name),
                d.sink_restarts
            );
        }
        for (metric, help, pick) in [
            (
                "pushrail_kinesis_records_total",
                "Kinesis records that landed; an aggregated record counts once, however many events it carries.",
                (|d: &DestinationMetrics| d.kinesis_records) as fn(&DestinationMetrics) -> u64,
            ),
            (
                "pushrail_kinesis_put_payload_units_total",
                "PUT payload units (25 KiB, rounded up per record) of the Kinesis records that landed.",
                |d| d.kinesis_put_payload_units,
            ),
        ] {
            counter(&mut out, metric, help);
            for (name, d) in destinations.iter().filter(|(_, d)| d.kinesis_records > 0) {
                let _ = writeln!(
                    out,
                    "{metric}{{destination=\"{}\"}} {}",
                    escape(name),
                    pick(d)
                );
            }
        }
        for (metric, help, index) in [
            (
                "pushrail_plugin_calls_total",
                "Calls into each plugin (one per event for transforms, one per batch for destinations).",
                1,
            ),
            (
                "pushrail_plugin_call_seconds_total",
                "Time spent in each plugin's calls, WASM and the host functions it called.",
                0,
            ),
        ] {
            counter(&mut out, metric, help);
            for (name, d) in &destinations {
                for (plugin, (seconds, calls)) in &d.plugin_calls {
                    let value = if index == 0 {
                        seconds.to_string()
                    } else {
                        calls.to_string()
                    };
                    let _ = writeln!(
                        out,
                        "{metric}{{destination=\"{}\",plugin=\"{}\"}} {value}",
                        escape(name),
                        escape(plugin)
                    );
                }
            }
        }
        for (metric, help, pick) in [
            (
                "pushrail_delivery_latency_seconds",
                "From receipt to delivery, per delivered event.",
                (|d: &DestinationMetrics| &d.latency) as fn(&DestinationMetrics) -> &Histogram,
            ),
            (
                "pushrail_delivery_batch_events",
                "Events per delivered batch.",
                |d| &d.batch_events,
            ),
            (
                "pushrail_plugin_call_seconds",
                "Time in plugin calls per batch.",
                |d| &d.plugin_seconds,
            ),
            (
                "pushrail_http_request_seconds",
                "Outbound HTTP requests of destination plugins that were answered, from sending to the whole response.",
                |d| &d.http_seconds,
            ),
        ] {
            let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} histogram");
            // A destination's series appears with its first observation: a
            // file destination has no HTTP times, and ten thousand idle
            // customers' empty buckets would be most of the page.
            for (name, d) in destinations.iter().filter(|(_, d)| pick(d).count > 0) {
                pick(d).render(
                    &mut out,
                    metric,
                    &format!("destination=\"{}\"", escape(name)),
                );
            }
        }
        self.last_page.store(out.len(), Ordering::Relaxed);
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::Metrics;
    use crate::log::LogStats;

    /// A destination's histogram series appear with their first
    /// observation: ten thousand customers' file destinations have no HTTP
    /// times, and their empty buckets were most of the page.
    #[test]
    fn a_histogram_appears_once_it_has_observed_something() {
        let metrics = Metrics::default();
        metrics.destination("files", |d| d.latency.observe(0.2));
        metrics.destination("hooks", |d| d.http_seconds.observe(0.03));
        let lag = [("files".to_owned(), 0), ("hooks".to_owned(), 0)];
        let page = metrics.render(&lag, &LogStats::default());
        let series = |metric: &str, destination: &str| {
            page.lines()
                .filter(|l| {
                    l.starts_with(metric) && l.contains(&format!("destination=\"{destination}\""))
                })
                .count()
        };
        assert_eq!(series("pushrail_delivery_latency_seconds", "files"), 17);
        assert_eq!(
            series("pushrail_http_request_seconds", "files"),
            0,
            "{page}"
        );
        assert_eq!(series("pushrail_http_request_seconds", "hooks"), 17);
        assert_eq!(series("pushrail_delivery_latency_seconds", "hooks"), 0);
        assert!(page.contains("pushrail_http_request_seconds_count{destination=\"hooks\"} 1"));
        // Lag is a gauge of every destination, observed or not.
        assert_eq!(series("pushrail_destination_lag_events", "hooks"), 1);
        let again = metrics.render(&lag, &LogStats::default());
        assert_eq!(again, page, "rendering twice gives the same page");
    }
}
