//! Conformance against the captures of aws/amazon-kinesis-video-streams-parser-library
//! (../shared/conformance/kvs-java): every file is decoded and compared, fragment by fragment,
//! with EXPECTED_derived.json and with the values EXPECTED.md lists as asserted by the
//! upstream JUnit tests. The data is third-party and read at run time, never copied here.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::{decode_all, fragments, hex, is_slice_of, name, per_track, read, ts_ms};
use kvs_chunk::{Error, Event, Events, Fragment, FragmentNumber, Fragments, Frame, Tag, Track};
use serde_json::Value;

/// The two captures that end inside a SimpleBlock: the derived JSON counts that block.
const TRUNCATED: [&str; 2] =
    ["output-get-media-non-increasing-timecode.mkv", "output-get-media-equal-timecode.mkv"];

/// The merger's output: three fragments' tags inside one document (not a GetMedia layout).
const MERGED: &str = "output_get_media_sparse_fragments_merged.mkv";

#[track_caller]
fn kvs_java() -> Option<PathBuf> {
    common::conformance_path("kvs-java")
}

fn expected_json(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("EXPECTED_derived.json")).unwrap()).unwrap()
}

/// What one document produced, gathered from the event sequence.
#[derive(Debug, Default)]
struct Doc {
    offset: u64,
    end: Option<u64>,
    tracks: Vec<Track>,
    clusters: Vec<(u64, u64, u64)>,
    frames: Vec<Frame>,
    tags: Vec<Tag>,
    metadata_events: usize,
    fragment_ends: usize,
}

fn documents(events: &[Event]) -> Vec<Doc> {
    let mut docs: Vec<Doc> = Vec::new();
    for e in events {
        match e {
            Event::DocumentStart { index, offset } => {
                assert_eq!(*index as usize, docs.len());
                docs.push(Doc { offset: *offset, ..Doc::default() });
            }
            Event::DocumentEnd { index, offset, end } => {
                assert_eq!(*index as usize + 1, docs.len());
                let d = docs.last_mut().unwrap();
                assert_eq!(*offset, d.offset);
                d.end = Some(*end);
            }
            Event::Tracks(t) => docs.last_mut().unwrap().tracks.clone_from(t),
            Event::Cluster { offset, timestamp, timestamp_scale } => {
                docs.last_mut().unwrap().clusters.push((*offset, *timestamp, *timestamp_scale));
            }
            Event::Frame(f) => docs.last_mut().unwrap().frames.push(f.clone()),
            Event::Tag(t) => docs.last_mut().unwrap().tags.push((**t).clone()),
            Event::FragmentMetadata(_) => docs.last_mut().unwrap().metadata_events += 1,
            Event::FragmentEnd(_) => docs.last_mut().unwrap().fragment_ends += 1,
            _ => {}
        }
    }
    docs
}

fn json_u64_map(v: &Value) -> BTreeMap<u64, u64> {
    v.as_object().unwrap().iter().map(|(k, n)| (k.parse().unwrap(), n.as_u64().unwrap())).collect()
}

fn opt_str(v: &Value) -> Option<&str> {
    v.as_str()
}

/// The single fatal error of a truncated capture, checked: end of input inside a SimpleBlock
/// that starts at the last document's end.
fn check_truncation(file: &str, errors: &[Error], docs: &[Doc], len: usize) {
    assert_eq!(errors.len(), 1, "{file}: {errors:?}");
    let Error::Ebml(e) = &errors[0] else { panic!("{file}: {:?}", errors[0]) };
    assert!(e.is_eof(), "{file}: {e:?}");
    assert_eq!(e.id, Some(kvs_ebml::ids::SIMPLE_BLOCK), "{file}: {e:?}");
    let last = docs.last().unwrap();
    assert_eq!(last.end, Some(e.offset), "{file}: the open document ends where the cut element starts");
    assert!(e.offset < len as u64, "{file}");
}

