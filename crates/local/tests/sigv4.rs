//! `Builder::require_sigv4`: the AWS SDK for Rust, requests signed by the SDK's `aws-sigv4`
//! crate and the AWS CLI against a server that verifies SigV4 signatures; every refusal has
//! the service's error shape. Without `aws` on PATH the CLI test fails under CI=true and
//! records a visible skip elsewhere (kvs-testkit).
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
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use aws_sdk_kinesisvideo as kv;
use aws_sdk_kinesisvideomedia as kvm;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningParams, SigningSettings, sign};
use common::*;
use kv::error::ProvideErrorMetadata;
use kvm::types::StartSelectorType;
use kvs_local::{LocalKvs, RunningServer, SigV4Credentials};

const KEY: &str = "AKIDLOCAL";
const SECRET: &str = "local/secret+key";

async fn server() -> RunningServer {
    LocalKvs::builder()
        .stream("demo", sample_source(&sample_spec()))
        .require_sigv4(SigV4Credentials::new(KEY, SECRET).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn video_client(url: &str, key: &str, secret: &str) -> kv::Client {
    let config = kv::Config::builder()
        .behavior_version(kv::config::BehaviorVersion::latest())
        .region(kv::config::Region::new("us-east-1"))
        .credentials_provider(kv::config::Credentials::from_keys(key, secret, None))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(kv::config::retry::RetryConfig::disabled())
        .endpoint_url(url)
        .build();
    kv::Client::from_conf(config)
}

fn media_client(url: &str, key: &str, secret: &str) -> kvm::Client {
    let config = kvm::Config::builder()
        .behavior_version(kvm::config::BehaviorVersion::latest())
        .region(kvm::config::Region::new("us-east-1"))
        .credentials_provider(kvm::config::Credentials::from_keys(key, secret, None))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(kvm::config::retry::RetryConfig::disabled())
        .endpoint_url(url)
        .build();
    kvm::Client::from_conf(config)
}

/// GetDataEndpoint through the SDK: Ok(endpoint) or Err((status, error code, message)).
async fn data_endpoint(url: &str, key: &str, secret: &str) -> Result<String, (u16, String, String)> {
    let out = video_client(url, key, secret)
        .get_data_endpoint()
        .stream_name("demo")
        .api_name(kv::types::ApiName::GetMedia)
        .send()
        .await;
    match out {
        Ok(o) => Ok(o.data_endpoint().unwrap().to_owned()),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            Err((status, e.code().unwrap_or_default().to_owned(), e.message().unwrap_or_default().to_owned()))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_calls_with_the_right_key_succeed_and_others_get_the_service_errors() {
    let server = server().await;
    let url = server.url().to_owned();

    assert_eq!(data_endpoint(&url, KEY, SECRET).await, Ok(url.clone()));
    let described =
        video_client(&url, KEY, SECRET).describe_stream().stream_name("demo").send().await.unwrap();
    assert_eq!(described.stream_info().unwrap().stream_name(), Some("demo"));
    let payload =
        get_media(&media_client(&url, KEY, SECRET), "demo", selector(StartSelectorType::Earliest)).await;
    assert_eq!(fragments(&payload).len(), 5);

    let (status, code, message) = data_endpoint(&url, KEY, "not-the-secret").await.unwrap_err();
    assert_eq!((status, code.as_str()), (403, "InvalidSignatureException"));
    assert!(message.starts_with("The request signature we calculated does not match"), "{message}");

    let (status, code, message) = data_endpoint(&url, "AKIDSTRANGER", SECRET).await.unwrap_err();
    assert_eq!((status, code.as_str()), (403, "UnrecognizedClientException"));
    assert_eq!(message, "The security token included in the request is invalid.");

    let err = media_client(&url, KEY, "wrong")
        .get_media()
        .stream_name("demo")
        .start_selector(selector(StartSelectorType::Earliest))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"));
}

/// One raw HTTP/1.1 POST: (status, headers in lower case, body).
fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, rest.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The headers of a request to `/getDataEndpoint` signed by `aws-sigv4` at `time` over
/// `signed_body` (or with `x-amz-content-sha256: precomputed`).
fn signed_headers(
    addr: SocketAddr,
    secret: &str,
    time: SystemTime,
    signed_body: &str,
    precomputed: Option<&str>,
) -> Vec<(String, String)> {
    let host = addr.to_string();
    let credentials = aws_credential_types::Credentials::new(KEY, secret, None, None, "test");
    let identity = credentials.into();
    let mut settings = SigningSettings::default();
    if precomputed.is_some() {
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    }
    let params: SigningParams<'_> = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kinesisvideo")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let base = [("host", host.as_str()), ("content-type", "application/json")];
    let body = match precomputed {
        Some(hash) => SignableBody::Precomputed(hash.to_owned()),
        None => SignableBody::Bytes(signed_body.as_bytes()),
    };
    let request =
        SignableRequest::new("POST", format!("http://{host}/getDataEndpoint"), base.iter().copied(), body)
            .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    base.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain(instructions.headers().map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

const BODY: &str = r#"{"StreamName":"demo","APIName":"GET_MEDIA"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_requests_signed_by_aws_sigv4() {
    let server = server().await;
    let addr = server.local_addr();
    let url = server.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let now = SystemTime::now();
        // Signed right.
        let (status, _, body) =
            post(addr, "/getDataEndpoint", &signed_headers(addr, SECRET, now, BODY, None), BODY);
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(&url));

        // Not signed at all: 403 MissingAuthenticationTokenException, the service's shape.
        let plain = vec![("host".to_owned(), addr.to_string())];
        let (status, headers, body) = post(addr, "/getDataEndpoint", &plain, BODY);
        assert_eq!(status, 403);
        let error_type = header(&headers, "x-amzn-errortype").unwrap();
        assert!(error_type.starts_with("MissingAuthenticationTokenException:"), "{error_type}");
        assert_eq!(header(&headers, "x-amz-errortype"), Some("MissingAuthenticationTokenException"));
        assert!(header(&headers, "x-amzn-requestid").is_some());
        assert_eq!(header(&headers, "content-type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["message"], "Missing Authentication Token");

        // Ten minutes old: expired.
        let old = now - Duration::from_secs(600);
        let (status, headers, body) =
            post(addr, "/getDataEndpoint", &signed_headers(addr, SECRET, old, BODY, None), BODY);
        assert_eq!(status, 403);
        assert!(header(&headers, "x-amzn-errortype").unwrap().starts_with("InvalidSignatureException:"));
        assert!(body.contains("Signature expired"), "{body}");
        // Four minutes old: within the allowed skew.
        let recent = now - Duration::from_secs(240);
        let (status, _, body) =
            post(addr, "/getDataEndpoint", &signed_headers(addr, SECRET, recent, BODY, None), BODY);
        assert_eq!(status, 200, "{body}");

        // The body changed after signing.
        let other = r#"{"StreamName":"demo","APIName":"GET_IMAGES"}"#;
        let (status, headers, body) =
            post(addr, "/getDataEndpoint", &signed_headers(addr, SECRET, now, BODY, None), other);
        assert_eq!(status, 403, "{body}");
        assert!(header(&headers, "x-amzn-errortype").unwrap().starts_with("InvalidSignatureException:"));

        // x-amz-content-sha256: right, then not the body's hash.
        let hash = "ee76ea2a6d7e7b1a56c6b8d3cf6b35e0a4b1a57eabb4b08b3d57a1a0a7ac0b2f";
        let (status, _, body) =
            post(addr, "/getDataEndpoint", &signed_headers(addr, SECRET, now, BODY, Some(hash)), BODY);
        assert_eq!(status, 403, "a payload hash that is not the body's: {body}");
        assert!(body.contains("x-amz-content-sha256"), "{body}");
        let right = sha256_hex(BODY.as_bytes());
        let (status, _, body) =
            post(addr, "/getDataEndpoint", &signed_headers(addr, SECRET, now, BODY, Some(&right)), BODY);
        assert_eq!(status, 200, "{body}");

        // A malformed Authorization header: 400 IncompleteSignatureException.
        let mut bad = signed_headers(addr, SECRET, now, BODY, None);
        for (k, v) in &mut bad {
            if k == "authorization" {
                *v = v.replace("Credential=", "Credentials=");
            }
        }
        let (status, headers, _) = post(addr, "/getDataEndpoint", &bad, BODY);
        assert_eq!(status, 400);
        assert!(header(&headers, "x-amzn-errortype").unwrap().starts_with("IncompleteSignatureException:"));
    })
    .await
    .unwrap();
}

/// SHA-256 as lower-case hex, from the `sha256sum` of coreutils (an independent oracle).
fn sha256_hex(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// `aws ARGS` with these credentials and no config files.
async fn aws_as(key: &str, secret: &str, args: &[&str]) -> Output {
    let (key, secret) = (key.to_owned(), secret.to_owned());
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new("aws")
            .args(&args)
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .env("AWS_MAX_ATTEMPTS", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_with_the_right_secret_works_and_with_a_wrong_one_fails() {
    let Some(_) = kvs_testkit::aws_cli() else { return };
    let server = server().await;
    let url = server.url().to_owned();
    let endpoint = [
        "kinesisvideo",
        "get-data-endpoint",
        "--endpoint-url",
        &url,
        "--stream-name",
        "demo",
        "--api-name",
        "GET_MEDIA",
    ];

    let out = aws_as(KEY, SECRET, &endpoint).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&url));

    let out = aws_as(KEY, "wrong-secret", &endpoint).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("InvalidSignatureException"), "{stderr}");

    let out = aws_as("AKIDSTRANGER", SECRET, &endpoint).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("UnrecognizedClientException"), "{stderr}");

    let file = std::env::temp_dir().join(format!("kvs-local-sigv4-{}.mkv", std::process::id()));
    let path = file.to_str().unwrap();
    let media = [
        "kinesis-video-media",
        "get-media",
        "--endpoint-url",
        &url,
        "--stream-name",
        "demo",
        "--start-selector",
        "StartSelectorType=EARLIEST",
        path,
    ];
    let out = aws_as(KEY, SECRET, &media).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let payload = bytes::Bytes::from(std::fs::read(&file).unwrap());
    assert_eq!(fragments(&payload).len(), 5);
    let out = aws_as(KEY, "wrong-secret", &media).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidSignatureException"));
    let _ = std::fs::remove_file(&file);
}
