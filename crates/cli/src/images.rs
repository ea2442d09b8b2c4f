//! `kvs-mkv images`: GetImages from a file (computed by kvs-images), from Kinesis Video
//! Streams or a local `serve` (the GetImages API through kvs-sdk), or sampled from a
//! GetMedia stream; printed as the AWS CLI prints `get-images`, or written as image files
//! with a JSON manifest.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, ValueEnum};
use kvs_images::{
    DEFAULT_MAX_HELD_BYTES, Image, ImageFormat, ImageSelector, ImagesRequest, Limits, Paging, SampleOptions,
    StreamLimits, StreamingSampler, timestamp, wire,
};
use kvs_sdk::{ArchiveItem, ArchiveReader, FragmentClock, FragmentSelector, KvsClient, LiveImages, StreamId};
use serde_json::{Map, Value, json};

pub const AFTER_HELP: &str = "\
Examples:
  kvs-mkv images testdata/images/h264.mkv --image-selector-type PRODUCER_TIMESTAMP \\
      --start-timestamp 2023-11-14T22:13:20Z --end-timestamp 1700000003.5 \\
      --sampling-interval 500 --format JPEG --format-config JPEGQuality=60 --height-pixels 120
  kvs-mkv images --stream-name cam --endpoint-url http://127.0.0.1:4567 \\
      --image-selector-type SERVER_TIMESTAMP --start-timestamp 1700000000 \\
      --end-timestamp 1700000060 --sampling-interval 1000 --format PNG --output-dir frames/

The input is a GetMedia payload or a Matroska/WebM file (`-` for standard input), or a
stream: --stream-name/--stream-arn call the GetImages API (of AWS, or of a local `kvs-mkv
serve` with --endpoint-url); add --from-get-media to read the stream with GetMedia and
compute the images here instead, or --from-archive to read the samples' range from the
archive (ListFragments and GetMediaForFragmentList, as `kvs-mkv archive`: every fragment
from 20 s before the first sample to the last one) and compute them here. Credentials (the AWS default chain, --profile), region,
--ca-bundle and --no-verify-ssl work as in `kvs-mkv get-media --help`.

Timestamps are epoch seconds (a fraction allowed) or ISO 8601, as the AWS CLI takes them.
Samples are at start, start + interval, ... up to and including the end; each is an image
or an Error: NO_MEDIA (nothing at that time) or MEDIA_ERROR (audio only, undecodable).

Without --output-dir the answer is printed as `aws kinesis-video-archived-media get-images`
prints it: {\"Images\": [{\"TimeStamp\", \"Error\", \"ImageContent\" (base64)}], \"NextToken\"}.
With --output-dir each image is written to DIR/<time>.jpg|png (time as
2023-11-14T22-13-20.500Z) and DIR/manifest.json lists every sample with its file.
--max-items caps the number of samples and prints a NextToken to resume with
--starting-token.";

/// [`AFTER_HELP`] and the decoder backend this build computes images with.
pub fn after_help() -> String {
    let hint = if cfg!(feature = "ffmpeg") {
        ""
    } else {
        "\nBuilt with `--features ffmpeg` (and FFmpeg's -dev libraries), kvs-mkv decodes through the\n\
         system's libavcodec instead, which adds VP8, VP9 and AV1."
    };
    format!("{AFTER_HELP}\n\nImages computed here are decoded by: {}.{hint}", kvs_images::decoder_backend())
}

/// `ImageSelectorType`.
#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SelectorArg {
    ProducerTimestamp,
    ServerTimestamp,
}

/// `Format`.
#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum FormatArg {
    Jpeg,
    Png,
}

