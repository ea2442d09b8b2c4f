//! The lease store, the same tests on both databases: `sqlite::NAME` on a file in a temporary
//! folder, `postgres::NAME` on a throwaway PostgreSQL server (kvs-testkit's shared cluster,
//! one fresh database per test; skipped, visibly, when PostgreSQL is not installed and CI is
//! not set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![allow(clippy::arithmetic_side_effects, missing_docs)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kvs_fleet::{Lease, LeaseStore, Store, StoreError};
use kvs_sdk::{Checkpoint, Position, StartSelector, StreamId};

/// A folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kvs-fleet-store-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn position(stream: &str, fragment: &str, server_ms: i64) -> Position {
    let mut p = Position::new(StreamId::name(stream), StartSelector::Earliest);
    p.last = Some(Checkpoint {
        fragment_number: Some(fragment.to_owned()),
        continuation_token: Some(format!("{fragment}-token")),
        server_timestamp_ms: Some(server_ms),
        producer_timestamp_ms: Some(server_ms - 7),
    });
    p
}

fn assert_lost<T: std::fmt::Debug>(r: Result<T, StoreError>, lease: &Lease) {
    match r {
        Err(StoreError::LeaseLost { stream, worker, counter }) => {
            assert_eq!(
                (stream.as_str(), worker.as_str(), counter),
                (&*lease.stream, &*lease.worker, lease.counter)
            );
        }
        other => panic!("expected LeaseLost for {lease:?}, got {other:?}"),
    }
}

/// The test bodies: each gets the URL of a fresh, empty store.
mod bodies {
    use super::*;

    pub async fn clock_is_epoch_ms(url: String) {
        let store = Store::connect(&url).await.unwrap();
        let (before, now, after) = (wall_ms(), store.now_ms().await.unwrap(), wall_ms());
        // The database runs on this machine: its clock is ours, give or take a second.
        assert!(now > before - 1000 && now < after + 1000, "{before} {now} {after}");
        let later = store.now_ms().await.unwrap();
        assert!(later >= now);
    }

