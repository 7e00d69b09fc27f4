//! The REST API under `/api`, one resource per file, and its one error type.

mod account_balance;
mod auth;
mod cutover;
mod global_market;
mod health;
pub mod intraday;
mod jobs;
mod latest;
mod metrics;
mod orders;
mod positions;

use crate::error::{ApiError, parse_json};
use crate::state::AppState;
use axum::Router;
use axum::routing::{any, delete, get, post};
use thor_core::feature::Feature;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health::show))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/auth/me", get(auth::me))
        .route(
            Feature::AccountBalance.rest_path(),
            get(account_balance::balance),
        )
        .route(Feature::Positions.rest_path(), get(positions::list))
        .route(Feature::Intraday.rest_path(), get(intraday::bars))
        .route(
            Feature::GlobalMarket.rest_path(),
            get(global_market::status),
        )
        .route(
            Feature::Orders.rest_path(),
            get(orders::list).post(orders::place),
        )
        .route("/api/orders/{id}", delete(orders::cancel))
        .route("/api/jobs", get(jobs::list))
        .route("/api/cutover", get(cutover::status))
        .route("/api/cutover/mine", get(cutover::mine))
        .route("/api/cutover/report", post(cutover::report))
        .route("/api/cutover/rollback", post(cutover::rollback))
        .route("/api/cutover/audit", get(cutover::audit))
        .route("/api/cutover/fault", post(cutover::fault))
        .route("/api/cutover/{feature}", post(cutover::change))
        .route("/api/cutover/{feature}/clear", post(cutover::clear))
        .route("/metrics", get(metrics::show))
        .route("/api", any(not_found))
        .route("/api/{*rest}", any(not_found))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such API endpoint".into())
}
