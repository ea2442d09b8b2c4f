//! The REST-JSON shapes of `POST /getImages`: the request body a client sends and the
//! response body the service answers with (used by kvs-local and the `kvs-mkv` CLI).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::error::ImagesError;
use crate::request::{ImageFormat, ImageSelector, ImagesRequest, JPEG_QUALITY_KEY};
use crate::sample::ImagesPage;
use crate::timestamp;

/// A parsed GetImages request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRequest {
    /// `StreamName`.
    pub stream_name: Option<String>,
    /// `StreamARN`.
    pub stream_arn: Option<String>,
    /// Everything else.
    pub request: ImagesRequest,
}

fn null(field: &str) -> ImagesError {
    ImagesError::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

fn enum_error(value: &Value, field: &str, allowed: &str) -> ImagesError {
    ImagesError::validation(format!(
        "1 validation error detected: Value '{}' at '{field}' failed to satisfy constraint: \
         Member must satisfy enum value set: [{allowed}]",
        value.as_str().map_or_else(|| value.to_string(), str::to_owned)
    ))
}

/// A JSON timestamp (epoch seconds as a number, or a string of epoch seconds or ISO 8601)
/// in milliseconds, rounded to the nearest one.
fn timestamp_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return i.checked_mul(1000);
            }
            let r = (n.as_f64()? * 1000.0).round();
            // Within the range where f64 holds every millisecond exactly.
            if r.is_finite() && r.abs() < 9.0e15 {
                #[allow(clippy::cast_possible_truncation)] // bounded just above
                Some(r as i64)
            } else {
                None
            }
        }
        Value::String(s) => timestamp::parse_ms(s),
        _ => None,
    }
}

fn integer(body: &Value, key: &str, field: &str) -> Result<Option<i64>, ImagesError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            ImagesError::validation(format!(
                "1 validation error detected: Value '{v}' at '{field}' is not an integer"
            ))
        }),
    }
}

fn string(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Parses a GetImages request body, as the AWS SDKs and CLI send it.
///
/// # Errors
///
/// `ValidationException` for a missing required field, an unknown `ImageSelectorType` or
/// `Format`, a field of the wrong type; `InvalidArgumentException` for a timestamp that
/// does not parse.
pub fn parse_request(body: &Value) -> Result<WireRequest, ImagesError> {
    if !body.is_object() {
        return Err(ImagesError::validation("The request body must be a JSON object"));
    }
    let selector_value =
        body.get("ImageSelectorType").filter(|v| !v.is_null()).ok_or_else(|| null("imageSelectorType"))?;
    let image_selector = selector_value.as_str().and_then(ImageSelector::parse).ok_or_else(|| {
        enum_error(selector_value, "imageSelectorType", "PRODUCER_TIMESTAMP, SERVER_TIMESTAMP")
    })?;
    let format_value = body.get("Format").filter(|v| !v.is_null()).ok_or_else(|| null("format"))?;
    let format = format_value
        .as_str()
        .and_then(ImageFormat::parse)
        .ok_or_else(|| enum_error(format_value, "format", "JPEG, PNG"))?;
    let time = |key: &str, field: &str| -> Result<i64, ImagesError> {
        let v = body.get(key).filter(|v| !v.is_null()).ok_or_else(|| null(field))?;
        timestamp_ms(v).ok_or_else(|| ImagesError::invalid_argument(format!("{key} {v} is not a timestamp")))
    };
    let start_ms = time("StartTimestamp", "startTimestamp")?;
    let end_ms = time("EndTimestamp", "endTimestamp")?;
    let sampling_interval_ms =
        integer(body, "SamplingInterval", "samplingInterval")?.ok_or_else(|| null("samplingInterval"))?;
    let mut format_config = BTreeMap::new();
    match body.get("FormatConfig") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                format_config.insert(k.clone(), text);
            }
        }
        Some(other) => {
            return Err(ImagesError::validation(format!("FormatConfig must be a map, not {other}")));
        }
    }
    Ok(WireRequest {
        stream_name: string(body, "StreamName"),
        stream_arn: string(body, "StreamARN"),
        request: ImagesRequest {
            image_selector,
            start_ms,
            end_ms,
            sampling_interval_ms,
            format,
            format_config,
            width_pixels: integer(body, "WidthPixels", "widthPixels")?,
            height_pixels: integer(body, "HeightPixels", "heightPixels")?,
            max_results: integer(body, "MaxResults", "maxResults")?,
            next_token: string(body, "NextToken"),
        },
    })
}

