//! Cross-site request checks for what a browser sends on its own: WebSocket upgrades and form
//! posts carry `Origin`, which must name this very host.

use axum::http::{HeaderMap, header};

/// `Ok` when the request comes from this site's own pages, or from a client that sends no
/// `Origin` (not a browser, so not usable for cross-site forgery); otherwise why not.
pub fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| "the Origin header is not text".to_string())?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| "the request has an Origin but no Host".to_string())?;
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .unwrap_or("");
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(format!("origin {origin} does not match host {host}"))
    }
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
}
