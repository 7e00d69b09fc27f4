use leptos::prelude::*;

/// Any path the dashboard does not have. Server-side it also sets the 404 status.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="panel">
            <h2>"Not found"</h2>
            <p>"There is nothing at this address. " <a href="/" rel="external">"Back to the dashboard"</a></p>
        </section>
    }
}
