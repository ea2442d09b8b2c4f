//! Progress on stderr for long work (only when stderr is a terminal), Ctrl-C handling, and
//! the event loop the file commands share.

use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kvs_chunk::{Event, Options, ReadEvents};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The Tracks of a document read ahead, for a regular file whose document has its Tracks
/// after its first Cluster (a valid layout: players find them through the SeekHead; a
/// streaming reader meets the frames first). A command that writes frames shows it each
/// event first ([`LateTracks::before`]); standard input cannot be read ahead.
#[derive(Debug, Default)]
pub struct LateTracks {
    /// The input, when it is a regular file.
    path: Option<PathBuf>,
    opts: Options,
    /// The current document's offset, and whether it was looked ahead already.
    doc: Option<u64>,
    tried: bool,
}

impl LateTracks {
    /// For `input` read with `opts` (nothing is read ahead for standard input or a pipe).
    pub fn new(input: &Input, opts: Options) -> Self {
        let path = input.len.is_some().then(|| input.path.clone());
        Self { path, opts, ..Self::default() }
    }

    /// Takes each event before the command does: at a Cluster of a document that has had
    /// no Tracks yet (`missing`), its Tracks read ahead in the file, once per document, to
    /// be given to the command before the Cluster.
    pub fn before(&mut self, event: &Event, missing: bool) -> Option<Vec<kvs_chunk::Track>> {
        match event {
            Event::DocumentStart { offset, .. } => {
                self.doc = Some(*offset);
                self.tried = false;
                None
            }
            Event::Cluster { .. } if missing && !self.tried => {
                self.tried = true;
                tracks_ahead(self.path.as_deref()?, self.doc?, self.opts)
            }
            _ => None,
        }
    }
}

/// The first Tracks of the document at `offset` of the regular file `path`: read from there
/// to that document's end at most (once per such document, so at most twice the file).
fn tracks_ahead(path: &Path, offset: u64, opts: Options) -> Option<Vec<kvs_chunk::Track>> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    let reader = io::BufReader::with_capacity(256 * 1024, file);
    for item in ReadEvents::with_options(reader, opts.resync(false)) {
        match item {
            Ok(Event::Tracks(tracks)) => return Some(tracks),
            Ok(Event::DocumentEnd { .. } | Event::FragmentStart { .. }) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    None
}

/// The single-threaded runtime of the network commands, or `None` after saying on stderr
/// that it could not start (`command`: `get-media`, `images`...).
pub fn runtime(command: &str) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("kvs-mkv {command}: cannot start the runtime: {e}");
            None
        }
    }
}

/// Catches Ctrl-C: the first one asks the running command to finish its current file and
/// stop; a second one exits at once.
pub fn catch_ctrl_c() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A progress bar (bytes of a file) or spinner (stdin, a live stream) on stderr, drawn only
/// when stderr is a terminal.
pub struct Progress {
    bar: ProgressBar,
    /// Problems in the input so far (errors and skipped parts), for commands that mark what
    /// they were in the middle of.
    problems: std::cell::Cell<u64>,
}

impl Progress {
    /// A bar over `total` bytes, or a spinner when the total is unknown.
    pub fn new(total: Option<u64>, what: &str) -> Self {
        let bar = if !io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else if let Some(total) = total {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        } else {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{prefix} {spinner} {bytes} {bytes_per_sec} {msg}")
            {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        };
        bar.set_prefix(what.to_owned());
        Self { bar, problems: std::cell::Cell::new(0) }
    }

    /// A bar over fragments whose total becomes known as they are listed
    /// ([`Progress::set_length`]); the message carries the bytes.
    pub fn fragments(what: &str) -> Self {
        let bar = if io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} fragments {msg} eta {eta}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_prefix(what.to_owned());
        Self { bar, problems: std::cell::Cell::new(0) }
    }

    /// The total of a bar made by [`Progress::fragments`].
    pub fn set_length(&self, n: u64) {
        self.bar.set_length(n);
    }

    /// How many problems (decoder errors, skipped parts) the input has had so far.
    pub fn problems(&self) -> u64 {
        self.problems.get()
    }

    fn problem(&self) {
        self.problems.set(self.problems.get().saturating_add(1));
    }

    pub fn set_position(&self, bytes: u64) {
        self.bar.set_position(bytes);
    }

    pub fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
    }

    /// Runs `f` with the bar hidden (for output to the same terminal).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// An input: a file or standard input, checked to begin as Matroska/EBML.
pub struct Input {
    pub path: PathBuf,
    reader: Box<dyn Read>,
    pub len: Option<u64>,
}

impl Input {
    /// Opens `path` (`-` is standard input): see [`crate::open_input`] for what is refused.
    pub fn open(path: &Path) -> Result<Self, crate::Refused> {
        let (reader, len) = crate::open_input(path)?;
        Ok(Self { path: path.to_path_buf(), reader, len })
    }

    /// The name to show in messages.
    pub fn name(&self) -> String {
        crate::input_name(&self.path)
    }
}

/// How an event loop ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// The input had malformed or truncated parts, or no document at all (reported on
    /// stderr).
    pub input_errors: bool,
    /// Decoder errors other than the end of input inside an element.
    pub errors: u64,
    /// The input ended inside an element.
    pub truncated: bool,
    /// Times malformed input was skipped, and the bytes skipped in all.
    pub resyncs: u64,
    pub skipped_bytes: u64,
    /// Warnings (data the decoder dropped, kept or replaced: see kvs_chunk::Warning).
    pub warnings: u64,
    /// Ctrl-C stopped it.
    pub interrupted: bool,
    /// The caller stopped it before the end (it had all it needed).
    pub stopped_early: bool,
    /// Documents read.
    pub documents: u64,
    /// How far the input was read, bytes.
    pub offset: u64,
}