#[test]
fn every_file_matches_expected_derived_json() {
    let Some(dir) = kvs_java() else { return };
    let json = expected_json(&dir);
    let files = common::mkv_files(&dir);
    assert_eq!(files.len(), json.as_object().unwrap().len(), "every capture has an entry and vice versa");
    for path in &files {
        let file = name(path);
        let exp = &json[&file];
        assert!(exp.is_object(), "{file} missing from EXPECTED_derived.json");
        let input = read(path);
        assert_eq!(input.len() as u64, exp["size"].as_u64().unwrap(), "{file}: size");
        let (events, errors) = decode_all(input.clone());
        let docs = documents(&events);
        let segments = exp["segments"].as_array().unwrap();
        assert_eq!(docs.len(), segments.len(), "{file}: documents");
        let truncated = TRUNCATED.contains(&file.as_str());
        if truncated {
            check_truncation(&file, &errors, &docs, input.len());
        } else {
            assert!(errors.is_empty(), "{file}: {errors:?}");
        }

        for (i, (doc, seg)) in docs.iter().zip(segments).enumerate() {
            let ctx = format!("{file} #{i}");
            let last_cut = truncated && i + 1 == docs.len();
            // Clusters and their timecodes, TimestampScale.
            let tcs: Vec<u64> =
                seg["cluster_timecodes"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            assert_eq!(doc.clusters.len() as u64, seg["clusters"].as_u64().unwrap(), "{ctx}: clusters");
            assert_eq!(doc.clusters.iter().map(|c| c.1).collect::<Vec<_>>(), tcs, "{ctx}: cluster timecodes");
            if let Some(scale) = seg["timecode_scale"].as_u64() {
                assert!(doc.clusters.iter().all(|c| c.2 == scale), "{ctx}: timestamp scale");
            }
            // Frames per track and keyframes (no file here uses lacing: one frame per block).
            assert!(doc.frames.iter().all(|f| f.lace == (0, 1)), "{ctx}: unexpected lacing");
            let mut blocks = json_u64_map(&seg["blocks_per_track"]);
            let mut simple_blocks = seg["simple_blocks"].as_u64().unwrap();
            if last_cut {
                // The derived JSON counts the SimpleBlock the capture cuts: one frame fewer.
                assert_eq!(blocks.len(), 1, "{ctx}");
                *blocks.values_mut().next().unwrap() -= 1;
                simple_blocks -= 1;
            }
            assert_eq!(per_track(&doc.frames, |_| true), blocks, "{ctx}: frames per track");
            assert_eq!(doc.frames.len() as u64, simple_blocks, "{ctx}: frames");
            let keyframes = doc.frames.iter().filter(|f| f.keyframe).count() as u64;
            assert_eq!(keyframes, seg["keyframes"].as_u64().unwrap(), "{ctx}: keyframes");
            // Every frame's timestamp lies in its cluster: cluster time + a 16-bit offset.
            for f in &doc.frames {
                let c = doc.clusters.iter().rev().find(|c| c.0 < f.block_offset).unwrap();
                let rel = f.timestamp_ns / c.2 as i64 - c.1 as i64;
                assert!((-32768..=32767).contains(&rel), "{ctx}: frame at {}", f.block_offset);
                assert_eq!(f.timestamp_ns % c.2 as i64, 0, "{ctx}");
            }
            // Codecs, in track order.
            let codecs: Vec<&str> =
                seg["codecs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            assert_eq!(
                doc.tracks.iter().map(|t| t.codec_id.as_deref().unwrap()).collect::<Vec<_>>(),
                codecs,
                "{ctx}"
            );
            // Non-AWS SimpleTags.
            assert_eq!(doc.tags.len() as u64, seg["non_aws_tags"].as_u64().unwrap(), "{ctx}: non-AWS tags");
            // One FragmentEnd per document, one metadata event when the service wrote any; the
            // merged file's document holds three fragments (see merged_file_is_read_as_three_fragments).
            let per_doc = if file == MERGED { 3 } else { 1 };
            assert_eq!(doc.fragment_ends, per_doc, "{ctx}");
            assert_eq!(
                doc.metadata_events,
                per_doc * usize::from(!seg["fragment_number"].is_null()),
                "{ctx}"
            );
        }
        check_fragments(&file, &events, &docs, segments, truncated);
    }
}

/// The fragment-level view (`Fragments`) of a file against the JSON's AWS facts.
fn check_fragments(file: &str, events: &[Event], docs: &[Doc], segments: &[Value], truncated: bool) {
    if file == MERGED {
        // Three fragments in one document: checked by merged_file_is_read_as_three_fragments.
        return;
    }
    let frags: Vec<Fragment> = {
        let mut asm = kvs_chunk::FragmentAssembler::new();
        events.iter().filter_map(|e| asm.push(e.clone())).collect()
    };
    assert_eq!(frags.len(), segments.len(), "{file}: fragments");
    for (i, ((f, seg), doc)) in frags.iter().zip(segments).zip(docs).enumerate() {
        let ctx = format!("{file} fragment {i}");
        assert_eq!(f.index, i as u64, "{ctx}");
        assert_eq!(f.offset, doc.offset, "{ctx}");
        assert_eq!(f.end.index, i as u64, "{ctx}");
        let number = f.fragment_number().map(FragmentNumber::as_str);
        assert_eq!(number, opt_str(&seg["fragment_number"]), "{ctx}: fragment number");
        let meta = f.metadata.clone().unwrap_or_default();
        assert_eq!(meta.server_timestamp_ms, opt_str(&seg["server_ts"]).map(ts_ms), "{ctx}: server ts");
        assert_eq!(meta.producer_timestamp_ms, opt_str(&seg["producer_ts"]).map(ts_ms), "{ctx}: producer ts");
        let mbn = opt_str(&seg["millis_behind_now"]).map(|s| s.parse::<u64>().unwrap());
        assert_eq!(f.end.millis_behind_now, mbn, "{ctx}: millis behind now");
        let token = opt_str(&seg["continuation_token"]);
        assert_eq!(f.end.continuation_token.as_deref(), token, "{ctx}: continuation token");
        if let Some(t) = token {
            assert_eq!(Some(t), number, "{ctx}: the token equals the fragment number");
        }
        assert_eq!(f.is_complete(), token.is_some(), "{ctx}: complete");
        // Errors: none of these captures has an error chunk.
        assert!(seg["error_id"].is_null() && seg["error_code"].is_null());
        assert!(f.errors.is_empty(), "{ctx}");
        // The fragment holds every frame and tag its document produced.
        assert_eq!(f.frames, doc.frames, "{ctx}: frames");
        assert_eq!(f.tags, doc.tags, "{ctx}: tags");
        assert_eq!(f.tracks, doc.tracks, "{ctx}: tracks");
    }
    if truncated {
        assert!(!frags.last().unwrap().is_complete(), "{file}: the cut fragment is incomplete");
    }
}

#[track_caller]
fn load(file: &str) -> Option<Bytes> {
    Some(read(&common::conformance_path(&format!("kvs-java/{file}"))?))
}

#[track_caller]
fn all_fragments(file: &str) -> Option<Vec<Fragment>> {
    let (frags, errors) = fragments(load(file)?);
    assert!(errors.is_empty(), "{file}: {errors:?}");
    Some(frags)
}

/// The fragments of output_get_media.mkv as EXPECTED.md lists them (upstream's values).
const GET_MEDIA_TABLE: [kvs_testkit::upstream::Fragment; 5] = kvs_testkit::upstream::OUTPUT_GET_MEDIA;

#[test]
fn output_get_media_fragments_tags_and_codec_private() {
    let Some(frags) = all_fragments("output_get_media.mkv") else { return };
    assert_eq!(frags.len(), 5);
    let server_ms =
        [1_511_852_109_126, 1_511_852_110_915, 1_511_852_112_487, 1_511_852_113_414, 1_511_852_114_147];
    let codec_private = "014d401e03010027274d401eb9101405ff2e02d4040407c0000003004000000f38a0003d090007a13bdee03e1108d401000428fe3c80";
    let tags: [(&str, &[u8]); 7] = [
        ("COMPATIBLE_BRANDS", b"isomavc1mp42"),
        ("MAJOR_BRAND", b"M4V "),
        ("MINOR_VERSION", b"1"),
        ("ENCODER", b"Lavf57.71.100"),
        ("HANDLER_NAME", b"ETI ISO Video Media Handler"),
        ("ENCODER", b"Elemental H.264"),
        ("DURATION", b"00:00:10.000000000\0\0"),
    ];
    let mut previous: Option<FragmentNumber> = None;
    for (i, (f, row)) in frags.iter().zip(GET_MEDIA_TABLE).enumerate() {
        let m = f.metadata.as_ref().unwrap();
        assert_eq!(m.fragment_number.as_ref().unwrap().as_str(), row.number);
        assert_eq!(m.server_timestamp_ms, Some(server_ms[i]));
        assert_eq!(m.server_timestamp_ms, Some(ts_ms(row.server)));
        assert_eq!(m.producer_timestamp_ms, Some(ts_ms(row.producer)));
        assert_eq!(f.end.millis_behind_now, Some(row.millis_behind_now));
        assert_eq!(f.end.continuation_token.as_deref(), Some(row.number));
        assert!(f.is_complete());
        // Fragment numbers increase (compared numerically, as 47-digit decimals).
        let number = m.fragment_number.clone().unwrap();
        if let Some(p) = &previous {
            assert!(*p < number);
        }
        previous = Some(number);
        // 60 frames, 1 keyframe (the first), all track 1, from the cluster's timecode on.
        assert_eq!(f.frames.len(), 60);
        assert!(f.frames[0].keyframe);
        assert_eq!(f.frames.iter().filter(|x| x.keyframe).count(), 1);
        assert!(f.frames.iter().all(|x| x.track == 1));
        assert_eq!(f.frames[0].timestamp_ms(), row.cluster_ms as i64);
        // Track 1: 640x360 AVC with the asserted CodecPrivate.
        assert_eq!(f.tracks.len(), 1);
        let t = &f.tracks[0];
        assert_eq!(t.number, 1);
        assert_eq!(t.codec_id.as_deref(), Some("V_MPEG4/ISO/AVC"));
        let v = t.video.unwrap();
        assert_eq!((v.width, v.height), (Some(640), Some(360)));
        assert_eq!(hex(t.codec_private.as_ref().unwrap()), codec_private);
        assert_eq!(t.codec_private.as_ref().unwrap().len(), 54);
        // Exactly 7 non-AWS tags, in order, raw values (trailing space, trailing NULs kept).
        let got: Vec<(&str, &[u8])> =
            f.tags.iter().map(|t| (t.name.as_str(), t.value.raw().unwrap())).collect();
        assert_eq!(got, tags, "fragment {i}");
        assert_eq!(f.tags[6].value.as_text().unwrap(), "00:00:10.000000000\u{0}\u{0}");
    }
    assert_eq!(
        frags.last().unwrap().fragment_number().unwrap().as_str(),
        "91343852333181432412489103236310005892133364608",
        "MergedOutputPiperTest.testBasic: last end-of-fragment fragment number"
    );
}

#[test]
fn sparse_fragments_are_chunks_0_2_4() {
    let Some(frags) = all_fragments("output_get_media_sparse_fragments.mkv") else { return };
    let rows = [GET_MEDIA_TABLE[0], GET_MEDIA_TABLE[2], GET_MEDIA_TABLE[4]];
    assert_eq!(frags.len(), 3);
    for (f, row) in frags.iter().zip(rows) {
        assert_eq!(f.fragment_number().unwrap().as_str(), row.number);
        assert_eq!(f.end.continuation_token.as_deref(), Some(row.number));
        assert_eq!(f.metadata.as_ref().unwrap().server_timestamp_ms, Some(ts_ms(row.server)));
        assert_eq!(f.frames.len(), 60);
        assert_eq!(f.frames[0].timestamp_ms(), row.cluster_ms as i64);
    }
}

#[test]
fn merged_file_is_read_as_three_fragments() {
    // OutputSegmentMerger's output: one document holding three clusters, each with the
    // service's start and end Tags of its original fragment. Each becomes a fragment of its
    // own: the second and third start with `FragmentStart` after the previous `FragmentEnd`,
    // and every one of the 180 frames lands in a fragment.
    let Some(input) = load(MERGED) else { return };
    let (events, errors) = decode_all(input.clone());
    assert!(errors.is_empty());
    let docs = documents(&events);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].clusters.iter().map(|c| c.1).collect::<Vec<_>>(), [0, 2000, 4000]);
    assert_eq!(docs[0].frames.len(), 180);
    assert_eq!(docs[0].frames.iter().filter(|f| f.keyframe).count(), 3);
    assert_eq!(docs[0].tags.len(), 21);
    assert_eq!(docs[0].metadata_events, 3);
    assert_eq!(docs[0].fragment_ends, 3);
    // No frame between a FragmentEnd and the next start.
    let mut open = false;
    let mut starts = Vec::new();
    for e in &events {
        match e {
            Event::DocumentStart { .. } => open = true,
            Event::FragmentStart { index, fragment, .. } => {
                assert!(!open);
                starts.push((*index, *fragment));
                open = true;
            }
            Event::FragmentEnd(_) => open = false,
            Event::Frame(_) => assert!(open, "a frame outside a fragment"),
            _ => {}
        }
    }
    assert_eq!(starts, [(0, 1), (0, 2)]);
    let (frags, errors) = fragments(input);
    assert!(errors.is_empty());
    assert_eq!(frags.len(), 3);
    let rows = [GET_MEDIA_TABLE[0], GET_MEDIA_TABLE[2], GET_MEDIA_TABLE[4]];
    for (i, (f, row)) in frags.iter().zip(rows).enumerate() {
        assert_eq!(f.index, 0);
        assert_eq!(f.fragment, i as u64);
        assert_eq!(f.end.fragment, i as u64);
        assert_eq!(f.fragment_number().unwrap().as_str(), row.number);
        let m = f.metadata.as_ref().unwrap();
        assert_eq!(m.server_timestamp_ms, Some(ts_ms(row.server)));
        assert_eq!(m.producer_timestamp_ms, Some(ts_ms(row.producer)));
        assert_eq!(f.end.millis_behind_now, Some(row.millis_behind_now));
        assert_eq!(f.end.continuation_token.as_deref(), Some(row.number));
        assert!(f.is_complete());
        assert_eq!(f.frames.len(), 60);
        assert_eq!(f.frames[0].timestamp_ms(), 2000 * i as i64);
        // Each fragment has the document's track and its own producer tags.
        assert_eq!(f.tracks, docs[0].tracks);
        assert_eq!(f.tags.len(), 7);
    }
    // The same frame count as FFmpeg.
    if let Some((_, ffprobe)) = kvs_testkit::ffmpeg() {
        let dir = kvs_java().unwrap();
        let packets = kvs_testkit::oracle::ffprobe_packets(&ffprobe, &dir.join(MERGED));
        assert_eq!(packets.len(), 180);
        let sizes: Vec<u64> =
            frags.iter().flat_map(|f| f.frames.iter().map(|x| x.data.len() as u64)).collect();
        assert_eq!(sizes, packets.iter().map(|p| p.size).collect::<Vec<_>>());
    }
}

