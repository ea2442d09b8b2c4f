//! The REST-JSON surface: request bodies, the StartSelector, and errors as the service sends
//! them.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

/// The errors Kinesis Video Streams answers with, as the AWS SDKs know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServiceErrorKind {
    /// 404 `ResourceNotFoundException`: no such stream.
    ResourceNotFound,
    /// 400 `InvalidArgumentException`: a parameter is missing or invalid.
    InvalidArgument,
    /// 400 `ClientLimitExceededException`: too many calls (API rate limit).
    ClientLimitExceeded,
    /// 400 `ConnectionLimitExceededException`: too many connections or calls per stream.
    ConnectionLimitExceeded,
    /// 401 `NotAuthorizedException`.
    NotAuthorized,
    /// 400 `InvalidEndpointException`: the call went to the wrong endpoint.
    InvalidEndpoint,
    /// 400 `SerializationException`: the body is not the JSON the operation expects.
    Serialization,
    /// 404 `UnknownOperationException`: no such operation.
    UnknownOperation,
}

impl ServiceErrorKind {
    /// Every kind.
    pub const ALL: [Self; 8] = [
        Self::ResourceNotFound,
        Self::InvalidArgument,
        Self::ClientLimitExceeded,
        Self::ConnectionLimitExceeded,
        Self::NotAuthorized,
        Self::InvalidEndpoint,
        Self::Serialization,
        Self::UnknownOperation,
    ];

    /// The error type, as in `x-amzn-ErrorType` (`ResourceNotFoundException`).
    #[must_use]
    pub const fn type_name(self) -> &'static str {
        match self {
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::InvalidArgument => "InvalidArgumentException",
            Self::ClientLimitExceeded => "ClientLimitExceededException",
            Self::ConnectionLimitExceeded => "ConnectionLimitExceededException",
            Self::NotAuthorized => "NotAuthorizedException",
            Self::InvalidEndpoint => "InvalidEndpointException",
            Self::Serialization => "SerializationException",
            Self::UnknownOperation => "UnknownOperationException",
        }
    }

    /// The HTTP status the service answers with.
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            Self::ResourceNotFound | Self::UnknownOperation => 404,
            Self::NotAuthorized => 401,
            Self::InvalidArgument
            | Self::ClientLimitExceeded
            | Self::ConnectionLimitExceeded
            | Self::InvalidEndpoint
            | Self::Serialization => 400,
        }
    }

    /// The kind for a type name, with or without the `Exception` suffix, any case
    /// (`ClientLimitExceeded`, `clientlimitexceededexception`).
    #[must_use]
    pub fn from_type_name(name: &str) -> Option<Self> {
        let lower = name.trim().to_ascii_lowercase();
        let bare = lower.strip_suffix("exception").unwrap_or(&lower);
        Self::ALL.into_iter().find(|k| {
            let t = k.type_name().to_ascii_lowercase();
            t.strip_suffix("exception").unwrap_or(&t) == bare
        })
    }
}

impl std::fmt::Display for ServiceErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.type_name())
    }
}

/// The namespace the service appends to `x-amzn-ErrorType`.
const ERROR_TYPE_NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazonaws.kinesis.video.v20170930/";

/// An error answer: a kind and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) kind: ServiceErrorKind,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(kind: ServiceErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ServiceErrorKind::InvalidArgument, message)
    }

    /// The response: status, `x-amzn-ErrorType` (type and namespace, as the service sends
    /// it; the SDKs keep what precedes the colon), `x-amz-ErrorType` (as the documentation
    /// spells it), the request id headers, and `{"message": ...}`.
    pub(crate) fn into_response(self, request_id: &str) -> Response {
        error_response(
            self.kind.type_name(),
            self.kind.status(),
            &self.message,
            request_id,
            ERROR_TYPE_NAMESPACE,
        )
    }
}

/// The namespace AWS appends to the `x-amzn-ErrorType` of the errors every service shares
/// (authentication: `MissingAuthenticationTokenException`, `InvalidSignatureException`, ...).
pub(crate) const COMMON_ERROR_NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazon.coral.service/";

