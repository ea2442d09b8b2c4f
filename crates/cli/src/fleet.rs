//! `kvs-mkv fleet run` and `kvs-mkv fleet status`: workers sharing streams through leases and
//! checkpoints in SQLite or PostgreSQL (kvs-fleet).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use kvs_fleet::{
    FleetEvent, FleetFragment, LeaseStore, Store, StoredCheckpoint, StreamChoice, Worker, WorkerConfig,
};
use kvs_sdk::StartSelector;

use crate::stream_args::AwsArgs;

pub const AFTER_HELP: &str = "\
Examples:
  kvs-mkv serve --live --stream 'cam-{1..30}=clip.mkv' &
  kvs-mkv fleet run --store sqlite:fleet.db --worker-id w1 --all-streams \\
      --endpoint-url http://127.0.0.1:4567 --output-dir archive/
  kvs-mkv fleet run --store postgres://kvs@db.internal:5432/kvs --worker-id \"$(hostname)\" \\
      --stream cam-1 --stream cam-2 --json
  kvs-mkv fleet status --store sqlite:fleet.db

Every worker of a fleet names the same store. Each takes its share of the streams (shares
differ by at most one), reads them from their last checkpoint, and checkpoints after every
--checkpoint-every fragments it has written. A worker renews its leases every third of
--lease-secs; when it dies, its leases expire and the others take its streams, within the
lease time, from their last checkpoints. Per stream, fragments come in order; a fragment is
delivered twice only if it came after the last checkpoint of a worker that died or lost its
lease. --output-dir writes each fragment to DIR/STREAM/<fragment number>_<producer
time>.mkv (the document as the service sent it, written to a temporary name and renamed):
a fragment delivered twice overwrites its own file, so the directory holds every fragment
exactly once. Ctrl-C (or SIGTERM) checkpoints, hands the streams over and exits 0.";

#[derive(Args, Debug)]
pub struct FleetArgs {
    #[command(subcommand)]
    command: FleetCommand,
}

