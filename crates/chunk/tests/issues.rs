//! Regression tests for kvs-chunk: one per bug found, named after what went wrong, each with
//! the smallest input that shows it (built by hand, byte by byte).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use bytes::Bytes;
use kvs_chunk::{Event, EventDecoder, Events, Fragments};

/// An element with a 1- or 2-byte size.
fn el(id: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = id.to_vec();
    let n = body.len();
    if n < 127 {
        v.push(0x80 | n as u8);
    } else {
        assert!(n < 0x3FFF);
        v.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(body);
    v
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// EBML header (DocType "matroska") and an unknown-size Segment header.
fn doc_start() -> Vec<u8> {
    let mut v = el(&[0x1A, 0x45, 0xDF, 0xA3], &el(&[0x42, 0x82], b"matroska"));
    v.extend_from_slice(&[0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    v
}

/// Tags > Tag > one SimpleTag per (name, value).
fn tags(pairs: &[(&str, &str)]) -> Vec<u8> {
    let simple: Vec<Vec<u8>> = pairs
        .iter()
        .map(|(n, v)| {
            el(&[0x67, 0xC8], &cat(&[el(&[0x45, 0xA3], n.as_bytes()), el(&[0x44, 0x87], v.as_bytes())]))
        })
        .collect();
    el(&[0x12, 0x54, 0xC3, 0x67], &el(&[0x73, 0x73], &simple.concat()))
}

/// A known-size Cluster with Timestamp 0 and one keyframe SimpleBlock per payload (track 1).
fn cluster(payloads: &[&[u8]]) -> Vec<u8> {
    let mut body = el(&[0xE7], &[0]);
    for (i, p) in payloads.iter().enumerate() {
        let mut block = vec![0x81, 0, i as u8, 0x80];
        block.extend_from_slice(p);
        body.extend(el(&[0xA3], &block));
    }
    el(&[0x1F, 0x43, 0xB6, 0x75], &body)
}

/// Yacchi's KVS fixtures (and some producers) write every service tag, the continuation token
/// included, in one Tags element before the Cluster. The decoder ended the fragment at the
/// token, before the frames, so `Fragments` handed out the fragment without them and dropped
/// every frame that followed (the CLI's per-fragment summary counted 0 frames too).
/// Fixed: a token read before any Cluster ends the fragment at the end of the document.
#[test]
fn continuation_token_before_the_cluster_keeps_the_frames_in_the_fragment() {
    let service = tags(&[
        ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "1"),
        ("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "5.000"),
        ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", "1"),
    ]);
    let one = cat(&[doc_start(), service.clone(), cluster(&[b"a", b"bb"])]);
    let input = Bytes::from(cat(&[one.clone(), one.clone()]));

    let frags: Vec<_> = Fragments::new(Events::new(input.clone())).collect::<Result<_, _>>().unwrap();
    assert_eq!(frags.len(), 2);
    for f in &frags {
        assert_eq!(f.frames.iter().map(|x| x.data.as_ref()).collect::<Vec<_>>(), [&b"a"[..], b"bb"]);
        assert!(f.is_complete());
        assert_eq!(f.end.continuation_token.as_deref(), Some("1"));
        assert_eq!(f.metadata.as_ref().unwrap().producer_timestamp_ms, Some(5000));
    }
    // Event order: the fragment ends after its frames, just before its document ends.
    let events: Vec<Event> = Events::new(input).collect::<Result<_, _>>().unwrap();
    let first_end = events.iter().position(|e| matches!(e, Event::FragmentEnd(_))).unwrap();
    assert!(matches!(events[first_end - 1], Event::Frame(_)));
    assert!(matches!(events[first_end + 1], Event::DocumentEnd { index: 0, .. }));

    // Cut inside the cluster: the fragment is incomplete, although its token arrived.
    let cut = Bytes::from(one[..one.len() - 2].to_vec());
    let results: Vec<_> = Fragments::new(Events::new(cut)).collect();
    assert_eq!(results.len(), 2);
    let f = results[0].as_ref().unwrap();
    assert!(!f.is_complete());
    assert_eq!(f.frames.len(), 1);
    assert!(matches!(&results[1], Err(kvs_chunk::Error::Ebml(e)) if e.is_eof()));
}

/// The fix must not delay the usual GetMedia layout: a token after the cluster still ends the
/// fragment at once, before the next document (or the end of input) arrives.
#[test]
fn continuation_token_after_the_cluster_ends_the_fragment_at_once() {
    let start = tags(&[("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "7")]);
    let end =
        tags(&[("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "12"), ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", "7")]);
    let one = cat(&[doc_start(), start, cluster(&[b"x"]), end]);
    let mut d = EventDecoder::new();
    d.feed(Bytes::from(one));
    let mut got = Vec::new();
    while let Some(e) = d.next_event().unwrap() {
        got.push(e);
    }
    let Some(Event::FragmentEnd(end)) = got.last() else { panic!("{got:?}") };
    assert!(end.complete);
    assert_eq!(end.millis_behind_now, Some(12));
    // A token in a document without any cluster: complete, at the document's end.
    let no_cluster = cat(&[doc_start(), tags(&[("AWS_KINESISVIDEO_CONTINUATION_TOKEN", "9")])]);
    let frags: Vec<_> =
        Fragments::new(Events::new(Bytes::from(no_cluster))).collect::<Result<_, _>>().unwrap();
    assert_eq!(frags.len(), 1);
    assert!(frags[0].is_complete());
}

/// Issue 12: `ParameterSets::default()` had a NAL length size of 0, and the module's own
/// example fell back to it with `from_avcc(..).unwrap_or_default()`; `annexb_frame` then read
/// empty NAL units for ever without consuming a byte (1 GB and an abort in under a second).
#[test]
fn default_parameter_sets_convert_frames_and_terminate() {
    use kvs_chunk::annexb::{ParameterSets, annexb_frame};
    let ps = ParameterSets::default();
    assert_eq!(ps.length_size, 4);
    let mut out = Vec::new();
    assert!(annexb_frame(&ps, &[0, 0, 0, 2, 0x65, 9, 0, 0, 0, 1, 6], true, &mut out).is_some());
    assert_eq!(out, [0, 0, 0, 1, 0x65, 9, 0, 0, 0, 1, 6]);
    // A record that does not parse gives no configuration at all, not a 0-byte length.
    assert!(ParameterSets::from_avcc(&[1, 0x64]).is_none());
    assert!(ParameterSets::from_hvcc(&[1; 10]).is_none());
}

/// Issue 12: `nal_units(data, 0)` yielded empty units without end. Every invalid length
/// size now gives one error and stops; `take` bounds the count so a regression fails here
/// instead of hanging.
#[test]
fn nal_units_with_an_invalid_length_size_stop() {
    use kvs_chunk::annexb::{ParameterSets, Truncated, annexb_frame, nal_units};
    let data = [0, 0, 0, 1, 0x65];
    for n in [0, 3, 5, 16, usize::MAX] {
        let units: Vec<_> = nal_units(&data, n).take(1000).collect();
        assert_eq!(units, [Err(Truncated)], "length size {n}");
        let ps = ParameterSets { length_size: n, ..ParameterSets::default() };
        let mut out = Vec::new();
        assert!(annexb_frame(&ps, &data, true, &mut out).is_none(), "length size {n}");
        assert!(out.is_empty(), "length size {n}");
    }
    // 3-byte lengths (lengthSizeMinusOne 2) are not allowed by ISO/IEC 14496-15.
    assert!(ParameterSets::from_avcc(&[1, 0x64, 0, 0x1F, 0xFE, 0xE0, 0]).is_none());
    assert_eq!(ParameterSets::from_avcc(&[1, 0x64, 0, 0x1F, 0xFF, 0xE0, 0]).map(|p| p.length_size), Some(4));
}
