//! The archived-media operations over the served streams: ListFragments (selector, pages,
//! opaque tokens, a deterministic order that can be shuffled) and GetMediaForFragmentList
//! (its body is a media body of `body`, with that API's tags and the same faults).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::body::{ListItem, Start};
use super::handlers::{admit_media_call, json_ok, media_response, parse_body};
use super::state::{Shared, StreamState, UnknownFragment};
use crate::api::{ApiError, ServiceErrorKind, StreamRef, timestamp_ms};
use kvs_ebml::rng::SplitMix64;
use kvs_mux::getmedia;

/// ListFragments' MaxResults when the request has none. The API model (the SDK's, and the AWS
/// CLI's `service-2.json`) gives only the range, 1 to 1000, and no default; 100 is the value
/// taken for the service's (not checked against a local source).
pub(crate) const DEFAULT_MAX_RESULTS: i64 = 100;
/// The most fragments one ListFragments page or one GetMediaForFragmentList call holds.
pub(crate) const MAX_FRAGMENTS: usize = 1000;
/// The error code of the exception chunk for a listed fragment the stream does not have: the
/// id GetMedia documents for "Requested fragment is not found".
const FRAGMENT_NOT_FOUND: u64 = 4000;

/// `POST /listFragments`.
#[derive(Debug, Clone, Default, Deserialize)]
struct ListFragmentsRequest {
    #[serde(flatten)]
    stream: StreamRef,
    #[serde(rename = "MaxResults")]
    max_results: Option<i64>,
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
    #[serde(rename = "FragmentSelector")]
    fragment_selector: Option<FragmentSelectorJson>,
}

/// The FragmentSelector as sent.
#[derive(Debug, Clone, Default, Deserialize)]
struct FragmentSelectorJson {
    #[serde(rename = "FragmentSelectorType")]
    fragment_selector_type: Option<String>,
    #[serde(rename = "TimestampRange")]
    timestamp_range: Option<TimestampRangeJson>,
}

/// The TimestampRange as sent.
#[derive(Debug, Clone, Default, Deserialize)]
struct TimestampRangeJson {
    #[serde(rename = "StartTimestamp")]
    start_timestamp: Option<serde_json::Value>,
    #[serde(rename = "EndTimestamp")]
    end_timestamp: Option<serde_json::Value>,
}

/// `POST /getMediaForFragmentList`.
#[derive(Debug, Clone, Default, Deserialize)]
struct GetMediaForFragmentListRequest {
    #[serde(flatten)]
    stream: StreamRef,
    #[serde(rename = "Fragments")]
    fragments: Option<Vec<String>>,
}

/// A validated FragmentSelector: which clock, and the inclusive range of start times (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Selector {
    server: bool,
    start_ms: i64,
    end_ms: i64,
}

impl Selector {
    fn parse(sel: &FragmentSelectorJson) -> Result<Self, ApiError> {
        let kind = sel
            .fragment_selector_type
            .as_deref()
            .ok_or_else(|| ApiError::invalid("FragmentSelector.FragmentSelectorType is required"))?;
        let server = match kind {
            "SERVER_TIMESTAMP" => true,
            "PRODUCER_TIMESTAMP" => false,
            other => {
                return Err(ApiError::invalid(format!(
                    "1 validation error detected: Value '{other}' at 'fragmentSelector.fragmentSelectorType' \
                     failed to satisfy constraint: Member must satisfy enum value set: [PRODUCER_TIMESTAMP, \
                     SERVER_TIMESTAMP]"
                )));
            }
        };
        let range = sel
            .timestamp_range
            .as_ref()
            .ok_or_else(|| ApiError::invalid("FragmentSelector.TimestampRange is required"))?;
        let time = |v: &Option<serde_json::Value>, name: &str| -> Result<i64, ApiError> {
            let v =
                v.as_ref().ok_or_else(|| ApiError::invalid(format!("TimestampRange.{name} is required")))?;
            timestamp_ms(v)
                .ok_or_else(|| ApiError::invalid(format!("TimestampRange.{name} {v} is not a timestamp")))
        };
        let start_ms = time(&range.start_timestamp, "StartTimestamp")?;
        let end_ms = time(&range.end_timestamp, "EndTimestamp")?;
        if end_ms < start_ms {
            return Err(ApiError::invalid("The StartTimestamp must be before the EndTimestamp"));
        }
        Ok(Self { server, start_ms, end_ms })
    }

