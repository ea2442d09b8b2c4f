//! `POST /getImages`: GetImages computed by kvs-images from the fragments a stream serves
//! (as GetMedia would send them now: shifted to the wall clock in live mode, only those
//! already available).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use kvs_images::{
    ImageSelector, ImagesError, ImagesRequest, SampleOptions, ServiceErrorKind as ImagesErrorKind, Timeline,
};

use super::{Shared, StreamState};
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
    let heads = relevant_heads(&stream, shared.elapsed(), &wire.request);
    let request = wire.request;
    // Decoding is CPU work: off the async threads.
    let answer = tokio::task::spawn_blocking(move || {
        let mut timeline = Timeline::new();
        for head in heads {
            for fragment in Timeline::from_bytes(head)?.fragments() {
                timeline.push(fragment.clone());
            }
        }
        timeline.get_images(&request, &SampleOptions::default())
    })
    .await;
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

/// The rendered fragments a request may need: those whose time span meets the request's
/// range (on its clock), and the one before the first of them (for an open GOP's leading
/// pictures).
fn relevant_heads(stream: &StreamState, elapsed: std::time::Duration, request: &ImagesRequest) -> Vec<Bytes> {
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

/// An error answer: status, `x-amzn-ErrorType`, `x-amz-ErrorType`, the request ids,
/// `{"message": ...}` (as `ApiError` writes them, for the types it does not know).
fn error_response(type_name: &str, status: u16, message: &str, request_id: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&format!("{type_name}:{ERROR_TYPE_NAMESPACE}")) {
        headers.insert("x-amzn-ErrorType", v);
    }
    if let Ok(v) = HeaderValue::from_str(type_name) {
        headers.insert("x-amz-ErrorType", v);
    }
    insert_request_id(headers, request_id);
    response
}
