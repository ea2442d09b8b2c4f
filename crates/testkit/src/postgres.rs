//! A throwaway PostgreSQL server for tests: a fresh cluster in a temporary folder, on a free
//! loopback port, stopped and removed when the test is done (or, for the [`shared`] one, when
//! the test process exits, however it exits).
//!
//! The server binaries are the distribution's (`apt-get install postgresql` puts them in
//! `/usr/lib/postgresql/VERSION/bin`, off `PATH`), or `$KVS_PG_BIN` when set. Without them a
//! test is skipped ([`crate::skip`]: it fails under CI, where `.ci/run` installs the package).
//! PostgreSQL refuses to run as root: as root the cluster belongs to, and the server runs as,
//! the `postgres` system user the package creates.
//!
//! ```no_run
//! // One server for the whole test binary, one fresh database per test.
//! let Some(cluster) = kvs_testkit::postgres::shared() else { return };
//! let url = cluster.fresh_database(); // postgres://kvs@127.0.0.1:PORT/t1
//! # let _ = url;
//! ```

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::skip;

/// How the binaries are installed (the message of a skip).
const HOW: &str = "apt-get install -y postgresql (the server binaries in /usr/lib/postgresql/*/bin; \
                   .ci/run installs it), or set KVS_PG_BIN to a folder holding initdb and postgres";
/// The superuser of the test clusters (trust authentication, no password).
pub const USER: &str = "kvs";

/// A running PostgreSQL server of its own: stopped (fast shutdown) and its folder removed on
/// drop.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    server: Child,
    watchdog: Option<Child>,
    databases: AtomicU32,
}

/// The server binaries' folder, if there is one: `$KVS_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` with `initdb` and `postgres`, else the folder of `initdb` on
/// `PATH`.
pub fn bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("KVS_PG_BIN").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return has_both(&dir).then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let initdb = crate::find_on_path("initdb")?;
    let dir = initdb.parent()?.to_path_buf();
    has_both(&dir).then_some(dir)
}

/// The effective user id of this process (from `/proc/self/status`).
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The uid and gid of the `postgres` system user.
fn postgres_user() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).stderr(Stdio::null()).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("binding a free port: {e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("local address: {e}")).port()
}

fn temp_dir() -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("kvs-pg-{}-{seq}-{nanos}", std::process::id()))
}

impl Cluster {
    /// Creates and starts a cluster of its own, or `None` after [`skip`] when PostgreSQL is
    /// not installed (or, as root, there is no `postgres` user to run it). Panics when it is
    /// installed but does not start.
    #[track_caller]
    pub fn start() -> Option<Self> {
        let (bin, run_as) = requirements()?;
        Some(Self::start_with(bin, run_as))
    }

