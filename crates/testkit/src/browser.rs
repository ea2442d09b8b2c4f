//! A real headless browser for tests: Debian's `chromium`, started headless and driven over
//! the Chrome DevTools Protocol (CDP) on a loopback WebSocket.
//!
//! [`Browser::start`] finds `chromium` with [`crate::tool`] semantics (a failure under CI that
//! names it, a recorded skip elsewhere), starts it with a throw-away profile folder and kills it
//! when dropped. [`Browser::open`] loads a URL or a local file and waits for its `load` event;
//! the [`Page`] then evaluates JavaScript (results as JSON), takes PNG screenshots and keeps the
//! console messages, uncaught exceptions, log errors and network requests the page produced, so
//! a test can assert "no console errors" and "no request left the file".
//!
//! ```no_run
//! let Some(mut browser) = kvs_testkit::browser::Browser::start() else { return };
//! let mut page = browser.open_file(std::path::Path::new("report.html")).unwrap();
//! assert_eq!(page.errors(), Vec::<String>::new());
//! let marks = page.eval("document.querySelectorAll('[data-fragment]').length").unwrap();
//! assert_eq!(marks, 3);
//! let png = page.screenshot().unwrap();
//! assert!(kvs_testkit::browser::png_is_not_blank(&png, 8).unwrap());
//! ```

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// How `.ci/run` (and a developer) installs the browser.
pub const HOW: &str = "apt-get install -y chromium";

/// How long one DevTools command, a page load or the browser's start may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong talking to the browser.
#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn err(what: impl std::fmt::Display) -> Error {
    Error(what.to_string())
}

/// The result of the browser calls.
pub type Result<T> = std::result::Result<T, Error>;

/// `chromium` on `PATH`, or `None` after [`crate::skip`] (a failure under `CI=true`).
#[track_caller]
pub fn chromium() -> Option<PathBuf> {
    crate::tool("chromium", HOW)
}

/// A headless chromium, killed (and its profile folder removed) on drop.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Events read while waiting for something else, oldest first.
    pending: Vec<Value>,
}

/// A tab opened by [`Browser::open`]; what it logged is kept from the moment it was created.
pub struct Page<'b> {
    browser: &'b mut Browser,
    session: String,
    target: String,
    console: Vec<ConsoleMessage>,
    exceptions: Vec<String>,
    log_errors: Vec<String>,
    requests: Vec<String>,
}

/// One `console.*` call of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleMessage {
    /// `log`, `info`, `warning`, `error`, ... (CDP's `Runtime.consoleAPICalled` type).
    pub level: String,
    /// The arguments, rendered as text and joined by spaces.
    pub text: String,
}

impl Browser {
    /// Finds and starts `chromium` headless, or returns `None` after [`crate::skip`] when it is
    /// not installed. A browser that is installed but does not start fails the test.
    #[track_caller]
    pub fn start() -> Option<Browser> {
        let exe = chromium()?;
        match Browser::launch(&exe) {
            Ok(b) => Some(b),
            Err(e) => {
                #[allow(clippy::panic)]
                {
                    panic!("chromium ({}) did not start: {e}", exe.display())
                }
            }
        }
    }

