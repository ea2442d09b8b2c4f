//! `--require-sigv4`: verifying AWS Signature Version 4 on every request.
//!
//! The server recomputes the signature of each request as the AWS SDKs and the AWS CLI compute
//! it, following the SigV4 specification
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>):
//!
//! 1. the canonical request: the method, the canonical URI (the path as sent, dot segments
//!    removed, percent-encoded once more, as every service but S3 does), the canonical query
//!    string (parameters decoded, re-encoded, sorted), the headers the client lists in
//!    `SignedHeaders` (lower-case name, trimmed values with runs of spaces collapsed, repeated
//!    values joined by `,`), the `SignedHeaders` list, and the payload hash: the
//!    `x-amz-content-sha256` header if the request has one (then checked against the body
//!    unless it is `UNSIGNED-PAYLOAD`), else the SHA-256 of the body;
//! 2. the string to sign: `AWS4-HMAC-SHA256`, the `X-Amz-Date`, the credential scope and the
//!    SHA-256 of the canonical request;
//! 3. the signing key and the signature, by the AWS SDK's own `aws-sigv4` crate
//!    ([`aws_sigv4::sign::v4::generate_signing_key`], [`aws_sigv4::sign::v4::calculate_signature`]).
//!
//! A request is refused with the service's error shape (status, `x-amzn-ErrorType`,
//! `x-amz-ErrorType`, request ids, `{"message": ...}`):
//!
//! | case | status | `x-amzn-ErrorType` |
//! |---|---|---|
//! | no `Authorization` header | 403 | `MissingAuthenticationTokenException` |
//! | a malformed `Authorization` header, no `X-Amz-Date`, `host` not signed | 400 | `IncompleteSignatureException` |
//! | an access key other than the server's | 403 | `UnrecognizedClientException` |
//! | a wrong signature (wrong secret, altered request), a payload hash that does not match the body | 403 | `InvalidSignatureException` |
//! | an `X-Amz-Date` more than [`MAX_CLOCK_SKEW`] (5 minutes) away from the server's clock | 403 | `InvalidSignatureException` ("Signature expired") |
//!
//! Session tokens (`x-amz-security-token`) are not checked: any token is accepted with the
//! right key and secret, as long as the signature covers it.

use kvs_ebml::date::{civil_from_days, days_from_civil};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::request::Parts;
use sha2::{Digest, Sha256};

/// How far a request's `X-Amz-Date` may be from the server's clock: 5 minutes, as AWS allows.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// The only algorithm accepted.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The access key and secret a server requires every request to be signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct SigV4Credentials {
    access_key_id: String,
    secret_access_key: String,
}

impl fmt::Debug for SigV4Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .finish()
    }
}

/// Why `KEY:SECRET` is not a pair of credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// There is no `:`.
    #[error("expected KEY:SECRET (an access key id, a colon, a secret access key)")]
    NoColon,
    /// The key is empty or not 1 to 128 of `[A-Za-z0-9]`.
    #[error("the access key id must be 1 to 128 letters and digits")]
    BadKey,
    /// The secret is empty or has characters outside printable ASCII.
    #[error("the secret access key must be 1 to 128 printable ASCII characters")]
    BadSecret,
}

impl SigV4Credentials {
    /// An access key id (1 to 128 ASCII letters and digits, as IAM access keys are) and a
    /// secret (1 to 128 printable ASCII characters).
    ///
    /// # Errors
    ///
    /// [`CredentialsError`] for a key or secret outside those sets.
    pub fn new(access_key_id: &str, secret_access_key: &str) -> Result<Self, CredentialsError> {
        if access_key_id.is_empty()
            || access_key_id.len() > 128
            || !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(CredentialsError::BadKey);
        }
        if secret_access_key.is_empty()
            || secret_access_key.len() > 128
            || !secret_access_key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(CredentialsError::BadSecret);
        }
        Ok(Self { access_key_id: access_key_id.to_owned(), secret_access_key: secret_access_key.to_owned() })
    }

    /// The access key id.
    #[must_use]
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }
}

impl FromStr for SigV4Credentials {
    type Err = CredentialsError;

