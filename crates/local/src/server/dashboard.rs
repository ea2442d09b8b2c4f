//! The dashboard: a read-only, unauthenticated HTML page at `GET /` (inline CSS and script,
//! no external assets) showing every served stream (up to [`MAX_STREAMS`]) with its live
//! thumbnail, fragment rate, the lag a live consumer sees and the faults in effect, updated
//! without reloading from server-sent events (`GET /dashboard/events`); the same numbers as
//! JSON at `GET /dashboard/state.json`; each stream's thumbnail at
//! `GET /dashboard/streams/{name}/thumbnail.jpg`; its report (kvs-report's HTML page of the
//! fragments served so far) at `GET /dashboard/streams/{name}/report.html`.
//!
//! - **Fragment rate**: fragments per second over the last [`RATE_WINDOW`]. Live: the
//!   fragments whose (shifted) server timestamp falls in the window ending now, over the time
//!   from the first of them to now (or to the end of the newest one, if later), so a stream
//!   whose clip has ended falls to 0. Not live: the same over the last window of the stream's
//!   own server timeline (the rate it was recorded at).
//! - **Lag**: the `MillisBehindNow` GetMedia would write now after the newest available
//!   fragment (`StartSelectorType=NOW`), from the code GetMedia writes it with.
//! - **Thumbnail**: the image GetImages gives at the start of the newest available fragment
//!   (server timestamp; its keyframe), [`THUMBNAIL_HEIGHT`] pixels high, JPEG. One per source
//!   (names serving clones of one source share it), made at most once per
//!   [`THUMBNAIL_MAX_AGE`] however many viewers ask, each decoding in a slot of
//!   [`crate::Builder::max_image_jobs`] like a GetImages call (when the queue is full the last
//!   image is sent again, or 503 if there is none).
//!
//! The dashboard answers `GET` (and `HEAD`) only, needs no signature even with
//! [`crate::Builder::require_sigv4`], and is off with [`crate::Builder::dashboard`]`(false)`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use kvs_images::{ImageFormat, ImageSelector, ImagesRequest, SampleOptions};
use kvs_report::escape_html as escape;
use serde::Serialize;
use tokio::time::Instant;

use super::body::millis_behind_now;
use super::handlers::unknown_operation;
use super::images::{SlotError, decode, image_slot, relevant_heads};
use super::state::{Shared, StreamState};
use crate::faults::{CutStyle, Faults};
use crate::server::state::UnknownFragment;

/// The most streams the page, the events and `state.json` show (the first, by name).
pub const MAX_STREAMS: usize = 500;
/// The window the fragment rate is measured over.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);
/// A source's thumbnail is made again at most this often.
pub const THUMBNAIL_MAX_AGE: Duration = Duration::from_secs(2);
/// The height of a thumbnail, pixels (the width keeps the aspect ratio).
pub const THUMBNAIL_HEIGHT: i64 = 180;
/// The JPEG quality of a thumbnail.
const THUMBNAIL_QUALITY: u8 = 70;
/// How often `GET /dashboard/events` sends a snapshot.
pub const EVENT_INTERVAL: Duration = Duration::from_secs(1);

/// Adds the dashboard's routes.
pub(super) fn routes(router: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
    router
        .route("/", get(page).fallback(unknown_operation))
        .route("/dashboard/state.json", get(state_json).fallback(unknown_operation))
        .route("/dashboard/events", get(events).fallback(unknown_operation))
        .route("/dashboard/streams/{name}/thumbnail.jpg", get(thumbnail).fallback(unknown_operation))
        .route("/dashboard/streams/{name}/report.html", get(report).fallback(unknown_operation))
}

/// Whether a request is for the dashboard (read-only, so answered without a signature).
pub(super) fn is_dashboard_request(parts: &axum::http::request::Parts) -> bool {
    let path = parts.uri.path();
    (parts.method == Method::GET || parts.method == Method::HEAD)
        && (path == "/" || path.starts_with("/dashboard/"))
}

