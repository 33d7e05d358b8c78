//! Lagoa's one integration-test binary. Tests talk to real things: the
//! `lagoa` binary, SQLite and PostgreSQL catalogs, an S3-protocol server
//! (moto), PyArrow. See `support.rs` for how each is found or started.
// The binary's modules share their helpers with `pub`: the workspace's
// `unreachable_pub` is for libraries' interfaces, not a test binary.
#![allow(unreachable_pub)]

mod access;
mod api;
mod bypass;
mod catalog;
mod cli;
mod cluster;
mod cluster_tls;
mod console;
mod contracts;
mod crashes;
mod daemon;
mod demo;
mod e2e;
mod faults;
mod formats;
mod governance;
mod hostile_sql;
mod house;
mod indicators;
mod integrity;
mod keys_kms;
mod keys_local;
mod keys_pkcs11;
mod metrics;
mod oidc;
mod opendata;
mod pg;
mod pg_cursors;

mod pseudonyms;
mod remote;
mod replays;
mod security;
mod serve_sources;
mod sessions;
mod storage;
mod support;
mod tls;
mod upsert;