#[derive(Subcommand, Debug)]
enum FleetCommand {
    /// Take a share of the streams, archive or print their fragments, checkpoint.
    Run(Box<RunArgs>),
    /// Each stream: its worker, lease expiry, last checkpoint and lag.
    Status(StatusArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Where leases and checkpoints are: sqlite:PATH (one machine) or
    /// postgres://USER@HOST:PORT/DATABASE (several; USER:PASSWORD@ with a password).
    #[arg(long, value_name = "URL")]
    store: String,
    /// This worker's id, unique in the fleet.
    #[arg(long, value_name = "ID")]
    worker_id: String,
    /// The streams to share (`--stream a b c` or `--stream a --stream b`).
    #[arg(long = "stream", value_name = "NAME", num_args = 1.., required_unless_present = "all_streams")]
    streams: Vec<String>,
    /// Share every stream (ListStreams, again every minute).
    #[arg(long, conflicts_with = "streams")]
    all_streams: bool,
    /// With --all-streams: only streams whose name starts with this.
    #[arg(long, value_name = "PREFIX", requires = "all_streams")]
    stream_name_prefix: Option<String>,
    /// Where a stream without a checkpoint starts, as the AWS CLI's --start-selector
    /// (StartSelectorType=EARLIEST, or its JSON form) [default: NOW].
    #[arg(long, value_name = "SELECTOR")]
    start_selector: Option<String>,
    /// The lease time, seconds: a dead worker's streams move on within it.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    lease_secs: f64,
    /// Checkpoint a stream after every N fragments written.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_every: u64,
    /// Write each fragment to DIR/STREAM/.
    #[arg(long, value_name = "DIR", required_unless_present = "json", conflicts_with = "json")]
    output_dir: Option<PathBuf>,
    /// One JSON line per fragment on stdout: stream, fragment number, timestamps, worker.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// The store, as for `fleet run`.
    #[arg(long, value_name = "URL")]
    store: String,
    /// One JSON object: the store's clock, the live workers, every stream.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &FleetArgs) -> ExitCode {
    match &args.command {
        FleetCommand::Run(args) => run_worker(args),
        FleetCommand::Status(args) => status(args),
    }
}

fn fail(command: &str, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("kvs-mkv fleet {command}: {message}");
    ExitCode::FAILURE
}

fn run_worker(args: &RunArgs) -> ExitCode {
    let lease = match Duration::try_from_secs_f64(args.lease_secs) {
        Ok(d) if d >= kvs_fleet::MIN_LEASE => d,
        _ => {
            return fail(
                "run",
                format!(
                    "--lease-secs {}: at least {} s",
                    args.lease_secs,
                    kvs_fleet::MIN_LEASE.as_secs_f64()
                ),
            );
        }
    };
    let start = match &args.start_selector {
        Some(text) => match StartSelector::parse_aws_cli(text) {
            Ok(s) => s,
            Err(e) => return fail("run", format!("--start-selector: {e}")),
        },
        None => StartSelector::Now,
    };
    let choice = if args.all_streams {
        StreamChoice::All { prefix: args.stream_name_prefix.clone() }
    } else {
        StreamChoice::Named(args.streams.clone())
    };
    if let Some(dir) = &args.output_dir
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return fail("run", format!("cannot create the directory {}: {e}", dir.display()));
    }
    let config = WorkerConfig::new(&args.worker_id, choice)
        .lease(lease)
        .checkpoint_every(Some(args.checkpoint_every))
        .start(start)
        .raw_documents(args.output_dir.is_some());
    // Every core: a worker may carry hundreds of streams.
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail("run", format!("cannot start the runtime: {e}")),
    };
    rt.block_on(async {
        let client = match args.aws.client().await {
            Ok(c) => c,
            Err(e) => return fail("run", e),
        };
        let store = match Store::connect(&args.store).await {
            Ok(s) => s,
            Err(e) => return fail("run", format!("{}: {e}", args.store)),
        };
        let mut worker = match Worker::start(client, store, config).await {
            Ok(w) => w,
            Err(e) => return fail("run", e),
        };
        let out = Output { dir: args.output_dir.clone(), worker: args.worker_id.clone() };
        let stop = stop_signal();
        tokio::pin!(stop);
        let mut status = ExitCode::SUCCESS;
        loop {
            tokio::select! {
                event = worker.next() => match event {
                    Some(event) => {
                        if let Err(e) = out.event(event) {
                            eprintln!("kvs-mkv fleet run: {e}");
                            status = ExitCode::FAILURE;
                            break;
                        }
                    }
                    None => break,
                },
                () = &mut stop => {
                    eprintln!("kvs-mkv fleet run: {}: stopping, handing the streams over", args.worker_id);
                    break;
                }
            }
        }
        worker.shutdown().await;
        while let Some(event) = worker.next().await {
            if let Err(e) = out.event(event) {
                eprintln!("kvs-mkv fleet run: {e}");
                status = ExitCode::FAILURE;
            }
        }
        status
    })
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Where a worker's fragments go.
struct Output {
    dir: Option<PathBuf>,
    worker: String,
}

