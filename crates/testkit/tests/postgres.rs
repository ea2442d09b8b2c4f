//! kvs_testkit::postgres: a cluster starts, takes connections, and is gone after drop.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::TcpStream;

#[test]
fn a_cluster_starts_and_is_removed_on_drop() {
    let Some(cluster) = kvs_testkit::postgres::Cluster::start() else { return };
    let port = cluster.port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert_eq!(cluster.url(), format!("postgres://kvs@127.0.0.1:{port}/postgres"));
    assert_eq!(cluster.fresh_database(), format!("postgres://kvs@127.0.0.1:{port}/t1"));
    assert_eq!(cluster.fresh_database(), format!("postgres://kvs@127.0.0.1:{port}/t2"));
    let dirs_before = pg_dirs();
    assert!(!dirs_before.is_empty());
    drop(cluster);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "still listening after drop");
    // (The only test in this binary: no other cluster's folder.)
    for dir in dirs_before {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

/// The folders of this process's clusters.
fn pg_dirs() -> Vec<std::path::PathBuf> {
    let prefix = format!("kvs-pg-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}
