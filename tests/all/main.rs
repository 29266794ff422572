//! Plaza's integration tests, built into one binary (wasmtime style).
//!
//! Guest components are built by `tests/build.rs`; `plaza_tests::*` holds their paths.

mod admin;
mod adversarial;
mod check;
mod cli;
mod common;
mod console;
mod delivery;
mod durability;
mod harness;
mod http;
mod languages;
mod library;
mod merchant;
mod metrics;
mod nats;
mod new;
mod o2o;
mod postgres;
mod reuse;
mod sample_plugins;
mod serve;
mod signing;
mod versions;
