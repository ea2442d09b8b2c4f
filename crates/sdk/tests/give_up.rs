//! The consumer's give-up rule (`max_attempts_without_progress`, `ConsumerError::NoProgress`)
//! and its raw documents (`raw_documents`, `ConsumerEvent::Document`), against an
//! in-process kvs-local that cuts its responses at seeded random points.
// Tests may panic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use kvs_chunk::Event;
use kvs_local::{Faults, RunningServer};
use kvs_sdk::{ConsumerError, ConsumerEvent, MediaConsumer, StartSelector, StreamId};

/// The body of one clean EARLIEST GetMedia response, and its documents' byte ranges.
async fn clean_payload(server: &RunningServer) -> (Bytes, Vec<(u64, u64)>) {
    let client = common::client(server);
    let mut payload = client.get_media(&StreamId::name("cam"), &StartSelector::Earliest).await.unwrap();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next_chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let ranges = kvs_chunk::Events::new(body.clone())
        .filter_map(|e| match e.unwrap() {
            Event::DocumentEnd { offset, end, .. } => Some((offset, end)),
            _ => None,
        })
        .collect();
    (body, ranges)
}

/// Runs a consumer to its end: the concatenated raw documents, the fragment numbers
/// delivered, and the error it ended with.
async fn drain(mut consumer: MediaConsumer) -> (Vec<u8>, Vec<String>, Option<ConsumerError>) {
    let mut raw = Vec::new();
    let mut numbers = Vec::new();
    let mut documents_after_end = 0i32;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let item =
            tokio::time::timeout_at(deadline, consumer.next()).await.expect("the consumer never ended");
        match item {
            None => return (raw, numbers, None),
            Some(Err(e)) => {
                assert!(consumer.next().await.is_none());
                return (raw, numbers, Some(e));
            }
            Some(Ok(ConsumerEvent::Event(Event::FragmentEnd(end)))) => {
                assert!(end.complete);
                numbers.push(consumer.position().last.unwrap().fragment_number.unwrap());
                documents_after_end += 1;
            }
            Some(Ok(ConsumerEvent::Document { bytes })) => {
                // One document per delivered fragment, after its end.
                documents_after_end -= 1;
                assert_eq!(documents_after_end, 0, "a document without its fragment, or twice");
                raw.extend_from_slice(&bytes);
            }
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn raw_documents_through_random_cuts_are_the_clean_payload_each_fragment_once() {
    let payload = common::payload("getmedia_basic");
    let clean = common::serve(&payload, Faults::default()).await;
    let (want, ranges) = clean_payload(&clean).await;
    assert_eq!(ranges.len(), 5);
    let mut cuts_seen = 0;
    for seed in 1..=6 {
        let faults = Faults { cut_random: Some(seed), cut_probability: 0.5, ..Faults::default() };
        let server = common::serve(&payload, faults).await;
        let consumer = common::consumer(&server).raw_documents(true).max_retries(None).build();
        let (raw, numbers, error) = drain(consumer).await;
        assert!(error.is_none(), "seed {seed}: {error:?}");
        assert_eq!(numbers.len(), 5, "seed {seed}");
        assert_eq!(raw.len(), want.len(), "seed {seed}");
        assert!(raw == want, "seed {seed}: the documents differ from the clean payload");
        cuts_seen += usize::from(server.get_media_calls("cam").unwrap() > 1);
        server.shutdown().await;
    }
    assert!(cuts_seen > 0, "no seed cut a response");
}

#[tokio::test]
async fn without_raw_documents_none_is_yielded() {
    let payload = common::payload("getmedia_basic");
    let server = common::serve(&payload, Faults::default()).await;
    let (raw, numbers, error) = drain(common::consumer(&server).build()).await;
    assert!(error.is_none());
    assert_eq!(numbers.len(), 5);
    assert!(raw.is_empty());
}

/// Every response cut (probability 1): the response after the fourth fragment holds only
/// the fifth and is always cut, so without the rule the consumer asks for ever. With it the
/// stream ends with `NoProgress` after that many calls in a row, naming the last fragment
/// delivered, and the raw documents are exactly the complete fragments before it.
#[tokio::test]
async fn a_fragment_cut_in_every_response_ends_with_no_progress() {
    let payload = common::payload("getmedia_basic");
    let clean = common::serve(&payload, Faults::default()).await;
    let (want, ranges) = clean_payload(&clean).await;
    for seed in [3, 11] {
        let server = common::serve(&payload, Faults { cut_random: Some(seed), ..Faults::default() }).await;
        let consumer = common::consumer(&server)
            .raw_documents(true)
            .max_retries(None)
            .max_attempts_without_progress(Some(4))
            .build();
        let (raw, numbers, error) = drain(consumer).await;
        let Some(ConsumerError::NoProgress { attempts, after, last }) = error else {
            panic!("seed {seed}: ended with {error:?}")
        };
        assert_eq!(attempts, 4);
        assert_eq!(after, numbers.last().cloned());
        assert!(numbers.len() < 5, "seed {seed}: the last fragment cannot complete");
        assert!(!last.is_empty());
        // The complete fragments so far, byte for byte, each once.
        let end = if numbers.is_empty() { 0 } else { ranges[numbers.len() - 1].1 };
        assert!(raw[..] == want[..usize::try_from(end).unwrap()], "seed {seed}");
        let message = ConsumerError::NoProgress { attempts, after, last }.to_string();
        assert!(message.starts_with("gave up after 4 GetMedia calls in a row"), "{message}");
        assert!(!message.contains('\n'));
    }
}

/// Failed calls count too: a stream that throttles every call gives up.
#[tokio::test]
async fn failing_calls_count_as_no_progress() {
    let payload = common::payload("getmedia_basic");
    let faults = Faults {
        fail_with: Some(kvs_local::FailWith {
            error: kvs_local::ServiceErrorKind::ConnectionLimitExceeded,
            first_calls: None,
        }),
        ..Faults::default()
    };
    let server = common::serve(&payload, faults).await;
    let consumer = common::consumer(&server).max_retries(None).max_attempts_without_progress(Some(2)).build();
    let (_, numbers, error) = drain(consumer).await;
    assert!(numbers.is_empty());
    assert!(matches!(error, Some(ConsumerError::NoProgress { attempts: 2, after: None, .. })), "{error:?}");
}

/// Following a stream that has nothing newer (clean, empty ends after the last fragment)
/// is waiting, not a lack of progress: more reconnections than the limit pass without the
/// consumer giving up.
#[tokio::test]
async fn waiting_for_new_fragments_is_not_a_lack_of_progress() {
    let payload = common::payload("getmedia_basic");
    let server = common::serve(&payload, Faults::default()).await;
    let mut consumer = common::consumer(&server)
        .reconnect_on_end(true)
        .max_retries(None)
        .max_attempts_without_progress(Some(2))
        .build();
    let mut fragments = 0;
    let mut reconnects_after_last = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while reconnects_after_last < 6 {
        let item = tokio::time::timeout_at(deadline, consumer.next()).await.expect("no reconnection came");
        match item.expect("the stream ended") {
            Ok(ConsumerEvent::Event(Event::FragmentEnd(_))) => fragments += 1,
            Ok(ConsumerEvent::Reconnecting { .. }) if fragments == 5 => reconnects_after_last += 1,
            Ok(_) => {}
            Err(e) => panic!("gave up while waiting: {e}"),
        }
    }
    assert_eq!(fragments, 5);
}
