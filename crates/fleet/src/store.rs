//! Where leases and checkpoints live: one trait, [`LeaseStore`], and two stores behind it,
//! SQLite and PostgreSQL, chosen by URL ([`Store::connect`]).
//!
//! Both stores have the same tables (created by the embedded migrations in
//! `crates/fleet/migrations`, one SQL text valid in both) and run the same statements; only
//! the expression for "now" differs. Every time is the database's own clock, in epoch
//! milliseconds.
//!
//! # Fencing
//!
//! A lease is `(stream, worker, counter)`. Taking a stream's lease is one conditional
//! `UPDATE` (compare-and-set): it succeeds only when the row's counter is still the one the
//! taker read and the lease is free, expired or already the taker's, and it raises the
//! counter by one. Renewing, releasing and checkpointing are single `UPDATE`s that succeed
//! only while the row's owner **and** counter are the lease's; otherwise nothing is written and
//! the call fails with [`StoreError::LeaseLost`]. There is no read-modify-write anywhere, so
//! worker processes (and machines) racing on the same row cannot both win.
//!
//! Expiry alone does not fence: a worker whose lease expired but that nobody took yet still
//! renews and checkpoints (the counter did not move, so no other worker can have written since).
//! The moment another worker takes the stream the counter moves and every write of the old
//! holder is refused. This is the rule of the Kinesis Client Library's lease table.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use kvs_sdk::Position;
use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Connection, Row};

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
    /// The fencing counter: raised by one each time the lease is taken (by another worker, or
    /// again by the same one); every write names it and is refused when it moved on.
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
    /// One stream's row (`None` when it is not in the store): after taking a lease, its
    /// checkpoint is final (the previous holder's writes are fenced off from then on).
    fn lease(&self, stream: &str) -> impl Future<Output = Result<Option<StreamLease>, StoreError>> + Send;
    /// Takes a stream's lease for `worker` for `ttl`, if it is free, expired or already
    /// `worker`'s, and its counter is still `seen_counter` (what the caller read): the counter
    /// is raised by one (so a `Lease` the taker held before is dead: use the one returned).
    /// `None` when another worker got there first or holds it;
    /// [`StoreError::UnknownStream`] when the stream is not in the store.
    fn take(
        &self,
        stream: &str,
        worker: &str,
        seen_counter: i64,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<Lease>, StoreError>> + Send;
    /// Renews a lease for `ttl` from now; [`StoreError::LeaseLost`] when its counter moved on
    /// or it is not `lease.worker`'s (even if it has expired but nobody took it, it is renewed:
    /// see the fencing rule in the [module documentation](self)).
    fn renew(&self, lease: &Lease, ttl: Duration) -> impl Future<Output = Result<Lease, StoreError>> + Send;
    /// Gives a lease up (the stream is free at once); [`StoreError::LeaseLost`] as `renew`.
    fn release(&self, lease: &Lease) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Writes a stream's checkpoint under a lease; [`StoreError::LeaseLost`] (nothing
    /// written) when the counter moved on or the owner differs. A lease that expired but that
    /// nobody took still checkpoints (the fencing rule of the [module documentation](self)).
    fn checkpoint(
        &self,
        lease: &Lease,
        position: &Position,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
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

/// The tables, created or upgraded by [`Store::connect`].
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// "Now" on SQLite's clock, epoch ms (`unixepoch('subsec')` needs SQLite 3.42; the bundled
/// one is newer). SQLite keeps `'now'` fixed within one statement.
const SQLITE_NOW: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";
/// "Now" on PostgreSQL's clock, epoch ms.
const POSTGRES_NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// How long a SQLite connection waits for another process's write to finish.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest ttl a lease or heartbeat is given (longer ones are cut to it): ten years, far
/// from overflowing `now + ttl` in a BIGINT.
const MAX_TTL_MS: i64 = 10 * 365 * 24 * 3600 * 1000;
/// Rows per `INSERT` in [`LeaseStore::add_streams`] (below both databases' bind limits).
const INSERT_CHUNK: usize = 500;
/// Worker rows expired for longer than this are deleted by [`LeaseStore::heartbeat`].
const DEAD_WORKER_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Runs `$body` with `$pool` bound to the store's pool and `$now` to its "now" expression:
/// the same statement text, bound and decoded once per backend.
macro_rules! with_pool {
    ($store:expr, |$pool:ident, $now:ident| $body:expr) => {
        match $store {
            Store::Sqlite($pool) => {
                let $now = SQLITE_NOW;
                $body
            }
            Store::Postgres($pool) => {
                let $now = POSTGRES_NOW;
                $body
            }
        }
    };
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(MAX_TTL_MS).min(MAX_TTL_MS)
}

/// Whether `e` is SQLite's `SQLITE_BUSY` ("database is locked"), plain or extended.
fn is_sqlite_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xFF == 5)
        }
        _ => false,
    }
}

