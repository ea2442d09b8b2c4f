//! `kvs-mkv serve`: a local Kinesis Video Streams endpoint over files (kvs-local).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use kvs_local::faults::{parse_probability, parse_seconds};
use kvs_local::{
    CutStyle, ErrorAfterFragment, FailWith, Faults, LoadOptions, LocalKvs, SigV4Credentials, Source,
    TlsConfig, UnknownFragment,
};

/// The help text after the options.
pub const AFTER_HELP: &str = "\
Each --stream NAME=PATH names a stream backed by PATH: a GetMedia payload (fragment numbers
and timestamps kept), a plain MKV/WebM file (one fragment per Cluster, synthesized fragment
numbers and timestamps), or a directory of .mkv/.mka/.webm fragment files (name order).
A range {A..B} in NAME (integers, A <= B, at most 100,000 names) names one stream per number:
--stream 'cam-{1..1000}=clip.mkv' serves cam-1 ... cam-1000, and 'cam-{0001..1000}' pads to the
width of A (cam-0001). Quote it: a shell expands braces itself. A PATH is loaded and rendered
once however many names serve it. ListStreams lists every stream, sorted by name.

The archive: ListFragments (NextToken pages) and GetMediaForFragmentList over the same
fragments; a named fragment that does not exist gets an exception chunk (error code 4000) in
its place. The service lists fragments in no guaranteed order; --shuffle-list-fragments SEED
answers in a seeded shuffled order (the same for the same request and seed, pages included)
so that clients are tested to sort.

