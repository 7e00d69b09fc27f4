//! The one error type of every HTTP answer: REST, pages and the WebSocket upgrade map their
//! failures to it, and it maps each to a status and a JSON body in one place.

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Every API failure, mapped to a status in one place. The body is
/// `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first")]
    Unauthorized,
    #[error("wrong username or password")]
    BadCredentials,
    /// The right password of a disabled user.
    #[error("the user {0} is disabled; ask an operator to enable it again")]
    Disabled(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// The request is well formed but the state forbids it now (e.g. a gate without proof).
    #[error("{0}")]
    Conflict(String),
    #[error("too many wrong passwords; try again in {} s", retry_after_secs(*.retry_after))]
    Throttled { retry_after: Duration },
    #[error("the request body is larger than this server accepts")]
    PayloadTooLarge,
    #[error("something went wrong on the server; it has been logged")]
    Internal,
}

/// Whole seconds to wait, rounded up (`Retry-After` takes no fractions; never 0).
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero())
}

impl ApiError {
    /// A database failure: logged in full, reported to the client as 503 without internals.
    pub fn database(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "database error");
        ApiError::Unavailable("the database is not answering; try again shortly".into())
    }
}

/// Parses a JSON request body into `T`, or a 400 that says what is wrong with it.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("bad JSON body: {e}")))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            ApiError::Disabled(_) => (StatusCode::FORBIDDEN, "user_disabled"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_connections"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let mut response = error_response(status, code, self.to_string());
        if let ApiError::Throttled { retry_after } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(retry_after)),
            );
        }
        response
    }
}

fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(thor_core::protocol::ErrorBody::new(code, message)),
    )
        .into_response()
}

/// The code of an error answer made outside our handlers (the router, a layer, an extractor).
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// Longest text body kept as the message; a longer one is replaced by the status's reason.
const MAX_ERROR_TEXT: usize = 1024;

/// Makes every error answer JSON, as the API promises: those that axum's router (405),
/// extractors (400, 413, 415: plain text) and the tower layers (413, 503: empty) make are
/// rewritten as `{"error": {"code", "message"}}`, keeping their status and headers (`Allow`,
/// `Retry-After`). JSON and the pages' HTML are left as they are.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let plain = match response.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(kind) => kind.as_bytes().starts_with(b"text/plain"),
    };
    if !plain {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string()
    } else {
        text
    };
    let rewritten = error_response(status, code_for(status), message);
    let (new_parts, new_body) = rewritten.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &new_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, Body::new(new_body))
}
