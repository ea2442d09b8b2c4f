//! Helpers shared by the integration tests: where the third-party conformance data lives,
//! tokenizing a whole input or a chunked one, and a GetMedia-shaped stream built with the Writer.

#![allow(dead_code)] // each test crate uses a subset

use std::path::{Path, PathBuf};

use kvs_ebml::writer::{MasterSize, SizeWidth, WriteError};
use kvs_ebml::{ElementId, Options, SliceTokenizer, Token, Writer, ids};

/// `../shared/conformance` beside the workspace root. When it is absent the test fails under
/// `CI=true` and is recorded as skipped elsewhere (`kvs_testkit::skip`); the caller returns.
///
/// The data is third-party: it is read at run time and never copied into the repository.
#[track_caller]
pub fn conformance_dir() -> Option<PathBuf> {
    kvs_testkit::conformance_dir()
}

/// The `.mkv` files under `dir` (recursively), sorted.
pub fn mkv_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "mkv") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every conformance `.mkv` (kvs-java and yacchi-ebml), with a short name for messages.
pub fn all_conformance_files() -> Option<Vec<(String, bytes::Bytes)>> {
    let root = conformance_dir()?;
    let mut files = mkv_files(&root.join("kvs-java"));
    files.extend(mkv_files(&root.join("yacchi-ebml/fixtures")));
    assert!(files.len() >= 30, "expected the 13 + 20 conformance files, found {}", files.len());
    Some(
        files
            .into_iter()
            .map(|p| {
                let name = p.strip_prefix(&root).unwrap().display().to_string();
                (name, bytes::Bytes::from(std::fs::read(&p).unwrap()))
            })
            .collect(),
    )
}

/// All tokens of a well-formed input, payloads owned; panics on an error.
pub fn tokens(input: &[u8]) -> Vec<Token> {
    tokens_with(input, Options::default())
}

/// All tokens of a well-formed input with `opts`; panics on an error.
pub fn tokens_with(input: &[u8], opts: Options) -> Vec<Token> {
    SliceTokenizer::with_options(input, opts)
        .map(|t| t.unwrap_or_else(|e| panic!("unexpected error: {e}")).into_owned())
        .collect()
}

/// The ids of the `MasterStart` tokens, in order.
pub fn master_starts(tokens: &[Token]) -> Vec<ElementId> {
    tokens
        .iter()
        .filter_map(|t| match t {
            Token::MasterStart(h) => Some(h.id),
            _ => None,
        })
        .collect()
}

/// A compact rendering of a token sequence for assertions: `+Cluster@12`, `-Cluster@40`,
/// `SimpleBlock@20`, `doc@0`, `/doc@40`, `resync@30+7`.
pub fn outline(tokens: &[Token]) -> Vec<String> {
    let name = |id: ElementId| kvs_ebml::matroska::name_of(id).map_or_else(|| format!("{id}"), str::to_owned);
    tokens
        .iter()
        .map(|t| match t {
            Token::DocumentStart { offset } => format!("doc@{offset}"),
            Token::DocumentEnd { offset } => format!("/doc@{offset}"),
            Token::MasterStart(h) => format!("+{}@{}", name(h.id), h.offset),
            Token::MasterEnd { header, end } => format!("-{}@{end}", name(header.id)),
            Token::Leaf { header, .. } => format!("{}@{}", name(header.id), header.offset),
            Token::Resynced { offset, skipped, depth } => format!("resync@{offset}+{skipped}/{depth}"),
            other => format!("{other:?}"),
        })
        .collect()
}

/// Writes an EBML header for DocType `matroska`.
pub fn ebml_header(w: &mut Writer) -> Result<(), WriteError> {
    w.master(ids::EBML, MasterSize::Known(SizeWidth::Fixed(8)), |w| {
        w.unsigned(ids::EBML_VERSION, 1)?;
        w.unsigned(ids::EBML_READ_VERSION, 1)?;
        w.unsigned(ids::EBML_MAX_ID_LENGTH, 4)?;
        w.unsigned(ids::EBML_MAX_SIZE_LENGTH, 8)?;
        w.string(ids::DOC_TYPE, "matroska")?;
        w.unsigned(ids::DOC_TYPE_VERSION, 4)?;
        w.unsigned(ids::DOC_TYPE_READ_VERSION, 2)
    })
}

