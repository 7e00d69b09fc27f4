//! `GET /metrics`: every Prometheus series of this server (the hub's, the sockets', the jobs'),
//! for a scraper on the operator's network (it holds counts only, nothing about any account).

use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

pub async fn show(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
