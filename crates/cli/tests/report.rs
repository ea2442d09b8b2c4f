//! `kvs-mkv inspect --html`: the report of a file, stdin, a live stream (until Ctrl-C) and an
//! archived range, opened in a real headless chromium: no console errors, one mark per
//! fragment, a screenshot that is not blank; and the table on stdout is unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::bin;
use kvs_chunk::analysis::{Reading, StreamAnalysis};
use kvs_chunk::{Events, FragmentAssembler};
use kvs_local::{LocalKvs, Source};
use kvs_testkit::browser::{Browser, png_is_not_blank};
use serde_json::Value;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvs-cli-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn ok(out: &Output) -> &Output {
    assert!(out.status.success(), "status {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

/// The analysis rows of a file, as `inspect` makes them (events, assembled without frames,
/// the fragment the input ends inside of counted as cut).
fn analysis_rows(path: &Path) -> Vec<kvs_chunk::analysis::FragmentRow> {
    let bytes = std::fs::read(path).unwrap();
    let mut assembler = FragmentAssembler::without_frames();
    let mut analysis = StreamAnalysis::new();
    let mut rows = Vec::new();
    for event in Events::new(bytes.into()) {
        let Ok(event) = event else { break };
        if let Some(f) = assembler.push(event) {
            rows.push(analysis.push(&f, Reading::default()));
        }
    }
    if let Some(f) = assembler.finish() {
        rows.push(analysis.push(&f, Reading { damaged: false, cut: true }));
    }
    rows
}

/// The JSON rows the page embeds.
fn page_data(html: &str) -> Value {
    let start = html.find("id=\"kvs-report-data\">").unwrap() + "id=\"kvs-report-data\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

/// Opens `file` in chromium: no errors, no request beyond the file, `fragments` marks, a
/// screenshot that shows something. Returns the screenshot.
fn check_in_browser(browser: &mut Browser, file: &Path, fragments: u64) -> Vec<u8> {
    let mut page = browser.open_file(file).unwrap();
    assert_eq!(page.errors(), Vec::<String>::new(), "{}", file.display());
    assert_eq!(page.count("[data-fragment]").unwrap(), fragments, "{}", file.display());
    let requests = page.requests().to_vec();
    assert!(requests.iter().all(|u| u.starts_with("file://") || u.starts_with("data:")), "{requests:?}");
    page.set_viewport(1280, 900).unwrap();
    let png = page.screenshot().unwrap();
    assert!(png_is_not_blank(&png, 16).unwrap(), "{}: blank screenshot", file.display());
    png
}

/// The conformance capture with a gap in producer time, a timestamp restart and an
/// incomplete last fragment (output-get-media-non-increasing-timecode.mkv of the Java
/// parser's tests).
#[test]
fn a_real_capture_with_a_gap_and_a_restart() {
    let Some(input) = kvs_testkit::conformance_path("kvs-java/output-get-media-non-increasing-timecode.mkv")
    else {
        return;
    };
    let html = temp("capture.html");
    let with = bin()
        .args(["inspect", "--color", "never", "--html", html.to_str().unwrap(), input.to_str().unwrap()])
        .output()
        .unwrap();
    let without = bin().args(["inspect", "--color", "never", input.to_str().unwrap()]).output().unwrap();
    // Truncated input: exit status 1 both ways, the same table on stdout.
    assert_eq!(with.status.code(), without.status.code());
    assert_eq!(String::from_utf8_lossy(&with.stdout), String::from_utf8_lossy(&without.stdout));
    let stderr = String::from_utf8_lossy(&with.stderr);
    assert!(stderr.contains("wrote ") && stderr.contains("(12 fragments"), "{stderr}");
    assert!(String::from_utf8_lossy(&with.stdout).contains("12 fragments (11 complete, 1 incomplete)"));

    // The page's numbers are the analysis' rows.
    let page = std::fs::read_to_string(&html).unwrap();
    let rows = analysis_rows(&input);
    assert_eq!(rows.len(), 12);
    let data = page_data(&page);
    let json_rows = data["rows"].as_array().unwrap();
    assert_eq!(json_rows.len(), rows.len());
    for (j, r) in json_rows.iter().zip(&rows) {
        assert_eq!(j["row"], r.row);
        assert_eq!(j["fragment_number"], serde_json::json!(r.fragment_number.as_ref().map(|n| n.as_str())));
        assert_eq!(j["producer_timestamp_ms"], serde_json::json!(r.producer_timestamp_ms));
        assert_eq!(j["server_timestamp_ms"], serde_json::json!(r.server_timestamp_ms));
        assert_eq!(j["duration_ns"], r.duration_ns);
        assert_eq!((j["frames"].as_u64(), j["keyframes"].as_u64()), (Some(r.frames), Some(r.keyframes)));
        assert_eq!(j["bytes"], r.bytes);
        assert_eq!(j["millis_behind_now"], serde_json::json!(r.millis_behind_now));
        assert_eq!(j["cut"], r.cut);
        let findings: Vec<String> = r.findings.iter().map(ToString::to_string).collect();
        assert_eq!(j["findings"], serde_json::json!(findings));
    }
    // What inspect reports for it: a gap and a restart before row 1, row 11 incomplete.
    assert_eq!(json_rows[1]["findings"][0], "gap of 5.479 s before it");
    assert_eq!(json_rows[1]["findings"][1], "timestamps restart: 0 after 11015");
    assert_eq!(json_rows[11]["status"], "incomplete");

    let Some(mut browser) = Browser::start() else { return };
    check_in_browser(&mut browser, &html, 12);
    let mut page = browser.open_file(&html).unwrap();
    assert_eq!(page.count("[data-fragment].incomplete").unwrap(), 1);
    assert_eq!(page.count("[data-fragment].finding").unwrap(), 1);
    assert!(page.count(".thumbs img").unwrap() >= 1);
    // Hovering a fragment shows its number and findings.
    let tip = page
        .eval(
            "(() => { const el = document.querySelector('[data-fragment=\"1\"]'); const r = el.getBoundingClientRect(); \
             el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: r.x + 1, clientY: r.y + 1})); \
             const tip = document.getElementById('tip'); return [tip.hidden, tip.textContent]; })()",
        )
        .unwrap();
    assert_eq!(tip[0], false, "{tip}");
    let text = tip[1].as_str().unwrap();
    assert!(
        text.contains("#1 ") && text.contains("gap of 5.479 s") && text.contains("timestamps restart"),
        "{text}"
    );
    assert_eq!(page.errors(), Vec::<String>::new());
}

/// `inspect - --html`: stdin.
#[test]
fn stdin() {
    let input = common::testdata().join("getmedia_basic.mkv");
    let html = temp("stdin.html");
    let out = bin()
        .args(["inspect", "--color", "never", "--html", html.to_str().unwrap(), "-"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    ok(&out);
    let rows = analysis_rows(&input);
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page_data(&page)["rows"].as_array().unwrap().len(), rows.len());
    assert!(page.contains("<title>stdin: kvs-mkv report</title>"));
    let Some(mut browser) = Browser::start() else { return };
    check_in_browser(&mut browser, &html, rows.len() as u64);
}

/// A local server on its own thread: `basic` (the GetMedia fixture, five fragments) and
/// `h264` (four fragments of H.264).
fn serve() -> String {
    let basic = Source::file(common::testdata().join("getmedia_basic.mkv")).unwrap();
    let h264 = Source::file(common::testdata().join("images/h264.mkv")).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let server = LocalKvs::builder()
                .stream("basic", basic)
                .stream("h264", h264)
                .bind("127.0.0.1:0")
                .await
                .unwrap();
            tx.send(server.url().to_owned()).unwrap();
            let _ = server.wait().await;
        });
    });
    rx.recv().unwrap()
}

