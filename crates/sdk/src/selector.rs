//! Which stream, where to start, and where a consumer has got to.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_kinesisvideomedia::types::{StartSelector as SdkStartSelector, StartSelectorType};
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use crate::error::ConsumerError;

/// A stream, by name or by ARN (GetMedia and GetDataEndpoint accept either).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamId {
    /// `StreamName`.
    Name(String),
    /// `StreamARN`.
    Arn(String),
}

impl StreamId {
    /// A stream by name.
    pub fn name(name: impl Into<String>) -> Self {
        Self::Name(name.into())
    }

    /// A stream by ARN.
    pub fn arn(arn: impl Into<String>) -> Self {
        Self::Arn(arn.into())
    }

    /// The name or ARN.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Name(s) | Self::Arn(s) => s,
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(s) => write!(f, "stream {s}"),
            Self::Arn(s) => write!(f, "stream {s}"),
        }
    }
}

/// Where GetMedia starts: every `StartSelectorType` of the API.
///
/// Timestamps are epoch milliseconds, exactly as kvs-chunk reports fragment timestamps.
/// It serialises as the API's names (`{"type":"CONTINUATION_TOKEN","continuation_token":"..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum StartSelector {
    /// `NOW`: the latest chunk on the stream (live).
    Now,
    /// `EARLIEST`: the earliest chunk still stored.
    Earliest,
    /// `FRAGMENT_NUMBER` with `AfterFragmentNumber`.
    FragmentNumber {
        /// The fragment number.
        #[serde(rename = "after_fragment_number")]
        after: String,
    },
    /// `SERVER_TIMESTAMP` with `StartTimestamp`.
    ServerTimestamp {
        /// `StartTimestamp`, epoch milliseconds.
        #[serde(rename = "start_timestamp_ms")]
        millis: i64,
    },
    /// `PRODUCER_TIMESTAMP` with `StartTimestamp`.
    ProducerTimestamp {
        /// `StartTimestamp`, epoch milliseconds.
        #[serde(rename = "start_timestamp_ms")]
        millis: i64,
    },
    /// `CONTINUATION_TOKEN` with `ContinuationToken`: the chunk after the one that carried it.
    ContinuationToken {
        /// The token (`AWS_KINESISVIDEO_CONTINUATION_TOKEN` of the last fragment read).
        #[serde(rename = "continuation_token")]
        token: String,
    },
}

impl StartSelector {
    /// `FRAGMENT_NUMBER` after `fragment_number`.
    pub fn after_fragment(fragment_number: impl Into<String>) -> Self {
        Self::FragmentNumber { after: fragment_number.into() }
    }

    /// `CONTINUATION_TOKEN`.
    pub fn continuation_token(token: impl Into<String>) -> Self {
        Self::ContinuationToken { token: token.into() }
    }

    /// `SERVER_TIMESTAMP` at `millis` since the epoch.
    #[must_use]
    pub const fn server_timestamp_ms(millis: i64) -> Self {
        Self::ServerTimestamp { millis }
    }

    /// `PRODUCER_TIMESTAMP` at `millis` since the epoch.
    #[must_use]
    pub const fn producer_timestamp_ms(millis: i64) -> Self {
        Self::ProducerTimestamp { millis }
    }

    /// `SERVER_TIMESTAMP` at a wall-clock time (before the epoch counts as the epoch).
    #[must_use]
    pub fn server_timestamp(at: SystemTime) -> Self {
        Self::ServerTimestamp { millis: epoch_millis(at) }
    }

    /// `PRODUCER_TIMESTAMP` at a wall-clock time (before the epoch counts as the epoch).
    #[must_use]
    pub fn producer_timestamp(at: SystemTime) -> Self {
        Self::ProducerTimestamp { millis: epoch_millis(at) }
    }