    /// Starts the browser at `exe` headless on a fresh profile folder.
    pub fn launch(exe: &Path) -> Result<Browser> {
        let profile = std::env::temp_dir().join(format!(
            "kvs-chromium-{}-{}",
            std::process::id(),
            PROFILE_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).map_err(err)?;
        let mut cmd = Command::new(exe);
        cmd.arg("--headless")
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.display()))
            .args([
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--mute-audio",
                "--window-size=1280,900",
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if is_root() {
            // Chromium refuses to run as root with its sandbox on.
            cmd.arg("--no-sandbox");
        }
        let mut child = cmd.spawn().map_err(|e| err(format!("spawn {}: {e}", exe.display())))?;
        let ws_url = match devtools_url(&mut child) {
            Ok(u) => u,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&profile);
                return Err(e);
            }
        };
        let ws = match connect(&ws_url) {
            Ok(ws) => ws,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&profile);
                return Err(e);
            }
        };
        Ok(Browser { child, profile, ws, next_id: 1, pending: Vec::new() })
    }

    /// Opens a new tab on `url`, waits for its `load` event and returns it.
    pub fn open(&mut self, url: &str) -> Result<Page<'_>> {
        let created = self.call(None, "Target.createTarget", json!({ "url": "about:blank" }))?;
        let target = str_field(&created, "targetId")?;
        let attached =
            self.call(None, "Target.attachToTarget", json!({ "targetId": target, "flatten": true }))?;
        let session = str_field(&attached, "sessionId")?;
        for domain in ["Page.enable", "Runtime.enable", "Log.enable", "Network.enable"] {
            self.call(Some(&session), domain, json!({}))?;
        }
        let mut page = Page {
            browser: self,
            session,
            target,
            console: Vec::new(),
            exceptions: Vec::new(),
            log_errors: Vec::new(),
            requests: Vec::new(),
        };
        page.navigate(url)?;
        Ok(page)
    }

    /// Opens a local file (as a `file://` URL) like [`Browser::open`].
    pub fn open_file(&mut self, path: &Path) -> Result<Page<'_>> {
        let abs = std::fs::canonicalize(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        self.open(&format!("file://{}", abs.display()))
    }

    /// Sends one command (to a page's `session`, or to the browser) and returns its result.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let (Some(s), Some(obj)) = (session, msg.as_object_mut()) {
            obj.insert("sessionId".into(), Value::String(s.to_owned()));
        }
        self.ws.send(Message::text(msg.to_string())).map_err(|e| err(format!("{method}: {e}")))?;
        let deadline = deadline_in(TIMEOUT);
        loop {
            let v = self.read(deadline).map_err(|e| err(format!("{method}: {e}")))?;
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(e) = v.get("error") {
                    return Err(err(format!("{method}: {e}")));
                }
                return Ok(v.get("result").cloned().unwrap_or(Value::Null));
            }
            if v.get("method").is_some() {
                self.pending.push(v);
            }
        }
    }

    /// The next message from the browser, or an error at `deadline`.
    fn read(&mut self, deadline: Instant) -> Result<Value> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(err("timed out waiting for the browser"));
            }
            self.ws.get_mut().set_read_timeout(Some(left)).map_err(err)?;
            match self.ws.read() {
                Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).map_err(err),
                Ok(Message::Binary(b)) => return serde_json::from_slice(&b).map_err(err),
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    continue;
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.ws.close(None);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

