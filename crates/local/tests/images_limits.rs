//! GetImages decoding is bounded: with one decoding slot and a queue of two, a burst of
//! concurrent calls gets either the right answer or 400 `ClientLimitExceededException`, never
//! anything else, and the server serves normally after the burst.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use kvs_local::{LocalKvs, Source};

const CALLS: usize = 32;

fn request_body() -> String {
    r#"{"StreamName":"cam","ImageSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":1700000000.0,"EndTimestamp":1700000002.0,"SamplingInterval":200,"Format":"PNG"}"#.to_owned()
}

/// Writes one GetImages call on `s` (Connection: close) and reads the answer: (status,
/// `x-amzn-ErrorType`, body).
fn exchange(mut s: TcpStream) -> (u16, Option<String>, String) {
    let body = request_body();
    write!(
        s,
        "POST /getImages HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let error_type = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amzn-errortype"))
        .map(|(_, v)| v.trim().to_owned());
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    assert!(!chunked, "GetImages answers have a length");
    (status, error_type, rest.to_owned())
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_get_images_beyond_the_queue_get_client_limit_exceeded() {
    let server = LocalKvs::builder()
        .stream("cam", Source::file(common::testdata("images").join("h264.mkv")).unwrap())
        .max_image_jobs(1)
        .image_queue(2)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let results = tokio::task::spawn_blocking(move || {
        let (status, _, reference) = exchange(connect(addr));
        assert_eq!(status, 200, "{reference}");
        // Every call connected first, then all sent at once.
        let barrier = Arc::new(Barrier::new(CALLS));
        let threads: Vec<_> = (0..CALLS)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let s = connect(addr);
                std::thread::spawn(move || {
                    barrier.wait();
                    exchange(s)
                })
            })
            .collect();
        let burst: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let after = exchange(connect(addr));
        (reference, burst, after)
    })
    .await
    .unwrap();
    let (reference, burst, after) = results;
    let v: serde_json::Value = serde_json::from_str(&reference).unwrap();
    assert!(v["Images"].as_array().unwrap().iter().all(|i| i["ImageContent"].is_string()), "{reference}");
    let (mut ok, mut limited) = (0, 0);
    for (status, error_type, body) in &burst {
        match status {
            200 => {
                assert_eq!(body, &reference, "a GetImages answer under load differs");
                ok += 1;
            }
            400 => {
                let t = error_type.as_deref().unwrap_or_default();
                assert!(t.starts_with("ClientLimitExceededException:"), "{t}: {body}");
                let m: serde_json::Value = serde_json::from_str(body).unwrap();
                assert!(m["message"].as_str().unwrap().contains("GetImages"), "{body}");
                limited += 1;
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    eprintln!("served {ok}, limited {limited}");
    assert!(ok >= 1, "some calls are served");
    assert!(limited >= 1, "with one slot and a queue of 2, {CALLS} calls at once are not all served");
    assert_eq!(ok + limited, CALLS);
    // The queue is empty again: a call after the burst is served.
    assert_eq!(after.0, 200, "{}", after.2);
    assert_eq!(after.2, reference);
}
