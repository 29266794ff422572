//! Paths of the guest components the integration tests use, built by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
