//! Issue 12, at the layer where each defect lived: what a producer writes on purpose cannot
//! make the decoder keep more than its `Limits` allow, and what it reads around is reported
//! as a `Warning` event (ReferenceBlocks, repeated and duplicate Tracks, track numbers no
//! block can carry, tags per fragment, BlockGroups with two Blocks, undeclared tracks). The
//! inputs are the hostile corpus's (`testdata/hostile/`), plus endless generated streams whose
//! peak memory is measured in a child process.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::path::Path;
use std::process::{Command, Stdio};

use bytes::Bytes;
use kvs_chunk::{Event, EventDecoder, Events, Limits, Options, TagValue, Track, Warning, WarningKind};
use kvs_testkit::mkv::{UNKNOWN, doc_start, el, simple_tag};

fn hostile(name: &str) -> Bytes {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hostile").join(name);
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn decode(data: Bytes) -> Vec<Event> {
    Events::new(data).map(|e| e.unwrap()).collect()
}

fn warnings(events: &[Event]) -> Vec<&Warning> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Warning(w) => Some(w),
            _ => None,
        })
        .collect()
}

fn tracks_events(events: &[Event]) -> Vec<&Vec<Track>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Tracks(t) => Some(t),
            _ => None,
        })
        .collect()
}

#[test]
fn references_are_capped_per_group_and_shared_by_the_frames_of_a_lace() {
    let events = decode(hostile("references_40000_laced.mkv"));
    let frames: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 256);
    let first = frames[0].references.as_slice();
    assert_eq!(first.len(), Limits::default().max_references);
    assert!(first.iter().all(|&r| r == -1));
    for f in &frames {
        assert!(!f.keyframe, "a group with references is not a keyframe");
        // One list for the whole lace, not one copy per frame.
        assert_eq!(f.references.as_slice().as_ptr(), first.as_ptr());
    }
    let w = warnings(&events);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].kind, WarningKind::ReferencesDropped { dropped: 40_000 - 16 });
}

#[test]
fn the_reference_cap_is_a_limit_the_caller_sets() {
    let opts = Options::default().limits(Limits::default().max_references(2));
    let events: Vec<_> =
        Events::with_options(hostile("references_40000_laced.mkv"), opts).map(|e| e.unwrap()).collect();
    let Some(Event::Frame(f)) = events.iter().find(|e| matches!(e, Event::Frame(_))) else { panic!() };
    assert_eq!(f.references, [-1, -1]);
    // Even with no reference kept, a group that had some is not a keyframe.
    let opts = Options::default().limits(Limits::default().max_references(0));
    let events: Vec<_> =
        Events::with_options(hostile("references_40000_laced.mkv"), opts).map(|e| e.unwrap()).collect();
    let Some(Event::Frame(f)) = events.iter().find(|e| matches!(e, Event::Frame(_))) else { panic!() };
    assert!(f.references.is_empty() && !f.keyframe);
}

#[test]
fn the_last_tracks_wins_and_each_tracks_event_holds_only_its_own_entries() {
    let events = decode(hostile("tracks_repeated_3000.mkv"));
    let tracks = tracks_events(&events);
    assert_eq!(tracks.len(), 3000);
    assert!(tracks.iter().all(|t| t.len() == 1), "a Tracks event grew");
    // 3,000 in turn from AVC: the last is HEVC.
    assert_eq!(tracks[2999][0].codec_id.as_deref(), Some("V_MPEGH/ISO/HEVC"));
    let replaced = warnings(&events).iter().filter(|w| w.kind == WarningKind::TracksReplaced).count();
    assert_eq!(replaced, 2999);
    // Each warning comes just before the Tracks event it announces.
    let i = events.iter().position(|e| matches!(e, Event::Warning(_))).unwrap();
    assert!(matches!(events[i - 1], Event::Tracks(_)) && matches!(events[i + 1], Event::Tracks(_)));
}

#[test]
fn a_duplicate_track_number_keeps_the_first_entry() {
    let events = decode(hostile("tracks_duplicate_number.mkv"));
    let tracks = tracks_events(&events);
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].len(), 1);
    assert_eq!(tracks[0][0].codec_id.as_deref(), Some("V_MPEG4/ISO/AVC"));
    assert_eq!(warnings(&events)[0].kind, WarningKind::DuplicateTrackNumber { number: 1 });
}

#[test]
fn a_track_number_no_block_can_carry_is_dropped() {
    let events = decode(hostile("track_number_2pow64_minus_1.mkv"));
    let tracks = tracks_events(&events);
    assert_eq!(tracks[0].iter().map(|t| t.number).collect::<Vec<_>>(), [1]);
    assert_eq!(warnings(&events)[0].kind, WarningKind::InvalidTrackNumber { number: u64::MAX });
    // TrackNumber 0 and a missing TrackNumber are dropped too.
    let mut doc = doc_start();
    doc.extend(el(
        &[0x16, 0x54, 0xAE, 0x6B],
        &[el(&[0xAE], &el(&[0xD7], &[0])), el(&[0xAE], &el(&[0x86], b"A_OPUS"))].concat(),
    ));
    let events = decode(Bytes::from(doc));
    assert!(tracks_events(&events)[0].is_empty());
    assert_eq!(warnings(&events).len(), 2);
}

