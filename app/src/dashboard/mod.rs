//! The trader's one screen's state: one [`Board`] every panel reads, fed by
//! `use_websocket_aware`; the panels themselves (and the screen that lays them out) are
//! `crate::components`, which use this module and are never used by it.
//!
//! - [`initial`]: what the server renders the first paint with.
//! - [`board`]: the shared state every panel reads (values, sources, health, parity).
//! - [`hook`]: [`use_websocket_aware`], one hook for every panel.
//! - `engine` (browser only): REST polling, the socket's messages, parity and page reports.
//! - [`format`]: figures as a trader reads them.

pub mod board;
#[cfg(feature = "hydrate")]
mod engine;
pub mod format;
mod hook;
mod initial;

pub use board::{Board, use_board};
pub use hook::{FeatureData, Freshness, PanelFeed, use_websocket_aware};
pub use initial::{CHART_MINUTES, Initial, PALETTE_COOKIE};

use crate::live;

/// Takes the page over once it has hydrated (browser only): opens the tab's socket and starts
/// the engine behind `board` (REST polling, the socket's messages, parity, reports).
pub fn start(board: Board) {
    live::connect(board.live);
    #[cfg(feature = "hydrate")]
    leptos::prelude::Effect::new(move |_| leptos::prelude::untrack(|| engine::start(board)));
}

/// The message of an API error's body (`{"error": {"code": …, "message": …}}`), if it is one.
pub fn api_error_message(body: &str) -> Option<String> {
    crate::protocol::ErrorBody::message_of(body)
}

#[cfg(test)]
mod tests {
    use super::api_error_message;

    #[test]
    fn an_api_error_says_its_message_and_anything_else_says_nothing() {
        let body =
            r#"{"error":{"code":"conflict","message":"the gate is closed: 20 more samples"}}"#;
        assert_eq!(
            api_error_message(body).as_deref(),
            Some("the gate is closed: 20 more samples")
        );
        assert_eq!(api_error_message("<html>"), None);
        assert_eq!(api_error_message(r#"{"error":"flat"}"#), None);
    }
}