/// An error answer: `status`, `x-amzn-ErrorType: TYPE:NAMESPACE`, `x-amz-ErrorType: TYPE`, the
/// request id headers, and `{"message": ...}`.
pub(crate) fn error_response(
    type_name: &str,
    status: u16,
    message: &str,
    request_id: &str,
    namespace: &str,
) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&format!("{type_name}:{namespace}")) {
        headers.insert("x-amzn-ErrorType", v);
    }
    if let Ok(v) = HeaderValue::from_str(type_name) {
        headers.insert("x-amz-ErrorType", v);
    }
    insert_request_id(headers, request_id);
    response
}

/// Adds `x-amzn-RequestId` (read by the AWS SDKs) and `x-amz-RequestId` (as documented).
pub(crate) fn insert_request_id(headers: &mut axum::http::HeaderMap, request_id: &str) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", v.clone());
        headers.insert("x-amz-RequestId", v);
    }
}

/// Names a stream by name or ARN.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StreamRef {
    #[serde(rename = "StreamName")]
    pub(crate) stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    pub(crate) stream_arn: Option<String>,
}

/// `POST /getDataEndpoint`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct GetDataEndpointRequest {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    #[serde(rename = "APIName")]
    pub(crate) api_name: Option<String>,
}

/// `POST /getMedia`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct GetMediaRequest {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    #[serde(rename = "StartSelector")]
    pub(crate) start_selector: Option<StartSelectorJson>,
}

/// The StartSelector as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StartSelectorJson {
    #[serde(rename = "StartSelectorType")]
    pub(crate) start_selector_type: Option<String>,
    #[serde(rename = "AfterFragmentNumber")]
    pub(crate) after_fragment_number: Option<String>,
    #[serde(rename = "StartTimestamp")]
    pub(crate) start_timestamp: Option<serde_json::Value>,
    #[serde(rename = "ContinuationToken")]
    pub(crate) continuation_token: Option<String>,
}

/// The APIName values GetDataEndpoint accepts.
pub(crate) const API_NAMES: [&str; 8] = [
    "PUT_MEDIA",
    "GET_MEDIA",
    "LIST_FRAGMENTS",
    "GET_MEDIA_FOR_FRAGMENT_LIST",
    "GET_HLS_STREAMING_SESSION_URL",
    "GET_DASH_STREAMING_SESSION_URL",
    "GET_CLIP",
    "GET_IMAGES",
];

/// Where a GetMedia call starts, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum RequestedStart {
    /// `NOW`: the latest chunk, then those that arrive later.
    Now,
    /// `EARLIEST`: the first chunk.
    Earliest,
    /// `FRAGMENT_NUMBER`: the chunk after this fragment.
    FragmentNumber(String),
    /// `SERVER_TIMESTAMP`: the chunk containing this server time (epoch ms).
    ServerTimestamp(i64),
    /// `PRODUCER_TIMESTAMP`: the chunk containing this producer time (epoch ms).
    ProducerTimestamp(i64),
    /// `CONTINUATION_TOKEN`: the chunk after the one the token names.
    ContinuationToken(String),
}

/// A JSON timestamp (epoch seconds, a number, possibly fractional; or the same as a
/// string) in milliseconds.
pub(crate) fn timestamp_ms(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return i.checked_mul(1000);
            }
            let f = n.as_f64()? * 1000.0;
            let r = f.round();
            // Within i64's exactly representable range of f64 milliseconds.
            if r.is_finite() && r.abs() < 9.0e15 {
                #[allow(clippy::cast_possible_truncation)] // bounded just above
                Some(r as i64)
            } else {
                None
            }
        }
        serde_json::Value::String(s) => kvs_chunk::aws::parse_timestamp_ms(s.as_bytes()),
        _ => None,
    }
}

