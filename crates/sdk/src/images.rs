//! GetImages (feature `images`): from the cloud through `aws-sdk-kinesisvideoarchivedmedia`
//! (one page, or every page with the SDK's paginator, images base64-decoded), and computed
//! by kvs-images from a live GetMedia stream ([`LiveImages`]). Both give kvs-images'
//! [`ImagesPage`] and [`Image`] values, so a caller cannot tell the sources apart. The
//! decoding of live images runs on an [`ImagePool`] that several streams can share.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_kinesisvideo::types::ApiName;
use aws_sdk_kinesisvideoarchivedmedia::operation::get_images::{GetImagesError, GetImagesOutput};
use aws_sdk_kinesisvideoarchivedmedia::types::{Format, FormatConfigKey, ImageSelectorType};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::DateTime;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64::Engine as _;
use bytes::Bytes;
use futures_core::Stream;
use kvs_chunk::{Fragment, FragmentAssembler};
use kvs_images::{
    Image, ImageError, ImageFormat, ImageSelector, ImagesError, ImagesErrorKind, ImagesPage, ImagesRequest,
    LiveSampler, SampleOptions,
};

use crate::client::KvsClient;
use crate::consumer::MediaConsumer;
use crate::error::{ConsumerError, ThrottleKind};
use crate::selector::{StartSelector, StreamId};
use crate::tracker::ConsumerEvent;

impl KvsClient {
    /// The archived-media client (`aws-sdk-kinesisvideoarchivedmedia`) for `stream`'s
    /// GetImages endpoint (`GetDataEndpoint` with `APIName` `GET_IMAGES`, cached).
    ///
    /// # Errors
    ///
    /// The mapped error of `GetDataEndpoint`.
    pub async fn archived_media_client(
        &self,
        stream: &StreamId,
    ) -> Result<aws_sdk_kinesisvideoarchivedmedia::Client, ImagesError> {
        let url = self.data_endpoint(stream, ApiName::GetImages).await.map_err(images_error_of_consumer)?;
        let conf = aws_sdk_kinesisvideoarchivedmedia::config::Builder::from(self.sdk_config())
            .endpoint_url(url)
            .build();
        Ok(aws_sdk_kinesisvideoarchivedmedia::Client::from_conf(conf))
    }

    /// One GetImages call (the page `request.next_token` names, of at most
    /// `request.max_results` images).
    ///
    /// # Errors
    ///
    /// The service's errors as [`ImagesError::Service`] (`InvalidArgumentException`,
    /// `ResourceNotFoundException`, ...); transport and other failures as
    /// [`ImagesError::Other`].
    pub async fn get_images_page(
        &self,
        stream: &StreamId,
        request: &ImagesRequest,
    ) -> Result<ImagesPage, ImagesError> {
        let client = self.archived_media_client(stream).await?;
        let output = sdk_request(&client, stream, request)?.send().await.map_err(images_error)?;
        page_of(output)
    }

    /// Every page of a GetImages request from `request.next_token` on, through the SDK's
    /// paginator: call [`CloudImagePages::next`] until it gives `None`.
    ///
    /// # Errors
    ///
    /// As [`KvsClient::archived_media_client`], and [`ImagesError::Service`] for a request
    /// field the SDK cannot carry (a number out of its range).
    pub async fn get_images_pages(
        &self,
        stream: &StreamId,
        request: &ImagesRequest,
    ) -> Result<CloudImagePages, ImagesError> {
        let client = self.archived_media_client(stream).await?;
        Ok(CloudImagePages { pages: sdk_request(&client, stream, request)?.into_paginator().send() })
    }
}

/// The pages of a cloud GetImages request ([`KvsClient::get_images_pages`]).
pub struct CloudImagePages {
    pages: PaginationStream<Result<GetImagesOutput, SdkError<GetImagesError, HttpResponse>>>,
}

impl std::fmt::Debug for CloudImagePages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudImagePages").finish_non_exhaustive()
    }
}

