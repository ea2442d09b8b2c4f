#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod error;
#[cfg(feature = "ffmpeg")]
mod ffmpeg;
mod live;
mod paging;
mod refs;
mod render;
mod request;
mod sample;
mod stream;
mod timeline;
pub mod timestamp;
mod token;
pub mod wire;

pub use codec::{VideoCodec, decoder_backend};
pub use error::{ImagesError, ImagesErrorKind};
pub use live::LiveSampler;
pub use paging::Paging;
pub use request::{
    DEFAULT_JPEG_QUALITY, ImageFormat, ImageSelector, ImagesRequest, JPEG_QUALITY_KEY, Limits,
    MAX_HEIGHT_PIXELS, MAX_WIDTH_PIXELS, OutputSize, Plan,
};
pub use sample::{Image, ImageError, ImagesPage, SampleOptions};
pub use stream::{DEFAULT_MAX_HELD_BYTES, FRAME_COST, StreamLimits, StreamingSampler, sample_reader};
pub use timeline::{FragmentClock, Timeline};
