//! The headless-browser harness on tiny pages of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kvs_testkit::browser::{Browser, png_is_not_blank, png_size};

fn page(dir: &std::path::Path, name: &str, html: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, html).unwrap();
    p
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kvs-browser-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_clean_page_counts_elements_and_screenshots_something() {
    let Some(mut browser) = Browser::start() else { return };
    let dir = temp_dir("clean");
    let html = r##"<!doctype html><html><body style="background:#fff">
<svg width="400" height="200"><rect x="10" y="10" width="100" height="50" fill="#c33"/>
<circle cx="250" cy="100" r="60" fill="#36c"/></svg>
<div class="m" data-n="1">a</div><div class="m" data-n="2">b</div><div class="m">c</div>
<script>console.log("hello", 42); window.answer = {n: document.querySelectorAll('.m').length};</script>
</body></html>"##;
    let file = page(&dir, "clean.html", html);
    let mut p = browser.open_file(&file).unwrap();
    assert_eq!(p.errors(), Vec::<String>::new());
    assert_eq!(p.count(".m").unwrap(), 3);
    assert_eq!(p.count("[data-n]").unwrap(), 2);
    assert_eq!(p.eval("window.answer").unwrap(), serde_json::json!({"n": 3}));
    assert_eq!(p.eval("Promise.resolve(6 * 7)").unwrap(), serde_json::json!(42));
    let console = p.console().to_vec();
    assert!(console.iter().any(|m| m.level == "log" && m.text == "hello 42"), "{console:?}");
    let requests = p.requests().to_vec();
    assert!(requests.iter().all(|u| u.starts_with("file://")), "{requests:?}");
    p.set_viewport(640, 360).unwrap();
    let png = p.screenshot().unwrap();
    assert_eq!(png_size(&png).unwrap(), (640, 360));
    assert!(png_is_not_blank(&png, 2).unwrap());
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_and_blank_pages_are_reported() {
    let Some(mut browser) = Browser::start() else { return };
    let dir = temp_dir("errors");
    let html = r##"<!doctype html><html><body style="background:#fff">
<script>console.error("broken", 1);</script>
<script>undefinedFunction();</script>
</body></html>"##;
    let file = page(&dir, "errors.html", html);
    let mut p = browser.open_file(&file).unwrap();
    let errors = p.errors();
    assert!(errors.iter().any(|e| e.contains("console.error: broken 1")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("undefinedFunction")), "{errors:?}");
    assert!(p.eval("nope.nope").is_err());
    let png = p.screenshot().unwrap();
    assert!(!png_is_not_blank(&png, 1).unwrap(), "an empty white page is blank");
    drop(p);
    // A second tab in the same browser works too.
    let file = page(&dir, "second.html", "<p id=x>second</p>");
    let mut p = browser.open_file(&file).unwrap();
    assert_eq!(p.eval("document.getElementById('x').textContent").unwrap(), "second");
    assert_eq!(p.errors(), Vec::<String>::new());
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}
