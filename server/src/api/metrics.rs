//! `GET /metrics`: the hub's and the jobs' counters in Prometheus's text format, for a scraper
//! on the operator's network (it holds counts only, nothing about any account).

use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

pub async fn show(State(state): State<AppState>) -> impl IntoResponse {
    let jobs = state.jobs.all();
    let failing = jobs.iter().filter(|j| j.last_error.is_some()).count();
    let text = state.hub.render_metrics(&[
        (
            "thor_jobs_lead",
            "1 when this instance runs the jobs (holds the lease).",
            if state.lead.holds() { 1.0 } else { 0.0 },
        ),
        (
            "thor_jobs_failing",
            "Jobs whose last run failed.",
            failing as f64,
        ),
    ]);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
