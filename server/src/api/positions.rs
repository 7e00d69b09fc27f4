//! `GET /api/positions`: the signed-in trader's positions, as last pushed on the socket.

use super::{ApiError, account::own_account, live};
use crate::auth::CurrentUser;
use crate::hub::Audience;
use crate::state::AppState;
use app::protocol::Topic;
use axum::extract::State;
use axum::response::Response;

pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    let account = own_account(&state, user.id).await?;
    live::latest_message(
        state
            .hub
            .latest(Topic::Positions, Audience::Account(account)),
    )
}