/// `url` with its password (if any) replaced by `***`, for error messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (rest, None),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return url.to_owned() };
    let Some((user, _password)) = userinfo.split_once(':') else { return url.to_owned() };
    let path = path.map(|p| format!("/{p}")).unwrap_or_default();
    format!("{scheme}://{user}:***@{host}{path}")
}

impl Store {
    /// Connects and creates or upgrades the tables (embedded migrations).
    ///
    /// - `sqlite:PATH` or `sqlite://PATH` (`sqlite:///abs/path` for an absolute path, or
    ///   `sqlite:/abs/path`): the file is created if missing and put in WAL mode, and each
    ///   connection waits up to 30 s for another process's write, so the worker processes of a
    ///   machine can share the file (not on a network file system).
    ///   `sqlite::memory:` is a database of this process only (tests).
    /// - `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` or `postgresql://...` (the
    ///   parameters of libpq's URLs, e.g. `?host=/run/postgresql` for a Unix socket). No TLS.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidUrl`], [`StoreError::Database`], [`StoreError::Migrate`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let invalid = || StoreError::InvalidUrl(redacted(url));
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(|_| invalid())?;
            // One connection first, for its error: the pool would retry a refused connection
            // until its acquire timeout and report only that it timed out.
            sqlx::PgConnection::connect_with(&options).await?.close().await?;
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            // sqlx's migrator holds an advisory lock: workers starting together migrate once.
            MIGRATOR.run(&pool).await?;
            Ok(Self::Postgres(pool))
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            if path.is_empty() {
                return Err(invalid());
            }
            let options = SqliteConnectOptions::from_str(url).map_err(|_| invalid())?;
            let memory = path == ":memory:";
            let options = options.create_if_missing(true).busy_timeout(SQLITE_BUSY_TIMEOUT);
            let (options, pool) = if memory {
                // The database lives as long as a connection to it: keep one open.
                let pool = SqlitePoolOptions::new().min_connections(1).idle_timeout(None).max_lifetime(None);
                (options, pool)
            } else {
                (options.journal_mode(SqliteJournalMode::Wal), SqlitePoolOptions::new())
            };
            let pool = pool.max_connections(4).acquire_timeout(Duration::from_secs(60));
            // Workers opening a new file together can see "database is locked" at once, not
            // after the busy timeout: SQLite returns it without waiting where waiting could
            // deadlock (switching a new file to WAL, a read upgrading to a write). It clears as
            // soon as the other one is through: try again, a few times.
            let mut tries = 0_u32;
            let pool = loop {
                match pool.clone().connect_with(options.clone()).await {
                    Ok(pool) => break pool,
                    Err(e) if tries < 20 && is_sqlite_busy(&e) => {
                        tracing::debug!("opening {}: {e}; trying again", redacted(url));
                        tries = tries.saturating_add(1);
                        tokio::time::sleep(Duration::from_millis(25_u64.saturating_mul(u64::from(tries))))
                            .await;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            // SQLite has no lock for the migrator: processes opening a new file together may
            // both try to apply a migration, and the loser fails on the migrations table's
            // primary key. Trying again finds it applied.
            let mut tries = 0_u32;
            loop {
                match MIGRATOR.run(&pool).await {
                    Ok(()) => break,
                    Err(e) if tries >= 4 => return Err(e.into()),
                    Err(e) => {
                        tracing::debug!("migrating {}: {e}; trying again", redacted(url));
                        tries = tries.saturating_add(1);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            Ok(Self::Sqlite(pool))
        } else {
            Err(invalid())
        }
    }

    /// Which database: `"sqlite"` or `"postgres"`.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Removes streams (their leases and checkpoints) from the store; the number removed. A
    /// worker holding one of them finds its lease lost at its next renewal or checkpoint.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn remove_streams(&self, streams: &[String]) -> Result<u64, StoreError> {
        let mut removed = 0_u64;
        for stream in streams {
            let sql = "DELETE FROM kvs_fleet_streams WHERE stream = $1";
            let n = with_pool!(self, |pool, _now| sqlx::query(sql)
                .bind(stream)
                .execute(pool)
                .await?
                .rows_affected());
            removed = removed.saturating_add(n);
        }
        Ok(removed)
    }

    /// Closes the connections (waits for the ones in use to be given back).
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }

    async fn stream_exists(&self, stream: &str) -> Result<bool, StoreError> {
        let sql = "SELECT 1 FROM kvs_fleet_streams WHERE stream = $1";
        Ok(with_pool!(self, |pool, _now| sqlx::query(sql).bind(stream).fetch_optional(pool).await?.is_some()))
    }
}

fn lease_lost(lease: &Lease) -> StoreError {
    StoreError::LeaseLost {
        stream: lease.stream.clone(),
        worker: lease.worker.clone(),
        counter: lease.counter,
    }
}

/// A `kvs_fleet_streams` row as selected by [`LeaseStore::leases`].
struct StreamRow {
    stream: String,
    owner: Option<String>,
    expires_ms: i64,
    counter: i64,
    checkpoint: Option<String>,
    checkpoint_worker: Option<String>,
    checkpoint_ms: Option<i64>,
}

impl StreamRow {
    fn from_row<R: Row>(row: &R) -> Result<Self, sqlx::Error>
    where
        for<'r> &'r str: sqlx::ColumnIndex<R>,
        for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(Self {
            stream: row.try_get("stream")?,
            owner: row.try_get("owner")?,
            expires_ms: row.try_get("lease_expires_ms")?,
            counter: row.try_get("lease_counter")?,
            checkpoint: row.try_get("checkpoint")?,
            checkpoint_worker: row.try_get("checkpoint_worker")?,
            checkpoint_ms: row.try_get("checkpoint_ms")?,
        })
    }

    fn into_lease(self) -> Result<StreamLease, StoreError> {
        let checkpoint = match self.checkpoint {
            None => None,
            Some(json) => {
                let position = serde_json::from_str(&json)
                    .map_err(|source| StoreError::Checkpoint { stream: self.stream.clone(), source })?;
                Some(StoredCheckpoint {
                    position,
                    worker: self.checkpoint_worker.unwrap_or_default(),
                    written_ms: self.checkpoint_ms.unwrap_or_default(),
                })
            }
        };
        Ok(StreamLease {
            stream: self.stream,
            owner: self.owner,
            expires_ms: self.expires_ms,
            counter: self.counter,
            checkpoint,
        })
    }
}

impl LeaseStore for Store {
    async fn now_ms(&self) -> Result<i64, StoreError> {
        Ok(with_pool!(self, |pool, now| {
            let sql = format!("SELECT {now}");
            sqlx::query(&sql).fetch_one(pool).await?.try_get::<i64, _>(0)?
        }))
    }

