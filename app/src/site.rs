//! The pages as routes of the server's router (server side only): the dashboard and the sign-in
//! form rendered around [`App`](crate::App), and the site's other files and the 404 page. Generic
//! over the router's state, so the `thor` binary (and the server's tests) instantiate them: the
//! server's library never depends on the views.

use crate::shell;
use axum::Router;
use axum::extract::FromRef;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use thor_core::{LOGIN_PATH, REVALIDATE};

/// Adds the pages' routes to `router` (the server layers its session check on them after).
pub fn pages<S>(router: Router<S>, state: &S) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    LeptosOptions: FromRef<S>,
{
    // What leptos_axum's `leptos_routes` does for a route, without Leptos' router (see
    // `crate::page`): the tokio executor for the rendering's tasks, the state in context.
    // Already set when a second router is built (the tests build many): that is fine.
    let _ = any_spawner::Executor::init_tokio();
    let options = LeptosOptions::from_ref(state);
    let state = state.clone();
    let render = leptos_axum::render_app_to_stream_with_context(
        move || provide_context(state.clone()),
        move || shell(options.clone()),
    );
    router
        .route("/", get(render.clone()))
        .route(LOGIN_PATH, get(render))
}

/// Makes the site's other files (the favicon) and the 404 page `router`'s fallback; answers
/// without a cache policy of their own get [`REVALIDATE`] (not the browser's guess).
pub fn fallback<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    LeptosOptions: FromRef<S>,
{
    router.fallback(axum::handler::Handler::layer(
        leptos_axum::file_and_error_handler::<S, _>(shell),
        axum::middleware::map_response(|mut response: Response| async move {
            if !response.headers().contains_key(header::CACHE_CONTROL) {
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
            }
            response
        }),
    ))
}
