//! One panel per file.

mod heartbeat;
mod not_found;

pub use heartbeat::HeartbeatPanel;
pub use not_found::NotFound;