    /// Whether a fragment starting at these times is in the range (both ends included, as the
    /// SDK's FragmentSelector documentation describes).
    fn selects(self, server_ms: i64, producer_ms: i64) -> bool {
        let t = if self.server { server_ms } else { producer_ms };
        (self.start_ms..=self.end_ms).contains(&t)
    }
}

/// What a NextToken carries: the request it continues (stream and selector) and where the next
/// page starts, sealed with a keyed hash so that an edited token, or one of another server, is
/// refused.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    stream: String,
    selector: Selector,
    offset: usize,
}

/// A 64-bit keyed hash of `bytes` (SplitMix64 steps; a check of integrity, not a secret).
fn seal(key: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(key ^ 0x9E37_79B9_7F4A_7C15, |h, &b| SplitMix64::new(h ^ u64::from(b)).next_u64())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i.checked_add(2)?)?, 16).ok()).collect()
}

/// A NextToken: `HEX(payload)` then its seal in 16 hex digits.
pub(super) fn seal_token(key: u64, payload: &str) -> String {
    format!("{}{:016x}", hex(payload.as_bytes()), seal(key, payload.as_bytes()))
}

/// The payload of a token [`seal_token`] made with `key`; `None` for anything else.
pub(super) fn open_token(token: &str, key: u64) -> Option<String> {
    let (body, mac) = token.split_at_checked(token.len().checked_sub(16)?)?;
    let payload = String::from_utf8(unhex(body)?).ok()?;
    (u64::from_str_radix(mac, 16).ok()? == seal(key, payload.as_bytes())).then_some(payload)
}

impl Token {
    fn payload(&self) -> String {
        let clock = if self.selector.server { "S" } else { "P" };
        format!("{}|{clock}|{}|{}|{}", self.stream, self.selector.start_ms, self.selector.end_ms, self.offset)
    }

    /// `HEX(payload)` then the seal in 16 hex digits: within the model's NextToken pattern
    /// `[a-zA-Z0-9+/]+={0,2}` and length (at most 4096; a stream name is at most 256).
    fn encode(&self, key: u64) -> String {
        seal_token(key, &self.payload())
    }

    fn decode(token: &str, key: u64) -> Option<Self> {
        let payload = open_token(token, key)?;
        let mut parts = payload.rsplitn(5, '|');
        let offset = parts.next()?.parse().ok()?;
        let end_ms = parts.next()?.parse().ok()?;
        let start_ms = parts.next()?.parse().ok()?;
        let server = match parts.next()? {
            "S" => true,
            "P" => false,
            _ => return None,
        };
        let stream = parts.next()?.to_owned();
        Some(Self { stream, selector: Selector { server, start_ms, end_ms }, offset })
    }
}

/// Epoch milliseconds as the service's JSON writes a timestamp: epoch seconds, fractional.
fn epoch_seconds(ms: i64) -> serde_json::Value {
    #[allow(clippy::cast_precision_loss)] // epoch milliseconds fit f64 exactly
    let seconds = ms as f64 / 1000.0;
    serde_json::json!(seconds)
}

/// The key of this server's tokens.
pub(super) fn token_key(shared: &Shared) -> u64 {
    shared.start_epoch_ms.unsigned_abs().rotate_left(29) ^ 0x6b76_735f_6c69_7374
}

/// The fragments a selector selects among those available, in the order the server lists
/// them: the stream's order, or shuffled with the configured seed (the same every time).
fn selected(shared: &Shared, stream: &StreamState, selector: Selector) -> Vec<usize> {
    let available = stream.available(shared.elapsed());
    let mut indices: Vec<usize> = stream
        .fragments
        .iter()
        .take(available)
        .enumerate()
        .filter(|(_, f)| selector.selects(f.server_ms, f.producer_ms))
        .map(|(i, _)| i)
        .collect();
    if let Some(seed) = shared.list_shuffle {
        // Fisher-Yates with the workspace's seeded generator.
        let mut rng = SplitMix64::new(seed);
        for i in (1..indices.len()).rev() {
            let j = rng.range(0, i.saturating_add(1));
            indices.swap(i, j);
        }
    }
    indices
}