/// The thumbnails made so far, one per rendered source.
#[derive(Debug, Default)]
pub(crate) struct Thumbnails {
    by_source: Mutex<HashMap<usize, Arc<tokio::sync::Mutex<Option<Thumbnail>>>>>,
}

impl Thumbnails {
    /// The slot of a source (its rendering's address): one decoding at a time per source.
    fn slot(&self, source: usize) -> Arc<tokio::sync::Mutex<Option<Thumbnail>>> {
        let mut map = self.by_source.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(source).or_default())
    }

    /// The fragment index a thumbnail request for a source whose newest fragment is `edge`
    /// gets now: the cached one's while it is fresh (so that the URL changes when the picture
    /// does), else `edge`.
    fn version(&self, source: usize, edge: usize) -> usize {
        let slot = {
            let map = self.by_source.lock().unwrap_or_else(PoisonError::into_inner);
            map.get(&source).cloned()
        };
        let Some(slot) = slot else { return edge };
        let Ok(cached) = slot.try_lock() else { return edge };
        match cached.as_ref() {
            Some(t) if t.made.elapsed() < THUMBNAIL_MAX_AGE && t.edge <= edge => t.edge,
            _ => edge,
        }
    }
}

/// One source's latest thumbnail.
#[derive(Debug, Clone)]
struct Thumbnail {
    /// The index of the fragment it shows.
    edge: usize,
    /// That fragment's number.
    fragment_number: String,
    /// When it was made.
    made: Instant,
    /// The JPEG, or why there is none (GetImages' error and detail).
    image: Result<Bytes, String>,
}

/// The whole state, as `state.json` and each event carry it.
#[derive(Debug, Serialize)]
struct Snapshot {
    /// The server's clock, epoch ms.
    server_time_ms: i64,
    /// Since the server started, ms.
    uptime_ms: u64,
    live: bool,
    sigv4_required: bool,
    streams_total: usize,
    streams_shown: usize,
    rate_window_ms: u64,
    /// What the server does on purpose, in words (the same for every stream).
    faults: Vec<String>,
    streams: Vec<StreamSnapshot>,
}

/// One stream in a [`Snapshot`].
#[derive(Debug, Serialize)]
struct StreamSnapshot {
    name: String,
    arn: String,
    media_type: String,
    fragments_total: usize,
    fragments_available: usize,
    latest_fragment_number: Option<String>,
    latest_server_timestamp_ms: Option<i64>,
    /// Fragments per second over the rate window.
    fragment_rate: f64,
    fragments_in_window: usize,
    /// The lag of a live consumer: GetMedia's MillisBehindNow for the newest fragment, now.
    millis_behind_now: Option<u64>,
    get_media_calls: u64,
    /// The faults in effect on this stream, in words.
    faults: Vec<String>,
    /// The thumbnail, with the newest fragment's index as a cache-busting query.
    thumbnail_url: Option<String>,
    /// The stream's report.
    report_url: String,
}

/// Builds the snapshot now.
fn snapshot(shared: &Shared) -> Snapshot {
    let elapsed = shared.elapsed();
    let now = shared.now_epoch_ms();
    let streams: Vec<StreamSnapshot> = shared
        .names
        .iter()
        .take(MAX_STREAMS)
        .filter_map(|name| shared.streams.get(name))
        .map(|s| stream_snapshot(shared, s, elapsed, now))
        .collect();
    Snapshot {
        server_time_ms: now,
        uptime_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        live: shared.live,
        sigv4_required: shared.sigv4.is_some(),
        streams_total: shared.names.len(),
        streams_shown: streams.len(),
        rate_window_ms: u64::try_from(RATE_WINDOW.as_millis()).unwrap_or(u64::MAX),
        faults: describe_faults(shared, None),
        streams,
    }
}

