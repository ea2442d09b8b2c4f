//! kvs-chunk against the project's own fixture generator (`kvs-fixtures`): every scenario is
//! decoded and compared with the `Expected` summary the generator derived while writing it
//! (per fragment: offsets, fragment numbers, exact timestamps, completeness, tracks, frames
//! and keyframes per track, tags, in-stream errors; per frame: track, timestamps, flags, lace
//! index, duration, size, CRC-32 and the exact bytes). The committed `testdata/` files are
//! checked against their `.expected.json` the same way. Scenario-specific tests then pin the
//! facts each scenario exists for: every known `ErrorId` variant, lacing, negative block
//! offsets, epoch timecodes, the Connect-shaped audio, HEVC, the cut stream and the
//! GetMediaForFragmentList spellings.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use common::{decode_all, hex};
use kvs_chunk::{Error, ErrorId, Event, Fragment, TagValue, TrackType};
use kvs_fixtures::scenarios::{self, Scenario};
use kvs_fixtures::{Expected, ExpectedFragment, ExpectedTag, ExpectedTrack};

/// What kvs-chunk reports for a payload, per document.
struct Decoded {
    fragments: Vec<Fragment>,
    /// Per document: the (timestamp, scale) of each Cluster event.
    clusters: Vec<Vec<(u64, u64)>>,
    errors: Vec<Error>,
}

fn decode(bytes: Bytes) -> Decoded {
    let (events, errors) = decode_all(bytes);
    let mut clusters: Vec<Vec<(u64, u64)>> = Vec::new();
    let mut asm = kvs_chunk::FragmentAssembler::new();
    let mut fragments = Vec::new();
    for e in events {
        match &e {
            Event::DocumentStart { .. } => clusters.push(Vec::new()),
            Event::Cluster { timestamp, timestamp_scale, .. } => {
                clusters.last_mut().unwrap().push((*timestamp, *timestamp_scale));
            }
            _ => {}
        }
        if let Some(f) = asm.push(e) {
            fragments.push(f);
        }
    }
    Decoded { fragments, clusters, errors }
}

fn track_matches(ctx: &str, got: &kvs_chunk::Track, want: &ExpectedTrack) {
    assert_eq!(got.number, want.number, "{ctx}");
    assert_eq!(got.uid, Some(want.uid), "{ctx}: uid");
    let kind = match got.kind {
        TrackType::Video => "video",
        TrackType::Audio => "audio",
        other => panic!("{ctx}: {other:?}"),
    };
    assert_eq!(kind, want.kind, "{ctx}: kind");
    assert_eq!(got.codec_id.as_deref(), Some(want.codec_id.as_str()), "{ctx}: codec id");
    assert_eq!(got.codec_private.as_deref().map(hex), want.codec_private, "{ctx}: codec private");
    assert_eq!(got.name, want.name, "{ctx}: name");
    assert_eq!(got.default_duration_ns, want.default_duration_ns, "{ctx}: default duration");
    let video = got.video.unwrap_or_default();
    assert_eq!((video.width, video.height), (want.width, want.height), "{ctx}: size");
    let audio = got.audio.unwrap_or_default();
    assert_eq!(audio.sampling_frequency, want.sampling_frequency, "{ctx}: sampling frequency");
    assert_eq!(audio.channels, want.channels, "{ctx}: channels");
    assert_eq!(audio.bit_depth, want.bit_depth, "{ctx}: bit depth");
}

fn tag_matches(ctx: &str, got: &kvs_chunk::Tag, want: &ExpectedTag) {
    assert_eq!(got.name, want.name, "{ctx}");
    match &got.value {
        TagValue::String(raw) => {
            assert_eq!(Some(std::str::from_utf8(raw).unwrap()), want.value.as_deref(), "{ctx}: value");
            assert_eq!(want.binary, None, "{ctx}");
        }
        TagValue::Binary(raw) => {
            assert_eq!(Some(hex(raw)), want.binary, "{ctx}: binary");
            assert_eq!(want.value, None, "{ctx}");
        }
        TagValue::None => assert_eq!((&want.value, &want.binary), (&None, &None), "{ctx}"),
    }
    assert_eq!(got.parents.last(), want.parent.as_ref(), "{ctx}: parent");
    assert_eq!(got.targets.type_value, want.target_type_value, "{ctx}: target type value");
    assert_eq!(got.targets.track_uids, want.track_uids, "{ctx}: track uids");
}

