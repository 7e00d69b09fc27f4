//! A page left open across a deploy: the server's socket says first which build its pages load
//! (`hello`); a page of another build reloads itself, at a quiet moment: after the render that
//! follows the news, and never while the trader is typing in a form (the reload waits, checked
//! every second, until no input, select or text area has the focus). Once per server build: a
//! page whose reload brought back the same old build (two builds behind one address during a
//! rolling deploy) does not reload again for it, so it can never loop.

use super::LiveStore;
use crate::Build;

/// Whether a page of build `page` must reload for a server on build `server`. An unknown
/// (empty) build on either side, a development build, never asks.
pub fn must_reload(page: &str, server: &str) -> bool {
    !page.is_empty() && !server.is_empty() && page != server
}

/// Watches the server's build for a page of `build` (browser only; nothing on the server).
pub fn reload_when_stale(live: LiveStore, build: Build) {
    #[cfg(feature = "hydrate")]
    leptos::prelude::Effect::new(move |_| {
        use leptos::prelude::*;
        let Some(server) = live.server_build.get() else {
            return;
        };
        if !must_reload(&build.0, &server) {
            return;
        }
        // Only now tracked: a reload put off for a form edit is tried again each second.
        let _ = live.now_ms.get();
        if !browser::editing() {
            browser::reload_once(&build.0, &server);
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (live, build);
}

#[cfg(feature = "hydrate")]
mod browser {
    /// The session-storage key that remembers the server build a reload was for.
    const RELOADED_FOR: &str = "thor-reloaded-for";

    /// Whether the focus is in a form field (typing, choosing): no reload under the trader's hands.
    pub fn editing() -> bool {
        leptos::prelude::document()
            .active_element()
            .is_some_and(|e| matches!(e.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"))
    }

    pub fn reload_once(page: &str, server: &str) {
        let window = leptos::prelude::window();
        let storage = window.session_storage().ok().flatten();
        if let Some(storage) = &storage {
            if storage.get_item(RELOADED_FOR).ok().flatten().as_deref() == Some(server) {
                return;
            }
            let _ = storage.set_item(RELOADED_FOR, server);
        }
        leptos::logging::log!(
            "[build] the server is on build {server}, this page on {page}: reloading"
        );
        if let Err(e) = window.location().reload() {
            leptos::logging::warn!("[build] cannot reload: {e:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::must_reload;

    #[test]
    fn only_two_known_and_different_builds_reload() {
        assert!(must_reload("wasm-a.js-a.css-a", "wasm-b.js-a.css-a"));
        assert!(!must_reload("wasm-a.js-a.css-a", "wasm-a.js-a.css-a"));
        assert!(
            !must_reload("", "wasm-b"),
            "a development page never reloads"
        );
        assert!(
            !must_reload("wasm-a", ""),
            "nor does a page of a development server"
        );
    }
}
