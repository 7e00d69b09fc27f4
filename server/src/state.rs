//! What every handler can reach.

use crate::clock::Clock;
use crate::config::Settings;
use crate::cutover::ControlPlane;
use crate::db::Database;
use crate::hub::Hub;
use crate::jobs::{JobBoard, Lead};
use crate::metrics::MetricsRegistry;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub settings: Arc<Settings>,
    pub db: Database,
    pub hub: Hub,
    /// The cutover control plane.
    pub cutover: ControlPlane,
    /// The credential `thor cutover` on this machine uses (see `operator-token` in the data
    /// directory).
    pub operator_token: Arc<str>,
    /// Every Prometheus series of this server (`GET /metrics`).
    pub metrics: MetricsRegistry,
    pub jobs: JobBoard,
    /// Whether this instance runs the jobs (holds the lease).
    pub lead: Lead,
    /// The symbols the feed trades, in its order.
    pub symbols: Arc<Vec<String>>,
    pub clock: Arc<dyn Clock>,
    pub started: Instant,
    /// Cancelled when the server begins to shut down; long-lived tasks and sockets watch it.
    pub stop: CancellationToken,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
