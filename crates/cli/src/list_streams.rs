//! `kvs-mkv list-streams`: ListStreams in the AWS CLI's shape (its flags, its pagination, its
//! JSON output).

use std::process::ExitCode;

use clap::Args;
use kvs_sdk::sdk::kinesisvideo::types::{ComparisonOperator, StreamInfo, StreamNameCondition};
use kvs_sdk::{ConsumerError, KvsClient};
use serde_json::{Map, Value, json};

use crate::list_fragments::{decode_token, encode_token, print_page};
use crate::stream_args::AwsArgs;

pub const AFTER_HELP: &str = "\
Output: the AWS CLI's JSON, {\"StreamInfoList\": [...]} with DeviceName, StreamName, StreamARN,
MediaType, KmsKeyId, Version, Status, CreationTime (epoch seconds) and DataRetentionInHours.

Pagination, as the AWS CLI does it: every page is fetched (--page-size N streams per call)
and one merged list printed; --max-items N prints at most N streams and, when more remain, a
NextToken to pass to --starting-token.

Examples:
  kvs-mkv serve --stream 'cam-{1..1000}=testdata/getmedia_basic.mkv' &
  kvs-mkv list-streams --endpoint-url http://127.0.0.1:4567
  kvs-mkv list-streams --stream-name-condition ComparisonOperator=BEGINS_WITH,ComparisonValue=cam-1
  kvs-mkv list-streams --max-items 100 --starting-token TOKEN

AWS access as in `get-media --help` (--endpoint-url, --region, --profile, --ca-bundle,
--no-verify-ssl). A service error is one line on stderr and status 1; bad arguments give
status 2.";

#[derive(Args)]
pub struct ListStreamsArgs {
    /// Only the streams whose name begins with a value: the AWS CLI's shorthand
    /// `ComparisonOperator=BEGINS_WITH,ComparisonValue=PREFIX` or its JSON form.
    #[arg(long, value_name = "CONDITION")]
    stream_name_condition: Option<String>,
    /// Streams per ListStreams call (the API's MaxResults, 1 to 10000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    page_size: Option<u32>,
    /// Print at most N streams, and a NextToken for --starting-token when more remain.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_items: Option<u64>,
    /// Continue from the NextToken a --max-items listing printed.
    #[arg(long, value_name = "TOKEN")]
    starting_token: Option<String>,
    /// Where the service is and which credentials, region and certificates to use.
    #[command(flatten)]
    aws: AwsArgs,
}

/// The (operator, value) of a `--stream-name-condition`.
fn parse_condition(text: &str) -> Result<(String, String), String> {
    let text = text.trim();
    let bad = || {
        format!(
            "--stream-name-condition {text:?}: expected ComparisonOperator=BEGINS_WITH,ComparisonValue=PREFIX \
             or its JSON form"
        )
    };
    let (mut op, mut value) = (None, None);
    if text.starts_with('{') {
        let v: Value = serde_json::from_str(text).map_err(|_| bad())?;
        for (k, v) in v.as_object().ok_or_else(bad)? {
            let s = v.as_str().ok_or_else(bad)?.to_owned();
            match k.to_ascii_lowercase().as_str() {
                "comparisonoperator" => op = Some(s),
                "comparisonvalue" => value = Some(s),
                _ => return Err(bad()),
            }
        }
    } else {
        for part in text.split(',') {
            let (k, v) = part.split_once('=').ok_or_else(bad)?;
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
            match k.trim().to_ascii_lowercase().as_str() {
                "comparisonoperator" => op = Some(v),
                "comparisonvalue" => value = Some(v),
                _ => return Err(bad()),
            }
        }
    }
    Ok((op.unwrap_or_else(|| "BEGINS_WITH".to_owned()), value.ok_or_else(bad)?))
}

/// A StreamInfo as the AWS CLI (v1) prints it.
fn info_json(s: &StreamInfo) -> Value {
    let creation = s.creation_time().map_or(Value::Null, |t| {
        // The SDK parses 1699999940.126 as ...940.125999...: round to the nearest millisecond.
        let ms = t
            .secs()
            .saturating_mul(1000)
            .saturating_add(i64::from(t.subsec_nanos().saturating_add(500_000) / 1_000_000));
        #[allow(clippy::cast_precision_loss)] // exact below 2^53 ms
        let seconds = ms as f64 / 1000.0;
        serde_json::Number::from_f64(seconds).map_or(Value::Null, Value::Number)
    });
    let mut v = Map::new();
    let mut text = |k: &str, x: Option<&str>| {
        if let Some(x) = x {
            v.insert(k.to_owned(), json!(x));
        }
    };
    text("DeviceName", s.device_name());
    text("StreamName", s.stream_name());
    text("StreamARN", s.stream_arn());
    text("MediaType", s.media_type());
    text("KmsKeyId", s.kms_key_id());
    text("Version", s.version());
    text("Status", s.status().map(|x| x.as_str()));
    v.insert("CreationTime".to_owned(), creation);
    if let Some(h) = s.data_retention_in_hours() {
        v.insert("DataRetentionInHours".to_owned(), json!(h));
    }
    Value::Object(v)
}