static PROFILE_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Page<'_> {
    /// Loads `url` in this tab and waits for its `load` event.
    pub fn navigate(&mut self, url: &str) -> Result<()> {
        let session = self.session.clone();
        let r = self.browser.call(Some(&session), "Page.navigate", json!({ "url": url }))?;
        if let Some(e) = r.get("errorText").and_then(Value::as_str) {
            return Err(err(format!("navigate to {url}: {e}")));
        }
        self.wait_for_event("Page.loadEventFired")
    }

    /// Evaluates `expression` in the page (awaiting it when it is a promise) and returns its
    /// value as JSON; an exception thrown by it is an error.
    pub fn eval(&mut self, expression: &str) -> Result<Value> {
        let session = self.session.clone();
        let r = self.browser.call(
            Some(&session),
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        )?;
        self.drain();
        if let Some(ex) = r.get("exceptionDetails") {
            return Err(err(format!("{expression}: {}", exception_text(ex))));
        }
        Ok(r.get("result").and_then(|r| r.get("value")).cloned().unwrap_or(Value::Null))
    }

    /// How many elements match the CSS `selector`.
    pub fn count(&mut self, selector: &str) -> Result<u64> {
        let sel = serde_json::to_string(selector).map_err(err)?;
        let v = self.eval(&format!("document.querySelectorAll({sel}).length"))?;
        v.as_u64().ok_or_else(|| err(format!("count of {selector}: {v}")))
    }

    /// A PNG screenshot of the viewport (the whole page when `full_page`).
    pub fn screenshot_with(&mut self, full_page: bool) -> Result<Vec<u8>> {
        let session = self.session.clone();
        let r = self.browser.call(
            Some(&session),
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": full_page }),
        )?;
        self.drain();
        let data = str_field(&r, "data")?;
        base64::engine::general_purpose::STANDARD.decode(data).map_err(err)
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&mut self) -> Result<Vec<u8>> {
        self.screenshot_with(false)
    }

    /// Sets the viewport size (CSS pixels), e.g. before a screenshot.
    pub fn set_viewport(&mut self, width: u32, height: u32) -> Result<()> {
        let session = self.session.clone();
        self.browser.call(
            Some(&session),
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )?;
        Ok(())
    }

    /// The `console.*` calls of the page so far.
    pub fn console(&mut self) -> &[ConsoleMessage] {
        self.drain();
        &self.console
    }

    /// Every error the page produced so far: `console.error` calls, uncaught exceptions and
    /// browser log entries of level `error` (a resource that failed to load, a CSP violation).
    /// A clean page gives an empty list.
    pub fn errors(&mut self) -> Vec<String> {
        self.drain();
        let mut out: Vec<String> = self
            .console
            .iter()
            .filter(|m| m.level == "error" || m.level == "assert")
            .map(|m| format!("console.{}: {}", m.level, m.text))
            .collect();
        out.extend(self.exceptions.iter().map(|e| format!("uncaught: {e}")));
        out.extend(self.log_errors.iter().map(|e| format!("log: {e}")));
        out
    }

    /// The URLs of every request the page made so far (the document itself included).
    pub fn requests(&mut self) -> &[String] {
        self.drain();
        &self.requests
    }

    /// Reads the events the browser has already sent (without waiting) into this page's logs.
    fn drain(&mut self) {
        // A short round trip makes sure every event sent before it has been read.
        let session = self.session.clone();
        let _ = self.browser.call(Some(&session), "Runtime.evaluate", json!({ "expression": "0" }));
        let pending = std::mem::take(&mut self.browser.pending);
        for ev in pending {
            self.record(&ev);
        }
    }

    /// Waits for the event `method` of this page, recording every event read meanwhile.
    fn wait_for_event(&mut self, method: &str) -> Result<()> {
        let pending = std::mem::take(&mut self.browser.pending);
        let mut found = false;
        for ev in pending {
            found |= self.record(&ev) == Some(method);
        }
        let deadline = deadline_in(TIMEOUT);
        while !found {
            let ev = self.browser.read(deadline).map_err(|e| err(format!("waiting for {method}: {e}")))?;
            found = self.record(&ev) == Some(method);
        }
        Ok(())
    }

    /// Keeps what matters of one event of this page; returns its method.
    fn record<'e>(&mut self, ev: &'e Value) -> Option<&'e str> {
        if ev.get("sessionId").and_then(Value::as_str) != Some(self.session.as_str()) {
            return None;
        }
        let method = ev.get("method").and_then(Value::as_str)?;
        let params = ev.get("params").cloned().unwrap_or(Value::Null);
        match method {
            "Runtime.consoleAPICalled" => {
                let level = params.get("type").and_then(Value::as_str).unwrap_or("log").to_owned();
                let text = params
                    .get("args")
                    .and_then(Value::as_array)
                    .map(|args| args.iter().map(remote_text).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default();
                self.console.push(ConsoleMessage { level, text });
            }
            "Runtime.exceptionThrown" => {
                let details = params.get("exceptionDetails").cloned().unwrap_or(Value::Null);
                self.exceptions.push(exception_text(&details));
            }
            "Log.entryAdded" => {
                let entry = params.get("entry").cloned().unwrap_or(Value::Null);
                if entry.get("level").and_then(Value::as_str) == Some("error") {
                    let text = entry.get("text").and_then(Value::as_str).unwrap_or("");
                    let url = entry.get("url").and_then(Value::as_str).unwrap_or("");
                    self.log_errors.push(format!("{text} {url}").trim().to_owned());
                }
            }
            "Network.requestWillBeSent" => {
                if let Some(u) = params.get("request").and_then(|r| r.get("url")).and_then(Value::as_str) {
                    self.requests.push(u.to_owned());
                }
            }
            _ => {}
        }
        Some(method)
    }
}