    /// `KEY:SECRET`, split at the first colon (a secret may hold colons).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, secret) = s.split_once(':').ok_or(CredentialsError::NoColon)?;
        Self::new(key, secret)
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// No `Authorization` header.
    Missing,
    /// The header or the date is malformed.
    Incomplete(String),
    /// Another access key.
    UnknownKey,
    /// The signature (or the payload hash) does not match, or the date is out of range.
    Invalid(String),
}

impl AuthError {
    /// The error type, as in `x-amzn-ErrorType`.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::Missing => "MissingAuthenticationTokenException",
            Self::Incomplete(_) => "IncompleteSignatureException",
            Self::UnknownKey => "UnrecognizedClientException",
            Self::Invalid(_) => "InvalidSignatureException",
        }
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::Incomplete(_) => 400,
            Self::Missing | Self::UnknownKey | Self::Invalid(_) => 403,
        }
    }

    /// The message, worded as AWS words it.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::Missing => "Missing Authentication Token".to_owned(),
            Self::UnknownKey => "The security token included in the request is invalid.".to_owned(),
            Self::Incomplete(m) | Self::Invalid(m) => m.clone(),
        }
    }
}

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct Authorization<'a> {
    key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let incomplete = |what: &str| AuthError::Incomplete(format!("{what} Authorization={value}"));
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| incomplete("Unsupported Authorization Type (only AWS4-HMAC-SHA256 is accepted)."))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let Some((name, v)) = part.trim().split_once('=') else {
            return Err(incomplete("Authorization header requires each component to be NAME=VALUE."));
        };
        match name {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let credential =
        credential.ok_or_else(|| incomplete("Authorization header requires 'Credential' parameter."))?;
    let signed_headers = signed_headers
        .ok_or_else(|| incomplete("Authorization header requires 'SignedHeaders' parameter."))?;
    let signature =
        signature.ok_or_else(|| incomplete("Authorization header requires 'Signature' parameter."))?;
    let mut scope = credential.rsplitn(5, '/');
    let (terminator, service, region, date, key) =
        (scope.next(), scope.next(), scope.next(), scope.next(), scope.next());
    match (key, date, region, service, terminator) {
        (Some(key), Some(date), Some(region), Some(service), Some("aws4_request"))
            if !key.is_empty() && !region.is_empty() && !service.is_empty() =>
        {
            Ok(Authorization { key, date, region, service, signed_headers, signature })
        }
        _ => Err(incomplete(
            "Credential should be scoped to a valid region, service and terminated by 'aws4_request'.",
        )),
    }
}

/// Checks a request's signature against `credentials` at the time `now`.
pub(crate) fn verify(
    credentials: &SigV4Credentials,
    parts: &Parts,
    body: &[u8],
    now: SystemTime,
) -> Result<(), AuthError> {
    let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(AuthError::Missing);
    };
    let header = header
        .to_str()
        .map_err(|_| AuthError::Incomplete("The Authorization header is not ASCII.".to_owned()))?;
    let auth = parse_authorization(header)?;
    if auth.key != credentials.access_key_id {
        return Err(AuthError::UnknownKey);
    }
    let amz_date = parts.headers.get("x-amz-date").and_then(|v| v.to_str().ok()).ok_or_else(|| {
        AuthError::Incomplete("Authorization header requires existence of a 'X-Amz-Date' header.".to_owned())
    })?;
    let time = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::Incomplete(format!("Invalid X-Amz-Date {amz_date:?}: expected YYYYMMDDTHHMMSSZ"))
    })?;
    if amz_date.get(..8) != Some(auth.date) {
        return Err(AuthError::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', \
             from '{amz_date}'.",
            auth.date,
            amz_date.get(..8).unwrap_or_default()
        )));
    }
    check_skew(time, amz_date, now)?;
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    if !signed.contains(&"host") {
        return Err(AuthError::Incomplete(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    let payload_hash = match parts.headers.get("x-amz-content-sha256") {
        Some(v) => {
            let given = String::from_utf8_lossy(v.as_bytes()).into_owned();
            if given != "UNSIGNED-PAYLOAD" && !given.eq_ignore_ascii_case(&sha256_hex(body)) {
                return Err(AuthError::Invalid(
                    "The provided 'x-amz-content-sha256' header does not match what was computed.".to_owned(),
                ));
            }
            given
        }
        None => sha256_hex(body),
    };
    let canonical = canonical_request(parts, auth.signed_headers, &signed, &payload_hash);
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let string_to_sign = format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
    let key = aws_sigv4::sign::v4::generate_signing_key(
        &credentials.secret_access_key,
        time,
        auth.region,
        auth.service,
    );
    let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::Invalid(SIGNATURE_MISMATCH.to_owned()))
    }
}

