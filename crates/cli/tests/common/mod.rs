//! What every `kvs-mkv` test needs: the binary and the fixtures.

#![allow(dead_code)] // each test file needs a subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `kvs-mkv` binary this package builds.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kvs-mkv"))
}

/// The project's `testdata/` directory.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// A GetMedia-shaped fragment with fragment number `number`, the service's timestamps
/// (server 1511852109.126, producer 1511852108.513), one 640x360 `V_MPEG4/ISO/AVC` track and
/// one keyframe of five bytes: the base the tests change one field of.
pub fn one_frame_fragment(number: &str) -> kvs_fixtures::Fragment {
    use kvs_fixtures::{Block, Cluster, Fragment, Lacing, Track, TrackKind};
    Fragment {
        fragment_number: Some(number.to_owned()),
        server_ts: Some("1511852109.126".to_owned()),
        producer_ts: Some("1511852108.513".to_owned()),
        continuation_token: Some("91343852333181432392682062607743920146159169392".to_owned()),
        tracks: vec![Track {
            number: 1,
            uid: 1,
            kind: TrackKind::Video { width: 640, height: 360 },
            codec_id: "V_MPEG4/ISO/AVC".to_owned(),
            codec_private: None,
            name: None,
            default_duration_ns: None,
        }],
        cluster: Some(Cluster {
            timestamp: 0,
            known_size: false,
            block_size_width: kvs_ebml::writer::SizeWidth::Minimal,
            blocks: vec![Block::Simple {
                track: 1,
                rel_ts: 0,
                keyframe: true,
                invisible: false,
                discardable: false,
                lacing: Lacing::None,
                frames: vec![vec![0, 0, 0, 1, 0x65]],
            }],
        }),
        ..Fragment::default()
    }
}