fn fragment_matches(
    ctx: &str,
    got: &Fragment,
    clusters: &[(u64, u64)],
    want: &ExpectedFragment,
    payloads: bool,
) {
    assert_eq!(got.index, want.index as u64, "{ctx}");
    assert_eq!(got.offset, want.offset, "{ctx}: offset");
    assert_eq!(got.fragment_number().map(|n| n.as_str().to_owned()), want.fragment_number, "{ctx}: number");
    let meta = got.metadata.clone().unwrap_or_default();
    assert_eq!(meta.server_timestamp_ms, want.server_timestamp_ms, "{ctx}: server ts");
    assert_eq!(meta.producer_timestamp_ms, want.producer_timestamp_ms, "{ctx}: producer ts");
    assert_eq!(got.end.millis_behind_now, want.millis_behind_now, "{ctx}: millis behind now");
    assert_eq!(
        got.end.continuation_token.as_deref(),
        want.continuation_token.as_deref(),
        "{ctx}: continuation token"
    );
    assert_eq!(got.is_complete(), want.complete, "{ctx}: complete");
    // Cluster timestamp and TimestampScale.
    assert_eq!(clusters.first().map(|c| c.0), want.cluster_timestamp, "{ctx}: cluster timestamp");
    if let Some(c) = clusters.first() {
        assert_eq!(c.1, want.timestamp_scale, "{ctx}: timestamp scale");
    }
    // Tracks.
    assert_eq!(got.tracks.len(), want.tracks.len(), "{ctx}: tracks");
    for (t, w) in got.tracks.iter().zip(&want.tracks) {
        track_matches(&format!("{ctx} track {}", w.number), t, w);
    }
    // Frames and keyframes per track.
    assert_eq!(common::per_track(&got.frames, |_| true), want.frames, "{ctx}: frames per track");
    assert_eq!(common::per_track(&got.frames, |f| f.keyframe), want.keyframes, "{ctx}: keyframes");
    // Tags.
    assert_eq!(got.tags.len(), want.tags.len(), "{ctx}: tags");
    for (i, (t, w)) in got.tags.iter().zip(&want.tags).enumerate() {
        tag_matches(&format!("{ctx} tag {i}"), t, w);
    }
    // In-stream error.
    match &want.error {
        None => assert!(got.errors.is_empty(), "{ctx}: {:?}", got.errors),
        Some(w) => {
            assert_eq!(got.errors.len(), 1, "{ctx}");
            let e = &got.errors[0];
            assert_eq!(e.id.map(|id| id.code() as i64), Some(w.id), "{ctx}: error id");
            assert_eq!(e.code, w.code, "{ctx}: error code");
            assert_eq!(e.fragment_number.as_ref().map(|n| n.as_str().to_owned()), want.fragment_number);
        }
    }
    // Every frame.
    assert_eq!(got.frames.len(), want.frame_list.len(), "{ctx}: frame list");
    let default_durations: BTreeMap<u64, u64> =
        got.tracks.iter().filter_map(|t| Some((t.number, t.default_duration_ns?))).collect();
    for (i, (f, w)) in got.frames.iter().zip(&want.frame_list).enumerate() {
        let ctx = format!("{ctx} frame {i}");
        assert_eq!(f.track, w.track, "{ctx}: track");
        assert_eq!(f.timestamp_ns, w.timestamp_ns, "{ctx}: timestamp");
        let step = default_durations.get(&f.track).copied().unwrap_or(0) as i64 * i64::from(f.lace_index);
        assert_eq!(f.timestamp_ns - step, w.block_timestamp_ns, "{ctx}: block timestamp");
        assert_eq!(f.keyframe, w.keyframe, "{ctx}: keyframe");
        assert_eq!(f.invisible, w.invisible, "{ctx}: invisible");
        assert_eq!(f.discardable, w.discardable, "{ctx}: discardable");
        assert_eq!(usize::from(f.lace_index), w.lace_index, "{ctx}: lace index");
        assert_eq!(f.duration_ns, w.duration_ns, "{ctx}: duration");
        assert_eq!(f.data.len(), w.size, "{ctx}: size");
        assert_eq!(format!("{:08x}", crc32fast::hash(&f.data)), w.crc32, "{ctx}: crc32");
        if payloads {
            assert!(f.data[..] == w.payload[..], "{ctx}: bytes");
        }
    }
}

