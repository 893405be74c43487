//! Counters and histograms for `GET /metrics`, in Prometheus text format.
//! Each stage records into one shared [`Metrics`]; values that live in the
//! log (lag) are read at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::log::LogStats;

mod page;
pub use page::Page;

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

    /// The Prometheus text exposition, rendered a chunk at a time as it
    /// is sent (see [`Page`]). `lag` gives (destination, events behind);
    /// `log` the writer's counters.
    pub fn page(&self, lag: Vec<(String, u64)>, log: &LogStats) -> Page {
        let mut head = String::new();
        self.render_process(&mut head, log);
        let destinations = self
            .destinations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(name, d)| (escape(name), d.clone()))
            .collect();
        Page::new(head, lag, destinations)
    }

    /// The whole page as one string (tests, small deployments).
    pub fn render(&self, lag: &[(String, u64)], log: &LogStats) -> String {
        self.page(lag.to_vec(), log).collect()
    }

    /// The series that are not per destination.
    fn render_process(&self, out: &mut String, log: &LogStats) {
        let counter = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        let total = |out: &mut String, name: &str, help: &str, value: String| {
            counter(out, name, help);
            let _ = writeln!(out, "{name} {value}");
        };
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed).to_string();
        total(
            out,
            "pushrail_events_ingested_total",
            "Events stored in the log.",
            load(&self.ingested),
        );
        total(
            out,
            "pushrail_events_duplicate_total",
            "Posted events answered as duplicates of a stored one.",
            load(&self.duplicates),
        );
        counter(
            out,
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
            out,
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
