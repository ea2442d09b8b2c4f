//! The archive, one call at a time: ListFragments (a page, every page, sorted) and
//! GetMediaForFragmentList (named fragments in, the payload out as [`MediaPayload`], read
//! into the same kvs-chunk events as GetMedia).

use std::fmt;
use std::sync::PoisonError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_kinesisvideo::types::ApiName;
use aws_sdk_kinesisvideoarchivedmedia::types as sdk_types;
use aws_smithy_types::DateTime;
use aws_smithy_types::retry::RetryConfig;
use kvs_chunk::FragmentNumber;

use crate::client::{KvsClient, MediaPayload};
use crate::error::ConsumerError;
use crate::selector::StreamId;

/// The most fragments one ListFragments page or one GetMediaForFragmentList call may hold.
pub const MAX_FRAGMENTS_PER_CALL: usize = 1000;

/// Which clock a [`FragmentSelector`] ranges over (the API's `FragmentSelectorType`).
/// It serialises as the API's names (`"PRODUCER_TIMESTAMP"`, `"SERVER_TIMESTAMP"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub enum FragmentClock {
    /// `PRODUCER_TIMESTAMP`: the timestamps the producer wrote into the media.
    #[default]
    #[serde(rename = "PRODUCER_TIMESTAMP")]
    Producer,
    /// `SERVER_TIMESTAMP`: when the service received each fragment.
    #[serde(rename = "SERVER_TIMESTAMP")]
    Server,
}

impl FragmentClock {
    /// The API's name of this selector type (`PRODUCER_TIMESTAMP`, `SERVER_TIMESTAMP`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Producer => "PRODUCER_TIMESTAMP",
            Self::Server => "SERVER_TIMESTAMP",
        }
    }

    fn to_sdk(self) -> sdk_types::FragmentSelectorType {
        match self {
            Self::Producer => sdk_types::FragmentSelectorType::ProducerTimestamp,
            Self::Server => sdk_types::FragmentSelectorType::ServerTimestamp,
        }
    }
}

impl fmt::Display for FragmentClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FragmentClock {
    type Err = ConsumerError;

    /// `PRODUCER_TIMESTAMP` or `SERVER_TIMESTAMP` (case is not significant).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("PRODUCER_TIMESTAMP") {
            Ok(Self::Producer)
        } else if s.eq_ignore_ascii_case("SERVER_TIMESTAMP") {
            Ok(Self::Server)
        } else {
            Err(ConsumerError::InvalidArgument {
                message: format!(
                    "FragmentSelectorType {s:?}: expected PRODUCER_TIMESTAMP or SERVER_TIMESTAMP"
                ),
            })
        }
    }
}

/// The fragments of a time range on one clock (the API's `FragmentSelector` with its
/// `TimestampRange`). As the service reads it, a fragment is selected when its start time
/// on that clock lies in `start_ms..=end_ms` (both ends included).
///
/// ```
/// use kvs_sdk::{FragmentClock, FragmentSelector};
///
/// let s = FragmentSelector::new(FragmentClock::Server, 1_700_000_000_000, 1_700_000_060_000)?;
/// assert_eq!(s.clock(), FragmentClock::Server);
/// assert!(FragmentSelector::new(FragmentClock::Producer, 5, 4).is_err());
/// # Ok::<(), kvs_sdk::ConsumerError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentSelector {
    clock: FragmentClock,
    start_ms: i64,
    end_ms: i64,
}

impl FragmentSelector {
    /// A range of epoch milliseconds on `clock`, both ends included.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::InvalidArgument`] when `start_ms` is after `end_ms` (the service
    /// refuses such a range too).
    pub fn new(clock: FragmentClock, start_ms: i64, end_ms: i64) -> Result<Self, ConsumerError> {
        if start_ms > end_ms {
            return Err(ConsumerError::InvalidArgument {
                message: format!("TimestampRange: the start ({start_ms} ms) is after the end ({end_ms} ms)"),
            });
        }
        Ok(Self { clock, start_ms, end_ms })
    }

