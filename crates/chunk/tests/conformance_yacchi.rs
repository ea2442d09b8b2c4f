//! Conformance against the synthetic KVS fixtures of github.com/yacchi/ebml
//! (../shared/conformance/yacchi-ebml/fixtures/kvs): fragments, clusters, blocks, fragment
//! numbers, producer timestamps and ContactId tags against the fixtures' README.json, plus the
//! facts each fixture was built to show (scaled timestamps, EBML magic inside PCM, tagless
//! fragments, the tail fragment). The data is third-party and read at run time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use bytes::Bytes;
use common::{decode_all, fragments, name, read, ts_ms};
use kvs_chunk::{Event, Fragment, TrackType};
use serde_json::Value;

#[track_caller]
fn yacchi() -> Option<PathBuf> {
    common::conformance_path("yacchi-ebml/fixtures/kvs")
}

fn readme(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("README.json")).unwrap()).unwrap()
}

/// The fragments whose Segment has no Tags at all, by the fixtures' descriptions (README.json
/// still lists the fragment number and producer timestamp the generator had in mind for
/// them, which are not in the bytes).
fn tagless(fixture: &str) -> &'static [usize] {
    match fixture {
        "tagless_single" => &[1],
        "tagless_consecutive" => &[1, 2],
        "tagless_tail" => &[2],
        _ => &[],
    }
}

fn contact_id(f: &Fragment) -> Option<String> {
    let ids: BTreeSet<String> = f
        .tags
        .iter()
        .filter(|t| t.name == "ContactId")
        .map(|t| t.value.as_text().unwrap().into_owned())
        .collect();
    assert!(ids.len() <= 1, "one ContactId per fragment: {ids:?}");
    ids.into_iter().next()
}

#[track_caller]
fn load(fixture: &str) -> Option<Bytes> {
    Some(read(&common::conformance_path(&format!("yacchi-ebml/fixtures/kvs/{fixture}.mkv"))?))
}

