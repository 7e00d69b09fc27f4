//! The pages' door: every Leptos page but the sign-in form needs a session.
//!
//! [`require_session`] wraps the Leptos routes. Without a live session a page answers
//! `303 See Other` to `/login`; with one, the signed-in user goes into the request's extensions,
//! where the rendering app finds it (see `app::SignedIn`), and `/login` itself redirects to the
//! dashboard. Pages depend on the cookie, so no cache keeps them.

use crate::state::AppState;
use app::{LOGIN_PATH, SignedIn};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

pub async fn require_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let user = match state.sessions.signed_in(request.headers()).await {
        Ok(signed_in) => signed_in.map(|s| s.user.clone()),
        Err(error) => return error.into_response(),
    };
    let on_login_page = request.uri().path() == LOGIN_PATH;
    let mut response = match (user, on_login_page) {
        (Some(_), true) => Redirect::to("/").into_response(),
        (None, true) => next.run(request).await,
        (None, false) => Redirect::to(LOGIN_PATH).into_response(),
        (Some(user), false) => {
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
