//! GetImages (feature `images`): from the cloud through `aws-sdk-kinesisvideoarchivedmedia`
//! (one page, or every page with the SDK's paginator, images base64-decoded), and computed
//! by kvs-images from a live GetMedia stream ([`LiveImages`]). Both give kvs-images'
//! [`ImagesPage`] and [`Image`] values, so a caller cannot tell the sources apart.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::pin::Pin;

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

/// GetImages computed from a GetMedia stream: a consumer starts at the request's start
/// time (its `PRODUCER_TIMESTAMP` or `SERVER_TIMESTAMP` selector) and kvs-images samples
/// the fragments as they arrive, so images of a live stream come out as soon as their
/// time has passed. Every sample of the request is produced (no pages), then `None`.
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
    sampler: LiveSampler,
    ready: VecDeque<Image>,
    ended: bool,
}

impl std::fmt::Debug for LiveImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveImages")
            .field("next_time_ms", &self.sampler.next_time_ms())
            .finish_non_exhaustive()
    }
}

impl LiveImages {
    /// Images of `stream` for `request`. With `follow` the consumer waits for media that is
    /// not there yet (a live stream); without, it stops when GetMedia says it has caught up,
    /// and the samples left are settled with what arrived.
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
        Ok(Self { consumer, sampler, ready: VecDeque::new(), ended: false })
    }

    /// A sampler over a consumer built by the caller (any start, timeouts, policies).
    #[must_use]
    pub fn with_consumer(consumer: MediaConsumer, sampler: LiveSampler) -> Self {
        Self { consumer, sampler, ready: VecDeque::new(), ended: false }
    }

    /// The next image, in time order; `None` when every sample has been produced.
    ///
    /// # Errors
    ///
    /// The consumer's terminal error (after which the stream ends).
    pub async fn next(&mut self) -> Option<Result<Image, ImagesError>> {
        loop {
            if let Some(image) = self.ready.pop_front() {
                return Some(Ok(image));
            }
            if self.ended || self.sampler.is_done() {
                return None;
            }
            let item = std::future::poll_fn(|cx| Pin::new(&mut self.consumer).poll_next(cx)).await;
            match item {
                Some(Ok(ConsumerEvent::Event(event))) => self.ready.extend(self.sampler.push_event(event)),
                Some(Ok(ConsumerEvent::Fragment(fragment))) => {
                    self.ready.extend(self.sampler.push_fragment(&fragment));
                }
                Some(Ok(ConsumerEvent::FragmentAborted { .. })) => self.sampler.abort_fragment(),
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    self.ended = true;
                    return Some(Err(images_error_of_consumer(e)));
                }
                None => {
                    self.ended = true;
                    self.ready.extend(self.sampler.finish());
                }
            }
        }
    }
}