#[test]
fn too_many_track_entries_are_dropped_and_counted() {
    let entries: Vec<u8> = (1..=200u8).flat_map(|n| el(&[0xAE], &el(&[0xD7], &[n]))).collect();
    let mut doc = doc_start();
    doc.extend(el(&[0x16, 0x54, 0xAE, 0x6B], &entries));
    let events = decode(Bytes::from(doc));
    assert_eq!(tracks_events(&events)[0].len(), 128);
    assert_eq!(warnings(&events)[0].kind, WarningKind::TrackEntriesDropped { dropped: 72 });
}

#[test]
fn tags_are_capped_per_fragment_and_the_drop_is_reported() {
    let events = decode(hostile("tags_5000_in_one_tag.mkv"));
    let tags = events.iter().filter(|e| matches!(e, Event::Tag(_))).count();
    assert_eq!(tags, 1024);
    let w = warnings(&events);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].kind, WarningKind::TagsDropped { count: 5000 - 1024, bytes: (5000 - 1024) * 2 });
    // By bytes too: 1 KiB of tags, then nothing more.
    let opts = Options::default().limits(Limits::default().max_tag_bytes(1024));
    let n = Events::with_options(hostile("tags_5000_in_one_tag.mkv"), opts)
        .filter(|e| matches!(e, Ok(Event::Tag(_))))
        .count();
    assert_eq!(n, 512, "2 bytes a tag: 512 tags reach 1,024 bytes");
}

#[test]
fn the_service_tags_are_read_past_the_tag_budget_and_the_budget_is_per_fragment() {
    let fragment = |n: &str| {
        let mut simple: Vec<u8> = (0..2000).flat_map(|_| simple_tag("PRODUCER", "x")).collect();
        simple.extend(simple_tag("AWS_KINESISVIDEO_FRAGMENT_NUMBER", n));
        simple.extend(simple_tag("AWS_KINESISVIDEO_CONTINUATION_TOKEN", n));
        let mut doc = doc_start();
        doc.extend(el(&[0x1F, 0x43, 0xB6, 0x75], &el(&[0xE7], &[0])));
        doc.extend(el(&[0x12, 0x54, 0xC3, 0x67], &el(&[0x73, 0x73], &simple)));
        doc
    };
    let events = decode(Bytes::from([fragment("1"), fragment("2")].concat()));
    let numbers: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::FragmentMetadata(m) => Some(m.fragment_number.clone().unwrap().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(numbers, ["1", "2"]);
    let complete = events.iter().filter(|e| matches!(e, Event::FragmentEnd(f) if f.complete)).count();
    assert_eq!(complete, 2, "the continuation tokens past the budget were read");
    let per_doc: Vec<usize> = [0, 1]
        .iter()
        .map(|&d| events.iter().filter(|e| matches!(e, Event::Tag(t) if t.index == d)).count())
        .collect();
    assert_eq!(per_doc, [1024, 1024]);
}

#[test]
fn kept_tag_values_do_not_pin_the_input() {
    let input = Bytes::from(hostile("tags_5000_in_one_tag.mkv").to_vec());
    let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
    for e in decode(input.clone()) {
        if let Event::Tag(t) = e
            && let TagValue::String(v) = &t.value
        {
            assert!(!range.contains(&(v.as_ptr() as usize)), "a kept tag value is a slice of the input");
        }
    }
}

#[test]
fn a_blockgroup_with_two_blocks_keeps_the_first() {
    let events = decode(hostile("blockgroup_two_blocks.mkv"));
    let frames: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f.data.to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(frames, [vec![1, 1, 1]]);
    assert_eq!(warnings(&events)[0].kind, WarningKind::ExtraBlocks { dropped: 1 });
}

#[test]
fn blocks_of_undeclared_tracks_are_delivered_with_one_warning_per_track() {
    let events = decode(hostile("undeclared_track.mkv"));
    let w = warnings(&events);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].kind, WarningKind::UndeclaredTrack { track: 2 });
    // The warning comes before the first frame of that track.
    let at = events.iter().position(|e| matches!(e, Event::Warning(_))).unwrap();
    assert!(matches!(&events[at + 1], Event::Frame(f) if f.track == 2));
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Frame(_))).count(), 3);

    let events = decode(hostile("tracks_after_frames.mkv"));
    assert_eq!(warnings(&events)[0].kind, WarningKind::UndeclaredTrack { track: 1 });
}

/// The number of undeclared-track warnings is bounded per document.
#[test]
fn undeclared_track_warnings_are_bounded() {
    let blocks: Vec<u8> = (1..=100u8).flat_map(|t| el(&[0xA3], &[0x80 | t, 0, 0, 0x80, 1])).collect();
    let mut doc = doc_start();
    doc.extend(el(&[0x1F, 0x43, 0xB6, 0x75], &[el(&[0xE7], &[0]), blocks].concat()));
    let events = decode(Bytes::from(doc));
    assert_eq!(warnings(&events).len(), 16);
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Frame(_))).count(), 100);
}

