use super::{PanelHead, change};
use crate::account::AccountBalance;
use crate::dashboard::format;
use crate::dashboard::use_websocket_aware;
use leptos::prelude::*;

/// The trader's paper account: cash, buying power, equity, market value, the day's change and
/// unrealised P&L.
#[component]
pub fn AccountBalancePanel() -> impl IntoView {
    let feed = use_websocket_aware::<AccountBalance>();
    let figure = move |pick: fn(&AccountBalance) -> f64| {
        move || {
            feed.data
                .with(|d| d.as_ref().map(|d| format::money(pick(&d.value))))
                .unwrap_or_else(|| "—".into())
        }
    };
    let changed = move |pick: fn(&AccountBalance) -> f64, percent: bool| {
        move || {
            feed.data
                .with(|d| d.as_ref().map(|d| change(pick(&d.value), percent)))
        }
    };
    let account = move || {
        feed.data
            .with(|d| d.as_ref().map(|d| d.value.account_number.clone()))
            .unwrap_or_default()
    };
    view! {
        <section class="panel balance" aria-labelledby="account_balance-title" data-testid="panel-account_balance">
            <PanelHead feature=feed.feature source=feed.source age_ms=feed.age_ms freshness=feed.freshness seq=feed.seq/>
            <p class="account-number">"Account " <span data-testid="account-number">{account}</span></p>
            <dl class="figures">
                <div class="figure headline">
                    <dt>"Equity"</dt>
                    <dd class="num" data-testid="balance-equity">{figure(|b| b.equity)}</dd>
                </div>
                <div class="figure">
                    <dt>"Cash"</dt>
                    <dd class="num" data-testid="balance-cash">{figure(|b| b.cash)}</dd>
                </div>
                <div class="figure">
                    <dt>"Buying power"</dt>
                    <dd class="num" data-testid="balance-buying-power">{figure(|b| b.buying_power)}</dd>
                </div>
                <div class="figure">
                    <dt>"Market value"</dt>
                    <dd class="num" data-testid="balance-market-value">{figure(|b| b.market_value)}</dd>
                </div>
                <div class="figure">
                    <dt>"Day change"</dt>
                    <dd data-testid="balance-day-change">
                        {changed(|b| b.day_change, false)} " " {changed(|b| b.day_change_pct, true)}
                    </dd>
                </div>
                <div class="figure">
                    <dt>"Unrealised P&L"</dt>
                    <dd data-testid="balance-unrealized">{changed(|b| b.unrealized_pnl, false)}</dd>
                </div>
            </dl>
        </section>
    }
}
