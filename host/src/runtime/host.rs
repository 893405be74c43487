//! What a plugin instance's store holds, and the host functions it may call.
//! Every host function acts only on the sinks bound to this instance.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use pushrail_event::ParsedEvent;

use super::bindings::destination::pushrail::plugin::{
    aws, delivery, file, kafka, kinesis, logging, signing, types,
};
use super::bindings::{Event, PluginErrorRecord};
use super::network::NetworkHooks;
use super::outbound::Outbound;
use super::plugin_log::{self, LogBudget};
use super::requests::Requests;
use super::sandbox::{CallClock, MemoryLimiter};
use crate::failure_codes;
use crate::sinks::Failure;
use crate::sinks::aws::{AwsRequest, AwsSink};
use crate::sinks::file::FileSink;
use crate::sinks::kafka::{self as kafka_sink, KafkaSink};
use crate::sinks::kinesis::{self as kinesis_sink, KinesisSink, Record};
use crate::sinks::network::NetworkSink;
use crate::sinks::signing::Signer;

/// The sinks one destination may use.
#[derive(Clone, Default)]
pub struct SinkBindings {
    pub file: Option<Arc<FileSink>>,
    pub kinesis: Option<Arc<KinesisSink>>,
    pub kafka: Option<Arc<KafkaSink>>,
    /// Outbound HTTP (`[destinations.network]`).
    pub network: Option<Arc<NetworkSink>>,
    /// Signed AWS API calls (`[destinations.aws]`).
    pub aws: Option<Arc<AwsSink>>,
    /// Webhook signatures (`secrets.signing_secret`).
    pub signer: Option<Arc<Signer>>,
    /// What the plugin asks of the destination's delivery; read by its worker.
    pub requests: Arc<Requests>,
}

/// Per-instance state inside the wasmtime store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limiter: MemoryLimiter,
    pub(super) clock: CallClock,
    /// When the call in progress began (`delivery.elapsed-ms`).
    pub(super) call_started: Instant,
    /// Wall-clock bound of one call (`plugins.call_timeout`).
    pub(super) call_timeout: Duration,
    /// `plugin` and `destination` tag the plugin's log lines.
    plugin: Arc<str>,
    pub(super) destination: Arc<str>,
    pub(super) sinks: SinkBindings,
    log_budget: LogBudget,
    http: WasiHttpCtx,
    network: NetworkHooks,
    /// `pushrail:plugin/http`'s requests out.
    pub(super) outbound: Outbound,
    /// The events of the `transform-views` call in progress, in the order
    /// the guest numbers them (see views.rs).
    pub(super) views: Vec<ParsedEvent<Event>>,
}

