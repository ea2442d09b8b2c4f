//! The dashboard (`GET /`, `/dashboard/state.json`, `/dashboard/events`, thumbnails) over raw
//! HTTP: every stream listed, the numbers of a live stream (fragment rate, lag), the faults in
//! words, server-sent events arriving, thumbnails that are JPEGs of the newest fragment and
//! change as a live stream plays, and no signature needed in `require_sigv4` mode.
// Tests may panic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use kvs_chunk::FragmentNumber;
use kvs_local::{ErrorAfterFragment, FailWith, Faults, LocalKvs, ServiceErrorKind, SigV4Credentials, Source};
use serde_json::Value;

/// testdata/images/h264.mkv (4 one-second fragments of testsrc2, a keyframe each) played
/// `times` times in a row: one fragment a second, each picture different from the one before.
fn looped_h264(times: usize) -> Source {
    let one = Source::file(common::testdata("images/h264.mkv")).unwrap();
    let frs = one.fragments();
    let step = frs[1].server_timestamp_ms - frs[0].server_timestamp_ms;
    let span = step * frs.len() as i64;
    let mut out = Vec::new();
    for k in 0..times {
        for f in frs {
            let mut g = f.clone();
            let shift = span * k as i64;
            g.server_timestamp_ms += shift;
            g.producer_timestamp_ms += shift;
            g.cluster_timestamp += u64::try_from(shift * 1_000_000).unwrap() / g.timestamp_scale;
            for frame in &mut g.frames {
                frame.timestamp_ns += shift * 1_000_000;
            }
            g.fragment_number =
                FragmentNumber::new(kvs_local::source::synthesized(out.len() as u64).unwrap());
            out.push(g);
        }
    }
    Source::from_fragments(out).unwrap()
}

/// One HTTP/1.1 request; (status, headers in lower case, body bytes).
async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let (method, path) = (method.to_owned(), path.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: local\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let rest = &raw[split + 4..];
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v == "chunked");
        let body = if chunked { dechunk(rest) } else { rest.to_vec() };
        (status, headers, body)
    })
    .await
    .unwrap()
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    request(addr, "GET", path).await
}

fn dechunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = s.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&s[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&s[eol + 2..eol + 2 + n]);
        s = &s[eol + 2 + n + 2..];
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn state(addr: SocketAddr) -> Value {
    let (status, headers, body) = get(addr, "/dashboard/state.json").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    serde_json::from_slice(&body).unwrap()
}

