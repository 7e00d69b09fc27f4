//! # thor-server
//!
//! The axum server behind Thor: it renders the dashboard, runs the jobs, holds the WebSocket hub
//! and serves the REST API.
//!
//! ## Layout
//! - [`clock`]: where "now" comes from (the wall clock, or tokio's pausable one in tests).
//! - [`config`]: settings in layers (defaults, `Leptos.toml`, environment).
//! - [`application`]: builds everything from settings; `main` and the tests share it.
//! - [`state`]: what every handler can reach.
//! - [`db`]: sqlx storage, SQLite by default or PostgreSQL, with migrations.
//! - [`feed`]: market data behind a feed trait: the seeded simulator and the 1-minute bar builder.
//! - [`hub`]: numbers, serialises once and fans out every message.
//! - [`trading`]: paper accounts and their valuation.
//! - [`ws`]: the `/ws` endpoint, one task per page.
//! - [`jobs`]: the periodic jobs, one per file.
//! - [`markets`]: exchange trading sessions and holidays, and every market's status at an instant.
//! - [`auth`]: users, Argon2id passwords, cookie sessions, the `CurrentUser` extractor.
//! - [`api`]: the REST API, one resource per file, and its error type.
//! - [`pages`]: the session check in front of the rendered pages.
//! - [`http`]: the front door: the connection loop (header-read timeout, graceful shutdown) and
//!   the layers every request passes (request id, catch-panic, compression, JSON errors,
//!   timeout, body limit, the same-origin rule).

pub mod api;
pub mod application;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod feed;
pub mod http;
pub mod hub;
pub mod jobs;
pub mod markets;
pub mod metrics;
pub mod pages;
pub mod state;
pub mod trading;
pub mod ws;

pub use application::Application;
pub use config::Settings;
