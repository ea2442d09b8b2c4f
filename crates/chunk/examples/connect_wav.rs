//! Amazon Connect call audio to WAV: the two tracks of a Connect stream
//! (`AUDIO_FROM_CUSTOMER`, `AUDIO_TO_CUSTOMER`) as `customer.wav` and `agent.wav`.
//!
//! ```text
//! cargo run -p kvs-chunk --example connect_wav -- testdata/connect_audio.mkv /tmp/call
//! ```
//!
//! Connect declares the tracks `A_AAC` but sends 16-bit little-endian PCM: the samples go
//! into the WAV files as they are, written by kvs-mux's [`WavFile`]. The rate and channels
//! come from the track's Audio element when there is one, else 8000 Hz mono (what Connect
//! sends): [`kvs_mux::wav::pcm`]. The `ContactId` tag
//! says which call the audio belongs to. (`kvs-mkv extract --connect` does the same, with a
//! new pair of files whenever the ContactId changes.)

use std::fs::File;
use std::path::PathBuf;

use kvs_chunk::{Event, ReadEvents};
use kvs_mux::wav::{WavFile, pcm};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "testdata/connect_audio.mkv".to_owned());
    let dir = PathBuf::from(
        args.next().unwrap_or_else(|| std::env::temp_dir().join("kvs-call").display().to_string()),
    );
    std::fs::create_dir_all(&dir)?;

    // (track number, file) for each Connect track, opened at the first Tracks.
    let mut files: Vec<(u64, WavFile)> = Vec::new();
    let mut contact = None;
    for event in ReadEvents::new(File::open(&input)?) {
        match event? {
            Event::Tracks(tracks) if files.is_empty() => {
                for t in &tracks {
                    let name = match t.name.as_deref() {
                        Some("AUDIO_FROM_CUSTOMER") => "customer.wav",
                        Some("AUDIO_TO_CUSTOMER") => "agent.wav",
                        _ => continue,
                    };
                    let Some(layout) = pcm(t) else { continue };
                    files.push((t.number, WavFile::create(&dir.join(name), layout)?));
                }
            }
            Event::Tag(t) if t.name == "ContactId" && contact.is_none() => {
                contact = t.value.as_text().map(|v| v.into_owned());
            }
            Event::Frame(f) => {
                if let Some((_, wav)) = files.iter_mut().find(|(n, _)| *n == f.track) {
                    wav.write(&f.data)?;
                }
            }
            _ => {}
        }
    }
    println!("contact {}", contact.as_deref().unwrap_or("(no ContactId tag)"));
    for (_, wav) in files {
        let (path, bytes) = wav.finish()?;
        println!("{}  {bytes} bytes of audio", path.display());
    }
    Ok(())
}
