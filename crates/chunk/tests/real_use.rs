//! Issue 13, "never lose a frame, never say anything false": merged documents read as several
//! fragments, the AWS CLI's JSON trailer after a GetMedia payload, input that is not EBML at
//! all, CRC-32 errors that name their element, and tracks with ContentEncodings.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use bytes::Bytes;
use kvs_chunk::{Error, Event, EventDecoder, Events, Fragment, Fragments, Options, ReadEvents};

// ---------------------------------------------------------------------------------------------
// A tiny EBML builder: every element with an 8-byte size (or unknown size for `open`).
// ---------------------------------------------------------------------------------------------

fn el(id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = id_bytes(id);
    out.push(0x01);
    out.extend_from_slice(&(payload.len() as u64).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

fn id_bytes(id: u32) -> Vec<u8> {
    let b = id.to_be_bytes();
    let skip = b.iter().position(|&x| x != 0).unwrap();
    b[skip..].to_vec()
}

fn uint(id: u32, v: u64) -> Vec<u8> {
    el(id, &v.to_be_bytes())
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// An unknown-size master's header.
fn open(id: u32) -> Vec<u8> {
    let mut out = id_bytes(id);
    out.push(0xFF);
    out
}

const EBML: u32 = 0x1A45_DFA3;
const DOC_TYPE: u32 = 0x4282;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_TYPE: u32 = 0x83;
const CODEC_ID: u32 = 0x86;
const TAGS: u32 = 0x1254_C367;
const TAG: u32 = 0x7373;
const SIMPLE_TAG: u32 = 0x67C8;
const TAG_NAME: u32 = 0x45A3;
const TAG_STRING: u32 = 0x4487;
const CLUSTER: u32 = 0x1F43_B675;
const TIMESTAMP: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;
const CRC32: u32 = 0xBF;
const CONTENT_ENCODINGS: u32 = 0x6D80;
const CONTENT_ENCODING: u32 = 0x6240;
const CONTENT_ENCODING_TYPE: u32 = 0x5033;
const CONTENT_COMPRESSION: u32 = 0x5034;
const CONTENT_COMP_ALGO: u32 = 0x4254;
const CONTENT_COMP_SETTINGS: u32 = 0x4255;
const CONTENT_ENCRYPTION: u32 = 0x5035;

fn header() -> Vec<u8> {
    el(EBML, &el(DOC_TYPE, b"matroska"))
}

fn info() -> Vec<u8> {
    el(INFO, &uint(TIMESTAMP_SCALE, 1_000_000))
}

fn tracks(extra: &[u8]) -> Vec<u8> {
    el(
        TRACKS,
        &el(
            TRACK_ENTRY,
            &cat(&[uint(TRACK_NUMBER, 1), uint(TRACK_TYPE, 1), el(CODEC_ID, b"V_TEST"), extra.to_vec()]),
        ),
    )
}

fn tags(pairs: &[(&str, &str)]) -> Vec<u8> {
    let simple: Vec<Vec<u8>> = pairs
        .iter()
        .map(|(n, v)| el(SIMPLE_TAG, &cat(&[el(TAG_NAME, n.as_bytes()), el(TAG_STRING, v.as_bytes())])))
        .collect();
    el(TAGS, &el(TAG, &simple.concat()))
}

fn block(rel: i16, key: bool, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x81];
    p.extend_from_slice(&rel.to_be_bytes());
    p.push(if key { 0x80 } else { 0 });
    p.extend_from_slice(data);
    el(SIMPLE_BLOCK, &p)
}

fn cluster(ts: u64, frames: &[&[u8]]) -> Vec<u8> {
    let mut body = uint(TIMESTAMP, ts);
    for (i, f) in frames.iter().enumerate() {
        body.extend(block(i as i16 * 10, i == 0, f));
    }
    el(CLUSTER, &body)
}

fn start_tags(number: &str) -> Vec<u8> {
    tags(&[
        ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", number),
        ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", "1700000000.000"),
        ("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "1700000000.000"),
    ])
}

fn end_tags(number: &str) -> Vec<u8> {
    tags(&[("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "10"), ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", number)])
}

/// One GetMedia document: start tags, one cluster of `frames`, end tags.
fn getmedia_doc(number: &str, ts: u64, frames: &[&[u8]]) -> Vec<u8> {
    cat(&[
        header(),
        open(SEGMENT),
        info(),
        tracks(&[]),
        start_tags(number),
        cluster(ts, frames),
        end_tags(number),
    ])
}

fn all_fragments(input: &[u8]) -> (Vec<Fragment>, Vec<Error>) {
    let mut frags = Vec::new();
    let mut errors = Vec::new();
    for r in Fragments::new(Events::new(Bytes::copy_from_slice(input))) {
        match r {
            Ok(f) => frags.push(f),
            Err(e) => errors.push(e),
        }
    }
    (frags, errors)
}

fn events(input: &[u8], opts: Options) -> (Vec<Event>, Vec<Error>) {
    let mut evs = Vec::new();
    let mut errors = Vec::new();
    for r in Events::with_options(Bytes::copy_from_slice(input), opts) {
        match r {
            Ok(e) => evs.push(e),
            Err(e) => errors.push(e),
        }
    }
    (evs, errors)
}

/// Decodes `input` fed one byte at a time.
fn bytewise(input: &[u8]) -> (Vec<Event>, Vec<Error>) {
    let mut d = EventDecoder::new();
    let mut evs = Vec::new();
    let mut errors = Vec::new();
    let mut drain = |d: &mut EventDecoder| {
        loop {
            match d.next_event() {
                Ok(Some(e)) => evs.push(e),
                Ok(None) => break,
                Err(e) => {
                    let fatal = !e.is_recoverable();
                    errors.push(e);
                    if fatal {
                        break;
                    }
                }
            }
        }
    };
    for b in input {
        d.feed(Bytes::copy_from_slice(&[*b]));
        drain(&mut d);
    }
    d.finish();
    drain(&mut d);
    (evs, errors)
}

// ---------------------------------------------------------------------------------------------
// Merged documents
// ---------------------------------------------------------------------------------------------

/// What `kvs-mkv merge` (and the Java merger) write: one Segment, each fragment's start tags,
/// cluster and end tags one after the other; here with producer tags between two fragments and
/// a last cluster that has no tags at all.
fn merged() -> Vec<u8> {
    cat(&[
        header(),
        open(SEGMENT),
        info(),
        tracks(&[]),
        start_tags("1"),
        cluster(0, &[b"a0", b"a1"]),
        end_tags("1"),
        tags(&[("TITLE", "second")]),
        start_tags("2"),
        cluster(100, &[b"b0", b"b1", b"b2"]),
        end_tags("2"),
        cluster(200, &[b"c0"]),
    ])
}

#[test]
fn merged_document_gives_every_frame_in_a_fragment() {
    let input = merged();
    let (frags, errors) = all_fragments(&input);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(frags.len(), 3);
    let frames: Vec<Vec<&[u8]>> =
        frags.iter().map(|f| f.frames.iter().map(|x| &x.data[..]).collect()).collect();
    assert_eq!(frames, [vec![&b"a0"[..], b"a1"], vec![&b"b0"[..], b"b1", b"b2"], vec![&b"c0"[..]]]);
    assert_eq!(frags.iter().map(|f| f.fragment).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(frags.iter().map(|f| f.index).collect::<Vec<_>>(), [0, 0, 0]);
    assert_eq!(frags[0].fragment_number().unwrap().as_str(), "1");
    assert_eq!(frags[1].fragment_number().unwrap().as_str(), "2");
    assert!(frags[2].metadata.is_none());
    assert!(frags[0].is_complete() && frags[1].is_complete());
    // The last cluster has no continuation token: incomplete, and said so.
    assert!(!frags[2].is_complete());
    // The producer tag between the fragments belongs to the second one.
    assert!(frags[0].tags.is_empty());
    assert_eq!(frags[1].tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["TITLE"]);
    // Each fragment has the document's track.
    assert!(frags.iter().all(|f| f.tracks.len() == 1 && f.tracks[0].number == 1));
    assert_eq!(frags[2].frames[0].timestamp_ms(), 200);
}

#[test]
fn merged_document_events_are_the_same_fed_byte_by_byte() {
    let input = merged();
    let (whole, errors) = events(&input, Options::default());
    assert!(errors.is_empty());
    let (fed, errors) = bytewise(&input);
    assert!(errors.is_empty());
    assert_eq!(whole, fed);
    let starts: Vec<(u64, u64)> = whole
        .iter()
        .filter_map(|e| match e {
            Event::FragmentStart { index, fragment, .. } => Some((*index, *fragment)),
            _ => None,
        })
        .collect();
    assert_eq!(starts, [(0, 1), (0, 2)]);
}

#[test]
fn getmedia_payload_has_no_fragment_start() {
    let input = cat(&[getmedia_doc("1", 0, &[b"x"]), getmedia_doc("2", 100, &[b"y"])]);
    let (evs, errors) = events(&input, Options::default());
    assert!(errors.is_empty());
    assert!(!evs.iter().any(|e| matches!(e, Event::FragmentStart { .. })));
    let (frags, _) = all_fragments(&input);
    assert_eq!(frags.iter().map(|f| (f.index, f.fragment)).collect::<Vec<_>>(), [(0, 0), (1, 0)]);
}

#[test]
fn extra_end_tags_after_a_fragment_start_no_empty_fragment() {
    // A second Tags element of end tags (no start tag, no cluster) after the fragment ended:
    // no new fragment.
    let input = cat(&[getmedia_doc("1", 0, &[b"x"]), tags(&[("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "5")])]);
    let (frags, errors) = all_fragments(&input);
    assert!(errors.is_empty());
    assert_eq!(frags.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// The AWS CLI's JSON trailer
// ---------------------------------------------------------------------------------------------

/// What `aws kinesis-video-media get-media ... /dev/stdout` prints after the payload (the
/// AWS CLI's JSON output, indented by 4, one key per line): these exact 36 bytes, captured
/// from aws-cli 1.45.11 run against a loopback server.
const AWS_CLI_TRAILER: &[u8] = b"{\n    \"ContentType\": \"video/webm\"\n}\n";

fn check_trailer(payload: &[u8], trailer: &[u8]) {
    let input = cat(&[payload.to_vec(), trailer.to_vec()]);
    let (plain, errors) = events(payload, Options::default());
    assert!(errors.is_empty());
    let (with, errors) = events(&input, Options::default());
    assert!(errors.is_empty(), "{errors:?}");
    // The same events, the last document ending where the trailer starts.
    assert_eq!(with, plain);
    let (fed, errors) = bytewise(&input);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(fed, plain);
    let mut d = EventDecoder::new();
    d.feed(Bytes::copy_from_slice(&input));
    d.finish();
    while d.next_event().unwrap().is_some() {}
    assert_eq!(d.trailer(), Some((payload.len() as u64, trailer.len() as u64)));
    // ReadEvents (small reads) too.
    let read: Vec<_> =
        ReadEvents::new(std::io::Cursor::new(input)).read_size(7).collect::<Result<_, _>>().unwrap();
    assert_eq!(read, plain);
}

#[test]
fn aws_cli_trailer_after_unknown_size_segment_is_ignored() {
    let payload = cat(&[getmedia_doc("1", 0, &[b"x"]), getmedia_doc("2", 100, &[b"y"])]);
    check_trailer(&payload, AWS_CLI_TRAILER);
    check_trailer(&payload, b"{\"ContentType\": \"video/webm\"}");
    check_trailer(
        &payload,
        b"{\r\n  \"ContentType\": \"video/webm\",\r\n  \"Payload\": \"...\"\r\n}\r\n\r\n",
    );
}

#[test]
fn aws_cli_trailer_after_known_size_segment_is_ignored() {
    let body = cat(&[info(), tracks(&[]), start_tags("1"), cluster(0, &[b"x", b"y"]), end_tags("1")]);
    let payload = cat(&[header(), el(SEGMENT, &body)]);
    check_trailer(&payload, AWS_CLI_TRAILER);
}

#[test]
fn json_that_is_not_a_trailer_is_still_an_error() {
    let payload = getmedia_doc("1", 0, &[b"x"]);
    // Not closed: not a trailer (it is read as elements, and fails).
    let input = cat(&[payload.clone(), b"{\n    \"ContentType\": \"video/webm\"\n".to_vec()]);
    let (_, errors) = events(&input, Options::default());
    assert!(!errors.is_empty());
    // More than 64 KiB: not a trailer.
    let mut big = b"{\"a\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'x', 70_000));
    big.extend_from_slice(b"\"}");
    let (_, errors) = events(&cat(&[payload, big]), Options::default());
    assert!(!errors.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Not EBML at all
// ---------------------------------------------------------------------------------------------

#[test]
fn text_html_and_json_are_not_ebml() {
    for input in [
        &b"hello, world\n"[..],
        b"<!DOCTYPE html><html><body>403 Forbidden</body></html>",
        b"{\"ContentType\": \"video/webm\"}",
        b"\x00\x00\x00\x18ftypmp42",
        b"ab",
    ] {
        let (evs, errors) = events(input, Options::default());
        assert!(evs.is_empty(), "{evs:?}");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(matches!(errors[0], Error::NotEbml { offset: 0 }), "{errors:?}");
        assert!(!errors[0].is_recoverable());
        assert_eq!(errors[0].to_string(), "not Matroska/EBML: no EBML header at byte offset 0");
        // With resynchronisation too, and fed byte by byte.
        let (_, errors) = events(input, Options::default().resync(true));
        assert!(matches!(errors[..], [Error::NotEbml { offset: 0 }]), "{errors:?}");
        let (_, errors) = bytewise(input);
        assert!(matches!(errors[..], [Error::NotEbml { offset: 0 }]), "{errors:?}");
        let read: Vec<_> = ReadEvents::new(std::io::Cursor::new(input.to_vec())).read_size(1).collect();
        assert!(matches!(read[..], [Err(Error::NotEbml { offset: 0 })]), "{read:?}");
    }
}

#[test]
fn empty_input_is_no_document_and_says_it_was_empty() {
    let mut d = EventDecoder::new();
    d.finish();
    assert!(d.next_event().unwrap().is_none());
    assert!(d.is_empty_input());
    let mut d = EventDecoder::new();
    d.feed(Bytes::copy_from_slice(&header()));
    d.finish();
    while d.next_event().unwrap().is_some() {}
    assert!(!d.is_empty_input());
}

#[test]
fn a_capture_starting_at_a_segment_or_cluster_is_still_read() {
    let at_segment = cat(&[open(SEGMENT), info(), tracks(&[]), cluster(0, &[b"x"])]);
    let (evs, errors) = events(&at_segment, Options::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(evs.iter().filter(|e| matches!(e, Event::Frame(_))).count(), 1);
    let at_cluster = cluster(0, &[b"x", b"y"]);
    let (evs, errors) = events(&at_cluster, Options::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(evs.iter().filter(|e| matches!(e, Event::Frame(_))).count(), 2);
}

// ---------------------------------------------------------------------------------------------
// CRC-32 errors name their element
// ---------------------------------------------------------------------------------------------

#[test]
fn crc_mismatch_names_the_element_and_its_offset() {
    let body = cat(&[uint(TIMESTAMP, 0), block(0, true, b"frame")]);
    let bad_cluster = el(CLUSTER, &cat(&[el(CRC32, &0xDEAD_BEEF_u32.to_le_bytes()), body]));
    let prefix = cat(&[header(), open(SEGMENT), info(), tracks(&[])]);
    let input = cat(&[prefix.clone(), bad_cluster]);
    let (evs, errors) = events(&input, Options::default().verify_crc(true));
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert!(e.is_recoverable());
    assert_eq!(e.offset(), Some(prefix.len() as u64));
    assert_eq!(e.element(), Some((kvs_ebml::ids::CLUSTER, Some("Cluster"))));
    let text = e.to_string();
    assert!(text.contains("CRC-32 mismatch"), "{text}");
    assert!(text.contains("(element 0x1F43B675 Cluster)"), "{text}");
    assert!(text.contains(&format!("byte offset {}", prefix.len())), "{text}");
    // The frame is still delivered.
    assert_eq!(evs.iter().filter(|e| matches!(e, Event::Frame(_))).count(), 1);
}

// ---------------------------------------------------------------------------------------------
// ContentEncodings
// ---------------------------------------------------------------------------------------------

fn compression(algo: u64, settings: Option<&[u8]>) -> Vec<u8> {
    let mut comp = uint(CONTENT_COMP_ALGO, algo);
    if let Some(s) = settings {
        comp.extend(el(CONTENT_COMP_SETTINGS, s));
    }
    el(CONTENT_ENCODINGS, &el(CONTENT_ENCODING, &el(CONTENT_COMPRESSION, &comp)))
}

fn encoded_file(encodings: &[u8], frames: &[&[u8]]) -> Vec<u8> {
    cat(&[header(), open(SEGMENT), info(), tracks(encodings), cluster(0, frames)])
}

fn frames_of(input: &[u8]) -> (Vec<Vec<u8>>, Vec<kvs_chunk::Track>, Vec<Error>) {
    let (evs, errors) = events(input, Options::default());
    let frames = evs
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f.data.to_vec()),
            _ => None,
        })
        .collect();
    let tracks = evs
        .iter()
        .find_map(|e| match e {
            Event::Tracks(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap();
    (frames, tracks, errors)
}

#[test]
fn header_stripping_is_undone() {
    let input = encoded_file(&compression(3, Some(b"\x00\x00\x01")), &[b"\x65abc", b"\x41de"]);
    let (frames, tracks, errors) = frames_of(&input);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(frames, [b"\x00\x00\x01\x65abc".to_vec(), b"\x00\x00\x01\x41de".to_vec()]);
    assert_eq!(tracks[0].content_encodings.len(), 1);
    assert!(tracks[0].unsupported_encoding.is_none());
}

#[test]
fn zlib_is_undone() {
    use std::io::Write;
    let original = b"the codec's own bytes, repeated: the codec's own bytes".to_vec();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&original).unwrap();
    let packed = z.finish().unwrap();
    let input = encoded_file(&compression(0, None), &[&packed]);
    let (frames, tracks, errors) = frames_of(&input);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(frames, [original]);
    assert!(tracks[0].unsupported_encoding.is_none());
}

#[test]
fn bad_zlib_is_a_recoverable_error_naming_the_block() {
    let input = encoded_file(&compression(0, None), &[b"not zlib at all", b"\x78\x9c"]);
    let (evs, errors) = events(&input, Options::default());
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().all(|e| e.is_recoverable() && matches!(e, Error::ContentEncoding { .. })));
    assert!(!evs.iter().any(|e| matches!(e, Event::Frame(_))));
}

#[test]
fn zlib_bomb_is_capped_at_the_binary_limit() {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![0u8; 8 << 20]).unwrap();
    let packed = z.finish().unwrap();
    let mut limits = kvs_chunk::Limits::default();
    limits.max_binary_size = 1 << 20;
    let input = encoded_file(&compression(0, None), &[&packed]);
    let (evs, errors) = events(&input, Options::default().limits(limits));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(errors[0], Error::ContentEncoding { .. }), "{errors:?}");
    assert!(!evs.iter().any(|e| matches!(e, Event::Frame(_))));
}

#[test]
fn unsupported_encodings_mark_the_track_and_frames_stay_raw() {
    for (encodings, what) in [
        (compression(1, None), "bzlib"),
        (compression(2, None), "lzo1x"),
        (
            el(
                CONTENT_ENCODINGS,
                &el(CONTENT_ENCODING, &cat(&[uint(CONTENT_ENCODING_TYPE, 1), el(CONTENT_ENCRYPTION, &[])])),
            ),
            "encryption",
        ),
    ] {
        let input = encoded_file(&encodings, &[b"raw"]);
        let (frames, tracks, errors) = frames_of(&input);
        assert!(errors.is_empty(), "{what}: {errors:?}");
        assert_eq!(frames, [b"raw".to_vec()], "{what}");
        let reason =
            tracks[0].unsupported_encoding.as_deref().unwrap_or_else(|| panic!("{what}: not marked"));
        assert!(reason.contains(what), "{what}: {reason}");
    }
}

/// Every frame of `path`, per track number.
fn frames_per_track(
    path: &std::path::Path,
) -> (Vec<kvs_chunk::Track>, std::collections::BTreeMap<u64, Vec<Vec<u8>>>) {
    let (evs, errors) = events(&std::fs::read(path).unwrap(), Options::default());
    assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    let mut tracks = Vec::new();
    let mut out = std::collections::BTreeMap::<u64, Vec<Vec<u8>>>::new();
    for e in evs {
        match e {
            Event::Tracks(t) => tracks = t,
            Event::Frame(f) => out.entry(f.track).or_default().push(f.data.to_vec()),
            _ => {}
        }
    }
    (tracks, out)
}

/// A real MPEG-4 Part 2 file written by FFmpeg, in a fresh temporary directory.
fn ffmpeg_source() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let (ffmpeg, ffprobe) = kvs_testkit::ffmpeg()?;
    let dir = std::env::temp_dir().join(format!(
        "kvs-chunk-encodings-{}-{}",
        std::process::id(),
        kvs_testkit::current_test()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("src.mkv");
    let status = std::process::Command::new(&ffmpeg)
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=1:size=64x48:rate=10",
            "-c:v",
            "mpeg4",
        ])
        .args(["-f", "matroska"])
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    Some((src, ffprobe))
}

#[test]
fn mkvmerge_zlib_gives_ffmpegs_packets() {
    // FFmpeg writes an MPEG-4 Part 2 file, mkvmerge (MKVToolNix) rewrites it with zlib
    // compression: each frame must come out as the codec's own bytes (the source's frames,
    // FFmpeg's packet sizes).
    let Some((src, ffprobe)) = ffmpeg_source() else { return };
    let Some(mkvmerge) = kvs_testkit::tool("mkvmerge", "apt-get install -y mkvtoolnix") else { return };
    let (_, original) = frames_per_track(&src);
    assert_eq!(original[&1].len(), 10);
    let out = src.with_file_name("zlib.mkv");
    let status = std::process::Command::new(&mkvmerge)
        .args(["-q", "-o"])
        .arg(&out)
        .args(["--compression", "0:zlib"])
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success(), "mkvmerge");
    let (tracks, frames) = frames_per_track(&out);
    assert_eq!(tracks[0].content_encodings.len(), 1);
    assert_eq!(tracks[0].content_encodings[0].comp_algo.unwrap_or(0), 0);
    assert!(tracks[0].unsupported_encoding.is_none());
    // The stored frames are compressed ...
    let raw = std::fs::read(&out).unwrap();
    assert!(!raw.windows(original[&1][0].len()).any(|w| w == original[&1][0].as_slice()));
    // ... and come out as the codec's own bytes, FFmpeg's packets.
    assert_eq!(frames[&1], original[&1]);
    let packets = kvs_testkit::oracle::ffprobe_packets(&ffprobe, &out);
    let sizes: Vec<u64> = frames[&1].iter().map(|f| f.len() as u64).collect();
    assert_eq!(sizes, packets.iter().map(|p| p.size).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(src.parent().unwrap());
}

#[test]
fn header_stripped_ffmpeg_frames_give_ffmpegs_packets() {
    // FFmpeg's own MPEG-4 Part 2 frames (each starts 00 00 01), stored with header stripping
    // (ContentCompAlgo 3, settings 00 00 01): FFmpeg reads the file back with the sizes of
    // the original frames, and so must kvs-chunk, byte for byte.
    let Some((src, ffprobe)) = ffmpeg_source() else { return };
    let (tracks, original) = frames_per_track(&src);
    let frames = &original[&1];
    assert!(frames.iter().all(|f| f.starts_with(b"\x00\x00\x01")));
    let stripped: Vec<&[u8]> = frames.iter().map(|f| &f[3..]).collect();
    let entry = cat(&[
        uint(TRACK_NUMBER, 1),
        uint(TRACK_TYPE, 1),
        el(CODEC_ID, b"V_MPEG4/ISO/ASP"),
        el(0x63A2, tracks[0].codec_private.as_deref().unwrap()),
        el(0xE0, &cat(&[uint(0xB0, 64), uint(0xBA, 48)])),
        compression(3, Some(b"\x00\x00\x01")),
    ]);
    let mut body = uint(TIMESTAMP, 0);
    for (i, f) in stripped.iter().enumerate() {
        body.extend(block(i as i16 * 100, i == 0, f));
    }
    let file =
        cat(&[header(), open(SEGMENT), info(), el(TRACKS, &el(TRACK_ENTRY, &entry)), el(CLUSTER, &body)]);
    let path = src.with_file_name("stripped.mkv");
    std::fs::write(&path, &file).unwrap();
    let (tracks, decoded) = frames_per_track(&path);
    assert_eq!(tracks[0].content_encodings[0].comp_algo, Some(3));
    assert_eq!(&decoded[&1], frames);
    let packets = kvs_testkit::oracle::ffprobe_packets(&ffprobe, &path);
    let sizes: Vec<u64> = decoded[&1].iter().map(|f| f.len() as u64).collect();
    assert_eq!(sizes, packets.iter().map(|p| p.size).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(src.parent().unwrap());
}

#[test]
fn aws_cli_trailer_after_a_real_getmedia_payload() {
    // `aws kinesis-video-media get-media ... /dev/stdout | cat > out` (aws-cli 1.45.11, against a
    // loopback server sending this capture) wrote the capture followed by exactly
    // AWS_CLI_TRAILER (36 bytes). Every fragment is read, complete, with no error.
    let Some(path) = kvs_testkit::conformance_path("kvs-java/output_get_media.mkv") else { return };
    let payload = std::fs::read(path).unwrap();
    let input = cat(&[payload.clone(), AWS_CLI_TRAILER.to_vec()]);
    let (frags, errors) = all_fragments(&input);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(frags.len(), 5);
    assert!(frags.iter().all(Fragment::is_complete));
    assert_eq!(frags.iter().map(|f| f.frames.len()).sum::<usize>(), 300);
    check_trailer(&payload, AWS_CLI_TRAILER);
}

#[test]
fn real_zlib_subtitle_tracks_give_ffmpegs_packets() {
    // Third-party files whose PGS and VobSub tracks are zlib-compressed (ContentCompAlgo 0):
    // kvs-chunk's frames have FFmpeg's packet sizes, track by track.
    let Some((_, ffprobe)) = kvs_testkit::ffmpeg() else { return };
    for name in ["tests__data__subtitles_pgs.mkv", "tests__data__subtitles_vobsub.mkv"] {
        let Some(path) = kvs_testkit::conformance_path(&format!("matroska-real/matroska-demuxer/{name}"))
        else {
            return;
        };
        let (tracks, frames) = frames_per_track(&path);
        let encoded: Vec<u64> =
            tracks.iter().filter(|t| !t.content_encodings.is_empty()).map(|t| t.number).collect();
        assert_eq!(encoded, [2, 3], "{name}");
        assert!(tracks.iter().all(|t| t.unsupported_encoding.is_none()), "{name}");
        let packets = kvs_testkit::oracle::ffprobe_packets(&ffprobe, &path);
        for (i, t) in tracks.iter().enumerate() {
            let ffmpeg: Vec<u64> = packets.iter().filter(|p| p.stream == i as u64).map(|p| p.size).collect();
            let ours: Vec<u64> = frames[&t.number].iter().map(|f| f.len() as u64).collect();
            assert_eq!(ours, ffmpeg, "{name}: track {}", t.number);
        }
    }
}

#[test]
fn many_tiny_merged_fragments_do_not_copy_huge_tracks_without_bound() {
    // A 512 KiB track name and 400 fragments of a few dozen bytes each: repeating the tracks
    // for every fragment would copy 200 MiB. The copies stay within 8 times the document's
    // size plus 1 MiB; the rest are refused with a warning, and every frame still arrives.
    let name = vec![b'n'; 512 << 10];
    let entry =
        cat(&[uint(TRACK_NUMBER, 1), uint(TRACK_TYPE, 1), el(CODEC_ID, b"V_TEST"), el(0x536E, &name)]);
    let mut input = cat(&[header(), open(SEGMENT), info(), el(TRACKS, &el(TRACK_ENTRY, &entry))]);
    for i in 0..400 {
        input.extend(cluster(i, &[b"f"]));
        input.extend(tags(&[("AWS_KINESISVIDEO_CONTINUATION_TOKEN", "t")]));
    }
    let (evs, errors) = events(&input, Options::default());
    assert!(errors.is_empty(), "{errors:?}");
    let copied: usize = evs
        .iter()
        .filter_map(|e| match e {
            Event::Tracks(t) => Some(t.iter().map(|t| t.name.as_ref().map_or(0, String::len)).sum::<usize>()),
            _ => None,
        })
        .sum();
    assert!(copied as u64 <= input.len() as u64 * 8 + (1 << 20) + name.len() as u64, "{copied}");
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::Warning(w) if w.kind == kvs_chunk::WarningKind::TracksNotRepeated))
    );
    assert_eq!(evs.iter().filter(|e| matches!(e, Event::Frame(_))).count(), 400);
    assert_eq!(evs.iter().filter(|e| matches!(e, Event::FragmentEnd(_))).count(), 400);
}

#[test]
fn the_borrowed_reader_owns_only_the_frames_it_decoded() {
    use std::borrow::Cow;
    // Header stripping rewrites every frame of the track: SliceEvents hands those out as
    // owned buffers, equal to the owned reader's; a plain file's frames stay borrowed.
    let input = encoded_file(&compression(3, Some(b"\x00\x00\x01")), &[b"\x65abc", b"\x41de"]);
    let frames: Vec<Cow<'_, [u8]>> = kvs_chunk::SliceEvents::new(&input)
        .filter_map(|e| match e.unwrap() {
            Event::Frame(f) => Some(f.data),
            _ => None,
        })
        .collect();
    assert_eq!(frames, [&b"\x00\x00\x01\x65abc"[..], &b"\x00\x00\x01\x41de"[..]]);
    assert!(frames.iter().all(|d| matches!(d, Cow::Owned(_))));
    let plain = encoded_file(&[], &[b"\x65abc", b"\x41de"]);
    let frames: Vec<Cow<'_, [u8]>> = kvs_chunk::SliceEvents::new(&plain)
        .filter_map(|e| match e.unwrap() {
            Event::Frame(f) => Some(f.data),
            _ => None,
        })
        .collect();
    assert_eq!(frames, [&b"\x65abc"[..], &b"\x41de"[..]]);
    assert!(frames.iter().all(|d| matches!(d, Cow::Borrowed(_))));
}
