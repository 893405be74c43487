//! The failure codes the host itself records on attempts and dead letters
//! (`errorCode`), as opposed to those a service names (Kinesis and Kafka
//! error names such as `ProvisionedThroughputExceededException`) or a plugin
//! chooses. Operators filter and redrive by them, so each is one constant
//! here, and the README's table of them is checked against this list.
//!
//! Runtime and plugin-boundary failures are snake_case; failures a sink
//! raises among a service's own error names follow that service's
//! PascalCase, so one destination's codes read alike.

macro_rules! failure_codes {
    ($($name:ident = $code:literal, $retry:literal, $when:literal;)+) => {
        $(#[doc = $when] pub const $name: &str = $code;)+

        /// Every code with whether the event is retried and when it is
        /// recorded, in the README's order.
        pub const ALL: &[(&str, &str, &str)] = &[$(($code, $retry, $when)),+];
    };
}

failure_codes! {
    PLUGIN_TRAP = "plugin_trap", "no (each event was tried twice alone first)",
        "a plugin trapped (a panic, an out-of-bounds access); after the batch is split to find the event, only that event fails";
    PLUGIN_TIMEOUT = "plugin_timeout", "no (each event was tried twice alone first)",
        "a plugin call passed `plugins.time_limit` (guest time) or `plugins.call_timeout` (wall time)";
    PLUGIN_MEMORY_LIMIT = "plugin_memory_limit", "no (each event was tried twice alone first)",
        "a plugin instance grew past `plugins.memory_limit`";
    PLUGIN_CONTRACT = "plugin_contract", "no",
        "a plugin broke the interface contract (e.g. returned a different number of outcomes than events, or a transform an event whose payload or metadata is not a JSON object)";
    PLUGIN_INIT = "plugin_init", "no",
        "a plugin's `init` refused its config";
    PLUGIN_UNAVAILABLE = "plugin_unavailable", "yes",
        "the host could not make a plugin instance (out of memory or address space)";
    NO_OUTCOME = "no_outcome", "yes",
        "the plugin returned no outcome for the event";
    IO_ERROR = "io_error", "as the plugin decides (a host-function error)",
        "the file sink could not write (the message says why, e.g. no space left)";
    NO_FILE_OUTPUT = "no_file_output", "as the plugin decides (a host-function error)",
        "a plugin called the file host function on a destination without `file = {...}`";
    NO_KINESIS_OUTPUT = "no_kinesis_output", "as the plugin decides (a host-function error)",
        "a plugin called the Kinesis host function on a destination without `kinesis = {...}`";
    NO_KAFKA_OUTPUT = "no_kafka_output", "as the plugin decides (a host-function error)",
        "a plugin called the Kafka host function on a destination without `kafka = {...}`";
    NO_SIGNING_SECRET = "no_signing_secret", "as the plugin decides (a host-function error)",
        "a plugin asked the host to sign a webhook on a destination without `secrets.signing_secret`";
    NETWORK_DENIED = "network_denied", "as the plugin decides (a host-function error)",
        "a plugin's HTTP request to an origin or address `network.allow` does not admit, or on a destination without `[destinations.network]`";
    HTTP_TIMEOUT = "timeout", "as the plugin decides (a host-function error)",
        "a plugin's HTTP request got no connection within `network.connect_timeout` or no whole response within `network.timeout`";
    RESPONSE_TOO_LARGE = "response_too_large", "as the plugin decides (a host-function error)",
        "a response to a plugin's HTTP request was larger than `network.max_response_bytes`";
    HTTP_CONNECTION_FAILED = "connection_failed", "as the plugin decides (a host-function error)",
        "a plugin's HTTP request failed on the way (connection refused or reset, DNS, TLS)";
    BAD_REQUEST = "bad_request", "as the plugin decides (a host-function error)",
        "a plugin's HTTP request was malformed (URL, method or header)";
    TOO_MANY_REQUESTS = "too_many_requests", "as the plugin decides (a host-function error)",
        "a plugin sent a request while 1,024 it sent in the same call were not collected (`http.send` without `http.wait`)";
    HELD_BACK = "HeldBack", "yes",
        "not sent because an earlier record of the same partition key in the same call failed (order is kept)";
    RECORD_TOO_LARGE = "RecordTooLarge", "no",
        "a Kinesis record over 1 MiB (data plus partition key); dead-lettered alone, its neighbours are sent";
    INVALID_PARTITION_KEY = "InvalidPartitionKey", "no",
        "a Kinesis partition key that is empty or over 256 characters";
    INTERNAL_FAILURE = "InternalFailure", "yes",
        "Kinesis answered PutRecords with fewer results than records";
    UNKNOWN_ERROR = "UnknownError", "no",
        "Kinesis failed a record without naming an error";
    CONNECTION_FAILED = "ConnectionFailed", "yes",
        "Kinesis, or an AWS API a plugin called (`aws.call`), did not answer (connection refused, DNS, TLS, timeout)";
    CREDENTIALS_UNAVAILABLE = "CredentialsUnavailable", "yes",
        "no AWS credentials for a plugin's `aws.call` (the default chain found none, or AssumeRole was refused: the message says)";
    AWS_DENIED = "aws_denied", "as the plugin decides (a host-function error)",
        "a plugin called an AWS operation not in its destination's `aws.targets`, a malformed one, or any without `[destinations.aws]`";
    PRODUCER_UNAVAILABLE = "ProducerUnavailable", "yes",
        "the Kafka producer shut down before the broker answered";
    PRODUCER_FATAL = "ProducerFatal", "yes",
        "the Kafka producer hit a fatal error; it was recreated and the record is retried";
}

#[cfg(test)]
mod tests {
    use super::ALL;

    #[test]
    fn the_readme_failure_code_table_is_this_list() {
        let rows = ALL.iter().map(|(code, retried, when)| {
            vec![format!("`{code}`"), retried.to_string(), when.to_string()]
        });
        crate::readme_tables::check(
            &crate::readme_tables::markdown("| code | retried | when |", rows),
            "failure_codes.rs",
        );
    }

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for (code, _, _) in ALL {
            assert!(seen.insert(code), "{code} twice");
        }
    }
}
