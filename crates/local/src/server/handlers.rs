//! The operations: GetDataEndpoint, DescribeStream, GetMedia (its start selector and the
//! response body), and the answer to an unknown operation. GetImages is in `images`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::body::{ListItem, MediaBody, Start};
use super::state::{ACCOUNT_ID, REGION, Shared, StreamState, UnknownFragment};
use crate::api::{
    API_NAMES, ApiError, GetDataEndpointRequest, GetMediaRequest, RequestedStart, ServiceErrorKind,
    StreamRef, insert_request_id,
};
use kvs_mux::getmedia;

/// A JSON 200 answer with a request id.
pub(super) fn json_ok(value: &serde_json::Value, request_id: &str) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    insert_request_id(response.headers_mut(), request_id);
    response
}

/// Parses a JSON body, answering `SerializationException` for one that is not.
pub(super) fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(ServiceErrorKind::Serialization, format!("Cannot parse the request body: {e}"))
    })
}

/// `POST /getDataEndpoint`: this server's URL, for every stream it has.
pub(super) async fn get_data_endpoint(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request_id = shared.request_id();
    let answer = (|| -> Result<serde_json::Value, ApiError> {
        let req: GetDataEndpointRequest = parse_body(&body)?;
        let api = req.api_name.as_deref().ok_or_else(|| ApiError::invalid("APIName is required"))?;
        if !API_NAMES.contains(&api) {
            return Err(ApiError::invalid(format!("Invalid APIName {api}")));
        }
        shared.resolve(&req.stream)?;
        Ok(serde_json::json!({ "DataEndpoint": shared.url }))
    })();
    match answer {
        Ok(v) => json_ok(&v, &request_id),
        Err(e) => e.into_response(&request_id),
    }
}

/// A stream's StreamInfo, as DescribeStream and ListStreams answer it.
pub(super) fn stream_info(s: &StreamState) -> serde_json::Value {
    #[allow(clippy::cast_precision_loss)] // epoch milliseconds fit f64 exactly
    let creation = s.creation_time_ms() as f64 / 1000.0;
    serde_json::json!({
        "CreationTime": creation,
        "DataRetentionInHours": 24,
        "DeviceName": "kvs-local",
        "KmsKeyId": format!("arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/aws/kinesisvideo"),
        "MediaType": s.media_type(),
        "Status": "ACTIVE",
        "StreamARN": s.arn,
        "StreamName": s.name,
        "Version": "1",
    })
}

/// `POST /describeStream`.
pub(super) async fn describe_stream(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request_id = shared.request_id();
    let answer = (|| -> Result<serde_json::Value, ApiError> {
        let req: StreamRef = parse_body(&body)?;
        let s = shared.resolve(&req)?;
        Ok(serde_json::json!({ "StreamInfo": stream_info(&s) }))
    })();
    match answer {
        Ok(v) => json_ok(&v, &request_id),
        Err(e) => e.into_response(&request_id),
    }
}

/// Any other path.
pub(super) async fn unknown_operation(State(shared): State<Arc<Shared>>) -> Response {
    let request_id = shared.request_id();
    ApiError::new(ServiceErrorKind::UnknownOperation, "Unknown operation").into_response(&request_id)
}

/// `POST /getMedia`.
pub(super) async fn get_media(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request_id = shared.request_id();
    match start_media(&shared, &body) {
        Ok(start) => media_response(&shared, start, &request_id),
        Err(e) => e.into_response(&request_id),
    }
}

/// A 200 media answer (`video/webm`, as the service sends GetMedia and
/// GetMediaForFragmentList), its body streamed from `start` with the faults applied.
pub(super) fn media_response(shared: &Arc<Shared>, start: Start, request_id: &str) -> Response {
    let cut = random_cut(shared, start_total(&start));
    let media = MediaBody::new(Arc::clone(shared), start, cut);
    let mut response = Response::new(media.into_body());
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("video/webm"));
    insert_request_id(response.headers_mut(), request_id);
    response
}

