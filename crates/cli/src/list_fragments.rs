//! `kvs-mkv list-fragments`: ListFragments in the AWS CLI's shape (its flags, its pagination,
//! its JSON output, byte for byte), and the AWS CLI's `--fragment-selector` syntax, which
//! `archive` shares.

use std::io::{self, Write};
use std::process::ExitCode;

use base64::Engine as _;
use clap::Args;
use kvs_sdk::{
    ConsumerError, FragmentClock, FragmentInfo, FragmentPage, FragmentSelector, KvsClient,
    ListFragmentsRequest, StreamId,
};
use serde_json::{Map, Value, json};

use crate::stream_args::AwsArgs;

pub const AFTER_HELP: &str = "\
The fragment selector, as the AWS CLI takes it: its shorthand
  FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=T1,EndTimestamp=T2}
  (or PRODUCER_TIMESTAMP)
or its JSON form
  '{\"FragmentSelectorType\":\"PRODUCER_TIMESTAMP\",\"TimestampRange\":{\"StartTimestamp\":T1,\"EndTimestamp\":T2}}'
A timestamp T is epoch seconds, with a fraction if wanted (1511852109.126), or ISO 8601
(2017-11-28T06:55:09.126Z; without a zone it is UTC). A fragment is listed when its start on
that clock lies in T1..=T2. kvs-mkv sends T1 and T2 with their milliseconds; the AWS CLI
(v1) sends whole seconds only (botocore drops the fraction), so give whole seconds to
compare the two.

