//! The pages' door: every Leptos page but the sign-in form needs a session.
//!
//! [`require_session`] wraps the Leptos routes. Without a live session a page answers
//! `303 See Other` to `/login`; with one, the signed-in user goes into the request's extensions,
//! where the rendering app finds it (see `thor_core::SignedIn`), and `/login` itself redirects to the
//! dashboard. Pages depend on the cookie, so no cache keeps them.

use crate::api::intraday::closed_bars;
use crate::auth::{ramp_bucket, token_from_headers};
use crate::clock::now_ms;
use crate::hub::Audience;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use thor_core::chart_view::{CHART_VIEW_COOKIE, ChartView};
use thor_core::initial::{Initial, PALETTE_COOKIE};
use thor_core::protocol::{Envelope, ServerMessage, Topic};
use thor_core::{LOGIN_PATH, SignedIn};

pub async fn require_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let signed_in = match state.sessions.signed_in(request.headers()).await {
        Ok(signed_in) => signed_in,
        Err(error) => return error.into_response(),
    };
    let user = signed_in.as_ref().map(|s| s.user.clone());
    let on_login_page = request.uri().path() == LOGIN_PATH;
    // Every page, the sign-in form too: the build its bundle is (see the views' `live::build`).
    request.extensions_mut().insert(state.build.clone());
    let mut response = match (user, on_login_page) {
        (Some(_), true) => Redirect::to("/").into_response(),
        (None, true) => next.run(request).await,
        (None, false) => Redirect::to(LOGIN_PATH).into_response(),
        (Some(user), false) => {
            if request.uri().path() == "/" {
                let account = signed_in.as_ref().and_then(|s| s.account);
                let operator = user.role == crate::auth::Role::Operator;
                let initial = initial(&state, request.headers(), account, operator).await;
                request.extensions_mut().insert(initial);
            }
            request.extensions_mut().insert(SignedIn {
                username: user.username,
            });
            next.run(request).await
        }
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The dashboard's data for its first render, for a user with `account` (none for operators).
async fn initial(
    state: &AppState,
    headers: &HeaderMap,
    account: Option<i64>,
    operator: bool,
) -> Initial {
    let latest = |topic: Topic, audience: Audience| {
        state
            .hub
            .latest(topic, audience)
            .and_then(|frame| serde_json::from_str::<Envelope>(frame.text.as_str()).ok())
    };
    let own = |topic: Topic| account.and_then(|id| latest(topic, Audience::Account(id)));
    let flags = match latest(Topic::Cutover, Audience::Everyone).map(|e| e.message) {
        Some(ServerMessage::Cutover(flags)) => Some(flags),
        _ => state.cutover.flags().await.ok().map(|(flags, _)| flags),
    };
    // Without its bars the chart fetches them itself; the rest of the page still renders.
    let chart_view = crate::auth::cookie(headers, CHART_VIEW_COOKIE)
        .map(ChartView::from_cookie)
        .unwrap_or_default();
    let bars = match state.symbols.first() {
        Some(symbol) => {
            let since = chart_start(state.clock.now(), chart_view.window_minutes());
            match closed_bars(state, symbol, since, true).await {
                Ok(bars) => Some(bars),
                Err(error) => {
                    tracing::warn!(%symbol, ?error, "the first render goes without the chart's bars");
                    None
                }
            }
        }
        None => None,
    };
    Initial {
        operator,
        has_account: account.is_some(),
        colour_blind: colour_blind(headers),
        chart_view,
        bucket: token_from_headers(headers).map_or(0, |token| ramp_bucket(&token)),
        flags,
        balance: own(Topic::AccountBalance),
        positions: own(Topic::Positions),
        orders: own(Topic::Orders),
        markets: latest(Topic::MarketStatus, Audience::Everyone),
        bars,
        symbols: state.symbols.as_ref().clone(),
        rendered_at_ms: now_ms(),
    }
}

/// The first minute of a chart `minutes` long.
fn chart_start(now: chrono::DateTime<chrono::Utc>, minutes: i64) -> chrono::DateTime<chrono::Utc> {
    let minute_ms = (now.timestamp_millis() / 60_000 - minutes) * 60_000;
    chrono::DateTime::from_timestamp_millis(minute_ms).unwrap_or(now)
}

/// Whether the palette cookie asks for the colour-blind-safe palette.
fn colour_blind(headers: &HeaderMap) -> bool {
    crate::auth::cookie(headers, PALETTE_COOKIE) == Some("cb")
}
