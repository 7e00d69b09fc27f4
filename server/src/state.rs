//! What every handler can reach.

use crate::auth::{LoginThrottle, PasswordChecks, Sessions};
use crate::clock::Clock;
use crate::config::Settings;
use crate::cutover::ControlPlane;
use crate::db::Database;
use crate::hub::Hub;
use crate::jobs::{JobBoard, JobContext, Lease};
use crate::metrics::MetricsRegistry;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    /// The build of the bundle the pages load (`assets::build_id`), said first on every socket.
    pub build: thor_core::Build,
    pub settings: Arc<Settings>,
    pub db: Database,
    pub hub: Hub,
    /// The cutover control plane.
    pub cutover: ControlPlane,
    /// Who is signed in: the session cache, and ending sessions (and their sockets).
    pub sessions: Sessions,
    /// Password checks, a few at a time.
    pub password_checks: PasswordChecks,
    /// Wrong passwords per username and address.
    pub login_throttle: LoginThrottle,
    /// Every Prometheus series of this server (`GET /metrics`).
    pub metrics: MetricsRegistry,
    pub jobs: JobBoard,
    /// Whether this instance runs the jobs (holds the lease).
    pub lease: Lease,
    /// What the jobs reach: a handler that changes an account (an order) pushes it with it.
    pub desk: JobContext,
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

impl FromRef<AppState> for Sessions {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}