impl CloudImagePages {
    /// The next page; `None` after the last one (or after an error).
    pub async fn next(&mut self) -> Option<Result<ImagesPage, ImagesError>> {
        let item = self.pages.next().await?;
        Some(item.map_err(images_error).and_then(page_of))
    }
}

fn out_of_range(field: &str, v: i64) -> ImagesError {
    ImagesError::validation(format!(
        "1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must be a 32-bit integer"
    ))
}

/// The SDK's request for `request`.
fn sdk_request(
    client: &aws_sdk_kinesisvideoarchivedmedia::Client,
    stream: &StreamId,
    request: &ImagesRequest,
) -> Result<
    aws_sdk_kinesisvideoarchivedmedia::operation::get_images::builders::GetImagesFluentBuilder,
    ImagesError,
> {
    let i32_of = |field: &str, v: i64| i32::try_from(v).map_err(|_| out_of_range(field, v));
    let mut b = client
        .get_images()
        .image_selector_type(match request.image_selector {
            ImageSelector::ProducerTimestamp => ImageSelectorType::ProducerTimestamp,
            ImageSelector::ServerTimestamp => ImageSelectorType::ServerTimestamp,
        })
        .start_timestamp(DateTime::from_millis(request.start_ms))
        .end_timestamp(DateTime::from_millis(request.end_ms))
        .sampling_interval(i32_of("samplingInterval", request.sampling_interval_ms)?)
        .format(match request.format {
            ImageFormat::Jpeg => Format::Jpeg,
            ImageFormat::Png => Format::Png,
        });
    b = match stream {
        StreamId::Name(n) => b.stream_name(n),
        StreamId::Arn(a) => b.stream_arn(a),
    };
    for (key, value) in &request.format_config {
        b = b.format_config(FormatConfigKey::from(key.as_str()), value);
    }
    if let Some(w) = request.width_pixels {
        b = b.width_pixels(i32_of("widthPixels", w)?);
    }
    if let Some(h) = request.height_pixels {
        b = b.height_pixels(i32_of("heightPixels", h)?);
    }
    if let Some(n) = request.max_results {
        b = b.max_results(n);
    }
    if let Some(t) = &request.next_token {
        b = b.next_token(t);
    }
    Ok(b)
}

/// Epoch milliseconds of a timestamp, to the nearest one (the wire's epoch seconds are a
/// double, so `.100` may arrive as `.0999999`).
fn millis(t: &DateTime) -> i64 {
    let nanos = i64::from(t.subsec_nanos());
    t.secs().saturating_mul(1000).saturating_add(nanos.saturating_add(500_000) / 1_000_000)
}

/// A page from an SDK answer, images base64-decoded.
fn page_of(output: GetImagesOutput) -> Result<ImagesPage, ImagesError> {
    let mut images = Vec::with_capacity(output.images().len());
    for image in output.images() {
        let content = match image.image_content() {
            Some(b64) => {
                Some(Bytes::from(base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| {
                    ImagesError::Other { code: None, message: format!("ImageContent is not base64: {e}") }
                })?))
            }
            None => None,
        };
        images.push(Image {
            timestamp_ms: image.time_stamp().map_or(0, millis),
            error: image.error().and_then(|e| ImageError::parse(e.as_str())),
            content,
            frame_timestamp_ms: None,
            detail: None,
        });
    }
    Ok(ImagesPage { images, next_token: output.next_token })
}

/// Maps an SDK error of an archived-media operation.
pub(crate) fn images_error<E>(err: SdkError<E, HttpResponse>) -> ImagesError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    if let SdkError::ServiceError(ctx) = &err {
        let code = ctx.err().code().map(str::to_owned);
        let message =
            ctx.err().message().map_or_else(|| DisplayErrorContext(ctx.err()).to_string(), str::to_owned);
        return match code.as_deref().and_then(ImagesErrorKind::from_code) {
            Some(kind) => ImagesError::Service { kind, message },
            None => ImagesError::Other { code, message },
        };
    }
    ImagesError::Other { code: None, message: DisplayErrorContext(&err).to_string() }
}

