//! The request path: checks, canonical request, route, forward, answer.
//!
//! Each phase returns early with a [`Rejection`] when the request cannot go on; the one
//! canonical host and path computed here are what routing uses and what is forwarded
//! (DESIGN invariant 2). Nothing is decoded again after the route is chosen.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::config::App;
use crate::portal::RequestContext;
use crate::proxy::access::AccessRecord;
use crate::proxy::body::{Body, BoxError, ClientBodyError, Logged};
use crate::proxy::canonical::{self, CanonicalHost, PathOptions};
use crate::proxy::forward::{self, ForwardContext};
use crate::proxy::reject::{self, BadRequest, Rejection};
use crate::proxy::upstream::UpstreamError;
use crate::proxy::{Connection, Runtime, Shared};
use crate::proxy::{auth, endpoints};
use crate::session::cookie;

/// What the client asked for, once it passed every check.
pub(crate) struct Routed<'r> {
    /// The canonical host.
    pub(crate) host: CanonicalHost,
    /// The app chosen by host and path prefix.
    pub(crate) app: &'r App,
    /// Its position in the config, which is also its policy `AppId`.
    pub(crate) app_index: usize,
    /// The canonical path.
    pub(crate) path: String,
}

/// Where a request goes.
enum Destination<'r> {
    /// The portal's own pages.
    Portal(CanonicalHost),
    /// An app.
    App(Routed<'r>),
}

/// Facts about the request that every phase and the access line need.
pub(crate) struct RequestFacts {
    /// The request id.
    pub(crate) request_id: String,
    /// The client address the gateway believes.
    pub(crate) client_ip: IpAddr,
    /// Whether the peer is a trusted proxy.
    pub(crate) peer_trusted: bool,
    /// Whether the client prefers HTML pages.
    pub(crate) wants_html: bool,
}

/// Serves one request; never fails, every problem becomes a response.
pub async fn handle(
    shared: Arc<Shared>,
    connection: Arc<Connection>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let runtime = shared.runtime.load_full();
    let peer_ip = connection.peer.ip().to_canonical();
    let peer_trusted = forward::is_trusted(peer_ip, &runtime.config.trusted_proxies);
    let facts = RequestFacts {
        request_id: request_id(request.headers(), peer_trusted),
        client_ip: forward::client_ip(peer_ip, request.headers(), &runtime.config.trusted_proxies),
        peer_trusted,
        wants_html: reject::wants_html(request.headers()),
    };
    let mut record = AccessRecord {
        request_id: facts.request_id.clone(),
        client_ip: facts.client_ip,
        host: String::new(),
        app: None,
        user: None,
        method: request.method().clone(),
        path: request.uri().path().escape_debug().to_string(),
        status: 0,
        upstream_status: None,
        started,
    };
    let http1 = request.version() < Version::HTTP_2;
    let response = match proxy(&shared, &runtime, &connection, &facts, request, &mut record).await {
        Ok(response) => response,
        Err(rejection) => {
            tracing::debug!(request_id = %facts.request_id, ?rejection, "request refused");
            let mut response = rejection.response(&facts.request_id, facts.wants_html);
            if http1 && rejection.closes_connection() {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    };
    record.status = response.status().as_u16();
    Ok(response.map(|body| Logged::new(body, record).boxed_unsync()))
}

async fn proxy(
    shared: &Shared,
    runtime: &Runtime,
    connection: &Connection,
    facts: &RequestFacts,
    mut request: Request<Incoming>,
    record: &mut AccessRecord,
) -> Result<Response<Body>, Rejection> {
    check_request_line(&request, runtime)?;
    check_framing(request.headers())?;
    let routed = match route(runtime, connection, &request)? {
        Destination::Portal(host) => {
            record.host = host.name;
            record.app = Some("portal".into());
            return serve_portal(runtime, facts, request).await;
        }
        Destination::App(routed) => routed,
    };
    record.host = routed.host.name.clone();
    record.app = Some(routed.app.name.clone());
    record.path.clone_from(&routed.path);
    if routed.path.starts_with(endpoints::PREFIX) {
        return endpoints::serve(shared, runtime, facts, &routed, &request).await;
    }
    check_body_size(request.headers(), routed.app)?;
    let services = &shared.services;
    let lookup = auth::session_for(
        services,
        &runtime.config,
        &routed.host.name,
        request.headers(),
    )
    .await;
    let identity = match auth::authorize(shared, runtime, facts, &routed, &request, &lookup) {
        auth::Verdict::Pass { identity: true } => lookup.active,
        auth::Verdict::Pass { identity: false } => None,
        auth::Verdict::Answer(response) => return Ok(response),
    };
    record.user = identity
        .as_ref()
        .map(|active| active.user.username.to_string());

    let websocket = routed.app.websocket && is_websocket_upgrade(&request);
    let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut request));
    let mut upstream_request =
        upstream_request(runtime, connection, facts, &routed, request, websocket);
    if let Some(active) = &identity {
        let headers = upstream_request.headers_mut();
        let app = routed.app;
        let roles = runtime
            .config
            .policy
            .roles_of(active.user.username.as_str(), &active.groups);
        let password = app.basic_auth_password.as_deref();
        auth::add_identity_headers(headers, active, &app.identity_headers, &roles, password);
        let services = &shared.services;
        auth::add_assertion(
            services,
            &runtime.config,
            &routed.host,
            active,
            &roles,
            headers,
        )
        .await?;
    }
    let response = runtime.pools[routed.app_index].send(upstream_request).await;
    let mut response = response.map_err(|error| upstream_rejection(&error))?;
    record.upstream_status = Some(response.status().as_u16());

    let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    if upgraded {
        let Some(client_upgrade) = client_upgrade else {
            tracing::warn!(app = %routed.app.name, "upstream switched protocols unasked");
            return Err(Rejection::BadGateway);
        };
        tunnel(client_upgrade, hyper::upgrade::on(&mut response));
    }
    let headers = response.headers_mut();
    forward::client_response_headers(headers, &routed.app.response_headers, upgraded);
    cookie::strip_gateway_set_cookies(headers);
    Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
}