Faults apply to every GetMedia and GetMediaForFragmentList response:
  --cut-after-bytes N        end the body after N bytes
  --cut-random SEED          end the body at a point drawn uniformly from its size (seeded, per request)
  --cut-probability P        with --cut-random, cut each response only with probability P (0..=1,
                             default 1); the others are sent whole, so a reader reaches the end
  --cut-style eof|reset      end a cut body cleanly (eof) or drop the connection (reset)
  --stall-secs S             go silent for S seconds once, halfway through the first fragment
                             (or after --stall-after-bytes N bytes)
  --throttle-rate R          above R GetMedia calls/second per stream: 400 ConnectionLimitExceededException
  --error-after-fragment K:ID  after the stream's fragment K (0-based index in the stream) is sent,
                             send an in-stream error chunk (AWS_KINESISVIDEO_ERROR_ID=ID, the next
                             fragment's number) and end the body; responses that start after K are
                             not affected
  --fail-with TYPE[:N]       answer the first N GetMedia calls per stream (all without N) with a service
                             error: ResourceNotFound, InvalidArgument, ClientLimitExceeded,
                             ConnectionLimitExceeded, NotAuthorized, InvalidEndpoint

Limits (they keep a slow or hostile client from pinning the server):
  --header-timeout SECS      a request head must arrive within SECS (default 10; from the connect for
                             the first request), and its body within SECS more, else the connection
                             is closed
  --idle-timeout SECS        a keep-alive connection with no request is closed after SECS (default 60);
                             a response being sent (a live GetMedia) is never cut by it, unless the
                             client has read nothing of it for SECS
  --max-connections N        at most N connections open at once (default 4096, or the open-files
                             limit less 64 if that is lower); more wait in the listen backlog until
                             one closes. serve raises its open-files soft limit to the hard limit
                             at start; if N is still above it, raise the hard limit (ulimit -Hn,
                             LimitNOFILE=, nofile in limits.conf) or lower N
  --max-image-jobs N         at most N GetImages calls decode at once (default: the number of CPUs)
  --image-queue N            at most N more GetImages calls wait (default 32); beyond that a call is
                             answered 400 ClientLimitExceededException

Authentication (off by default: a local endpoint answers anyone):
  --require-sigv4 KEY:SECRET verify the AWS SigV4 signature of every request (the SDKs and the AWS
                             CLI sign every request) against this access key id and secret; others
                             get 403 MissingAuthenticationTokenException (unsigned),
                             UnrecognizedClientException (another key), InvalidSignatureException
                             (wrong secret, altered request, X-Amz-Date more than 5 minutes off).
                             The secret is visible in the process list: use a test-only secret

Dashboard (on by default; --no-dashboard leaves it out):
  GET / on the serve address (open http://127.0.0.1:4567/ in a browser) is a live page of every
  stream (the first 500 by name): its latest image (GetImages at the newest fragment, refreshed
  every few seconds), its fragment rate (fragments/s over the last 10 s), the lag a live consumer
  sees (the MillisBehindNow GetMedia would write now) and the faults in effect, in words; updated
  without reloading by server-sent events (GET /dashboard/events, a JSON snapshot every second).
  Each stream links to its report, GET /dashboard/streams/NAME/report.html (kvs-report's HTML
  report: timeline, lag, bitrate, thumbnails, of the fragments served so far). GET /dashboard/state.json gives the numbers as
  JSON; GET /dashboard/streams/NAME/thumbnail.jpg the image (made at most every 2 s per clip;
  thumbnails and reports decode within --max-image-jobs/--image-queue). The dashboard is
  read-only and unauthenticated: it answers GET without a signature even with --require-sigv4,
  so anyone who can reach the address can see the stream names, images and reports

HTTPS (off by default: plain HTTP):
  --tls-cert PEM --tls-key PEM  serve HTTPS (rustls) with this certificate chain (server certificate
                             first) and private key (PKCS#8, PKCS#1 or SEC1); the URL and what
                             GetDataEndpoint answers become https://. Clients trust it with the
                             AWS CLI's --ca-bundle CA.pem (kvs-mkv: the same flag), or skip the
                             check with --no-verify-ssl

Examples:
  kvs-mkv serve --stream demo=testdata/getmedia_basic.mkv
  kvs-mkv serve --live --stream 'cam-{1..1000}=testdata/getmedia_basic.mkv'
  kvs-mkv serve --stream demo=capture.mkv --tls-cert server.pem --tls-key server.key
  kvs-mkv serve --stream cam=video.webm --live --port 8080
  kvs-mkv serve --stream demo=capture.mkv --cut-random 7 --throttle-rate 5
  kvs-mkv serve --stream demo=capture.mkv --shuffle-list-fragments 3
  kvs-mkv serve --stream demo=fragments/ --error-after-fragment 3:4000 --listen 0.0.0.0:4567
  kvs-mkv serve --stream demo=capture.mkv --listen 0.0.0.0:4567 --require-sigv4 AKIDSHARED:test-secret

  export AWS_ACCESS_KEY_ID=AKIDLOCAL AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1
  aws kinesis-video-media get-media --endpoint-url http://127.0.0.1:4567 --stream-name demo \\
      --start-selector StartSelectorType=EARLIEST out.mkv";

/// How a cut ends a response.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CutStyleArg {
    /// The body ends cleanly.
    Eof,
    /// The connection is dropped.
    Reset,
}

/// What a call naming an unknown fragment gets.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum UnknownFragmentArg {
    /// 200 with an in-stream error chunk, error id 4000.
    ErrorChunk,
    /// 400 InvalidArgumentException.
    InvalidArgument,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A stream: NAME=PATH (a GetMedia payload, a plain MKV/WebM file or a directory of
    /// fragment files). Repeat for more streams. A range in NAME names many streams over one
    /// copy of PATH: 'cam-{1..1000}=PATH', 'cam-{0001..1000}=PATH' (zero-padded).
    #[arg(long = "stream", value_name = "NAME=PATH", required = true, value_parser = parse_stream)]
    streams: Vec<(Vec<String>, PathBuf)>,
    /// Listen on 127.0.0.1 at this port [default: 4567].
    #[arg(long, conflicts_with = "listen")]
    port: Option<u16>,
    /// Listen on this address instead (e.g. 0.0.0.0:4567; port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Live mode: fragments arrive paced by their timestamps from the server's start, with
    /// timestamps shifted to the wall clock.
    #[arg(long)]
    live: bool,
    /// The timestamp (epoch ms) of a plain file's first cluster (default: 1700000000000 +
    /// the cluster's own time).
    #[arg(long, value_name = "MS")]
    base_time: Option<i64>,
    /// The largest HTTP chunk of a GetMedia body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = kvs_local::DEFAULT_CHUNK_SIZE)]
    chunk_size: usize,
    /// What a GetMedia call naming an unknown fragment number or token gets.
    #[arg(long, value_enum, default_value = "error-chunk")]
    unknown_fragment: UnknownFragmentArg,
    /// Answer ListFragments in an order shuffled with this seed (the same for the same
    /// request, pages included) instead of the stream's: the service promises no order.
    #[arg(long, value_name = "SEED")]
    shuffle_list_fragments: Option<u64>,
    /// End each GetMedia response after N bytes.
    #[arg(long, value_name = "N", help_heading = "Faults")]
    cut_after_bytes: Option<u64>,
    /// End each GetMedia response at a seeded random point.
    #[arg(long, value_name = "SEED", help_heading = "Faults")]
    cut_random: Option<u64>,
    /// Cut each response (with --cut-random) only with probability P in 0..=1; the others are
    /// sent whole, so a reader reaches the last fragment [default: 1].
    #[arg(long, value_name = "P", help_heading = "Faults", requires = "cut_random", value_parser = parse_probability)]
    cut_probability: Option<f64>,
    /// How a cut ends a response.
    #[arg(long, value_enum, default_value = "eof", help_heading = "Faults")]
    cut_style: CutStyleArg,
    /// Go silent for S seconds once per GetMedia response.
    #[arg(long, value_name = "S", help_heading = "Faults")]
    stall_secs: Option<f64>,
    /// Where the stall starts, in body bytes (default: halfway through the first fragment).
    #[arg(long, value_name = "N", help_heading = "Faults", requires = "stall_secs")]
    stall_after_bytes: Option<u64>,
    /// Answer ConnectionLimitExceededException above R GetMedia calls per second per stream.
    #[arg(long, value_name = "R", help_heading = "Faults")]
    throttle_rate: Option<u32>,
    /// After the stream's fragment K (0-based) send an error chunk with id ID and end.
    #[arg(long, value_name = "K:ID", help_heading = "Faults", value_parser = ErrorAfterFragment::from_str)]
    error_after_fragment: Option<ErrorAfterFragment>,
    /// Answer the first N GetMedia calls per stream (all without :N) with this service error.
    #[arg(long, value_name = "TYPE[:N]", help_heading = "Faults", value_parser = FailWith::from_str)]
    fail_with: Option<FailWith>,
    /// Close a connection whose request head (and body) has not arrived within SECS [default: 10].
    #[arg(long, value_name = "SECS", help_heading = "Limits", value_parser = parse_seconds)]
    header_timeout: Option<Duration>,
    /// Close a keep-alive connection idle for SECS between requests [default: 60].
    #[arg(long, value_name = "SECS", help_heading = "Limits", value_parser = parse_seconds)]
    idle_timeout: Option<Duration>,
    /// At most N connections at once; more wait to be accepted [default: 4096, or the
    /// open-files limit less 64 if lower].
    #[arg(long, value_name = "N", help_heading = "Limits", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// At most N GetImages calls decoding at once [default: the number of CPUs].
    #[arg(long, value_name = "N", help_heading = "Limits", value_parser = clap::value_parser!(u32).range(1..))]
    max_image_jobs: Option<u32>,
    /// At most N GetImages calls waiting; more get ClientLimitExceededException [default: 32].
    #[arg(long, value_name = "N", help_heading = "Limits")]
    image_queue: Option<u32>,
    // Checked in `run`, not by a clap value parser: clap's error would echo the secret.
    /// Verify the SigV4 signature of every request against this access key id and secret.
    #[arg(long, value_name = "KEY:SECRET", help_heading = "Authentication")]
    require_sigv4: Option<String>,
    /// Leave out the dashboard (the read-only, unauthenticated page at GET / and under
    /// /dashboard/); GET / is then an unknown operation.
    #[arg(long)]
    no_dashboard: bool,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first).
    #[arg(long, value_name = "PEM", requires = "tls_key", help_heading = "HTTPS")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert", help_heading = "HTTPS")]
    tls_key: Option<PathBuf>,
}

fn parse_stream(s: &str) -> Result<(Vec<String>, PathBuf), String> {
    let (name, path) = s.split_once('=').ok_or_else(|| format!("expected NAME=PATH, got {s:?}"))?;
    if name.is_empty() || path.is_empty() {
        return Err(format!("expected NAME=PATH, got {s:?}"));
    }
    Ok((expand_names(name)?, PathBuf::from(path)))
}

/// The most names one `{A..B}` range may give.
pub const MAX_RANGE_NAMES: u64 = 100_000;

/// The names of a NAME with at most one `{A..B}` range (integers, A <= B, at most
/// [`MAX_RANGE_NAMES`]; zero-padded to A's width when A has leading zeros); a NAME without
/// braces is itself.
pub fn expand_names(name: &str) -> Result<Vec<String>, String> {
    let Some((prefix, rest)) = name.split_once('{') else {
        if name.contains('}') {
            return Err(format!(
                "stream name {name:?}: '}}' without '{{' (a range is {{A..B}}, e.g. cam-{{1..1000}})"
            ));
        }
        return Ok(vec![name.to_owned()]);
    };
    let malformed = |why: &str| {
        format!(
            "stream name {name:?}: {why} (a range is {{A..B}} with integers A <= B, e.g. cam-{{1..1000}} or cam-{{0001..1000}})"
        )
    };
    let (range, suffix) = rest.split_once('}').ok_or_else(|| malformed("'{' without '}'"))?;
    if suffix.contains(['{', '}']) || prefix.contains('}') {
        return Err(malformed("only one range is allowed"));
    }
    let (a, b) = range.split_once("..").ok_or_else(|| malformed("no '..' in the braces"))?;
    let number = |s: &str| -> Result<u64, String> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(malformed(&format!("{s:?} is not a non-negative integer")));
        }
        s.parse::<u64>().map_err(|_| malformed(&format!("{s} is too large")))
    };
    let (start, end) = (number(a)?, number(b)?);
    if start > end {
        return Err(malformed(&format!("{start} is above {end}")));
    }
    let count = end.saturating_sub(start).saturating_add(1);
    if count > MAX_RANGE_NAMES {
        return Err(malformed(&format!("{count} names, at most {MAX_RANGE_NAMES}")));
    }
    let width = if a.len() > 1 && a.starts_with('0') { a.len() } else { 0 };
    Ok((start..=end).map(|i| format!("{prefix}{i:0width$}{suffix}")).collect())
}