/// Compares a decoding with an `Expected` summary; `payloads`: compare frame bytes too (the
/// JSON files carry only sizes and CRC-32s).
fn matches_expected(name: &str, bytes: Bytes, want: &Expected, payloads: bool) {
    assert_eq!(bytes.len() as u64, want.bytes, "{name}: bytes");
    let got = decode(bytes);
    match want.cut_at {
        None => assert!(got.errors.is_empty(), "{name}: {:?}", got.errors),
        Some(at) => {
            // The stream stops inside an element: one fatal error, end of input, after
            // everything that was complete.
            assert_eq!(at, want.bytes, "{name}");
            assert_eq!(got.errors.len(), 1, "{name}: {:?}", got.errors);
            assert!(matches!(&got.errors[0], Error::Ebml(e) if e.is_eof()), "{name}: {:?}", got.errors[0]);
        }
    }
    assert_eq!(got.fragments.len(), want.fragments.len(), "{name}: fragments");
    for (i, (f, w)) in got.fragments.iter().zip(&want.fragments).enumerate() {
        fragment_matches(&format!("{name} fragment {i}"), f, &got.clusters[i], w, payloads);
    }
}

fn all() -> Vec<Scenario> {
    let all = scenarios::all().unwrap();
    assert_eq!(all.len(), scenarios::NAMES.len());
    all
}

fn scenario(name: &str) -> Scenario {
    scenarios::by_name(name).unwrap().unwrap()
}

#[test]
fn every_scenario_decodes_to_its_expected_summary() {
    for s in all() {
        matches_expected(s.name, Bytes::from(s.bytes.clone()), &s.expected, true);
    }
}

#[test]
fn committed_testdata_decodes_to_its_expected_json() {
    let mut n = 0;
    for path in common::testdata_mkv_files() {
        let json = path.with_extension("expected.json");
        let Ok(text) = std::fs::read(&json) else { continue };
        let want: Expected = serde_json::from_slice(&text).unwrap();
        matches_expected(&common::name(&path), common::read(&path), &want, false);
        n += 1;
    }
    // Committed files: none at all is a failure, not a skip.
    assert!(n > 0, "no testdata/*.expected.json");
}

#[test]
fn every_known_error_id_is_its_variant() {
    let s = scenario("error_chunks");
    let got = decode(Bytes::from(s.bytes));
    assert!(got.errors.is_empty());
    let ids: Vec<ErrorId> = got.fragments.iter().filter_map(|f| f.errors.first()?.id).collect();
    assert_eq!(
        ids,
        [
            ErrorId::StreamWriteError,
            ErrorId::FragmentNotFound,
            ErrorId::KmsAccessDenied,
            ErrorId::KmsKeyDisabled,
            ErrorId::KmsValidationError,
            ErrorId::KmsUnavailable,
            ErrorId::KmsInvalidUsage,
            ErrorId::KmsInvalidState,
            ErrorId::KmsKeyNotFound,
            ErrorId::InternalError,
            ErrorId::Other(9999),
        ]
    );
    for f in &got.fragments[1..] {
        // An error chunk: no tracks, no timestamps, no frames, never complete.
        assert!(f.tracks.is_empty() && f.frames.is_empty() && !f.is_complete());
        let m = f.metadata.as_ref().unwrap();
        assert_eq!((m.server_timestamp_ms, m.producer_timestamp_ms), (None, None));
        let e = &f.errors[0];
        assert_eq!(e.fragment_number, m.fragment_number);
        match e.id.unwrap().description() {
            Some(d) => assert!(!d.is_empty()),
            None => assert_eq!(e.id, Some(ErrorId::Other(9999))),
        }
        assert!(e.code.as_deref().is_some_and(|c| !c.is_empty()));
    }
    // The media fragment before them is complete and has its frames.
    assert!(got.fragments[0].is_complete());
    assert_eq!(got.fragments[0].frames.len(), 10);
}