/// `POST /listFragments`.
pub(super) async fn list_fragments(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request_id = shared.request_id();
    match list(&shared, &body) {
        Ok(v) => json_ok(&v, &request_id),
        Err(e) => e.into_response(&request_id),
    }
}

fn list(shared: &Shared, body: &Bytes) -> Result<serde_json::Value, ApiError> {
    let req: ListFragmentsRequest = parse_body(body)?;
    let call = shared.list_calls.fetch_add(1, Ordering::Relaxed);
    if let Some(fail) = shared.fail_list
        && fail.first_calls.is_none_or(|n| call < n)
    {
        return Err(ApiError::new(
            fail.error,
            format!("Injected {} (ListFragments call {call})", fail.error),
        ));
    }
    let max = req.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
    if !(1..=1000).contains(&max) {
        return Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{max}' at 'maxResults' failed to satisfy constraint: Member \
             must have value {} 1000",
            if max < 1 {
                "greater than or equal to 1; less than or equal to"
            } else {
                "less than or equal to"
            }
        )));
    }
    let max = usize::try_from(max).unwrap_or(MAX_FRAGMENTS);
    let stream = shared.resolve(&req.stream)?;
    let key = token_key(shared);
    let selector = req.fragment_selector.as_ref().map(Selector::parse).transpose()?;
    let (selector, offset) = match (&req.next_token, selector) {
        (Some(token), selector) => {
            // A token continues the request that produced it: same stream, same selector (the
            // AWS CLI sends the selector again with each page; the SDKs may leave it out).
            let t = Token::decode(token, key)
                .filter(|t| t.stream == stream.name && selector.is_none_or(|s| s == t.selector))
                .ok_or_else(|| {
                    ApiError::invalid(format!("Invalid NextToken {token}: not from this request"))
                })?;
            (t.selector, t.offset)
        }
        (None, Some(selector)) => (selector, 0),
        (None, None) => return Err(ApiError::invalid("FragmentSelector is required without a NextToken")),
    };
    let indices = selected(shared, &stream, selector);
    let page: Vec<serde_json::Value> = indices
        .iter()
        .skip(offset)
        .take(max)
        .filter_map(|&i| stream.fragments.get(i))
        .map(|f| {
            serde_json::json!({
                "FragmentNumber": f.number.as_str(),
                "FragmentSizeInBytes": f.head.len(),
                "ProducerTimestamp": epoch_seconds(f.producer_ms),
                "ServerTimestamp": epoch_seconds(f.server_ms),
                "FragmentLengthInMilliseconds": f.duration_ms,
            })
        })
        .collect();
    let next = offset.saturating_add(max);
    let mut answer = serde_json::json!({ "Fragments": page });
    if next < indices.len()
        && let Some(obj) = answer.as_object_mut()
    {
        let token = Token { stream: stream.name.clone(), selector, offset: next };
        obj.insert("NextToken".to_owned(), serde_json::Value::String(token.encode(key)));
    }
    Ok(answer)
}

/// `POST /getMediaForFragmentList`.
pub(super) async fn get_media_for_fragment_list(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request_id = shared.request_id();
    match start_list(&shared, &body) {
        Ok(start) => media_response(&shared, start, &request_id),
        Err(e) => e.into_response(&request_id),
    }
}