#[test]
fn every_fixture_matches_readme() {
    let Some(dir) = yacchi() else { return };
    let readme = readme(&dir);
    let fixtures = readme["fixtures"].as_object().unwrap();
    let files = common::mkv_files(&dir);
    assert_eq!(files.len(), fixtures.len(), "one .mkv per README entry");
    for path in files {
        let file = name(&path);
        let fixture = file.strip_suffix(".mkv").unwrap();
        let exp = &fixtures[fixture];
        assert!(exp.is_object(), "{fixture} missing from README.json");
        let input = read(&path);
        assert_eq!(input.len() as u64, exp["bytes"].as_u64().unwrap(), "{fixture}: bytes");
        let (events, errors) = decode_all(input.clone());
        assert!(errors.is_empty(), "{fixture}: {errors:?}");

        // Documents (EBML header + Segment pairs), clusters, blocks.
        let documents = events.iter().filter(|e| matches!(e, Event::DocumentStart { .. })).count() as u64;
        assert_eq!(documents, exp["segments"].as_u64().unwrap(), "{fixture}: segments");
        assert_eq!(documents, exp["ebml_headers"].as_u64().unwrap(), "{fixture}: EBML headers");
        let clusters = events.iter().filter(|e| matches!(e, Event::Cluster { .. })).count() as u64;
        assert_eq!(clusters, exp["clusters"].as_u64().unwrap(), "{fixture}: clusters");
        let frames: Vec<_> =
            events.iter().filter_map(|e| if let Event::Frame(f) = e { Some(f) } else { None }).collect();
        assert!(
            frames.iter().all(|f| (f.lace_index, f.lace_count) == (0, 1)),
            "{fixture}: no lacing in these fixtures"
        );
        assert_eq!(frames.len() as u64, exp["simple_blocks"].as_u64().unwrap(), "{fixture}: simple blocks");

        // Fragments: as many as documents, and together they hold every frame.
        let (frags, errors) = fragments(input);
        assert!(errors.is_empty());
        assert_eq!(frags.len() as u64, exp["fragments"].as_u64().unwrap(), "{fixture}: fragments");
        let in_fragments: usize = frags.iter().map(|f| f.frames.len()).sum();
        assert_eq!(in_fragments, frames.len(), "{fixture}: every frame belongs to its fragment");
        for (i, f) in frags.iter().enumerate() {
            assert_eq!(f.index, i as u64);
        }

        // Fragment numbers and producer timestamps (exact ms), tagless fragments aside.
        let numbers = exp["fragment_numbers"].as_array().unwrap();
        let producer = exp["producer_timestamps"].as_array().unwrap();
        assert_eq!(numbers.len(), frags.len(), "{fixture}");
        assert_eq!(producer.len(), frags.len(), "{fixture}");
        for (i, f) in frags.iter().enumerate() {
            let ctx = format!("{fixture} fragment {i}");
            if tagless(fixture).contains(&i) {
                assert!(f.metadata.is_none(), "{ctx}: no Tags, no metadata");
                assert!(f.tags.is_empty(), "{ctx}");
                assert!(!f.is_complete(), "{ctx}: no continuation token");
                assert!(!f.frames.is_empty(), "{ctx}: a tagless fragment still has its frames");
                continue;
            }
            let want = numbers[i].as_str().unwrap();
            let got = f.fragment_number().unwrap().as_str();
            match want.strip_prefix("...") {
                // README abbreviates the 47-digit numbers of multi_segment.
                Some(suffix) => assert!(got.ends_with(suffix) && got.len() == 47, "{ctx}: {got} vs {want}"),
                None => assert_eq!(got, want, "{ctx}"),
            }
            let m = f.metadata.as_ref().unwrap();
            assert_eq!(m.producer_timestamp_ms, Some(ts_ms(producer[i].as_str().unwrap())), "{ctx}");
            assert!(f.is_complete(), "{ctx}: the continuation token arrived");
        }

        // ContactId tags: one entry per fragment ("" when the fragment has none), or, when
        // README lists fewer, the distinct ids.
        let listed: Vec<&str> =
            exp["contact_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let got: Vec<String> = frags.iter().map(|f| contact_id(f).unwrap_or_default()).collect();
        if listed.len() == frags.len() {
            assert_eq!(got, listed, "{fixture}: contact ids");
        } else {
            let distinct: BTreeSet<&str> = got.iter().map(String::as_str).collect();
            assert_eq!(distinct, listed.iter().copied().collect(), "{fixture}: contact ids");
        }
    }
}

#[test]
fn scaled_timestamps() {
    let Some(input) = load("scaled_timestamps") else { return };
    let (events, _) = decode_all(input);
    let cluster = events.iter().find_map(|e| match e {
        Event::Cluster { timestamp, timestamp_scale, .. } => Some((*timestamp, *timestamp_scale)),
        _ => None,
    });
    assert_eq!(cluster, Some((1000, 100_000)));
    let ts: Vec<i64> = events
        .iter()
        .filter_map(|e| if let Event::Frame(f) = e { Some(f.timestamp_ns) } else { None })
        .collect();
    // (1000 - 20) x 100 us, 1000 x 100 us, (1000 + 20) x 100 us.
    assert_eq!(ts, [98_000_000, 100_000_000, 102_000_000]);
}

#[test]
fn false_ebml_magic_in_pcm_is_one_document() {
    let Some(input) = load("false_ebml_magic_in_pcm") else { return };
    let magic = [0x1A, 0x45, 0xDF, 0xA3];
    assert!(input.windows(4).filter(|w| *w == magic).count() > 1, "the fixture carries the magic in its PCM");
    let (events, errors) = decode_all(input.clone());
    assert!(errors.is_empty());
    let starts = events.iter().filter(|e| matches!(e, Event::DocumentStart { .. })).count();
    assert_eq!(starts, 1);
    let frames: Vec<_> =
        events.iter().filter_map(|e| if let Event::Frame(f) = e { Some(f) } else { None }).collect();
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().any(|f| f.data.windows(4).any(|w| w == magic)), "the magic stays inside a frame");
    let Some(Event::DocumentEnd { end, .. }) = events.last() else { panic!() };
    assert_eq!(*end, input.len() as u64);
}

#[test]
fn tagless_fragments_keep_their_frames() {
    for fixture in ["tagless_single", "tagless_consecutive", "tagless_tail"] {
        let Some(input) = load(fixture) else { return };
        let (frags, errors) = fragments(input);
        assert!(errors.is_empty());
        for &i in tagless(fixture) {
            let f = &frags[i];
            assert!(f.metadata.is_none(), "{fixture} {i}");
            assert!(!f.frames.is_empty(), "{fixture} {i}");
            // The frames follow the stream's timeline (1.024 s per fragment).
            let first = f.frames[0].timestamp_ms();
            let previous = frags[i - 1].frames[0].timestamp_ms();
            assert_eq!(first - previous, 1024, "{fixture} {i}");
            // The track list carries over from the document's own Tracks.
            assert_eq!(f.tracks.len(), 2);
        }
    }
}