Output: the AWS CLI's JSON, byte for byte as the AWS CLI (v1) prints it: {\"Fragments\": [...]}
with FragmentNumber, FragmentSizeInBytes, ProducerTimestamp and ServerTimestamp (epoch
seconds), FragmentLengthInMilliseconds, in the order the service listed them (which the
service does not guarantee: --sorted sorts them by the selector's clock, then by fragment
number, as kvs-sdk's archive reader delivers them).

Pagination, as the AWS CLI does it: by default every page is fetched (following NextToken;
--page-size N fragments per call) and one merged list printed. --max-items N prints at most
N fragments and, when more remain, a NextToken to pass to --starting-token (the AWS CLI's
own encoding: either CLI's token works with the other). --no-paginate makes one call and
prints that page with the service's NextToken; so does giving the API's own --max-results
or --next-token.

Examples:
  kvs-mkv serve --stream demo=testdata/getmedia_basic.mkv &
  kvs-mkv list-fragments --endpoint-url http://127.0.0.1:4567 --stream-name demo \\
      --fragment-selector 'FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=0,EndTimestamp=4000000000}'
  kvs-mkv list-fragments --stream-name cam --sorted --fragment-selector \\
      'FragmentSelectorType=PRODUCER_TIMESTAMP,TimestampRange={StartTimestamp=2024-05-01T12:00:00Z,EndTimestamp=2024-05-01T12:20:00Z}'
  kvs-mkv list-fragments --stream-name cam --fragment-selector SELECTOR --max-results 100 --no-paginate
  kvs-mkv list-fragments --stream-name cam --fragment-selector SELECTOR --max-items 50 --starting-token TOKEN

AWS access as in `get-media --help` (--endpoint-url, --region, --profile, --ca-bundle,
--no-verify-ssl). A service error is one line on stderr and status 1; bad arguments give
status 2.";

#[derive(Args)]
pub struct ListFragmentsArgs {
    /// The stream's name.
    #[arg(long, conflicts_with = "stream_arn")]
    stream_name: Option<String>,
    /// The stream's ARN.
    #[arg(long)]
    stream_arn: Option<String>,
    /// The range to list: the AWS CLI's shorthand or JSON (see below); required unless a
    /// token is given.
    #[arg(long, value_name = "SELECTOR")]
    fragment_selector: Option<String>,
    /// Fragments per ListFragments call (the API's MaxResults, 1 to 1000), every page still
    /// being fetched.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_size: Option<u32>,
    /// Print at most N fragments, and a NextToken for --starting-token when more remain.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_items: Option<u64>,
    /// Continue from the NextToken a --max-items listing printed.
    #[arg(long, value_name = "TOKEN")]
    starting_token: Option<String>,
    /// One call: the first page (or the page of --next-token) with the service's NextToken.
    #[arg(long)]
    no_paginate: bool,
    /// The API's MaxResults for one call (implies --no-paginate, as in the AWS CLI).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_results: Option<u32>,
    /// The API's NextToken for one call (implies --no-paginate, as in the AWS CLI).
    #[arg(long, value_name = "TOKEN", conflicts_with = "starting_token")]
    next_token: Option<String>,
    /// Sort the fragments by the selector's clock, then by fragment number.
    #[arg(long)]
    sorted: bool,
    /// Where the service is and which credentials, region and certificates to use.
    #[command(flatten)]
    aws: AwsArgs,
}

/// A `--fragment-selector` value: the AWS CLI's shorthand or JSON form.
///
/// # Errors
///
/// A one-line message naming what is wrong.
pub fn parse_fragment_selector(text: &str) -> Result<FragmentSelector, String> {
    let text = text.trim();
    let (kind, start, end) = if text.starts_with('{') {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("--fragment-selector: not valid JSON: {e}"))?;
        let kind = field(&v, "FragmentSelectorType").and_then(|k| k.as_str().map(str::to_owned));
        let range = field(&v, "TimestampRange");
        let time = |name: &str| {
            range.and_then(|r| field(r, name)).and_then(|t| match t {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        (kind, time("StartTimestamp"), time("EndTimestamp"))
    } else {
        let top = shorthand(text)?;
        let kind = lookup(&top, "FragmentSelectorType").and_then(|v| match v {
            Short::Text(s) => Some(s.clone()),
            Short::Map(_) => None,
        });
        let range = match lookup(&top, "TimestampRange") {
            Some(Short::Map(m)) => m.clone(),
            Some(Short::Text(_)) => {
                return Err(
                    "--fragment-selector: TimestampRange must be {StartTimestamp=T1,EndTimestamp=T2}".into(),
                );
            }
            None => Vec::new(),
        };
        let time = |name: &str| match lookup(&range, name) {
            Some(Short::Text(s)) => Some(s.clone()),
            _ => None,
        };
        (kind, time("StartTimestamp"), time("EndTimestamp"))
    };
    let kind = kind.ok_or("--fragment-selector: FragmentSelectorType is missing")?;
    let clock: FragmentClock =
        kind.parse().map_err(|e: ConsumerError| format!("--fragment-selector: {e}"))?;
    let ms = |name: &str, t: Option<String>| -> Result<i64, String> {
        let t = t.ok_or_else(|| format!("--fragment-selector: TimestampRange.{name} is missing"))?;
        parse_time(&t)
            .ok_or_else(|| format!("--fragment-selector: {name} {t:?} is neither epoch seconds nor ISO 8601"))
    };
    let (start, end) = (ms("StartTimestamp", start)?, ms("EndTimestamp", end)?);
    FragmentSelector::new(clock, start, end).map_err(|e| format!("--fragment-selector: {e}"))
}

/// A timestamp as the AWS CLI takes it (epoch seconds or ISO 8601), in epoch milliseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim().trim_matches(|c| c == '"' || c == '\'');
    kvs_sdk::StartSelector::parse_timestamp_ms(t)
}

/// A JSON object's field, its name's case not significant.
fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// A shorthand value: text or a `{...}` structure.
#[derive(Debug, Clone)]
enum Short {
    Text(String),
    Map(Vec<(String, Short)>),
}

fn lookup<'a>(map: &'a [(String, Short)], name: &str) -> Option<&'a Short> {
    map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// The AWS CLI's shorthand: `Key=value,Key={Key=value,...}` (values may be quoted).
fn shorthand(text: &str) -> Result<Vec<(String, Short)>, String> {
    let mut chars = text.chars().peekable();
    let map = shorthand_map(&mut chars, 0)?;
    if chars.next().is_some() {
        return Err("--fragment-selector: unbalanced `}` in the shorthand".into());
    }
    Ok(map)
}

fn shorthand_map(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    depth: usize,
) -> Result<Vec<(String, Short)>, String> {
    let bad = |m: &str| format!("--fragment-selector: {m} (expected Key=value,Key={{Key=value}})");
    let mut map = Vec::new();
    loop {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            if c == ',' || c == '{' || c == '}' {
                return Err(bad(&format!("unexpected `{c}` in a key")));
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(bad(&format!("`{}` has no value", key.trim())));
        }
        let value = if chars.peek() == Some(&'{') {
            chars.next();
            if depth >= 4 {
                return Err(bad("nested too deep"));
            }
            let inner = shorthand_map(chars, depth.saturating_add(1))?;
            if chars.next() != Some('}') {
                return Err(bad("a `{` is not closed"));
            }
            Short::Map(inner)
        } else {
            let mut v = String::new();
            let mut quote: Option<char> = None;
            while let Some(&c) = chars.peek() {
                match quote {
                    Some(q) if c == q => quote = None,
                    Some(_) => v.push(c),
                    None if c == '"' || c == '\'' => quote = Some(c),
                    None if c == ',' || c == '}' => break,
                    None => v.push(c),
                }
                chars.next();
            }
            Short::Text(v.trim().to_owned())
        };
        map.push((key.trim().to_owned(), value));
        match chars.peek() {
            Some(',') => {
                chars.next();
            }
            Some('}') if depth > 0 => return Ok(map),
            Some('}') => return Err(bad("unbalanced `}`")),
            _ => return Ok(map),
        }
    }
}

/// One ListFragments call (kvs-sdk's), the page in the service's order.
async fn list_page(
    client: &KvsClient,
    stream: &StreamId,
    selector: Option<FragmentSelector>,
    max_results: Option<u32>,
    next_token: Option<String>,
) -> Result<FragmentPage, ConsumerError> {
    let mut request = selector.map_or_else(ListFragmentsRequest::default, ListFragmentsRequest::new);
    if let Some(max) = max_results {
        request = request.max_results(max);
    }
    if let Some(token) = next_token {
        request = request.next_token(token);
    }
    client.list_fragments_page(stream, &request).await
}

/// A fragment as the AWS CLI prints it.
fn fragment_json(f: &FragmentInfo) -> Value {
    json!({
        "FragmentNumber": f.fragment_number.as_str(),
        "FragmentSizeInBytes": f.size_bytes,
        "ProducerTimestamp": seconds(f.producer_timestamp_ms),
        "ServerTimestamp": seconds(f.server_timestamp_ms),
        "FragmentLengthInMilliseconds": f.duration_ms,
    })
}

/// Epoch milliseconds as the f64 epoch seconds the AWS CLI parses from the service's JSON
/// and prints (the nearest f64 to the decimal: one correctly rounded division).
#[allow(clippy::cast_precision_loss)] // exact below 2^53 ms (285,000 years)
fn seconds(ms: i64) -> Value {
    serde_json::Number::from_f64(ms as f64 / 1000.0).map_or(Value::Null, Value::Number)
}

/// Prints `v` as the AWS CLI does: `json.dumps(v, indent=4)` and a newline.
pub fn print_aws_json(out: &mut dyn Write, v: &Value) -> io::Result<()> {
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, formatter);
    serde::Serialize::serialize(v, &mut ser).map_err(io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The AWS CLI's pagination token: base64 of `{"NextToken": ..., "boto_truncate_amount": N}`
/// as Python's `json.dumps` writes it.
pub(crate) fn encode_token(next: Option<&str>, truncate: Option<u64>) -> String {
    let next = next.map_or_else(|| "null".to_owned(), |t| Value::String(t.to_owned()).to_string());
    let text = match truncate {
        Some(n) => format!("{{\"NextToken\": {next}, \"boto_truncate_amount\": {n}}}"),
        None => format!("{{\"NextToken\": {next}}}"),
    };
    base64::engine::general_purpose::STANDARD.encode(text)
}

pub(crate) fn decode_token(token: &str) -> Result<(Option<String>, u64), String> {
    let bad = || format!("--starting-token {token:?}: not a token this command or the AWS CLI printed");
    let bytes = base64::engine::general_purpose::STANDARD.decode(token.trim()).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let next = match v.get("NextToken") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(_) => return Err(bad()),
    };
    let skip = match v.get("boto_truncate_amount") {
        None => 0,
        Some(n) => n.as_u64().ok_or_else(bad)?,
    };
    Ok((next, skip))
}

pub fn run(args: &ListFragmentsArgs) -> ExitCode {
    let stream = match (&args.stream_name, &args.stream_arn) {
        (Some(n), _) => StreamId::name(n),
        (None, Some(a)) => StreamId::arn(a),
        (None, None) => {
            eprintln!("kvs-mkv list-fragments: give the stream with --stream-name NAME or --stream-arn ARN");
            return ExitCode::from(2);
        }
    };
    let selector = match args.fragment_selector.as_deref().map(parse_fragment_selector).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kvs-mkv list-fragments: {e}");
            return ExitCode::from(2);
        }
    };
    let paginate = !args.no_paginate && args.max_results.is_none() && args.next_token.is_none();
    let (token, skip) = match (&args.starting_token, paginate) {
        (Some(t), true) => match decode_token(t) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("kvs-mkv list-fragments: {e}");
                return ExitCode::from(2);
            }
        },
        _ => (args.next_token.clone(), 0),
    };
    if selector.is_none() && token.is_none() {
        eprintln!("kvs-mkv list-fragments: give the range with --fragment-selector (or a token to continue)");
        return ExitCode::from(2);
    }
    let Some(runtime) = crate::progress::runtime("list-fragments") else { return ExitCode::FAILURE };
    runtime.block_on(async move {
        let client = match args.aws.client().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kvs-mkv list-fragments: {e}");
                return ExitCode::from(2);
            }
        };
        let listing = if paginate {
            all_pages(&client, &stream, selector, args.page_size, token, skip, args.max_items).await
        } else {
            list_page(&client, &stream, selector, args.max_results.or(args.page_size), token)
                .await
                .map(|p| (p.fragments, p.next_token))
        };
        let (mut fragments, next) = match listing {
            Ok(l) => l,
            Err(e) => {
                eprintln!("kvs-mkv list-fragments: {}", e.to_string().replace(['\n', '\r'], " "));
                return ExitCode::FAILURE;
            }
        };
        if args.sorted {
            kvs_sdk::sort_fragments(&mut fragments, selector.map_or(FragmentClock::Producer, |s| s.clock()));
        }
        let mut v = Map::new();
        v.insert("Fragments".into(), Value::Array(fragments.iter().map(fragment_json).collect()));
        if let Some(t) = next {
            v.insert("NextToken".into(), Value::String(t));
        }
        print_page("list-fragments", v)
    })
}

