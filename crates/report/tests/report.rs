//! The report of small inputs: one mark per fragment, the analysis' numbers, thumbnails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kvs_chunk::analysis::{Reading, StreamAnalysis};
use kvs_chunk::{Events, Fragments};
use kvs_report::{Report, ReportOptions};

fn report_of(path: &str) -> (kvs_report::ReportBuilder, kvs_chunk::analysis::Totals) {
    let input = std::fs::read(path).unwrap();
    let mut report = Report::new(ReportOptions { title: path.into(), ..ReportOptions::default() });
    for event in Events::new(input.into()) {
        report.push(event.unwrap());
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
