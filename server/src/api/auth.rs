//! `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/auth/me`.
//!
//! Login and logout speak two dialects. A JSON body (scripts, tests) gets JSON answers and the
//! status that fits (200, 204, 400, 401, and 403 for a disabled user). A form post (`application/x-www-form-urlencoded`, the
//! sign-in page and the sign-out button, which work without JavaScript) gets `303 See Other`: to
//! the dashboard, back to `/login?error=1` on wrong credentials (`/login?error=disabled` for a
//! disabled user's right password), or to `/login` after signing out. A form body that cannot be read is still a 400 (413 when too large).
//!
//! Either way a sign-in is throttled (429 with `Retry-After`) after too many wrong passwords for
//! its username or from its address, before any password is hashed. Cross-site posts never get
//! here: `auth::refuse_cross_site` stands in front of every state-changing route.

use super::{ApiError, parse_json};
use crate::auth::{self, CurrentUser, SignIn, User};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Form, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use thor_core::LOGIN_PATH;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

/// The sign-in form's fields (anything else a browser adds is ignored).
#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

/// Longest username or password accepted; longer ones are refused before any hashing.
const MAX_FIELD: usize = 256;

/// Where the sign-in form sends a browser back to after wrong credentials.
const LOGIN_FAILED: &str = "/login?error=1";
/// Where it sends a disabled user (their password was right).
const LOGIN_DISABLED: &str = "/login?error=disabled";

#[tracing::instrument(skip_all)]
pub async fn login(State(state): State<AppState>, request: Request) -> Response {
    let address = client_address(&request);
    if is_form(request.headers()) {
        return form_login(&state, address, request)
            .await
            .unwrap_or_else(IntoResponse::into_response);
    }
    match Bytes::from_request(request, &state).await {
        Ok(body) => json_login(&state, address, &body)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Err(rejection) => rejection.into_response(),
    }
}

/// The peer's address, when the server recorded it (not in `oneshot` tests).
fn client_address(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
}

async fn json_login(
    state: &AppState,
    address: Option<IpAddr>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let login: Login = parse_json(body)?;
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
    let user = match check_password(state, address, &login.username, &login.password).await? {
        SignIn::Accepted(user) => user,
        SignIn::Refused => return Err(ApiError::BadCredentials),
        SignIn::Disabled(user) => return Err(ApiError::Disabled(user.username)),
    };
    let token = start_session(state, &user).await?;
    let mut response = (StatusCode::OK, Json(user)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        auth::session_cookie(&token, state.settings.security.secure_cookie),
    );
    Ok(response)
}

/// The sign-in page's post: a browser is navigating, so every outcome it can cause by typing is
/// a redirect it can show, never an error page (but a throttled one is told to wait: 429).
async fn form_login(
    state: &AppState,
    address: Option<IpAddr>,
    request: Request,
) -> Result<Response, ApiError> {
    let Form(login) = Form::<LoginForm>::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(format!("bad form body: {}", rejection.body_text()))
            }
        })?;
    // Empty or over-long fields cannot be anyone's credentials; no hashing for them.
    let plausible = !login.username.is_empty()
        && !login.password.is_empty()
        && login.username.len() <= MAX_FIELD
        && login.password.len() <= MAX_FIELD;
    let checked = if plausible {
        check_password(state, address, &login.username, &login.password).await?
    } else {
        SignIn::Refused
    };
    let user = match checked {
        SignIn::Accepted(user) => user,
        SignIn::Refused => {
            tracing::info!("a sign-in form had wrong credentials");
            return Ok(Redirect::to(LOGIN_FAILED).into_response());
        }
        SignIn::Disabled(user) => {
            tracing::info!(user = %user.username, "refused a disabled user's sign-in");
            return Ok(Redirect::to(LOGIN_DISABLED).into_response());
        }
    };
    let token = start_session(state, &user).await?;
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        auth::session_cookie(&token, state.settings.security.secure_cookie),
    );
    Ok(response)
}

/// Whether the password is the user's; a throttled username or address is refused before any
/// hashing. The attempt counts against both (while it runs, and for good if it was wrong).
async fn check_password(
    state: &AppState,
    address: Option<IpAddr>,
    username: &str,
    password: &str,
) -> Result<SignIn, ApiError> {
    let throttle = &state.login_throttle;
    if let Err(retry_after) = throttle.attempt(username, address, Instant::now()) {
        tracing::warn!(
            ?address,
            "throttled a sign-in after too many wrong passwords"
        );
        return Err(ApiError::Throttled { retry_after });
    }
    let checked = auth::authenticate(&state.db, &state.password_checks, username, password).await;
    // Only a wrong password counts for good (not a right one, nor a database failure).
    if !matches!(checked, Ok(SignIn::Refused)) {
        throttle.give_back(username, address);
    }
    checked.map_err(ApiError::database)
}

async fn start_session(state: &AppState, user: &User) -> Result<String, ApiError> {
    let token = auth::create_session(&state.db, user.id)
        .await
        .map_err(ApiError::database)?;
    tracing::info!(user = %user.username, "signed in");
    // Only for `thor users list`: a failure here must not undo the sign-in.
    if let Err(e) = auth::record_sign_in(&state.db, user.id).await {
        tracing::warn!(error = %e, user = %user.username, "cannot record the sign-in time");
    }
    Ok(token)
}

/// Ends the session named by the cookie (if any), closes its sockets (on every instance) and
/// clears the cookie: 204, or for the sign-out form a redirect to the sign-in page.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = auth::token_from_headers(&headers) {
        state.sessions.sign_out(&token).await?;
    }
    let mut response = if is_form(&headers) {
        Redirect::to(LOGIN_PATH).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    response.headers_mut().insert(
        header::SET_COOKIE,
        auth::clear_cookie(state.settings.security.secure_cookie),
    );
    Ok(response)
}

pub async fn me(CurrentUser(user): CurrentUser) -> Json<User> {
    Json(user)
}

/// Whether the body is an HTML form's (`application/x-www-form-urlencoded`, any parameters).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

#[cfg(test)]
mod tests {
    use super::is_form;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn with(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_static(value));
        map
    }

    #[test]
    fn form_bodies_are_told_from_json_by_content_type() {
        let content_type = |value| with(header::CONTENT_TYPE, value);
        assert!(is_form(&content_type("application/x-www-form-urlencoded")));
        assert!(is_form(&content_type(
            "Application/X-WWW-Form-URLEncoded; charset=UTF-8"
        )));
        assert!(!is_form(&content_type("application/json")));
        assert!(!is_form(&content_type("text/plain")));
        assert!(!is_form(&HeaderMap::new()));
    }
}