/// Prints a page of a listing command (`list-fragments`, `list-streams`) as the AWS CLI does;
/// a closed pipe is a success.
pub fn print_page(command: &str, page: Map<String, Value>) -> ExitCode {
    match print_aws_json(&mut io::stdout().lock(), &Value::Object(page)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvs-mkv {command}: cannot write output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Every page from `token` (the first when `None`), the first `skip` fragments of the first
/// page left out, at most `max_items` fragments; with the AWS CLI's resume token when
/// `max_items` stopped it early.
async fn all_pages(
    client: &KvsClient,
    stream: &StreamId,
    selector: Option<FragmentSelector>,
    page_size: Option<u32>,
    mut token: Option<String>,
    mut skip: u64,
    max_items: Option<u64>,
) -> Result<(Vec<FragmentInfo>, Option<String>), ConsumerError> {
    let mut all: Vec<FragmentInfo> = Vec::new();
    let mut pages = 0u64;
    loop {
        let page = list_page(client, stream, selector, page_size, token.clone()).await?;
        pages = pages.saturating_add(1);
        let skipped = usize::try_from(skip).unwrap_or(usize::MAX);
        let mut rest: Vec<FragmentInfo> = page.fragments.into_iter().skip(skipped).collect();
        let total = u64::try_from(all.len()).unwrap_or(u64::MAX);
        if let Some(max) = max_items {
            let room = usize::try_from(max.saturating_sub(total)).unwrap_or(usize::MAX);
            if rest.len() > room {
                // Stopped inside this page: resume at this page's token, this many in.
                rest.truncate(room);
                all.extend(rest);
                let taken = skip.saturating_add(u64::try_from(room).unwrap_or(u64::MAX));
                return Ok((all, Some(encode_token(token.as_deref(), Some(taken)))));
            }
        }
        all.extend(rest);
        skip = 0;
        let Some(next) = page.next_token else { return Ok((all, None)) };
        if max_items.is_some_and(|max| u64::try_from(all.len()).unwrap_or(u64::MAX) >= max) {
            return Ok((all, Some(encode_token(Some(&next), None))));
        }
        if token.as_deref() == Some(next.as_str()) || pages > 1_000_000 {
            return Err(ConsumerError::Service {
                status: 200,
                code: None,
                message: "ListFragments returned the same NextToken twice".into(),
            });
        }
        token = Some(next);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn shorthand_and_json_selectors() {
        let s = parse_fragment_selector(
            "FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=1700000000.5,EndTimestamp=2023-11-14T22:13:21Z}",
        )
        .unwrap();
        assert_eq!(
            (s.clock(), s.start_ms(), s.end_ms()),
            (FragmentClock::Server, 1_700_000_000_500, 1_700_000_001_000)
        );
        let s = parse_fragment_selector(
            r#"{"FragmentSelectorType":"PRODUCER_TIMESTAMP","TimestampRange":{"StartTimestamp":1,"EndTimestamp":"2"}}"#,
        )
        .unwrap();
        assert_eq!((s.clock(), s.start_ms(), s.end_ms()), (FragmentClock::Producer, 1000, 2000));
        for bad in [
            "FragmentSelectorType=SERVER_TIMESTAMP",
            "FragmentSelectorType=NOW,TimestampRange={StartTimestamp=1,EndTimestamp=2}",
            "FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=3,EndTimestamp=2}",
            "FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=1,EndTimestamp=2",
            "FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=x,EndTimestamp=2}",
            "{\"FragmentSelectorType\":",
        ] {
            assert!(parse_fragment_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_the_aws_clis() {
        // What aws-cli 1.45 printed for --max-items 3 --page-size 2 against kvs-local.
        let printed = "eyJOZXh0VG9rZW4iOiAiNjQ2NTZkNmY3YzUzN2MzMDdjMzQzMDMwMzAzMDMwMzAzMDMwMzAzMDMwMzA3YzMyNmNmMGUyM2YxZTY1OTQ1NyIsICJib3RvX3RydW5jYXRlX2Ftb3VudCI6IDF9";
        let (next, skip) = decode_token(printed).unwrap();
        assert_eq!(skip, 1);
        assert_eq!(encode_token(next.as_deref(), Some(1)), printed);
        assert_eq!(decode_token(&encode_token(None, Some(4))).unwrap(), (None, 4));
        assert!(decode_token("not a token").is_err());
    }

    #[test]
    fn seconds_print_as_python_prints_them() {
        let text = |ms| seconds(ms).to_string();
        assert_eq!(text(1_700_000_000_126), "1700000000.126");
        assert_eq!(text(1_700_000_000_000), "1700000000.0");
        assert_eq!(text(1_700_000_000_800), "1700000000.8");
        assert_eq!(text(0), "0.0");
    }
}
