//! A fragment archiver: each complete fragment of a GetMedia payload saved byte for byte as
//! `<fragment number>.mkv` (the document exactly as the service sent it: playable, and
//! readable again as the same fragment), plus an `index.jsonl` line per fragment.
//!
//! ```text
//! cargo run -p kvs-chunk --example archive_fragments -- testdata/getmedia_basic.mkv /tmp/archive
//! ```
//!
//! Nothing is copied while reading: the payload is one `Bytes`, and each document is a slice
//! of it (`DocumentStart` and `DocumentEnd` carry the offsets). Incomplete fragments (a cut
//! stream) and in-stream error chunks are reported and not archived.

use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use kvs_chunk::{Event, Events};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "testdata/getmedia_basic.mkv".to_owned());
    let dir = PathBuf::from(
        args.next().unwrap_or_else(|| std::env::temp_dir().join("kvs-archive").display().to_string()),
    );
    std::fs::create_dir_all(&dir)?;
    let payload = Bytes::from(std::fs::read(&input)?);
    let mut index = std::fs::File::create(dir.join("index.jsonl"))?;

    let mut number = None;
    let mut server_ms = None;
    let mut complete = false;
    for event in Events::new(payload.clone()) {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                // A truncated or malformed input: what came before is archived already.
                eprintln!("input error: {e}");
                continue;
            }
        };
        match event {
            Event::DocumentStart { .. } => (number, server_ms, complete) = (None, None, false),
            Event::FragmentMetadata(m) => {
                number = m.fragment_number.map(|n| n.to_string());
                server_ms = m.server_timestamp_ms;
            }
            Event::FragmentEnd(end) => complete = end.complete,
            Event::DocumentEnd { index: i, offset, end } => {
                let (Some(n), true) = (&number, complete) else {
                    println!("document {i}: not archived (incomplete, an error chunk or no fragment number)");
                    continue;
                };
                let start = usize::try_from(offset)?;
                let stop = usize::try_from(end)?;
                let bytes = payload.slice(start..stop);
                std::fs::write(dir.join(format!("{n}.mkv")), &bytes)?;
                writeln!(
                    index,
                    "{{\"fragment_number\":\"{n}\",\"server_timestamp_ms\":{},\"bytes\":{}}}",
                    server_ms.map_or_else(|| "null".to_owned(), |t| t.to_string()),
                    bytes.len()
                )?;
                println!("{n}.mkv  {} bytes", bytes.len());
            }
            _ => {}
        }
    }
    println!("archived in {}", dir.display());
    Ok(())
}