    pub async fn add_streams_is_idempotent(url: String) {
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.add_streams(&names(&["b", "a"])).await.unwrap(), 2);
        assert_eq!(store.add_streams(&names(&["b", "c"])).await.unwrap(), 1);
        assert_eq!(store.add_streams(&[]).await.unwrap(), 0);
        let leases = store.leases().await.unwrap();
        let streams: Vec<&str> = leases.iter().map(|l| l.stream.as_str()).collect();
        assert_eq!(streams, ["a", "b", "c"]);
        for l in &leases {
            assert_eq!((l.owner.as_deref(), l.expires_ms, l.counter), (None, 0, 0));
            assert!(l.checkpoint.is_none());
        }
        // More than one INSERT's worth (they go in chunks), half of them new.
        let many: Vec<String> = (0..1500).map(|i| format!("cam-{i:04}")).collect();
        assert_eq!(store.add_streams(&many[..750]).await.unwrap(), 750);
        assert_eq!(store.add_streams(&many).await.unwrap(), 750);
        assert_eq!(store.leases().await.unwrap().len(), 1503);
        assert_eq!(store.remove_streams(&names(&["a", "nope"])).await.unwrap(), 1);
        assert_eq!(store.leases().await.unwrap().len(), 1502);
    }

    pub async fn take_is_exclusive_until_expiry(url: String) {
        let store = Store::connect(&url).await.unwrap();
        store.add_streams(&names(&["s"])).await.unwrap();
        let before = store.now_ms().await.unwrap();
        let l1 = store.take("s", "w1", 0, Duration::from_millis(1500)).await.unwrap().unwrap();
        assert_eq!((l1.stream.as_str(), l1.worker.as_str(), l1.counter), ("s", "w1", 1));
        assert!(l1.expires_ms >= before + 1500 && l1.expires_ms <= store.now_ms().await.unwrap() + 1500);
        // Valid and someone else's: not with the counter read now, nor with an old one.
        assert_eq!(store.take("s", "w2", 1, Duration::from_secs(10)).await.unwrap(), None);
        assert_eq!(store.take("s", "w2", 0, Duration::from_secs(10)).await.unwrap(), None);
        let row = &store.leases().await.unwrap()[0];
        assert_eq!((row.owner.as_deref(), row.counter, row.expires_ms), (Some("w1"), 1, l1.expires_ms));
        // Expired: taken, counter raised.
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert_eq!(store.take("s", "w2", 0, Duration::from_secs(10)).await.unwrap(), None, "stale counter");
        let l2 = store.take("s", "w2", 1, Duration::from_secs(10)).await.unwrap().unwrap();
        assert_eq!((l2.worker.as_str(), l2.counter), ("w2", 2));
        // The holder may take its own lease again (counter raised again).
        let l3 = store.take("s", "w2", 2, Duration::from_secs(10)).await.unwrap().unwrap();
        assert_eq!((l3.worker.as_str(), l3.counter), ("w2", 3));
        match store.take("nope", "w1", 0, Duration::from_secs(1)).await {
            Err(StoreError::UnknownStream(s)) => assert_eq!(s, "nope"),
            other => panic!("{other:?}"),
        }
    }

    pub async fn renew_by_the_holder(url: String) {
        let store = Store::connect(&url).await.unwrap();
        store.add_streams(&names(&["s"])).await.unwrap();
        let l1 = store.take("s", "w1", 0, Duration::from_secs(1)).await.unwrap().unwrap();
        let renewed = store.renew(&l1, Duration::from_secs(60)).await.unwrap();
        assert_eq!((renewed.counter, &*renewed.worker), (1, "w1"));
        assert!(renewed.expires_ms >= l1.expires_ms + 59_000, "{renewed:?} {l1:?}");
        let row = &store.leases().await.unwrap()[0];
        assert_eq!((row.owner.as_deref(), row.counter, row.expires_ms), (Some("w1"), 1, renewed.expires_ms));
        // Renewing with the earlier copy of the lease is fine too (same owner and counter).
        store.renew(&l1, Duration::from_secs(60)).await.unwrap();
        // Not the holder: refused.
        let forged = Lease { worker: "w2".into(), ..l1.clone() };
        assert_lost(store.renew(&forged, Duration::from_secs(60)).await, &forged);
        assert_lost(store.checkpoint(&forged, &position("s", "1", 5)).await, &forged);
        assert_lost(store.release(&forged).await, &forged);
        assert!(store.leases().await.unwrap()[0].checkpoint.is_none());
    }

    pub async fn old_holder_is_fenced_off(url: String) {
        let store = Store::connect(&url).await.unwrap();
        store.add_streams(&names(&["s"])).await.unwrap();
        // ttl 0: expired at once, but nobody took it yet, so its holder still writes.
        let old = store.take("s", "w1", 0, Duration::ZERO).await.unwrap().unwrap();
        let first = position("s", "100", 1_000);
        store.checkpoint(&old, &first).await.unwrap();
        let old = store.renew(&old, Duration::ZERO).await.unwrap();
        let new = store.take("s", "w2", 1, Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!(new.counter, 2);
        // Every write of the old holder is refused and writes nothing.
        assert_lost(store.renew(&old, Duration::from_secs(60)).await, &old);
        assert_lost(store.checkpoint(&old, &position("s", "200", 2_000)).await, &old);
        assert_lost(store.release(&old).await, &old);
        let row = &store.leases().await.unwrap()[0];
        assert_eq!((row.owner.as_deref(), row.counter, row.expires_ms), (Some("w2"), 2, new.expires_ms));
        let cp = row.checkpoint.as_ref().unwrap();
        assert_eq!((&cp.position, cp.worker.as_str()), (&first, "w1"));
        // Even when the old holder's worker takes the stream back, the old lease stays dead.
        store.release(&new).await.unwrap();
        let again = store.take("s", "w1", 2, Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!(again.counter, 3);
        assert_lost(store.checkpoint(&old, &position("s", "300", 3_000)).await, &old);
        store.checkpoint(&again, &position("s", "400", 4_000)).await.unwrap();
    }

    pub async fn checkpoint_round_trips_the_position(url: String) {
        let store = Store::connect(&url).await.unwrap();
        store.add_streams(&names(&["cam-1", "cam-2"])).await.unwrap();
        let lease = store.take("cam-1", "w1", 0, Duration::from_secs(60)).await.unwrap().unwrap();
        let p = position("cam-1", "91343852333181432392682062607743920146159169392", 1_511_852_109_126);
        let before = store.now_ms().await.unwrap();
        store.checkpoint(&lease, &p).await.unwrap();
        let after = store.now_ms().await.unwrap();
        let leases = store.leases().await.unwrap();
        let cp = leases[0].checkpoint.as_ref().unwrap();
        assert_eq!(cp.position, p);
        // One row reads the same as the listing.
        assert_eq!(store.lease("cam-1").await.unwrap().as_ref(), Some(&leases[0]));
        assert_eq!(store.lease("cam-2").await.unwrap().as_ref(), Some(&leases[1]));
        assert_eq!(store.lease("cam-9").await.unwrap(), None);
        assert_eq!(cp.worker, "w1");
        assert!(cp.written_ms >= before && cp.written_ms <= after, "{before} {} {after}", cp.written_ms);
        assert!(leases[1].checkpoint.is_none());
        // The stored text is the position's JSON; the status columns are filled.
        let stored = status(&store, "cam-1").await;
        let json: serde_json::Value = serde_json::from_str(stored.0.as_deref().unwrap()).unwrap();
        assert_eq!(json, serde_json::to_value(&p).unwrap());
        assert_eq!(
            (stored.1.as_deref(), stored.2, stored.3),
            (
                Some("91343852333181432392682062607743920146159169392"),
                Some(1_511_852_109_126),
                Some(1_511_852_109_119)
            )
        );
        // A position before anything was delivered: no fragment, the columns emptied.
        let empty = Position::new(StreamId::name("cam-1"), StartSelector::Now);
        store.checkpoint(&lease, &empty).await.unwrap();
        assert_eq!(store.leases().await.unwrap()[0].checkpoint.as_ref().unwrap().position, empty);
        let stored = status(&store, "cam-1").await;
        assert_eq!((stored.1, stored.2, stored.3), (None, None, None));
    }

    /// `checkpoint`, `fragment_number`, `server_timestamp_ms`, `producer_timestamp_ms`.
    async fn status(
        store: &Store,
        stream: &str,
    ) -> (Option<String>, Option<String>, Option<i64>, Option<i64>) {
        let sql = "SELECT checkpoint, fragment_number, server_timestamp_ms, producer_timestamp_ms \
                   FROM kvs_fleet_streams WHERE stream = $1";
        match store {
            Store::Sqlite(pool) => sqlx::query_as(sql).bind(stream).fetch_one(pool).await.unwrap(),
            Store::Postgres(pool) => sqlx::query_as(sql).bind(stream).fetch_one(pool).await.unwrap(),
            _ => unreachable!(),
        }
    }

    pub async fn release_frees_at_once(url: String) {
        let store = Store::connect(&url).await.unwrap();
        store.add_streams(&names(&["s"])).await.unwrap();
        let l1 = store.take("s", "w1", 0, Duration::from_secs(600)).await.unwrap().unwrap();
        store.release(&l1).await.unwrap();
        let row = &store.leases().await.unwrap()[0];
        assert_eq!((row.owner.as_deref(), row.expires_ms, row.counter), (None, 0, 1));
        assert_lost(store.release(&l1).await, &l1);
        assert_lost(store.renew(&l1, Duration::from_secs(1)).await, &l1);
        let l2 = store.take("s", "w2", 1, Duration::from_secs(600)).await.unwrap().unwrap();
        assert_eq!(l2.counter, 2);
        assert_lost(store.checkpoint(&l1, &position("s", "1", 1)).await, &l1);
    }

    pub async fn heartbeat_workers_leave(url: String) {
        let store = Store::connect(&url).await.unwrap();
        assert!(store.workers().await.unwrap().is_empty());
        let before = store.now_ms().await.unwrap();
        let at = store.heartbeat("w2", Duration::from_secs(60)).await.unwrap();
        assert!(at >= before && at <= store.now_ms().await.unwrap());
        store.heartbeat("w1", Duration::from_secs(60)).await.unwrap();
        // Expired at once: not listed.
        store.heartbeat("w3", Duration::ZERO).await.unwrap();
        let workers = store.workers().await.unwrap();
        let ids: Vec<&str> = workers.iter().map(|w| w.worker.as_str()).collect();
        assert_eq!(ids, ["w1", "w2"]);
        assert!(workers[1].expires_ms >= at + 60_000 && workers[1].expires_ms <= at + 61_000);
        // A heartbeat renews.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let at2 = store.heartbeat("w2", Duration::from_secs(120)).await.unwrap();
        assert!(at2 > at);
        let w2 = store.workers().await.unwrap().into_iter().find(|w| w.worker == "w2").unwrap();
        assert_eq!(w2.expires_ms, at2 + 120_000);
        // A short-lived one drops out when it expires; one that leaves at once.
        store.heartbeat("w3", Duration::from_millis(1500)).await.unwrap();
        assert_eq!(store.workers().await.unwrap().len(), 3);
        store.leave("w1").await.unwrap();
        store.leave("nobody").await.unwrap();
        tokio::time::sleep(Duration::from_millis(1600)).await;
        let ids: Vec<String> = store.workers().await.unwrap().into_iter().map(|w| w.worker).collect();
        assert_eq!(ids, ["w2"]);
    }

    pub async fn concurrent_takers_one_wins(url: String) {
        // Several pools (as several processes would have) each with several tasks, all taking
        // the same stream with the same counter at once.
        let first = Store::connect(&url).await.unwrap();
        first.add_streams(&names(&["s"])).await.unwrap();
        let mut stores = vec![first];
        for _ in 0..3 {
            stores.push(Store::connect(&url).await.unwrap());
        }
        for round in 0..3_i64 {
            let start = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len() * 6));
            let mut tasks = Vec::new();
            for (s, store) in stores.iter().enumerate() {
                for t in 0..6 {
                    let (store, start) = (store.clone(), start.clone());
                    tasks.push(tokio::spawn(async move {
                        start.wait().await;
                        store.take("s", &format!("w{s}-{t}"), round, Duration::from_secs(60)).await.unwrap()
                    }));
                }
            }
            let mut won = Vec::new();
            for task in tasks {
                won.extend(task.await.unwrap());
            }
            assert_eq!(won.len(), 1, "round {round}: {won:?}");
            assert_eq!(won[0].counter, round + 1);
            let row = &stores[0].leases().await.unwrap()[0];
            assert_eq!((row.owner.as_deref(), row.counter), (Some(won[0].worker.as_str()), round + 1));
            // Free it for the next round.
            stores[0].release(&won[0]).await.unwrap();
        }
        for store in &stores {
            store.close().await;
        }
    }

    pub async fn migrations_run_twice(url: String) {
        // Two connecting at once to a new store, then one more later: all fine, one schema.
        let (a, b) = tokio::join!(Store::connect(&url), Store::connect(&url));
        let (a, b) = (a.unwrap(), b.unwrap());
        a.add_streams(&names(&["s"])).await.unwrap();
        a.close().await;
        let c = Store::connect(&url).await.unwrap();
        assert_eq!(c.leases().await.unwrap().len(), 1);
        assert_eq!(b.leases().await.unwrap().len(), 1);
        assert_eq!(b.kind(), c.kind());
    }

    pub async fn processes_race_on_one_store(url: String) {
        // Separate processes (this test binary again, running `race_child`), each with its own
        // connections, take the same streams at the same moments: one winner per stream.
        const PROCESSES: usize = 5;
        const ROUNDS: i64 = 4;
        let store = Store::connect(&url).await.unwrap();
        let streams: Vec<String> = (0..ROUNDS).map(|r| format!("s{r}")).collect();
        store.add_streams(&streams).await.unwrap();
        let start_at = wall_ms() + 2_000;
        let children: Vec<_> = (0..PROCESSES)
            .map(|p| {
                std::process::Command::new(std::env::current_exe().unwrap())
                    .args(["--exact", "race_child", "--nocapture", "--test-threads=1"])
                    .env("KVS_FLEET_RACE_URL", &url)
                    .env("KVS_FLEET_RACE_ID", p.to_string())
                    .env("KVS_FLEET_RACE_START_MS", start_at.to_string())
                    .env("KVS_FLEET_RACE_ROUNDS", ROUNDS.to_string())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut won: Vec<(String, String)> = Vec::new();
        for child in children {
            let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(out.status.success(), "child failed: {text}");
            assert!(text.contains("test result: ok. 1 passed"), "{text}");
            // (libtest's own output may share a line with ours)
            for rest in text.split("KVS-WON ").skip(1) {
                let mut words = rest.split_whitespace();
                won.push((words.next().unwrap().to_owned(), words.next().unwrap().to_owned()));
            }
        }
        won.sort();
        let won_streams: Vec<&str> = won.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(won_streams, streams.iter().map(String::as_str).collect::<Vec<_>>(), "{won:?}");
        for (row, (stream, worker)) in store.leases().await.unwrap().iter().zip(&won) {
            assert_eq!((&row.stream, row.owner.as_ref(), row.counter), (stream, Some(worker), 1));
        }
    }
}

/// The SQLite store's URL: a new file in a new temporary folder (removed with the guard).
fn sqlite_url() -> (String, TempDir) {
    let dir = TempDir::new();
    let url = format!("sqlite:{}", dir.0.join("fleet.db").display());
    (url, dir)
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (url, _dir) = super::sqlite_url();
                    super::bodies::$name(url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(cluster) = kvs_testkit::postgres::shared() else { return };
                    super::bodies::$name(cluster.fresh_database()).await;
                }
            )*
        }
    };
}

