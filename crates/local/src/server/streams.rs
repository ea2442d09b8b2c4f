//! ListStreams: every stream the server has, sorted by name, in pages with sealed tokens
//! (as ListFragments' tokens), optionally only the names that begin with a prefix.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::archive::{open_token, seal_token, token_key};
use super::handlers::{json_ok, parse_body, stream_info};
use super::state::Shared;
use crate::api::ApiError;

/// ListStreams' MaxResults when the request has none, and its largest value (the API model's
/// range is 1 to 10000).
pub(crate) const MAX_STREAMS: usize = 10_000;

/// `POST /listStreams`.
#[derive(Debug, Clone, Default, Deserialize)]
struct ListStreamsRequest {
    #[serde(rename = "MaxResults")]
    max_results: Option<i64>,
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
    #[serde(rename = "StreamNameCondition")]
    stream_name_condition: Option<ConditionJson>,
}

/// The StreamNameCondition as sent.
#[derive(Debug, Clone, Default, Deserialize)]
struct ConditionJson {
    #[serde(rename = "ComparisonOperator")]
    comparison_operator: Option<String>,
    #[serde(rename = "ComparisonValue")]
    comparison_value: Option<String>,
}

/// The prefix a condition selects (`None`: every stream). The operator may be left out (the
/// only one is BEGINS_WITH); a condition without a value selects every stream.
fn prefix_of(condition: Option<&ConditionJson>) -> Result<Option<String>, ApiError> {
    let Some(c) = condition else { return Ok(None) };
    if let Some(op) = c.comparison_operator.as_deref()
        && op != "BEGINS_WITH"
    {
        return Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{op}' at 'streamNameCondition.comparisonOperator' failed to \
             satisfy constraint: Member must satisfy enum value set: [BEGINS_WITH]"
        )));
    }
    let Some(value) = c.comparison_value.as_deref() else { return Ok(None) };
    if !(1..=256).contains(&value.len())
        || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{value}' at 'streamNameCondition.comparisonValue' failed to \
             satisfy constraint: Member must have length between 1 and 256 and satisfy regular expression \
             pattern: [a-zA-Z0-9_.-]+"
        )));
    }
    Ok(Some(value.to_owned()))
}

/// What a ListStreams NextToken carries: the prefix of the request it continues and the index
/// (among the names with that prefix) where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    prefix: Option<String>,
    offset: usize,
}

impl Token {
    fn payload(&self) -> String {
        match &self.prefix {
            Some(p) => format!("ListStreams|{}|P{p}", self.offset),
            None => format!("ListStreams|{}|A", self.offset),
        }
    }

    /// `HEX(payload)` then the seal in 16 hex digits, as ListFragments' tokens.
    fn encode(&self, key: u64) -> String {
        seal_token(key, &self.payload())
    }

    fn decode(token: &str, key: u64) -> Option<Self> {
        let payload = open_token(token, key)?;
        let mut parts = payload.splitn(3, '|');
        if parts.next()? != "ListStreams" {
            return None;
        }
        let offset = parts.next()?.parse().ok()?;
        let rest = parts.next()?;
        let prefix = match rest.strip_prefix('P') {
            Some(p) => Some(p.to_owned()),
            None if rest == "A" => None,
            None => return None,
        };
        Some(Self { prefix, offset })
    }
}

/// `POST /listStreams`.
pub(super) async fn list_streams(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request_id = shared.request_id();
    match list(&shared, &body) {
        Ok(v) => json_ok(&v, &request_id),
        Err(e) => e.into_response(&request_id),
    }
}

fn list(shared: &Shared, body: &Bytes) -> Result<serde_json::Value, ApiError> {
    let req: ListStreamsRequest = parse_body(body)?;
    let max = req.max_results.unwrap_or(10_000);
    if !(1..=10_000).contains(&max) {
        return Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{max}' at 'maxResults' failed to satisfy constraint: Member \
             must have value {} 10000",
            if max < 1 {
                "greater than or equal to 1; less than or equal to"
            } else {
                "less than or equal to"
            }
        )));
    }
    let max = usize::try_from(max).unwrap_or(MAX_STREAMS);
    let prefix = prefix_of(req.stream_name_condition.as_ref())?;
    let key = token_key(shared);
    let (prefix, offset) = match &req.next_token {
        // A token continues the request that produced it: same condition (the AWS CLI and the
        // SDKs' paginators send it again with each page).
        Some(token) => {
            let t = Token::decode(token, key)
                .filter(|t| req.stream_name_condition.is_none() || t.prefix == prefix)
                .ok_or_else(|| {
                    ApiError::invalid(format!("Invalid NextToken {token}: not from this request"))
                })?;
            (t.prefix, t.offset)
        }
        None => (prefix, 0),
    };
    let names = &shared.names;
    // The names are sorted: those with the prefix are one run of them.
    let (start, end) = match prefix.as_deref() {
        Some(p) => {
            let start = names.partition_point(|n| n.as_str() < p);
            let len = names.get(start..).unwrap_or(&[]).partition_point(|n| n.starts_with(p));
            (start, start.saturating_add(len))
        }
        None => (0, names.len()),
    };
    let selected = names.get(start..end).unwrap_or(&[]);
    let page: Vec<serde_json::Value> = selected
        .iter()
        .skip(offset)
        .take(max)
        .filter_map(|name| shared.streams.get(name))
        .map(|s| stream_info(s))
        .collect();
    let next = offset.saturating_add(max);
    let mut answer = serde_json::json!({ "StreamInfoList": page });
    if next < selected.len()
        && let Some(obj) = answer.as_object_mut()
    {
        let token = Token { prefix, offset: next };
        obj.insert("NextToken".to_owned(), serde_json::Value::String(token.encode(key)));
    }
    Ok(answer)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_edits() {
        for t in [Token { prefix: Some("cam-1".into()), offset: 7 }, Token { prefix: None, offset: 0 }] {
            let s = t.encode(9);
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert_eq!(Token::decode(&s, 9), Some(t.clone()));
            assert_eq!(Token::decode(&s, 10), None);
        }
        assert_eq!(Token::decode("nope", 9), None);
    }
}