    /// The API's name of the selector type (`NOW`, `CONTINUATION_TOKEN`, ...).
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::Now => "NOW",
            Self::Earliest => "EARLIEST",
            Self::FragmentNumber { .. } => "FRAGMENT_NUMBER",
            Self::ServerTimestamp { .. } => "SERVER_TIMESTAMP",
            Self::ProducerTimestamp { .. } => "PRODUCER_TIMESTAMP",
            Self::ContinuationToken { .. } => "CONTINUATION_TOKEN",
        }
    }

    /// Builds a selector from the API's (or the AWS CLI's) separate fields: the type name and
    /// whichever of `AfterFragmentNumber`, `StartTimestamp` and `ContinuationToken` it needs.
    ///
    /// A timestamp is decimal epoch seconds (`1511852109.126`, as the AWS CLI takes it) or
    /// RFC 3339 (`2017-11-28T06:55:09.126Z`).
    ///
    /// ```
    /// use kvs_sdk::StartSelector;
    ///
    /// let s = StartSelector::from_parts("SERVER_TIMESTAMP", None, Some("1511852109.126"), None)?;
    /// assert_eq!(s, StartSelector::server_timestamp_ms(1_511_852_109_126));
    /// assert!(StartSelector::from_parts("FRAGMENT_NUMBER", None, None, None).is_err());
    /// # Ok::<(), kvs_sdk::ConsumerError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConsumerError::InvalidArgument`] for an unknown type, a missing field or a timestamp
    /// that does not parse.
    pub fn from_parts(
        type_name: &str,
        after_fragment_number: Option<&str>,
        start_timestamp: Option<&str>,
        continuation_token: Option<&str>,
    ) -> Result<Self, ConsumerError> {
        let missing = |field: &str| ConsumerError::InvalidArgument {
            message: format!("StartSelectorType {type_name} needs {field}"),
        };
        let timestamp = || -> Result<i64, ConsumerError> {
            let text = start_timestamp.ok_or_else(|| missing("StartTimestamp"))?;
            parse_timestamp(text).ok_or_else(|| ConsumerError::InvalidArgument {
                message: format!("StartTimestamp {text:?} is neither epoch seconds nor RFC 3339"),
            })
        };
        Ok(match type_name.to_ascii_uppercase().replace('-', "_").as_str() {
            "NOW" => Self::Now,
            "EARLIEST" => Self::Earliest,
            "FRAGMENT_NUMBER" => {
                Self::after_fragment(after_fragment_number.ok_or_else(|| missing("AfterFragmentNumber"))?)
            }
            "SERVER_TIMESTAMP" => Self::ServerTimestamp { millis: timestamp()? },
            "PRODUCER_TIMESTAMP" => Self::ProducerTimestamp { millis: timestamp()? },
            "CONTINUATION_TOKEN" => {
                Self::continuation_token(continuation_token.ok_or_else(|| missing("ContinuationToken"))?)
            }
            _ => {
                return Err(ConsumerError::InvalidArgument {
                    message: format!(
                        "unknown StartSelectorType {type_name:?} (NOW, EARLIEST, FRAGMENT_NUMBER, \
                         SERVER_TIMESTAMP, PRODUCER_TIMESTAMP or CONTINUATION_TOKEN)"
                    ),
                });
            }
        })
    }

    /// The SDK's `StartSelector`.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::InvalidArgument`] if the SDK's builder refuses it (it does not for
    /// any value this type can hold).
    pub fn to_sdk(&self) -> Result<SdkStartSelector, ConsumerError> {
        let b = SdkStartSelector::builder();
        let b = match self {
            Self::Now => b.start_selector_type(StartSelectorType::Now),
            Self::Earliest => b.start_selector_type(StartSelectorType::Earliest),
            Self::FragmentNumber { after } => {
                b.start_selector_type(StartSelectorType::FragmentNumber).after_fragment_number(after)
            }
            Self::ServerTimestamp { millis } => b
                .start_selector_type(StartSelectorType::ServerTimestamp)
                .start_timestamp(DateTime::from_millis(*millis)),
            Self::ProducerTimestamp { millis } => b
                .start_selector_type(StartSelectorType::ProducerTimestamp)
                .start_timestamp(DateTime::from_millis(*millis)),
            Self::ContinuationToken { token } => {
                b.start_selector_type(StartSelectorType::ContinuationToken).continuation_token(token)
            }
        };
        b.build().map_err(|e| ConsumerError::InvalidArgument { message: e.to_string() })
    }
}