/// The request body a client sends for `request` (the inverse of [`parse_request`]).
#[must_use]
pub fn request_body(stream_name: Option<&str>, stream_arn: Option<&str>, request: &ImagesRequest) -> Value {
    let mut body = serde_json::Map::new();
    if let Some(n) = stream_name {
        body.insert("StreamName".into(), n.into());
    }
    if let Some(a) = stream_arn {
        body.insert("StreamARN".into(), a.into());
    }
    body.insert("ImageSelectorType".into(), request.image_selector.as_str().into());
    #[allow(clippy::cast_precision_loss)] // epoch milliseconds fit f64 exactly
    let seconds = |ms: i64| ms as f64 / 1000.0;
    body.insert("StartTimestamp".into(), seconds(request.start_ms).into());
    body.insert("EndTimestamp".into(), seconds(request.end_ms).into());
    body.insert("SamplingInterval".into(), request.sampling_interval_ms.into());
    body.insert("Format".into(), request.format.as_str().into());
    if !request.format_config.is_empty() {
        let map: serde_json::Map<String, Value> =
            request.format_config.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        body.insert("FormatConfig".into(), Value::Object(map));
    }
    for (key, v) in [
        ("WidthPixels", request.width_pixels),
        ("HeightPixels", request.height_pixels),
        ("MaxResults", request.max_results),
    ] {
        if let Some(v) = v {
            body.insert(key.into(), v.into());
        }
    }
    if let Some(t) = &request.next_token {
        body.insert("NextToken".into(), t.clone().into());
    }
    Value::Object(body)
}

/// The response body: `{"Images":[{"TimeStamp":1700000000.100,"Error":...,"ImageContent":"<base64>"}],"NextToken":...}`
/// with `TimeStamp` as epoch seconds with exactly three decimals (so no millisecond is lost
/// to floating point) and no `Error`/`ImageContent` member when there is none.
#[must_use]
pub fn response_body(page: &ImagesPage) -> String {
    let mut out = String::from("{\"Images\":[");
    for (i, image) in page.images.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"TimeStamp\":{}", timestamp::format_seconds(image.timestamp_ms));
        if let Some(e) = image.error {
            let _ = write!(out, ",\"Error\":\"{}\"", e.as_str());
        }
        if let Some(content) = &image.content {
            let _ = write!(out, ",\"ImageContent\":\"{}\"", STANDARD.encode(content));
        }
        out.push('}');
    }
    out.push(']');
    if let Some(t) = &page.next_token {
        let _ = write!(out, ",\"NextToken\":{}", Value::String(t.clone()));
    }
    out.push('}');
    out
}

/// Why [`parse_format_config`] refused a `FormatConfig` text (the text quoted first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatConfigError {
    /// It starts with `{` but is not a JSON object.
    #[error("{text:?} is not a JSON object: {message}")]
    NotJson {
        /// The text (trimmed).
        text: String,
        /// What the JSON parser said.
        message: String,
    },
    /// A shorthand pair without `=`.
    #[error("{text:?}: expected {key}=N (KEY=VALUE,...)", key = JPEG_QUALITY_KEY)]
    Shorthand {
        /// The text (trimmed).
        text: String,
    },
}

