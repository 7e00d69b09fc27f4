//! # thor-server
//!
//! The axum server behind Thor: it renders the dashboard, runs the jobs, holds the WebSocket hub
//! and serves the REST API.
//!
//! ## Layout
//! Lowest layer first; no module imports one above it (`tests/layers.rs` checks).
//! - [`clock`]: where "now" comes from (the wall clock, or tokio's pausable one in tests).
//! - [`config`]: every setting declared once; defaults, `Leptos.toml`, environment.
//! - [`error`]: the one HTTP error type and its JSON body.
//! - [`metrics`]: the one Prometheus registry every module registers its series on.
//! - [`calendar`]: the exchange calendar: trading sessions and holidays, and every market's status at an instant.
//! - [`db`]: sqlx storage, SQLite by default or PostgreSQL, with migrations.
//! - [`audit`]: the audit trail of changes to users and paper accounts, and who made them.
//! - [`feed`]: market data behind a feed trait: the seeded simulator and the 1-minute bar builder.
//! - [`trading`]: paper accounts and their valuation; importing traders' accounts from a file.
//! - [`hub`]: numbers, serialises once and fans out every message.
//! - [`local_operator`]: the credential and address `thor cutover` finds on the server's machine.
//! - [`auth`]: users, Argon2id passwords, cookie sessions, the one session lookup, the
//!   `CurrentUser` and `Operator` extractors.
//! - [`jobs`]: the periodic jobs, one per file, and the jobs lease.
//! - [`cutover`]: the control plane: flags per feature, parity evidence, gates, rollback.
//! - [`state`]: what every handler can reach.
//! - [`assets`]: the browser bundle under `/pkg`: hashed names, precompressed, cached for a year.
//! - [`api`]: the REST API, one resource per file.
//! - [`pages`]: the session check in front of the rendered pages, and the data the dashboard's
//!   first render shows.
//! - [`ws`]: the `/ws` endpoint, one task per page.
//! - [`application`]: builds everything from settings; `main` and the tests share it.
//! - [`cli`]: `thor cutover`, the operator's client of the control plane's API.
//! - [`admin`]: `thor users` and `thor accounts`, the operator's commands on the server's
//!   machine, straight to the database.
//! - [`http`]: the front door: the connection loop (header-read timeout, graceful shutdown) and
//!   the layers every request passes (request id, catch-panic, compression, JSON errors,
//!   timeout, body limit, the same-origin rule).

pub mod admin;
pub mod api;
pub mod application;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cutover;
pub mod db;
pub mod error;
pub mod feed;
pub mod http;
pub mod hub;
pub mod jobs;
pub mod local_operator;
pub mod metrics;
pub mod pages;
pub mod state;
pub mod trading;
pub mod ws;

pub use application::{Application, Site};
pub use config::Settings;
