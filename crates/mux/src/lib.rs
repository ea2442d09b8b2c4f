#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod adts;
pub mod annexb;
pub mod connect;
pub mod elements;
pub mod extract;
pub mod getmedia;
pub mod merge;
pub mod mkv;
pub mod split;
pub mod text;
pub mod wav;

pub use adts::Adts;
pub use annexb::AnnexB;
pub use connect::ConnectWriter;
pub use merge::Merger;
pub use mkv::{Dropped, FileStats, MkvFile, OutError};
pub use split::{Outcome, Splitter};
pub use wav::{Pcm, WavError, WavFile};
