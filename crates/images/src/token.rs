//! `NextToken`: opaque to callers; inside, the index of the next sample and a fingerprint
//! of the request it belongs to, base64 (URL-safe, unpadded).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const PREFIX: &str = "kvs-images/1";

/// The token that resumes at sample `index` of the request with `fingerprint`.
pub(crate) fn encode(index: usize, fingerprint: u32) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PREFIX}:{index}:{fingerprint:08x}"))
}

/// The sample index of a token made for the request with `fingerprint`; `None` for a token
/// that does not parse or was made for another request.
pub(crate) fn decode(token: &str, fingerprint: u32) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(token.trim().as_bytes()).ok()?;
    let text = std::str::from_utf8(&raw).ok()?;
    let mut parts = text.split(':');
    if parts.next()? != PREFIX {
        return None;
    }
    let index: usize = parts.next()?.parse().ok()?;
    let print = u32::from_str_radix(parts.next()?, 16).ok()?;
    (parts.next().is_none() && print == fingerprint).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejection() {
        let t = encode(100, 0xdead_beef);
        assert_eq!(decode(&t, 0xdead_beef), Some(100));
        assert_eq!(decode(&t, 0xdead_beee), None);
        assert_eq!(decode("garbage!", 0xdead_beef), None);
        assert_eq!(decode("", 0), None);
        assert!(!t.contains('='));
    }
}