impl Output {
    /// Writes a fragment (a file or a JSON line) and reports lease changes on stderr.
    fn event(&self, event: FleetEvent) -> io::Result<()> {
        let who = &self.worker;
        match event {
            FleetEvent::Fragment(f) => match &self.dir {
                Some(dir) => {
                    let path = write_fragment(dir, &f)?;
                    let mut stdout = io::stdout().lock();
                    writeln!(stdout, "{}\t{}", f.stream, path.display())?;
                    stdout.flush()
                }
                None => {
                    let m = f.fragment.metadata.as_ref();
                    let line = serde_json::json!({
                        "stream": f.stream,
                        "fragment_number": m.and_then(|m| m.fragment_number.as_ref()).map(|n| n.as_str()),
                        "server_timestamp_ms": m.and_then(|m| m.server_timestamp_ms),
                        "producer_timestamp_ms": m.and_then(|m| m.producer_timestamp_ms),
                        "millis_behind_now": f.fragment.end.millis_behind_now,
                        "frames": f.fragment.stats.total_frames(),
                        "worker": who,
                    });
                    let mut stdout = io::stdout().lock();
                    writeln!(stdout, "{line}")?;
                    stdout.flush()
                }
            },
            FleetEvent::Acquired { stream, resume } => {
                match resume.as_ref().and_then(|p| p.fragment_number()) {
                    Some(n) => {
                        eprintln!("kvs-mkv fleet run: {who}: took {stream}, resuming after fragment {n}")
                    }
                    None => eprintln!("kvs-mkv fleet run: {who}: took {stream} (no checkpoint yet)"),
                }
                Ok(())
            }
            FleetEvent::Released { stream } => {
                eprintln!("kvs-mkv fleet run: {who}: handed {stream} over");
                Ok(())
            }
            FleetEvent::Lost { stream } => {
                eprintln!("kvs-mkv fleet run: {who}: lost the lease of {stream}; stopped it");
                Ok(())
            }
            FleetEvent::StreamFailed { stream, error } => {
                eprintln!("kvs-mkv fleet run: {who}: {stream}: {error}; released it");
                Ok(())
            }
            FleetEvent::StoreFailed { stream, error } => {
                match stream {
                    Some(s) => eprintln!("kvs-mkv fleet run: {who}: store, stream {s}: {error}"),
                    None => eprintln!("kvs-mkv fleet run: {who}: store: {error}"),
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// `DIR/STREAM/<fragment number>_<producer time>.mkv`, written to a temporary name and
/// renamed: a fragment delivered again replaces its own file whole.
fn write_fragment(dir: &Path, f: &FleetFragment) -> io::Result<PathBuf> {
    let Some(document) = &f.document else {
        return Err(io::Error::other(format!("{}: a fragment came without its document", f.stream)));
    };
    let sub = dir.join(safe_dir_name(&f.stream));
    std::fs::create_dir_all(&sub)?;
    let m = f.fragment.metadata.as_ref();
    let stem = kvs_mux::split::file_stem(
        m.and_then(|m| m.fragment_number.as_ref()).map(|n| n.as_str()),
        m.and_then(|m| m.producer_timestamp_ms.or(m.server_timestamp_ms)),
    );
    let path = sub.join(format!("{stem}.mkv"));
    let tmp = sub.join(format!(".{stem}.mkv.tmp"));
    std::fs::write(&tmp, document)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// A stream name as a directory name: the service's names are `[a-zA-Z0-9_.-]`, but `.` and
/// `..` are among them.
fn safe_dir_name(stream: &str) -> String {
    let mut s: String = stream
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' })
        .collect();
    if s.starts_with('.') || s.is_empty() {
        s.insert(0, '_');
    }
    s
}

fn status(args: &StatusArgs) -> ExitCode {
    let Some(rt) = crate::progress::runtime("fleet status") else { return ExitCode::FAILURE };
    rt.block_on(async {
        let store = match Store::connect(&args.store).await {
            Ok(s) => s,
            Err(e) => return fail("status", format!("{}: {e}", args.store)),
        };
        let (now, workers, rows) = match (store.now_ms().await, store.workers().await, store.leases().await) {
            (Ok(n), Ok(w), Ok(r)) => (n, w, r),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return fail("status", e),
        };
        let mut out = io::stdout().lock();
        let written = if args.json {
            let streams: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    let valid = r.owner.is_some() && r.expires_ms > now;
                    serde_json::json!({
                        "stream": r.stream,
                        "worker": if valid { r.owner.as_deref() } else { None },
                        "last_owner": r.owner,
                        "lease_expires_ms": r.expires_ms,
                        "lease_counter": r.counter,
                        "checkpoint": r.checkpoint.as_ref().map(checkpoint_json),
                        "lag_ms": r.checkpoint.as_ref().and_then(|c| lag_ms(c, now)),
                    })
                })
                .collect();
            let workers: Vec<serde_json::Value> = workers
                .iter()
                .map(|w| {
                    let held = rows
                        .iter()
                        .filter(|r| r.owner.as_deref() == Some(w.worker.as_str()) && r.expires_ms > now)
                        .count();
                    serde_json::json!({"worker": w.worker, "expires_ms": w.expires_ms, "streams": held})
                })
                .collect();
            let doc = serde_json::json!({"now_ms": now, "workers": workers, "streams": streams});
            writeln!(out, "{doc}")
        } else {
            status_table(&mut out, now, &workers, &rows)
        };
        match written {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => fail("status", format!("cannot write output: {e}")),
        }
    })
}

fn checkpoint_json(c: &StoredCheckpoint) -> serde_json::Value {
    let last = c.position.last.as_ref();
    serde_json::json!({
        "fragment_number": last.and_then(|l| l.fragment_number.as_deref()),
        "server_timestamp_ms": last.and_then(|l| l.server_timestamp_ms),
        "producer_timestamp_ms": last.and_then(|l| l.producer_timestamp_ms),
        "worker": c.worker,
        "written_ms": c.written_ms,
    })
}

/// How far the checkpoint is behind the store's clock: now minus the checkpointed
/// fragment's server timestamp.
fn lag_ms(c: &StoredCheckpoint, now: i64) -> Option<i64> {
    let server = c.position.last.as_ref()?.server_timestamp_ms?;
    Some(now.saturating_sub(server))
}

fn seconds(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn status_table(
    out: &mut impl Write,
    now: i64,
    workers: &[kvs_fleet::WorkerInfo],
    rows: &[kvs_fleet::StreamLease],
) -> io::Result<()> {
    writeln!(out, "{} worker(s) alive, {} stream(s)", workers.len(), rows.len())?;
    for w in workers {
        let held = rows
            .iter()
            .filter(|r| r.owner.as_deref() == Some(w.worker.as_str()) && r.expires_ms > now)
            .count();
        writeln!(
            out,
            "  {}: {held} stream(s), alive for {}",
            w.worker,
            seconds(w.expires_ms.saturating_sub(now))
        )?;
    }
    let mut table = vec![[
        "STREAM".to_owned(),
        "WORKER".to_owned(),
        "LEASE".to_owned(),
        "CHECKPOINT".to_owned(),
        "WRITTEN".to_owned(),
        "LAG".to_owned(),
    ]];
    for r in rows {
        let (worker, lease) = match &r.owner {
            Some(owner) if r.expires_ms > now => {
                (owner.clone(), format!("expires in {}", seconds(r.expires_ms.saturating_sub(now))))
            }
            Some(owner) => {
                (format!("({owner})"), format!("expired {} ago", seconds(now.saturating_sub(r.expires_ms))))
            }
            None => ("-".to_owned(), "free".to_owned()),
        };
        let (fragment, written, lag) = match &r.checkpoint {
            Some(c) => (
                c.position.fragment_number().map_or_else(|| "-".to_owned(), |n| n.as_str().to_owned()),
                format!("{} ago by {}", seconds(now.saturating_sub(c.written_ms)), c.worker),
                lag_ms(c, now).map_or_else(|| "-".to_owned(), seconds),
            ),
            None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        table.push([kvs_mux::text::escape(&r.stream).into_owned(), worker, lease, fragment, written, lag]);
    }
    let mut widths = [0usize; 6];
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &table {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i < 5 {
                line.extend(std::iter::repeat_n(' ', w.saturating_sub(cell.chars().count())));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