#[test]
fn renderer_example_output() {
    let Some(frags) = all_fragments("kinesis_video_renderer_example_output.mkv") else { return };
    assert_eq!(frags.len(), 8);
    assert_eq!(frags.iter().map(|f| f.frames.len()).sum::<usize>(), 444);
    assert_eq!(frags.iter().map(|f| f.frames.len()).collect::<Vec<_>>(), [59, 59, 59, 59, 59, 59, 59, 31]);
    let timecodes = [0, 1999, 3999, 5998, 7998, 9998, 11997, 13997];
    for (f, tc) in frags.iter().zip(timecodes) {
        assert_eq!(f.frames[0].timestamp_ms(), tc);
        assert_eq!(f.frames.iter().filter(|x| x.keyframe).count(), 1);
        assert_eq!(
            hex(f.tracks[0].codec_private.as_ref().unwrap()),
            "01640028ffe1000e27640028ac2b40501ed00f1226a001000428ee1f2c"
        );
        assert!(f.is_complete());
    }
    let (first, last) = (&frags[0], &frags[7]);
    assert_eq!(first.fragment_number().unwrap().as_str(), "91343852333181432392682062609776234230823574155");
    assert_eq!(first.metadata.as_ref().unwrap().server_timestamp_ms, Some(1_519_423_069_070));
    assert_eq!(first.metadata.as_ref().unwrap().producer_timestamp_ms, Some(1_519_423_067_997));
    assert_eq!(first.end.millis_behind_now, Some(7_336_747));
    assert_eq!(last.fragment_number().unwrap().as_str(), "91343852333181432427344383709766881962776549716");
    assert_eq!(last.metadata.as_ref().unwrap().server_timestamp_ms, Some(1_519_423_069_199));
    assert_eq!(last.metadata.as_ref().unwrap().producer_timestamp_ms, Some(1_519_423_081_994));
    assert_eq!(last.end.millis_behind_now, Some(7_337_577));
}

