//! GetMedia payloads served over HTTP, read by tools that are not this project's: FFmpeg's
//! `ffprobe` and MKVToolNix's `mkvinfo` read the bytes the server sent, and their answers are
//! compared with what the fixtures' documented spec (testdata/MANIFEST.md) and the upstream
//! Java parser library's values (../shared/conformance/kvs-java/EXPECTED.md) say, never
//! with this project's own decoding. Under CI=true a missing tool or capture fails the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use aws_sdk_kinesisvideomedia::types::StartSelectorType;
use common::*;
use kvs_local::{LocalKvs, Source};
use kvs_testkit::oracle::{
    Packet, ffprobe_packets, ffprobe_streams, mkvinfo_lines, mkvinfo_tags, tag_values, temp_file,
};

/// The EARLIEST payload of a server over `source`, saved to a file named `name`.
async fn served(name: &str, source: Source) -> std::path::PathBuf {
    let server = LocalKvs::builder().stream("s", source).bind("127.0.0.1:0").await.unwrap();
    let payload = get_media(&media_client(server.url()), "s", selector(StartSelectorType::Earliest)).await;
    server.shutdown().await;
    temp_file(name, &payload)
}

/// Oracle: ffprobe. For each fixture ffprobe reads as a whole (every document's frames on one
/// time line), the packets ffprobe finds in the served payload (stream, time, size, key flag)
/// are the packets it finds in the fixture file itself, and their counts, keyframe times and
/// codecs are the ones MANIFEST.md documents for the fixture.
#[tokio::test]
async fn ffprobe_finds_the_fixtures_frames_in_the_served_payload() {
    let Some((_, ffprobe)) = kvs_testkit::ffmpeg() else { return };
    // (fixture, packets per stream, keyframe times per stream in ms, streams)
    type Case =
        (&'static str, &'static [usize], &'static [&'static [i64]], &'static [(&'static str, u64, u64)]);
    let cases: [Case; 4] = [
        // 5 fragments of 30 H.264 frames, one keyframe each, at 0, 1000, ... ms.
        ("getmedia_basic", &[150], &[&[0, 1000, 2000, 3000, 4000]], &[("h264", 640, 360)]),
        // 4 fragments of 10 H.264 frames (keyframe first) and 32 AAC frames, 2 s apart.
        (
            "getmedia_unknown_clusters",
            &[40, 128],
            &[&[0, 2000, 4000, 6000], &[]],
            &[("h264", 640, 360), ("aac", 0, 0)],
        ),
        // 2 fragments of 15 HEVC access units (an IDR first), 1280x720.
        ("hevc", &[30], &[&[0, 1000]], &[("hevc", 1280, 720)]),
        // One fragment, cluster Timestamp 1000: 7 video blocks and 21 laced audio frames.
        ("lacing", &[7, 21], &[&[1000, 1133], &[]], &[("h264", 640, 360), ("aac", 0, 0)]),
    ];
    for (name, counts, keys, streams) in cases {
        let fixture = testdata(&format!("{name}.mkv"));
        let out = served(&format!("{name}.served.mkv"), Source::file(&fixture).unwrap()).await;
        let got = ffprobe_packets(&ffprobe, &out);
        assert_eq!(got, ffprobe_packets(&ffprobe, &fixture), "{name}: ffprobe reads other packets");
        for (s, (&count, &key_times)) in counts.iter().zip(keys).enumerate() {
            let of = |p: &&Packet| p.stream == s as u64;
            assert_eq!(got.iter().filter(of).count(), count, "{name} stream {s}");
            if !key_times.is_empty() {
                let k: Vec<i64> = got.iter().filter(of).filter(|p| p.key).map(|p| p.pts_ms).collect();
                assert_eq!(k, key_times, "{name} stream {s} keyframes");
            }
        }
        let got_streams: Vec<(String, u64, u64)> =
            ffprobe_streams(&ffprobe, &out).into_iter().map(|(_, c, w, h)| (c, w, h)).collect();
        let want: Vec<(String, u64, u64)> = streams.iter().map(|&(c, w, h)| (c.to_owned(), w, h)).collect();
        assert_eq!(got_streams, want, "{name}");
        std::fs::remove_file(&out).ok();
    }
}