#[test]
fn tail_fragments_are_reported() {
    // tail_last_fragment: the last Segment closes at the end of input, its cluster is
    // delivered, and the fragment (whose token came before its cluster) is complete.
    let Some(input) = load("tail_last_fragment") else { return };
    let (frags, errors) = fragments(input.clone());
    assert!(errors.is_empty());
    assert_eq!(frags.len(), 2);
    assert_eq!(frags[1].fragment_number().unwrap().as_str(), "tail-1");
    assert_eq!(frags[1].frames.len(), 2);
    assert!(frags[1].is_complete());
    let (events, _) = decode_all(input.clone());
    assert!(
        matches!(events.last(), Some(Event::DocumentEnd { index: 1, end, .. }) if *end == input.len() as u64)
    );

    // tagless_tail: the final, tagless fragment is reported (incomplete) with its frames.
    let Some(input) = load("tagless_tail") else { return };
    let (frags, _) = fragments(input);
    assert_eq!(frags.len(), 3);
    let last = &frags[2];
    assert!(last.metadata.is_none() && !last.is_complete());
    assert_eq!(last.frames.len(), 2);
    assert_eq!(last.frames[0].timestamp_ms(), 1_000_010_802_048);
}

#[test]
fn connect_shape_tracks_and_tags() {
    let Some(input) = load("connect_real_shape") else { return };
    let (frags, _) = fragments(input);
    let f = &frags[0];
    // Epoch cluster timestamps: frames are at the producer timestamp.
    assert_eq!(f.metadata.as_ref().unwrap().producer_timestamp_ms, Some(1_000_000_000_000));
    assert_eq!(f.frames[0].timestamp_ms(), 1_000_000_000_000);
    assert_eq!(f.end.millis_behind_now, Some(0));
    let names: Vec<&str> = f.tracks.iter().map(|t| t.name.as_deref().unwrap()).collect();
    assert_eq!(names, ["AUDIO_FROM_CUSTOMER", "AUDIO_TO_CUSTOMER"]);
    for t in &f.tracks {
        assert_eq!(t.kind, TrackType::Audio);
        assert_eq!(t.codec_id.as_deref(), Some("A_AAC"));
        assert_eq!(t.codec_private.as_deref(), Some(&[0x11, 0x90][..]));
        assert!(t.audio.is_none(), "no Audio master in the Connect profile");
    }
    let mime = f.tags.iter().find(|t| t.name == "MimeType").unwrap();
    assert_eq!(mime.value.as_text().unwrap(), "audio/L16;rate=8000;channels=1");
    // Tags both before and after the cluster: 4 + 4 non-AWS SimpleTags in one fragment.
    assert_eq!(f.tags.iter().filter(|t| t.name == "ContactId").count(), 2);

    // Swapped: track 1 is AUDIO_TO_CUSTOMER; only the Name tells.
    let Some(input) = load("track_order_swapped") else { return };
    let (frags, _) = fragments(input);
    let names: Vec<(u64, &str)> =
        frags[0].tracks.iter().map(|t| (t.number, t.name.as_deref().unwrap())).collect();
    assert_eq!(names, [(1, "AUDIO_TO_CUSTOMER"), (2, "AUDIO_FROM_CUSTOMER")]);
}

#[test]
fn two_tracks_and_short_block() {
    let Some(input) = load("two_tracks") else { return };
    let (frags, _) = fragments(input);
    let sizes: Vec<(u64, usize)> = frags[0].frames.iter().map(|f| (f.track, f.data.len())).collect();
    let mut t1: Vec<usize> = sizes.iter().filter(|s| s.0 == 1).map(|s| s.1).collect();
    t1.sort_unstable();
    assert_eq!(t1, [16, 24]);
    assert_eq!(sizes.iter().filter(|s| s.0 == 2).map(|s| s.1).collect::<Vec<_>>(), [32]);

    let Some(input) = load("short_block_mid_track") else { return };
    let (frags, _) = fragments(input);
    let f = &frags[0];
    assert_eq!(f.frames.len(), 6);
    assert!(f.frames.iter().any(|x| x.data.len() == 192), "the short block mid-track");
    // Block timecodes stay on the 64 ms grid, across the short block.
    for t in [1, 2] {
        let ts: Vec<i64> =
            f.frames.iter().filter(|x| x.track == t).map(|x| x.timestamp_ms() - 1_000_007_200_000).collect();
        assert!(ts.iter().all(|ms| ms % 64 == 0), "track {t}: {ts:?}");
    }
}

#[test]
fn unknown_elements_do_not_break_the_reader() {
    let Some(input) = load("unknown_elements") else { return };
    let (frags, errors) = fragments(input);
    assert!(errors.is_empty());
    assert_eq!(frags.len(), 1);
    assert_eq!(frags[0].frames.len(), 1);
    assert_eq!(frags[0].fragment_number().unwrap().as_str(), "unknown-0");
}