#[test]
fn mixed_tags_ten_then_five() {
    let Some(input) = load("test_mixed_tags.mkv") else { return };
    let (events, errors) = decode_all(input.clone());
    assert!(errors.is_empty());
    let docs = documents(&events);
    let (frags, _) = fragments(input);
    assert_eq!(frags.len(), 10);
    let mbn = [910, 723, 658, 633, 609, 602, 377, 395, 385, 274];
    for (i, (f, doc)) in frags.iter().zip(&docs).enumerate() {
        let expected_len = if i == 0 { 10 } else { 5 };
        assert_eq!(f.tags.len(), expected_len, "fragment {i}");
        for (j, t) in f.tags.iter().enumerate() {
            assert_eq!(t.name, format!("testTag_{}", j % 5));
            assert_eq!(t.value.as_text().unwrap(), format!("testTag_{}_Value", j % 5));
        }
        // Which tags precede the cluster: chunk 0 has 5 user Tags before Info.
        let cluster_at = doc.clusters[0].0;
        let before = f.tags.iter().filter(|t| t.offset < cluster_at).count();
        assert_eq!(before, if i == 0 { 5 } else { 0 }, "fragment {i}");
        // Relative producer timestamps N.000, cluster timecodes 0, 5000, ... 45000.
        let m = f.metadata.as_ref().unwrap();
        assert_eq!(m.producer_timestamp_ms, Some(i as i64 * 5000));
        assert_eq!(doc.clusters[0].1, i as u64 * 5000);
        assert_eq!(f.frames.len(), 10);
        assert_eq!(f.frames.iter().filter(|x| x.keyframe).count(), 1);
        assert_eq!(f.end.millis_behind_now, Some(mbn[i]));
        assert!(f.is_complete());
        // CodecID NUL padding removed, Name too.
        assert_eq!(f.tracks[0].codec_id.as_deref(), Some("V_MS/VFW/FOURCC"));
        assert_eq!(f.tracks[0].name.as_deref(), Some("test track"));
    }
    assert_eq!(
        frags[0].fragment_number().unwrap().as_str(),
        "91343852333713038908964877623801423530396737899"
    );
    assert_eq!(
        frags[9].fragment_number().unwrap().as_str(),
        "91343852333713038953530719038075113645398559869"
    );
    assert_eq!(frags[0].metadata.as_ref().unwrap().server_timestamp_ms, Some(1_537_574_915_281));
    assert_eq!(frags[9].metadata.as_ref().unwrap().server_timestamp_ms, Some(1_537_574_916_095));
}