impl RequestedStart {
    /// Validates the selector as sent.
    pub(crate) fn parse(sel: Option<&StartSelectorJson>) -> Result<Self, ApiError> {
        let sel = sel.ok_or_else(|| ApiError::invalid("StartSelector is required"))?;
        let kind = sel
            .start_selector_type
            .as_deref()
            .ok_or_else(|| ApiError::invalid("StartSelector.StartSelectorType is required"))?;
        let number = |field: &Option<String>, name: &str| -> Result<String, ApiError> {
            let n = field.as_deref().ok_or_else(|| {
                ApiError::invalid(format!("{name} is required when StartSelectorType is {kind}"))
            })?;
            if kvs_chunk::FragmentNumber::new(n).is_well_formed() {
                Ok(n.to_owned())
            } else {
                Err(ApiError::invalid(format!("{name} {n:?} is not a fragment number (1 to 128 digits)")))
            }
        };
        let timestamp = || -> Result<i64, ApiError> {
            let v = sel.start_timestamp.as_ref().ok_or_else(|| {
                ApiError::invalid(format!("StartTimestamp is required when StartSelectorType is {kind}"))
            })?;
            timestamp_ms(v).ok_or_else(|| ApiError::invalid(format!("StartTimestamp {v} is not a timestamp")))
        };
        match kind {
            "NOW" => Ok(Self::Now),
            "EARLIEST" => Ok(Self::Earliest),
            "FRAGMENT_NUMBER" => {
                number(&sel.after_fragment_number, "AfterFragmentNumber").map(Self::FragmentNumber)
            }
            "SERVER_TIMESTAMP" => timestamp().map(Self::ServerTimestamp),
            "PRODUCER_TIMESTAMP" => timestamp().map(Self::ProducerTimestamp),
            "CONTINUATION_TOKEN" => {
                number(&sel.continuation_token, "ContinuationToken").map(Self::ContinuationToken)
            }
            other => Err(ApiError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'startSelector.startSelectorType' failed to satisfy \
                 constraint: Member must satisfy enum value set: [FRAGMENT_NUMBER, SERVER_TIMESTAMP, \
                 PRODUCER_TIMESTAMP, NOW, EARLIEST, CONTINUATION_TOKEN]"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn timestamps_parse_exactly() {
        let v: serde_json::Value = serde_json::from_str("1511852109.126").unwrap();
        assert_eq!(timestamp_ms(&v), Some(1_511_852_109_126));
        let v: serde_json::Value = serde_json::from_str("1511852109").unwrap();
        assert_eq!(timestamp_ms(&v), Some(1_511_852_109_000));
        let v = serde_json::Value::String("1511852109.5".into());
        assert_eq!(timestamp_ms(&v), Some(1_511_852_109_500));
        assert_eq!(timestamp_ms(&serde_json::Value::Bool(true)), None);
    }

    #[test]
    fn kinds_round_trip() {
        for k in ServiceErrorKind::ALL {
            assert_eq!(ServiceErrorKind::from_type_name(k.type_name()), Some(k));
        }
        assert_eq!(
            ServiceErrorKind::from_type_name("clientlimitexceeded"),
            Some(ServiceErrorKind::ClientLimitExceeded)
        );
        assert_eq!(ServiceErrorKind::from_type_name("nope"), None);
    }

    #[test]
    fn selectors_validate() {
        let sel = |json: &str| RequestedStart::parse(Some(&serde_json::from_str(json).unwrap()));
        assert_eq!(sel(r#"{"StartSelectorType":"NOW"}"#), Ok(RequestedStart::Now));
        assert_eq!(
            sel(r#"{"StartSelectorType":"FRAGMENT_NUMBER","AfterFragmentNumber":"123"}"#),
            Ok(RequestedStart::FragmentNumber("123".into()))
        );
        assert!(sel(r#"{"StartSelectorType":"FRAGMENT_NUMBER"}"#).is_err());
        assert!(sel(r#"{"StartSelectorType":"SERVER_TIMESTAMP"}"#).is_err());
        assert!(sel(r#"{"StartSelectorType":"CONTINUATION_TOKEN","ContinuationToken":"x1"}"#).is_err());
        assert!(sel(r#"{"StartSelectorType":"LATEST"}"#).is_err());
        assert!(RequestedStart::parse(None).is_err());
    }
}
