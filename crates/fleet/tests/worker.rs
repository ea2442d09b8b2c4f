//! The worker against an in-process kvs-local, on SQLite and PostgreSQL: every fragment of
//! every stream once and in order, checkpoints as they go, resume after a checkpoint, fencing
//! of a worker whose lease was taken, hand-over on shutdown.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::BTreeMap;
use std::time::Duration;

use kvs_fleet::{FleetEvent, LeaseStore, Store, StoreError, StreamChoice, Worker, WorkerConfig};
use kvs_local::synthetic::SyntheticSpec;
use kvs_local::{LoadOptions, LocalKvs, RunningServer, Source};
use kvs_sdk::{KvsClient, StartSelector};

const STREAMS: usize = 4;
const FRAGMENTS: usize = 12;

async fn server() -> RunningServer {
    let mkv = SyntheticSpec {
        clusters: FRAGMENTS,
        frames_per_cluster: 3,
        frame_size: 50,
        ..SyntheticSpec::default()
    }
    .plain_mkv()
    .unwrap();
    let source = Source::from_bytes(mkv, &LoadOptions::default()).unwrap();
    let mut b = LocalKvs::builder();
    for i in 0..STREAMS {
        b = b.stream(format!("s{i}"), source.clone());
    }
    b.bind("127.0.0.1:0").await.unwrap()
}

fn client(server: &RunningServer) -> KvsClient {
    KvsClient::builder()
        .endpoint_url(server.url())
        .region("us-east-1")
        .static_credentials("AKIDLOCAL", "secret", None)
        .build()
        .unwrap()
}

fn names() -> Vec<String> {
    (0..STREAMS).map(|i| format!("s{i}")).collect()
}

fn config(id: &str) -> WorkerConfig {
    WorkerConfig::new(id, StreamChoice::Named(names()))
        .lease(Duration::from_secs(2))
        .start(StartSelector::Earliest)
        .checkpoint_every(Some(1))
}

/// Reads fragments until `want` per stream arrived (or the time runs out).
async fn read(worker: &mut Worker<Store>, want: usize) -> BTreeMap<String, Vec<String>> {
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.len() < STREAMS || got.values().any(|v| v.len() < want) {
        let event =
            tokio::time::timeout_at(deadline, worker.next()).await.expect("timed out").expect("ended");
        if let FleetEvent::Fragment(f) = event {
            let n = f.fragment.metadata.as_ref().unwrap().fragment_number.as_ref().unwrap().to_string();
            assert_eq!(f.position.fragment_number().unwrap().to_string(), n);
            got.entry(f.stream.clone()).or_default().push(n);
        }
    }
    got
}