#[test]
fn tags_without_cluster() {
    let Some(frags) = all_fragments("test_tags_empty_cluster.mkv") else { return };
    assert_eq!(frags.len(), 1);
    let f = &frags[0];
    assert!(f.metadata.is_none());
    assert!(f.frames.is_empty() && f.tracks.is_empty());
    assert!(!f.is_complete());
    let got: Vec<(String, String)> =
        f.tags.iter().map(|t| (t.name.clone(), t.value.as_text().unwrap().into_owned())).collect();
    let want: Vec<(String, String)> =
        (0..5).map(|i| (format!("testTag_{i}"), format!("testTag_{i}_Value"))).collect();
    assert_eq!(got, want);
}

#[test]
fn empty_mkv_with_tags_has_metadata_and_no_frames() {
    let Some(input) = load("empty-mkv-with-tags.mkv") else { return };
    let (events, errors) = decode_all(input.clone());
    assert!(errors.is_empty(), "the capture ends between top-level elements: {errors:?}");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::DocumentStart { .. } => "start",
            Event::Tracks(_) => "tracks",
            Event::FragmentMetadata(_) => "metadata",
            Event::FragmentEnd(_) => "end",
            Event::DocumentEnd { .. } => "doc-end",
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["start", "tracks", "metadata", "end", "doc-end"]);
    let (frags, _) = fragments(input);
    assert_eq!(frags.len(), 1);
    let f = &frags[0];
    assert_eq!(f.fragment_number().unwrap().as_str(), "91343852338378294813695855977007281634605393997");
    let m = f.metadata.as_ref().unwrap();
    assert_eq!(m.server_timestamp_ms, Some(1_516_124_526_822));
    assert_eq!(m.producer_timestamp_ms, Some(1_515_865_326_543));
    assert!(f.frames.is_empty());
    assert!(!f.is_complete());
    assert_eq!((f.end.millis_behind_now, f.end.continuation_token.as_deref()), (None, None));
    let v = f.tracks[0].video.unwrap();
    assert_eq!((v.width, v.height), (Some(960), Some(720)));
}

