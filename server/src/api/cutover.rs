//! The cutover control plane's API. The fleet's evidence is for operators: pages' diffs carry
//! the values traders saw (a quantity, a cash figure), so a trader reads only the flags, their
//! session's stage and what their own pages reported. Pages report their parity; changing a
//! flag, the audit trail and the fault switch are for operators.
//!
//! - `GET /api/cutover`: [`CutoverStatus`], every page's evidence (operators).
//! - `GET /api/cutover/mine`: [`MyCutover`], the session's flags, stage and own pages.
//! - `POST /api/cutover/report`: a page's [`PageReport`].
//! - `POST /api/cutover/rollback`: every feature back to REST (`{"reason"}`).
//! - `GET /api/cutover/audit?limit=N`: the latest changes, newest first.
//! - `POST /api/cutover/fault`: the test switch (only with `cutover.allow-faults`).
//! - `POST /api/cutover/{feature}`: a [`ChangeRequest`]; 409 when the gate refuses.
//! - `POST /api/cutover/{feature}/clear`: back to the `WS_FEATURE_*` stage (`{"reason"}`).

use super::{ApiError, parse_json};
use crate::auth::{CurrentUser, Operator, Role, ramp_bucket, token_from_headers};
use crate::cutover::faults::DEFAULT_DELAY;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use std::time::Duration;
use thor_core::cutover::{
    AuditEntry, ChangeRequest, CutoverStatus, FaultRequest, Flags, MyCutover, PageReport,
    RollbackRequest,
};
use thor_core::feature::Feature;

fn storage(e: anyhow::Error) -> ApiError {
    ApiError::database(format!("{e:#}"))
}

pub async fn status(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
) -> Result<Json<CutoverStatus>, ApiError> {
    if user.role != Role::Operator {
        return Err(ApiError::Forbidden(
            "every page's evidence is for operators; GET /api/cutover/mine has your flags and \
             your own pages' reports"
                .into(),
        ));
    }
    let bucket = token_from_headers(&headers).map_or(0, |token| ramp_bucket(&token));
    state
        .cutover
        .status(bucket)
        .await
        .map(Json)
        .map_err(storage)
}

pub async fn mine(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
) -> Result<Json<MyCutover>, ApiError> {
    let bucket = token_from_headers(&headers).map_or(0, |token| ramp_bucket(&token));
    state
        .cutover
        .mine(user.id, bucket)
        .await
        .map(Json)
        .map_err(storage)
}

pub async fn report(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let report: PageReport = parse_json(&body)?;
    state.cutover.report(user.id, &report).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn feature(name: &str) -> Result<Feature, ApiError> {
    Feature::parse(name).map_err(|e| ApiError::NotFound(e.to_string()))
}

pub async fn change(
    State(state): State<AppState>,
    Operator(user): Operator,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Flags>, ApiError> {
    let feature = feature(&name)?;
    let request: ChangeRequest = parse_json(&body)?;
    let flags = state
        .cutover
        .change(&user.username, feature, &request)
        .await?;
    Ok(Json(flags))
}

pub async fn clear(
    State(state): State<AppState>,
    Operator(user): Operator,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Flags>, ApiError> {
    let feature = feature(&name)?;
    let request: RollbackRequest = parse_json(&body)?;
    let flags = state
        .cutover
        .clear(&user.username, feature, &request.reason)
        .await?;
    Ok(Json(flags))
}

pub async fn rollback(
    State(state): State<AppState>,
    Operator(user): Operator,
    body: Bytes,
) -> Result<Json<Flags>, ApiError> {
    let request: RollbackRequest = parse_json(&body)?;
    let flags = state
        .cutover
        .rollback_all(&user.username, &request.reason, false)
        .await?;
    Ok(Json(flags))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    limit: Option<u32>,
}

pub async fn audit(
    State(state): State<AppState>,
    Operator(_user): Operator,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    state.cutover.audit(limit).await.map(Json).map_err(storage)
}

pub async fn fault(
    State(state): State<AppState>,
    Operator(user): Operator,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    if !state.cutover.faults_allowed() {
        return Err(ApiError::Forbidden(
            "the fault switch is off (cutover.allow-faults / THOR_ALLOW_FAULTS); it is for tests"
                .into(),
        ));
    }
    let request: FaultRequest = parse_json(&body)?;
    let delay = request
        .delay_ms
        .map_or(DEFAULT_DELAY, Duration::from_millis)
        .min(Duration::from_secs(600));
    state
        .cutover
        .faults()
        .set(request.feature, request.kind.map(|kind| (kind, delay)));
    tracing::warn!(
        operator = %user.username,
        feature = request.feature.name(),
        fault = ?request.kind,
        "the fault switch changed"
    );
    Ok(StatusCode::NO_CONTENT)
}