/// Maps a kvs-sdk error (of GetDataEndpoint or GetMedia).
fn images_error_of_consumer(e: ConsumerError) -> ImagesError {
    let kind = match &e {
        ConsumerError::ResourceNotFound { .. } => Some(ImagesErrorKind::ResourceNotFound),
        ConsumerError::NotAuthorized { .. } => Some(ImagesErrorKind::NotAuthorized),
        ConsumerError::InvalidArgument { .. } => Some(ImagesErrorKind::InvalidArgument),
        ConsumerError::Throttled { kind: ThrottleKind::ClientLimitExceeded, .. } => {
            Some(ImagesErrorKind::ClientLimitExceeded)
        }
        ConsumerError::Service { code: Some(code), .. } => ImagesErrorKind::from_code(code),
        _ => None,
    };
    let message = match &e {
        ConsumerError::ResourceNotFound { message }
        | ConsumerError::NotAuthorized { message }
        | ConsumerError::InvalidArgument { message }
        | ConsumerError::Throttled { message, .. }
        | ConsumerError::Service { message, .. } => message.clone(),
        other => other.to_string(),
    };
    match kind {
        Some(kind) => ImagesError::Service { kind, message },
        None => ImagesError::Other { code: None, message },
    }
}

/// A bounded pool for decoding images, shared by any number of [`LiveImages`] (clone it:
/// the clones are the same pool). At most [`ImagePool::size`] decoding threads run at once,
/// whatever the number of streams; the others wait their turn, first come first served.
///
/// A [`LiveImages`] decodes only when a fragment settles a sample (about one group of
/// pictures per sample); receiving the other fragments costs no decoding and stays on the
/// async task. Each stream has at most one decode in flight, so its images keep their order,
/// and memory is bounded by the decodes running: each holds one group of pictures'
/// access units, a decoder and its pictures, while a waiting stream holds only what it
/// held before (its sampler's fragments and the one fragment to push).
///
/// Implementation: tokio's blocking threads ([`tokio::task::spawn_blocking`]), each job
/// first taking its permits from a fair (FIFO) [`tokio::sync::Semaphore`] of `size`
/// permits. Waiting for a permit is asynchronous (no thread sits blocked on it), decoding
/// never runs on an async worker (it would stall every other stream and connection the
/// worker serves), and the threads are tokio's, reused and created only as needed: no
/// pool of idle threads to start or stop, and nothing to shut down. A job whose caller
/// went away still runs to its end and only then returns its permit, so the bound holds.
///
/// [`LiveImages::new`] and [`LiveImages::with_consumer`] use [`ImagePool::shared`], one
/// per process with a permit per core; [`LiveImages::with_pool`] picks another.
///
/// ```no_run
/// # async fn demo(client: kvs_sdk::KvsClient) -> Result<(), kvs_images::ImagesError> {
/// use kvs_images::{ImageFormat, ImageSelector, ImagesRequest, SampleOptions};
/// use kvs_sdk::{ImagePool, LiveImages, StreamId};
///
/// // Two decodes at once, for every camera of this process.
/// let pool = ImagePool::new(2);
/// let now = 1_700_000_000_000;
/// let request = ImagesRequest::new(ImageSelector::ProducerTimestamp, now, now + 60_000, 3000, ImageFormat::Jpeg);
/// let mut tasks = Vec::new();
/// for name in ["cam-1", "cam-2", "cam-3"] {
///     let mut images = LiveImages::new(client.clone(), StreamId::name(name), &request, &SampleOptions::default(), true)?
///         .with_pool(pool.clone());
///     tasks.push(tokio::spawn(async move {
///         while let Some(image) = images.next().await {
///             // Each stream's images come in time order.
///             let _ = image.map(|i| i.timestamp_ms);
///         }
///     }));
/// }
/// for task in tasks {
///     let _ = task.await;
/// }
/// println!("{:?}", pool.stats());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ImagePool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    permits: Arc<tokio::sync::Semaphore>,
    size: usize,
    jobs: AtomicU64,
    running: AtomicUsize,
    peak_running: AtomicUsize,
    busy_ns: AtomicU64,
    waited_ns: AtomicU64,
}

