//! The access line: one structured `info` event per request, written when its response body
//! is done. Query strings are left out because they often carry codes and tokens.

use std::net::IpAddr;
use std::time::Instant;

/// What the access line says about one request.
#[derive(Debug)]
pub struct AccessRecord {
    /// The request id sent upstream and shown on error pages.
    pub request_id: String,
    /// The client address the gateway believes (see trusted proxies).
    pub client_ip: IpAddr,
    /// Canonical host, or empty when the request had none.
    pub host: String,
    /// The app that served the request, if one was found.
    pub app: Option<String>,
    /// The signed-in user whose identity was sent upstream.
    pub user: Option<String>,
    /// Request method.
    pub method: http::Method,
    /// Canonical path, or the raw path when it could not be made canonical.
    pub path: String,
    /// Status sent to the client.
    pub status: u16,
    /// Status the upstream answered, when the request reached one.
    pub upstream_status: Option<u16>,
    /// When the request arrived.
    pub started: Instant,
}

impl AccessRecord {
    /// Writes the access line; `bytes` is the response body size actually sent.
    pub fn write(self, bytes: u64, complete: bool) {
        let duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            target: "portcullis::access",
            request_id = %self.request_id,
            client.ip = %self.client_ip,
            http.host = %self.host,
            app = self.app.as_deref().unwrap_or("-"),
            user = self.user.as_deref().unwrap_or("-"),
            http.method = %self.method,
            http.path = %self.path,
            status = self.status,
            upstream.status = self.upstream_status,
            bytes,
            complete,
            duration_ms,
            "request"
        );
    }
}
