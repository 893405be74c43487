//! Which Kinesis errors are worth retrying.

/// Per-record and whole-call error codes that pass with time.
const TRANSIENT: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "KMSThrottlingException",
    "InternalFailure",
    "InternalFailureException",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ThrottlingException",
    "Throttling",
    "LimitExceededException",
    "RequestExpired",
    // The stream is being created or updated.
    "ResourceInUseException",
];

/// True when a failure with this AWS error code may succeed if retried;
/// everything else (AccessDenied, ResourceNotFound, InvalidArgument, KMS
/// disabled/not found/access denied, oversize records) is permanent.
pub fn is_transient(code: &str) -> bool {
    TRANSIENT.contains(&code)
}

/// Codes with which Kinesis rejects a whole request as malformed (one
/// bad record makes the whole PutRecords call fail this way).
const INVALID_REQUEST: &[&str] = &[
    "ValidationException",
    "InvalidArgumentException",
    "SerializationException",
];

/// True when a whole call was refused as invalid: splitting it may let the
/// good records through.
pub fn is_invalid_request(code: &str) -> bool {
    INVALID_REQUEST.contains(&code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn classes() {
        assert!(super::is_transient(
            "ProvisionedThroughputExceededException"
        ));
        assert!(super::is_transient("KMSThrottlingException"));
        assert!(super::is_transient("InternalFailure"));
        assert!(!super::is_transient("AccessDeniedException"));
        assert!(!super::is_transient("ResourceNotFoundException"));
        assert!(!super::is_transient("InvalidArgumentException"));
        assert!(!super::is_transient("KMSDisabledException"));
    }
}