// ---------------------------------------------------------------------------------------------
// Endless streams: peak memory measured in a child process (VmHWM), fed 64 KiB at a time.

/// Peak resident memory allowed for an endless stream through the decoder.
const ENDLESS_MAX_KIB: u64 = 32 * 1024;

/// Bytes fed to each endless stream.
const ENDLESS_BYTES: usize = 24 << 20;

/// A document that never ends: `head`, then `unit` repeated until `ENDLESS_BYTES` are fed.
fn feed_endless(head: &[u8], unit: &[u8]) -> (u64, u64) {
    let mut decoder = EventDecoder::new();
    decoder.feed(Bytes::copy_from_slice(head));
    let reps = (64 << 10) / unit.len().max(1) + 1;
    let chunk = Bytes::from(unit.repeat(reps));
    let (mut fed, mut events, mut warnings) = (0usize, 0u64, 0u64);
    while fed < ENDLESS_BYTES {
        // A fresh copy each time, as a reader's buffers would be.
        decoder.feed(Bytes::copy_from_slice(&chunk));
        fed += chunk.len();
        while let Some(e) = decoder.next_event().transpose() {
            match e.unwrap() {
                Event::Warning(_) => warnings += 1,
                _ => events += 1,
            }
        }
    }
    (events, warnings)
}

fn child_peak_kib(test: &str) -> Option<u64> {
    if !Path::new("/proc/self/status").exists() {
        kvs_testkit::skip("/proc/self/status", "peak memory is read from it: run the tests on Linux");
        return None;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("KVS_ENDLESS_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{test}: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let peak = stdout.lines().find_map(|l| l.strip_prefix("PEAK ")).unwrap_or_else(|| panic!("{stdout}"));
    Some(peak.trim().parse().unwrap())
}

fn report_peak() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    println!("\nPEAK {}", hwm.split_whitespace().nth(1).unwrap_or("0"));
}

fn endless_tags() -> (Vec<u8>, Vec<u8>) {
    let mut head = doc_start();
    head.extend([0x12, 0x54, 0xC3, 0x67]);
    head.extend(UNKNOWN);
    head.extend([0x73, 0x73]);
    head.extend(UNKNOWN);
    (head, simple_tag("ENDLESS", "0123456789"))
}

#[test]
fn child_endless_tags() {
    if std::env::var_os("KVS_ENDLESS_CHILD").is_none() {
        return;
    }
    let (head, unit) = endless_tags();
    let (events, _) = feed_endless(&head, &unit);
    assert!(events < 64, "the tags of an endless Tag are held, not sent: {events} events");
    report_peak();
}

#[test]
fn an_endless_tag_stays_within_bounded_memory() {
    let Some(peak) = child_peak_kib("child_endless_tags") else { return };
    assert!(peak <= ENDLESS_MAX_KIB, "peak {peak} KiB over {ENDLESS_MAX_KIB} KiB");
}

#[test]
fn child_endless_tracks() {
    if std::env::var_os("KVS_ENDLESS_CHILD").is_none() {
        return;
    }
    let entry = el(&[0xAE], &[el(&[0xD7], &[1]), el(&[0x86], b"V_MPEG4/ISO/AVC")].concat());
    let unit = el(&[0x16, 0x54, 0xAE, 0x6B], &entry);
    let (_, warnings) = feed_endless(&doc_start(), &unit);
    assert!(warnings > 100_000);
    report_peak();
}

#[test]
fn endless_tracks_elements_stay_within_bounded_memory() {
    let Some(peak) = child_peak_kib("child_endless_tracks") else { return };
    assert!(peak <= ENDLESS_MAX_KIB, "peak {peak} KiB over {ENDLESS_MAX_KIB} KiB");
}

#[test]
fn child_endless_references() {
    if std::env::var_os("KVS_ENDLESS_CHILD").is_none() {
        return;
    }
    // An unknown-size Cluster of BlockGroups, each a 256-frame lace with 1,000 references.
    let mut lace = vec![0x81, 0, 0, 0x02, 255];
    lace.extend(std::iter::repeat_n(1u8, 255));
    lace.extend(std::iter::repeat_n(0xABu8, 256));
    let mut group = el(&[0xA1], &lace);
    for _ in 0..1000 {
        group.extend(el(&[0xFB], &[0xFF]));
    }
    let mut head = doc_start();
    head.extend([0x1F, 0x43, 0xB6, 0x75]);
    head.extend(UNKNOWN);
    head.extend(el(&[0xE7], &[0]));
    let (events, warnings) = feed_endless(&head, &el(&[0xA0], &group));
    assert!(events > 100_000 && warnings > 100);
    report_peak();
}

#[test]
fn endless_reference_blocks_stay_within_bounded_memory() {
    let Some(peak) = child_peak_kib("child_endless_references") else { return };
    assert!(peak <= ENDLESS_MAX_KIB, "peak {peak} KiB over {ENDLESS_MAX_KIB} KiB");
}