/// The request's time against the server's, [`MAX_CLOCK_SKEW`] either way.
fn check_skew(time: SystemTime, amz_date: &str, now: SystemTime) -> Result<(), AuthError> {
    let now_text = format_amz_date(now);
    if let Ok(behind) = now.duration_since(time)
        && behind > MAX_CLOCK_SKEW
    {
        let limit = now.checked_sub(MAX_CLOCK_SKEW).map(format_amz_date).unwrap_or_default();
        return Err(AuthError::Invalid(format!(
            "Signature expired: {amz_date} is now earlier than {limit} ({now_text} - 5 min.)"
        )));
    }
    if let Ok(ahead) = time.duration_since(now)
        && ahead > MAX_CLOCK_SKEW
    {
        let limit = now.checked_add(MAX_CLOCK_SKEW).map(format_amz_date).unwrap_or_default();
        return Err(AuthError::Invalid(format!(
            "Signature not yet current: {amz_date} is still later than {limit} ({now_text} + 5 min.)"
        )));
    }
    Ok(())
}

/// The canonical request of the SigV4 specification.
fn canonical_request(parts: &Parts, signed_headers: &str, signed: &[&str], payload_hash: &str) -> String {
    let mut out = String::new();
    out.push_str(parts.method.as_str());
    out.push('\n');
    out.push_str(&canonical_uri(parts.uri.path()));
    out.push('\n');
    out.push_str(&canonical_query(parts.uri.query().unwrap_or("")));
    out.push('\n');
    for name in signed {
        out.push_str(name);
        out.push(':');
        let values: Vec<String> = parts
            .headers
            .get_all(*name)
            .iter()
            .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// Trimmed, with each run of spaces as one.
fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The path with `.` and `..` segments removed, encoded once more (every service but S3).
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalized = String::from("/");
    normalized.push_str(&segments.join("/"));
    percent_encode(normalized.as_bytes(), true)
}

/// The query parameters decoded, encoded again, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (percent_encode(&percent_decode(name), false), percent_encode(&percent_decode(value), false))
        })
        .collect();
    params.sort();
    params.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&")
}