#[test]
fn lacing_frames_have_exact_bytes_and_timestamps() {
    let s = scenario("lacing");
    let got = decode(Bytes::from(s.bytes.clone()));
    let f = &got.fragments[0];
    let frames: Vec<_> = f.frames.iter().collect();
    let want: Vec<_> = s.expected.all_frames().collect();
    assert_eq!(frames.len(), 28);
    for (a, w) in frames.iter().zip(&want) {
        assert!(a.data[..] == w.payload[..]);
    }
    // Xiph lace of 5 frames on track 2 (DefaultDuration 21333333 ns) at cluster 1000 ms.
    let xiph: Vec<_> = frames.iter().filter(|x| x.track == 2 && x.lace_count == 5).collect();
    assert_eq!(xiph.iter().map(|x| x.data.len()).collect::<Vec<_>>(), [255, 256, 510, 2, 77]);
    for (i, x) in xiph.iter().enumerate() {
        assert_eq!((x.lace_index, x.lace_count), (i as u16, 5));
        assert_eq!(x.timestamp_ns, 1_000_000_000 + i as i64 * 21_333_333);
    }
    // EBML lacing with the limits of one- and two-byte differences, and a first size of 127.
    let ebml: Vec<Vec<usize>> = [6u16, 4]
        .iter()
        .map(|&n| frames.iter().filter(|x| x.track == 2 && x.lace_count == n).map(|x| x.data.len()).collect())
        .collect();
    assert_eq!(ebml[0], [100, 163, 100, 164, 99, 50]);
    assert_eq!(ebml[1].iter().filter(|&&n| n == 96).count(), 4, "fixed lacing 4 x 96");
    assert!(frames.iter().any(|x| x.lace_count == 4 && x.data.len() == 127));
    // A negative relative timestamp (-20) with the discardable flag.
    let negative = frames.iter().find(|x| x.discardable).unwrap();
    assert_eq!(negative.timestamp_ns, 980_000_000);
    assert_eq!(negative.track, 1);
    // The invisible one, at +17.
    let invisible = frames.iter().find(|x| x.invisible).unwrap();
    assert_eq!(invisible.timestamp_ns, 1_017_000_000);
    // BlockGroups: durations, references, keyframe when no reference.
    let groups: Vec<_> =
        frames.iter().filter(|x| x.duration_ns.is_some() || !x.references.is_empty()).collect();
    assert_eq!(groups[0].references, [-33]);
    assert_eq!(groups[0].duration_ns, Some(33_000_000));
    assert!(!groups[0].keyframe);
    assert_eq!(groups[1].references, [-67, 33]);
    assert_eq!(groups[1].duration_ns, None);
    assert!(groups[2].keyframe && groups[2].references.is_empty());
    // The last block at +32767.
    assert_eq!(frames.last().unwrap().timestamp_ns, (1_000 + 32_767) * 1_000_000);
}

#[test]
fn epoch_timecodes_give_absolute_frame_times() {
    let s = scenario("epoch_timecodes");
    let got = decode(Bytes::from(s.bytes));
    assert_eq!(got.clusters[0], [(1_700_000_000_000, 1_000_000)]);
    assert_eq!(got.clusters[1], [(17_000_000_010_000, 100_000)]);
    for f in &got.fragments {
        let producer = f.metadata.as_ref().unwrap().producer_timestamp_ms.unwrap();
        assert_eq!(f.frames[0].timestamp_ms(), producer, "frames are at the producer's instants");
        let steps: Vec<i64> = f.frames.windows(2).map(|w| w[1].timestamp_ns - w[0].timestamp_ns).collect();
        assert!(steps.iter().all(|&d| d == 100_000_000), "{steps:?}");
    }
}

#[test]
fn connect_audio_tracks_and_contact_tags() {
    let s = scenario("connect_audio");
    let got = decode(Bytes::from(s.bytes));
    assert_eq!(got.fragments.len(), 3);
    for f in &got.fragments {
        let names: Vec<_> = f.tracks.iter().map(|t| (t.number, t.name.as_deref().unwrap())).collect();
        assert_eq!(names, [(1, "AUDIO_FROM_CUSTOMER"), (2, "AUDIO_TO_CUSTOMER")]);
        for t in &f.tracks {
            assert_eq!(t.codec_id.as_deref(), Some("A_AAC"));
            let a = t.audio.unwrap();
            assert_eq!((a.sampling_frequency, a.channels, a.bit_depth), (Some(8000.0), Some(1), Some(16)));
        }
        let contact = f.tags.iter().find(|t| t.name == "ContactId").unwrap();
        assert_eq!(contact.value.as_text().unwrap().len(), 36, "a UUID");
        assert!(f.frames.iter().all(|x| x.data.len() == 320));
        // Epoch-millisecond clusters at the producer timestamp.
        assert_eq!(f.frames[0].timestamp_ms(), f.metadata.as_ref().unwrap().producer_timestamp_ms.unwrap());
    }
    // The EBML magic inside a frame did not split the stream.
    let magic = [0x1A, 0x45, 0xDF, 0xA3];
    let f = &got.fragments[1];
    let sixth = f.frames.iter().filter(|x| x.track == 1).nth(5).unwrap();
    assert_eq!(sixth.data[100..104], magic);
}