/// What an [`ImagePool`] has done so far ([`ImagePool::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolStats {
    /// Jobs finished or running.
    pub jobs: u64,
    /// Jobs running now.
    pub running: usize,
    /// The most jobs that ran at once (each counted from its first to its last
    /// instruction on its thread, not while waiting for a permit).
    pub peak_running: usize,
    /// Time spent running jobs, summed over the jobs.
    pub busy: Duration,
    /// Time jobs waited for their permits, summed over the jobs.
    pub waited: Duration,
}

impl std::fmt::Debug for ImagePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImagePool")
            .field("size", &self.inner.size)
            .field("available", &self.inner.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Default for ImagePool {
    /// A new pool of one permit per core (not [`ImagePool::shared`]).
    fn default() -> Self {
        Self::new(0)
    }
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl ImagePool {
    /// A pool of `size` decoding threads at once; `0` means one per available core
    /// ([`std::thread::available_parallelism`], 1 if unknown).
    #[must_use]
    pub fn new(size: usize) -> Self {
        let size = match size {
            0 => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            n => n
                .min(tokio::sync::Semaphore::MAX_PERMITS)
                .min(usize::try_from(u32::MAX).unwrap_or(usize::MAX)),
        };
        Self {
            inner: Arc::new(PoolInner {
                permits: Arc::new(tokio::sync::Semaphore::new(size)),
                size,
                jobs: AtomicU64::new(0),
                running: AtomicUsize::new(0),
                peak_running: AtomicUsize::new(0),
                busy_ns: AtomicU64::new(0),
                waited_ns: AtomicU64::new(0),
            }),
        }
    }

    /// The process's pool: one permit per core, created on first use. [`LiveImages::new`]
    /// and [`LiveImages::with_consumer`] run on it, so streams opened that way share the
    /// cores.
    #[must_use]
    pub fn shared() -> Self {
        static SHARED: OnceLock<ImagePool> = OnceLock::new();
        SHARED.get_or_init(ImagePool::default).clone()
    }

    /// How many decoding threads may run at once.
    #[must_use]
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// What the pool has done so far.
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        let i = &self.inner;
        PoolStats {
            jobs: i.jobs.load(Ordering::Relaxed),
            running: i.running.load(Ordering::Relaxed),
            peak_running: i.peak_running.load(Ordering::Relaxed),
            busy: Duration::from_nanos(i.busy_ns.load(Ordering::Relaxed)),
            waited: Duration::from_nanos(i.waited_ns.load(Ordering::Relaxed)),
        }
    }

    /// Runs the blocking `job` on the pool, holding `threads` permits (at least 1, at most
    /// [`ImagePool::size`]) while it runs: a job that decodes on several threads of its
    /// own takes as many. Waits (asynchronously) for the permits first. Needs a tokio
    /// runtime. If the returned future is dropped after the job started, the job still
    /// runs to its end, holding its permits.
    ///
    /// # Errors
    ///
    /// [`ImagesError::Other`] if the job panicked (or the runtime is shutting down).
    pub async fn run<T, F>(&self, threads: usize, job: F) -> Result<T, ImagesError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let n = u32::try_from(threads.clamp(1, self.inner.size)).unwrap_or(u32::MAX);
        let asked = Instant::now();
        let permit = Arc::clone(&self.inner.permits)
            .acquire_many_owned(n)
            .await
            .map_err(|e| ImagesError::Other { code: None, message: format!("image pool: {e}") })?;
        self.inner.waited_ns.fetch_add(saturating_nanos(asked.elapsed()), Ordering::Relaxed);
        let inner = Arc::clone(&self.inner);
        let handle = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inner.jobs.fetch_add(1, Ordering::Relaxed);
            let now = inner.running.fetch_add(1, Ordering::SeqCst).saturating_add(1);
            inner.peak_running.fetch_max(now, Ordering::SeqCst);
            let started = Instant::now();
            let out = job();
            inner.busy_ns.fetch_add(saturating_nanos(started.elapsed()), Ordering::Relaxed);
            inner.running.fetch_sub(1, Ordering::SeqCst);
            out
        });
        handle
            .await
            .map_err(|e| ImagesError::Other { code: None, message: format!("image decoding job: {e}") })
    }
}

