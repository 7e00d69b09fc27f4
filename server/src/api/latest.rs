//! REST answers for the streamed features: the very message the socket carried last, envelope
//! and all, so a page can join the REST snapshot onto the stream by `seq` without a gap.

use super::ApiError;
use crate::hub::{Audience, Frame};
use crate::state::AppState;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use thor_core::protocol::Topic;

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

/// The latest `topic` message of one paper account (the signed-in trader's own: see
/// [`crate::auth::OwnAccount`]).
pub fn latest_for_account(
    state: &AppState,
    account: i64,
    topic: Topic,
) -> Result<Response, ApiError> {
    latest_message(state.hub.latest(topic, Audience::Account(account)))
}
