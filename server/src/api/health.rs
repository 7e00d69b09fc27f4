//! `GET /api/health`: is the database answering, and what is the hub doing.
//! 200 when everything answers, 503 (same body) when the database does not, within
//! [`DATABASE_WAIT`] either way: a health check that hangs is no check.

use crate::hub::HubStatus;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_s: u64,
    pub database: DatabaseHealth,
    pub hub: HubStatus,
}

#[derive(Debug, Serialize)]
pub struct DatabaseHealth {
    pub backend: &'static str,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// What a caller is told when the database does not answer.
const DATABASE_DOWN: &str = "the database is not answering";

/// How long the database has to answer before it counts as down (the pool would wait 5 s).
pub const DATABASE_WAIT: Duration = Duration::from_millis(800);

#[tracing::instrument(skip_all)]
pub async fn show(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let ping = tokio::time::timeout(DATABASE_WAIT, state.db.ping())
        .await
        .unwrap_or_else(|_| Err(sqlx::Error::PoolTimedOut));
    let database = match ping {
        Ok(latency) => DatabaseHealth {
            backend: state.db.backend(),
            ok: true,
            latency_ms: Some(latency.as_secs_f64() * 1000.0),
            error: None,
        },
        Err(e) => {
            // The raw error can name hosts and paths: it goes to the log, not to the caller.
            tracing::warn!(error = %e, "health check: database does not answer");
            DatabaseHealth {
                backend: state.db.backend(),
                ok: false,
                latency_ms: None,
                error: Some(DATABASE_DOWN),
            }
        }
    };
    let status = if database.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = Health {
        status: if database.ok { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: state.started.elapsed().as_secs(),
        database,
        hub: state.hub.status(),
    };
    (status, Json(health))
}
