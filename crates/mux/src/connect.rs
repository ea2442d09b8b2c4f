//! Amazon Connect call audio as WAV files, per contact ([`ConnectWriter`], `kvs-mkv extract
//! --connect`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use kvs_chunk::{Frame, Track};

use crate::wav::{Contact, Pcm, WavError, WavFile, is_connect, pcm_with};

/// A WAV file written by a [`ConnectWriter`]: where, its layout, its audio so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Its audio layout.
    pub pcm: Pcm,
    /// Bytes of audio in it (as of the last time it was closed).
    pub bytes: u64,
}

/// Amazon Connect call audio to WAV files: both call-audio tracks (`AUDIO_FROM_CUSTOMER`,
/// `AUDIO_TO_CUSTOMER`) per ContactId, named `<ContactId>_<track name>.wav`.
///
/// When a contact comes back later in the stream (A, B, A), its files are reopened and its
/// audio appended (the WAV sizes patched): a file written earlier in the run is never
/// truncated. Two tracks of one contact with the same name get distinct files
/// (`-<track number>` added to the second), and every path is used for one (contact, track)
/// only. Frames that come before any Tracks of their document are counted, not written.
#[derive(Debug)]
pub struct ConnectWriter {
    dir: PathBuf,
    contact: Option<Contact>,
    /// The contact the open files belong to.
    open_contact: Option<Contact>,
    tracks: Vec<Track>,
    /// The open files: track number and index into `written`.
    files: Vec<(u64, usize, WavFile)>,
    /// Every file of this run, in the order they were created.
    written: Vec<Written>,
    /// (ContactId, track number) to its index in `written`.
    by_key: HashMap<(Contact, u64), usize>,
    /// Every file name used in this run, with the last `-<n>` added to it.
    names: HashMap<String, u64>,
    mime: Option<(u32, u16)>,
    /// Whether the current document has had a Tracks event.
    doc_tracks: bool,
    frames: u64,
    orphans: u64,
}

impl ConnectWriter {
    /// A writer putting its files in `dir` (which must exist).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            contact: None,
            open_contact: None,
            tracks: Vec::new(),
            files: Vec::new(),
            written: Vec::new(),
            by_key: HashMap::new(),
            names: HashMap::new(),
            mime: None,
            doc_tracks: false,
            frames: 0,
            orphans: 0,
        }
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every file of this run, in the order they were created, with its whole audio once
    /// [`ConnectWriter::close`] has been called.
    pub fn written(&self) -> &[Written] {
        &self.written
    }

    /// Frames written.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames that came before any Tracks of their document (not written).
    pub fn orphans(&self) -> u64 {
        self.orphans
    }

    /// A document (or a further fragment of one) begins: its frames need its Tracks.
    pub fn document_start(&mut self) {
        self.doc_tracks = false;
    }

    /// The value of a `ContactId` tag (`None`: a tag without a text value); trailing NULs
    /// are ignored. The following frames belong to that contact.
    pub fn set_contact(&mut self, id: Option<&str>) {
        self.contact = id.map(|v| Contact::of(v.trim_end_matches('\0')));
    }

    /// Rate and channels from a `MimeType` tag ([`crate::wav::parse_mime`]), for tracks without an
    /// Audio element.
    pub fn set_mime(&mut self, mime: Option<(u32, u16)>) {
        self.mime = mime;
    }

    /// Finishes the open files (they can be reopened to append).
    pub fn close(&mut self) -> Result<(), WavError> {
        for (_, i, f) in self.files.drain(..) {
            let (_, bytes) = f.finish()?;
            if let Some(w) = self.written.get_mut(i) {
                w.bytes = bytes;
            }
        }
        self.open_contact = None;
        Ok(())
    }

    /// The document's track list (a new list closes the open files).
    pub fn set_tracks(&mut self, tracks: Vec<Track>) -> Result<(), WavError> {
        self.doc_tracks = true;
        if tracks != self.tracks {
            // The open files were made for the previous list.
            self.close()?;
            self.tracks = tracks;
        }
        Ok(())
    }

    /// A file name for `contact`'s `track` not used yet in this run:
    /// `<contact>_<name>.wav`; when that is taken, `-<track number>` is added (then
    /// `-<track number>-<n>`, counted in the map: no linear probe).
    fn new_name(&mut self, contact: &Contact, track: &Track) -> String {
        let name = track.name.as_deref().unwrap_or("AUDIO");
        let plain = format!("{}_{name}", contact.file_part());
        if !self.names.contains_key(&plain) {
            self.names.insert(plain.clone(), 1);
            return plain;
        }
        let base = format!("{plain}-{}", track.number);
        let Some(&last) = self.names.get(&base) else {
            self.names.insert(base.clone(), 1);
            return base;
        };
        let mut n = last;
        let name = loop {
            n = n.saturating_add(1);
            let candidate = format!("{base}-{n}");
            if !self.names.contains_key(&candidate) || n == u64::MAX {
                break candidate;
            }
        };
        self.names.insert(base, n);
        self.names.insert(name.clone(), 1);
        name
    }

    /// The open file for track `number` of the current contact, opened (created, or
    /// reopened to append when this contact's track was written before) if need be.
    fn file_for(&mut self, number: u64) -> io::Result<Option<&mut WavFile>> {
        if let Some(pos) = self.files.iter().position(|(n, _, _)| *n == number) {
            return Ok(self.files.get_mut(pos).map(|(_, _, f)| f));
        }
        let Some(track) = self.tracks.iter().rfind(|t| t.number == number && is_connect(t)).cloned() else {
            return Ok(None);
        };
        let Some(pcm) = pcm_with(&track, self.mime) else { return Ok(None) };
        let contact = self.contact.clone().unwrap_or_else(|| Contact::of("no-contact-id"));
        let key = (contact.clone(), number);
        match self.by_key.get(&key).and_then(|&i| Some((i, self.written.get(i)?))) {
            Some((i, w)) if w.pcm == pcm => {
                self.files.push((number, i, WavFile::reopen(&w.path, pcm, w.bytes)?));
            }
            // New, or its audio format changed: a file of its own.
            _ => {
                let name = self.new_name(&contact, &track);
                let path = self.dir.join(format!("{name}.wav"));
                let file = WavFile::create(&path, pcm)?;
                let i = self.written.len();
                self.written.push(Written { path, pcm, bytes: 0 });
                self.by_key.insert(key, i);
                self.files.push((number, i, file));
            }
        }
        Ok(self.files.last_mut().map(|(_, _, f)| f))
    }

    /// Writes a frame of a Connect track (others are ignored) to its contact's file.
    pub fn frame(&mut self, f: &Frame) -> Result<(), WavError> {
        if !self.doc_tracks {
            self.orphans = self.orphans.saturating_add(1);
            return Ok(());
        }
        if self.open_contact != self.contact {
            self.close()?;
            self.open_contact = self.contact.clone();
        }
        if let Some(w) = self.file_for(f.track)? {
            w.write(&f.data)?;
            self.frames = self.frames.saturating_add(1);
        }
        Ok(())
    }
}
