//! An hour of 1-second fragments (3,600): the page stays under 10 MB and a real browser
//! renders it in under 2 s (the limits the report promises), with one mark per fragment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::arithmetic_side_effects, clippy::cast_possible_wrap)]

use kvs_chunk::{Event, Events, FragmentNumber};
use kvs_report::{Report, ReportOptions};

const FRAGMENTS: u64 = 3600;

/// The events of `testdata/images/h264.mkv` (4 fragments of 1 s of H.264, 10 fps), replayed
/// until there are `FRAGMENTS` fragments, each shifted to follow the one before on both clocks.
fn hour_of_fragments() -> Vec<Event> {
    let input = std::fs::read("../../testdata/images/h264.mkv").unwrap();
    let one: Vec<Event> = Events::new(input.clone().into()).map(Result::unwrap).collect();
    let per_rep = one.iter().filter(|e| matches!(e, Event::FragmentEnd(_))).count() as u64;
    assert_eq!(per_rep, 4);
    let len = input.len() as u64;
    let mut out = Vec::new();
    for rep in 0..FRAGMENTS / per_rep {
        let shift_ms = (rep * per_rep * 1000) as i64;
        let docs = rep * per_rep;
        for e in &one {
            let mut e = e.clone();
            match &mut e {
                Event::DocumentStart { index, offset } => {
                    *index += docs;
                    *offset += rep * len;
                }
                Event::DocumentEnd { index, offset, end } => {
                    *index += docs;
                    *offset += rep * len;
                    *end += rep * len;
                }
                Event::FragmentMetadata(m) => {
                    m.producer_timestamp_ms = m.producer_timestamp_ms.map(|t| t + shift_ms);
                    // The service's clock runs 1.5 s ahead and drifts 1 ms per fragment.
                    m.server_timestamp_ms = m.producer_timestamp_ms.map(|t| t + 1500 + shift_ms / 1000);
                    m.fragment_number =
                        Some(FragmentNumber::new(format!("9134385233318143{:010}", docs + 1)));
                }
                Event::Cluster { timestamp, timestamp_scale, .. } => {
                    *timestamp += (shift_ms as u64) * 1_000_000 / (*timestamp_scale).max(1);
                }
                Event::Frame(f) => f.timestamp_ns += shift_ms * 1_000_000,
                Event::FragmentEnd(end) => {
                    end.index += docs;
                    end.millis_behind_now = Some(2000 + (rep % 7) * 100);
                }
                _ => {}
            }
            out.push(e);
        }
    }
    out
}

#[test]
fn an_hour_of_fragments_stays_small_and_renders_fast() {
    let events = hour_of_fragments();
    let mut report =
        Report::new(ReportOptions { title: "an hour of 1 s fragments".into(), ..ReportOptions::default() });
    for e in events {
        report.push(e);
    }
    let (builder, totals) = report.finish();
    assert_eq!(totals.fragments, FRAGMENTS);
    assert_eq!((totals.gaps, totals.jumps), (0, 0), "{totals:?}");
    let thumbs = builder.thumbnails().iter().flatten().count();
    assert!((100..=200).contains(&thumbs), "{thumbs} thumbnails");
    let html = builder.html(&totals);
    let mb = html.len() as f64 / 1e6;
    eprintln!("3600 fragments: {} bytes ({mb:.2} MB), {thumbs} thumbnails", html.len());
    assert!(html.len() < 10_000_000, "{} bytes", html.len());
    assert_eq!(html.matches("<rect class=\"frag").count() as u64, FRAGMENTS);

    let Some(mut browser) = kvs_testkit::browser::Browser::start() else { return };
    let dir = std::env::temp_dir().join(format!("kvs-report-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hour.html");
    std::fs::write(&file, &html).unwrap();
    let mut page = browser.open_file(&file).unwrap();
    assert_eq!(page.errors(), Vec::<String>::new());
    assert_eq!(page.count("[data-fragment]").unwrap(), FRAGMENTS);
    // From the start of navigation to the end of the report's script, and to the first
    // frame painted after load (layout and paint of every chart and mark included).
    let timing = page
        .eval(
            "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r({ \
               script: window.kvsReportRendered, \
               load: performance.getEntriesByType('navigation')[0].loadEventEnd, \
               painted: performance.now() }))))",
        )
        .unwrap();
    eprintln!("3600 fragments in the browser (ms since navigation start): {timing}");
    let script = timing["script"].as_f64().unwrap();
    let load = timing["load"].as_f64().unwrap();
    let painted = timing["painted"].as_f64().unwrap();
    assert!(script < 2000.0 && load < 2000.0 && painted < 2000.0, "{timing}");
    let requests = page.requests().to_vec();
    assert!(requests.iter().all(|u| u.starts_with("file://") || u.starts_with("data:")), "{requests:?}");
    let png = page.screenshot().unwrap();
    assert!(kvs_testkit::browser::png_is_not_blank(&png, 16).unwrap());
    drop(page);
    let _ = std::fs::remove_dir_all(&dir);
}