/// GetImages computed from a GetMedia stream: a consumer starts at the request's start
/// time (its `PRODUCER_TIMESTAMP` or `SERVER_TIMESTAMP` selector) and kvs-images samples
/// the fragments as they arrive, so images of a live stream come out as soon as their
/// time has passed. Every sample of the request is produced (no pages), then `None`.
///
/// The decoding runs on an [`ImagePool`] ([`ImagePool::shared`] unless
/// [`LiveImages::with_pool`] says otherwise), never on the async task: only a fragment that
/// settles a sample goes to the pool, with the sampler, and both come back with the images.
/// `SampleOptions::threads` is per decode here: `0` (the default) means 1 thread, since
/// the pool is where the parallelism is (several streams, or one stream's successive
/// samples, each about one group of pictures); `n` means `n` threads holding `n` of the
/// pool's permits (at most all of them).
///
/// ```no_run
/// # async fn demo(client: kvs_sdk::KvsClient) -> Result<(), kvs_images::ImagesError> {
/// use kvs_images::{ImageFormat, ImageSelector, ImagesRequest, SampleOptions};
/// use kvs_sdk::{LiveImages, StreamId};
///
/// let now = 1_700_000_000_000;
/// let request = ImagesRequest::new(ImageSelector::ProducerTimestamp, now, now + 60_000, 1000, ImageFormat::Jpeg);
/// let mut images = LiveImages::new(client, StreamId::name("cam"), &request, &SampleOptions::default(), true)?;
/// while let Some(image) = images.next().await {
///     let image = image?;
///     println!("{} {:?}", image.timestamp_ms, image.error);
/// }
/// # Ok(()) }
/// ```
pub struct LiveImages {
    consumer: MediaConsumer,
    /// `None` while a decode has it (or after that decode failed).
    sampler: Option<LiveSampler>,
    /// The decode in flight: the sampler and the images it settled come back.
    job: Option<tokio::task::JoinHandle<Result<Decoded, ImagesError>>>,
    /// Gathers the consumer's events into fragments, so that only whole fragments (the
    /// ones that settle a sample) go to the pool.
    assembler: FragmentAssembler,
    pool: ImagePool,
    /// Threads per decode (`SampleOptions::threads`, 0 taken as 1).
    threads: usize,
    ready: VecDeque<Image>,
    ended: bool,
}

/// What a decode gives back: the sampler and the images it settled.
type Decoded = (LiveSampler, Vec<Image>);

