//! Turns a plain Matroska file (as ffmpeg writes it) into a KVS-shaped GetMedia payload: one
//! document per fragment, each with the service's tags, exactly as `kvs-fixtures` writes its
//! own scenarios. This is the generator step of `testdata/images/` (see `make.sh` there).
//!
//! ```text
//! cargo run -p kvs-images --example getmedia_fixture -- IN.mkv OUT.mkv \
//!     [--base-ms 1700000000000] [--server-delay-ms 120] [--gap-after K --gap-ms G] [--audio-fragment-ms 1000]
//! ```
//!
//! - A fragment starts at every video keyframe (in decode order); a file without video is
//!   cut every `--audio-fragment-ms` of audio.
//! - Cluster Timestamps are the frames' own times in milliseconds (from the source file),
//!   so the earliest frame of a fragment has relative timestamp 0 (B-frames come later).
//! - The producer timestamp of a fragment is `base + cluster time`; the server timestamp is
//!   `producer + server delay` (the service's clock runs behind the camera's).
//! - `--gap-after K --gap-ms G` shifts fragments K+1, K+2, ... (cluster and service
//!   timestamps alike) G ms later: a gap in the stream after fragment K (counting from 1).
//! - Fragment numbers are increasing 47-digit decimals; the continuation token is the
//!   fragment number, and millis-behind-now counts down to 0 at the last fragment.

// An example: a bad command line or file ends it with a message, as a small tool would.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use std::error::Error;

use bytes::Bytes;
use kvs_chunk::{Event, Events, Frame, Track, TrackType};
use kvs_ebml::writer::SizeWidth;
use kvs_fixtures::model::{Block, Cluster, Fragment, Lacing, Track as FxTrack, TrackKind};

struct Args {
    input: String,
    output: String,
    base_ms: i64,
    server_delay_ms: i64,
    gap_after: Option<usize>,
    gap_ms: i64,
    audio_fragment_ms: i64,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut it = std::env::args().skip(1);
    let mut args = Args {
        input: String::new(),
        output: String::new(),
        base_ms: 1_700_000_000_000,
        server_delay_ms: 120,
        gap_after: None,
        gap_ms: 0,
        audio_fragment_ms: 1000,
    };
    let mut positional = Vec::new();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--base-ms" => args.base_ms = value()?.parse()?,
            "--server-delay-ms" => args.server_delay_ms = value()?.parse()?,
            "--gap-after" => args.gap_after = Some(value()?.parse()?),
            "--gap-ms" => args.gap_ms = value()?.parse()?,
            "--audio-fragment-ms" => args.audio_fragment_ms = value()?.parse()?,
            _ => positional.push(a),
        }
    }
    let [input, output]: [String; 2] =
        positional.try_into().map_err(|_| "usage: getmedia_fixture IN.mkv OUT.mkv [options]")?;
    args.input = input;
    args.output = output;
    Ok(args)
}

fn fx_track(t: &Track) -> Result<FxTrack, Box<dyn Error>> {
    let kind = match t.kind {
        TrackType::Video => {
            let v = t.video.ok_or("video track without Video settings")?;
            TrackKind::Video { width: v.width.unwrap_or(0), height: v.height.unwrap_or(0) }
        }
        TrackType::Audio => {
            let a = t.audio.ok_or("audio track without Audio settings")?;
            TrackKind::Audio {
                rate: a.sampling_frequency.unwrap_or(8000.0),
                channels: a.channels.unwrap_or(1),
                bit_depth: a.bit_depth,
            }
        }
        other => return Err(format!("track type {other:?} is not supported here").into()),
    };
    Ok(FxTrack {
        number: t.number,
        uid: t.uid.unwrap_or(t.number),
        kind,
        codec_id: t.codec_id.clone().ok_or("track without CodecID")?,
        codec_private: t.codec_private.as_ref().map(|b| b.to_vec()),
        name: t.name.clone(),
        default_duration_ns: t.default_duration_ns,
    })
}

/// `SSSSSSSSSS.mmm`, as the service writes timestamps.
fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let bytes = Bytes::from(std::fs::read(&args.input)?);
    let mut tracks = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    for event in Events::new(bytes) {
        match event? {
            Event::Tracks(t) => tracks = t,
            Event::Frame(f) => frames.push(f),
            _ => {}
        }
    }
    let video = tracks.iter().find(|t| t.kind == TrackType::Video).map(|t| t.number);
    // Split into fragments (in decode order).
    let mut groups: Vec<Vec<Frame>> = Vec::new();
    let mut group_start_ms = i64::MIN;
    for f in frames {
        let start = match video {
            Some(v) => f.track == v && f.keyframe,
            None => f.timestamp_ms() >= group_start_ms.saturating_add(args.audio_fragment_ms),
        };
        if start || groups.is_empty() {
            group_start_ms = f.timestamp_ms();
            groups.push(Vec::new());
        }
        groups.last_mut().ok_or("no group")?.push(f);
    }
    let fx_tracks = tracks.iter().map(fx_track).collect::<Result<Vec<_>, _>>()?;
    let count = groups.len();
    let mut fragments = Vec::new();
    for (i, group) in groups.into_iter().enumerate() {
        let shift = match args.gap_after {
            Some(k) if i >= k => args.gap_ms,
            _ => 0,
        };
        let cluster_ms = group.iter().map(Frame::timestamp_ms).min().unwrap_or(0) + shift;
        let producer_ms = args.base_ms + cluster_ms;
        let server_ms = producer_ms + args.server_delay_ms;
        let number = format!("9134385233318143239268206260774392014615{:07}", 9_169_392 + i * 11);
        let blocks = group
            .iter()
            .map(|f| -> Result<Block, Box<dyn Error>> {
                let rel = f.timestamp_ms() + shift - cluster_ms;
                Ok(Block::Simple {
                    track: f.track,
                    rel_ts: i16::try_from(rel)?,
                    keyframe: f.keyframe,
                    invisible: false,
                    discardable: false,
                    lacing: Lacing::None,
                    frames: vec![f.data.to_vec()],
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        fragments.push(Fragment {
            fragment_number: Some(number.clone()),
            server_ts: Some(seconds(server_ms)),
            producer_ts: Some(seconds(producer_ms)),
            millis_behind_now: Some(((count - 1 - i) * 1000).to_string()),
            continuation_token: Some(number),
            cluster: Some(Cluster {
                timestamp: u64::try_from(cluster_ms)?,
                known_size: true,
                block_size_width: SizeWidth::Minimal,
                blocks,
            }),
            tracks: fx_tracks.clone(),
            muxing_app: Some("kvs-images getmedia_fixture".to_owned()),
            ..Fragment::default()
        });
    }
    let payload = kvs_fixtures::payload(&fragments)?;
    std::fs::write(&args.output, &payload)?;
    println!("{}: {} fragments, {} bytes", args.output, fragments.len(), payload.len());
    Ok(())
}
