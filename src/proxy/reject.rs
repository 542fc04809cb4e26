//! The gateway's own answers: every refusal maps to one status and one fixed text here.
//!
//! Owns the only mapping from a [`Rejection`] to a client response. Clients get a fixed
//! sentence and the request id, as HTML for browsers and JSON for everyone else; what went
//! wrong in detail goes to the logs only (DESIGN invariant 8).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::proxy::body::{self, Body};
use crate::proxy::canonical::CanonicalError;

/// Why the gateway answers a request itself instead of forwarding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The request is malformed or ambiguous.
    BadRequest(BadRequest),
    /// No app is configured for the host.
    UnknownHost,
    /// The host is configured, but no app on it serves this path.
    NoRoute,
    /// The certificate on this connection does not cover the requested host.
    MisdirectedRequest,
    /// The request target is longer than the configured limit.
    UriTooLong,
    /// The request body is larger than the app allows.
    PayloadTooLarge,
    /// No upstream could be reached, or it broke the exchange.
    BadGateway,
    /// The upstream did not answer in time.
    GatewayTimeout,
    /// The method is not one the gateway forwards (CONNECT, TRACE).
    MethodNotAllowed,
    /// The gateway could not produce what an allowed request needs (its signed identity
    /// assertion); the request is refused rather than sent without it.
    Unavailable,
}

/// The ways a request can be malformed, for the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRequest {
    /// Host or path could not be put in canonical form.
    Canonical(CanonicalError),
    /// Conflicting or unsupported body framing (RFC 9112 section 6.3).
    Framing,
    /// A header that must appear once appeared more than once.
    DuplicateHeader,
    /// The request body could not be read (malformed chunks, cut short).
    Body,
}

impl Rejection {
    /// The status code sent for this rejection.
    pub fn status(self) -> StatusCode {
        match self {
            Rejection::BadRequest(_) => StatusCode::BAD_REQUEST,
            Rejection::UnknownHost | Rejection::NoRoute => StatusCode::NOT_FOUND,
            Rejection::MisdirectedRequest => StatusCode::MISDIRECTED_REQUEST,
            Rejection::UriTooLong => StatusCode::URI_TOO_LONG,
            Rejection::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::BadGateway => StatusCode::BAD_GATEWAY,
            Rejection::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            Rejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The fixed sentence shown to the client.
    pub fn public_text(self) -> &'static str {
        match self {
            Rejection::BadRequest(_) => "The request was malformed or ambiguous.",
            Rejection::UnknownHost | Rejection::NoRoute => {
                "There is no application at this address."
            }
            Rejection::MisdirectedRequest => {
                "This connection cannot serve that host; please retry."
            }
            Rejection::UriTooLong => "The request address is too long.",
            Rejection::PayloadTooLarge => "The request body is too large.",
            Rejection::BadGateway => "The application is not reachable right now.",
            Rejection::GatewayTimeout => "The application did not answer in time.",
            Rejection::MethodNotAllowed => "This request method is not allowed.",
            Rejection::Unavailable => "The service is not available right now; please retry.",
        }
    }

    /// Whether the connection must close after the answer: after a malformed request the
    /// gateway cannot trust the framing to find where the next request starts.
    pub fn closes_connection(self) -> bool {
        matches!(self, Rejection::BadRequest(_))
    }

    /// Builds the response; `wants_html` picks the browser page over JSON.
    pub fn response(self, request_id: &str, wants_html: bool) -> Response<Body> {
        page(self.status(), self.public_text(), request_id, wants_html)
    }
}

/// A page or JSON document with a fixed text and the request id.
pub fn page(status: StatusCode, text: &str, request_id: &str, wants_html: bool) -> Response<Body> {
    let (content_type, bytes) = if wants_html {
        (
            "text/html; charset=utf-8",
            html_page(status, text, request_id),
        )
    } else {
        let json = serde_json::json!({
            "error": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "message": text,
            "request_id": request_id,
        });
        ("application/json", json.to_string())
    };
    let mut response = Response::new(body::full(Bytes::from(bytes)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

fn html_page(status: StatusCode, text: &str, request_id: &str) -> String {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("Error");
    // Only fixed text and the gateway's own request id (UUID or checked token) go in here.
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{code} {reason}</title><style>\
body{{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0;\
display:flex;min-height:100vh;align-items:center;justify-content:center}}\
main{{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);\
padding:2.5rem 3rem;max-width:32rem}}h1{{font-size:1.4rem;margin:0 0 .75rem}}\
p{{line-height:1.5}}code{{background:#eef0f3;padding:.1rem .35rem;border-radius:4px}}\
</style></head><body><main><h1>{code} {reason}</h1><p>{text}</p>\
<p>Request id: <code>{request_id}</code></p></main></body></html>"
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Whether the client prefers an HTML page (a browser navigation) to JSON.
pub fn wants_html(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}