fn kvs(url: &str) -> Command {
    let mut cmd = bin();
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["inspect", "--color", "never", "--endpoint-url", url]);
    cmd
}

/// `inspect --stream-name h264 --follow --html`: the report is written at Ctrl-C, with every
/// fragment read until then; and an archived range of it.
#[test]
fn a_live_stream_until_ctrl_c_and_an_archive_range() {
    let url = serve();
    let html = temp("live.html");
    let mut child = kvs(&url)
        .args(["--stream-name", "h264", "--start-selector-type", "EARLIEST", "--follow"])
        .args(["--html", html.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the four rows of the table, then Ctrl-C.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut rows = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
                rows += 1;
                if rows == 4 {
                    let _ = tx.send(());
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("four rows within 60 s");
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    // A live inspect stopped by Ctrl-C ends as it always has (0); the report is written.
    assert!(matches!(status.code(), Some(0 | 130)), "{status:?}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page_data(&page)["rows"].as_array().unwrap().len(), 4);
    assert!(page.contains("data:image/jpeg;base64,"), "thumbnails of the H.264 stream");

    // The archive: every fragment of the stream on the producer clock.
    let archived = temp("archive.html");
    let out = kvs(&url)
        .args(["--stream-name", "basic", "--start-timestamp", "0", "--end-timestamp", "4000000000"])
        .args(["--html", archived.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&out);
    let archived_rows =
        page_data(&std::fs::read_to_string(&archived).unwrap())["rows"].as_array().unwrap().len();
    assert_eq!(archived_rows, analysis_rows(&common::testdata().join("getmedia_basic.mkv")).len());

    let Some(mut browser) = Browser::start() else { return };
    check_in_browser(&mut browser, &html, 4);
    check_in_browser(&mut browser, &archived, archived_rows as u64);
}

/// `--thumbnails-every` and `--max-thumbnails`: none with 0; the flags need --html.
#[test]
fn thumbnail_flags() {
    let input = common::testdata().join("images/h264.mkv");
    let html = temp("nothumbs.html");
    ok(&bin()
        .args(["inspect", "--html", html.to_str().unwrap(), "--max-thumbnails", "0", input.to_str().unwrap()])
        .output()
        .unwrap());
    assert!(!std::fs::read_to_string(&html).unwrap().contains("data:image/jpeg"));
    let html = temp("every.html");
    ok(&bin()
        .args([
            "inspect",
            "--html",
            html.to_str().unwrap(),
            "--thumbnails-every",
            "2",
            input.to_str().unwrap(),
        ])
        .output()
        .unwrap());
    assert_eq!(std::fs::read_to_string(&html).unwrap().matches("data:image/jpeg").count(), 2);
    let out = bin().args(["inspect", "--max-thumbnails", "3", input.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Makes `docs/report.png`, the README's picture of the report (run by
/// `scripts/report-screenshot.sh`): `inspect --html` of the conformance capture with a gap
/// and a restart, in chromium, with the tooltip of the fragment after the gap shown.
#[test]
#[ignore = "writes docs/report.png; run by scripts/report-screenshot.sh"]
fn readme_screenshot() {
    let Some(input) = kvs_testkit::conformance_path("kvs-java/output-get-media-non-increasing-timecode.mkv")
    else {
        return;
    };
    let html = temp("readme.html");
    let out = bin()
        .args(["inspect", "--color", "never", "--html", html.to_str().unwrap(), input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(html.is_file(), "{}", String::from_utf8_lossy(&out.stderr));
    let Some(mut browser) = Browser::start() else { return };
    let mut page = browser.open_file(&html).unwrap();
    page.set_viewport(1250, 1000).unwrap();
    page.eval(
        "(() => { const el = document.querySelector('[data-fragment=\"1\"]'); const r = el.getBoundingClientRect(); \
         el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: r.x + 30, clientY: r.y + 10})); })()",
    )
    .unwrap();
    assert_eq!(page.errors(), Vec::<String>::new());
    let png = page.screenshot().unwrap();
    assert!(png_is_not_blank(&png, 16).unwrap());
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/report.png");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, &png).unwrap();
    eprintln!("wrote {} ({} bytes)", target.display(), png.len());
}
