//! Every committed fixture in `testdata/` served and read back through the AWS SDK: each
//! media fragment comes back with the same fragment number, timestamps, tracks, frames (track,
//! timestamp, flags, payload, lacing, BlockGroup duration and references) and producer tags, in the GetMedia layout, closed by a
//! continuation token. Error chunks and a fragment cut by the end of a file are not served.
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
use kvs_chunk::Fragment;
use kvs_local::{LocalKvs, Source};

/// The fixtures' media fragments: documents with clusters, no error, not cut.
fn media_fragments(payload: &bytes::Bytes) -> Vec<Fragment> {
    fragments_lossy(payload)
        .into_iter()
        .filter(|f| f.errors.is_empty() && !f.frames.is_empty() && f.metadata.is_some())
        .filter(|f| f.is_complete() || f.end.millis_behind_now.is_none() && !f.frames.is_empty())
        .collect()
}

#[tokio::test]
async fn every_fixture_round_trips_through_the_server() {
    let mut files: Vec<_> = std::fs::read_dir(testdata(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mkv"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "the fixtures are committed");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = Source::file(&path).unwrap();
        let server = LocalKvs::builder().stream("s", source.clone()).bind("127.0.0.1:0").await.unwrap();
        let payload =
            get_media(&media_client(server.url()), "s", selector(StartSelectorType::Earliest)).await;
        let served = fragments(&payload);
        assert_eq!(served.len(), source.fragments().len(), "{name}");
        assert!(served.iter().all(|f| f.is_complete() && f.errors.is_empty()), "{name}");

        let original = bytes::Bytes::from(std::fs::read(&path).unwrap());
        // A cut last fragment is not served.
        let mut expected: Vec<Fragment> = media_fragments(&original);
        if name == "cut_stream.mkv" {
            expected.retain(Fragment::is_complete);
        }
        assert_eq!(served.len(), expected.len(), "{name}");
        for (s, o) in served.iter().zip(&expected) {
            let what = format!("{name}, fragment {:?}", o.fragment_number());
            // The same facts; GetMedia writes them with its own tag spelling whatever the
            // file had (`from_fragment_list` says which spelling was read).
            assert_eq!(
                (s.fragment_number(), s.server_timestamp_ms(), s.producer_timestamp_ms()),
                (o.fragment_number(), o.server_timestamp_ms(), o.producer_timestamp_ms()),
                "{what}"
            );
            assert!(
                s.metadata.as_ref().is_some_and(|m| !m.from_fragment_list),
                "{what}: GetMedia's spelling"
            );
            assert_eq!(
                s.end.continuation_token.as_deref(),
                Some(o.fragment_number().unwrap().as_str()),
                "{what}"
            );
            assert_eq!(s.tracks.len(), o.tracks.len(), "{what}");
            for (a, b) in s.tracks.iter().zip(&o.tracks) {
                assert_eq!(
                    (a.number, a.uid, a.kind, &a.codec_id, &a.codec_private, &a.name, a.video, a.audio),
                    (b.number, b.uid, b.kind, &b.codec_id, &b.codec_private, &b.name, b.video, b.audio),
                    "{what}"
                );
            }
            assert_eq!(s.frames.len(), o.frames.len(), "{what}");
            for (a, b) in s.frames.iter().zip(&o.frames) {
                assert_eq!(
                    (a.track, a.timestamp_ns, a.keyframe, a.invisible, a.discardable, &a.data),
                    (b.track, b.timestamp_ns, b.keyframe, b.invisible, b.discardable, &b.data),
                    "{what}"
                );
                // BlockGroups keep their duration and references, laces their frames.
                assert_eq!(
                    (a.duration_ns, &a.references, a.lace_count),
                    (b.duration_ns, &b.references, b.lace_count),
                    "{what}"
                );
            }
            let tags =
                |f: &Fragment| f.tags.iter().map(|t| (t.name.clone(), t.value.clone())).collect::<Vec<_>>();
            assert_eq!(tags(s), tags(o), "{what}");
        }
        server.shutdown().await;
    }
}