#[test]
fn truncated_captures_end_with_an_incomplete_fragment_then_eof() {
    let Some(dir) = kvs_java() else { return };
    // (file, fragments, complete frames of the cut fragment, its fragment number)
    let cases = [
        (
            "output-get-media-non-increasing-timecode.mkv",
            12,
            28,
            "91343852338381298630635340538417522006416018997",
        ),
        ("output-get-media-equal-timecode.mkv", 2, 119, "91343852338381422498915671433912930725530893291"),
    ];
    for (file, count, frames, number) in cases {
        let input = read(&dir.join(file));
        let items: Vec<Result<Event, Error>> = Events::new(input.clone()).collect();
        // Everything up to the cut arrives as events; then exactly one error, last.
        let (last, before) = items.split_last().unwrap();
        assert!(before.iter().all(Result::is_ok), "{file}");
        let Err(Error::Ebml(e)) = last else { panic!("{file}: {last:?}") };
        assert!(e.is_eof(), "{file}: {e}");
        let events: Vec<Event> = before.iter().map(|r| r.as_ref().unwrap().clone()).collect();
        let tail: Vec<&Event> = events.iter().rev().take(2).collect();
        assert!(matches!(tail[0], Event::DocumentEnd { .. }), "{file}");
        let Event::FragmentEnd(end) = tail[1] else { panic!("{file}: {:?}", tail[1]) };
        assert!(!end.complete && end.continuation_token.is_none() && end.millis_behind_now.is_none());

        // The same through Fragments: all fragments, the last incomplete, then the error.
        let results: Vec<_> = Fragments::new(Events::new(input)).collect();
        assert_eq!(results.len(), count + 1, "{file}");
        assert!(matches!(results.last().unwrap(), Err(Error::Ebml(e)) if e.is_eof()));
        let frags: Vec<&Fragment> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(frags.len(), count);
        let cut = frags.last().unwrap();
        assert!(!cut.is_complete());
        assert_eq!(cut.frames.len(), frames, "{file}");
        assert_eq!(cut.fragment_number().unwrap().as_str(), number);
        assert!(frags[..count - 1].iter().all(|f| f.is_complete()), "{file}");
    }
}

