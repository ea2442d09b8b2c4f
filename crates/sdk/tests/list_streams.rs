//! `KvsClient::list_streams` against kvs-local: every page, sorted, with and without a
//! prefix, and a service error mapped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use common::client;
use kvs_local::{LoadOptions, LocalKvs, Source};
use kvs_sdk::ConsumerError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_streams_reads_every_page_sorted() {
    let payload = common::payload("getmedia_basic");
    let source = Source::from_bytes(payload, &LoadOptions::default()).unwrap();
    let mut builder = LocalKvs::builder();
    // Added out of order: 25 cameras and two others.
    for i in (1..=25).rev() {
        builder = builder.stream(format!("cam-{i:02}"), source.clone());
    }
    let server =
        builder.stream("zeta", source.clone()).stream("lobby", source).bind("127.0.0.1:0").await.unwrap();
    let client = client(&server);

    let all = client.list_streams(None).await.unwrap();
    let mut expected: Vec<String> = (1..=25).map(|i| format!("cam-{i:02}")).collect();
    expected.extend(["lobby".to_owned(), "zeta".to_owned()]);
    assert_eq!(all, expected);
    assert_eq!(client.list_streams(Some("cam-")).await.unwrap(), expected[..25]);
    assert_eq!(client.list_streams(Some("cam-1")).await.unwrap().len(), 10);
    assert!(client.list_streams(Some("nope")).await.unwrap().is_empty());

    // Pages: the paginator of the control-plane client follows the tokens.
    let mut pages = client.control_plane().list_streams().max_results(4).into_paginator().send();
    let mut count = 0;
    while let Some(page) = pages.next().await {
        assert!(page.unwrap().stream_info_list().len() <= 4);
        count += 1;
    }
    assert_eq!(count, 7);

    // An invalid prefix: the service's InvalidArgumentException, mapped.
    let e = client.list_streams(Some("bad/prefix")).await.unwrap_err();
    assert!(matches!(e, ConsumerError::InvalidArgument { .. }), "{e:?}");
    server.shutdown().await;
}
