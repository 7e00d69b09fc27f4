//! The HTTP front door: the connection loop and the layers every request passes, outermost
//! first:
//!
//! 0. [`RequestMetrics`]: every request counted and timed by route template (axum's
//!    [`MatchedPath`], never the raw path), method and status class;
//! 1. a request id (`x-request-id`, the caller's own or a new one), in the request's log span
//!    and echoed on the answer;
//! 2. the trace span (method, path, id);
//! 3. catch-panic, the last line of defence: a panic anywhere below is logged and answered 500
//!    JSON, and the connection carries on;
//! 4. compression (Brotli or gzip, as the client prefers) of HTML, JSON, CSS, JavaScript,
//!    WebAssembly and text over a kilobyte, for clients that ask, unless already compressed (the
//!    bundle's precompressed files, see [`crate::assets`]);
//! 5. [`json_errors`]: every error answer is JSON, including those the router (405) and the
//!    other layers (413, 503) make;
//! 6. a request timeout (503);
//! 7. the body limit (413);
//! 8. [`refuse_unroutable`]: requests no route could serve (CONNECT, targets without a path)
//!    are answered 405/400 here, before anything that assumes a path;
//! 9. [`refuse_cross_site`]: every state-changing request must come from our own pages.
//!
//! The connection loop is hyper's HTTP/1 server with a header-read timeout (slow-header
//! clients are cut off; `axum::serve` cannot set one), the peer's address in each request
//! ([`ConnectInfo`], for the sign-in throttle), upgrades for `/ws`, and a graceful shutdown.

use crate::auth::refuse_cross_site;
use crate::config::HttpSettings;
use crate::error::{ApiError, json_errors};
use crate::metrics::MetricsRegistry;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// How long open connections may take to finish once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Wraps `router` in the layers every request passes (see the module documentation); the
/// request series go on `metrics`.
pub fn layers(router: Router, settings: &HttpSettings, metrics: &MetricsRegistry) -> Router {
    router
        .layer(from_fn(refuse_cross_site))
        .layer(from_fn(refuse_unroutable))
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(from_fn(json_errors))
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .br(true)
                .compress_when(SizeAbove::new(COMPRESS_FROM_BYTES).and(textual)),
        )
        .layer(CatchPanicLayer::custom(answer_panic))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", %id, method = %request.method(), path = request.uri().path())
        }))
        .layer(SetRequestIdLayer::x_request_id(RequestIds::default()))
        .layer(from_fn_with_state(
            RequestMetrics::register(metrics),
            count_request,
        ))
}

/// The route label of requests no route matched (the static files, unknown paths): one value,
/// so a scanner's paths cannot multiply the series.
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds (seconds) of the request-duration histogram.
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A request's labels; each takes a bounded set of values (the router's templates, known
/// methods, five status classes).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: &'static str,
}

/// `thor_http_requests_total` and `thor_http_request_duration_seconds`, by route template,
/// method and status class.
#[derive(Clone)]
pub struct RequestMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

impl RequestMetrics {
    pub fn register(registry: &MetricsRegistry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "thor_http_requests",
            "HTTP requests answered, by route template, method and status class.",
            requests.clone(),
        );
        let duration: Family<RequestLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        registry.register(
            "thor_http_request_duration_seconds",
            "Time from a request's arrival to its answer's head, by route template, method and \
             status class.",
            duration.clone(),
        );
        Self { requests, duration }
    }
}

/// Counts and times every request under its route's template.
async fn count_request(
    State(metrics): State<RequestMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_string();
    let response = next.run(request).await;
    let labels = RequestLabels {
        method,
        route,
        status: status_class(response.status()),
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The standard methods by name; any other (a client may invent one) is `other`.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Request ids: this process's start time and a counter (no randomness needed; unique per
/// instance and run, and cheap).
#[derive(Clone)]
struct RequestIds {
    run: Arc<str>,
    next: Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        Self {
            run: Arc::from(format!("{:x}", crate::clock::now_ms()).as_str()),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.run))
            .ok()
            .map(RequestId::new)
    }
}

/// Smaller answers gain nothing from compression (streamed ones, of unknown size, are compressed).
const COMPRESS_FROM_BYTES: u16 = 1024;

/// Worth compressing: HTML, JSON, CSS, JavaScript, WebAssembly and text (not images, not the socket).
fn textual(
    _: StatusCode,
    _: axum::http::Version,
    headers: &axum::http::HeaderMap,
    _: &axum::http::Extensions,
) -> bool {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
        .unwrap_or(b"");
    [
        &b"text/html"[..],
        b"application/json",
        b"text/css",
        b"text/javascript",
        b"application/javascript",
        b"text/plain",
        b"application/openmetrics-text",
        // Only when its precompressed siblings are missing (see `assets`).
        b"application/wasm",
    ]
    .iter()
    .any(|prefix| kind.starts_with(prefix))
}

/// The answer to a panic below: logged (in the request's span), and 500 JSON to the client.
fn answer_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    tracing::error!(panic = %what, "a request handler panicked");
    ApiError::Internal.into_response()
}

/// Requests no route can serve are answered here: a library below may assume every request
/// has a path (leptos_axum's file handler unwraps it), and none of them is ours to tunnel.
async fn refuse_unroutable(request: Request, next: Next) -> Response {
    if request.method() == Method::CONNECT {
        let mut response = error_with_status(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "CONNECT is not served here; Thor is not a proxy",
        );
        response.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        return response;
    }
    if request.uri().path_and_query().is_none() || !request.uri().path().starts_with('/') {
        return error_with_status(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request target must be a path",
        );
    }
    next.run(request).await
}

fn error_with_status(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// What the connection loop needs.
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    pub header_read_timeout: Duration,
}

impl From<&HttpSettings> for Serving {
    fn from(settings: &HttpSettings) -> Self {
        Self {
            header_read_timeout: settings.header_read_timeout,
        }
    }
}

/// Accepts connections on `listener` and serves `router` on each until `stop` is cancelled;
/// then stops accepting, lets open connections finish (up to a grace period) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    serving: Serving,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(serving.header_read_timeout);
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a moment rather than spin, and keep serving the others.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(Body::new))
        });
        let connection = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            tokio::pin!(connection);
            let outcome = tokio::select! {
                outcome = connection.as_mut() => outcome,
                _ = stop.cancelled() => {
                    // Finish the request in flight, then close (idle ones close at once).
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = outcome {
                tracing::debug!(%peer, error = %e, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the shutdown grace; leaving them"
        );
    }
    Ok(())
}
