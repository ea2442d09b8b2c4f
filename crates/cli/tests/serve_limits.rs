//! `kvs-mkv serve`: the limit and authentication flags (--header-timeout, --idle-timeout,
//! --max-connections, --max-image-jobs, --image-queue, --require-sigv4) are parsed, checked
//! and applied.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, testdata};

fn serve_parse(extra: &[&str]) -> Output {
    bin().args(["serve", "--stream", "s=/nonexistent/stream.mkv"]).args(extra).output().unwrap()
}

#[test]
fn limit_and_sigv4_flags_are_parsed_and_checked() {
    // Valid values get as far as loading the stream (exit 1: it does not exist).
    for ok in [
        &["--header-timeout", "0.5", "--idle-timeout", "90", "--max-connections", "16"][..],
        &["--max-image-jobs", "2", "--image-queue", "0"],
        &["--require-sigv4", "AKIDLOCAL:sec:ret/+="],
    ] {
        let out = serve_parse(ok);
        assert_eq!(out.status.code(), Some(1), "{ok:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("stream s:"), "{ok:?}");
    }
    for (bad, says) in [
        (&["--header-timeout", "0"][..], "expected seconds above 0"),
        (&["--header-timeout=-1"], "expected seconds above 0"),
        (&["--idle-timeout", "soon"], "expected a number of seconds"),
        (&["--idle-timeout", "NaN"], "expected seconds above 0"),
        (&["--max-connections", "0"], "--max-connections"),
        (&["--max-image-jobs", "0"], "--max-image-jobs"),
        (&["--image-queue=-3"], "--image-queue"),
        (&["--require-sigv4", "AKIDLOCAL"], "expected KEY:SECRET"),
        (&["--require-sigv4", ":secret"], "access key id"),
        (&["--require-sigv4", "AKIDLOCAL:"], "secret access key"),
    ] {
        let out = serve_parse(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(says), "{bad:?}: {stderr}");
    }
    // The secret is not echoed back in an error.
    let out = serve_parse(&["--require-sigv4", "AK ID:topsecretvalue"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8(out.stderr).unwrap().contains("topsecretvalue"));
}

#[test]
fn help_documents_the_limits_and_their_defaults() {
    let out = bin().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for s in [
        "--header-timeout <SECS>",
        "[default: 10]",
        "--idle-timeout <SECS>",
        "[default: 60]",
        "--max-connections <N>",
        "[default: 4096",
        "--max-image-jobs <N>",
        "--image-queue <N>",
        "ClientLimitExceededException",
        "--require-sigv4 <KEY:SECRET>",
        "InvalidSignatureException",
    ] {
        assert!(help.contains(s), "serve --help lacks {s:?}");
    }
}

/// A `kvs-mkv serve` child on a free port, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = bin()
        .args(["serve", "--port", &port.to_string(), "--stream"])
        .arg(format!("demo={}", testdata().join("getmedia_basic.mkv").display()))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "kvs-mkv serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, port }
}

fn inspect(port: u16, key: &str, secret: &str) -> Output {
    bin()
        .args(["inspect", "--color", "never", "--stream-name", "demo", "--start-selector-type", "EARLIEST"])
        .args(["--endpoint-url", &format!("http://127.0.0.1:{port}")])
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn serve_requires_sigv4_when_asked() {
    let server = start(&["--require-sigv4", "AKIDSHARED:s3cret/value"]);
    let out = inspect(server.port, "AKIDSHARED", "s3cret/value");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("demo: 5 fragments (5 complete)"));
    let out = inspect(server.port, "AKIDSHARED", "wrong");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("InvalidSignature") || stderr.contains("signature"), "{stderr}");

    // Unsigned: 403 MissingAuthenticationTokenException.
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = r#"{"StreamName":"demo","APIName":"GET_MEDIA"}"#;
    write!(
        s,
        "POST /getDataEndpoint HTTP/1.1\r\nHost: local\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(text.contains("MissingAuthenticationTokenException"), "{text}");

    // Without the flag, anyone is answered.
    let open = start(&[]);
    let out = inspect(open.port, "ANYONE", "anything");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn serve_closes_idle_connections_and_serves_beyond_the_cap() {
    let server = start(&["--header-timeout", "0.5", "--idle-timeout", "0.5", "--max-connections", "4"]);
    let idle: Vec<TcpStream> = (0..12)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s
        })
        .collect();
    // A real call after 12 idle sockets against a cap of 4 is still answered.
    let out = inspect(server.port, "AKIDLOCAL", "local");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for mut s in idle {
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("an idle socket was not closed by the server: {other:?}"),
        }
    }
}
