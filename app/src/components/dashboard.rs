//! The trader's one screen: the panels over one board, laid out, and the palette switch.

use super::{
    AccountBalancePanel, CutoverPanel, GlobalMarketPanel, HeartbeatPanel, IntradayPanel,
    OrdersPanel, PositionsPanel,
};
use crate::dashboard::{Board, Initial, PALETTE_COOKIE, remember};
use crate::feature::Feature;
use crate::live;
use leptos::prelude::*;

/// The dashboard, rendered by the server with its data and taken over by the page.
#[component]
pub fn Dashboard() -> impl IntoView {
    // Serialised by the server, read back (not refetched) by the browser.
    let initial = SharedValue::new(initial_from_request).into_inner();
    let Some(initial) = initial else {
        return view! {
            <section class="panel" data-testid="dashboard-unavailable">
                <h2>"Dashboard unavailable"</h2>
                <p>"The server did not send the dashboard's data. " <a href="/" rel="external">"Reload"</a></p>
            </section>
        }
        .into_any();
    };
    let live = live::use_live_store();
    let board = Board::new(initial, live);
    provide_context(board);
    crate::dashboard::start(board);

    let palette = move || {
        if board.colour_blind.get() {
            "board palette-cb"
        } else {
            "board"
        }
    };
    view! {
        <div class=palette data-testid="dashboard">
            <div class="toolbar">
                <button
                    type="button"
                    class="palette-toggle"
                    data-testid="palette-toggle"
                    aria-pressed=move || board.colour_blind.get().to_string()
                    on:click=move |_| {
                        let on = !board.colour_blind.get_untracked();
                        board.colour_blind.set(on);
                        remember(PALETTE_COOKIE, if on { "cb" } else { "standard" });
                    }
                >
                    "Colour-blind-safe colours"
                </button>
            </div>
            <div class="grid">
                {if board.has_account {
                    view! { <AccountBalancePanel/> }.into_any()
                } else {
                    view! { <NoAccount feature=Feature::AccountBalance/> }.into_any()
                }}
                <GlobalMarketPanel/>
                <IntradayPanel/>
                {if board.has_account {
                    view! { <PositionsPanel/> }.into_any()
                } else {
                    view! { <NoAccount feature=Feature::Positions/> }.into_any()
                }}
                {if board.has_account {
                    view! { <OrdersPanel/> }.into_any()
                } else {
                    view! { <NoAccount feature=Feature::Orders/> }.into_any()
                }}
                <CutoverPanel/>
                <HeartbeatPanel/>
            </div>
        </div>
    }
    .into_any()
}

/// In place of the balance or positions of a user without a paper account (an operator).
#[component]
fn NoAccount(feature: Feature) -> impl IntoView {
    let class = match feature {
        Feature::Positions => "panel positions",
        Feature::Orders => "panel orders",
        _ => "panel balance",
    };
    view! {
        <section class=class data-testid=format!("panel-{}", feature.name())>
            <header class="panel-head"><h2>{feature.display_name()}</h2></header>
            <p class="empty" data-testid="no-account">
                "Operators have no paper account: balances, positions and orders are the traders' own."
            </p>
        </section>
    }
}

#[cfg(feature = "ssr")]
fn initial_from_request() -> Option<Initial> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Initial>().cloned())
}

#[cfg(not(feature = "ssr"))]
fn initial_from_request() -> Option<Initial> {
    None
}
