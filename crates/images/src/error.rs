//! Errors: a request the service would refuse, and media that cannot be read at all.
//!
//! A sample that has no image is not an error of the call: it is an [`Image`](crate::Image)
//! with [`ImageError::NoMedia`](crate::ImageError::NoMedia) or
//! [`ImageError::MediaError`](crate::ImageError::MediaError).

use std::fmt;

/// The service's error types for GetImages (plus `ValidationException`, which the API
/// reference names for a width without a height).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImagesErrorKind {
    /// 400 `InvalidArgumentException`: a parameter is missing, out of range or inconsistent
    /// (the range is longer than 300 s, the sampling interval is below the minimum, the end
    /// is before the start, the next token belongs to another request).
    InvalidArgument,
    /// 400 `ValidationException`: `WidthPixels` without `HeightPixels`, a value outside
    /// its documented range (width 1..3840, height 1..2160, JPEG quality 1..100, max results
    /// 1..100), an unknown format or selector.
    Validation,
    /// 400 `ClientLimitExceededException`: too many calls.
    ClientLimitExceeded,
    /// 400 `NoDataRetentionException`: the stream keeps no media.
    NoDataRetention,
    /// 401 `NotAuthorizedException`.
    NotAuthorized,
    /// 404 `ResourceNotFoundException`: no such stream.
    ResourceNotFound,
}

impl ImagesErrorKind {
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::InvalidArgument,
        Self::Validation,
        Self::ClientLimitExceeded,
        Self::NoDataRetention,
        Self::NotAuthorized,
        Self::ResourceNotFound,
    ];

    /// The error type as the service names it (`InvalidArgumentException`).
    #[must_use]
    pub const fn type_name(self) -> &'static str {
        match self {
            Self::InvalidArgument => "InvalidArgumentException",
            Self::Validation => "ValidationException",
            Self::ClientLimitExceeded => "ClientLimitExceededException",
            Self::NoDataRetention => "NoDataRetentionException",
            Self::NotAuthorized => "NotAuthorizedException",
            Self::ResourceNotFound => "ResourceNotFoundException",
        }
    }

    /// The HTTP status the service answers with.
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            Self::ResourceNotFound => 404,
            Self::NotAuthorized => 401,
            Self::InvalidArgument | Self::Validation | Self::ClientLimitExceeded | Self::NoDataRetention => {
                400
            }
        }
    }

    /// The kind for an error code (`InvalidArgumentException`, with or without a namespace
    /// or the `Exception` suffix, any case).
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        let code = code.split(':').next().unwrap_or(code);
        let code = code.rsplit('#').next().unwrap_or(code).trim().to_ascii_lowercase();
        let bare = code.strip_suffix("exception").unwrap_or(&code);
        Self::ALL.into_iter().find(|k| {
            let t = k.type_name().to_ascii_lowercase();
            t.strip_suffix("exception").unwrap_or(&t) == bare
        })
    }
}

impl fmt::Display for ImagesErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}

/// Why a GetImages call gave no page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImagesError {
    /// The request was refused, by the rules of the API (computed locally) or by the
    /// service.
    #[error("{kind}: {message}")]
    Service {
        /// The error type.
        kind: ImagesErrorKind,
        /// What is wrong, in the service's words where it has them.
        message: String,
    },
    /// The media bytes are malformed beyond recovery (a stream cut at its end is not: its
    /// complete frames are used).
    #[error("malformed media: {0}")]
    Media(#[from] kvs_chunk::Error),
    /// Reading the media failed.
    #[error("cannot read the media: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else on the way to the service (transport, timeouts, an error code this crate
    /// does not know), with the service's code if there was one.
    #[error("{}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Other {
        /// The error code, if any.
        code: Option<String>,
        /// The message.
        message: String,
    },
}

impl ImagesError {
    /// A request error of the given kind.
    pub fn service(kind: ImagesErrorKind, message: impl Into<String>) -> Self {
        Self::Service { kind, message: message.into() }
    }

    /// An `InvalidArgumentException`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::service(ImagesErrorKind::InvalidArgument, message)
    }

    /// A `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::service(ImagesErrorKind::Validation, message)
    }

    /// The service error kind, if this is one.
    #[must_use]
    pub fn kind(&self) -> Option<ImagesErrorKind> {
        match self {
            Self::Service { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for k in ImagesErrorKind::ALL {
            assert_eq!(ImagesErrorKind::from_code(k.type_name()), Some(k));
        }
        assert_eq!(
            ImagesErrorKind::from_code("aws.protocol#NoDataRetentionException:http://x/"),
            Some(ImagesErrorKind::NoDataRetention)
        );
        assert_eq!(ImagesErrorKind::from_code("validation"), Some(ImagesErrorKind::Validation));
        assert_eq!(ImagesErrorKind::from_code("Nope"), None);
    }
}