impl std::fmt::Debug for LiveImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveImages")
            .field("next_time_ms", &self.sampler.as_ref().and_then(LiveSampler::next_time_ms))
            .field("decoding", &self.job.is_some())
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl LiveImages {
    /// Images of `stream` for `request`. With `follow` the consumer waits for media that is
    /// not there yet (a live stream); without, it stops when GetMedia says it has caught up,
    /// and the samples left are settled with what arrived. Decodes on
    /// [`ImagePool::shared`].
    ///
    /// # Errors
    ///
    /// The request errors of [`ImagesRequest::plan`].
    pub fn new(
        client: KvsClient,
        stream: StreamId,
        request: &ImagesRequest,
        options: &SampleOptions,
        follow: bool,
    ) -> Result<Self, ImagesError> {
        let sampler = LiveSampler::new(request, options)?;
        let start = sampler.next_time_ms().unwrap_or(request.start_ms);
        let selector = match request.image_selector {
            ImageSelector::ProducerTimestamp => StartSelector::producer_timestamp_ms(start),
            ImageSelector::ServerTimestamp => StartSelector::server_timestamp_ms(start),
        };
        let consumer =
            MediaConsumer::builder(client, stream).start(selector).reconnect_on_end(follow).build();
        Ok(Self::with_consumer(consumer, sampler))
    }

    /// A sampler over a consumer built by the caller (any start, timeouts, policies, either
    /// granularity). Decodes on [`ImagePool::shared`].
    #[must_use]
    pub fn with_consumer(consumer: MediaConsumer, sampler: LiveSampler) -> Self {
        let threads = sampler.options().threads.max(1);
        Self {
            consumer,
            sampler: Some(sampler),
            job: None,
            assembler: FragmentAssembler::new(),
            pool: ImagePool::shared(),
            threads,
            ready: VecDeque::new(),
            ended: false,
        }
    }

    /// Decodes on `pool` from now on (share one pool among the streams of a process to
    /// bound their decoding together).
    #[must_use]
    pub fn with_pool(mut self, pool: ImagePool) -> Self {
        self.pool = pool;
        self
    }

    /// The pool this stream decodes on.
    #[must_use]
    pub fn pool(&self) -> &ImagePool {
        &self.pool
    }

    /// Starts a decode on the pool: `work` runs with the sampler, which comes back with
    /// the images.
    fn spawn(
        &mut self,
        mut sampler: LiveSampler,
        work: impl FnOnce(&mut LiveSampler) -> Vec<Image> + Send + 'static,
    ) {
        let threads = self.threads.min(self.pool.size());
        sampler.set_threads(threads);
        let pool = self.pool.clone();
        self.job = Some(tokio::spawn(async move {
            pool.run(threads, move || {
                let images = work(&mut sampler);
                (sampler, images)
            })
            .await
        }));
    }

    /// A whole fragment: to the pool if it settles a sample, else into the sampler here
    /// (no decoding).
    fn push(&mut self, fragment: Fragment) {
        let Some(mut sampler) = self.sampler.take() else { return };
        if sampler.settles(&fragment) {
            self.spawn(sampler, move |s| s.push_fragment(&fragment));
        } else {
            self.ready.extend(sampler.push_fragment(&fragment));
            self.sampler = Some(sampler);
        }
    }

    /// The next image, in time order; `None` when every sample has been produced.
    ///
    /// Cancel-safe: a decode in flight when the future is dropped is kept, and the next
    /// call waits for it.
    ///
    /// # Errors
    ///
    /// The consumer's terminal error, or a decode that failed ([`ImagePool::run`]); the
    /// stream ends after either.
    pub async fn next(&mut self) -> Option<Result<Image, ImagesError>> {
        loop {
            if let Some(image) = self.ready.pop_front() {
                return Some(Ok(image));
            }
            if let Some(job) = &mut self.job {
                let done = job.await;
                self.job = None;
                let failed = match done {
                    Ok(Ok((sampler, images))) => {
                        self.sampler = Some(sampler);
                        self.ready.extend(images);
                        continue;
                    }
                    Ok(Err(e)) => e,
                    Err(e) => ImagesError::Other { code: None, message: format!("image decoding task: {e}") },
                };
                self.ended = true;
                return Some(Err(failed));
            }
            let sampler = self.sampler.as_mut()?;
            if self.ended || sampler.is_done() {
                return None;
            }
            let item = std::future::poll_fn(|cx| Pin::new(&mut self.consumer).poll_next(cx)).await;
            match item {
                Some(Ok(ConsumerEvent::Event(event))) => {
                    if let Some(fragment) = self.assembler.push(event) {
                        self.push(fragment);
                    }
                }
                Some(Ok(ConsumerEvent::Fragment(fragment))) => self.push(fragment),
                Some(Ok(ConsumerEvent::FragmentAborted { .. })) => {
                    self.assembler.abort();
                    sampler.abort_fragment();
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    self.ended = true;
                    return Some(Err(images_error_of_consumer(e)));
                }
                None => {
                    self.ended = true;
                    let rest = self.assembler.finish();
                    if let Some(sampler) = self.sampler.take() {
                        self.spawn(sampler, move |s| {
                            let mut images = rest.map(|f| s.push_fragment(&f)).unwrap_or_default();
                            images.extend(s.finish());
                            images
                        });
                    }
                }
            }
        }
    }
}
