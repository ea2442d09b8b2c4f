//! The errors of this crate, and how the SDK's errors map onto them.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use kvs_chunk::ErrorChunk;

/// Which throttling answer the service gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ThrottleKind {
    /// `ClientLimitExceededException`: too many calls (GetMedia: 5 per second per stream).
    ClientLimitExceeded,
    /// `ConnectionLimitExceededException`: too many concurrent connections.
    ConnectionLimitExceeded,
    /// HTTP 429 or another throttling code.
    Other,
}

impl fmt::Display for ThrottleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClientLimitExceeded => "ClientLimitExceededException",
            Self::ConnectionLimitExceeded => "ConnectionLimitExceededException",
            Self::Other => "throttled",
        })
    }
}

/// The error of every call of this crate, and the error a consumer's stream ends with.
///
/// [`ConsumerError::is_retryable`] says which ones a consumer retries (with back-off); the
/// others (`ResourceNotFound`, `NotAuthorized`, `InvalidArgument`, ...) end its stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// `ResourceNotFoundException` (404): no such stream. Terminal.
    #[error("ResourceNotFoundException: {message}")]
    ResourceNotFound {
        /// The service's message.
        message: String,
    },
    /// `NotAuthorizedException` (401/403): the credentials may not read the stream. Terminal.
    #[error("NotAuthorizedException: {message}")]
    NotAuthorized {
        /// The service's message.
        message: String,
    },
    /// `InvalidArgumentException`: a request field is invalid (or a selector could not be
    /// built). Terminal.
    #[error("InvalidArgumentException: {message}")]
    InvalidArgument {
        /// The service's message.
        message: String,
    },
    /// `InvalidEndpointException`: the cached data endpoint is stale; it is refreshed and
    /// the call retried.
    #[error("InvalidEndpointException: {message}")]
    InvalidEndpoint {
        /// The service's message.
        message: String,
    },
    /// The service throttled the call. Retried with back-off.
    #[error("{kind}: {message}")]
    Throttled {
        /// Which limit.
        kind: ThrottleKind,
        /// The service's message.
        message: String,
    },
    /// Any other error answer; 5xx ones are retried, others are terminal.
    #[error("service error (HTTP {status}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Service {
        /// The HTTP status.
        status: u16,
        /// The error code (`x-amzn-ErrorType` or the body's `__type`), if any.
        code: Option<String>,
        /// The service's message.
        message: String,
    },
    /// The connection failed or broke (connect, TLS, reset, a body cut mid-way). Retried.
    #[error("transport error: {0}")]
    Transport(#[source] Box<dyn StdError + Send + Sync>),
    /// The server's TLS certificate was refused (not signed by a trusted CA, not valid for the
    /// host name, expired). Not retried: trust its CA (a CA bundle) or fix the endpoint.
    #[error("TLS: the server's certificate is not trusted: {0}")]
    Tls(String),
    /// The credentials provider gave no credentials (none configured, an unknown or empty
    /// profile, an expired SSO session, a failing `credential_process`). Not retried: the
    /// next attempt would ask the same provider.
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    /// The SDK timed out (connect or operation timeout). Retried.
    #[error("timeout: {0}")]
    Timeout(String),
    /// No byte arrived within the consumer's idle timeout. Retried.
    #[error("no data for {0:?}")]
    IdleTimeout(Duration),
    /// The service reported an error inside the stream (`AWS_KINESISVIDEO_ERROR_ID`) and the
    /// consumer's policy is [`ErrorPolicy::Fail`](crate::ErrorPolicy::Fail).
    #[error("in-stream error {}: {}",
        .0.id.map(|i| i.to_string()).or_else(|| .0.raw_id.clone()).unwrap_or_else(|| "?".into()),
        .0.code.as_deref().unwrap_or(""))]
    InStream(ErrorChunk),
    /// The payload is malformed beyond what the decoder recovers from. Retried.
    #[error("malformed payload: {0}")]
    Decode(#[from] kvs_chunk::Error),
    /// The consumer gave up after too many consecutive failed attempts.
    #[error("gave up after {attempts} attempts; last error: {last}")]
    RetriesExhausted {
        /// How many attempts failed in a row.
        attempts: u32,
        /// The last error.
        last: Box<ConsumerError>,
    },
    /// The consumer gave up: this many GetMedia calls in a row completed no new fragment
    /// (see `MediaConsumerBuilder::max_attempts_without_progress`); e.g. a stream whose
    /// next fragment is cut in every response.
    #[error(
        "gave up after {attempts} GetMedia calls in a row completed no new fragment ({}); last: {last}",
        .after.as_deref().map_or_else(|| "none completed yet".to_owned(), |n| format!("the last complete one is {n}"))
    )]
    NoProgress {
        /// How many calls in a row completed no new fragment.
        attempts: u32,
        /// The fragment number of the last fragment delivered, if any.
        after: Option<String>,
        /// How the last call ended (`the response ended inside a fragment`, an error, ...).
        last: String,
    },
    /// A document (fragment) kept for `MediaConsumerBuilder::raw_documents` grew past the
    /// limit. Terminal.
    #[error("a document exceeds {limit} bytes (the raw-document limit)")]
    DocumentTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The client could not be built or the request could not be constructed.
    #[error("configuration: {0}")]
    Config(String),
}