/// Writes a Tags element holding one SimpleTag `name` = `value`.
pub fn tag(w: &mut Writer, name: &str, value: &str) -> Result<(), WriteError> {
    w.master(ids::TAGS, MasterSize::Known(SizeWidth::Minimal), |w| {
        w.master(ids::TAG, MasterSize::Known(SizeWidth::Minimal), |w| {
            w.master(ids::SIMPLE_TAG, MasterSize::Known(SizeWidth::Minimal), |w| {
                w.utf8(ids::TAG_NAME, name)?;
                w.utf8(ids::TAG_STRING, value)
            })
        })
    })
}

/// Writes one GetMedia-shaped fragment, as Kinesis Video Streams sends it: an EBML header, an
/// unknown-size Segment (8-byte marker) with Info, Tracks, the service's start Tags, an
/// unknown-size Cluster with `blocks` SimpleBlocks of `block_len` bytes, and the end Tags.
pub fn getmedia_fragment(w: &mut Writer, n: u64, blocks: usize, block_len: usize) -> Result<(), WriteError> {
    ebml_header(w)?;
    w.start_master(ids::SEGMENT, MasterSize::Unknown(8))?;
    w.master(ids::INFO, MasterSize::Known(SizeWidth::Minimal), |w| {
        w.unsigned(ids::TIMESTAMP_SCALE, 1_000_000)?;
        w.utf8(ids::TITLE, "kinesis_video")?;
        w.utf8(ids::MUXING_APP, "test")
    })?;
    w.master(ids::TRACKS, MasterSize::Known(SizeWidth::Minimal), |w| {
        w.master(ids::TRACK_ENTRY, MasterSize::Known(SizeWidth::Minimal), |w| {
            w.unsigned(ids::TRACK_NUMBER, 1)?;
            w.unsigned(ids::TRACK_UID, 1)?;
            w.unsigned(ids::TRACK_TYPE, 1)?;
            w.string(ids::CODEC_ID, "V_MPEG4/ISO/AVC")?;
            w.binary(ids::CODEC_PRIVATE, &[1, 0x4D, 0x40, 0x1E, 3, 1, 0, 0x27])?;
            w.master(ids::VIDEO, MasterSize::Known(SizeWidth::Minimal), |w| {
                w.unsigned(ids::PIXEL_WIDTH, 640)?;
                w.unsigned(ids::PIXEL_HEIGHT, 360)
            })
        })
    })?;
    tag(
        w,
        "AWS_KINESISVIDEO_FRAGMENT_NUMBER",
        &format!("9134385233318143239268206260774392014615916{n:04}"),
    )?;
    w.start_master(ids::CLUSTER, MasterSize::Unknown(8))?;
    w.unsigned(ids::TIMESTAMP, n * 2000)?;
    for i in 0..blocks {
        let mut block = vec![0x81, 0, u8::try_from(i % 100).unwrap(), if i == 0 { 0x80 } else { 0 }];
        block.extend((0..block_len.saturating_sub(4)).map(|j| (j as u8) ^ (i as u8)));
        w.binary(ids::SIMPLE_BLOCK, &block)?;
    }
    w.end_master()?;
    tag(w, "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "15858")?;
    w.end_master()
}

/// A GetMedia-shaped stream of `fragments` fragments.
pub fn getmedia_stream(fragments: u64, blocks: usize, block_len: usize) -> Vec<u8> {
    let mut w = Writer::new();
    for n in 0..fragments {
        getmedia_fragment(&mut w, n, blocks, block_len).unwrap();
    }
    w.finish().unwrap()
}
