//! Every service error the server sends becomes the AWS SDK's typed variant: status,
//! `x-amzn-ErrorType`, `x-amzn-RequestId` and the JSON message, as the service sends them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use aws_sdk_kinesisvideomedia::error::ProvideErrorMetadata;
use aws_sdk_kinesisvideomedia::operation::get_media::GetMediaError;
use aws_sdk_kinesisvideomedia::types::{StartSelector, StartSelectorType};
use aws_types::request_id::RequestId;
use common::*;
use kvs_local::{FailWith, Faults, LocalKvs, RunningServer, ServiceErrorKind};

async fn server(faults: Faults) -> RunningServer {
    LocalKvs::builder()
        .stream("s", sample_source(&sample_spec()))
        .faults(faults)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// GetMedia's error, with its request id checked.
async fn get_media_error(server: &RunningServer, stream: &str, sel: StartSelector) -> GetMediaError {
    let client = media_client(server.url());
    let err = client.get_media().stream_name(stream).start_selector(sel).send().await.unwrap_err();
    let err = err.into_service_error();
    let id = err.request_id().expect("x-amzn-RequestId");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert!(err.message().is_some_and(|m| !m.is_empty()));
    err
}

#[tokio::test]
async fn unknown_stream_is_resource_not_found() {
    let server = server(Faults::default()).await;
    let err = get_media_error(&server, "nope", selector(StartSelectorType::Earliest)).await;
    assert!(matches!(err, GetMediaError::ResourceNotFoundException(_)), "{err:?}");
    assert_eq!(err.code(), Some("ResourceNotFoundException"));

    // GetDataEndpoint and DescribeStream too.
    let video = video_client(server.url());
    let e = video
        .get_data_endpoint()
        .stream_name("nope")
        .api_name(aws_sdk_kinesisvideo::types::ApiName::GetMedia)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = video.describe_stream().stream_name("nope").send().await.unwrap_err().into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_selectors_are_invalid_arguments() {
    let server = server(Faults::default()).await;
    let missing_number =
        StartSelector::builder().start_selector_type(StartSelectorType::FragmentNumber).build().unwrap();
    let missing_time =
        StartSelector::builder().start_selector_type(StartSelectorType::ServerTimestamp).build().unwrap();
    let missing_token =
        StartSelector::builder().start_selector_type(StartSelectorType::ContinuationToken).build().unwrap();
    let not_a_number = StartSelector::builder()
        .start_selector_type(StartSelectorType::FragmentNumber)
        .after_fragment_number("abc")
        .build()
        .unwrap();
    for sel in [missing_number, missing_time, missing_token, not_a_number] {
        let err = get_media_error(&server, "s", sel.clone()).await;
        assert!(matches!(err, GetMediaError::InvalidArgumentException(_)), "{sel:?}: {err:?}");
    }
    // Both a name and an ARN.
    let client = media_client(server.url());
    let err = client
        .get_media()
        .stream_name("s")
        .stream_arn(server.stream_arn("s").unwrap())
        .start_selector(selector(StartSelectorType::Now))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn injected_errors_map_to_their_variants() {
    type IsVariant = fn(&GetMediaError) -> bool;
    let cases: [(ServiceErrorKind, IsVariant); 5] = [
        (ServiceErrorKind::ClientLimitExceeded, GetMediaError::is_client_limit_exceeded_exception),
        (ServiceErrorKind::ConnectionLimitExceeded, GetMediaError::is_connection_limit_exceeded_exception),
        (ServiceErrorKind::NotAuthorized, GetMediaError::is_not_authorized_exception),
        (ServiceErrorKind::InvalidEndpoint, GetMediaError::is_invalid_endpoint_exception),
        (ServiceErrorKind::ResourceNotFound, GetMediaError::is_resource_not_found_exception),
    ];
    for (kind, is) in cases {
        let faults =
            Faults { fail_with: Some(FailWith { error: kind, first_calls: Some(1) }), ..Faults::default() };
        let server = server(faults).await;
        let err = get_media_error(&server, "s", selector(StartSelectorType::Earliest)).await;
        assert!(is(&err), "{kind}: {err:?}");
        assert_eq!(err.code(), Some(kind.type_name()));
        // Only the first call fails.
        let payload =
            get_media(&media_client(server.url()), "s", selector(StartSelectorType::Earliest)).await;
        assert_eq!(numbers(&payload).len(), 5);
        assert_eq!(server.get_media_calls("s"), Some(2));
        server.shutdown().await;
    }
}

/// Issue 12: StreamARN was split loosely, so `stream/s/../../etc/passwd/0` named the stream
/// `s`. An ARN must now have exactly the service's shape,
/// `arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+` with the
/// resource type `stream` and a name of at most 256 characters, or it is an
/// InvalidArgumentException (as a malformed ARN always was here); a well-formed ARN must name
/// a stream the server has, or it is a ResourceNotFoundException.
#[tokio::test]
async fn stream_arns_are_parsed_strictly() {
    let server = server(Faults::default()).await;
    let media = media_client(server.url());
    let video = video_client(server.url());
    let prefix = "arn:aws:kinesisvideo:us-east-1:000000000000";
    let long = "a".repeat(257);
    let malformed = [
        format!("{prefix}:stream/s/../../etc/passwd/0"),
        format!("{prefix}:stream/s/.."),
        format!("{prefix}:stream/s/0/extra"),
        format!("{prefix}:stream/s/0/"),
        format!("{prefix}:stream/s/"),
        format!("{prefix}:stream/s"),
        format!("{prefix}:stream//0"),
        format!("{prefix}:stream/s/x0"),
        format!("{prefix}:stream/s/0 "),
        format!("{prefix}:stream/s:x/0"),
        format!("{prefix}:stream/s%2F/0"),
        format!("{prefix}:stream/{long}/0"),
        format!("{prefix}:channel/s/0"),
        format!("{prefix}:Stream/s/0"),
        format!("{prefix}:s/0"),
        "arn:aws:kinesis:us-east-1:000000000000:stream/s/0".to_owned(),
        "arn:aws:kinesisvideo:US-EAST-1:000000000000:stream/s/0".to_owned(),
        "arn:aws:kinesisvideo:us-east-1:acct:stream/s/0".to_owned(),
        "arn:aws:kinesisvideo:us-east-1::stream/s/0".to_owned(),
        "arn:AWS:kinesisvideo:us-east-1:000000000000:stream/s/0".to_owned(),
        "arn::kinesisvideo:us-east-1:000000000000:stream/s/0".to_owned(),
        "ARN:aws:kinesisvideo:us-east-1:000000000000:stream/s/0".to_owned(),
        "s".to_owned(),
    ];
    for arn in &malformed {
        let err = media
            .get_media()
            .stream_arn(arn)
            .start_selector(selector(StartSelectorType::Earliest))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_invalid_argument_exception(), "{arn}: {err:?}");
        assert_eq!(err.code(), Some("InvalidArgumentException"), "{arn}");
        let e = video.describe_stream().stream_arn(arn).send().await.unwrap_err().into_service_error();
        assert!(e.is_invalid_argument_exception(), "{arn}: {e:?}");
        let e = video
            .get_data_endpoint()
            .stream_arn(arn)
            .api_name(aws_sdk_kinesisvideo::types::ApiName::GetMedia)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(e.is_invalid_argument_exception(), "{arn}: {e:?}");
    }

    // Well-formed, but no such stream: the name is not found, whatever follows it.
    for arn in [format!("{prefix}:stream/nope/0"), format!("{prefix}:stream/{}/0", "a".repeat(256))] {
        let e = video.describe_stream().stream_arn(&arn).send().await.unwrap_err().into_service_error();
        assert!(e.is_resource_not_found_exception(), "{arn}: {e:?}");
    }

    // The server's own ARN still works, for GetMedia and DescribeStream.
    let arn = server.stream_arn("s").unwrap().to_owned();
    assert_eq!(arn, format!("{prefix}:stream/s/0"));
    let out = media.get_media().stream_arn(&arn).start_selector(selector(StartSelectorType::Earliest)).send();
    let payload = out.await.unwrap().payload.collect().await.unwrap().into_bytes();
    assert_eq!(numbers(&payload).len(), 5);
    let info = video.describe_stream().stream_arn(&arn).send().await.unwrap();
    assert_eq!(info.stream_info().and_then(|i| i.stream_name()), Some("s"));
    server.shutdown().await;
}
