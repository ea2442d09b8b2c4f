//! `kvs-mkv fleet run` as a fleet: worker processes sharing 30 live streams of a local
//! `serve` through SQLite and through PostgreSQL. One worker is killed with SIGKILL mid-stream
//! and comes back; another is paused past its lease. Checked: every fragment of every stream
//! delivered, in order per worker and stream; duplicates only after the dead worker's last
//! checkpoints; its streams resumed elsewhere within the lease time; the returning worker
//! gets its share again; a paused worker whose leases were taken delivers nothing more of
//! those streams and cannot checkpoint them; Ctrl-C hands the streams over.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::bin;
use kvs_local::synthetic::SyntheticSpec;
use serde_json::Value;

const STREAMS: usize = 30;
/// Fragments per stream: 500 ms each, 30 s of live stream.
const FRAGMENTS: usize = 60;
const LEASE_SECS: f64 = 3.0;

/// A plain MKV of `FRAGMENTS` clusters of 500 ms (`serve` makes one fragment of each).
fn clip(dir: &Path) -> PathBuf {
    let spec = SyntheticSpec {
        clusters: FRAGMENTS,
        frames_per_cluster: 5,
        frame_interval_ms: 100,
        frame_size: 120,
        ..SyntheticSpec::default()
    };
    let path = dir.join("clip.mkv");
    std::fs::write(&path, spec.plain_mkv().unwrap()).unwrap();
    path
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvs-fleet-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Kills the child when dropped (a failing test leaves no process behind).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kvs-mkv serve --live` with streams cam-01 .. cam-30; its URL.
fn serve(clip: &Path) -> (Proc, String) {
    serve_streams(&format!("cam-{{01..{STREAMS}}}={}", clip.display()), true)
}

/// `kvs-mkv serve [--live] --stream STREAMS`; its URL.
fn serve_streams(streams: &str, live: bool) -> (Proc, String) {
    let mut cmd = bin();
    cmd.arg("serve");
    if live {
        cmd.arg("--live");
    }
    cmd.args(["--listen", "127.0.0.1:0", "--stream", streams]);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("kvs-mkv serve exited").unwrap();
        if let Some(rest) = line.strip_prefix("kvs-local listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), url)
}

/// A fragment line as a worker printed it, and when the test read it.
#[derive(Debug, Clone)]
struct Line {
    at: Instant,
    /// The worker's life (0, 1, ... for each start of the same id).
    life: usize,
    worker: String,
    stream: String,
    fragment: String,
}

/// The fleet under test: the workers' processes and everything they printed.
struct Fleet {
    store: String,
    url: String,
    workers: HashMap<String, (Proc, usize)>,
    lines: Arc<Mutex<Vec<Line>>>,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
    lives: usize,
}

impl Fleet {
    fn start(&mut self, id: &str) {
        let life = self.lives;
        self.lives += 1;
        let mut child = bin()
            .args(["fleet", "run", "--store", &self.store, "--worker-id", id, "--all-streams"])
            .args(["--endpoint-url", &self.url, "--start-selector", "StartSelectorType=EARLIEST"])
            .args(["--lease-secs", &LEASE_SECS.to_string(), "--checkpoint-every", "1", "--json"])
            .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_REGION", "us-east-1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let lines = Arc::clone(&self.lines);
        let id2 = id.to_owned();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(v["worker"], id2.as_str());
                lines.lock().unwrap().push(Line {
                    at: Instant::now(),
                    life,
                    worker: id2.clone(),
                    stream: v["stream"].as_str().unwrap().to_owned(),
                    fragment: v["fragment_number"].as_str().unwrap().to_owned(),
                });
            }
        });
        let err = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            for line in err.lines() {
                let Ok(line) = line else { break };
                log.lock().unwrap().push((Instant::now(), line));
            }
        });
        self.workers.insert(id.to_owned(), (Proc(child), life));
    }

    fn signal(&self, id: &str, signal: &str) {
        let pid = self.workers[id].0.0.id().to_string();
        let ok = Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success();
        assert!(ok, "kill -{signal} {pid}");
    }

    fn status(&self) -> Value {
        let out = bin().args(["fleet", "status", "--json", "--store", &self.store]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Streams whose lease is valid, per worker.
    fn holders(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in self.status()["streams"].as_array().unwrap() {
            if let Some(w) = s["worker"].as_str() {
                by.entry(w.to_owned()).or_default().insert(s["stream"].as_str().unwrap().to_owned());
            }
        }
        by
    }

    /// Waits until `want` workers hold the shares `counts` (sorted by worker id).
    fn wait_for_shares(&self, want: &[(&str, usize)], within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let holders = self.holders();
            let now: Vec<(String, usize)> = holders.iter().map(|(w, s)| (w.clone(), s.len())).collect();
            let wanted: Vec<(String, usize)> = want.iter().map(|(w, n)| ((*w).to_owned(), *n)).collect();
            if now == wanted {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "shares {now:?}, expected {wanted:?} within {within:?}\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n")
    }

    /// Waits until every fragment of every stream was delivered by some worker.
    fn wait_for_all(&self, numbers: &[String], within: Duration) {
        let start = Instant::now();
        loop {
            let seen: BTreeSet<(String, String)> =
                self.lines.lock().unwrap().iter().map(|l| (l.stream.clone(), l.fragment.clone())).collect();
            if seen.len() == STREAMS * numbers.len() {
                return;
            }
            assert!(
                start.elapsed() < within,
                "{} of {} fragments delivered\n{}",
                seen.len(),
                STREAMS * numbers.len(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Ctrl-C to every worker; each hands its streams over and exits 0.
    fn stop_all(&mut self) {
        let ids: Vec<String> = self.workers.keys().cloned().collect();
        for id in &ids {
            self.signal(id, "INT");
        }
        for id in &ids {
            let (mut proc, _) = self.workers.remove(id).unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            let status = loop {
                if let Some(s) = proc.0.try_wait().unwrap() {
                    break s;
                }
                assert!(Instant::now() < deadline, "worker {id} did not stop after Ctrl-C");
                std::thread::sleep(Duration::from_millis(50));
            };
            assert!(status.success(), "worker {id}: {status}\n{}", self.log_text());
        }
    }
}

/// The fragment numbers `serve` gives the clip (it numbers a plain file's fragments itself),
/// once the live stream has them all: `served` is when the server started.
fn fragment_numbers(url: &str, served: Instant) -> Vec<String> {
    let end = served + Duration::from_millis(500 * FRAGMENTS as u64 + 1000);
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    let out = bin()
        .args(["list-fragments", "--endpoint-url", url, "--stream-name", "cam-01", "--sorted"])
        .args([
            "--fragment-selector",
            r#"{"FragmentSelectorType":"SERVER_TIMESTAMP","TimestampRange":{"StartTimestamp":0,"EndTimestamp":4102444800}}"#,
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["Fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FragmentNumber"].as_str().unwrap().to_owned())
        .collect()
}

/// The whole scenario on one store.
fn fleet_survives_a_killed_worker(store: String) {
    let dir = temp_dir(if store.starts_with("sqlite") { "sqlite" } else { "postgres" });
    let clip = clip(&dir);
    let (_server, url) = serve(&clip);
    let served = Instant::now();
    let mut fleet =
        Fleet { store, url, workers: HashMap::new(), lines: Arc::default(), log: Arc::default(), lives: 0 };
    for id in ["w1", "w2", "w3"] {
        fleet.start(id);
    }
    // Balanced: 10 each.
    fleet.wait_for_shares(&[("w1", 10), ("w2", 10), ("w3", 10)], Duration::from_secs(20));

    // Mid-stream (live: a fragment every 500 ms for 30 s), w2 dies.
    std::thread::sleep(Duration::from_secs(4));
    let w2_life = fleet.workers["w2"].1;
    fleet.signal("w2", "KILL");
    let killed = Instant::now();
    let _ = fleet.workers.get_mut("w2").unwrap().0.0.wait();
    // Its last checkpoints, as it left them (nobody else may write them before taking the
    // leases, which are valid for up to the lease time still).
    let status = fleet.status();
    let mut dead_checkpoint: BTreeMap<String, Option<String>> = BTreeMap::new();
    for s in status["streams"].as_array().unwrap() {
        if s["last_owner"] == "w2" {
            dead_checkpoint.insert(
                s["stream"].as_str().unwrap().to_owned(),
                s["checkpoint"]["fragment_number"].as_str().map(str::to_owned),
            );
        }
    }
    assert_eq!(dead_checkpoint.len(), 10, "{status}");

    // The survivors take its streams: 15 each, within the lease time (plus the time to read
    // the status: a poll every 100 ms, a process start each).
    fleet.wait_for_shares(&[("w1", 15), ("w3", 15)], Duration::from_secs(15));
    // When each of its streams was taken: the survivors say so on stderr as they take it
    // (read here as it is written; the store can show the take a moment before the line is
    // printed and read, so wait for the lines, within a bound).
    let deadline = Instant::now() + Duration::from_secs(5);
    let all_logged = || {
        let log = fleet.log.lock().unwrap();
        dead_checkpoint
            .keys()
            .all(|s| log.iter().any(|(at, l)| *at > killed && l.contains(&format!(": took {s}"))))
    };
    while Instant::now() < deadline && !all_logged() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = {
        let log = fleet.log.lock().unwrap();
        dead_checkpoint
            .keys()
            .map(|s| {
                let taken = log
                    .iter()
                    .find(|(at, l)| *at > killed && l.contains(&format!(": took {s}")))
                    .unwrap_or_else(|| panic!("nobody took {s}"));
                taken.0 - killed
            })
            .max()
            .unwrap()
    };
    eprintln!(
        "{}: the last stream of the dead worker taken {took:?} after the kill (lease {LEASE_SECS} s)",
        fleet.store
    );
    // Its leases run out at most one lease time after the kill (it renewed before dying);
    // the survivors wake for that moment. Allow half a second for a loaded machine.
    assert!(
        took <= Duration::from_secs_f64(LEASE_SECS + 0.5),
        "taken {took:?} after the kill (lease {LEASE_SECS} s)"
    );
    // And they resume them: each dead stream's next fragment within the lease time.
    let deadline = killed + Duration::from_secs_f64(LEASE_SECS + 3.0);
    loop {
        let resumed: BTreeSet<String> = fleet
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.at > killed && l.worker != "w2" && dead_checkpoint.contains_key(&l.stream))
            .map(|l| l.stream.clone())
            .collect();
        if resumed.len() == dead_checkpoint.len() {
            eprintln!("{}: every stream resumed {:?} after the kill", fleet.store, killed.elapsed());
            break;
        }
        assert!(Instant::now() < deadline, "resumed {resumed:?} of {:?}", dead_checkpoint.keys());
        std::thread::sleep(Duration::from_millis(50));
    }

    // w2 comes back and gets its share again.
    fleet.start("w2");
    fleet.wait_for_shares(&[("w1", 10), ("w2", 10), ("w3", 10)], Duration::from_secs_f64(LEASE_SECS * 4.0));

    let numbers = fragment_numbers(&fleet.url, served);
    assert_eq!(numbers.len(), FRAGMENTS);
    fleet.wait_for_all(&numbers, Duration::from_secs(60));
    fleet.stop_all();
    // After Ctrl-C every lease is free.
    let status = fleet.status();
    assert!(status["streams"].as_array().unwrap().iter().all(|s| s["worker"].is_null()), "{status}");
    assert!(status["workers"].as_array().unwrap().is_empty(), "{status}");

    let lines = fleet.lines.lock().unwrap().clone();
    let index: HashMap<&str, usize> = numbers.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let mut seen: BTreeMap<(String, usize), Vec<&Line>> = BTreeMap::new();
    let mut last: HashMap<(usize, &str), usize> = HashMap::new();
    for l in &lines {
        let i = *index.get(l.fragment.as_str()).unwrap_or_else(|| panic!("unknown fragment {l:?}"));
        // In order, per worker life and stream.
        if let Some(&prev) = last.get(&(l.life, l.stream.as_str())) {
            assert!(i > prev, "{} delivered {} after {}", l.worker, i, prev);
        }
        last.insert((l.life, l.stream.as_str()), i);
        seen.entry((l.stream.clone(), i)).or_default().push(l);
    }
    // Everything, once, except the dead worker's fragments after its last checkpoints.
    for stream in 1..=STREAMS {
        let stream = format!("cam-{stream:02}");
        for i in 0..FRAGMENTS {
            let by = seen.get(&(stream.clone(), i)).unwrap_or_else(|| panic!("{stream} fragment {i} lost"));
            if by.len() == 1 {
                continue;
            }
            assert_eq!(by.len(), 2, "{stream} fragment {i} delivered {} times", by.len());
            let checkpoint = dead_checkpoint.get(&stream).unwrap_or_else(|| {
                panic!("{stream} fragment {i} delivered twice, not a dead worker's stream")
            });
            let after = checkpoint.as_ref().map_or(0, |c| index[c.as_str()] + 1);
            assert!(i >= after, "{stream} fragment {i} delivered twice, at or before the checkpoint {after}");
            assert!(
                by.iter().any(|l| l.life == w2_life),
                "{stream} fragment {i} twice, but not by the dead worker"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sqlite_fleet_survives_a_killed_worker() {
    let dir = temp_dir("sqlite-store");
    fleet_survives_a_killed_worker(format!("sqlite:{}", dir.join("fleet.db").display()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn postgres_fleet_survives_a_killed_worker() {
    let Some(cluster) = kvs_testkit::postgres::shared() else { return };
    fleet_survives_a_killed_worker(cluster.fresh_database());
}

/// A worker paused past its lease (SIGSTOP) loses its streams to the others; when it runs
/// again it delivers nothing more of them and its checkpoints are refused.
fn paused_worker_is_fenced(store: String) {
    let dir = temp_dir(if store.starts_with("sqlite") { "fence-sqlite" } else { "fence-postgres" });
    let clip = clip(&dir);
    let (_server, url) = serve(&clip);
    let mut fleet =
        Fleet { store, url, workers: HashMap::new(), lines: Arc::default(), log: Arc::default(), lives: 0 };
    fleet.start("a");
    fleet.start("b");
    fleet.wait_for_shares(&[("a", 15), ("b", 15)], Duration::from_secs(20));
    let a_streams = fleet.holders()["a"].clone();
    std::thread::sleep(Duration::from_secs(2));
    fleet.signal("a", "STOP");
    // b takes everything once a's leases expire.
    fleet.wait_for_shares(&[("b", 30)], Duration::from_secs_f64(LEASE_SECS * 3.0));
    // Let b checkpoint a's former streams.
    std::thread::sleep(Duration::from_secs(2));
    let before: BTreeMap<String, Value> = fleet.status()["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stream"].as_str().unwrap().to_owned(), s["checkpoint"].clone()))
        .collect();
    // Taken before the signal: a may print its first lines before this thread runs again.
    let resumed = Instant::now();
    fleet.signal("a", "CONT");
    // a notices, stops those streams, and the fleet rebalances to 15/15.
    fleet.wait_for_shares(&[("a", 15), ("b", 15)], Duration::from_secs_f64(LEASE_SECS * 4.0));
    // Each of a's old leases is found lost when a renews it, which may come after the new
    // shares are taken (on a loaded machine, seconds after): wait for every report, within
    // a bound.
    let deadline = Instant::now() + Duration::from_secs_f64(LEASE_SECS * 4.0);
    let reported = |s: &String| {
        fleet
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|(at, l)| *at >= resumed && l.contains(&format!("lost the lease of {s}")))
    };
    while Instant::now() < deadline && !a_streams.iter().all(reported) {
        std::thread::sleep(Duration::from_millis(100));
    }
    {
        let log = fleet.log.lock().unwrap();
        for s in &a_streams {
            assert!(
                log.iter().any(|(at, l)| *at >= resumed && l.contains(&format!("lost the lease of {s}"))),
                "a did not report losing {s}\n{}",
                log.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n")
            );
        }
    }
    // Nothing of a's old streams came from a's old leases after it ran again: any line of
    // them from a after resuming is from a lease it took again later (after b handed the
    // stream back), so it must continue after b's checkpoint, never repeat one before it.
    let lines = fleet.lines.lock().unwrap().clone();
    for s in &a_streams {
        let b_last = before[s]["fragment_number"].as_str().map(str::to_owned);
        let from_a: Vec<&Line> =
            lines.iter().filter(|l| l.at >= resumed && l.worker == "a" && &l.stream == s).collect();
        if let (Some(b_last), Some(first)) = (b_last, from_a.first()) {
            let b_last = kvs_chunk::FragmentNumber::new(b_last);
            let first = kvs_chunk::FragmentNumber::new(first.fragment.clone());
            assert!(first > b_last, "{s}: a delivered {first} after b had checkpointed {b_last}");
        }
    }
    fleet.stop_all();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sqlite_paused_worker_is_fenced() {
    let dir = temp_dir("fence-sqlite-store");
    paused_worker_is_fenced(format!("sqlite:{}", dir.join("fleet.db").display()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn postgres_paused_worker_is_fenced() {
    let Some(cluster) = kvs_testkit::postgres::shared() else { return };
    paused_worker_is_fenced(cluster.fresh_database());
}

#[test]
fn status_of_an_empty_store_and_bad_urls() {
    let dir = temp_dir("status");
    let store = format!("sqlite:{}", dir.join("s.db").display());
    let out = bin().args(["fleet", "status", "--store", &store]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("0 worker(s) alive, 0 stream(s)"));
    let out = bin().args(["fleet", "status", "--store", "mysql://x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a store URL"), "{out:?}");
    let out = bin()
        .args(["fleet", "run", "--store", &store, "--worker-id", "w", "--stream", "x", "y", "--json"])
        .args(["--lease-secs", "0.01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lease-secs"), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--output-dir`: each fragment to DIR/STREAM/<number>_<time>.mkv, the document as served
/// (one complete fragment, the right number); a second run resumes after the checkpoints and
/// writes nothing again.
#[test]
fn output_dir_holds_every_fragment_once() {
    let dir = temp_dir("output-dir");
    let (_server, url) = serve_streams(
        &format!("cam-{{1..3}}={}", common::testdata().join("getmedia_basic.mkv").display()),
        false,
    );
    let store = format!("sqlite:{}", dir.join("fleet.db").display());
    let out_dir = dir.join("archive");
    let files = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map(|r| {
                r.flat_map(|e| std::fs::read_dir(e.unwrap().path()).unwrap())
                    .map(|e| e.unwrap().path())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    for run in 0..2 {
        let mut worker = Proc(
            bin()
                .args(["fleet", "run", "--store", &store, "--worker-id", "w", "--all-streams"])
                .args(["--endpoint-url", &url, "--start-selector", "StartSelectorType=EARLIEST"])
                .arg("--output-dir")
                .arg(&out_dir)
                .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
                .env("AWS_SECRET_ACCESS_KEY", "local")
                .env("AWS_REGION", "us-east-1")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stdout = BufReader::new(worker.0.stdout.take().unwrap());
        let printed = Arc::new(Mutex::new(Vec::new()));
        let p = Arc::clone(&printed);
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                p.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        if run == 0 {
            while files(&out_dir).len() < 15 {
                assert!(Instant::now() < deadline, "{:?}", files(&out_dir));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // Give it time to (not) write more, then Ctrl-C.
        std::thread::sleep(Duration::from_secs(2));
        let pid = worker.0.id().to_string();
        assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        let status = worker.0.wait().unwrap();
        assert!(status.success(), "{status}");
        let printed = printed.lock().unwrap().clone();
        assert_eq!(printed.len(), if run == 0 { 15 } else { 0 }, "run {run}: {printed:?}");
    }
    let files = files(&out_dir);
    assert_eq!(files.len(), 15, "{files:?}");
    let want: Vec<Value> = bin()
        .args(["fragments", "--json"])
        .arg(common::testdata().join("getmedia_basic.mkv"))
        .output()
        .map(|o| {
            String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
        })
        .unwrap();
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(!name.starts_with('.'), "a temporary file left: {name}");
        let out = bin().args(["fragments", "--json"]).arg(f).output().unwrap();
        assert!(out.status.success(), "{name}");
        let got: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got.len(), 1, "{name}");
        let number = got[0]["fragment_number"].as_str().unwrap();
        assert!(name.starts_with(number), "{name} holds fragment {number}");
        assert_eq!(got[0]["complete"], true, "{name}");
        let original = want.iter().find(|w| w["fragment_number"] == number).unwrap();
        assert_eq!(got[0]["frames"], original["frames"], "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
