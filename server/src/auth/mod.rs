//! Who is signed in: users with Argon2id password hashes, sessions behind an HttpOnly cookie,
//! and the [`CurrentUser`] extractor that REST handlers and `/ws` use.

mod origin;
mod password;
mod session;
mod users;

pub use origin::same_origin;
pub use password::{hash_password, verify_password};
pub use session::{
    COOKIE_NAME, SESSION_TTL, clear_cookie, create_session, delete_session, session_cookie,
    token_from_headers, user_for_token,
};
pub use users::{
    DEFAULT_USERS, Role, User, authenticate, default_passwords_in_use, seed_default_users,
    set_password,
};

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

/// The signed-in user of a request, or a 401.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = token_from_headers(&parts.headers).ok_or(ApiError::Unauthorized)?;
        match user_for_token(&state.db, &token).await {
            Ok(Some(user)) => Ok(CurrentUser(user)),
            Ok(None) => Err(ApiError::Unauthorized),
            Err(e) => Err(ApiError::database(e)),
        }
    }
}
