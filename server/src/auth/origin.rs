//! Cross-site request forgery: every request that can change state (any method but GET, HEAD and
//! OPTIONS, whatever its Content-Type) and every WebSocket upgrade must come from this site's
//! own pages. [`refuse_cross_site`] is the one layer every route gets, present and future.
//!
//! A browser says where a request comes from: `Sec-Fetch-Site` (every current browser; pages
//! cannot forge it), else `Origin` (sent on every cross-origin POST), else `Referer`. A request
//! that carries none of them is not a browser's cross-site request (curl, scripts, the tests,
//! the benchmark) and cannot carry a victim's cookie on someone else's behalf: it passes.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// `Ok` when the request comes from this site's own pages, or from a client that is not a
/// browser (it says nothing of where it comes from); otherwise why not.
pub fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            // `none`: the user's own action (typed, bookmarked), not another page's.
            b"same-origin" | b"none" => Ok(()),
            other => Err(format!(
                "Sec-Fetch-Site is {}",
                String::from_utf8_lossy(other)
            )),
        };
    }
    let (name, value) = match (headers.get(header::ORIGIN), headers.get(header::REFERER)) {
        (Some(origin), _) => ("Origin", origin),
        (None, Some(referer)) => ("Referer", referer),
        (None, None) => return Ok(()),
    };
    let value = value
        .to_str()
        .map_err(|_| format!("the {name} header is not text"))?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| format!("the request has an {name} but no Host"))?;
    let named_host = value
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
        .unwrap_or("");
    if named_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(format!("{name} {value} does not match host {host}"))
    }
}

/// The layer in front of every route: a state-changing request from another site is refused
/// with 403 before any handler (or the router's 404/405) sees it.
pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    let reads_only = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !reads_only && let Err(reason) = same_origin(request.headers()) {
        tracing::warn!(%reason, method = %request.method(), path = request.uri().path(), "refused a cross-site request");
        return ApiError::Forbidden(
            "requests that change anything must come from Thor's own pages".into(),
        )
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::same_origin;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn headers(origin: Option<&'static str>, host: Option<&'static str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(host) = host {
            map.insert(header::HOST, HeaderValue::from_static(host));
        }
        if let Some(origin) = origin {
            map.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        map
    }

    fn with(mut map: HeaderMap, name: &'static str, value: &'static str) -> HeaderMap {
        map.insert(name, HeaderValue::from_static(value));
        map
    }

    #[test]
    fn only_this_sites_pages_pass() {
        let host = Some("127.0.0.1:3000");
        assert!(same_origin(&headers(Some("http://127.0.0.1:3000"), host)).is_ok());
        assert!(same_origin(&headers(Some("https://Thor.example"), Some("thor.example"))).is_ok());
        assert!(
            same_origin(&headers(None, host)).is_ok(),
            "no Origin: not a browser"
        );
        assert!(same_origin(&headers(Some("http://evil.example"), host)).is_err());
        assert!(same_origin(&headers(Some("http://127.0.0.1:3001"), host)).is_err());
        assert!(same_origin(&headers(Some("null"), host)).is_err());
        assert!(same_origin(&headers(Some("http://127.0.0.1:3000"), None)).is_err());
    }

    #[test]
    fn sec_fetch_site_and_referer_speak_when_origin_does_not() {
        let host = Some("127.0.0.1:3000");
        let cross = with(headers(None, host), "sec-fetch-site", "cross-site");
        assert!(same_origin(&cross).is_err());
        let sibling = with(headers(None, host), "sec-fetch-site", "same-site");
        assert!(same_origin(&sibling).is_err(), "another port or subdomain");
        let own = with(headers(None, host), "sec-fetch-site", "same-origin");
        assert!(same_origin(&own).is_ok());
        let typed = with(headers(None, host), "sec-fetch-site", "none");
        assert!(same_origin(&typed).is_ok());
        let from_evil = with(headers(None, host), "referer", "http://evil.example/a?b");
        assert!(same_origin(&from_evil).is_err());
        let from_us = with(
            headers(None, host),
            "referer",
            "http://127.0.0.1:3000/login",
        );
        assert!(same_origin(&from_us).is_ok());
    }

    #[tokio::test]
    async fn the_layer_refuses_only_requests_that_change_something_from_elsewhere() {
        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        use tower::ServiceExt;

        let app = axum::Router::new()
            .route("/x", axum::routing::any(|| async { "done" }))
            .layer(axum::middleware::from_fn(super::refuse_cross_site));
        let status = |method: &'static str, origin: &'static str| {
            let request = Request::builder()
                .method(method)
                .uri("/x")
                .header(header::HOST, "127.0.0.1:3000")
                .header(header::ORIGIN, origin)
                .body(Body::empty())
                .expect("a request");
            let app = app.clone();
            async move { app.oneshot(request).await.map(|r| r.status()) }
        };
        let (ours, evil) = ("http://127.0.0.1:3000", "http://evil.example");
        assert_eq!(status("POST", evil).await, Ok(StatusCode::FORBIDDEN));
        assert_eq!(status("DELETE", evil).await, Ok(StatusCode::FORBIDDEN));
        assert_eq!(status("POST", ours).await, Ok(StatusCode::OK));
        assert_eq!(
            status("GET", evil).await,
            Ok(StatusCode::OK),
            "reading is not forgery"
        );
        assert_eq!(status("HEAD", evil).await, Ok(StatusCode::OK));
    }
}