/// The open-files soft limit, raised to the hard limit (`None` if it cannot be read).
fn raise_open_files_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            eprintln!("kvs-mkv serve: cannot raise the open-files limit: {e}");
            None
        }
    }
}

/// The default --max-connections: 4096, or the open-files limit less 64 (the listener, the
/// loaded files, the runtime) if that is lower.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 4096;

/// Descriptors kept out of the connection budget.
const RESERVED_FDS: u64 = 64;

impl ServeArgs {
    fn faults(&self) -> Result<Faults, String> {
        let stall = match self.stall_secs {
            Some(s) => Some(Duration::try_from_secs_f64(s).map_err(|e| format!("--stall-secs {s}: {e}"))?),
            None => None,
        };
        Ok(Faults {
            cut_after_bytes: self.cut_after_bytes,
            cut_random: self.cut_random,
            cut_probability: self.cut_probability.unwrap_or(1.0),
            cut_style: match self.cut_style {
                CutStyleArg::Eof => CutStyle::Eof,
                CutStyleArg::Reset => CutStyle::Reset,
            },
            stall,
            stall_after_bytes: self.stall_after_bytes,
            throttle_rate: self.throttle_rate,
            error_after_fragment: self.error_after_fragment,
            fail_with: self.fail_with,
        })
    }
}

