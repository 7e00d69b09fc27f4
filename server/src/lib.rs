//! # thor-server
//!
//! The axum server behind Thor: it renders the dashboard, runs the jobs, holds the WebSocket hub
//! and serves the REST API.
//!
//! ## Layout
//! - [`config`]: settings in layers (defaults, `Leptos.toml`, environment).
//! - [`application`]: builds everything from settings; `main` and the tests share it.
//! - [`state`]: what every handler can reach.
//! - [`db`]: sqlx storage, SQLite by default or PostgreSQL, with migrations.
//! - [`hub`]: numbers, serialises once and fans out every message.
//! - [`ws`]: the `/ws` endpoint, one task per page.
//! - [`jobs`]: the periodic jobs, one per file.
//! - [`auth`]: users, Argon2id passwords, cookie sessions, the `CurrentUser` extractor.
//! - [`api`]: the REST API, one resource per file, and its error type.

pub mod api;
pub mod application;
pub mod auth;
pub mod config;
pub mod db;
pub mod hub;
pub mod jobs;
pub mod state;
pub mod ws;

pub use application::Application;
pub use config::Settings;
