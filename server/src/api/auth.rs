//! `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/auth/me`.

use super::{ApiError, parse_json};
use crate::auth::{self, CurrentUser, User};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

/// Longest username or password accepted; longer ones are refused before any hashing.
const MAX_FIELD: usize = 256;

#[tracing::instrument(skip_all)]
pub async fn login(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let login: Login = parse_json(&body)?;
    if login.username.is_empty() || login.password.is_empty() {
        return Err(ApiError::BadRequest(
            "username and password are required".into(),
        ));
    }
    if login.username.len() > MAX_FIELD || login.password.len() > MAX_FIELD {
        return Err(ApiError::BadRequest(format!(
            "username and password are at most {MAX_FIELD} bytes"
        )));
    }
    let user = auth::authenticate(&state.db, &login.username, &login.password)
        .await
        .map_err(ApiError::database)?
        .ok_or(ApiError::BadCredentials)?;
    let token = auth::create_session(&state.db, user.id)
        .await
        .map_err(ApiError::database)?;
    tracing::info!(user = %user.username, "signed in");
    let mut response = (StatusCode::OK, Json(user)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, auth::session_cookie(&token));
    Ok(response)
}

/// Ends the session named by the cookie (if any) and clears the cookie. Always 204.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = auth::token_from_headers(&headers) {
        auth::delete_session(&state.db, &token)
            .await
            .map_err(ApiError::database)?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, auth::clear_cookie());
    Ok(response)
}

pub async fn me(CurrentUser(user): CurrentUser) -> Json<User> {
    Json(user)
}