/// Hands a request for the portal host to the portal's router.
async fn serve_portal(
    runtime: &Runtime,
    facts: &RequestFacts,
    request: Request<Incoming>,
) -> Result<Response<Body>, Rejection> {
    let Some(router) = runtime.portal.clone() else {
        return Err(Rejection::UnknownHost);
    };
    let context = RequestContext {
        request_id: facts.request_id.clone(),
        client_ip: facts.client_ip,
    };
    let mut request = request.map(axum::body::Body::new);
    request.extensions_mut().insert(context);
    let Ok(response) = tower::ServiceExt::oneshot(router, request).await;
    Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
}

/// Refuses methods the gateway never forwards and request targets over the size limit.
fn check_request_line(request: &Request<Incoming>, runtime: &Runtime) -> Result<(), Rejection> {
    if request.method() == Method::CONNECT || request.method() == Method::TRACE {
        return Err(Rejection::MethodNotAllowed);
    }
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if length > runtime.config.limits.max_uri_bytes {
        return Err(Rejection::UriTooLong);
    }
    Ok(())
}

/// Refuses body framing that two parsers could read differently (RFC 9112 section 6.3):
/// Transfer-Encoding other than a single `chunked`, Transfer-Encoding with Content-Length,
/// repeated Content-Length, and headers that must appear once but appear twice.
fn check_framing(headers: &HeaderMap) -> Result<(), Rejection> {
    let framing = Rejection::BadRequest(BadRequest::Framing);
    let encodings: Vec<&HeaderValue> = headers.get_all(header::TRANSFER_ENCODING).iter().collect();
    let lengths = headers.get_all(header::CONTENT_LENGTH).iter().count();
    if !encodings.is_empty() {
        let single_chunked = encodings.len() == 1
            && encodings[0]
                .to_str()
                .is_ok_and(|value| value.trim().eq_ignore_ascii_case("chunked"));
        if !single_chunked || lengths > 0 {
            return Err(framing);
        }
    }
    if lengths > 1 {
        return Err(framing);
    }
    for name in [header::AUTHORIZATION, header::PROXY_AUTHORIZATION] {
        if headers.get_all(&name).iter().count() > 1 {
            return Err(Rejection::BadRequest(BadRequest::DuplicateHeader));
        }
    }
    Ok(())
}

/// Computes the canonical host and path and finds the app, or the portal.
fn route<'r>(
    runtime: &'r Runtime,
    connection: &Connection,
    request: &Request<Incoming>,
) -> Result<Destination<'r>, Rejection> {
    let bad = |error| Rejection::BadRequest(BadRequest::Canonical(error));
    let host = canonical::canonical_host(request.uri(), request.headers()).map_err(bad)?;
    if !connection.certificate_covers(&host.name) {
        return Err(Rejection::MisdirectedRequest);
    }
    if let Some(query) = request.uri().query() {
        canonical::check_query(query).map_err(bad)?;
    }
    let is_portal = runtime
        .config
        .portal
        .as_ref()
        .is_some_and(|portal| portal.url.host == host.name);
    if is_portal {
        canonical::canonical_path(request.uri().path(), PathOptions::default()).map_err(bad)?;
        return Ok(Destination::Portal(host));
    }
    let routes = runtime
        .routes
        .host(&host.name)
        .ok_or(Rejection::UnknownHost)?;
    let path = canonical::canonical_path(request.uri().path(), routes.options).map_err(bad)?;
    let app_index = routes.app_for(&path).ok_or(Rejection::NoRoute)?;
    Ok(Destination::App(Routed {
        host,
        app: &runtime.config.apps[app_index],
        app_index,
        path,
    }))
}