pub fn run(args: &ListStreamsArgs) -> ExitCode {
    let condition = match args.stream_name_condition.as_deref().map(parse_condition).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kvs-mkv list-streams: {e}");
            return ExitCode::from(2);
        }
    };
    let (token, skip) = match args.starting_token.as_deref().map(decode_token).transpose() {
        Ok(t) => t.unwrap_or((None, 0)),
        Err(e) => {
            eprintln!("kvs-mkv list-streams: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = crate::progress::runtime("list-streams") else { return ExitCode::FAILURE };
    runtime.block_on(async move {
        let client = match args.aws.client().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kvs-mkv list-streams: {e}");
                return ExitCode::from(2);
            }
        };
        let (streams, next) =
            match all_pages(&client, condition.as_ref(), args.page_size, token, skip, args.max_items).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("kvs-mkv list-streams: {}", e.to_string().replace(['\n', '\r'], " "));
                    return ExitCode::FAILURE;
                }
            };
        let mut v = Map::new();
        v.insert("StreamInfoList".into(), Value::Array(streams));
        if let Some(t) = next {
            v.insert("NextToken".into(), Value::String(t));
        }
        print_page("list-streams", v)
    })
}

/// Every page from `token`, the first `skip` streams of the first page left out, at most
/// `max_items`; with the AWS CLI's resume token when `max_items` stopped it early.
async fn all_pages(
    client: &KvsClient,
    condition: Option<&(String, String)>,
    page_size: Option<u32>,
    mut token: Option<String>,
    mut skip: u64,
    max_items: Option<u64>,
) -> Result<(Vec<Value>, Option<String>), ConsumerError> {
    let mut all: Vec<Value> = Vec::new();
    loop {
        let mut req = client
            .control_plane()
            .list_streams()
            .set_max_results(page_size.and_then(|n| i32::try_from(n).ok()))
            .set_next_token(token.clone());
        if let Some((op, value)) = condition {
            req = req.stream_name_condition(
                StreamNameCondition::builder()
                    .comparison_operator(ComparisonOperator::from(op.as_str()))
                    .comparison_value(value)
                    .build(),
            );
        }
        let page = req.send().await.map_err(ConsumerError::from_sdk)?;
        let skipped = usize::try_from(skip).unwrap_or(usize::MAX);
        let mut rest: Vec<Value> = page.stream_info_list().iter().skip(skipped).map(info_json).collect();
        let total = u64::try_from(all.len()).unwrap_or(u64::MAX);
        if let Some(max) = max_items {
            let room = usize::try_from(max.saturating_sub(total)).unwrap_or(usize::MAX);
            if rest.len() > room {
                rest.truncate(room);
                all.extend(rest);
                let taken = skip.saturating_add(u64::try_from(room).unwrap_or(u64::MAX));
                return Ok((all, Some(encode_token(token.as_deref(), Some(taken)))));
            }
        }
        all.extend(rest);
        skip = 0;
        let Some(next) = page.next_token().map(str::to_owned) else { return Ok((all, None)) };
        if max_items.is_some_and(|max| u64::try_from(all.len()).unwrap_or(u64::MAX) >= max) {
            return Ok((all, Some(encode_token(Some(&next), None))));
        }
        if token.as_deref() == Some(next.as_str()) {
            return Err(ConsumerError::Service {
                status: 200,
                code: None,
                message: "ListStreams returned the same NextToken twice".into(),
            });
        }
        token = Some(next);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn conditions_parse_as_the_aws_cli_takes_them() {
        let c = |s| parse_condition(s).unwrap();
        assert_eq!(
            c("ComparisonOperator=BEGINS_WITH,ComparisonValue=cam-"),
            ("BEGINS_WITH".into(), "cam-".into())
        );
        assert_eq!(
            c(r#"{"ComparisonOperator":"BEGINS_WITH","ComparisonValue":"x"}"#),
            ("BEGINS_WITH".into(), "x".into())
        );
        assert_eq!(c("ComparisonValue=y"), ("BEGINS_WITH".into(), "y".into()));
        assert!(parse_condition("cam-").is_err());
        assert!(parse_condition("ComparisonOperator=BEGINS_WITH").is_err());
    }
}