fn stream_snapshot(shared: &Shared, s: &StreamState, elapsed: Duration, now: i64) -> StreamSnapshot {
    let available = s.available(elapsed);
    let served = s.fragments.get(..available).unwrap_or(&[]);
    let newest = served.last();
    let (fragment_rate, fragments_in_window) = fragment_rate(served, shared.live.then_some(now));
    StreamSnapshot {
        name: s.name.clone(),
        arn: s.arn.clone(),
        media_type: s.media_type().to_owned(),
        fragments_total: s.fragments.len(),
        fragments_available: available,
        latest_fragment_number: newest.map(|f| f.number.as_str().to_owned()),
        latest_server_timestamp_ms: newest.map(|f| f.server_ms),
        fragment_rate,
        fragments_in_window,
        millis_behind_now: newest.map(|f| millis_behind_now(shared, s, f)),
        get_media_calls: s.calls.load(std::sync::atomic::Ordering::Relaxed),
        faults: describe_faults(shared, Some(s)),
        thumbnail_url: available.checked_sub(1).map(|edge| {
            let version = shared.thumbnails.version(Arc::as_ptr(&s.rendered).addr(), edge);
            format!("/dashboard/streams/{}/thumbnail.jpg?v={version}", s.name)
        }),
        report_url: format!("/dashboard/streams/{}/report.html", s.name),
    }
}

/// Fragments per second over [`RATE_WINDOW`] of the fragments served so far (see the module
/// documentation), and how many fell in the window. `now`: live mode's clock.
fn fragment_rate(served: &[super::state::Served], now: Option<i64>) -> (f64, usize) {
    let Some(newest) = served.last() else { return (0.0, 0) };
    let newest_end = newest.server_ms.saturating_add(i64::try_from(newest.duration_ms).unwrap_or(i64::MAX));
    let end = now.map_or(newest_end, |now| now.max(newest_end));
    let window_ms = i64::try_from(RATE_WINDOW.as_millis()).unwrap_or(i64::MAX);
    let start = now.unwrap_or(newest_end).saturating_sub(window_ms);
    let in_window: Vec<i64> = served.iter().rev().map(|f| f.server_ms).take_while(|&t| t > start).collect();
    let Some(&first) = in_window.last() else { return (0.0, 0) };
    let span_ms = end.saturating_sub(first);
    if span_ms <= 0 {
        return (0.0, in_window.len());
    }
    #[allow(clippy::cast_precision_loss)] // counts and spans far below 2^52
    let rate = in_window.len() as f64 * 1000.0 / span_ms as f64;
    (rate, in_window.len())
}