/// `%XX` for every byte but the unreserved ones (and `/` when `keep_slash`).
fn percent_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%XX` decoded, `+` as a space (as form decoding does), anything malformed kept as is.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match b {
            b'%' => {
                if let (Some(hi), Some(lo)) = (hex(i.saturating_add(1)), hex(i.saturating_add(2))) {
                    out.push(u8::try_from(hi.saturating_mul(16).saturating_add(lo)).unwrap_or(b'%'));
                    i = i.saturating_add(3);
                    continue;
                }
                out.push(b);
            }
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
        i = i.saturating_add(1);
    }
    out
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0F] {
            out.push(DIGITS.get(usize::from(nibble)).map_or('0', |&d| char::from(d)));
        }
    }
    out
}

/// Equal, in a time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `YYYYMMDDTHHMMSSZ` as a time.
#[allow(clippy::arithmetic_side_effects)] // two-digit hours, minutes and seconds
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = s.get(from..to)?;
        if digits.bytes().all(|c| c.is_ascii_digit()) { digits.parse().ok() } else { None }
    };
    let (year, month, day) = (num(0, 4)?, num(4, 6)?, num(6, 8)?);
    let (hour, minute, second) = (num(9, 11)?, num(11, 13)?, num(13, 15)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    let secs = days.checked_mul(86_400)?.checked_add(hour * 3600 + minute * 60 + second)?;
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(secs).ok()?))
}

/// A time as `YYYYMMDDTHHMMSSZ`.
#[allow(clippy::arithmetic_side_effects)] // bounded: seconds since 1970 as u64 / 86400
fn format_amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days).unwrap_or((1970, 1, 1));
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dates_round_trip() {
        for s in ["19700101T000000Z", "20150830T123600Z", "20240229T235959Z", "21000301T000000Z"] {
            assert_eq!(format_amz_date(parse_amz_date(s).unwrap()), s);
        }
        assert_eq!(
            parse_amz_date("20150830T123600Z").unwrap().duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_440_938_160
        );
        for bad in ["2015-08-30T12:36:00Z", "20151330T123600Z", "20150830T123600", "2015083OT123600Z", ""] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn credentials_parse() {
        let c: SigV4Credentials = "AKIDEXAMPLE:wJalr/XUtnFEMI:K7MDENG".parse().unwrap();
        assert_eq!(c.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(c.secret_access_key, "wJalr/XUtnFEMI:K7MDENG");
        assert!(!format!("{c:?}").contains("wJalr"));
        assert_eq!("nocolon".parse::<SigV4Credentials>(), Err(CredentialsError::NoColon));
        assert_eq!(":secret".parse::<SigV4Credentials>(), Err(CredentialsError::BadKey));
        assert_eq!("AK ID:secret".parse::<SigV4Credentials>(), Err(CredentialsError::BadKey));
        assert_eq!("AKID:".parse::<SigV4Credentials>(), Err(CredentialsError::BadSecret));
        assert_eq!("AKID:a b".parse::<SigV4Credentials>(), Err(CredentialsError::BadSecret));
    }

    /// The `get-vanilla` case of the AWS SigV4 test suite: its canonical request, string to
    /// sign and signature.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let req = axum::http::Request::builder()
            .method("GET")
            .uri("/")
            .header("host", "example.amazonaws.com")
            .header("x-amz-date", "20150830T123600Z")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            )
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let creds = SigV4Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").unwrap();
        let at = parse_amz_date("20150830T123600Z").unwrap();
        let canonical =
            canonical_request(&parts, "host;x-amz-date", &["host", "x-amz-date"], &sha256_hex(b""));
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(verify(&creds, &parts, b"", at), Ok(()));
        let wrong = SigV4Credentials::new("AKIDEXAMPLE", "not-the-secret").unwrap();
        assert!(matches!(verify(&wrong, &parts, b"", at), Err(AuthError::Invalid(_))));
        let other = SigV4Credentials::new("AKIDOTHER", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").unwrap();
        assert_eq!(verify(&other, &parts, b"", at), Err(AuthError::UnknownKey));
        // Six minutes later: expired.
        let late = at.checked_add(Duration::from_secs(360)).unwrap();
        let Err(AuthError::Invalid(m)) = verify(&creds, &parts, b"", late) else { unreachable!() };
        assert_eq!(
            m,
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T124200Z - 5 min.)"
        );
        // Four minutes off either way: fine.
        assert_eq!(verify(&creds, &parts, b"", at.checked_add(Duration::from_secs(240)).unwrap()), Ok(()));
        assert_eq!(verify(&creds, &parts, b"", at.checked_sub(Duration::from_secs(240)).unwrap()), Ok(()));
        assert!(matches!(
            verify(&creds, &parts, b"", at.checked_sub(Duration::from_secs(360)).unwrap()),
            Err(AuthError::Invalid(m)) if m.starts_with("Signature not yet current")
        ));
    }

    #[test]
    fn canonical_uri_and_query() {
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/getMedia"), "/getMedia");
        assert_eq!(canonical_uri("/a/./b/../c"), "/a/c");
        assert_eq!(canonical_uri("/a%20b"), "/a%2520b");
        assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(canonical_query("x=a%20b&y=c+d"), "x=a%20b&y=c%20d");
    }

    #[test]
    fn missing_and_malformed_headers() {
        let creds = SigV4Credentials::new("AKID", "secret").unwrap();
        let parts = |auth: Option<&str>| {
            let mut b = axum::http::Request::builder().uri("/getMedia").header("host", "h");
            if let Some(a) = auth {
                b = b.header("authorization", a).header("x-amz-date", "20150830T123600Z");
            }
            b.body(()).unwrap().into_parts().0
        };
        let now = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(verify(&creds, &parts(None), b"", now), Err(AuthError::Missing));
        for bad in [
            "Basic abc",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kinesisvideo/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AKID/us-east-1/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 garbage",
        ] {
            assert!(
                matches!(verify(&creds, &parts(Some(bad)), b"", now), Err(AuthError::Incomplete(_))),
                "{bad}"
            );
        }
        let no_host = "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kinesisvideo/aws4_request, \
                       SignedHeaders=x-amz-date, Signature=00";
        assert!(matches!(verify(&creds, &parts(Some(no_host)), b"", now), Err(AuthError::Incomplete(_))));
    }
}