impl ConsumerError {
    /// Whether a consumer retries after this error.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::InvalidEndpoint { .. }
            | Self::Throttled { .. }
            | Self::Transport(_)
            | Self::Timeout(_)
            | Self::IdleTimeout(_)
            | Self::Decode(_) => true,
            Self::Service { status, .. } => *status >= 500,
            Self::ResourceNotFound { .. }
            | Self::NotAuthorized { .. }
            | Self::InvalidArgument { .. }
            | Self::InStream(_)
            | Self::RetriesExhausted { .. }
            | Self::NoProgress { .. }
            | Self::DocumentTooLarge { .. }
            | Self::Tls(_)
            | Self::Credentials(_)
            | Self::Config(_) => false,
        }
    }

    /// Whether this is a throttling answer.
    #[must_use]
    pub fn is_throttle(&self) -> bool {
        matches!(self, Self::Throttled { .. })
    }

    /// Maps an SDK error (of GetMedia, GetDataEndpoint or any other operation).
    pub fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        match err {
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status().as_u16();
                let code = ctx.err().code().map(normalise_code);
                let message = ctx
                    .err()
                    .message()
                    .map_or_else(|| DisplayErrorContext(ctx.err()).to_string(), str::to_owned);
                from_parts(status, code, message)
            }
            SdkError::ResponseError(ref e) if e.raw().status().as_u16() >= 400 => {
                let status = e.raw().status().as_u16();
                from_parts(status, None, DisplayErrorContext(&err).to_string())
            }
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
                if credentials_error(&err).is_some() =>
            {
                let text = credentials_error(&err).map(|e| DisplayErrorContext(e).to_string());
                Self::Credentials(text.unwrap_or_default())
            }
            SdkError::TimeoutError(_) => Self::Timeout(DisplayErrorContext(&err).to_string()),
            SdkError::DispatchFailure(ref e) if e.is_timeout() => {
                Self::Timeout(DisplayErrorContext(&err).to_string())
            }
            SdkError::ConstructionFailure(_) => Self::Config(DisplayErrorContext(&err).to_string()),
            SdkError::DispatchFailure(_) => {
                let text = DisplayErrorContext(&err).to_string();
                match certificate_error(&text) {
                    Some(detail) => Self::Tls(detail.to_owned()),
                    None => Self::Transport(Box::new(err)),
                }
            }
            other => Self::Transport(Box::new(other)),
        }
    }
}

/// The credentials provider's error among the sources of `err` (the SDK reports a failed
/// identity resolution as a dispatch failure).
fn credentials_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut source = err.source();
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        source = e.source();
    }
    None
}

/// The certificate part of a dispatch failure's text, as rustls words it ("invalid peer
/// certificate: UnknownIssuer"), up to the end of that error's sentence.
fn certificate_error(text: &str) -> Option<&str> {
    let start = text.find("invalid peer certificate")?;
    let rest = text.get(start..)?;
    let end = rest.find(['(', ')', '\n']).unwrap_or(rest.len());
    rest.get(..end).map(str::trim_end)
}

/// `aws.protocol#InvalidArgumentException:http://...` -> `InvalidArgumentException`.
fn normalise_code(code: &str) -> String {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit('#').next().unwrap_or(code).trim().to_owned()
}

fn from_parts(status: u16, code: Option<String>, message: String) -> ConsumerError {
    match code.as_deref() {
        Some("ResourceNotFoundException") => ConsumerError::ResourceNotFound { message },
        Some("NotAuthorizedException" | "AccessDeniedException" | "UnrecognizedClientException") => {
            ConsumerError::NotAuthorized { message }
        }
        Some("InvalidArgumentException" | "ValidationException") => {
            ConsumerError::InvalidArgument { message }
        }
        Some("InvalidEndpointException") => ConsumerError::InvalidEndpoint { message },
        Some("ClientLimitExceededException") => {
            ConsumerError::Throttled { kind: ThrottleKind::ClientLimitExceeded, message }
        }
        Some("ConnectionLimitExceededException") => {
            ConsumerError::Throttled { kind: ThrottleKind::ConnectionLimitExceeded, message }
        }
        Some("ThrottlingException" | "TooManyRequestsException") => {
            ConsumerError::Throttled { kind: ThrottleKind::Other, message }
        }
        _ => match status {
            429 => ConsumerError::Throttled { kind: ThrottleKind::Other, message },
            401 | 403 => ConsumerError::NotAuthorized { message },
            404 => ConsumerError::ResourceNotFound { message },
            _ => ConsumerError::Service { status, code, message },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(
            normalise_code("aws.protocol#InvalidArgumentException:http://x/"),
            "InvalidArgumentException"
        );
        assert!(matches!(
            from_parts(400, Some("ClientLimitExceededException".into()), String::new()),
            ConsumerError::Throttled { kind: ThrottleKind::ClientLimitExceeded, .. }
        ));
        assert!(from_parts(503, None, String::new()).is_retryable());
        assert!(!from_parts(400, Some("Weird".into()), String::new()).is_retryable());
        assert!(matches!(from_parts(404, None, String::new()), ConsumerError::ResourceNotFound { .. }));
    }
}
