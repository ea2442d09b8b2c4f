//! Connection hygiene: idle sockets, partial request heads and slow bodies are closed after the
//! (short, test-configured) timeouts, connections beyond the cap wait and are then served,
//! and a response being streamed is never cut by the idle timeout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use kvs_local::{Faults, LocalKvs, RunningServer};

/// Far longer than any test waits for normally; a test stuck here has failed.
const BOUND: Duration = Duration::from_secs(30);

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    s
}

fn post_head(path: &str, body_len: usize, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "POST {path} HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n{connection}\r\n"
    )
}

/// Reads until EOF; true if the peer closed (EOF or reset), false if it is still open when
/// the read times out.
fn closed_by_server(s: &mut TcpStream) -> bool {
    drain(s).0
}

/// Reads until EOF: (whether the peer closed, by EOF or reset, rather than the read timing
/// out; the bytes read).
fn drain(s: &mut TcpStream) -> (bool, usize) {
    let mut buf = [0u8; 65536];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (true, total),
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (true, total),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (false, total);
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// A complete GetDataEndpoint call on a new connection (Connection: close): (status, body).
fn get_data_endpoint(addr: SocketAddr) -> (u16, String) {
    let body = r#"{"StreamName":"demo","APIName":"GET_MEDIA"}"#;
    let mut s = connect(addr);
    s.write_all(post_head("/getDataEndpoint", body.len(), true).as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, rest.to_owned())
}

async fn server(header: Duration, idle: Duration, max: usize, faults: Faults) -> RunningServer {
    LocalKvs::builder()
        .stream("demo", sample_source(&sample_spec()))
        .faults(faults)
        .header_timeout(header)
        .idle_timeout(idle)
        .max_connections(max)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// 40 sockets that hold a connection without completing a request (nothing, half a head, a
/// head and part of its body) against a cap of 16: a real request made after them is still
/// answered, and every one of them is closed by the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_sockets_are_closed_and_service_goes_on() {
    let server = server(Duration::from_millis(500), Duration::from_secs(2), 16, Faults::default()).await;
    let addr = server.local_addr();
    let outcome = tokio::time::timeout(
        BOUND * 2,
        tokio::task::spawn_blocking(move || {
            let mut idle: Vec<TcpStream> = (0..40)
                .map(|i| {
                    let mut s = connect(addr);
                    match i % 3 {
                        0 => {}
                        1 => s.write_all(b"POST /getDataEndpoint HTTP/1.1\r\nHost: lo").unwrap(),
                        _ => {
                            s.write_all(post_head("/getDataEndpoint", 100, false).as_bytes()).unwrap();
                            s.write_all(b"{\"StreamName\":").unwrap();
                        }
                    }
                    s
                })
                .collect();
            let answer = get_data_endpoint(addr);
            let closed = idle.iter_mut().map(closed_by_server).filter(|&c| c).count();
            (answer, closed)
        }),
    )
    .await
    .expect("the real request was not answered in time")
    .unwrap();
    let ((status, body), closed) = outcome;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["DataEndpoint"], server.url());
    assert_eq!(closed, 40, "every idle or slow socket is closed by the server");
}

/// With the cap reached by connections that stay open (long header timeout), one more
/// connection is not served; it is as soon as one of them closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_slot() {
    let server = server(Duration::from_secs(60), Duration::from_secs(60), 2, Faults::default()).await;
    let addr = server.local_addr();
    tokio::task::spawn_blocking(move || {
        let holders: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
        // Let the server accept both.
        std::thread::sleep(Duration::from_millis(300));
        let body = r#"{"StreamName":"demo","APIName":"GET_MEDIA"}"#;
        let mut third = connect(addr);
        third.write_all(post_head("/getDataEndpoint", body.len(), true).as_bytes()).unwrap();
        third.write_all(body.as_bytes()).unwrap();
        third.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
        let mut buf = [0u8; 16];
        let early = third.read(&mut buf);
        assert!(
            matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
            "a third connection was served while the cap of 2 was reached: {early:?}"
        );
        drop(holders);
        third.set_read_timeout(Some(BOUND)).unwrap();
        let mut raw = Vec::new();
        third.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8(raw).unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains("DataEndpoint"), "{text}");
    })
    .await
    .unwrap();
}

/// Reads one chunked response to its end (the final `0\r\n\r\n`); the body bytes without
/// the chunk framing.
fn read_chunked_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let head_end = loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the head");
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
    assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    let mut rest = raw[head_end..].to_vec();
    let mut body = Vec::new();
    loop {
        // One chunk: SIZE\r\nDATA\r\n.
        let line_end = loop {
            if let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed inside the body");
            rest.extend_from_slice(&buf[..n]);
        };
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16).unwrap();
        while rest.len() < line_end + 2 + size + 2 {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed inside a chunk");
            rest.extend_from_slice(&buf[..n]);
        }
        body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
        rest.drain(..line_end + 2 + size + 2);
        if size == 0 {
            return (head, body);
        }
    }
}

/// A GetMedia response that goes silent for 2.5 s (the stall fault) is delivered whole with an
/// idle timeout of 500 ms; the keep-alive connection is closed once it has been idle that
/// long after the response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_spares_streaming_responses_and_closes_idle_keepalive() {
    let faults = Faults { stall: Some(Duration::from_millis(2500)), ..Faults::default() };
    let server = server(Duration::from_millis(500), Duration::from_millis(500), 16, faults).await;
    let addr = server.local_addr();
    let (body, closed) = tokio::task::spawn_blocking(move || {
        let req = r#"{"StreamName":"demo","StartSelector":{"StartSelectorType":"EARLIEST"}}"#;
        let mut s = connect(addr);
        s.write_all(post_head("/getMedia", req.len(), false).as_bytes()).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let (head, body) = read_chunked_response(&mut s);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        (body, closed_by_server(&mut s))
    })
    .await
    .unwrap();
    let payload = bytes::Bytes::from(body);
    let frags = fragments(&payload);
    assert_eq!(frags.len(), 5, "the whole stream, through the stall");
    assert!(frags.iter().all(kvs_chunk::Fragment::is_complete));
    assert!(closed, "the idle keep-alive connection is closed");
}

/// A client that asks for a long body and reads none of it is dropped after the idle
/// timeout (it gets part of the response, then EOF); with a cap of 1, the next client is
/// served only then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped() {
    // A large stream: 100 clusters of 10 frames of 20 KiB (20 MiB), far more than the socket
    // buffers hold.
    let spec = kvs_local::synthetic::SyntheticSpec { clusters: 100, frame_size: 20 * 1024, ..sample_spec() };
    let server = LocalKvs::builder()
        .stream("demo", sample_source(&spec))
        .header_timeout(Duration::from_millis(500))
        .idle_timeout(Duration::from_millis(500))
        .max_connections(1)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let ((status, body), (closed, got)) = tokio::task::spawn_blocking(move || {
        let req = r#"{"StreamName":"demo","StartSelector":{"StartSelectorType":"EARLIEST"}}"#;
        let mut s = connect(addr);
        s.write_all(post_head("/getMedia", req.len(), false).as_bytes()).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        // Never read `s`; with a cap of 1 the next call is served only once it is dropped.
        let answer = get_data_endpoint(addr);
        (answer, drain(&mut s))
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(closed, "the connection that never read is closed");
    assert!(got < 20 * 1024 * 1024, "it was dropped, not sent whole ({got} bytes)");
}