impl fmt::Display for StartSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Now | Self::Earliest => f.write_str(self.type_name()),
            Self::FragmentNumber { after } => write!(f, "FRAGMENT_NUMBER after {after}"),
            Self::ServerTimestamp { millis } | Self::ProducerTimestamp { millis } => {
                write!(f, "{} {millis} ms", self.type_name())
            }
            Self::ContinuationToken { token } => write!(f, "CONTINUATION_TOKEN {token}"),
        }
    }
}

fn epoch_millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Decimal epoch seconds (exact, via kvs-chunk's parser) or RFC 3339.
fn parse_timestamp(text: &str) -> Option<i64> {
    kvs_chunk::aws::parse_timestamp_ms(text.as_bytes()).or_else(|| {
        DateTime::from_str(text.trim(), aws_smithy_types::date_time::Format::DateTimeWithOffset)
            .ok()
            .and_then(|d| d.to_millis().ok())
    })
}

/// The last fragment a consumer delivered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checkpoint {
    /// `AWS_KINESISVIDEO_FRAGMENT_NUMBER`, if the fragment had one.
    pub fragment_number: Option<String>,
    /// `AWS_KINESISVIDEO_CONTINUATION_TOKEN`, if the fragment had one.
    pub continuation_token: Option<String>,
    /// `AWS_KINESISVIDEO_SERVER_TIMESTAMP`, epoch milliseconds.
    pub server_timestamp_ms: Option<i64>,
    /// `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP`, milliseconds.
    pub producer_timestamp_ms: Option<i64>,
}

/// Where a consumer has got to: persist it (it is serde-serialisable) and start again from
/// it later with [`StartSelector::from`] or `MediaConsumer::resume`.
///
/// ```
/// use kvs_sdk::{Checkpoint, Position, StartSelector, StreamId};
///
/// let mut position = Position::new(StreamId::name("cam-1"), StartSelector::Earliest);
/// // Nothing delivered yet: start where the consumer started.
/// assert_eq!(StartSelector::from(&position), StartSelector::Earliest);
/// position.last = Some(Checkpoint {
///     fragment_number: Some("91343852333181432392682062607743920146159169392".into()),
///     continuation_token: Some("91343852333181432392682062607743920146159169392".into()),
///     server_timestamp_ms: Some(1_511_852_109_126),
///     producer_timestamp_ms: None,
/// });
/// let text = serde_json::to_string(&position)?;
/// let back: Position = serde_json::from_str(&text)?;
/// assert_eq!(
///     StartSelector::from(back),
///     StartSelector::continuation_token("91343852333181432392682062607743920146159169392")
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// The stream.
    pub stream: StreamId,
    /// The selector the consumer started with (used again while nothing was delivered).
    pub start: StartSelector,
    /// The last fragment delivered completely, if any.
    pub last: Option<Checkpoint>,
}

impl Position {
    /// A position before anything was delivered.
    #[must_use]
    pub const fn new(stream: StreamId, start: StartSelector) -> Self {
        Self { stream, start, last: None }
    }

    /// The selector that resumes right after the last delivered fragment: its continuation
    /// token, else `FRAGMENT_NUMBER` after its number, else the original selector.
    #[must_use]
    pub fn resume_selector(&self) -> StartSelector {
        match &self.last {
            Some(Checkpoint { continuation_token: Some(token), .. }) => {
                StartSelector::continuation_token(token)
            }
            Some(Checkpoint { fragment_number: Some(number), .. }) => StartSelector::after_fragment(number),
            _ => self.start.clone(),
        }
    }

    /// The fragment number of the last delivered fragment.
    #[must_use]
    pub fn fragment_number(&self) -> Option<kvs_chunk::FragmentNumber> {
        self.last.as_ref()?.fragment_number.as_deref().map(kvs_chunk::FragmentNumber::new)
    }
}

impl From<&Position> for StartSelector {
    fn from(p: &Position) -> Self {
        p.resume_selector()
    }
}

impl From<Position> for StartSelector {
    fn from(p: Position) -> Self {
        p.resume_selector()
    }
}