    async fn add_streams(&self, streams: &[String]) -> Result<u64, StoreError> {
        let mut added = 0_u64;
        for chunk in streams.chunks(INSERT_CHUNK) {
            // One statement per chunk (no transaction to upgrade from read to write: SQLite's
            // busy timeout covers it), `$1, $2, ...` in both databases.
            let values: Vec<String> = (1..=chunk.len()).map(|i| format!("(${i})")).collect();
            let sql = format!(
                "INSERT INTO kvs_fleet_streams (stream) VALUES {} ON CONFLICT (stream) DO NOTHING",
                values.join(", ")
            );
            let n = with_pool!(self, |pool, _now| {
                let mut query = sqlx::query(&sql);
                for stream in chunk {
                    query = query.bind(stream);
                }
                query.execute(pool).await?.rows_affected()
            });
            added = added.saturating_add(n);
        }
        Ok(added)
    }

    async fn heartbeat(&self, worker: &str, ttl: Duration) -> Result<i64, StoreError> {
        let ttl = ttl_ms(ttl);
        with_pool!(self, |pool, now| {
            let sql = format!(
                "INSERT INTO kvs_fleet_workers (worker, expires_ms) VALUES ($1, {now} + $2) \
                 ON CONFLICT (worker) DO UPDATE SET expires_ms = excluded.expires_ms \
                 RETURNING expires_ms - $2"
            );
            let at: i64 = sqlx::query(&sql).bind(worker).bind(ttl).fetch_one(pool).await?.try_get(0)?;
            let sql = format!("DELETE FROM kvs_fleet_workers WHERE expires_ms < {now} - $1");
            sqlx::query(&sql).bind(DEAD_WORKER_KEPT_MS).execute(pool).await?;
            Ok(at)
        })
    }

