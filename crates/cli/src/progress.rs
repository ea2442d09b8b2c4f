//! Progress on stderr for long work (only when stderr is a terminal), Ctrl-C handling, and
//! the event loop the file commands share.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kvs_chunk::{Event, Options, ReadEvents};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

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
        Self { bar }
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

/// An input: a file or standard input.
pub struct Input {
    pub path: PathBuf,
    reader: Box<dyn Read>,
    pub len: Option<u64>,
}

impl Input {
    /// Opens `path` (`-` is standard input).
    pub fn open(path: &Path) -> Result<Self, String> {
        if path.as_os_str() == "-" {
            return Ok(Self { path: path.to_path_buf(), reader: Box::new(io::stdin().lock()), len: None });
        }
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let len = file.metadata().ok().filter(std::fs::Metadata::is_file).map(|m| m.len());
        Ok(Self { path: path.to_path_buf(), reader: Box::new(file), len })
    }

    /// The name to show in messages.
    pub fn name(&self) -> String {
        if self.path.as_os_str() == "-" { "stdin".to_owned() } else { self.path.display().to_string() }
    }
}

/// How an event loop ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// The input had malformed or truncated parts (reported on stderr).
    pub input_errors: bool,
    /// Ctrl-C stopped it.
    pub interrupted: bool,
}

/// Feeds every event of `input` to `f`, with progress, decoder errors reported on stderr
/// as one sentence each, and Ctrl-C ending the loop. `f` returning an error stops the loop
/// and returns it.
pub fn each_event<E>(
    command: &str,
    input: Input,
    opts: Options,
    mut f: impl FnMut(Event, &Progress) -> Result<(), E>,
) -> Result<Ended, E> {
    let name = input.name();
    let progress = Progress::new(input.len, command);
    let mut events = ReadEvents::with_options(input.reader, opts);
    let mut ended = Ended::default();
    let mut fragments = 0u64;
    let mut n = 0u32;
    let mut diag = crate::diag::Diagnostics::new(command, &name);
    loop {
        if interrupted() {
            ended.interrupted = true;
            break;
        }
        let Some(item) = events.next() else { break };
        match item {
            Ok(event) => {
                if let Event::Warning(w) = &event
                    && let Some(line) = diag.warning(w)
                {
                    progress.bar.suspend(|| eprintln!("{line}"));
                }
                let end = matches!(event, Event::FragmentEnd(_));
                f(event, &progress)?;
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
                ended.input_errors = true;
            }
        }
    }
    progress.finish();
    for line in diag.summary() {
        eprintln!("{line}");
    }
    Ok(ended)
}

/// 130 after Ctrl-C, 1 after input errors, else 0.
pub fn exit_status(ended: Ended) -> std::process::ExitCode {
    if ended.interrupted {
        eprintln!("kvs-mkv: interrupted; the files written so far are complete");
        std::process::ExitCode::from(130)
    } else if ended.input_errors {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
