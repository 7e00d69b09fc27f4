//! `GET /api/jobs`: every job's cadence, runs, failures, last run, duration and last error.

use crate::jobs::JobStatus;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;

#[derive(Serialize)]
pub struct Jobs {
    pub jobs: Vec<JobStatus>,
}

pub async fn list(State(state): State<AppState>) -> Json<Jobs> {
    Json(Jobs {
        jobs: state.jobs.all(),
    })
}