impl Ended {
    /// Whether the input was read whole and without a problem.
    pub fn clean(&self) -> bool {
        !self.input_errors && !self.interrupted && self.resyncs == 0 && self.warnings == 0
    }

    /// Whether what was read is all there is to read: not interrupted, no error, nothing
    /// skipped.
    pub fn read_whole(&self) -> bool {
        !self.input_errors && !self.interrupted && self.resyncs == 0
    }

    /// What kept the input from being read whole, as phrases (`["the input is truncated",
    /// ...]`; warnings are not among them: see [`Ended::warnings`]).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.truncated {
            p.push("the input is truncated (it ends inside an element)".to_owned());
        }
        if self.errors > 0 {
            p.push(format!("{} error{} in the input", self.errors, if self.errors == 1 { "" } else { "s" }));
        }
        if self.resyncs > 0 {
            p.push(format!(
                "{} byte{} of malformed input skipped in {} place{}",
                self.skipped_bytes,
                if self.skipped_bytes == 1 { "" } else { "s" },
                self.resyncs,
                if self.resyncs == 1 { "" } else { "s" }
            ));
        }
        if self.documents == 0 && self.input_errors {
            p.push("no document could be read".to_owned());
        }
        if self.interrupted {
            p.push(format!("interrupted at byte {}", self.offset));
        }
        p
    }

    /// A line for the end of a command's output when the input was not read whole
    /// (`None` when it was): `kvs-mkv split: the input was read only in part: ...`.
    pub fn caveat(&self, command: &str) -> Option<String> {
        if self.read_whole() {
            return None;
        }
        Some(format!(
            "kvs-mkv {command}: the input was read only in part: {}; the output holds what could be read",
            self.problems().join(", ")
        ))
    }
}

/// Feeds every event of `input` to `f`, with progress, decoder errors and skipped input
/// reported on stderr (one line per kind, see [`crate::diag`]), and Ctrl-C ending the loop.
/// `f` returning an error stops the loop and returns it.
pub fn each_event<E>(
    command: &str,
    input: Input,
    opts: Options,
    mut f: impl FnMut(Event, &Progress) -> Result<(), E>,
) -> Result<Ended, E> {
    each_event_until(command, input, opts, |event, progress| f(event, progress).map(|()| false))
}

/// [`each_event`], where `f` returns `Ok(true)` to stop reading (it has all it needs).
pub fn each_event_until<E>(
    command: &str,
    input: Input,
    opts: Options,
    mut f: impl FnMut(Event, &Progress) -> Result<bool, E>,
) -> Result<Ended, E> {
    let name = input.name();
    let progress = Progress::new(input.len, command);
    let resync = opts.resync;
    let mut events = ReadEvents::with_options(input.reader, opts);
    let mut ended = Ended::default();
    let mut fragments = 0u64;
    let mut n = 0u32;
    let mut diag = crate::diag::Diagnostics::new(command, &name).with_strict_flag(resync);
    loop {
        if interrupted() {
            ended.interrupted = true;
            break;
        }
        let Some(item) = events.next() else { break };
        match item {
            Ok(event) => {
                match &event {
                    Event::Warning(w) => {
                        ended.warnings = ended.warnings.saturating_add(1);
                        if let Some(line) = diag.warning(w) {
                            progress.bar.suspend(|| eprintln!("{line}"));
                        }
                    }
                    Event::Resynced { offset, skipped } => {
                        ended.resyncs = ended.resyncs.saturating_add(1);
                        ended.skipped_bytes = ended.skipped_bytes.saturating_add(*skipped);
                        progress.problem();
                        if let Some(line) = diag.resynced(*offset, *skipped) {
                            progress.bar.suspend(|| eprintln!("{line}"));
                        }
                    }
                    Event::DocumentStart { .. } => ended.documents = ended.documents.saturating_add(1),
                    _ => {}
                }
                let end = matches!(event, Event::FragmentEnd(_));
                if f(event, &progress)? {
                    ended.stopped_early = true;
                    break;
                }
                n = n.wrapping_add(1);
                if end {
                    fragments = fragments.saturating_add(1);
                    progress.set_message(format!("{fragments} fragments"));
                }
                if end || n.is_multiple_of(64) {
                    progress.set_position(events.offset());
                }
            }
            Err(e) => {
                if let Some(line) = diag.error(&e) {
                    progress.bar.suspend(|| eprintln!("{line}"));
                }
                progress.problem();
                if e.is_eof() {
                    ended.truncated = true;
                } else {
                    ended.errors = ended.errors.saturating_add(1);
                }
                ended.input_errors = true;
            }
        }
    }
    // Ctrl-C while a read was blocked (a pipe) stops the loop at the end of the input.
    ended.interrupted |= interrupted();
    ended.offset = events.offset();
    progress.finish();
    for line in diag.summary() {
        eprintln!("{line}");
    }
    if !ended.interrupted
        && !ended.stopped_early
        && let Some(m) = crate::no_document(&name, ended.documents)
    {
        eprintln!("kvs-mkv {command}: {m}");
        ended.input_errors = true;
    }
    Ok(ended)
}

/// 130 after Ctrl-C, 1 after input errors or skipped input, else 0.
pub fn exit_status(ended: Ended) -> std::process::ExitCode {
    if ended.interrupted {
        eprintln!(
            "kvs-mkv: interrupted at byte {}: the input was read only in part (every file written so far is complete)",
            ended.offset
        );
        std::process::ExitCode::from(130)
    } else if ended.input_errors || ended.resyncs > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
