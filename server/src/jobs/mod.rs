//! The server's periodic jobs, one per file.

pub mod heartbeat;