fn stream<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["streams"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_lists_every_stream_with_no_external_asset() {
    let sample = common::sample_source(&common::sample_spec());
    let server = LocalKvs::builder()
        .stream("cam-b", sample.clone())
        .stream("cam-a", sample)
        .stream("clip", looped_h264(1))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    assert_eq!(server.dashboard_url().unwrap(), format!("{}/", server.url()));
    let (status, headers, body) = get(server.local_addr(), "/").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(body).unwrap();
    for name in ["cam-a", "cam-b", "clip"] {
        assert!(html.contains(&format!("id=\"s-{name}\"")), "{name} missing");
        assert!(html.contains(&format!("src=\"/dashboard/streams/{name}/thumbnail.jpg?v=")), "{name}");
    }
    assert!(html.find("s-cam-a").unwrap() < html.find("s-cam-b").unwrap(), "sorted by name");
    assert!(html.contains("href=\"/dashboard/streams/clip/report.html\""));
    assert!(html.contains("3 stream(s), not live"));
    assert!(html.contains("new EventSource(\"/dashboard/events\")"));
    // Self-contained: nothing loaded from elsewhere.
    for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "url(http"] {
        assert!(!html.contains(external), "{external}");
    }
    // The API is unchanged: POST / is still an unknown operation, and so is a GET elsewhere.
    let (status, headers, _) = request(server.local_addr(), "POST", "/").await;
    assert_eq!(status, 404);
    assert!(header(&headers, "x-amzn-errortype").unwrap().starts_with("UnknownOperationException"));
    let (status, _, _) = get(server.local_addr(), "/dashboard/nothing").await;
    assert_eq!(status, 404);
    let (status, _, _) = get(server.local_addr(), "/dashboard/streams/nope/thumbnail.jpg").await;
    assert_eq!(status, 404);

    // Each stream's report: kvs-report's page, one mark per fragment served.
    let (status, headers, body) = get(server.local_addr(), "/dashboard/streams/clip/report.html").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
    let report = String::from_utf8(body).unwrap();
    assert_eq!(report.matches("data-fragment=").count(), 4);
    assert!(report.contains("stream clip (4 fragments served so far)"));
    let (_, _, body) = get(server.local_addr(), "/dashboard/streams/cam-a/report.html").await;
    assert_eq!(String::from_utf8(body).unwrap().matches("data-fragment=").count(), 5);
    let (status, _, _) = get(server.local_addr(), "/dashboard/streams/nope/report.html").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_off_leaves_get_root_an_unknown_operation() {
    let server = LocalKvs::builder()
        .stream("cam", common::sample_source(&common::sample_spec()))
        .dashboard(false)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    assert_eq!(server.dashboard_url(), None);
    for path in ["/", "/dashboard/state.json", "/dashboard/events", "/dashboard/streams/cam/thumbnail.jpg"] {
        let (status, headers, _) = get(server.local_addr(), path).await;
        assert_eq!(status, 404, "{path}");
        assert!(header(&headers, "x-amzn-errortype").unwrap().starts_with("UnknownOperationException"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_numbers_follow_the_stream() {
    let server =
        LocalKvs::builder().stream("cam", looped_h264(3)).live(true).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let s = state(addr).await;
    assert_eq!(s["live"], true);
    assert_eq!(s["streams_total"], 1);
    assert_eq!(s["rate_window_ms"], 10_000);
    let cam = stream(&s, "cam");
    // A fragment a second from the start: at 3.5 s (later on a busy machine) 4 of 12.
    let uptime = s["uptime_ms"].as_u64().unwrap();
    let available = (uptime / 1000 + 1).min(12);
    assert!(available >= 4);
    assert_eq!(cam["fragments_total"], 12);
    assert_eq!(cam["fragments_available"], available, "{cam} at {uptime} ms");
    let rate = cam["fragment_rate"].as_f64().unwrap();
    assert!((0.8..=1.25).contains(&rate), "one fragment a second, got {rate}");
    // The lag a live consumer sees: the time since the newest fragment's server timestamp
    // (0.5 s at 3.5 s), as GetMedia's MillisBehindNow.
    let lag = cam["millis_behind_now"].as_u64().unwrap();
    let expected = uptime - (available - 1) * 1000;
    assert!(lag >= expected && lag <= expected + 50, "lag {lag}, {expected} expected");
    let fragments = server.fragments("cam").unwrap();
    let newest = &fragments[usize::try_from(available).unwrap() - 1];
    assert_eq!(cam["latest_fragment_number"], newest.fragment_number.as_str());
    assert_eq!(cam["latest_server_timestamp_ms"], newest.server_timestamp_ms);
    assert_eq!(cam["thumbnail_url"], format!("/dashboard/streams/cam/thumbnail.jpg?v={}", available - 1));
    assert_eq!(cam["faults"], serde_json::json!([]));
    assert_eq!(cam["media_type"], "video/h264");

    // Against what a live consumer gets: GetMedia NOW's MillisBehindNow is within the time
    // between the two reads of the same figure.
    let client = common::media_client(server.url());
    let before = Instant::now();
    let out = client
        .get_media()
        .stream_name("cam")
        .start_selector(common::selector(aws_sdk_kinesisvideomedia::types::StartSelectorType::Now))
        .send()
        .await
        .unwrap();
    let mut payload = out.payload;
    let mut bytes = Vec::new();
    while let Some(chunk) = payload.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
        let frs = common::fragments_lossy(&bytes::Bytes::from(bytes.clone()));
        if let Some(first) = frs.iter().find(|f| f.end.millis_behind_now.is_some()) {
            let behind = first.end.millis_behind_now.unwrap() as i64;
            let s2 = state(addr).await;
            let cam2 = stream(&s2, "cam");
            if cam2["latest_fragment_number"] == first.fragment_number().unwrap().as_str() {
                let lag2 = cam2["millis_behind_now"].as_i64().unwrap();
                let slack = before.elapsed().as_millis() as i64 + 50;
                assert!((lag2 - behind).abs() <= slack, "GetMedia said {behind}, the dashboard {lag2}");
            }
            break;
        }
    }

    // Non-live: the recorded rate (the sample's fragments are 400 ms apart: 2.5/s), lag 0
    // at the newest fragment.
    let server = LocalKvs::builder()
        .stream("cam", common::sample_source(&common::sample_spec()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let s = state(server.local_addr()).await;
    let cam = stream(&s, "cam");
    assert_eq!(s["live"], false);
    assert_eq!(cam["fragments_available"], 5);
    assert!((cam["fragment_rate"].as_f64().unwrap() - 2.5).abs() < 0.01, "{cam}");
    assert_eq!(cam["millis_behind_now"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_described_in_words() {
    let faults = Faults {
        throttle_rate: Some(5),
        fail_with: Some(FailWith { error: ServiceErrorKind::ClientLimitExceeded, first_calls: Some(2) }),
        error_after_fragment: Some(ErrorAfterFragment { fragment_index: 3, error_id: 4000 }),
        cut_after_bytes: Some(5000),
        stall: Some(Duration::from_millis(1500)),
        ..Faults::default()
    };
    let server = LocalKvs::builder()
        .stream("cam", common::sample_source(&common::sample_spec()))
        .faults(faults)
        .missing_media([1, 2])
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let s = state(addr).await;
    let words =
        |v: &Value| v.as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let server_faults = words(&s["faults"]);
    let cam = words(&stream(&s, "cam")["faults"]);
    let number3 = server.fragments("cam").unwrap()[3].fragment_number.as_str().to_owned();
    for expected in [
        "more than 5 GetMedia calls per second on a stream are refused (ConnectionLimitExceededException)".to_owned(),
        "the first 2 GetMedia calls are answered with ClientLimitExceededException (HTTP 400) (0 made: 2 still to fail)"
            .to_owned(),
        format!(
            "after fragment 3 (0-based, number {number3}) a response sends error chunk 4000 (Requested fragment is not found) and ends"
        ),
        "every GetMedia/GetMediaForFragmentList response is cut after 5000 bytes: the body ends cleanly (early end of stream)"
            .to_owned(),
        "each response goes silent for 1.5 s once, halfway through its first chunk (the lag of a consumer grows by as much)"
            .to_owned(),
        "GetMediaForFragmentList sends an exception chunk (4000) instead of fragments 1, 2 (0-based), which ListFragments still lists"
            .to_owned(),
    ] {
        assert!(cam.contains(&expected), "{expected:?} not in {cam:#?}");
    }
    assert!(server_faults.iter().any(|f| f == "the first 2 GetMedia calls per stream are answered with ClientLimitExceededException (HTTP 400)"));
    // The per-stream count follows the calls.
    let client = common::media_client(server.url());
    for _ in 0..2 {
        let r = client
            .get_media()
            .stream_name("cam")
            .start_selector(common::selector(aws_sdk_kinesisvideomedia::types::StartSelectorType::Earliest))
            .send()
            .await;
        assert!(r.is_err());
    }
    let s = state(addr).await;
    let cam = stream(&s, "cam");
    assert_eq!(cam["get_media_calls"], 2);
    assert!(words(&cam["faults"]).iter().any(|f| f.ends_with("(2 made: over)")), "{cam}");
    // And the page shows them.
    let (_, _, html) = get(addr, "/").await;
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("more than 5 GetMedia calls per second on a stream are refused"));
}

/// The events of an event stream read so far: (event name, data).
fn parse_events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|block| block.contains("data: "))
        .map(|block| {
            let event = block.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("message").to_owned();
            let data = block.lines().filter_map(|l| l.strip_prefix("data: ")).collect::<Vec<_>>().join("\n");
            (event, data)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_deliver_snapshots() {
    let server =
        LocalKvs::builder().stream("cam", looped_h264(2)).live(true).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let (head, events) = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET /dashboard/events HTTP/1.1\r\nHost: local\r\nAccept: text/event-stream\r\n\r\n")
            .unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 65536];
        let started = Instant::now();
        loop {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "the event stream ended");
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                // Chunk sizes sit between the events; the events are whole within a chunk.
                let events = parse_events(body);
                if events.len() >= 3 {
                    return (head.to_owned(), events);
                }
            }
            assert!(started.elapsed() < Duration::from_secs(8), "3 events within 8 s");
        }
    })
    .await
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{head}");
    let snapshots: Vec<Value> = events
        .iter()
        .map(|(event, data)| {
            assert_eq!(event, "snapshot");
            serde_json::from_str(data).unwrap()
        })
        .collect();
    let uptimes: Vec<u64> = snapshots.iter().map(|s| s["uptime_ms"].as_u64().unwrap()).collect();
    assert!(uptimes.windows(2).all(|w| w[1] >= w[0] + 800), "about a second apart: {uptimes:?}");
    for s in &snapshots {
        assert_eq!(stream(s, "cam")["fragments_total"], 8);
    }
    // The server stops even with an event stream open.
    let stopped = Instant::now();
    server.shutdown().await;
    assert!(stopped.elapsed() < Duration::from_secs(3), "{:?}", stopped.elapsed());
}

/// The width and height of a baseline or progressive JPEG (its SOF marker).
fn jpeg_size(jpeg: &[u8]) -> (u32, u32) {
    assert_eq!(&jpeg[..2], b"\xFF\xD8", "not a JPEG");
    let sof = jpeg.windows(2).position(|w| w[0] == 0xFF && (w[1] == 0xC0 || w[1] == 0xC2)).unwrap();
    let h = u32::from(u16::from_be_bytes([jpeg[sof + 5], jpeg[sof + 6]]));
    let w = u32::from(u16::from_be_bytes([jpeg[sof + 7], jpeg[sof + 8]]));
    (w, h)
}

/// The mean absolute difference of two pictures' luma, 0..255.
fn luma_difference(a: &[u8], b: &[u8]) -> f64 {
    let a = image::load_from_memory(a).unwrap().to_luma8();
    let b = image::load_from_memory(b).unwrap().to_luma8();
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a.pixels().zip(b.pixels()).map(|(x, y)| u64::from(x.0[0].abs_diff(y.0[0]))).sum();
    sum as f64 / f64::from(a.width() * a.height())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbnails_are_jpegs_of_the_newest_fragment_and_change_as_it_plays() {
    let server = LocalKvs::builder()
        .stream("cam", looped_h264(2))
        .stream("cam2", looped_h264(1))
        .stream("mic", Source::file(common::testdata("images/audio_only.mkv")).unwrap())
        .live(true)
        .max_image_jobs(1)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let fragments = server.fragments("cam").unwrap();
    let (status, headers, first) = get(addr, "/dashboard/streams/cam/thumbnail.jpg?v=0").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("image/jpeg"));
    assert_eq!(jpeg_size(&first), (240, 180), "testsrc2 is 320x240: 180 high keeps 4:3");
    assert_eq!(header(&headers, "x-kvs-fragment-number"), Some(fragments[0].fragment_number.as_str()));
    // Asked again at once: the same image, from the cache.
    let (_, _, again) = get(addr, "/dashboard/streams/cam/thumbnail.jpg").await;
    assert_eq!(again, first);

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let (status, headers, later) = get(addr, "/dashboard/streams/cam/thumbnail.jpg?v=2").await;
    assert_eq!(status, 200);
    // The newest fragment: the third (the fourth or later on a busy machine).
    let number = header(&headers, "x-kvs-fragment-number").unwrap();
    let shown = fragments.iter().position(|f| f.fragment_number.as_str() == number).unwrap();
    assert!(shown >= 2, "fragment {shown}");
    let diff = luma_difference(&first, &later);
    assert!(diff > 2.0, "the picture two seconds later differs (mean luma difference {diff:.2})");

    // The same picture as GetImages answers at that time, at that size.
    let (w, h) = jpeg_size(&later);
    let ts = fragments[shown].server_timestamp_ms as f64 / 1000.0;
    let images = aws_sdk_kinesisvideoarchivedmedia::Client::from_conf(
        aws_sdk_kinesisvideoarchivedmedia::Config::builder()
            .behavior_version(aws_sdk_kinesisvideoarchivedmedia::config::BehaviorVersion::latest())
            .region(aws_sdk_kinesisvideoarchivedmedia::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_kinesisvideoarchivedmedia::config::Credentials::from_keys(
                "A", "s", None,
            ))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .endpoint_url(server.url())
            .build(),
    );
    let page = images
        .get_images()
        .stream_name("cam")
        .image_selector_type(aws_sdk_kinesisvideoarchivedmedia::types::ImageSelectorType::ServerTimestamp)
        .start_timestamp(aws_sdk_kinesisvideoarchivedmedia::primitives::DateTime::from_secs_f64(ts))
        .end_timestamp(aws_sdk_kinesisvideoarchivedmedia::primitives::DateTime::from_secs_f64(ts))
        .sampling_interval(1000)
        .format(aws_sdk_kinesisvideoarchivedmedia::types::Format::Jpeg)
        .height_pixels(i32::try_from(h).unwrap())
        .send()
        .await
        .unwrap();
    let content = page.images()[0].image_content().unwrap();
    let from_get_images = kvs_testkit::oracle::base64_decode(content);
    assert_eq!(jpeg_size(&from_get_images), (w, h));
    let diff = luma_difference(&from_get_images, &later);
    assert!(diff < 4.0, "the thumbnail is GetImages' picture (mean luma difference {diff:.2})");

    // No picture to show (audio only): an SVG saying why, not an error.
    let (status, headers, body) = get(addr, "/dashboard/streams/mic/thumbnail.jpg").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("image/svg+xml"));
    assert_eq!(header(&headers, "x-kvs-thumbnail"), Some("none"));
    assert!(String::from_utf8(body).unwrap().contains("MEDIA_ERROR"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_mode_still_serves_the_dashboard() {
    let server = LocalKvs::builder()
        .stream("cam", looped_h264(1))
        .require_sigv4(SigV4Credentials::new("AKIDDASH", "dash-secret").unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (status, _, html) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(html).unwrap().contains("id=\"s-cam\""));
    let s = state(addr).await;
    assert_eq!(s["sigv4_required"], true);
    let (status, headers, _) = get(addr, "/dashboard/streams/cam/thumbnail.jpg").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("image/jpeg"));
    // The API still needs a signature, even at the dashboard's paths with another method.
    let (status, headers, _) = request(addr, "POST", "/listStreams").await;
    assert_eq!(status, 403);
    assert!(header(&headers, "x-amzn-errortype").unwrap().starts_with("MissingAuthenticationTokenException"));
    let (status, _, _) = request(addr, "POST", "/dashboard/state.json").await;
    assert_eq!(status, 403);
}

/// In the page: the `<img>` of a stream's thumbnail once loaded, as its `src` and its luma
/// averaged over an 8x6 grid (drawn on a canvas: the image is same-origin).
const READ_THUMB: &str = r#"new Promise((resolve, reject) => {
  const started = Date.now();
  (function check() {
    const img = document.querySelector('#s-cam img.thumb');
    if (img && img.complete && img.naturalWidth > 0) {
      const c = document.createElement('canvas');
      c.width = 8; c.height = 6;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0, 8, 6);
      const d = g.getImageData(0, 0, 8, 6).data;
      const luma = [];
      for (let i = 0; i < d.length; i += 4) luma.push(Math.round(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]));
      resolve({src: img.getAttribute('src'), width: img.naturalWidth, height: img.naturalHeight, luma});
    } else if (Date.now() - started > 10000) {
      reject(new Error('the thumbnail did not load'));
    } else {
      setTimeout(check, 100);
    }
  })();
})"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_shows_the_live_dashboard_and_its_thumbnail_changes() {
    // Started here, on the test's thread (a missing chromium is recorded against this test).
    let Some(mut browser) = kvs_testkit::browser::Browser::start() else { return };
    let server = LocalKvs::builder()
        .stream("cam", looped_h264(5))
        .stream("mic", Source::file(common::testdata("images/audio_only.mkv")).unwrap())
        .faults(Faults { throttle_rate: Some(5), ..Faults::default() })
        .live(true)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = server.dashboard_url().unwrap();
    let origin = server.url().to_owned();
    let result = tokio::task::spawn_blocking(move || {
        use kvs_testkit::browser::png_is_not_blank;
        let mut page = browser.open(&url).unwrap();
        assert_eq!(page.count("article.stream").unwrap(), 2);
        // The events arrive: the status line shows the server's time.
        let started = Instant::now();
        loop {
            let status = page.eval("document.getElementById('status').textContent").unwrap();
            if status.as_str().unwrap().starts_with("updated 20") {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no event applied: {status}");
            std::thread::sleep(Duration::from_millis(200));
        }
        let faults = page.eval("document.querySelector('#s-cam .faults').textContent").unwrap();
        assert!(faults.as_str().unwrap().contains("more than 5 GetMedia calls per second"), "{faults}");
        let rate = page.eval("document.querySelector('#s-cam .rate').textContent").unwrap();
        assert!(rate.as_str().unwrap().ends_with(" /s"), "{rate}");

        let first = page.eval(READ_THUMB).unwrap();
        assert_eq!((first["width"].as_u64(), first["height"].as_u64()), (Some(240), Some(180)));
        // A few seconds of play: new fragments, a new thumbnail URL, another picture.
        let mut later = first.clone();
        let started = Instant::now();
        while later["src"] == first["src"] {
            assert!(started.elapsed() < Duration::from_secs(10), "the thumbnail was never replaced");
            std::thread::sleep(Duration::from_millis(500));
            later = page.eval(READ_THUMB).unwrap();
        }
        let a: Vec<f64> = first["luma"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let b: Vec<f64> = later["luma"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64;
        assert_ne!(first["src"], later["src"]);
        assert!(
            diff > 1.0,
            "the picture changed: {} -> {}, mean luma difference {diff:.2}",
            first["src"],
            later["src"]
        );

        page.set_viewport(880, 640).unwrap();
        let png = page.screenshot().unwrap();
        assert!(png_is_not_blank(&png, 16).unwrap(), "the screenshot is blank");
        let requests = page.requests().to_vec();
        assert!(requests.iter().all(|u| u.starts_with(&origin) || u.starts_with("data:")), "{requests:?}");
        let errors = page.errors();

        // The stream's report, by its link: one mark per fragment served when it was made.
        let link = page.eval("document.querySelector('#s-cam a.report').href").unwrap();
        let link = link.as_str().unwrap().to_owned();
        assert_eq!(link, format!("{origin}/dashboard/streams/cam/report.html"));
        page.navigate(&link).unwrap();
        let title = page.eval("document.title").unwrap();
        let served: u64 = title
            .as_str()
            .unwrap()
            .split_once("stream cam (")
            .and_then(|(_, rest)| rest.split_once(' '))
            .map(|(n, _)| n.parse().unwrap())
            .unwrap_or_else(|| panic!("{title}"));
        assert!(served >= 4, "{title}");
        assert_eq!(page.count("[data-fragment]").unwrap(), served);
        assert_eq!(page.errors(), errors, "the report added no error");
        (errors, png, first["src"].clone(), later["src"].clone(), diff)
    })
    .await
    .unwrap();
    let (errors, png, first, later, diff) = result;
    assert_eq!(errors, Vec::<String>::new(), "no console errors");
    // scripts/dashboard-screenshot.sh: the README's picture.
    if let Ok(path) = std::env::var("KVS_DASHBOARD_SCREENSHOT") {
        std::fs::write(path, &png).unwrap();
    }
    eprintln!("thumbnail {first} -> {later}: mean luma difference {diff:.1}");
}