    fn start_with(bin: PathBuf, run_as: Option<(u32, u32)>) -> Self {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let command = |program: &Path| {
            let mut c = Command::new(program);
            c.current_dir(&dir).stdin(Stdio::null());
            if let Some((uid, gid)) = run_as {
                c.uid(uid).gid(gid);
            }
            c
        };
        if let Some((uid, gid)) = run_as {
            let status = Command::new("chown")
                .arg(format!("{uid}:{gid}"))
                .arg(&dir)
                .status()
                .unwrap_or_else(|e| panic!("running chown: {e}"));
            assert!(status.success(), "chown {uid}:{gid} {} failed", dir.display());
        }
        let data = dir.join("data");
        let out = command(&bin.join("initdb"))
            .args(["-A", "trust", "-U", USER, "--no-sync", "-E", "UTF8", "--locale=C", "-D"])
            .arg(&data)
            .output()
            .unwrap_or_else(|e| panic!("running initdb: {e}"));
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            panic!(
                "initdb failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let log_path = dir.join("postgres.log");
        for _attempt in 0..5 {
            let port = free_port();
            let log = std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("creating the log: {e}"));
            let server = command(&bin.join("postgres"))
                .arg("-D")
                .arg(&data)
                .arg("-p")
                .arg(port.to_string())
                .arg("-k")
                .arg(&dir)
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args([
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "shared_buffers=16MB",
                ])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting postgres: {e}"));
            let mut server = server;
            let watchdog = spawn_watchdog(server.id(), &dir);
            match wait_ready(&mut server, &log_path) {
                Ok(()) => {
                    return Self { dir, bin, port, server, watchdog, databases: AtomicU32::new(0) };
                }
                Err(log) => {
                    let _ = server.kill();
                    let _ = server.wait();
                    if let Some(mut w) = watchdog {
                        let _ = w.kill();
                        let _ = w.wait();
                    }
                    // Another test took the port between our probe and the server's bind.
                    if log.contains("could not bind") || log.contains("already in use") {
                        continue;
                    }
                    let _ = std::fs::remove_dir_all(&dir);
                    panic!("postgres did not start:\n{log}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("postgres found no free port in 5 attempts");
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of its `postgres` database, as superuser [`USER`].
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of database `name`.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a new empty database (named `t1`, `t2`, ...) and returns its URL: tests sharing
    /// the cluster each get their own tables.
    pub fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        let name = format!("t{n}");
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, &name])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running createdb: {e}"));
        assert!(out.status.success(), "createdb {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        self.database_url(&name)
    }
}

/// A shell that stops the server and removes the folder once this process is gone
/// (tests killed, or [`shared`]'s cluster that is never dropped).
fn spawn_watchdog(server: u32, dir: &Path) -> Option<Child> {
    let script = r#"while [ -d "/proc/$1" ]; do sleep 0.3; done
kill -INT "$2" 2>/dev/null
i=0
while [ -d "/proc/$2" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "$2" 2>/dev/null
rm -rf "$3""#;
    Command::new("sh")
        .args(["-c", script, "kvs-pg-watchdog"])
        .arg(std::process::id().to_string())
        .arg(server.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// Waits until the server accepts connections; the log if it exited or took too long.
fn wait_ready(server: &mut Child, log_path: &Path) -> Result<(), String> {
    let read_log = || {
        let mut s = String::new();
        std::fs::File::open(log_path).and_then(|mut f| f.read_to_string(&mut s)).ok();
        s
    };
    let started = Instant::now();
    loop {
        if read_log().contains("ready to accept connections") {
            return Ok(());
        }
        if let Ok(Some(status)) = server.try_wait() {
            return Err(format!("postgres exited ({status}):\n{}", read_log()));
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!("postgres not ready after 60 s:\n{}", read_log()));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Fast shutdown (clients disconnected, no waiting for them), then the hard way.
        let pid = self.server.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).stderr(Stdio::null()).status();
        let started = Instant::now();
        while matches!(self.server.try_wait(), Ok(None)) && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.server.try_wait(), Ok(None)) {
            let _ = self.server.kill();
            let _ = self.server.wait();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The binaries and, as root, the user to run them as; `None` after [`skip`] when either is
/// missing. Records the use of PostgreSQL otherwise.
#[track_caller]
fn requirements() -> Option<(PathBuf, Option<(u32, u32)>)> {
    let Some(bin) = bin_dir() else {
        skip("PostgreSQL's initdb and postgres", HOW);
        return None;
    };
    let run_as = if euid() == Some(0) {
        let Some(ids) = postgres_user() else {
            skip("the `postgres` system user (PostgreSQL does not run as root)", HOW);
            return None;
        };
        Some(ids)
    } else {
        None
    };
    crate::record_use("postgres");
    Some((bin, run_as))
}

/// One cluster for the whole test binary (started by the first test that asks), or `None`
/// after [`skip`]. It is never dropped: its watchdog stops it and removes its folder when the
/// test process exits. Give each test its own database with [`Cluster::fresh_database`].
#[track_caller]
pub fn shared() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    if let Some(cluster) = SHARED.get() {
        crate::record_use("postgres");
        return Some(cluster);
    }
    let (bin, run_as) = requirements()?;
    Some(SHARED.get_or_init(|| Cluster::start_with(bin, run_as)))
}