on_both_stores!(
    clock_is_epoch_ms,
    add_streams_is_idempotent,
    take_is_exclusive_until_expiry,
    renew_by_the_holder,
    old_holder_is_fenced_off,
    checkpoint_round_trips_the_position,
    release_frees_at_once,
    heartbeat_workers_leave,
    concurrent_takers_one_wins,
    migrations_run_twice,
    processes_race_on_one_store,
);

/// Workers starting together on a new SQLite file: eight connect at once, twenty times over,
/// and every one connects (switching a new file to WAL can fail at once with "database is
/// locked", which SQLite's busy timeout does not cover; `Store::connect` tries again).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_workers_connect_together_to_a_new_file() {
    for round in 0..20 {
        let (url, _dir) = sqlite_url();
        let connects: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Store::connect(&url).await })
            })
            .collect();
        for (i, c) in connects.into_iter().enumerate() {
            let store = c.await.unwrap().unwrap_or_else(|e| panic!("round {round}, connect {i}: {e}"));
            store.close().await;
        }
    }
}

/// The child processes of `processes_race_on_one_store` (a no-op unless that test started this
/// binary): at agreed moments, four tasks take stream `sROUND`; prints `KVS-WON STREAM WORKER`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn race_child() {
    let Ok(url) = std::env::var("KVS_FLEET_RACE_URL") else { return };
    let var = |name: &str| std::env::var(name).unwrap().parse::<i64>().unwrap();
    let (id, start_at, rounds) =
        (var("KVS_FLEET_RACE_ID"), var("KVS_FLEET_RACE_START_MS"), var("KVS_FLEET_RACE_ROUNDS"));
    let store = Store::connect(&url).await.unwrap();
    for round in 0..rounds {
        let at = start_at + round * 300;
        tokio::time::sleep(Duration::from_millis((at - wall_ms()).max(0) as u64)).await;
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    let worker = format!("p{id}-{t}");
                    store.take(&format!("s{round}"), &worker, 0, Duration::from_secs(60)).await.unwrap()
                })
            })
            .collect();
        for task in tasks {
            if let Some(lease) = task.await.unwrap() {
                println!("KVS-WON {} {}", lease.stream, lease.worker);
            }
        }
    }
    store.close().await;
}