    async fn leave(&self, worker: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM kvs_fleet_workers WHERE worker = $1";
        with_pool!(self, |pool, _now| sqlx::query(sql).bind(worker).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerInfo>, StoreError> {
        let mut workers = with_pool!(self, |pool, now| {
            let sql = format!("SELECT worker, expires_ms FROM kvs_fleet_workers WHERE expires_ms > {now}");
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    Ok(WorkerInfo { worker: row.try_get("worker")?, expires_ms: row.try_get("expires_ms")? })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        // Sorted here, not by ORDER BY: PostgreSQL's collation may not be byte order.
        workers.sort_by(|a, b| a.worker.cmp(&b.worker));
        Ok(workers)
    }

    async fn leases(&self) -> Result<Vec<StreamLease>, StoreError> {
        let sql = "SELECT stream, owner, lease_expires_ms, lease_counter, checkpoint, checkpoint_worker, \
                   checkpoint_ms FROM kvs_fleet_streams";
        let rows = with_pool!(self, |pool, _now| {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter().map(StreamRow::from_row).collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let mut leases = rows.into_iter().map(StreamRow::into_lease).collect::<Result<Vec<_>, _>>()?;
        // Sorted here, not by ORDER BY: PostgreSQL's collation may not be byte order.
        leases.sort_by(|a, b| a.stream.cmp(&b.stream));
        Ok(leases)
    }

    async fn lease(&self, stream: &str) -> Result<Option<StreamLease>, StoreError> {
        let sql = "SELECT stream, owner, lease_expires_ms, lease_counter, checkpoint, checkpoint_worker, \
                   checkpoint_ms FROM kvs_fleet_streams WHERE stream = $1";
        let row = with_pool!(self, |pool, _now| {
            match sqlx::query(sql).bind(stream).fetch_optional(pool).await? {
                Some(row) => Some(StreamRow::from_row(&row)?),
                None => None,
            }
        });
        row.map(StreamRow::into_lease).transpose()
    }

    async fn take(
        &self,
        stream: &str,
        worker: &str,
        seen_counter: i64,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let ttl = ttl_ms(ttl);
        let taken = with_pool!(self, |pool, now| {
            let sql = format!(
                "UPDATE kvs_fleet_streams \
                 SET owner = $2, lease_counter = lease_counter + 1, lease_expires_ms = {now} + $4 \
                 WHERE stream = $1 AND lease_counter = $3 \
                 AND (owner IS NULL OR owner = $2 OR lease_expires_ms <= {now}) \
                 RETURNING lease_counter, lease_expires_ms"
            );
            let row = sqlx::query(&sql)
                .bind(stream)
                .bind(worker)
                .bind(seen_counter)
                .bind(ttl)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Some((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?)),
                None => None,
            }
        });
        match taken {
            Some((counter, expires_ms)) => {
                Ok(Some(Lease { stream: stream.to_owned(), worker: worker.to_owned(), counter, expires_ms }))
            }
            None if self.stream_exists(stream).await? => Ok(None),
            None => Err(StoreError::UnknownStream(stream.to_owned())),
        }
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        let ttl = ttl_ms(ttl);
        let expires_ms = with_pool!(self, |pool, now| {
            let sql = format!(
                "UPDATE kvs_fleet_streams SET lease_expires_ms = {now} + $4 \
                 WHERE stream = $1 AND owner = $2 AND lease_counter = $3 \
                 RETURNING lease_expires_ms"
            );
            let row = sqlx::query(&sql)
                .bind(&lease.stream)
                .bind(&lease.worker)
                .bind(lease.counter)
                .bind(ttl)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Some(row.try_get::<i64, _>(0)?),
                None => None,
            }
        });
        match expires_ms {
            Some(expires_ms) => Ok(Lease { expires_ms, ..lease.clone() }),
            None => Err(lease_lost(lease)),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let sql = "UPDATE kvs_fleet_streams SET owner = NULL, lease_expires_ms = 0 \
                   WHERE stream = $1 AND owner = $2 AND lease_counter = $3";
        let n = with_pool!(self, |pool, _now| {
            sqlx::query(sql)
                .bind(&lease.stream)
                .bind(&lease.worker)
                .bind(lease.counter)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 { Err(lease_lost(lease)) } else { Ok(()) }
    }

    async fn checkpoint(&self, lease: &Lease, position: &Position) -> Result<(), StoreError> {
        let json = serde_json::to_string(position)
            .map_err(|source| StoreError::Checkpoint { stream: lease.stream.clone(), source })?;
        let last = position.last.as_ref();
        let fragment_number = last.and_then(|l| l.fragment_number.clone());
        let server_ms = last.and_then(|l| l.server_timestamp_ms);
        let producer_ms = last.and_then(|l| l.producer_timestamp_ms);
        let n = with_pool!(self, |pool, now| {
            let sql = format!(
                "UPDATE kvs_fleet_streams SET checkpoint = $4, checkpoint_worker = $2, checkpoint_ms = {now}, \
                 fragment_number = $5, server_timestamp_ms = $6, producer_timestamp_ms = $7 \
                 WHERE stream = $1 AND owner = $2 AND lease_counter = $3"
            );
            sqlx::query(&sql)
                .bind(&lease.stream)
                .bind(&lease.worker)
                .bind(lease.counter)
                .bind(&json)
                .bind(&fragment_number)
                .bind(server_ms)
                .bind(producer_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 { Err(lease_lost(lease)) } else { Ok(()) }
    }
}