#[derive(Args)]
pub struct ImagesArgs {
    /// A GetMedia payload or Matroska/WebM file, or `-` for standard input.
    #[arg(conflicts_with_all = ["stream_name", "stream_arn"], required_unless_present_any = ["stream_name", "stream_arn"])]
    input: Option<PathBuf>,
    /// The stream's name (GetImages from the service).
    #[arg(long, conflicts_with = "stream_arn")]
    stream_name: Option<String>,
    /// The stream's ARN.
    #[arg(long)]
    stream_arn: Option<String>,
    /// Where the service is and which credentials, region and certificates to use (as
    /// `get-media`).
    #[command(flatten)]
    aws: crate::stream_args::AwsArgs,
    /// The clock of the sample times.
    #[arg(long, value_enum)]
    image_selector_type: SelectorArg,
    /// The first sample time: epoch seconds or ISO 8601.
    #[arg(long)]
    start_timestamp: String,
    /// The last sample time (at most 300 s after the start).
    #[arg(long)]
    end_timestamp: String,
    /// Milliseconds between samples (at least 200).
    #[arg(long)]
    sampling_interval: i64,
    /// The image format.
    #[arg(long, value_enum)]
    format: FormatArg,
    /// `JPEGQuality=N` (1 to 100, default 80), or the JSON `{"JPEGQuality":"N"}`.
    #[arg(long)]
    format_config: Option<String>,
    /// The width (with --height-pixels: stretch to that size).
    #[arg(long)]
    width_pixels: Option<i64>,
    /// The height (alone: the width keeps the aspect ratio).
    #[arg(long)]
    height_pixels: Option<i64>,
    /// At most this many samples; a NextToken follows if there are more.
    #[arg(long)]
    max_items: Option<u64>,
    /// Resume after a previous answer's NextToken.
    #[arg(long)]
    starting_token: Option<String>,
    /// Write the images and manifest.json into this directory instead of printing JSON.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// Decode only keyframes: each sample shows the last keyframe at or before its time
    /// (a file or --from-get-media).
    #[arg(long)]
    keyframes_only: bool,
    /// Decode this many groups of pictures at once, each on its own thread; 0: one per
    /// core (a file or --from-get-media).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// The smallest sampling interval accepted, ms (a file or --from-get-media).
    #[arg(long, default_value_t = 200)]
    min_sampling_interval: i64,
    /// Read the stream with GetMedia and compute the images here (instead of GetImages).
    #[arg(long)]
    from_get_media: bool,
    /// Read the samples' range from the stream's archive (ListFragments and
    /// GetMediaForFragmentList, as `kvs-mkv archive`, from 20 s before the first sample) and
    /// compute the images here (instead of GetImages).
    #[arg(long, conflicts_with = "from_get_media")]
    from_archive: bool,
    /// With --from-get-media: wait for media that has not arrived yet (a live stream).
    #[arg(long, requires = "from_get_media")]
    follow: bool,
    #[command(flatten)]
    read: crate::ReadArgs,
}

/// Why `images` failed.
enum Failure {
    /// The input was refused before reading (missing, a directory, not EBML).
    Refused(crate::Refused),
    /// Anything else: one line, status 1.
    Other(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Other(s)
    }
}

/// A bad command line: exit status 2.
struct Usage(String);

impl ImagesArgs {
    fn request(&self) -> Result<ImagesRequest, Usage> {
        let time = |name: &str, text: &str| {
            timestamp::parse_ms(text).ok_or_else(|| {
                Usage(format!(
                    "--{name} {text:?} is neither epoch seconds nor ISO 8601 (2023-11-14T22:13:20Z)"
                ))
            })
        };
        let mut request = ImagesRequest::new(
            match self.image_selector_type {
                SelectorArg::ProducerTimestamp => ImageSelector::ProducerTimestamp,
                SelectorArg::ServerTimestamp => ImageSelector::ServerTimestamp,
            },
            time("start-timestamp", &self.start_timestamp)?,
            time("end-timestamp", &self.end_timestamp)?,
            self.sampling_interval,
            match self.format {
                FormatArg::Jpeg => ImageFormat::Jpeg,
                FormatArg::Png => ImageFormat::Png,
            },
        );
        if let Some(config) = &self.format_config {
            request.format_config =
                wire::parse_format_config(config).map_err(|e| Usage(format!("--format-config {e}")))?;
        }
        request.width_pixels = self.width_pixels;
        request.height_pixels = self.height_pixels;
        request.next_token.clone_from(&self.starting_token);
        Ok(request)
    }

