//! The report of small inputs: one mark per fragment, the analysis' numbers, thumbnails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kvs_chunk::analysis::{Reading, StreamAnalysis};
use kvs_chunk::{Events, Fragments};
use kvs_report::{Report, ReportOptions};

fn report_of(path: &str) -> (kvs_report::ReportBuilder, kvs_chunk::analysis::Totals) {
    let input = std::fs::read(path).unwrap();
    let mut report = Report::new(ReportOptions { title: path.into(), ..ReportOptions::default() });
    // A truncated input ends at its error, as inspect reads it.
    for event in Events::new(input.into()) {
        let Ok(event) = event else { break };
        report.push(event);
    }
    report.finish()
}

#[test]
fn h264_has_marks_and_thumbnails() {
    let (b, totals) = report_of("../../testdata/images/h264.mkv");
    eprintln!("{totals:?} rows {} thumbs {}", b.rows().count(), b.thumbnails().len());
    assert_eq!(totals.fragments, 4);
    assert_eq!(b.rows().count(), 4);
    assert!(b.thumbnails().iter().flatten().count() >= 1);
    let html = b.html(&totals);
    assert_eq!(html.matches("data-fragment=").count(), 4);
}

#[test]
fn rows_are_the_analysis_rows() {
    let path = "../../testdata/getmedia_basic.mkv";
    let (b, _) = report_of(path);
    let input = std::fs::read(path).unwrap();
    let mut analysis = StreamAnalysis::new();
    let rows: Vec<_> = Fragments::without_frames(Events::new(input.into()))
        .map(|f| analysis.push(&f.unwrap(), Reading::default()))
        .collect();
    let data = b.data();
    let json_rows = data["rows"].as_array().unwrap();
    assert_eq!(json_rows.len(), rows.len());
    for (j, r) in json_rows.iter().zip(&rows) {
        assert_eq!(j["row"], r.row);
        assert_eq!(j["producer_timestamp_ms"], serde_json::json!(r.producer_timestamp_ms));
        assert_eq!(j["server_timestamp_ms"], serde_json::json!(r.server_timestamp_ms));
        assert_eq!(j["duration_ns"], r.duration_ns);
        assert_eq!(j["frames"], r.frames);
        assert_eq!(j["keyframes"], r.keyframes);
        assert_eq!(j["bytes"], r.bytes);
        assert_eq!(j["millis_behind_now"], serde_json::json!(r.millis_behind_now));
        let findings: Vec<String> = r.findings.iter().map(ToString::to_string).collect();
        assert_eq!(j["findings"], serde_json::json!(findings));
    }
    let rows_b: Vec<_> = b.rows().map(|r| r.row.clone()).collect();
    assert_eq!(rows_b, rows);
}

/// In-stream errors and a stream cut inside a fragment: each is one mark, of its own kind.
#[test]
fn errors_and_cut_fragments_are_marked() {
    let (b, totals) = report_of("../../testdata/error_chunks.mkv");
    assert_eq!((totals.fragments, totals.errors), (12, 11));
    let html = b.html(&totals);
    assert_eq!(html.matches("<rect class=\"frag").count(), 12);
    assert_eq!(html.matches("<rect class=\"frag error").count(), 11);
    let data = b.data();
    assert_eq!(data["rows"][11]["error"], "9999 Synthetic error with an id GetMedia does not document");

    let (b, totals) = report_of("../../testdata/cut_stream.mkv");
    assert_eq!(
        (totals.fragments, totals.incomplete, totals.gaps, totals.cut),
        (3, 1, 2, 0),
        "as inspect counts them"
    );
    let html = b.html(&totals);
    assert_eq!(html.matches("<rect class=\"frag").count(), 3);
    assert_eq!(html.matches("<rect class=\"frag incomplete finding").count(), 1);
    assert!(html.contains("2 gaps in producer time (0.680 s missing)"), "the summary");
}

/// The page escapes what the input says (tag values, the title) and its JSON cannot end
/// its script element early.
#[test]
fn the_page_escapes_the_input() {
    let input = std::fs::read("../../testdata/getmedia_basic.mkv").unwrap();
    let mut report =
        Report::new(ReportOptions { title: "<script>alert(1)</script>".into(), ..ReportOptions::default() });
    for event in Events::new(input.into()) {
        report.push(event.unwrap());
    }
    let html = report.into_html();
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(html.matches("</script>").count(), 2, "the JSON blob and the script");
}
