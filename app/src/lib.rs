//! # Thor's views
//!
//! Compiled twice: into the `thor` binary (`ssr`), which renders the page, and into the browser
//! bundle (`hydrate`), which takes the rendered page over. The types both agree on with the
//! server are `thor_core`'s, re-exported here under their old paths (`app::protocol`, …).
//!
//! ## Layout
//! - [`live`]: the page's one WebSocket per tab and the store of signals it feeds the panels.
//! - [`dashboard`]: the trader's screen: its state, `use_websocket_aware`, the engine behind it.
//! - [`components`]: the panels and the sign-in form, one per file.
//! - [`shell`] and [`App`]: the HTML document and the dashboard's routes.
//! - `site` (server side): the pages and the 404 as routes of the server's router.

#![recursion_limit = "256"]

pub mod components;
pub mod dashboard;
pub mod live;
#[cfg(feature = "ssr")]
pub mod site;

// The shared types, under the paths the views have always used.
pub use thor_core::{
    Build, LOGIN_PATH, SignedIn, account, cutover, feature, global_market, intraday, order, parity,
    protocol, symbol, timefmt, topic,
};

use components::{Dashboard, NotFound, SignInForm, TopBarUser};
use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, provide_meta_context};

/// The whole HTML document, rendered by the server around [`App`]. The head is the server's
/// alone (the page hydrates the body), so its tags are written here rather than through
/// `leptos_meta`'s components in [`App`], which would put that crate in the browser's bundle.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    provide_meta_context();
    let stylesheet = newest_build(&options, "css");
    let scripts = newest_build(&options, "wasm");
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <title>"Thor"</title>
                <meta name="description" content="Thor: live trading dashboard"/>
                <meta name="thor-build" content=build_from_request().0/>
                <link rel="icon" href="/favicon.ico"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options=stylesheet id="leptos"/>
                <HydrationScripts options=scripts/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// `options` for one part of the bundle (`wasm`: the script and WebAssembly, built together;
/// `css`): its hashed name from the hash file, unless `cargo leptos watch` has rebuilt it since
/// under its plain name (it hashes only its first build and leaves the hash file behind).
fn newest_build(options: &LeptosOptions, extension: &str) -> LeptosOptions {
    let pkg = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let plain = pkg.join(format!("{}.{extension}", options.output_name));
    let mut part = options.clone();
    part.hash_files = options.hash_files
        && std::path::Path::new(options.hash_file.as_ref()).is_file()
        && !plain.exists();
    part
}

#[component]
pub fn App() -> impl IntoView {
    // First, before anything else takes a hydration id: serialised by the server, read back (not
    // recomputed) by the browser, so both render the same top bar.
    let signed_in = SharedValue::new(signed_in_from_request).into_inner();
    let build = SharedValue::new(build_from_request).into_inner();
    let live = live::provide_live_store();
    if let Some(user) = signed_in.clone() {
        provide_context(user);
    }
    live::build::reload_when_stale(live, build);

    view! {
        <header class="topbar">
            // A full page load, so the server decides whether "/" needs a sign-in first.
            <a class="brand" href="/" rel="external">"Thor"</a>
            <span class="tagline">"live trading dashboard"</span>
            {signed_in.map(|user| view! {
                <span data-testid="topbar-connection" class=move || live.state.get().css_class()>
                    {move || live.state.get().label()}
                </span>
                <TopBarUser user/>
            })}
        </header>
        <main class="dashboard">{page()}</main>
    }
}

/// The page at this address. There are two, and every move between them is a full page load (the
/// server decides whether "/" needs a sign-in first), so there is no client-side router: Leptos'
/// router cost the bundle 152 KB of WebAssembly, 47 KB with Brotli (measured 2026-12-05), for a
/// choice made once per load.
fn page() -> AnyView {
    match address().0.as_str() {
        "/" => view! { <Dashboard/> }.into_any(),
        LOGIN_PATH => view! { <SignInForm/> }.into_any(),
        _ => view! { <NotFound/> }.into_any(),
    }
}

/// The path and query (without its `?`) of the page's address: the request's on the server, the
/// window's in the browser, which are the same (a page hydrates where it was rendered).
#[cfg(feature = "ssr")]
pub(crate) fn address() -> (String, String) {
    use_context::<http::request::Parts>()
        .map(|parts| {
            let query = parts.uri.query().unwrap_or_default().to_string();
            (parts.uri.path().to_string(), query)
        })
        .unwrap_or_default()
}

#[cfg(not(feature = "ssr"))]
pub(crate) fn address() -> (String, String) {
    #[cfg(feature = "hydrate")]
    if let Some(location) = web_sys::window().map(|w| w.location()) {
        let search = location.search().unwrap_or_default();
        let query = search.strip_prefix('?').unwrap_or(&search).to_string();
        return (location.pathname().unwrap_or_default(), query);
    }
    Default::default()
}

/// The value of `key` in a query string (`error=1&x=2`); `Some("")` for a bare `key`.
pub(crate) fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(k, _)| *k == key)
        .map(|(_, value)| value)
}

/// The user the server's session check found (see `thor_server::pages`).
#[cfg(feature = "ssr")]
fn signed_in_from_request() -> Option<SignedIn> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<SignedIn>().cloned())
}

/// In the browser the value comes from the server's HTML; this runs only if it is missing.
#[cfg(not(feature = "ssr"))]
fn signed_in_from_request() -> Option<SignedIn> {
    None
}

/// The build the server rendered this page for (see `thor_server::pages`).
#[cfg(feature = "ssr")]
fn build_from_request() -> Build {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Build>().cloned())
        .unwrap_or_default()
}

/// In the browser the value comes from the server's HTML; empty (never reload) if it is missing.
#[cfg(not(feature = "ssr"))]
fn build_from_request() -> Build {
    Build::default()
}

#[cfg(test)]
mod tests {
    use super::query_value;

    #[test]
    fn a_query_value_is_found_by_its_key_alone() {
        assert_eq!(query_value("error=1", "error"), Some("1"));
        assert_eq!(
            query_value("next=%2F&error=disabled", "error"),
            Some("disabled")
        );
        assert_eq!(query_value("error", "error"), Some(""));
        assert_eq!(query_value("errors=1&terror=2", "error"), None);
        assert_eq!(query_value("", "error"), None);
    }
}