/// Oracle: mkvinfo and ffprobe against hand-computed values. A plain Matroska file (the
/// sample: 5 clusters of 10 frames 40 ms apart, no service tags) is served with the service
/// tags kvs-local writes; mkvinfo must read in each document the fragment number the
/// documented synthesis gives (91343852333181432392682062607743920146159169392 plus k times
/// 1000000000000000003, worked out by hand), server and producer timestamps
/// 1700000000.000 + 0.4 k s, a continuation token equal to the fragment number and
/// millis-behind-now 400 (4 - k), and 50 SimpleBlocks, a keyframe every 400 ms; ffprobe
/// must find 50 frames, 40 ms apart.
#[tokio::test]
async fn mkvinfo_reads_the_service_tags_of_a_served_plain_file() {
    let Some(mkvinfo) = kvs_testkit::mkvinfo() else { return };
    let Some((_, ffprobe)) = kvs_testkit::ffmpeg() else { return };
    let out = served("plain.served.mkv", sample_source(&sample_spec())).await;
    let tags = mkvinfo_tags(&mkvinfo, &out);
    let numbers = [
        "91343852333181432392682062607743920146159169392",
        "91343852333181432392682062608743920146159169395",
        "91343852333181432392682062609743920146159169398",
        "91343852333181432392682062610743920146159169401",
        "91343852333181432392682062611743920146159169404",
    ];
    let times = ["1700000000.000", "1700000000.400", "1700000000.800", "1700000001.200", "1700000001.600"];
    assert_eq!(tag_values(&tags, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"), numbers);
    assert_eq!(tag_values(&tags, "AWS_KINESISVIDEO_CONTINUATION_TOKEN"), numbers);
    assert_eq!(tag_values(&tags, "AWS_KINESISVIDEO_SERVER_TIMESTAMP"), times);
    assert_eq!(tag_values(&tags, "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"), times);
    assert_eq!(tag_values(&tags, "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW"), ["1600", "1200", "800", "400", "0"]);
    assert_eq!(tag_values(&tags, "ENCODER"), ["kvs-local sample"; 5]);
    let lines = mkvinfo_lines(&mkvinfo, &out);
    assert_eq!(lines.iter().filter(|l| l.as_str() == "Segment information").count(), 5, "one per fragment");
    assert_eq!(lines.iter().filter(|l| l.starts_with("Codec ID: V_MPEG4/ISO/AVC")).count(), 5);
    assert_eq!(lines.iter().filter(|l| l.starts_with("Simple block")).count(), 50);

    let packets = ffprobe_packets(&ffprobe, &out);
    let times: Vec<i64> = packets.iter().map(|p| p.pts_ms).collect();
    assert_eq!(times, (0..50).map(|i| 40 * i).collect::<Vec<_>>());
    std::fs::remove_file(&out).ok();
    // (ffprobe's K flag comes from parsing the H.264 payload, which the sample's is not: the
    // container's key flag is what mkvinfo prints.)
    let keys: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("Simple block: key,"))
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "00:00:00.000000000",
            "00:00:00.400000000",
            "00:00:00.800000000",
            "00:00:01.200000000",
            "00:00:01.600000000"
        ]
    );
}

/// Oracle: the upstream Java parser library. A real GetMedia capture
/// (kvs-java/output_get_media.mkv) served by kvs-local keeps what the Java library's tests
/// assert and EXPECTED.md lists for it, read by mkvinfo and ffprobe: the five fragment
/// numbers and server timestamps of the table, continuation token = fragment number, the
/// seven producer tags per fragment in order, 300 H.264 640x360 frames, 60 per fragment
/// with one keyframe at each cluster Timecode (0, 2000, 4000, 6000, 8000 ms).
#[tokio::test]
async fn a_real_capture_keeps_the_upstream_values() {
    let Some(capture) = kvs_testkit::conformance_path("kvs-java/output_get_media.mkv") else { return };
    let Some(mkvinfo) = kvs_testkit::mkvinfo() else { return };
    let Some((_, ffprobe)) = kvs_testkit::ffmpeg() else { return };
    let out = served("output_get_media.served.mkv", Source::file(&capture).unwrap()).await;
    let tags = mkvinfo_tags(&mkvinfo, &out);
    let upstream = &kvs_testkit::upstream::OUTPUT_GET_MEDIA;
    let numbers: Vec<&str> = upstream.iter().map(|f| f.number).collect();
    assert_eq!(tag_values(&tags, "AWS_KINESISVIDEO_FRAGMENT_NUMBER"), numbers);
    assert_eq!(tag_values(&tags, "AWS_KINESISVIDEO_CONTINUATION_TOKEN"), numbers);
    let server: Vec<&str> = upstream.iter().map(|f| f.server).collect();
    assert_eq!(tag_values(&tags, "AWS_KINESISVIDEO_SERVER_TIMESTAMP"), server);
    let producer: Vec<&str> = upstream.iter().map(|f| f.producer).collect();
    assert_eq!(tag_values(&tags, "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"), producer);
    let producer_tags: Vec<(String, String)> =
        tags.iter().filter(|(n, _)| !n.starts_with("AWS_KINESISVIDEO_")).cloned().collect();
    let names: Vec<&str> = producer_tags.iter().map(|(n, _)| n.as_str()).collect();
    let one: Vec<&str> =
        kvs_testkit::upstream::OUTPUT_GET_MEDIA_PRODUCER_TAGS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, one.repeat(5));
    for (k, (name, value)) in kvs_testkit::upstream::OUTPUT_GET_MEDIA_PRODUCER_TAGS.iter().enumerate() {
        // mkvinfo prints DURATION without its NULs; the other values as written.
        if *name != "DURATION" {
            assert_eq!(producer_tags[k].1, *value, "{name}");
        }
    }

    let packets = ffprobe_packets(&ffprobe, &out);
    assert_eq!(packets.len(), 300);
    for k in 0..5 {
        let in_fragment: Vec<&Packet> =
            packets.iter().filter(|p| p.pts_ms >= 2000 * k && p.pts_ms < 2000 * (k + 1)).collect();
        assert_eq!(in_fragment.len(), 60, "fragment {k}");
        let keys: Vec<i64> = in_fragment.iter().filter(|p| p.key).map(|p| p.pts_ms).collect();
        assert_eq!(keys, [2000 * k], "fragment {k}");
    }
    assert_eq!(ffprobe_streams(&ffprobe, &out), [("video".to_owned(), "h264".to_owned(), 640, 360)]);
    std::fs::remove_file(&out).ok();
}
