//! `GET /api/jobs`: every job's cadence, runs, failures, last run, duration and last error;
//! for operators, since an error's text can name a trader's account.

use crate::auth::Operator;
use crate::jobs::JobStatus;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;

#[derive(Serialize)]
pub struct Jobs {
    pub jobs: Vec<JobStatus>,
}

pub async fn list(State(state): State<AppState>, Operator(_user): Operator) -> Json<Jobs> {
    Json(Jobs {
        jobs: state.jobs.all(),
    })
}