#[test]
fn non_increasing_timecodes_restart_at_zero() {
    let Some(input) = load("output-get-media-non-increasing-timecode.mkv") else { return };
    let (events, _) = decode_all(input);
    let docs = documents(&events);
    let tcs: Vec<u64> = docs.iter().map(|d| d.clusters[0].1).collect();
    assert_eq!(tcs, [10014, 0, 1001, 2003, 3004, 4005, 5007, 6008, 7010, 8011, 9012, 10014]);
    // Frames follow their cluster's timecode, not the previous fragment's.
    assert_eq!(docs[1].frames[0].timestamp_ms(), 0);
    assert_eq!(docs[0].frames[0].timestamp_ms(), 10014);
    assert_eq!(docs[0].tags.len(), 54);
}

#[test]
fn vogels_480_frames_and_last_cluster() {
    let Some(input) = load("vogels_480.mkv") else { return };
    let (events, errors) = decode_all(input);
    assert!(errors.is_empty());
    let docs = documents(&events);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(per_track(&d.frames, |_| true), BTreeMap::from([(1, 909), (2, 1425)]));
    assert_eq!(d.frames.len(), 2334);
    assert_eq!(d.metadata_events, 0);
    let last = d.clusters.last().unwrap();
    assert_eq!((last.1, last.2), (28821, 1_000_000));
    // The last cluster's first block (audio, relative offset 0) is at 28.821 s.
    let first_in_last = d.frames.iter().find(|f| f.block_offset > last.0).unwrap();
    assert_eq!((first_in_last.track, first_in_last.timestamp_ns), (2, 28_821_000_000));
    assert_eq!(d.frames.iter().filter(|f| f.track == 1 && f.keyframe).count(), 6);
    assert!(d.frames.iter().filter(|f| f.track == 2).all(|f| f.keyframe));
    assert_eq!(d.tracks[1].codec_private.as_deref(), Some(&[0x11, 0x90][..]));
}

