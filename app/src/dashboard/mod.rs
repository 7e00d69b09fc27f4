//! The trader's one screen's state: one [`Board`] every panel reads, fed by
//! `use_websocket_aware`; the panels themselves (and the screen that lays them out) are
//! `crate::components`, which use this module and are never used by it.
//!
//! - [`board`]: the shared state every panel reads (values, sources, health, parity).
//! - [`hook`]: [`use_websocket_aware`], one hook for every panel.
//! - `engine` (browser only): REST polling, the socket's messages, parity and page reports.
//! - [`format`]: figures as a trader reads them.

pub mod board;
#[cfg(feature = "hydrate")]
mod engine;
pub mod format;
mod hook;

pub use board::{Board, use_board};
pub use hook::{FeatureData, Freshness, PanelFeed, use_websocket_aware};
// What the first paint carries and how the chart is viewed are shared with the server.
pub use thor_core::chart_view::{self, CHART_BARS, CHART_VIEW_COOKIE, ChartView};
pub use thor_core::initial::{Initial, PALETTE_COOKIE};

use crate::live;

/// Takes the page over once it has hydrated (browser only): opens the tab's socket and starts
/// the engine behind `board` (REST polling, the socket's messages, parity, reports).
pub fn start(board: Board) {
    // The socket asks for the charted symbol's bars from its first open (the engine follows
    // the trader's picks).
    live::show_symbols(vec![leptos::prelude::GetUntracked::get_untracked(
        &board.symbol,
    )]);
    live::connect(board.live);
    #[cfg(feature = "hydrate")]
    leptos::prelude::Effect::new(move |_| leptos::prelude::untrack(|| engine::start(board)));
}

/// Remembers a choice of the trader's (the palette, the chart's view) for a year in a cookie,
/// which the server reads for the next first paint (browser only; nothing on the server).
pub fn remember(cookie: &str, value: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let cookie = format!("{cookie}={value}; Path=/; Max-Age=31536000; SameSite=Lax");
        // web-sys: gloo-net has no cookies.
        if let Ok(html) = leptos::prelude::document().dyn_into::<web_sys::HtmlDocument>()
            && let Err(e) = html.set_cookie(&cookie)
        {
            leptos::logging::warn!("[dashboard] cannot remember {cookie}: {e:?}");
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (cookie, value);
}

/// Sends an API request (browser only): the answer's text, or what went wrong in words: the
/// server unreachable, "signed out" for a 401 (the socket's check sends the page to sign in), the
/// API error's message for any other failure status.
#[cfg(feature = "hydrate")]
pub async fn send(request: gloo_net::http::Request) -> Result<String, String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach the server: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    match status {
        200..=299 => Ok(text),
        401 => Err("signed out".into()),
        _ => Err(api_error_message(&text).unwrap_or_else(|| format!("HTTP {status}"))),
    }
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