impl Drop for Page<'_> {
    fn drop(&mut self) {
        let target = self.target.clone();
        let _ = self.browser.call(None, "Target.closeTarget", json!({ "targetId": target }));
        self.browser.pending.clear();
    }
}

/// Whether a PNG shows something: it decodes and has more than `min_colours` distinct colours.
/// A blank (all white, all black, one flat colour) screenshot has one.
pub fn png_is_not_blank(png: &[u8], min_colours: usize) -> Result<bool> {
    Ok(png_colours(png, min_colours.saturating_add(1))? > min_colours)
}

/// The number of distinct RGBA colours in a PNG, counting up to `cap`.
pub fn png_colours(png: &[u8], cap: usize) -> Result<usize> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(err)?;
    let size = reader.output_buffer_size().ok_or_else(|| err("PNG too large"))?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(err)?;
    let channels = info.color_type.samples();
    let bytes = buf.get(..info.buffer_size()).ok_or_else(|| err("short PNG frame"))?;
    let mut seen = std::collections::HashSet::new();
    for px in bytes.chunks_exact(channels) {
        let mut c = [255u8; 4];
        for (d, s) in c.iter_mut().zip(px) {
            *d = *s;
        }
        seen.insert(c);
        if seen.len() >= cap {
            break;
        }
    }
    Ok(seen.len())
}

/// The width and height of a PNG.
pub fn png_size(png: &[u8]) -> Result<(u32, u32)> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let reader = decoder.read_info().map_err(err)?;
    let info = reader.info();
    Ok((info.width, info.height))
}

fn exception_text(details: &Value) -> String {
    let desc = details.get("exception").and_then(|e| e.get("description")).and_then(Value::as_str);
    let text = details.get("text").and_then(Value::as_str).unwrap_or("exception");
    let line = details.get("lineNumber").and_then(Value::as_u64).unwrap_or(0);
    match desc {
        Some(d) => format!("{d} (line {line})"),
        None => format!("{text} (line {line})"),
    }
}

fn remote_text(arg: &Value) -> String {
    if let Some(v) = arg.get("value") {
        return match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    }
    arg.get("description").and_then(Value::as_str).unwrap_or("").to_owned()
}

/// `now + d`, saturating far in the future.
fn deadline_in(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or(now)
}

fn str_field(v: &Value, field: &str) -> Result<String> {
    v.get(field).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| err(format!("no {field} in {v}")))
}

fn is_root() -> bool {
    // The effective user of this process; /proc/self/status "Uid:" has real, effective, ...
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Reads chromium's stderr until it prints `DevTools listening on ws://...`; the rest of its
/// stderr is drained on a thread so the browser never blocks on a full pipe.
fn devtools_url(child: &mut Child) -> Result<String> {
    let stderr = child.stderr.take().ok_or_else(|| err("no stderr"))?;
    let (tx, rx) = std::sync::mpsc::channel::<std::result::Result<String, String>>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut seen = String::new();
        let mut line = String::new();
        let mut sent = false;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if sent {
                continue;
            }
            if let Some(i) = line.find("ws://") {
                let url = line.get(i..).unwrap_or("").trim().to_owned();
                let _ = tx.send(Ok(url));
                sent = true;
            } else if seen.len() < 4096 {
                seen.push_str(&line);
            }
        }
        if !sent {
            let _ = tx.send(Err(seen));
        }
        // Keep draining (the loop above ends only at EOF).
        let _ = reader.read_to_end(&mut Vec::new());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(Ok(url)) => Ok(url),
        Ok(Err(stderr)) => Err(err(format!("chromium exited before DevTools listened: {stderr}"))),
        Err(_) => Err(err("chromium did not print its DevTools address in time")),
    }
}

fn connect(url: &str) -> Result<WebSocket<TcpStream>> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| err(format!("not ws://: {url}")))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let stream = TcpStream::connect(host).map_err(|e| err(format!("connect {host}: {e}")))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(err)?;
    let (ws, _) = tungstenite::client::client(url, stream).map_err(|e| err(format!("{url}: {e}")))?;
    Ok(ws)
}