    fn options(&self) -> SampleOptions {
        SampleOptions {
            limits: Limits { min_sampling_interval_ms: self.min_sampling_interval, ..Limits::default() },
            keyframes_only: self.keyframes_only,
            threads: self.threads,
            ..SampleOptions::default()
        }
    }

    fn stream(&self) -> Option<StreamId> {
        match (&self.stream_name, &self.stream_arn) {
            (Some(name), _) => Some(StreamId::name(name)),
            (None, Some(arn)) => Some(StreamId::arn(arn)),
            (None, None) => None,
        }
    }

    /// The client for the AWS access options (as `get-media` builds it).
    async fn client(&self) -> Result<KvsClient, String> {
        self.aws.client().await
    }
}

/// Everything gathered: the images and the token to resume after them.
struct Answer {
    images: Vec<Image>,
    next_token: Option<String>,
    /// How reading a file or standard input ended.
    ended: Option<crate::progress::Ended>,
}

async fn answer(args: &ImagesArgs, request: &ImagesRequest) -> Result<Answer, Failure> {
    let options = args.options();
    let Some(stream) = args.stream() else {
        let path = args.input.clone().unwrap_or_else(|| PathBuf::from("-"));
        return from_input(&path, request, args.max_items, &options, args.read).await;
    };
    Ok(from_stream(args, request, &options, stream).await?)
}

async fn from_stream(
    args: &ImagesArgs,
    request: &ImagesRequest,
    options: &SampleOptions,
    stream: StreamId,
) -> Result<Answer, String> {
    let options = *options;
    let client = args.client().await?;
    if args.from_archive {
        return from_archive(args, request, &options, client, stream).await;
    }
    if args.from_get_media {
        let mut live =
            LiveImages::new(client, stream, request, &options, args.follow).map_err(|e| e.to_string())?;
        let mut images = Vec::new();
        while args.max_items.is_none_or(|m| u64::try_from(images.len()).is_ok_and(|n| n < m)) {
            match live.next().await {
                Some(image) => images.push(image.map_err(|e| e.to_string())?),
                None => break,
            }
        }
        return Ok(Answer { images, next_token: None, ended: None });
    }
    if args.max_items.is_none() && request.max_results.is_none() {
        // Every page, through the SDK's paginator.
        let mut pages = client.get_images_pages(&stream, request).await.map_err(|e| e.to_string())?;
        let mut images = Vec::new();
        while let Some(page) = pages.next().await {
            images.extend(page.map_err(|e| e.to_string())?.images);
        }
        return Ok(Answer { images, next_token: None, ended: None });
    }
    let mut paging = Paging::new(request, args.max_items);
    while let Some(r) = paging.next_request() {
        paging.push(client.get_images_page(&stream, &r).await.map_err(|e| e.to_string())?);
    }
    let page = paging.finish();
    Ok(Answer { images: page.images, next_token: page.next_token, ended: None })
}

/// How far before the first sample the archive is read: a sample shows the frame at or
/// before its time, which may be in a fragment that started before it (ListFragments
/// selects fragments by their start).
const ARCHIVE_LOOKBACK_MS: i64 = 20_000;

