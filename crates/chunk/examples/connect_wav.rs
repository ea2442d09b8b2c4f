//! Amazon Connect call audio to WAV: the two tracks of a Connect stream
//! (`AUDIO_FROM_CUSTOMER`, `AUDIO_TO_CUSTOMER`) as `customer.wav` and `agent.wav`.
//!
//! ```text
//! cargo run -p kvs-chunk --example connect_wav -- testdata/connect_audio.mkv /tmp/call
//! ```
//!
//! Connect declares the tracks `A_AAC` but sends 16-bit little-endian PCM: the samples go
//! into the WAV files as they are. The rate and channels come from the track's Audio
//! element when there is one, else 8000 Hz mono (what Connect sends). The `ContactId` tag
//! says which call the audio belongs to. (`kvs-mkv extract --connect` does the same, with a
//! new pair of files whenever the ContactId changes.)

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;

use kvs_chunk::{Event, ReadEvents, Track};

/// A WAV file whose sizes are written when it is finished.
struct Wav {
    out: BufWriter<File>,
    rate: u32,
    channels: u16,
    data: u32,
}

impl Wav {
    fn create(path: &PathBuf, rate: u32, channels: u16) -> std::io::Result<Self> {
        let mut w = Self { out: BufWriter::new(File::create(path)?), rate, channels, data: 0 };
        w.header()?;
        Ok(w)
    }

    /// The 44-byte RIFF header of 16-bit PCM.
    fn header(&mut self) -> std::io::Result<()> {
        let align = self.channels.saturating_mul(2);
        let o = &mut self.out;
        o.write_all(b"RIFF")?;
        o.write_all(&self.data.saturating_add(36).to_le_bytes())?;
        o.write_all(b"WAVEfmt ")?;
        o.write_all(&16u32.to_le_bytes())?;
        o.write_all(&1u16.to_le_bytes())?; // PCM
        o.write_all(&self.channels.to_le_bytes())?;
        o.write_all(&self.rate.to_le_bytes())?;
        o.write_all(&self.rate.saturating_mul(u32::from(align)).to_le_bytes())?;
        o.write_all(&align.to_le_bytes())?;
        o.write_all(&16u16.to_le_bytes())?;
        o.write_all(b"data")?;
        o.write_all(&self.data.to_le_bytes())
    }

    fn write(&mut self, samples: &[u8]) -> std::io::Result<()> {
        self.out.write_all(samples)?;
        self.data = self.data.saturating_add(u32::try_from(samples.len()).unwrap_or(u32::MAX));
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<u32> {
        self.out.seek(SeekFrom::Start(0))?;
        self.header()?;
        self.out.flush()?;
        Ok(self.data)
    }
}

fn rate_and_channels(t: &Track) -> (u32, u16) {
    let audio = t.audio.unwrap_or_default();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked range
    let rate = audio.sampling_frequency.filter(|r| (1.0..1e7).contains(r)).map_or(8000, |r| r as u32);
    let channels = audio.channels.and_then(|c| u16::try_from(c).ok()).unwrap_or(1);
    (rate, channels)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "testdata/connect_audio.mkv".to_owned());
    let dir = PathBuf::from(
        args.next().unwrap_or_else(|| std::env::temp_dir().join("kvs-call").display().to_string()),
    );
    std::fs::create_dir_all(&dir)?;

    // (track number, file) for each Connect track, opened at the first Tracks.
    let mut files: Vec<(u64, &'static str, Wav)> = Vec::new();
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
                    let (rate, channels) = rate_and_channels(t);
                    files.push((t.number, name, Wav::create(&dir.join(name), rate, channels)?));
                }
            }
            Event::Tag(t) if t.name == "ContactId" && contact.is_none() => {
                contact = t.value.as_text().map(|v| v.into_owned());
            }
            Event::Frame(f) => {
                if let Some((_, _, wav)) = files.iter_mut().find(|(n, _, _)| *n == f.track) {
                    wav.write(&f.data)?;
                }
            }
            _ => {}
        }
    }
    println!("contact {}", contact.as_deref().unwrap_or("(no ContactId tag)"));
    for (_, name, wav) in files {
        let bytes = wav.finish()?;
        println!("{}  {bytes} bytes of audio", dir.join(name).display());
    }
    Ok(())
}