    /// A range of [`SystemTime`]s on `clock`.
    ///
    /// # Errors
    ///
    /// As [`FragmentSelector::new`], and [`ConsumerError::InvalidArgument`] for a time that
    /// does not fit epoch milliseconds.
    pub fn between(clock: FragmentClock, start: SystemTime, end: SystemTime) -> Result<Self, ConsumerError> {
        Self::new(clock, epoch_ms(start)?, epoch_ms(end)?)
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> FragmentClock {
        self.clock
    }

    /// The first millisecond of the range.
    #[must_use]
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// The last millisecond of the range (included).
    #[must_use]
    pub fn end_ms(&self) -> i64 {
        self.end_ms
    }

    /// The same clock and end, starting at `start_ms` (which may not pass the end).
    ///
    /// # Errors
    ///
    /// As [`FragmentSelector::new`].
    pub fn with_start_ms(&self, start_ms: i64) -> Result<Self, ConsumerError> {
        Self::new(self.clock, start_ms, self.end_ms)
    }

    /// Whether `fragment` lies in this range on this selector's clock.
    #[must_use]
    pub fn selects(&self, fragment: &FragmentInfo) -> bool {
        (self.start_ms..=self.end_ms).contains(&fragment.timestamp_ms(self.clock))
    }

    /// The SDK's `FragmentSelector`.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::Config`] if the SDK's builder refuses it (it cannot: every field
    /// it requires is set).
    pub fn to_sdk(&self) -> Result<sdk_types::FragmentSelector, ConsumerError> {
        let config = |e: aws_smithy_types::error::operation::BuildError| ConsumerError::Config(e.to_string());
        let range = sdk_types::TimestampRange::builder()
            .start_timestamp(DateTime::from_millis(self.start_ms))
            .end_timestamp(DateTime::from_millis(self.end_ms))
            .build()
            .map_err(config)?;
        sdk_types::FragmentSelector::builder()
            .fragment_selector_type(self.clock.to_sdk())
            .timestamp_range(range)
            .build()
            .map_err(config)
    }
}

fn epoch_ms(t: SystemTime) -> Result<i64, ConsumerError> {
    let out_of_range =
        || ConsumerError::InvalidArgument { message: format!("timestamp {t:?} is out of range") };
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).map_err(|_| out_of_range()),
        Err(e) => {
            i64::try_from(e.duration().as_millis()).ok().and_then(i64::checked_neg).ok_or_else(out_of_range)
        }
    }
}

/// One fragment as ListFragments describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FragmentInfo {
    /// The fragment number.
    pub fragment_number: FragmentNumber,
    /// The fragment's size in bytes (`FragmentSizeInBytes`).
    pub size_bytes: u64,
    /// The producer's timestamp of the fragment's start, epoch milliseconds.
    pub producer_timestamp_ms: i64,
    /// The service's timestamp of the fragment's arrival, epoch milliseconds.
    pub server_timestamp_ms: i64,
    /// The fragment's playback duration (`FragmentLengthInMilliseconds`).
    pub duration_ms: u64,
}

impl FragmentInfo {
    /// A fragment description (for tests and callers that list fragments themselves).
    #[must_use]
    pub fn new(
        fragment_number: impl Into<FragmentNumber>,
        size_bytes: u64,
        producer_timestamp_ms: i64,
        server_timestamp_ms: i64,
        duration_ms: u64,
    ) -> Self {
        Self {
            fragment_number: fragment_number.into(),
            size_bytes,
            producer_timestamp_ms,
            server_timestamp_ms,
            duration_ms,
        }
    }

    /// The fragment's start on `clock`.
    #[must_use]
    pub fn timestamp_ms(&self, clock: FragmentClock) -> i64 {
        match clock {
            FragmentClock::Producer => self.producer_timestamp_ms,
            FragmentClock::Server => self.server_timestamp_ms,
        }
    }