/// The images of a range of the stream's archive (kvs-sdk's archive reader), sampled as a
/// file is: the fragments from [`ARCHIVE_LOOKBACK_MS`] before the first sample to the last
/// one, in order, each once.
async fn from_archive(
    args: &ImagesArgs,
    request: &ImagesRequest,
    options: &SampleOptions,
    client: KvsClient,
    stream: StreamId,
) -> Result<Answer, String> {
    let mut paging = Paging::new(request, args.max_items);
    while let Some(r) = paging.next_request() {
        paging.push(r.plan_page(&options.limits).map_err(|e| e.to_string())?);
    }
    let skeleton = paging.finish();
    let times: Vec<i64> = skeleton.images.iter().map(|i| i.timestamp_ms).collect();
    let plan = request.plan(&options.limits).map_err(|e| e.to_string())?;
    let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
        return Ok(Answer { images: Vec::new(), next_token: skeleton.next_token, ended: None });
    };
    let clock = match args.image_selector_type {
        SelectorArg::ProducerTimestamp => FragmentClock::Producer,
        SelectorArg::ServerTimestamp => FragmentClock::Server,
    };
    let range = FragmentSelector::new(clock, first.saturating_sub(ARCHIVE_LOOKBACK_MS), last)
        .map_err(|e| e.to_string())?;
    let mut reader = ArchiveReader::builder(client, stream, range)
        .raw_documents(true)
        .frames(false)
        .max_retries(Some(5))
        .decoder_options(args.read.options())
        .build();
    let mut sampler = StreamingSampler::new(plan, &times, options, StreamLimits::default());
    use futures_util::StreamExt as _;
    while !sampler.is_done() {
        match reader.next().await {
            Some(Ok(ArchiveItem::Fragment { document: Some(doc), .. })) => {
                for event in kvs_chunk::Events::with_options(doc, args.read.options()) {
                    match event {
                        Ok(event) => sampler.push_event(event),
                        Err(e) => {
                            eprintln!("kvs-mkv images: {e}");
                            break;
                        }
                    }
                }
            }
            Some(Ok(ArchiveItem::Missing { error, .. })) => {
                eprintln!("kvs-mkv images: {}: skipped", crate::fragment_list::describe_error_chunk(&error));
            }
            Some(Ok(ArchiveItem::Retrying { attempt, reason, delay })) => {
                eprintln!("kvs-mkv images: {reason}; retrying (#{attempt}) in {} ms", delay.as_millis());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => break,
        }
    }
    Ok(Answer { images: sampler.finish(), next_token: skeleton.next_token, ended: None })
}

/// The images of a file or standard input: the pages `--max-items` asks for, sampled in one
/// pass over the input, which is read as far as their last sample needs and held only as far
/// as the samples still to come need (kvs-images' streaming sampler). Malformed input is
/// skipped past (reported on stderr) unless `read` says `--strict`; the answer then says
/// what was read, and `Ended` how the reading ended.
async fn from_input(
    path: &Path,
    request: &ImagesRequest,
    max_items: Option<u64>,
    options: &SampleOptions,
    read: crate::ReadArgs,
) -> Result<Answer, Failure> {
    // The pages do not depend on the media: their sample times and token come from the plan.
    let mut paging = Paging::new(request, max_items);
    while let Some(r) = paging.next_request() {
        paging.push(r.plan_page(&options.limits).map_err(|e| e.to_string())?);
    }
    let skeleton = paging.finish();
    let times: Vec<i64> = skeleton.images.iter().map(|i| i.timestamp_ms).collect();
    let plan = request.plan(&options.limits).map_err(|e| e.to_string())?;
    let input = crate::progress::Input::open(path).map_err(Failure::Refused)?;
    let mut sampler = StreamingSampler::new(plan, &times, options, StreamLimits::default());
    let ended = crate::progress::each_event_until("images", input, read.options(), |event, _| {
        sampler.push_event(event);
        Ok::<bool, std::convert::Infallible>(sampler.is_done())
    });
    let ended = match ended {
        Ok(e) => e,
        Err(never) => match never {},
    };
    if sampler.degraded() {
        eprintln!(
            "kvs-mkv images: {}: more than {} MiB of media would have been held at once: media \
             was dropped, some samples may differ from the media",
            path.display(),
            DEFAULT_MAX_HELD_BYTES / (1024 * 1024)
        );
    }
    Ok(Answer { images: sampler.finish(), next_token: skeleton.next_token, ended: Some(ended) })
}