fn check_body_size(headers: &HeaderMap, app: &App) -> Result<(), Rejection> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > app.max_body_bytes => Err(Rejection::PayloadTooLarge),
        _ => Ok(()),
    }
}

/// Builds the request sent upstream from the canonical path and the cleaned headers.
fn upstream_request(
    runtime: &Runtime,
    connection: &Connection,
    facts: &RequestFacts,
    routed: &Routed<'_>,
    request: Request<Incoming>,
    websocket: bool,
) -> Request<Body> {
    let (parts, body) = request.into_parts();
    let public_host = match routed.host.port {
        Some(port) if port != 443 => format!("{}:{port}", routed.host.name),
        _ => routed.host.name.clone(),
    };
    let client_host = HeaderValue::try_from(public_host.as_str()).ok();
    let host = routed.app.host_rewrite.as_ref().or(client_host.as_ref());
    let fallback = HeaderValue::from_static("localhost");
    let context = ForwardContext {
        client_ip: facts.client_ip,
        peer_ip: connection.peer.ip(),
        peer_trusted: facts.peer_trusted,
        host: host.unwrap_or(&fallback),
        public_host: &public_host,
        request_id: &facts.request_id,
        protected: &runtime.protected_headers,
        websocket,
        edits: &routed.app.request_headers,
    };
    let headers = forward::upstream_request_headers(&parts.headers, &context);
    let target = match parts.uri.query() {
        Some(query) => format!("{}?{query}", routed.path),
        None => routed.path.clone(),
    };
    let limit = usize::try_from(routed.app.max_body_bytes).unwrap_or(usize::MAX);
    let body = Limited::new(body, limit)
        .map_err(|error| -> BoxError {
            if error.is::<http_body_util::LengthLimitError>() {
                error
            } else {
                Box::new(ClientBodyError(error))
            }
        })
        .boxed_unsync();
    let mut upstream = Request::new(body);
    *upstream.method_mut() = parts.method;
    *upstream.uri_mut() = target
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    *upstream.version_mut() = Version::HTTP_11;
    *upstream.headers_mut() = headers;
    upstream
}

fn is_websocket_upgrade(request: &Request<Incoming>) -> bool {
    let headers = request.headers();
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let upgrade_websocket = headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("websocket"));
    request.method() == Method::GET
        && request.version() == Version::HTTP_11
        && connection_upgrade
        && upgrade_websocket
}

/// Joins the client's and the upstream's upgraded connections once both are ready.
fn tunnel(client: OnUpgrade, upstream: OnUpgrade) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!("websocket upgrade did not complete: {error}");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!("websocket tunnel closed: {error}");
        }
    });
}

/// Maps an upstream failure to the client's answer and logs its cause.
fn upstream_rejection(error: &UpstreamError) -> Rejection {
    if let UpstreamError::Exchange { source, .. } = error {
        if caused_by::<http_body_util::LengthLimitError>(source) {
            return Rejection::PayloadTooLarge;
        }
        if caused_by::<ClientBodyError>(source) {
            tracing::debug!("{error}");
            return Rejection::BadRequest(BadRequest::Body);
        }
    }
    tracing::warn!("{error}");
    match error {
        UpstreamError::Timeout { .. } => Rejection::GatewayTimeout,
        UpstreamError::Connect { .. } | UpstreamError::Exchange { .. } => Rejection::BadGateway,
    }
}

/// Whether an error of type `E` is anywhere in the chain of causes.
fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if current.is::<E>() {
            return true;
        }
        cause = current.source();
    }
    false
}

/// The request id: the trusted proxy's, when it sent a well-formed one, else a new UUIDv7.
fn request_id(headers: &HeaderMap, peer_trusted: bool) -> String {
    let from_proxy = peer_trusted
        .then(|| headers.get("x-request-id"))
        .flatten()
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty()
                && value.len() <= 128
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    match from_proxy {
        Some(value) => value.to_owned(),
        None => uuid::Uuid::now_v7().to_string(),
    }
}