    fn from_sdk(f: &sdk_types::Fragment) -> Result<Self, ConsumerError> {
        let bad = |what: &str| ConsumerError::Service {
            status: 200,
            code: None,
            message: format!("ListFragments returned a fragment without a valid {what}"),
        };
        let number = f.fragment_number().ok_or_else(|| bad("FragmentNumber"))?;
        let millis = |t: Option<&DateTime>, what: &str| t.and_then(rounded_millis).ok_or_else(|| bad(what));
        Ok(Self {
            fragment_number: FragmentNumber::new(number),
            size_bytes: u64::try_from(f.fragment_size_in_bytes()).map_err(|_| bad("FragmentSizeInBytes"))?,
            producer_timestamp_ms: millis(f.producer_timestamp(), "ProducerTimestamp")?,
            server_timestamp_ms: millis(f.server_timestamp(), "ServerTimestamp")?,
            duration_ms: u64::try_from(f.fragment_length_in_milliseconds())
                .map_err(|_| bad("FragmentLengthInMilliseconds"))?,
        })
    }
}

/// A listed timestamp in epoch ms, rounded to the nearest millisecond: the service's JSON
/// writes epoch seconds with a fraction, which the SDK reads through an `f64`, so
/// `1700000000.8` arrives as `...0.79999995` and `DateTime::to_millis` (which truncates)
/// would say 799.
fn rounded_millis(t: &DateTime) -> Option<i64> {
    let ms = t.secs().checked_mul(1000)?;
    ms.checked_add(i64::from(t.subsec_nanos().checked_add(500_000)? / 1_000_000))
}

/// Sorts fragments as the archive delivers them: by their start on `clock`, then by
/// fragment number (numerically). ListFragments returns fragments in no guaranteed order;
/// every listing of this crate is sorted with this function.
pub fn sort_fragments(fragments: &mut [FragmentInfo], clock: FragmentClock) {
    fragments.sort_by(|a, b| {
        a.timestamp_ms(clock)
            .cmp(&b.timestamp_ms(clock))
            .then_with(|| a.fragment_number.cmp(&b.fragment_number))
    });
}

/// One ListFragments page, in the order the service sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FragmentPage {
    /// The fragments of this page (unsorted: as the service listed them).
    pub fragments: Vec<FragmentInfo>,
    /// The token of the next page, if there is one.
    pub next_token: Option<String>,
}

/// What one ListFragments call asks for: a selector for the first page, a token for the
/// next ones (the selector may be sent again with it, as the AWS CLI does).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ListFragmentsRequest {
    /// The range to list (required without `next_token`).
    pub selector: Option<FragmentSelector>,
    /// `MaxResults`: 1 to 1000 fragments per page (the service's default when `None`).
    pub max_results: Option<u32>,
    /// `NextToken` from the previous page.
    pub next_token: Option<String>,
}

impl ListFragmentsRequest {
    /// The first page of `selector`'s range.
    #[must_use]
    pub fn new(selector: FragmentSelector) -> Self {
        Self { selector: Some(selector), max_results: None, next_token: None }
    }

    /// At most `max` fragments per page.
    #[must_use]
    pub fn max_results(mut self, max: u32) -> Self {
        self.max_results = Some(max);
        self
    }

    /// Continues from `token`.
    #[must_use]
    pub fn next_token(mut self, token: impl Into<String>) -> Self {
        self.next_token = Some(token.into());
        self
    }
}

impl KvsClient {
    /// The archived-media client (`aws-sdk-kinesisvideoarchivedmedia`) for `stream`'s data
    /// endpoint of `api` (`LIST_FRAGMENTS`, `GET_MEDIA_FOR_FRAGMENT_LIST`, `GET_IMAGES`,
    /// ...): the endpoint is cached like GetMedia's, and one client is kept per endpoint.
    /// The SDK's own retries are off: the callers of this crate retry with their back-off.
    ///
    /// # Errors
    ///
    /// The mapped error of `GetDataEndpoint`.
    pub async fn archive_client(
        &self,
        stream: &StreamId,
        api: ApiName,
    ) -> Result<aws_sdk_kinesisvideoarchivedmedia::Client, ConsumerError> {
        let url = self.data_endpoint(stream, api).await?;
        let mut clients = self.inner().archive.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = clients.get(&url) {
            return Ok(c.clone());
        }
        let conf = aws_sdk_kinesisvideoarchivedmedia::config::Builder::from(self.sdk_config())
            .endpoint_url(url.clone())
            .stalled_stream_protection(self.inner().stalled.clone())
            .retry_config(RetryConfig::disabled())
            .build();
        let client = aws_sdk_kinesisvideoarchivedmedia::Client::from_conf(conf);
        clients.insert(url, client.clone());
        Ok(client)
    }