/// The `FormatConfig` map as the AWS CLI takes it: its shorthand `JPEGQuality=80[,K=V...]`
/// (keys and values trimmed, empty pairs skipped) or a JSON object (`{"JPEGQuality":"80"}`;
/// a value that is not a string is kept as its JSON text). The keys and values are not
/// checked here: [`ImagesRequest::plan`] does.
///
/// ```
/// let map = kvs_images::wire::parse_format_config(" JPEGQuality = 60 ,").unwrap();
/// assert_eq!(map.get("JPEGQuality").map(String::as_str), Some("60"));
/// let map = kvs_images::wire::parse_format_config(r#"{"JPEGQuality": 70}"#).unwrap();
/// assert_eq!(map.get("JPEGQuality").map(String::as_str), Some("70"));
/// ```
///
/// # Errors
///
/// [`FormatConfigError`] for a text that is neither.
pub fn parse_format_config(text: &str) -> Result<BTreeMap<String, String>, FormatConfigError> {
    let text = text.trim();
    if text.starts_with('{') {
        let map: serde_json::Map<String, Value> = serde_json::from_str(text)
            .map_err(|e| FormatConfigError::NotJson { text: text.to_owned(), message: e.to_string() })?;
        return Ok(map
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect());
    }
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) =
                pair.split_once('=').ok_or_else(|| FormatConfigError::Shorthand { text: text.to_owned() })?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::sample::{Image, ImageError};

    #[test]
    fn request_round_trip() {
        let r = ImagesRequest::new(
            ImageSelector::ServerTimestamp,
            1_700_000_000_100,
            1_700_000_001_000,
            250,
            ImageFormat::Png,
        )
        .jpeg_quality(9)
        .height_pixels(10)
        .max_results(3)
        .next_token(Some("abc".into()));
        let body = request_body(Some("cam"), None, &r);
        let parsed = parse_request(&body).unwrap();
        assert_eq!(parsed.request, r);
        assert_eq!(parsed.stream_name.as_deref(), Some("cam"));
    }

    #[test]
    fn missing_and_bad_fields() {
        let kind = |v: Value| parse_request(&v).unwrap_err().kind();
        use crate::ImagesErrorKind::*;
        let ok = serde_json::json!({"ImageSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":1,"EndTimestamp":2,"SamplingInterval":200,"Format":"JPEG"});
        assert!(parse_request(&ok).is_ok());
        let mut v = ok.clone();
        v.as_object_mut().unwrap().remove("Format");
        assert_eq!(kind(v), Some(Validation));
        let mut v = ok.clone();
        v["ImageSelectorType"] = "NOW".into();
        assert_eq!(kind(v), Some(Validation));
        let mut v = ok.clone();
        v["StartTimestamp"] = "soon".into();
        assert_eq!(kind(v), Some(InvalidArgument));
        let mut v = ok;
        v["WidthPixels"] = 1.5.into();
        assert_eq!(kind(v), Some(Validation));
    }

    #[test]
    fn response_shape() {
        let page = ImagesPage {
            images: vec![
                Image {
                    timestamp_ms: 1_700_000_000_100,
                    error: Some(ImageError::NoMedia),
                    content: None,
                    frame_timestamp_ms: None,
                    detail: None,
                },
                Image {
                    timestamp_ms: 1_700_000_000_300,
                    error: None,
                    content: Some(bytes::Bytes::from_static(b"hi")),
                    frame_timestamp_ms: None,
                    detail: None,
                },
            ],
            next_token: Some("t".into()),
        };
        assert_eq!(
            response_body(&page),
            r#"{"Images":[{"TimeStamp":1700000000.100,"Error":"NO_MEDIA"},{"TimeStamp":1700000000.300,"ImageContent":"aGk="}],"NextToken":"t"}"#
        );
        let v: Value = serde_json::from_str(&response_body(&ImagesPage::default())).unwrap();
        assert_eq!(v, serde_json::json!({"Images": []}));
    }

    #[test]
    fn format_config_shorthand_and_json() {
        let m = parse_format_config("JPEGQuality=60,Other = x").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["JPEGQuality"], "60");
        assert_eq!(m["Other"], "x");
        assert!(parse_format_config("  ").unwrap().is_empty());
        let m = parse_format_config(r#" {"JPEGQuality":"55","N":7,"B":true} "#).unwrap();
        assert_eq!((m["JPEGQuality"].as_str(), m["N"].as_str(), m["B"].as_str()), ("55", "7", "true"));
        assert_eq!(
            parse_format_config(" JPEGQuality ").unwrap_err().to_string(),
            r#""JPEGQuality": expected JPEGQuality=N (KEY=VALUE,...)"#
        );
        let e = parse_format_config("{nope").unwrap_err();
        assert!(matches!(&e, FormatConfigError::NotJson { text, .. } if text == "{nope"), "{e:?}");
        assert!(e.to_string().starts_with(r#""{nope" is not a JSON object: "#), "{e}");
        assert!(parse_format_config("[1]").is_err());
    }
}