#[test]
fn hevc_codec_id_and_keyframes() {
    let s = scenario("hevc");
    let got = decode(Bytes::from(s.bytes));
    assert_eq!(got.fragments.len(), 2);
    for f in &got.fragments {
        let t = &f.tracks[0];
        assert_eq!(t.codec_id.as_deref(), Some("V_MPEGH/ISO/HEVC"));
        let v = t.video.unwrap();
        assert_eq!((v.width, v.height), (Some(1280), Some(720)));
        assert!(t.uid.unwrap() > u64::from(u32::MAX), "a 64-bit TrackUID");
        assert_eq!(f.frames.len(), 15);
        assert!(f.frames[0].keyframe);
        assert_eq!(f.frames.iter().filter(|x| x.keyframe).count(), 1);
    }
}

#[test]
fn cut_stream_ends_with_an_incomplete_fragment() {
    let s = scenario("cut_stream");
    let cut_at = s.expected.cut_at.unwrap();
    let got = decode(Bytes::from(s.bytes));
    assert_eq!(got.fragments.len(), 3);
    assert!(got.fragments[0].is_complete() && got.fragments[1].is_complete());
    let last = &got.fragments[2];
    assert!(!last.is_complete());
    assert_eq!(last.frames.len(), 10);
    assert!(last.metadata.as_ref().unwrap().fragment_number.is_some());
    assert_eq!((last.end.millis_behind_now, last.end.continuation_token.as_deref()), (None, None));
    let Error::Ebml(e) = &got.errors[0] else { panic!() };
    assert!(e.is_eof());
    assert!(e.offset < cut_at);
}

#[test]
fn fragment_list_spellings_are_read() {
    let s = scenario("fragment_list_spelling");
    let got = decode(Bytes::from(s.bytes));
    assert_eq!(got.fragments.len(), 3);
    for f in &got.fragments[..2] {
        let m = f.metadata.as_ref().unwrap();
        assert!(m.server_timestamp_ms.is_some() && m.producer_timestamp_ms.is_some());
        assert_eq!(m.server_timestamp_ms.unwrap() - m.producer_timestamp_ms.unwrap(), 730);
        assert!(f.end.continuation_token.is_none(), "GetMediaForFragmentList writes no continuation token");
        assert!(f.is_complete(), "its documents ended cleanly, one after the other");
        assert_eq!(f.frames.len(), 12);
        assert!(f.tags.is_empty(), "the service tags are not reported as producer tags");
    }
    let e = &got.fragments[2].errors[0];
    assert_eq!(e.id, Some(ErrorId::FragmentNotFound));
    assert_eq!(e.code.as_deref(), Some("Requested fragment is not found"));
}

#[test]
fn a_fragment_list_payload_cut_inside_a_fragment_leaves_it_incomplete() {
    // GetMediaForFragmentList sends no continuation token: a fragment is whole when its
    // document ends cleanly. Cut inside the second fragment's cluster: the first is complete,
    // the second is not (and nothing after it arrives).
    let s = scenario("fragment_list_spelling");
    let bytes = Bytes::from(s.bytes);
    let whole = decode(bytes.clone());
    assert!(whole.fragments[0].is_complete() && whole.fragments[1].is_complete());
    let cut = whole.fragments[1].offset as usize + 1500;
    assert!(cut < whole.fragments[2].offset as usize);
    let got = decode(bytes.slice(..cut));
    assert_eq!(got.fragments.len(), 2);
    assert!(got.fragments[0].is_complete(), "the first fragment ended before the cut");
    assert!(!got.fragments[1].is_complete(), "the second fragment was cut");
    assert!(got.fragments[1].frames.len() < 12);
}

#[test]
fn nested_tags_keep_their_parents_and_raw_values() {
    let s = scenario("nested_tags");
    let got = decode(Bytes::from(s.bytes));
    let tags = &got.fragments[0].tags;
    let comment = tags.iter().find(|t| t.name == "COMMENT").unwrap();
    assert_eq!(comment.parents, ["ORIGINAL", "URL"]);
    let fingerprint = tags.iter().find(|t| t.name == "FINGERPRINT").unwrap();
    assert_eq!(
        fingerprint.value,
        TagValue::Binary(Bytes::from_static(&[0xDE, 0xAD, 0xBE, 0xEF, 0, 1, 2, 0xFF]))
    );
    assert_eq!(fingerprint.targets.track_uids, [1]);
    let duration = tags.iter().find(|t| t.name == "DURATION").unwrap();
    assert_eq!(duration.value.raw().unwrap(), b"00:00:01.000000000\0\0");
    let note = tags.iter().find(|t| t.name == "NOTE").unwrap();
    assert_eq!(note.value.raw().unwrap().last(), Some(&0));
}
