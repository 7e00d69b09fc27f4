//! Every integration test of the server in one binary: each file below was its own test binary,
//! linking the whole server again (most of the test command's build time). `cargo test -p
//! thor-server --test it <name>` runs one file's tests by their module name.

mod common;

mod assets;
mod auth;
mod cli;
mod cutover;
mod delivery;
mod health;
mod http;
mod layers;
mod logins;
mod operations;
mod orders;
mod origin;
mod page;
mod pages;
mod postgres;
mod redis;
mod sessions;
mod startup;
mod tls;
mod trading;
mod users;
mod websocket;
