//! `POST /getImages`: GetImages computed by kvs-images from the fragments a stream serves
//! (as GetMedia would send them now: shifted to the wall clock in live mode, only those
//! already available).
//!
//! Decoding is bounded: at most [`crate::Builder::max_image_jobs`] calls decode at once (each
//! on a blocking thread, holding its slot until the decoding ends, even if the client has
//! gone), at most [`crate::Builder::image_queue`] more wait for a slot, and a call beyond that
//! is answered at once with 400 `ClientLimitExceededException`, the error GetImages documents
//! for calls over the service's limits.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use kvs_images::{
    ImageSelector, ImagesError, ImagesErrorKind, ImagesPage, ImagesRequest, SampleOptions, Timeline,
};
use tokio::sync::OwnedSemaphorePermit;

use super::state::{Shared, StreamState};
use crate::api::{ApiError, ServiceErrorKind, StreamRef, insert_request_id};

/// The namespace the service appends to `x-amzn-ErrorType`.
const ERROR_TYPE_NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazonaws.kinesis.video.v20170930/";

/// `POST /getImages`.
pub(super) async fn get_images(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request_id = shared.request_id();
    let value: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return ApiError::new(
                    ServiceErrorKind::Serialization,
                    format!("Cannot parse the request body: {e}"),
                )
                .into_response(&request_id);
            }
        }
    };
    let wire = match kvs_images::wire::parse_request(&value) {
        Ok(w) => w,
        Err(e) => return images_error(&e, &request_id),
    };
    let stream =
        match shared.resolve(&StreamRef { stream_name: wire.stream_name, stream_arn: wire.stream_arn }) {
            Ok(s) => s,
            Err(e) => return e.into_response(&request_id),
        };
    if let Some(fail) = shared.faults.fail_with
        && fail.first_calls.is_none()
    {
        return ApiError::new(fail.error, format!("Injected {}", fail.error)).into_response(&request_id);
    }
    let permit = match image_slot(&shared).await {
        Ok(p) => p,
        Err(SlotError::Full) => {
            return ApiError::new(
                ServiceErrorKind::ClientLimitExceeded,
                format!(
                    "Too many GetImages calls: {} decoding and {} waiting (the limits of this server); \
                     try again later",
                    shared.image_jobs_max, shared.image_queue
                ),
            )
            .into_response(&request_id);
        }
        Err(SlotError::Closed(e)) => {
            return error_response("InternalFailure", 500, &format!("GetImages failed: {e}"), &request_id);
        }
    };
    let heads = relevant_heads(&stream, shared.elapsed(), &wire.request);
    let answer = decode(permit, heads, wire.request, SampleOptions::default()).await;
    match answer {
        Ok(Ok(page)) => {
            let mut response = Response::new(Body::from(kvs_images::wire::response_body(&page)));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            insert_request_id(response.headers_mut(), &request_id);
            response
        }
        Ok(Err(e)) => images_error(&e, &request_id),
        Err(e) => error_response("InternalFailure", 500, &format!("GetImages failed: {e}"), &request_id),
    }
}

/// Why no decoding slot was had.
#[derive(Debug)]
pub(super) enum SlotError {
    /// Every slot is busy and the queue is full.
    Full,
    /// The slots are gone (cannot happen while the server runs).
    Closed(tokio::sync::AcquireError),
}

/// A decoding slot: at once if one is free, else after waiting in the queue (if the queue has
/// room). The dashboard's thumbnails take their slots here too, within the same limits.
pub(super) async fn image_slot(shared: &Shared) -> Result<OwnedSemaphorePermit, SlotError> {
    if let Ok(p) = Arc::clone(&shared.image_jobs).try_acquire_owned() {
        return Ok(p);
    }
    let queued = shared.image_waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
        (n < shared.image_queue).then(|| n.saturating_add(1))
    });
    if queued.is_err() {
        return Err(SlotError::Full);
    }
    // Counted out when the wait ends, or when the call is dropped (client gone).
    let waiting = Waiting(&shared.image_waiting);
    let acquired = Arc::clone(&shared.image_jobs).acquire_owned().await;
    drop(waiting);
    acquired.map_err(SlotError::Closed)
}

/// Samples `request` from the rendered fragments `heads` on a blocking thread (decoding is
/// CPU work: off the async threads), holding the slot `permit` until the decoding ends.
pub(super) async fn decode(
    permit: OwnedSemaphorePermit,
    heads: Vec<Bytes>,
    request: ImagesRequest,
    options: SampleOptions,
) -> Result<Result<ImagesPage, ImagesError>, tokio::task::JoinError> {
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut timeline = Timeline::new();
        for head in heads {
            for fragment in Timeline::from_bytes(head)?.fragments() {
                timeline.push(fragment.clone());
            }
        }
        timeline.get_images(&request, &options)
    })
    .await
}

/// One call in the GetImages queue, counted out on drop.
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The rendered fragments a request may need: those whose time span meets the request's
/// range (on its clock), and the one before the first of them (for an open GOP's leading
/// pictures).
pub(super) fn relevant_heads(
    stream: &StreamState,
    elapsed: std::time::Duration,
    request: &ImagesRequest,
) -> Vec<Bytes> {
    let available = stream.available(elapsed);
    let fragments = stream.fragments.get(..available).unwrap_or(&[]);
    let start_of = |i: usize| {
        fragments.get(i).map(|f| match request.image_selector {
            ImageSelector::ProducerTimestamp => f.producer_ms,
            ImageSelector::ServerTimestamp => f.server_ms,
        })
    };
    let wanted: Vec<usize> = (0..fragments.len())
        .filter(|&i| {
            let starts_before_end = start_of(i).is_some_and(|s| s <= request.end_ms);
            let next = i.checked_add(1).and_then(start_of);
            starts_before_end && next.is_none_or(|n| n >= request.start_ms)
        })
        .collect();
    let from = wanted.first().map_or(0, |&i| i.saturating_sub(1));
    let to = wanted.last().map_or(0, |&i| i.saturating_add(1));
    if wanted.is_empty() {
        return Vec::new();
    }
    fragments.get(from..to).unwrap_or(&[]).iter().map(|f| f.head.clone()).collect()
}

/// A GetImages error as the service sends it.
fn images_error(e: &ImagesError, request_id: &str) -> Response {
    match e {
        ImagesError::Service { kind, message } => match kind {
            ImagesErrorKind::InvalidArgument => ApiError::invalid(message.clone()).into_response(request_id),
            other => error_response(other.type_name(), other.status(), message, request_id),
        },
        other => error_response("InternalFailure", 500, &other.to_string(), request_id),
    }
}

/// An error answer (as `ApiError` writes them, for the types it does not know).
fn error_response(type_name: &str, status: u16, message: &str, request_id: &str) -> Response {
    crate::api::error_response(type_name, status, message, request_id, ERROR_TYPE_NAMESPACE)
}