/// The faults in effect, in words: the server's (`stream` `None`) or those of one stream (with
/// its own counts: calls made, fragment numbers).
fn describe_faults(shared: &Shared, stream: Option<&StreamState>) -> Vec<String> {
    let mut out = Vec::new();
    let f: &Faults = &shared.faults;
    let cut_end = match f.cut_style {
        CutStyle::Eof => "the body ends cleanly (early end of stream)",
        CutStyle::Reset => "the connection is dropped (transport error)",
    };
    if let Some(n) = f.cut_after_bytes {
        out.push(format!(
            "every GetMedia/GetMediaForFragmentList response is cut after {n} bytes: {cut_end}"
        ));
    }
    if let Some(seed) = f.cut_random {
        let share = if f.cut_probability >= 1.0 || f.cut_probability.is_nan() {
            "every response".to_owned()
        } else {
            format!("{:.0} % of the responses", f.cut_probability * 100.0)
        };
        out.push(format!("{share} cut at a random point (seed {seed}): {cut_end}"));
    }
    if let Some(stall) = f.stall.filter(|d| !d.is_zero()) {
        let at = match f.stall_after_bytes {
            Some(n) => format!("after {n} bytes"),
            None => "halfway through its first chunk".to_owned(),
        };
        out.push(format!(
            "each response goes silent for {:.1} s once, {at} (the lag of a consumer grows by as much)",
            stall.as_secs_f64()
        ));
    }
    if let Some(rate) = f.throttle_rate {
        out.push(format!(
            "more than {rate} GetMedia calls per second on a stream are refused (ConnectionLimitExceededException)"
        ));
    }
    if let Some(e) = f.error_after_fragment {
        let number = stream
            .and_then(|s| s.fragments.get(e.fragment_index))
            .map(|fr| format!(", number {}", fr.number.as_str()))
            .unwrap_or_default();
        let past_end = stream.is_some_and(|s| e.fragment_index >= s.fragments.len());
        out.push(format!(
            "after fragment {} (0-based{number}) a response sends error chunk {} ({}) and ends{}",
            e.fragment_index,
            e.error_id,
            kvs_mux::getmedia::error_description(e.error_id),
            if past_end { "; this stream has no such fragment: not in effect" } else { "" }
        ));
    }
    if let Some(fail) = f.fail_with {
        let what = format!("{} (HTTP {})", fail.error.type_name(), fail.error.status());
        match (fail.first_calls, stream) {
            (None, _) => out.push(format!("every GetMedia and GetImages call is answered with {what}")),
            (Some(n), None) => {
                out.push(format!("the first {n} GetMedia calls per stream are answered with {what}"))
            }
            (Some(n), Some(s)) => {
                let made = s.calls.load(std::sync::atomic::Ordering::Relaxed);
                let left = n.saturating_sub(made);
                let state = if left > 0 { format!("{left} still to fail") } else { "over".to_owned() };
                out.push(format!(
                    "the first {n} GetMedia calls are answered with {what} ({made} made: {state})"
                ));
            }
        }
    }
    if let Some(fail) = shared.fail_list {
        let what = fail.error.type_name();
        match fail.first_calls {
            None => out.push(format!("every ListFragments call is answered with {what}")),
            Some(n) => {
                let made = shared.list_calls.load(std::sync::atomic::Ordering::Relaxed);
                out.push(format!(
                    "the first {n} ListFragments calls (server-wide) are answered with {what} ({made} made)"
                ));
            }
        }
    }
    if !shared.missing_media.is_empty() {
        let mut list = String::new();
        for (i, k) in shared.missing_media.iter().take(20).enumerate() {
            let sep = if i > 0 { ", " } else { "" };
            let _ = write!(list, "{sep}{k}");
        }
        if shared.missing_media.len() > 20 {
            list.push_str(", ...");
        }
        out.push(format!(
            "GetMediaForFragmentList sends an exception chunk (4000) instead of fragments {list} (0-based), which ListFragments still lists"
        ));
    }
    if let Some(seed) = shared.list_shuffle {
        out.push(format!("ListFragments answers in a shuffled order (seed {seed})"));
    }
    if shared.unknown_fragment == UnknownFragment::InvalidArgument {
        out.push(
            "a GetMedia call naming an unknown fragment is answered 400 InvalidArgumentException".to_owned(),
        );
    }
    out
}

