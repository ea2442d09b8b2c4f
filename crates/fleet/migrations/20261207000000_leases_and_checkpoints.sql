-- kvs-fleet: leases and checkpoints. Valid SQL for both SQLite and PostgreSQL (the same file
-- creates the same schema in both). Times are epoch milliseconds on the database's clock.

-- One row per stream: its lease (owner, expiry, fencing counter) and its last checkpoint.
CREATE TABLE IF NOT EXISTS kvs_fleet_streams (
    stream TEXT NOT NULL PRIMARY KEY,
    -- The worker holding the lease (NULL: free; it may have expired, see lease_expires_ms).
    owner TEXT NULL,
    -- When the lease expires unless renewed (0 when free).
    lease_expires_ms BIGINT NOT NULL DEFAULT 0,
    -- The fencing counter: raised by one each time the lease is taken; every write names it.
    lease_counter BIGINT NOT NULL DEFAULT 0,
    -- The last checkpoint: a kvs_sdk::Position as JSON, who wrote it and when.
    checkpoint TEXT NULL,
    checkpoint_worker TEXT NULL,
    checkpoint_ms BIGINT NULL,
    -- The checkpoint's last fragment, copied out of the JSON for status queries.
    fragment_number TEXT NULL,
    server_timestamp_ms BIGINT NULL,
    producer_timestamp_ms BIGINT NULL
);

-- The workers alive: each renews its row (heartbeat); a row past expires_ms is a dead worker.
CREATE TABLE IF NOT EXISTS kvs_fleet_workers (
    worker TEXT NOT NULL PRIMARY KEY,
    expires_ms BIGINT NOT NULL
);
