#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod store;
pub mod worker;

pub use store::{Lease, LeaseStore, Store, StoreError, StoredCheckpoint, StreamLease, WorkerInfo};
pub use worker::{
    DEFAULT_DISCOVER_EVERY, DEFAULT_LEASE, FAILED_STREAM_PAUSE, FleetEvent, FleetFragment, MIN_LEASE,
    StreamChoice, Worker, WorkerConfig,
};
