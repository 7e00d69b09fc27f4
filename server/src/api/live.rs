//! REST answers for the streamed features: the very message the socket carried last, envelope
//! and all, so a page can join the REST snapshot onto the stream by `seq` without a gap.

use super::ApiError;
use crate::auth::User;
use crate::hub::{Audience, Frame};
use crate::state::AppState;
use crate::trading::accounts;
use app::protocol::Topic;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub fn latest_message(frame: Option<Frame>) -> Result<Response, ApiError> {
    let frame = frame.ok_or_else(|| {
        ApiError::Unavailable("no value has been computed yet; try again in a few seconds".into())
    })?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        frame.text.as_str().to_owned(),
    )
        .into_response())
}

/// The latest `topic` message of the signed-in user's own paper account; 404 for a user
/// without one (an operator).
pub async fn latest_for_own_account(
    state: &AppState,
    user: &User,
    topic: Topic,
) -> Result<Response, ApiError> {
    let account = accounts::account_id_of(&state.db, user.id)
        .await
        .map_err(ApiError::database)?
        .ok_or_else(|| ApiError::NotFound("you have no paper account".into()))?;
    latest_message(state.hub.latest(topic, Audience::Account(account)))
}
