//! What a Matroska CodecID names: the one mapping from CodecID strings to codecs that the
//! workspace's tools (inspect, extract, images, the local server) share.

use crate::Track;

/// The codec a Matroska CodecID names, for the CodecIDs the workspace's tools know.
///
/// ```
/// use kvs_chunk::{Codec, PcmKind};
///
/// assert_eq!(Codec::of("V_MPEG4/ISO/AVC"), Some(Codec::H264));
/// assert_eq!(Codec::of("A_PCM/INT/LIT"), Some(Codec::Pcm(PcmKind::IntLittle)));
/// assert_eq!(Codec::of("A_AAC/MPEG4/LC"), Some(Codec::AacLegacy));
/// assert_eq!(Codec::of("S_TEXT/UTF8"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// H.264 / AVC (`V_MPEG4/ISO/AVC`).
    H264,
    /// H.265 / HEVC (`V_MPEGH/ISO/HEVC`).
    H265,
    /// VP8 (`V_VP8`).
    Vp8,
    /// VP9 (`V_VP9`).
    Vp9,
    /// AV1 (`V_AV1`).
    Av1,
    /// Motion JPEG (`V_MJPEG`).
    MotionJpeg,
    /// AAC (`A_AAC`, with an AudioSpecificConfig as CodecPrivate; Amazon Connect also
    /// declares its PCM tracks so).
    Aac,
    /// AAC under another `A_AAC…` id, such as the old Matroska ids that name the profile
    /// (`A_AAC/MPEG2/LC`, `A_AAC/MPEG4/LC/SBR`).
    AacLegacy,
    /// Opus (`A_OPUS`).
    Opus,
    /// Vorbis (`A_VORBIS`).
    Vorbis,
    /// MP3 (`A_MPEG/L3`).
    Mp3,
    /// Audio in a Microsoft ACM structure (`A_MS/ACM`).
    MsAcm,
    /// PCM (`A_PCM…`).
    Pcm(PcmKind),
}

/// The sample coding of a PCM CodecID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PcmKind {
    /// Little-endian integers (`A_PCM/INT/LIT`).
    IntLittle,
    /// Big-endian integers (`A_PCM/INT/BIG`).
    IntBig,
    /// IEEE floating point (`A_PCM/FLOAT/IEEE`).
    Float,
    /// Another `A_PCM…` id.
    Other,
}

impl Codec {
    /// The codec a CodecID names, or `None` for one this mapping does not know.
    #[must_use]
    pub fn of(codec_id: &str) -> Option<Self> {
        Some(match codec_id {
            "V_MPEG4/ISO/AVC" => Self::H264,
            "V_MPEGH/ISO/HEVC" => Self::H265,
            "V_VP8" => Self::Vp8,
            "V_VP9" => Self::Vp9,
            "V_AV1" => Self::Av1,
            "V_MJPEG" => Self::MotionJpeg,
            "A_AAC" => Self::Aac,
            s if s.starts_with("A_AAC") => Self::AacLegacy,
            "A_OPUS" => Self::Opus,
            "A_VORBIS" => Self::Vorbis,
            "A_MPEG/L3" => Self::Mp3,
            "A_MS/ACM" => Self::MsAcm,
            "A_PCM/INT/LIT" => Self::Pcm(PcmKind::IntLittle),
            "A_PCM/INT/BIG" => Self::Pcm(PcmKind::IntBig),
            "A_PCM/FLOAT/IEEE" => Self::Pcm(PcmKind::Float),
            s if s.starts_with("A_PCM") => Self::Pcm(PcmKind::Other),
            _ => return None,
        })
    }
}

impl Track {
    /// The codec of the track's CodecID, if it has one this crate's [`Codec`] knows.
    #[must_use]
    pub fn codec(&self) -> Option<Codec> {
        self.codec_id.as_deref().and_then(Codec::of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_ids() {
        assert_eq!(Codec::of("V_MPEGH/ISO/HEVC"), Some(Codec::H265));
        assert_eq!(Codec::of("A_AAC"), Some(Codec::Aac));
        assert_eq!(Codec::of("A_PCM/FLOAT/IEEE"), Some(Codec::Pcm(PcmKind::Float)));
        assert_eq!(Codec::of("A_PCM/INT/SOMETHING"), Some(Codec::Pcm(PcmKind::Other)));
        assert_eq!(Codec::of(""), None);
        let t = Track { codec_id: Some("V_VP9".into()), ..Track::default() };
        assert_eq!(t.codec(), Some(Codec::Vp9));
        assert_eq!(Track::default().codec(), None);
    }
}