/// Validates a GetMediaForFragmentList call and lists what its body sends.
fn start_list(shared: &Shared, body: &Bytes) -> Result<Start, ApiError> {
    let req: GetMediaForFragmentListRequest = parse_body(body)?;
    let stream = shared.resolve(&req.stream)?;
    let numbers = req.fragments.unwrap_or_default();
    if numbers.is_empty() || numbers.len() > MAX_FRAGMENTS {
        return Err(ApiError::invalid(format!(
            "1 validation error detected: Value at 'fragments' failed to satisfy constraint: Member must have \
             length between 1 and {MAX_FRAGMENTS} (it has {})",
            numbers.len()
        )));
    }
    if let Some(bad) = numbers.iter().find(|n| !kvs_chunk::FragmentNumber::new(n.as_str()).is_well_formed()) {
        return Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{bad}' at 'fragments' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: ^[0-9]+$ (1 to 128 digits)"
        )));
    }
    // Throttled: ClientLimitExceededException, the limit error of this API's model
    // (ConnectionLimitExceededException is GetMedia's, not among this API's errors).
    admit_media_call(shared, &stream, "GetMediaForFragmentList", ServiceErrorKind::ClientLimitExceeded)?;
    let available = stream.available(shared.elapsed());
    let mut items = Vec::with_capacity(numbers.len());
    for number in &numbers {
        match stream.index_of(number, available) {
            Some(i) if shared.missing_media.contains(&i) => {
                let chunk = getmedia::exception_chunk(
                    number,
                    FRAGMENT_NOT_FOUND,
                    getmedia::error_description(FRAGMENT_NOT_FOUND),
                )
                .map_err(|e| ApiError::invalid(e.to_string()))?;
                items.push(ListItem::Chunk(Bytes::from(chunk)));
            }
            Some(i) => items.push(ListItem::Fragment(i)),
            None => match shared.unknown_fragment {
                UnknownFragment::InvalidArgument => {
                    return Err(ApiError::invalid(format!(
                        "Fragment {number} is not a fragment of stream {}",
                        stream.name
                    )));
                }
                // A fragment the stream does not have: 200, and in its place a chunk with the
                // exception tags. Source: the SDK's `GetMediaForFragmentListOutput::payload`
                // documentation (aws-sdk-kinesisvideoarchivedmedia, the service's API model):
                // "The following tags will be included if an exception occurs:
                // AWS_KINESISVIDEO_FRAGMENT_NUMBER - The number of the fragment that threw the
                // exception, AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE - The integer code of the
                // [exception], AWS_KINESISVIDEO_EXCEPTION_MESSAGE - A text description of the
                // exception". Neither that text nor ResourceNotFoundException's (which names
                // only missing streams and HLS/DASH sessions) says a missing fragment fails the
                // call. The code is not documented: 4000, GetMedia's documented id for
                // "Requested fragment is not found". The other listed fragments are still sent.
                UnknownFragment::ErrorChunk => {
                    let chunk = getmedia::exception_chunk(
                        number,
                        FRAGMENT_NOT_FOUND,
                        getmedia::error_description(FRAGMENT_NOT_FOUND),
                    )
                    .map_err(|e| ApiError::invalid(e.to_string()))?;
                    items.push(ListItem::Chunk(Bytes::from(chunk)));
                }
            },
        }
    }
    Ok(Start::List { stream, items })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_edits() {
        let t = Token {
            stream: "a|b".to_owned(),
            selector: Selector { server: false, start_ms: -5, end_ms: 1_700_000_000_000 },
            offset: 1000,
        };
        let s = t.encode(7);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(Token::decode(&s, 7), Some(t));
        assert_eq!(Token::decode(&s, 8), None);
        let mut edited = s.clone().into_bytes();
        edited[0] = if edited[0] == b'6' { b'7' } else { b'6' };
        assert_eq!(Token::decode(&String::from_utf8(edited).unwrap(), 7), None);
        assert_eq!(Token::decode("nope", 7), None);
        assert_eq!(Token::decode("zz0000000000000000", 7), None);
    }

    #[test]
    fn selectors_validate() {
        let sel = |json: &str| Selector::parse(&serde_json::from_str(json).unwrap());
        assert_eq!(
            sel(
                r#"{"FragmentSelectorType":"SERVER_TIMESTAMP","TimestampRange":{"StartTimestamp":1.5,"EndTimestamp":2}}"#
            ),
            Ok(Selector { server: true, start_ms: 1500, end_ms: 2000 })
        );
        assert!(sel(r#"{"FragmentSelectorType":"SERVER_TIMESTAMP","TimestampRange":{"StartTimestamp":3,"EndTimestamp":2}}"#).is_err());
        assert!(
            sel(r#"{"FragmentSelectorType":"NOW","TimestampRange":{"StartTimestamp":1,"EndTimestamp":2}}"#)
                .is_err()
        );
        assert!(sel(r#"{"FragmentSelectorType":"PRODUCER_TIMESTAMP"}"#).is_err());
        assert!(
            sel(r#"{"FragmentSelectorType":"PRODUCER_TIMESTAMP","TimestampRange":{"StartTimestamp":1}}"#)
                .is_err()
        );
    }
}
