#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod store;

pub use store::{Lease, LeaseStore, Store, StoreError, StoredCheckpoint, StreamLease, WorkerInfo};
