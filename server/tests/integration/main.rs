//! The server's integration tests, as one test binary: one link of the whole application instead of one per
//! file, and one process, so the modules share its global state (see `common::logs` for the tracing
//! subscriber; no test sets environment variables or listens on a fixed port).
//!
//! Run one module with `cargo test -p server --test integration <module>::`, e.g. `stripe::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// First, so that its `on_both_backends!` is in scope in every module below.
#[macro_use]
mod common;

mod accounts;
mod billing;
mod charts;
mod cluster;
mod cluster_loops;
mod cluster_processes;
mod config_sync;
mod customer_care;
mod customer_pages;
mod customer_payments;
mod db_servers;
mod delivery;
mod deploy;
mod every_script;
mod kasm_sim;
mod live;
mod migrations;
mod onboarding;
mod own_catalog;
mod own_domains;
mod pgbouncer;
mod price_book;
mod reseller_trials;
mod security;
mod serving;
mod slice;
mod stripe;
mod tenancy;
mod trials;
mod wholesale_collection;
mod zones;