/// A SQLite store in a fresh file, and a PostgreSQL store in a fresh database (when
/// PostgreSQL is there; kvs-testkit fails the test under CI when it is not).
async fn stores() -> Vec<Store> {
    let dir = std::env::temp_dir().join(format!("kvs-fleet-worker-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut v = vec![Store::connect(&format!("sqlite:{}", dir.join("w.db").display())).await.unwrap()];
    if let Some(cluster) = kvs_testkit::postgres::shared() {
        v.push(Store::connect(&cluster.fresh_database()).await.unwrap());
    }
    v
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(0u8)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_reads_every_stream_in_order_and_checkpoints() {
    let server = server().await;
    for store in stores().await {
        let mut worker = Worker::start(client(&server), store.clone(), config("w1")).await.unwrap();
        let got = read(&mut worker, FRAGMENTS).await;
        let all: Vec<String> =
            server.fragments("s0").unwrap().iter().map(|f| f.fragment_number.to_string()).collect();
        for (stream, numbers) in &got {
            assert_eq!(numbers, &all, "{stream}");
        }
        // The next call finishes the last fragment: its checkpoint is written.
        worker.shutdown().await;
        while worker.next().await.is_some() {}
        for row in store.leases().await.unwrap() {
            assert_eq!(row.owner, None, "{row:?}");
            let c = row.checkpoint.unwrap();
            assert_eq!(c.position.fragment_number().unwrap().to_string(), *all.last().unwrap());
            assert_eq!(c.worker, "w1");
        }
        assert!(store.workers().await.unwrap().is_empty());

        // A second worker takes every lease and resumes after the checkpoints: the streams
        // were read whole, so nothing comes again.
        let mut again = Worker::start(client(&server), store.clone(), config("w2")).await.unwrap();
        let quiet = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match again.next().await {
                    Some(FleetEvent::Fragment(f)) => return Some(f),
                    Some(_) => {}
                    None => return None,
                }
            }
        })
        .await;
        assert!(quiet.is_err(), "a fragment after the checkpoint of the whole stream: {quiet:?}");
        assert_eq!(again.streams(), names());
        again.shutdown().await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_lease_was_taken_cannot_checkpoint_and_stops_the_stream() {
    let server = server().await;
    for store in stores().await {
        let mut worker =
            Worker::start(client(&server), store.clone(), config("w1").checkpoint_every(None)).await.unwrap();
        let mut first = None;
        while first.is_none() {
            if let Some(FleetEvent::Fragment(f)) = worker.next().await {
                first = Some(f);
            }
        }
        let first = first.unwrap();
        worker.checkpoint(&first.stream, &first.position).await.unwrap();
        // Another worker takes the lease, as it would after w1 stalled past its lease.
        let row = store.leases().await.unwrap().into_iter().find(|r| r.stream == first.stream).unwrap();
        expire(&store, &first.stream).await;
        let intruder =
            store.take(&first.stream, "intruder", row.counter, Duration::from_secs(60)).await.unwrap();
        assert!(intruder.is_some());
        // w1's checkpoint is refused (fencing) and the stream stops.
        let e = worker.checkpoint(&first.stream, &first.position).await.unwrap_err();
        assert!(matches!(e, StoreError::LeaseLost { .. }), "{e}");
        let mut lost = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, worker.next()).await {
            match event {
                FleetEvent::Lost { stream } if stream == first.stream => lost = true,
                FleetEvent::Fragment(f) => {
                    assert!(!lost || f.stream != first.stream, "a fragment of a lost stream");
                }
                _ => {}
            }
        }
        assert!(lost);
        assert!(!worker.streams().contains(&first.stream));
        let row = store.leases().await.unwrap().into_iter().find(|r| r.stream == first.stream).unwrap();
        assert_eq!(row.owner.as_deref(), Some("intruder"));
        assert_eq!(row.checkpoint.unwrap().worker, "w1");
        worker.shutdown().await;
    }
    server.shutdown().await;
}

/// Makes a stream's lease expired at once (what waiting out its time would do).
async fn expire(store: &Store, stream: &str) {
    let sql = "UPDATE kvs_fleet_streams SET lease_expires_ms = 0 WHERE stream = ";
    match store {
        Store::Sqlite(pool) => {
            sqlx::query(&format!("{sql}?")).bind(stream).execute(pool).await.unwrap();
        }
        Store::Postgres(pool) => {
            sqlx::query(&format!("{sql}$1")).bind(stream).execute(pool).await.unwrap();
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_split_the_streams_and_shutdown_hands_over() {
    let server = server().await;
    for store in stores().await {
        let mut a = Worker::start(client(&server), store.clone(), config("a")).await.unwrap();
        let mut b = Worker::start(client(&server), store.clone(), config("b")).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            // Drive both: events are only handled inside next().
            let _ = tokio::time::timeout(Duration::from_millis(50), a.next()).await;
            let _ = tokio::time::timeout(Duration::from_millis(50), b.next()).await;
            if a.streams().len() == STREAMS / 2 && b.streams().len() == STREAMS / 2 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "a {:?} b {:?}", a.streams(), b.streams());
        }
        a.shutdown().await;
        let mut released = 0;
        while let Some(e) = a.next().await {
            if matches!(e, FleetEvent::Released { .. }) {
                released += 1;
            }
        }
        assert_eq!(released, STREAMS / 2);
        // b takes a's streams.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while b.streams().len() < STREAMS {
            let _ = tokio::time::timeout(Duration::from_millis(50), b.next()).await;
            assert!(tokio::time::Instant::now() < deadline, "b {:?}", b.streams());
        }
        b.shutdown().await;
    }
    server.shutdown().await;
}