/// Runs the server until Ctrl-C.
pub fn run(args: &ServeArgs) -> ExitCode {
    let sigv4: Option<SigV4Credentials> = match args.require_sigv4.as_deref().map(str::parse).transpose() {
        Ok(c) => c,
        Err(e) => {
            // Not echoing the value: it holds the secret.
            eprintln!("kvs-mkv serve: --require-sigv4: {e}");
            return ExitCode::from(2);
        }
    };
    let faults = match args.faults() {
        Ok(f) => f,
        Err(message) => {
            eprintln!("kvs-mkv serve: {message}");
            return ExitCode::from(2);
        }
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match TlsConfig::from_pem_files(cert, key) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("kvs-mkv serve: --tls-cert/--tls-key: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let opts = LoadOptions { base_time_ms: args.base_time };
    let mut builder = LocalKvs::builder()
        .dashboard(!args.no_dashboard)
        .live(args.live)
        .faults(faults)
        .chunk_size(args.chunk_size)
        .unknown_fragment(match args.unknown_fragment {
            UnknownFragmentArg::ErrorChunk => UnknownFragment::ErrorChunk,
            UnknownFragmentArg::InvalidArgument => UnknownFragment::InvalidArgument,
        });
    if let Some(seed) = args.shuffle_list_fragments {
        builder = builder.shuffle_list_fragments(seed);
    }
    if let Some(d) = args.header_timeout {
        builder = builder.header_timeout(d);
    }
    if let Some(d) = args.idle_timeout {
        builder = builder.idle_timeout(d);
    }
    let open_files = raise_open_files_limit();
    let budget = open_files.map(|l| l.saturating_sub(RESERVED_FDS).max(1));
    let max_connections = match args.max_connections {
        Some(n) => {
            let n = u64::from(n);
            if let (Some(budget), Some(limit)) = (budget, open_files)
                && n > budget
            {
                eprintln!(
                    "kvs-mkv serve: warning: --max-connections {n} is above the open-files limit ({limit}) less \
                     {RESERVED_FDS}: past it, accepting fails for lack of descriptors and clients wait in the \
                     listen backlog; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=, nofile in \
                     limits.conf) or lower --max-connections"
                );
            }
            n
        }
        None => match (budget, open_files) {
            (Some(budget), Some(limit)) if budget < DEFAULT_MAX_CONNECTIONS => {
                eprintln!(
                    "kvs-mkv serve: note: at most {budget} connections at once (the open-files limit {limit} \
                     less {RESERVED_FDS}); raise the hard limit (ulimit -Hn) for the default \
                     {DEFAULT_MAX_CONNECTIONS}"
                );
                budget
            }
            _ => DEFAULT_MAX_CONNECTIONS,
        },
    };
    builder = builder.max_connections(usize::try_from(max_connections).unwrap_or(usize::MAX));
    if let Some(n) = args.max_image_jobs {
        builder = builder.max_image_jobs(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(n) = args.image_queue {
        builder = builder.image_queue(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(credentials) = &sigv4 {
        builder = builder.require_sigv4(credentials.clone());
    }
    let https = tls.is_some();
    if let Some(t) = tls {
        builder = builder.tls(t);
    }
    let mut loaded = Vec::new();
    // A path is loaded once; its streams share one copy (the server renders it once).
    let mut sources: std::collections::HashMap<&PathBuf, Source> = std::collections::HashMap::new();
    for (names, path) in &args.streams {
        let source = match sources.get(path) {
            Some(s) => s.clone(),
            None => match Source::load(path, &opts) {
                Ok(source) => {
                    sources.insert(path, source.clone());
                    source
                }
                Err(e) => {
                    eprintln!("kvs-mkv serve: stream {}: {e}", names.first().map_or("", String::as_str));
                    return ExitCode::FAILURE;
                }
            },
        };
        loaded.push((names.clone(), path.clone(), source.fragments().len(), source.skipped()));
        for name in names {
            builder = builder.stream(name.clone(), source.clone());
        }
    }
    let Some(runtime) = crate::progress::runtime("serve") else { return ExitCode::FAILURE };
    let addr = args.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], args.port.unwrap_or(4567))));
    runtime.block_on(async move {
        let server = match builder.bind(addr).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kvs-mkv serve: {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let url = server.url().to_owned();
        let mut modes = Vec::new();
        if args.live {
            modes.push("live".to_owned());
        }
        if let Some(c) = &sigv4 {
            modes.push(format!("SigV4 required, key {}", c.access_key_id()));
        }
        if https {
            modes.push("HTTPS".to_owned());
        }
        let modes = if modes.is_empty() { String::new() } else { format!(" ({})", modes.join(", ")) };
        println!("kvs-local listening on {url}{modes}");
        for (names, path, n, skipped) in &loaded {
            let skipped = if *skipped > 0 { format!(", {skipped} skipped") } else { String::new() };
            match names.as_slice() {
                [name] => println!(
                    "  stream {name}: {n} fragments from {}{skipped} ({})",
                    path.display(),
                    server.stream_arn(name).unwrap_or_default()
                ),
                [first, .., last] => println!(
                    "  streams {first} ... {last} ({} names): {n} fragments from {}{skipped}",
                    names.len(),
                    path.display()
                ),
                [] => {}
            }
        }
        let first = loaded.first().and_then(|(names, ..)| names.first()).map_or("NAME", String::as_str);
        if let Some(dashboard) = server.dashboard_url() {
            println!("Dashboard: {dashboard} (read-only, no authentication)");
        }
        println!("Try:");
        match &sigv4 {
            Some(c) => println!(
                "  export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY=<the secret of --require-sigv4> \
                 AWS_DEFAULT_REGION=us-east-1",
                c.access_key_id()
            ),
            None => println!(
                "  export AWS_ACCESS_KEY_ID=AKIDLOCAL AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1"
            ),
        }
        let ca = if https { " --ca-bundle <the CA of --tls-cert>" } else { "" };
        println!(
            "  aws kinesis-video-media get-media --endpoint-url {url}{ca} --stream-name {first} \
             --start-selector StartSelectorType=EARLIEST out.mkv"
        );
        if server.stream_names().len() > 1 {
            println!("  aws kinesisvideo list-streams --endpoint-url {url}{ca}");
        }
        println!("Ctrl-C stops the server.");
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("kvs-mkv serve: cannot wait for Ctrl-C: {e}");
        }
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}