#[test]
fn vogels_330_frames() {
    let Some(input) = load("vogels_330.mkv") else { return };
    let (events, _) = decode_all(input);
    let docs = documents(&events);
    assert_eq!(per_track(&docs[0].frames, |_| true), BTreeMap::from([(1, 909), (2, 1425)]));
    assert_eq!(docs[0].clusters.len(), 9);
    assert_eq!(docs[0].tracks[0].codec_private.as_ref().unwrap().len(), 42);
}

#[test]
fn plain_mkv_has_no_metadata() {
    let Some(dir) = kvs_java() else { return };
    for (file, frames) in
        [("clusters.mkv", 444), ("vogels_480.mkv", 2334), ("vogels_330.mkv", 2334), ("bezos_vogels.mkv", 546)]
    {
        let (events, errors) = decode_all(read(&dir.join(file)));
        assert!(errors.is_empty(), "{file}");
        let metadata =
            events.iter().filter(|e| matches!(e, Event::FragmentMetadata(_) | Event::ErrorChunk(_))).count();
        assert_eq!(metadata, 0, "{file}");
        assert_eq!(events.iter().filter(|e| matches!(e, Event::Frame(_))).count(), frames, "{file}");
        let ends: Vec<_> = events
            .iter()
            .filter_map(|e| if let Event::FragmentEnd(x) = e { Some(x) } else { None })
            .collect();
        assert_eq!(ends.len(), 1);
        assert!(!ends[0].complete && ends[0].continuation_token.is_none());
    }
    // clusters.mkv: the same CodecPrivate as the renderer example.
    let (events, _) = decode_all(read(&dir.join("clusters.mkv")));
    let Some(Event::Tracks(t)) = events.iter().find(|e| matches!(e, Event::Tracks(_))) else { panic!() };
    assert_eq!(
        hex(t[0].codec_private.as_ref().unwrap()),
        "01640028ffe1000e27640028ac2b40501ed00f1226a001000428ee1f2c"
    );
}

#[test]
fn documents_tile_the_input_byte_exactly() {
    let Some(dir) = kvs_java() else { return };
    for path in common::mkv_files(&dir) {
        let file = name(&path);
        let input = read(&path);
        let (events, errors) = decode_all(input.clone());
        let mut ranges = Vec::new();
        for e in &events {
            if let Event::DocumentEnd { offset, end, .. } = e {
                ranges.push((*offset, *end));
            }
        }
        assert!(!ranges.is_empty(), "{file}");
        let mut copy = Vec::with_capacity(input.len());
        let mut at = 0;
        for (start, end) in &ranges {
            assert_eq!(*start, at, "{file}: documents are contiguous");
            copy.extend_from_slice(&input[*start as usize..*end as usize]);
            at = *end;
        }
        if TRUNCATED.contains(&file.as_str()) {
            // The ranges cover everything up to the cut SimpleBlock; its partial bytes are
            // what the error reports.
            let Some(Error::Ebml(e)) = errors.first() else { panic!("{file}") };
            assert_eq!(at, e.offset, "{file}");
            copy.extend_from_slice(&input[at as usize..]);
        } else {
            assert_eq!(at, input.len() as u64, "{file}: the last document ends at the end of input");
        }
        assert!(copy == input, "{file}: concatenated documents == input");
    }
}

#[test]
fn frames_are_zero_copy_slices_of_the_input() {
    let Some(dir) = kvs_java() else { return };
    for path in common::mkv_files(&dir) {
        let file = name(&path);
        let input = read(&path);
        let mut n = 0;
        for e in Events::new(input.clone()).flatten() {
            if let Event::Frame(f) = &e {
                assert!(is_slice_of(&f.data, &input), "{file}: frame at {} is a copy", f.block_offset);
                assert!(!f.data.is_empty());
                n += 1;
            }
            if let Event::Tracks(ts) = &e {
                for t in ts {
                    if let Some(cp) = &t.codec_private {
                        assert!(is_slice_of(cp, &input), "{file}: CodecPrivate is a copy");
                    }
                }
            }
        }
        if file != "test_tags_empty_cluster.mkv" && file != "empty-mkv-with-tags.mkv" {
            assert!(n > 0, "{file}");
        }
    }
}