    /// One ListFragments call. On `InvalidEndpointException` the endpoint is refreshed
    /// and the call made once more; nothing else is retried here.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::InvalidArgument`] for a request without selector or token, or with
    /// `max_results` outside 1..=1000; else the mapped error of `GetDataEndpoint` or
    /// `ListFragments`, or [`ConsumerError::Service`] for a fragment without its fields.
    pub async fn list_fragments_page(
        &self,
        stream: &StreamId,
        request: &ListFragmentsRequest,
    ) -> Result<FragmentPage, ConsumerError> {
        if request.selector.is_none() && request.next_token.is_none() {
            return Err(ConsumerError::InvalidArgument {
                message: "ListFragments needs a FragmentSelector or a NextToken".into(),
            });
        }
        if let Some(max) = request.max_results
            && !(1..=1000).contains(&max)
        {
            return Err(ConsumerError::InvalidArgument {
                message: format!("MaxResults {max}: must be 1 to 1000"),
            });
        }
        let mut refreshed = false;
        loop {
            let client = self.archive_client(stream, ApiName::ListFragments).await?;
            let req = client
                .list_fragments()
                .set_fragment_selector(request.selector.map(|s| s.to_sdk()).transpose()?)
                .set_max_results(request.max_results.map(i64::from))
                .set_next_token(request.next_token.clone());
            let req = match stream {
                StreamId::Name(n) => req.stream_name(n),
                StreamId::Arn(a) => req.stream_arn(a),
            };
            tracing::debug!(%stream, token = request.next_token.is_some(), "ListFragments");
            match req.send().await {
                Ok(out) => {
                    let fragments =
                        out.fragments().iter().map(FragmentInfo::from_sdk).collect::<Result<Vec<_>, _>>()?;
                    return Ok(FragmentPage { fragments, next_token: out.next_token().map(str::to_owned) });
                }
                Err(e) => {
                    let e = ConsumerError::from_sdk(e);
                    if matches!(e, ConsumerError::InvalidEndpoint { .. }) && !refreshed {
                        self.invalidate_endpoint(stream, ApiName::ListFragments);
                        refreshed = true;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Every fragment of `selector`'s range, all pages (the SDK's paginator, `page_size`
    /// fragments per page, 1000 when `None`), sorted by [`sort_fragments`]. The whole
    /// listing is held in memory (about 100 bytes a fragment); for a range too large for
    /// that, page with [`KvsClient::list_fragments_page`] (the archive reader does).
    ///
    /// # Errors
    ///
    /// As [`KvsClient::list_fragments_page`].
    pub async fn list_fragments(
        &self,
        stream: &StreamId,
        selector: FragmentSelector,
        page_size: Option<u32>,
    ) -> Result<Vec<FragmentInfo>, ConsumerError> {
        if let Some(max) = page_size
            && !(1..=1000).contains(&max)
        {
            return Err(ConsumerError::InvalidArgument {
                message: format!("MaxResults {max}: must be 1 to 1000"),
            });
        }
        let client = self.archive_client(stream, ApiName::ListFragments).await?;
        let req = client.list_fragments().fragment_selector(selector.to_sdk()?);
        let req = match stream {
            StreamId::Name(n) => req.stream_name(n),
            StreamId::Arn(a) => req.stream_arn(a),
        };
        let mut pages = req.into_paginator().page_size(i64::from(page_size.unwrap_or(1000))).send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(ConsumerError::from_sdk)?;
            for f in page.fragments() {
                all.push(FragmentInfo::from_sdk(f)?);
            }
        }
        sort_fragments(&mut all, selector.clock);
        Ok(all)
    }

    /// One GetMediaForFragmentList call: the named fragments (1 to 1000) as one payload,
    /// each fragment an MKV document with the tags `AWS_KINESISVIDEO_FRAGMENT_NUMBER`,
    /// `..._SERVER_SIDE_TIMESTAMP` and `..._PRODUCER_SIDE_TIMESTAMP`, in the order named. A
    /// fragment the service cannot send comes as an exception chunk
    /// (`AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE`): kvs-chunk reads it as
    /// `Event::ErrorChunk`. Read the payload with [`MediaPayload::into_events`] (zero copy).
    /// On `InvalidEndpointException` the endpoint is refreshed and the call made once more.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::InvalidArgument`] for no fragments or more than 1000; else the
    /// mapped error of `GetDataEndpoint` or `GetMediaForFragmentList`.
    pub async fn get_media_for_fragment_list(
        &self,
        stream: &StreamId,
        fragments: &[FragmentNumber],
    ) -> Result<MediaPayload, ConsumerError> {
        if fragments.is_empty() || fragments.len() > MAX_FRAGMENTS_PER_CALL {
            return Err(ConsumerError::InvalidArgument {
                message: format!(
                    "GetMediaForFragmentList takes 1 to {MAX_FRAGMENTS_PER_CALL} fragments, not {}",
                    fragments.len()
                ),
            });
        }
        let numbers: Vec<String> = fragments.iter().map(|n| n.as_str().to_owned()).collect();
        let mut refreshed = false;
        loop {
            let client = self.archive_client(stream, ApiName::GetMediaForFragmentList).await?;
            let req = client.get_media_for_fragment_list().set_fragments(Some(numbers.clone()));
            let req = match stream {
                StreamId::Name(n) => req.stream_name(n),
                StreamId::Arn(a) => req.stream_arn(a),
            };
            tracing::debug!(%stream, fragments = numbers.len(), "GetMediaForFragmentList");
            match req.send().await {
                Ok(out) => return Ok(MediaPayload::new(out.content_type, out.payload)),
                Err(e) => {
                    let e = ConsumerError::from_sdk(e);
                    if matches!(e, ConsumerError::InvalidEndpoint { .. }) && !refreshed {
                        self.invalidate_endpoint(stream, ApiName::GetMediaForFragmentList);
                        refreshed = true;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// How long ListFragments pages and GetMediaForFragmentList calls of one stream are spaced
/// by default (5 calls a second).
pub const DEFAULT_ARCHIVE_CALL_INTERVAL: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_is_by_clock_then_number() {
        let mut v = vec![
            FragmentInfo::new(FragmentNumber::new("30"), 1, 2000, 10, 1000),
            FragmentInfo::new(FragmentNumber::new("100"), 1, 1000, 30, 1000),
            FragmentInfo::new(FragmentNumber::new("20"), 1, 1000, 20, 1000),
        ];
        sort_fragments(&mut v, FragmentClock::Producer);
        let order: Vec<&str> = v.iter().map(|f| f.fragment_number.as_str()).collect();
        assert_eq!(order, ["20", "100", "30"]);
        sort_fragments(&mut v, FragmentClock::Server);
        let order: Vec<&str> = v.iter().map(|f| f.fragment_number.as_str()).collect();
        assert_eq!(order, ["30", "20", "100"]);
    }

    #[test]
    fn selector_checks_its_range() {
        assert!(FragmentSelector::new(FragmentClock::Server, 2, 1).is_err());
        let s = FragmentSelector::new(FragmentClock::Server, 10, 20).ok();
        let f = FragmentInfo::new(FragmentNumber::new("1"), 1, 0, 20, 1);
        assert_eq!(s.map(|s| s.selects(&f)), Some(true));
        assert_eq!("server_timestamp".parse::<FragmentClock>().ok(), Some(FragmentClock::Server));
        assert!("EARLIEST".parse::<FragmentClock>().is_err());
    }

    #[test]
    fn selector_to_sdk_keeps_the_range() {
        let s = FragmentSelector::between(
            FragmentClock::Producer,
            UNIX_EPOCH + Duration::from_millis(1500),
            UNIX_EPOCH + Duration::from_millis(2500),
        );
        let sdk = s.and_then(|s| s.to_sdk()).ok();
        let range = sdk.as_ref().and_then(|s| s.timestamp_range());
        assert_eq!(range.and_then(|r| r.start_timestamp().to_millis().ok()), Some(1500));
        assert_eq!(range.and_then(|r| r.end_timestamp().to_millis().ok()), Some(2500));
    }
}
