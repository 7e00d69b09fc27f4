//! # Thor's shared crate
//!
//! Compiled twice: into the server (`ssr`), which renders the page, and into the browser bundle
//! (`hydrate`), which takes the rendered page over. What both must agree on lives here.
//!
//! ## Layout
//! - [`account`], [`intraday`], [`markets`]: the four features' payloads.
//! - [`protocol`]: the WebSocket envelope and every message type, used by server and page alike.
//! - [`live`]: the page's one WebSocket per tab and the signals it feeds the panels.
//! - [`components`]: the panels, one per file.
//! - [`shell`] and [`App`]: the HTML document and the dashboard's routes.

pub mod account;
pub mod components;
pub mod intraday;
pub mod live;
pub mod markets;
pub mod protocol;

use components::{HeartbeatPanel, NotFound};
use leptos::prelude::*;
use leptos_meta::{Link, Meta, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    StaticSegment,
    components::{Route, Router, Routes},
};

/// The whole HTML document, rendered by the server around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let live = live::provide_live_socket();

    view! {
        <Stylesheet id="leptos" href="/pkg/thor.css"/>
        <Link rel="icon" href="/favicon.ico"/>
        <Meta name="description" content="Thor: live trading dashboard"/>
        <Title text="Thor"/>
        <Router>
            <header class="topbar">
                <a class="brand" href="/">"Thor"</a>
                <span class="tagline">"live trading dashboard"</span>
                <span data-testid="topbar-connection" class=move || live.state.get().css_class()>
                    {move || live.state.get().label()}
                </span>
            </header>
            <main class="dashboard">
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=Dashboard/>
                </Routes>
            </main>
        </Router>
    }
}

/// The trader's one screen.
#[component]
fn Dashboard() -> impl IntoView {
    view! {
        <div class="grid">
            <HeartbeatPanel/>
        </div>
    }
}