/// A response with a body and a content type, not to be cached.
fn response(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /dashboard/state.json`.
async fn state_json(State(shared): State<Arc<Shared>>) -> Response {
    let body = serde_json::to_string(&snapshot(&shared)).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    response(StatusCode::OK, "application/json", body)
}

/// `GET /dashboard/events`: a snapshot at once and every [`EVENT_INTERVAL`], until the client
/// goes or the server stops.
async fn events(State(shared): State<Arc<Shared>>) -> Response {
    let shutdown = shared.shutdown.clone();
    let stream =
        futures_util::stream::unfold((shared, shutdown, true), |(shared, mut shutdown, first)| async move {
            if *shutdown.borrow() {
                return None;
            }
            if !first {
                tokio::select! {
                    () = tokio::time::sleep(EVENT_INTERVAL) => {}
                    _ = shutdown.changed() => return None,
                }
            }
            let json = serde_json::to_string(&snapshot(&shared)).ok()?;
            let retry = if first { "retry: 2000\n" } else { "" };
            let event = Bytes::from(format!("{retry}event: snapshot\ndata: {json}\n\n"));
            Some((Ok::<_, Infallible>(event), (shared, shutdown, false)))
        });
    let mut r = response(StatusCode::OK, "text/event-stream", Body::from_stream(stream));
    r.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// `GET /dashboard/streams/{name}/thumbnail.jpg`: the newest fragment's image (JPEG), or an SVG
/// saying why there is none.
async fn thumbnail(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let Some(stream) = shared.streams.get(&name).cloned() else {
        return response(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", format!("no stream {name}\n"));
    };
    let elapsed = shared.elapsed();
    let Some(edge) = stream.available(elapsed).checked_sub(1) else {
        return placeholder("no fragment yet", None);
    };
    let slot = shared.thumbnails.slot(Arc::as_ptr(&stream.rendered).addr());
    let mut cached = slot.lock().await;
    if let Some(t) = cached.as_ref()
        && (t.edge == edge || t.made.elapsed() < THUMBNAIL_MAX_AGE)
    {
        return thumbnail_response(t);
    }
    let permit = match image_slot(&shared).await {
        Ok(p) => p,
        Err(SlotError::Full) if let Some(t) = cached.as_ref() => return thumbnail_response(t),
        Err(e) => return slot_refused(e),
    };
    let Some(fragment) = stream.fragments.get(edge) else { return placeholder("no fragment yet", None) };
    let at = fragment.server_ms;
    let request = ImagesRequest::new(ImageSelector::ServerTimestamp, at, at, 1000, ImageFormat::Jpeg)
        .height_pixels(THUMBNAIL_HEIGHT)
        .jpeg_quality(THUMBNAIL_QUALITY)
        .max_results(1);
    let heads = relevant_heads(&stream, elapsed, &request);
    let options = SampleOptions { keyframes_only: true, threads: 1, ..SampleOptions::default() };
    let image = match decode(permit, heads, request, options).await {
        Ok(Ok(page)) => match page.images.into_iter().next() {
            Some(kvs_images::Image { content: Some(jpeg), .. }) => Ok(jpeg),
            Some(kvs_images::Image { error, detail, .. }) => Err(match (error, detail) {
                (Some(e), Some(d)) => format!("{e}: {d}"),
                (Some(e), None) => e.to_string(),
                (None, _) => "no image".to_owned(),
            }),
            None => Err("no image".to_owned()),
        },
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let t =
        Thumbnail { edge, fragment_number: fragment.number.as_str().to_owned(), made: Instant::now(), image };
    let r = thumbnail_response(&t);
    *cached = Some(t);
    r
}

fn thumbnail_response(t: &Thumbnail) -> Response {
    let mut r = match &t.image {
        Ok(jpeg) => response(StatusCode::OK, "image/jpeg", jpeg.clone()),
        Err(why) => placeholder(why, Some(&t.fragment_number)),
    };
    if let Ok(v) = HeaderValue::from_str(&t.fragment_number) {
        r.headers_mut().insert("x-kvs-fragment-number", v);
    }
    r
}

/// The answer when no decoding slot is to be had: 503 with Retry-After when they are all busy
/// and the queue is full, 500 if they are gone.
fn slot_refused(e: SlotError) -> Response {
    match e {
        SlotError::Full => {
            let mut r = response(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                "every image decoding slot is busy and the queue is full; try again\n",
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            r
        }
        SlotError::Closed(e) => {
            response(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", format!("{e}\n"))
        }
    }
}

/// A 200 SVG picture saying why there is no thumbnail (an `<img>` shows it; no console error).
fn placeholder(why: &str, fragment_number: Option<&str>) -> Response {
    // The error's name on one line, the detail below it (the whole text as the title).
    let (kind, detail) = why.split_once(": ").unwrap_or((why, ""));
    let (title, kind, detail) = (escape(why), escape(kind), escape(detail));
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"320\" height=\"{THUMBNAIL_HEIGHT}\" viewBox=\"0 0 320 \
         {THUMBNAIL_HEIGHT}\"><title>{title}</title><rect width=\"100%\" height=\"100%\" fill=\"#333\"/>\
         <text x=\"160\" y=\"80\" fill=\"#ddd\" font-family=\"sans-serif\" font-size=\"14\" \
         text-anchor=\"middle\">no image: {kind}</text><text x=\"160\" y=\"102\" fill=\"#aaa\" \
         font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"middle\">{detail}</text></svg>"
    );
    let mut r = response(StatusCode::OK, "image/svg+xml", svg);
    r.headers_mut().insert("x-kvs-thumbnail", HeaderValue::from_static("none"));
    if let Some(v) = fragment_number.and_then(|n| HeaderValue::from_str(n).ok()) {
        r.headers_mut().insert("x-kvs-fragment-number", v);
    }
    r
}

/// `GET /dashboard/streams/{name}/report.html`: kvs-report's page of the fragments the stream
/// serves now (live: those available), read from the bytes GetMedia `EARLIEST` would send (no
/// fault applied) through kvs-chunk's events. Its thumbnails are decoded in a GetImages slot.
async fn report(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let Some(stream) = shared.streams.get(&name).cloned() else {
        return response(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", format!("no stream {name}\n"));
    };
    let available = stream.available(shared.elapsed());
    let mut pieces = Vec::with_capacity(available.saturating_mul(2));
    for f in stream.fragments.get(..available).unwrap_or(&[]) {
        let end = kvs_mux::getmedia::fragment_end(millis_behind_now(&shared, &stream, f), f.number.as_str());
        match end {
            Ok(end) => pieces.extend([f.head.clone(), Bytes::from(end)]),
            Err(e) => {
                return response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("{e}\n"),
                );
            }
        }
    }
    let permit = match image_slot(&shared).await {
        Ok(p) => p,
        Err(e) => return slot_refused(e),
    };
    let title = format!("stream {name} ({available} fragments served so far)");
    let html = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut report = kvs_report::Report::new(kvs_report::ReportOptions {
            title,
            ..kvs_report::ReportOptions::default()
        });
        let mut decoder = kvs_chunk::EventDecoder::new();
        let mut failed = None;
        let mut drain = |decoder: &mut kvs_chunk::EventDecoder, report: &mut kvs_report::Report| loop {
            match decoder.next_event() {
                Ok(Some(event)) => {
                    report.push(event);
                }
                Ok(None) => return true,
                Err(e) => {
                    failed = Some(e.to_string());
                    return false;
                }
            }
        };
        let mut ok = true;
        for piece in pieces {
            decoder.feed(piece);
            ok = drain(&mut decoder, &mut report);
            if !ok {
                break;
            }
        }
        if ok {
            decoder.finish();
            drain(&mut decoder, &mut report);
        }
        let (mut builder, totals) = report.finish();
        if let Some(e) = failed {
            builder.note(format!("reading stopped: {e}"));
        }
        builder.html(&totals)
    })
    .await;
    match html {
        Ok(html) => response(StatusCode::OK, "text/html; charset=utf-8", html),
        Err(e) => response(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", format!("{e}\n")),
    }
}

/// `GET /`: the page, with the current snapshot filled in (readable without the script).
async fn page(State(shared): State<Arc<Shared>>) -> Response {
    response(StatusCode::OK, "text/html; charset=utf-8", render_page(&snapshot(&shared)))
}

fn render_page(s: &Snapshot) -> String {
    let mut cards = String::new();
    for st in &s.streams {
        let name = escape(&st.name);
        let thumb = st.thumbnail_url.as_deref().map(escape).unwrap_or_default();
        let mut faults = String::new();
        for f in &st.faults {
            let _ = write!(faults, "<li>{}</li>", escape(f));
        }
        if st.faults.is_empty() {
            faults.push_str("<li class=\"none\">none</li>");
        }
        let lag = st.millis_behind_now.map_or_else(|| "&ndash;".to_owned(), |m| format!("{m} ms"));
        let _ = write!(
            cards,
            "<article class=\"stream\" id=\"s-{name}\" data-name=\"{name}\">\
             <img class=\"thumb\" src=\"{thumb}\" alt=\"latest image of {name}\" height=\"{THUMBNAIL_HEIGHT}\" loading=\"lazy\">\
             <h2>{name}</h2><p class=\"type\">{media}</p>\
             <dl><dt>fragment rate</dt><dd class=\"rate\">{rate:.2} /s</dd>\
             <dt>lag (MillisBehindNow)</dt><dd class=\"lag\">{lag}</dd>\
             <dt>fragments</dt><dd class=\"fragments\">{avail} of {total}</dd>\
             <dt>newest</dt><dd class=\"newest\">{newest}</dd>\
             <dt>GetMedia calls</dt><dd class=\"calls\">{calls}</dd></dl>\
             <h3>faults in effect</h3><ul class=\"faults\">{faults}</ul>\
             <p><a class=\"report\" href=\"{report}\">report of the fragments so far</a></p></article>",
            report = escape(&st.report_url),
            media = escape(&st.media_type),
            rate = st.fragment_rate,
            avail = st.fragments_available,
            total = st.fragments_total,
            newest = escape(st.latest_fragment_number.as_deref().unwrap_or("-")),
            calls = st.get_media_calls,
        );
    }
    let more = if s.streams_total > s.streams_shown {
        format!(
            "<p class=\"more\">Showing the first {} of {} streams (by name).</p>",
            s.streams_shown, s.streams_total
        )
    } else {
        String::new()
    };
    let mode = if s.live { "live" } else { "not live (every fragment available at once)" };
    PAGE.replace("{{MODE}}", mode)
        .replace("{{COUNT}}", &s.streams_total.to_string())
        .replace("{{MORE}}", &more)
        .replace("{{CARDS}}", &cards)
        .replace("{{INTERVAL}}", &EVENT_INTERVAL.as_millis().to_string())
}

/// The page: inline CSS and script only.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kvs-local dashboard</title>
<link rel="icon" href="data:,">
<style>
body{font-family:system-ui,sans-serif;margin:1rem 2rem;background:#f6f6f4;color:#222}
header p{margin:.2rem 0;color:#555}
#streams{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1rem;margin-top:1rem}
.stream{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8rem}
.stream h2{font-size:1.1rem;margin:.4rem 0 0;word-break:break-all}
.stream .type{margin:0;color:#777;font-size:.85rem}
.thumb{display:block;max-width:100%;height:180px;object-fit:contain;background:#222}
dl{display:grid;grid-template-columns:auto 1fr;gap:.1rem .8rem;margin:.5rem 0;font-size:.9rem}
dt{color:#666}dd{margin:0;font-variant-numeric:tabular-nums;word-break:break-all}
h3{font-size:.9rem;margin:.5rem 0 .2rem}
.faults{margin:0;padding-left:1.2rem;font-size:.85rem;color:#a33}.faults .none{color:#383;list-style:none;margin-left:-1.2rem}
#status.stale{color:#a33}
</style></head>
<body>
<header><h1>kvs-local dashboard</h1>
<p>{{COUNT}} stream(s), {{MODE}}. Read-only; updated every {{INTERVAL}} ms without reloading (<a href="/dashboard/state.json">state.json</a>).</p>
<p id="status">updated at load</p>{{MORE}}</header>
<main id="streams">{{CARDS}}</main>
<script>
"use strict";
const lastSwap = new Map();
function setText(card, cls, text) {
  const el = card.querySelector("." + cls);
  if (el && el.textContent !== text) el.textContent = text;
}
function apply(s) {
  for (const st of s.streams) {
    const card = document.getElementById("s-" + st.name);
    if (!card) continue;
    setText(card, "rate", st.fragment_rate.toFixed(2) + " /s");
    setText(card, "lag", st.millis_behind_now === null ? "\u2013" : st.millis_behind_now + " ms");
    setText(card, "fragments", st.fragments_available + " of " + st.fragments_total);
    setText(card, "newest", st.latest_fragment_number || "-");
    setText(card, "calls", String(st.get_media_calls));
    const ul = card.querySelector(".faults");
    const items = st.faults.length ? st.faults : ["none"];
    if (ul.dataset.text !== items.join("\n")) {
      ul.dataset.text = items.join("\n");
      ul.replaceChildren(...items.map(f => {
        const li = document.createElement("li");
        li.textContent = f;
        if (!st.faults.length) li.className = "none";
        return li;
      }));
    }
    const img = card.querySelector("img.thumb");
    const url = st.thumbnail_url;
    const now = Date.now();
    // Only the pictures on screen (or nearly) are fetched again.
    const box = img.getBoundingClientRect();
    const near = box.bottom > -300 && box.top < window.innerHeight + 300;
    if (url && near && img.getAttribute("src") !== url && now - (lastSwap.get(st.name) || 0) >= 2000) {
      lastSwap.set(st.name, now);
      const next = new Image();
      next.onload = () => { img.src = url; };
      next.src = url;
    }
  }
  const status = document.getElementById("status");
  status.className = "";
  status.textContent = "updated " + new Date(s.server_time_ms).toISOString() + " (server uptime " + (s.uptime_ms / 1000).toFixed(1) + " s)";
}
function poll() {
  fetch("/dashboard/state.json").then(r => r.json()).then(apply)
    .catch(() => { document.getElementById("status").className = "stale"; })
    .finally(() => setTimeout(poll, {{INTERVAL}}));
}
if (window.EventSource) {
  const events = new EventSource("/dashboard/events");
  events.addEventListener("snapshot", e => apply(JSON.parse(e.data)));
  events.onerror = () => { document.getElementById("status").className = "stale"; };
} else {
  poll();
}
</script>
</body></html>
"#;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::float_cmp)]
mod tests {
    use super::*;
    use crate::server::state::Served;

    /// Fragments starting at these server times (ms), 1 s long each.
    fn served(starts: &[i64]) -> Vec<Served> {
        starts
            .iter()
            .map(|&t| Served {
                number: kvs_chunk::FragmentNumber::new("1"),
                server_ms: t,
                producer_ms: t,
                head: Bytes::new(),
                tags: 0..0,
                duration_ms: 1000,
                available_after: Duration::ZERO,
            })
            .collect()
    }

    #[test]
    fn fragment_rate_over_the_window() {
        // Not live: the recorded rate (2.5/s: 400 ms apart; the last one counts to its end).
        let mut recorded = served(&[0, 400, 800, 1200, 1600]);
        for f in &mut recorded {
            f.duration_ms = 400;
        }
        assert_eq!(fragment_rate(&recorded, None), (2.5, 5));
        // Live, a fragment a second: 1/s while they come, counted over the last 10 s only.
        let live = served(&(0..30).map(|k| k * 1000).collect::<Vec<_>>());
        assert_eq!(fragment_rate(&live[..4], Some(3500)), (1.0, 4));
        assert_eq!(fragment_rate(&live, Some(29_500)), (1.0, 10));
        // The clip ended at 30 s: the rate falls (4 in the 9 s from the first of them to now),
        // then is 0 once the window is past it.
        let (rate, n) = fragment_rate(&live, Some(35_000));
        assert!((rate - 4.0 / 9.0).abs() < 1e-9 && n == 4, "{rate} {n}");
        assert_eq!(fragment_rate(&live, Some(40_000)), (0.0, 0));
        assert_eq!(fragment_rate(&[], Some(1)), (0.0, 0));
    }

    #[test]
    fn escape_quotes_markup() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
