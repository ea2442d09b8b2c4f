//! `kvs-mkv serve`'s dashboard: documented in `--help`, its URL printed at start, served over
//! a `--live` stream (also with `--require-sigv4`), left out with `--no-dashboard`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{bin, testdata};

struct Server {
    child: Child,
    port: u16,
    /// What serve printed before "Ctrl-C stops the server."
    banner: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = bin()
        .args(["serve", "--port", &port.to_string(), "--stream"])
        .arg(format!("cam={}", testdata().join("images/h264.mkv").display()))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("Ctrl-C") {
            break;
        }
        banner.push(line);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "kvs-mkv serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, port, banner }
}

/// One GET; (status, content type, body).
fn get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    (status, content_type, raw[split + 4..].to_vec())
}

#[test]
fn help_documents_the_dashboard() {
    let out = bin().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for s in [
        "--no-dashboard",
        "Dashboard (on by default",
        "GET /dashboard/events",
        "GET /dashboard/state.json",
        "/dashboard/streams/NAME/report.html",
        "read-only and unauthenticated",
    ] {
        assert!(help.contains(s), "serve --help lacks {s:?}");
    }
}

#[test]
fn serve_live_shows_its_dashboard_even_with_sigv4_required() {
    let server = start(&["--live", "--require-sigv4", "AKIDDASH:dash-secret"]);
    let expected = format!("Dashboard: http://127.0.0.1:{}/ (read-only, no authentication)", server.port);
    assert!(server.banner.contains(&expected), "{:#?}", server.banner);
    let (status, content_type, html) = get(server.port, "/");
    assert_eq!((status, content_type.as_str()), (200, "text/html; charset=utf-8"));
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("id=\"s-cam\"") && html.contains("1 stream(s), live"), "{html}");
    std::thread::sleep(Duration::from_millis(1200));
    let (status, _, json) = get(server.port, "/dashboard/state.json");
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(state["live"], true);
    assert_eq!(state["sigv4_required"], true);
    let cam = &state["streams"][0];
    assert_eq!(cam["name"], "cam");
    assert!(cam["fragments_available"].as_u64().unwrap() >= 2, "{cam}");
    assert!(cam["millis_behind_now"].as_u64().unwrap() <= state["uptime_ms"].as_u64().unwrap(), "{cam}");
    let (status, content_type, jpeg) = get(server.port, "/dashboard/streams/cam/thumbnail.jpg");
    assert_eq!((status, content_type.as_str()), (200, "image/jpeg"));
    assert_eq!(&jpeg[..2], b"\xFF\xD8");
    let (status, content_type, report) = get(server.port, "/dashboard/streams/cam/report.html");
    assert_eq!((status, content_type.as_str()), (200, "text/html; charset=utf-8"));
    assert!(String::from_utf8(report).unwrap().matches("data-fragment=").count() >= 2);
}

#[test]
fn no_dashboard_leaves_it_out() {
    let server = start(&["--no-dashboard"]);
    assert!(!server.banner.iter().any(|l| l.starts_with("Dashboard:")), "{:#?}", server.banner);
    let (status, _, body) = get(server.port, "/");
    assert_eq!(status, 404);
    assert!(String::from_utf8(body).unwrap().contains("Unknown operation"));
}
