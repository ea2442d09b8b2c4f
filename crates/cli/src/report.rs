//! `inspect --html REPORT.html`: the HTML report (kvs-report) of what `inspect` reads, fed
//! the same events and the same analysis rows as the table.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use kvs_chunk::analysis::{FragmentRow, Totals};
use kvs_chunk::{Event, Fragment};
use kvs_report::{ReportBuilder, ReportOptions};

/// The report flags of `inspect`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ReportArgs {
    /// Also write a self-contained HTML report (charts, thumbnails, a mark per fragment) to
    /// this file when the input ends (with --follow: at Ctrl-C). The table is still printed.
    #[arg(long, value_name = "REPORT.html")]
    pub html: Option<PathBuf>,
    /// With --html: the least media time between two thumbnails, in seconds (0: one per
    /// fragment). It doubles whenever more than --max-thumbnails would be kept, so the
    /// thumbnails stay evenly spaced over the whole input.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, requires = "html")]
    pub thumbnails_every: f64,
    /// With --html: the most thumbnails in the report (0: none).
    #[arg(long, value_name = "N", default_value_t = 200, requires = "html")]
    pub max_thumbnails: usize,
}

/// A report being built, and where it goes.
pub struct HtmlReport {
    builder: ReportBuilder,
    path: PathBuf,
}

impl HtmlReport {
    /// The report `args` ask for, if any, titled `title`.
    pub fn new(args: &ReportArgs, title: &str) -> Option<Self> {
        let path = args.html.clone()?;
        let every_ms = if args.thumbnails_every.is_finite() && args.thumbnails_every > 0.0 {
            // Bounded by the check: at most a year of seconds.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let ms = (args.thumbnails_every.min(31_536_000.0) * 1000.0).round() as u64;
            ms
        } else {
            0
        };
        let options = ReportOptions {
            title: title.to_owned(),
            thumbnails_every_ms: every_ms,
            max_thumbnails: args.max_thumbnails,
            ..ReportOptions::default()
        };
        Some(Self { builder: ReportBuilder::new(options), path })
    }

    pub fn event(&mut self, event: &Event) {
        self.builder.event(event);
    }

    pub fn fragment(&mut self, row: &FragmentRow, fragment: &Fragment) {
        self.builder.fragment(row, fragment);
    }

    pub fn end_of_input(&mut self) {
        self.builder.end_of_input();
    }

    pub fn note(&mut self, note: String) {
        self.builder.note(note);
    }

    /// Writes the page (to a temporary file beside it, then renamed) and says so on stderr.
    pub fn write(&self, totals: &Totals) -> io::Result<()> {
        let name = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", self.path.display()));
        let tmp = tmp_path(&self.path);
        let result = (|| {
            let mut out = io::BufWriter::new(std::fs::File::create(&tmp)?);
            self.builder.write_html(totals, &mut out)?;
            out.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            let e = name(e);
            eprintln!("kvs-mkv inspect: cannot write the HTML report {e}");
            return Err(e);
        }
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let thumbs = self.builder.thumbnails().iter().flatten().count();
        let mut err = io::stderr().lock();
        let _ = writeln!(
            err,
            "kvs-mkv inspect: wrote {} ({} fragments, {thumbs} thumbnails, {} KiB)",
            self.path.display(),
            self.builder.rows().len(),
            size.div_ceil(1024)
        );
        Ok(())
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}