pub fn run(args: &ImagesArgs) -> ExitCode {
    if (args.from_get_media || args.from_archive) && args.stream().is_none() {
        eprintln!(
            "kvs-mkv images: --from-get-media and --from-archive read a stream: give --stream-name or --stream-arn"
        );
        return ExitCode::from(2);
    }
    let request = match args.request() {
        Ok(r) => r,
        Err(Usage(message)) => {
            eprintln!("kvs-mkv images: {message}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = crate::progress::runtime("images") else { return ExitCode::FAILURE };
    let answer = match runtime.block_on(answer(args, &request)) {
        Ok(a) => a,
        Err(Failure::Refused(refused)) => return refused.report("images"),
        Err(Failure::Other(e)) => {
            eprintln!("kvs-mkv images: {e}");
            return ExitCode::FAILURE;
        }
    };
    let written = match &args.output_dir {
        Some(dir) => write_dir(dir, request.format, &answer),
        None => print_json(&answer),
    };
    let ended = answer.ended.unwrap_or_default();
    if let Some(line) = ended.caveat("images") {
        eprintln!("{line}");
    }
    match written {
        Ok(()) if ended.interrupted => ExitCode::from(130),
        Ok(()) if !ended.read_whole() => ExitCode::FAILURE,
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvs-mkv images: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// JSON with the AWS CLI's 4-space indent.
fn write_pretty(out: &mut dyn Write, value: &Value) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(
        &mut *out,
        serde_json::ser::PrettyFormatter::with_indent(b"    "),
    );
    serde::Serialize::serialize(value, &mut ser).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// `{"Images": [...], "NextToken": ...}` as the AWS CLI prints it.
fn print_json(answer: &Answer) -> io::Result<()> {
    let images: Vec<Value> = answer
        .images
        .iter()
        .map(|i| {
            let mut o = Map::new();
            o.insert("TimeStamp".into(), timestamp::format_iso8601(i.timestamp_ms).into());
            if let Some(e) = i.error {
                o.insert("Error".into(), e.as_str().into());
            }
            if let Some(c) = &i.content {
                o.insert("ImageContent".into(), STANDARD.encode(c).into());
            }
            Value::Object(o)
        })
        .collect();
    let mut top = Map::new();
    top.insert("Images".into(), Value::Array(images));
    if let Some(t) = &answer.next_token {
        top.insert("NextToken".into(), t.clone().into());
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    write_pretty(&mut out, &Value::Object(top))?;
    out.flush()
}

/// One file per image and `manifest.json`.
fn write_dir(dir: &Path, format: ImageFormat, answer: &Answer) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut entries = Vec::new();
    let (mut files, mut missing) = (0usize, 0usize);
    for image in &answer.images {
        let mut entry = Map::new();
        entry.insert("TimeStamp".into(), timestamp::format_iso8601(image.timestamp_ms).into());
        entry.insert("TimeStampMillis".into(), image.timestamp_ms.into());
        if let Some(e) = image.error {
            entry.insert("Error".into(), e.as_str().into());
            missing = missing.saturating_add(1);
        }
        if let Some(d) = &image.detail {
            entry.insert("Detail".into(), d.clone().into());
        }
        if let Some(f) = image.frame_timestamp_ms {
            entry.insert("FrameTimeStamp".into(), timestamp::format_iso8601(f).into());
        }
        if let Some(content) = &image.content {
            let name = format!("{}.{}", timestamp::format_file_stem(image.timestamp_ms), format.extension());
            std::fs::write(dir.join(&name), content)?;
            entry.insert("File".into(), name.into());
            entry.insert("Bytes".into(), content.len().into());
            files = files.saturating_add(1);
        }
        entries.push(Value::Object(entry));
    }
    let manifest = json!({
        "Format": format.as_str(),
        "Images": entries,
        "NextToken": answer.next_token,
    });
    let mut out = BufWriter::new(File::create(dir.join("manifest.json"))?);
    write_pretty(&mut out, &manifest)?;
    out.flush()?;
    eprintln!(
        "kvs-mkv images: {files} images and {missing} samples without one; manifest: {}",
        dir.join("manifest.json").display()
    );
    if let Some(t) = &answer.next_token {
        eprintln!("kvs-mkv images: more samples follow: --starting-token {t}");
    }
    Ok(())
}