/// Counts a media call (GetMedia, GetMediaForFragmentList) on a stream and applies the
/// throttle (answered with `throttled`) and the injected failures to it.
pub(super) fn admit_media_call(
    shared: &Shared,
    stream: &StreamState,
    operation: &str,
    throttled: ServiceErrorKind,
) -> Result<(), ApiError> {
    let call = stream.calls.fetch_add(1, Ordering::Relaxed);
    if let Some(rate) = shared.faults.throttle_rate
        && !stream.admit(rate)
    {
        return Err(ApiError::new(
            throttled,
            format!("Exceeded the limit of {rate} {operation} calls per second on stream {}", stream.name),
        ));
    }
    if let Some(fail) = shared.faults.fail_with
        && fail.first_calls.is_none_or(|n| call < n)
    {
        return Err(ApiError::new(fail.error, format!("Injected {} (call {call})", fail.error)));
    }
    Ok(())
}

/// Everything a GetMedia response would send, for the random cut.
fn start_total(start: &Start) -> u64 {
    match start {
        Start::Fragments { stream, index } => {
            let heads: usize =
                stream.fragments.iter().skip(*index).map(|f| f.head.len().saturating_add(180)).sum();
            u64::try_from(heads).unwrap_or(u64::MAX)
        }
        Start::Error(chunk) => u64::try_from(chunk.len()).unwrap_or(u64::MAX),
        Start::List { stream, items } => {
            let sizes: usize = items
                .iter()
                .map(|item| match item {
                    ListItem::Fragment(i) => stream.fragments.get(*i).map_or(0, |f| f.head.len()),
                    ListItem::Chunk(c) => c.len(),
                })
                .sum();
            u64::try_from(sizes).unwrap_or(u64::MAX)
        }
    }
}

/// The cut point of `--cut-random` for this request; `None` (sent whole) with probability
/// `1 - cut_probability`.
fn random_cut(shared: &Shared, total: u64) -> Option<u64> {
    let seed = shared.faults.cut_random?;
    let n = shared.cut_requests.fetch_add(1, Ordering::Relaxed);
    let mut rng = kvs_ebml::rng::SplitMix64::new(seed ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03));
    rng.next_u64();
    let cut = 1u64.saturating_add(rng.below(total.saturating_sub(1)));
    let p = shared.faults.cut_probability;
    // With the default 1.0 nothing more is drawn: the cut points stay as they were.
    if p >= 1.0 || p.is_nan() || rng.chance(p) { Some(cut) } else { None }
}

/// Validates a GetMedia call and finds where it starts.
fn start_media(shared: &Shared, body: &Bytes) -> Result<Start, ApiError> {
    let req: GetMediaRequest = parse_body(body)?;
    let stream = shared.resolve(&req.stream)?;
    admit_media_call(shared, &stream, "GetMedia", ServiceErrorKind::ConnectionLimitExceeded)?;
    let selector = RequestedStart::parse(req.start_selector.as_ref())?;
    let available = stream.available(shared.elapsed()).max(1);
    let last = available.saturating_sub(1);
    let after = |number: &str, what: &str| -> Result<Start, ApiError> {
        match stream.index_of(number, available) {
            Some(i) => Ok(Start::Fragments { stream: Arc::clone(&stream), index: i.saturating_add(1) }),
            None => match shared.unknown_fragment {
                UnknownFragment::InvalidArgument => Err(ApiError::invalid(format!(
                    "{what} {number} is not a fragment of stream {}",
                    stream.name
                ))),
                UnknownFragment::ErrorChunk => {
                    getmedia::error_chunk(Some(number), 4000, getmedia::error_description(4000))
                        .map(|chunk| Start::Error(Bytes::from(chunk)))
                        .map_err(|e| ApiError::invalid(e.to_string()))
                }
            },
        }
    };
    let at = |index: usize| Ok(Start::Fragments { stream: Arc::clone(&stream), index });
    match selector {
        RequestedStart::Now => at(last),
        RequestedStart::Earliest => at(0),
        RequestedStart::FragmentNumber(n) => after(&n, "AfterFragmentNumber"),
        RequestedStart::ContinuationToken(t) => after(&t, "ContinuationToken"),
        RequestedStart::ServerTimestamp(ts) => {
            at(stream.fragments.iter().take(available).rposition(|f| f.server_ms <= ts).unwrap_or(0))
        }
        RequestedStart::ProducerTimestamp(ts) => {
            at(stream.fragments.iter().take(available).rposition(|f| f.producer_ms <= ts).unwrap_or(0))
        }
    }
}
