//! Where leases and checkpoints live: one trait, [`LeaseStore`], and two stores behind it,
//! SQLite and PostgreSQL, chosen by URL ([`Store::connect`]).
//!
//! (Skeleton: the signatures are settled; the bodies are being written.)

use std::future::Future;
use std::time::Duration;

use kvs_sdk::Position;
use serde::{Deserialize, Serialize};

/// What a store call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names no store this crate knows (`sqlite:PATH`, `postgres://...`).
    #[error("not a store URL: {0} (expected sqlite:PATH or postgres://USER@HOST:PORT/DB)")]
    InvalidUrl(String),
    /// The lease is not this worker's any more (it expired and another worker took it, or it
    /// was released): the write was refused by the fencing counter.
    #[error("stream {stream}: the lease (counter {counter}) of worker {worker} is lost")]
    LeaseLost {
        /// The stream.
        stream: String,
        /// The worker that wrote.
        worker: String,
        /// The counter it wrote with.
        counter: i64,
    },
    /// The stream is not in the store.
    #[error("stream {0} is not in the store")]
    UnknownStream(String),
    /// A stored checkpoint is not a position this version can read.
    #[error("stream {stream}: stored checkpoint unreadable: {source}")]
    Checkpoint {
        /// The stream.
        stream: String,
        /// Why.
        source: serde_json::Error,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Creating or upgrading the tables failed.
    #[error("migrating the tables: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A lease a worker holds: its proof when it renews, checkpoints or releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The stream.
    pub stream: String,
    /// The worker holding it.
    pub worker: String,
    /// The fencing counter: raised by one each time the lease changes hands; every write
    /// names it and is refused when it moved on.
    pub counter: i64,
    /// When it expires unless renewed (epoch ms on the store's clock).
    pub expires_ms: i64,
}

/// A stream's last checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    /// Where to resume: after this position's last fragment.
    pub position: Position,
    /// The worker that wrote it.
    pub worker: String,
    /// When it was written (epoch ms on the store's clock).
    pub written_ms: i64,
}

/// One stream's row: its lease and checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamLease {
    /// The stream.
    pub stream: String,
    /// The worker holding the lease, if any (it may have expired: see `expires_ms`).
    pub owner: Option<String>,
    /// When the lease expires (epoch ms on the store's clock; 0 when free).
    pub expires_ms: i64,
    /// The fencing counter.
    pub counter: i64,
    /// The last checkpoint.
    pub checkpoint: Option<StoredCheckpoint>,
}

/// A worker that said it is alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Its id.
    pub worker: String,
    /// Until when it counts as alive (epoch ms on the store's clock).
    pub expires_ms: i64,
}

/// Leases and checkpoints. Times are the store's own clock (the database server's), so
/// workers on machines whose clocks disagree still agree on expiry.
pub trait LeaseStore: Send + Sync {
    /// The store's clock, epoch ms.
    fn now_ms(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Adds streams that are not in the store yet (free, no checkpoint); the number added.
    fn add_streams(&self, streams: &[String]) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Says `worker` is alive for `ttl` from now (the store's clock); returns the store's now.
    fn heartbeat(&self, worker: &str, ttl: Duration) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Removes `worker` from the live workers (a clean shutdown).
    fn leave(&self, worker: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The workers alive now.
    fn workers(&self) -> impl Future<Output = Result<Vec<WorkerInfo>, StoreError>> + Send;
    /// Every stream's row, sorted by stream name.
    fn leases(&self) -> impl Future<Output = Result<Vec<StreamLease>, StoreError>> + Send;
    /// Takes a stream's lease for `worker` for `ttl`, if it is free, expired or already
    /// `worker`'s, and its counter is still `seen_counter` (what the caller read): the counter
    /// is raised by one. `None` when another worker got there first or holds it.
    fn take(
        &self,
        stream: &str,
        worker: &str,
        seen_counter: i64,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<Lease>, StoreError>> + Send;
    /// Renews a lease for `ttl` from now; [`StoreError::LeaseLost`] when its counter moved on
    /// or it is not `lease.worker`'s (even if it has expired but nobody took it, it is renewed).
    fn renew(&self, lease: &Lease, ttl: Duration) -> impl Future<Output = Result<Lease, StoreError>> + Send;
    /// Gives a lease up (the stream is free at once); [`StoreError::LeaseLost`] as `renew`.
    fn release(&self, lease: &Lease) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Writes a stream's checkpoint under a lease; [`StoreError::LeaseLost`] (nothing
    /// written) when the counter moved on or the owner differs.
    fn checkpoint(&self, lease: &Lease, position: &Position) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A store named by URL: `sqlite:PATH` (created if missing) or `postgres://...`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Store {
    /// SQLite: one file, shared by the worker processes of one machine.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL: workers on several machines.
    Postgres(sqlx::PgPool),
}

impl Store {
    /// Connects and creates or upgrades the tables (embedded migrations).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidUrl`], [`StoreError::Database`], [`StoreError::Migrate`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Err(StoreError::InvalidUrl(url.to_owned()))
    }
}