impl HostState {
    pub fn new(
        plugin: &str,
        destination: &str,
        sinks: SinkBindings,
        memory_limit: usize,
        time_budget: Duration,
        call_timeout: Duration,
    ) -> Self {
        Self {
            // No preopens, no environment, no network, no args: nothing ambient.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_limit),
            clock: CallClock::new(time_budget),
            call_started: Instant::now(),
            call_timeout,
            plugin: plugin.into(),
            destination: destination.into(),
            network: NetworkHooks {
                sink: sinks.network.clone(),
                destination: destination.into(),
            },
            outbound: Outbound::default(),
            sinks,
            log_budget: LogBudget::default(),
            http: WasiHttpCtx::new(),
            views: Vec::new(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.network,
        }
    }
}

impl types::Host for HostState {}

impl logging::Host for HostState {
    async fn write(&mut self, level: logging::Level, message: String) {
        let (plugin, destination) = (&*self.plugin, &*self.destination);
        let Some(dropped) = self.log_budget.admit(Instant::now()) else {
            return;
        };
        if dropped > 0 {
            tracing::warn!(
                plugin,
                destination,
                dropped,
                "plugin log lines dropped: over the rate limit"
            );
        }
        let message = plugin_log::sanitize(&message);
        match level {
            logging::Level::Trace => tracing::trace!(plugin, destination, "plugin says: {message}"),
            logging::Level::Debug => tracing::debug!(plugin, destination, "plugin says: {message}"),
            logging::Level::Info => tracing::info!(plugin, destination, "plugin says: {message}"),
            logging::Level::Warn => tracing::warn!(plugin, destination, "plugin says: {message}"),
            logging::Level::Error => tracing::error!(plugin, destination, "plugin says: {message}"),
        }
    }
}

impl file::Host for HostState {
    async fn append_lines(&mut self, lines: Vec<String>) -> Result<u64, PluginErrorRecord> {
        let Some(sink) = self.sinks.file.clone() else {
            return Err(PluginErrorRecord {
                code: failure_codes::NO_FILE_OUTPUT.into(),
                message: format!(
                    "destination {} has no [destinations.file] output configured",
                    self.destination
                ),
            });
        };
        sink.append(lines).await.map_err(|e| PluginErrorRecord {
            code: failure_codes::IO_ERROR.into(),
            message: e.to_string(),
        })
    }
}

impl kinesis::Host for HostState {
    async fn put_records(
        &mut self,
        records: Vec<kinesis::KinesisRecord>,
    ) -> Vec<Result<kinesis::KinesisLocation, kinesis::KinesisFailure>> {
        let Some(sink) = self.sinks.kinesis.clone() else {
            return self.unconfigured(records.len(), failure_codes::NO_KINESIS_OUTPUT, "kinesis");
        };
        let records: Vec<Record> = records
            .into_iter()
            .map(|r| Record {
                partition_key: r.partition_key,
                explicit_hash_key: r.explicit_hash_key,
                data: r.data,
            })
            .collect();
        let located = |l: kinesis_sink::Location| kinesis::KinesisLocation {
            shard_id: l.shard_id,
            sequence_number: l.sequence_number,
            sub_sequence_number: l.sub_sequence_number,
        };
        to_wit(sink.put_records(records).await, located)
    }
}

impl kafka::Host for HostState {
    async fn produce(
        &mut self,
        records: Vec<kafka::KafkaRecord>,
    ) -> Vec<Result<kafka::KafkaLocation, kafka::KafkaFailure>> {
        let Some(sink) = self.sinks.kafka.clone() else {
            return self.unconfigured(records.len(), failure_codes::NO_KAFKA_OUTPUT, "kafka");
        };
        let records = records
            .into_iter()
            .map(|r| kafka_sink::Record {
                key: r.key,
                value: r.value,
                headers: r.headers,
            })
            .collect();
        let located = |l: kafka_sink::Location| kafka::KafkaLocation {
            partition: l.partition,
            offset: l.offset,
        };
        to_wit(sink.produce(records).await, located)
    }
}

impl aws::Host for HostState {
    async fn call(
        &mut self,
        request: aws::AwsRequest,
    ) -> Result<aws::AwsResponse, aws::AwsFailure> {
        let Some(sink) = self.sinks.aws.clone() else {
            return Err(self.not_configured(failure_codes::AWS_DENIED, "aws").into());
        };
        let request = AwsRequest {
            service: request.service,
            target: request.target,
            json_version: request.json_version,
            body: request.body,
        };
        sink.call(request)
            .await
            .map(|r| aws::AwsResponse {
                status: r.status,
                body: r.body,
            })
            .map_err(aws::AwsFailure::from)
    }
}

impl signing::Host for HostState {
    async fn sign(
        &mut self,
        id: String,
        body: Vec<u8>,
    ) -> Result<Vec<(String, String)>, PluginErrorRecord> {
        let Some(signer) = &self.sinks.signer else {
            return Err(PluginErrorRecord {
                code: failure_codes::NO_SIGNING_SECRET.into(),
                message: format!(
                    "destination {} has no secrets.signing_secret to sign with",
                    self.destination
                ),
            });
        };
        Ok(signer.headers(&id, &body, SystemTime::now()))
    }
}

impl delivery::Host for HostState {
    async fn elapsed_ms(&mut self) -> u64 {
        self.call_started.elapsed().as_millis() as u64
    }

    async fn retry_after(&mut self, seconds: u32) {
        self.sinks
            .requests
            .retry_after(Duration::from_secs(seconds.into()));
    }

    async fn pause(&mut self, reason: String) {
        let reason = plugin_log::sanitize(&reason);
        tracing::warn!(plugin = %self.plugin, destination = %self.destination, %reason, "the plugin asked to pause its destination");
        self.sinks.requests.pause(reason);
    }
}

impl HostState {
    /// One permanent failure per record: the destination has no `[output]`
    /// of this kind configured, so the plugin may not reach one.
    fn unconfigured<L, F: From<Failure>>(
        &self,
        records: usize,
        code: &str,
        output: &str,
    ) -> Vec<Result<L, F>> {
        (0..records)
            .map(|_| Err(self.not_configured(code, output).into()))
            .collect()
    }

    /// The failure of a host function whose `[destinations.<output>]` is
    /// not configured for this destination.
    fn not_configured(&self, code: &str, output: &str) -> Failure {
        Failure {
            code: code.to_owned(),
            message: format!(
                "destination {} has no [destinations.{output}] output configured",
                self.destination
            ),
            retryable: false,
        }
    }
}

/// A sink's per-record results in a world's types.
fn to_wit<L, W, F: From<Failure>>(
    results: Vec<Result<L, Failure>>,
    located: impl Fn(L) -> W,
) -> Vec<Result<W, F>> {
    results
        .into_iter()
        .map(|r| r.map(&located).map_err(F::from))
        .collect()
}

/// The WIT failure records are the sinks' [`Failure`], field for field.
macro_rules! failure_from_sink {
    ($($wit:ty),+) => {$(
        impl From<Failure> for $wit {
            fn from(f: Failure) -> Self {
                Self {
                    code: f.code,
                    message: f.message,
                    retryable: f.retryable,
                }
            }
        }
    )+};
}

failure_from_sink!(
    kinesis::KinesisFailure,
    kafka::KafkaFailure,
    aws::AwsFailure
);
