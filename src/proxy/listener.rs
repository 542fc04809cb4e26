//! Listeners: accept TCP connections, complete TLS, and serve HTTP/1.1 and HTTP/2 on them;
//! the plain-HTTP listener only redirects to HTTPS.
//!
//! Owns the accept loops and connection-level limits (handshake time, request head size and
//! time). A shutdown signal stops accepting and lets every open connection finish the
//! request it is on; the caller bounds how long that may take.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::proxy::body::{self, Body};
use crate::proxy::canonical;
use crate::proxy::reject::{self, BadRequest, Rejection};
use crate::proxy::{Connection, Shared, handler};

/// Hyper refuses request-head buffers smaller than this.
const MIN_HEADER_BUFFER: usize = 8192;

/// Accepts HTTPS connections until `stop` turns true; connections are watched by `graceful`.
pub async fn serve_https(
    listener: TcpListener,
    shared: Arc<Shared>,
    acceptor: TlsAcceptor,
    mut stop: watch::Receiver<bool>,
    graceful: Arc<GracefulShutdown>,
) {
    let builder = Arc::new(http_builder(&shared.runtime.load().config));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!("accepting a connection: {error}");
                continue;
            }
        };
        let task = Accepted {
            shared: shared.clone(),
            acceptor: acceptor.clone(),
            peer,
        };
        tokio::spawn(task.serve_tls(stream, builder.clone(), graceful.watcher()));
    }
}

/// Accepts plain-HTTP connections and answers each request with a redirect to HTTPS.
pub async fn serve_redirect(
    listener: TcpListener,
    shared: Arc<Shared>,
    https_port: u16,
    mut stop: watch::Receiver<bool>,
    graceful: Arc<GracefulShutdown>,
) {
    let builder = Arc::new(http_builder(&shared.runtime.load().config).http1_only());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        let shared = shared.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = redirect(&shared, https_port, &request);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection.into_owned()).await {
                tracing::debug!("plain HTTP connection ended: {error}");
            }
        });
    }
}

struct Accepted {
    shared: Arc<Shared>,
    acceptor: TlsAcceptor,
    peer: SocketAddr,
}

impl Accepted {
    async fn serve_tls(
        self,
        stream: TcpStream,
        builder: Arc<auto::Builder<TokioExecutor>>,
        watcher: Watcher,
    ) {
        let _ = stream.set_nodelay(true);
        let handshake_time = self.shared.runtime.load().config.timeouts.tls_handshake;
        let tls = match tokio::time::timeout(handshake_time, self.acceptor.accept(stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                tracing::debug!(peer = %self.peer, "TLS handshake failed: {error}");
                return;
            }
            Err(_) => {
                tracing::debug!(peer = %self.peer, "TLS handshake timed out");
                return;
            }
        };
        let server_name = tls.get_ref().1.server_name().map(str::to_owned);
        let certificate = self.shared.resolver.chosen(server_name.as_deref());
        let connection = Arc::new(Connection::new(self.peer, certificate));
        let shared = self.shared;
        let service =
            service_fn(move |request| handler::handle(shared.clone(), connection.clone(), request));
        let served = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
        if let Err(error) = watcher.watch(served.into_owned()).await {
            tracing::debug!(peer = %self.peer, "connection ended: {error}");
        }
    }
}

/// The HTTP server settings shared by the listeners.
fn http_builder(config: &Config) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.timeouts.header_read)
        .max_buf_size(config.limits.max_header_bytes.max(MIN_HEADER_BUFFER));
    let header_list = u32::try_from(config.limits.max_header_bytes).unwrap_or(u32::MAX);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(header_list)
        .keep_alive_interval(Some(config.timeouts.idle / 2));
    builder
}

/// Answers a plain-HTTP request: 308 to the same host and path over HTTPS when an app or
/// the portal is served on that host, 404 otherwise (never a redirect to a host the gateway does not
/// serve), 400 when host or path are not canonical.
fn redirect(shared: &Shared, https_port: u16, request: &Request<Incoming>) -> Response<Body> {
    let runtime = shared.runtime.load();
    let request_id = uuid::Uuid::now_v7().to_string();
    let html = reject::wants_html(request.headers());
    let bad = |error| Rejection::BadRequest(BadRequest::Canonical(error));
    let target = canonical::canonical_host(request.uri(), request.headers())
        .map_err(bad)
        .and_then(|host| {
            let portal = runtime.config.portal.as_ref();
            let is_portal = portal.is_some_and(|portal| portal.url.host == host.name);
            let options = match runtime.routes.host(&host.name) {
                Some(routes) => routes.options,
                None if is_portal => canonical::PathOptions::default(),
                None => return Err(Rejection::UnknownHost),
            };
            let path = canonical::canonical_path(request.uri().path(), options).map_err(bad)?;
            let port = if https_port == 443 {
                String::new()
            } else {
                format!(":{https_port}")
            };
            let query = request
                .uri()
                .query()
                .map(|query| format!("?{query}"))
                .unwrap_or_default();
            if let Some(query) = request.uri().query() {
                canonical::check_query(query).map_err(bad)?;
            }
            let name = if host.name.contains(':') {
                format!("[{}]", host.name)
            } else {
                host.name
            };
            Ok(format!("https://{name}{port}{path}{query}"))
        });
    match target.and_then(|url| {
        url.parse::<http::HeaderValue>()
            .map_err(|_| Rejection::NoRoute)
    }) {
        Ok(location) => {
            let mut response = Response::new(body::empty());
            *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
            response.headers_mut().insert(header::LOCATION, location);
            response
        }
        Err(rejection) => rejection.response(&request_id, html),
    }
}