#[tokio::test]
async fn sqlite_kind_and_file() {
    let (url, dir) = sqlite_url();
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.kind(), "sqlite");
    assert!(dir.0.join("fleet.db").is_file());
    // The `sqlite://` form names the same file.
    let again = Store::connect(&format!("sqlite://{}", dir.0.join("fleet.db").display())).await.unwrap();
    store.add_streams(&names(&["s"])).await.unwrap();
    assert_eq!(again.leases().await.unwrap().len(), 1);
    // In memory: one database for the pool's connections.
    let memory = Store::connect("sqlite::memory:").await.unwrap();
    memory.add_streams(&names(&["x", "y"])).await.unwrap();
    assert_eq!(memory.leases().await.unwrap().len(), 2);
}

#[tokio::test]
async fn bad_urls_are_invalid() {
    for url in ["", "sqlite:", "sqlite://", "mysql://u@h/db", "fleet.db", "postgres://u:secret@host:port/db"]
    {
        match Store::connect(url).await {
            Err(e @ StoreError::InvalidUrl(_)) => {
                assert!(!e.to_string().contains("secret"), "{e}");
            }
            other => panic!("{url:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn unreachable_database_fails_at_once() {
    // Port 1 refuses: the connection's own error, not a pool timeout after 30 s.
    let started = std::time::Instant::now();
    match Store::connect("postgres://kvs@127.0.0.1:1/db").await {
        Err(StoreError::Database(sqlx::Error::Io(_))) => {}
        other => panic!("{:?}", other.map(|s| s.kind())),
    }
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    match Store::connect("sqlite:/nonexistent-dir/fleet.db").await {
        Err(StoreError::Database(_)) => {}
        other => panic!("{:?}", other.map(|s| s.kind())),
    }
}
