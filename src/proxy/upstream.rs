//! Upstream pools: one keep-alive HTTP client per app, round robin over its servers, and
//! passive health (a server that failed to connect or answer is left out for a while).
//!
//! Owns connections to upstreams and the decision which server gets a request. Trusts the
//! config's URLs and CA files. Retries only a request that never reached any server (a
//! connect failure) and only when the method is idempotent and the body empty, so nothing
//! is ever sent twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Method, Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::config::{App, UpstreamTls, UpstreamUrl};
use http_body_util::BodyExt;

use crate::proxy::body::{Body, Finished};
use crate::tls::{TlsError, read_roots};

/// Why a request could not be completed with an upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made to any server tried.
    #[error("connecting to {upstream}: {source}")]
    Connect {
        /// The server tried last.
        upstream: String,
        /// The cause.
        source: hyper_util::client::legacy::Error,
    },
    /// The server did not send a response head in time.
    #[error("{upstream} did not answer within {timeout:?}")]
    Timeout {
        /// The server.
        upstream: String,
        /// The limit.
        timeout: Duration,
    },
    /// The exchange failed after the request was sent or while it was being sent.
    #[error("exchange with {upstream} failed: {source}")]
    Exchange {
        /// The server.
        upstream: String,
        /// The cause.
        source: hyper_util::client::legacy::Error,
    },
}

/// One upstream server and its health.
#[derive(Debug)]
struct Server {
    url: UpstreamUrl,
    /// Milliseconds since the pool's epoch until which the server is left out; 0 = healthy.
    down_until: AtomicU64,
}

/// The servers of one app and the client that talks to them.
#[derive(Debug)]
pub struct UpstreamPool {
    servers: Vec<Server>,
    next: AtomicUsize,
    client: Client<HttpsConnector<HttpConnector>, Body>,
    response_timeout: Duration,
    fail_timeout: Duration,
    epoch: Instant,
}

impl UpstreamPool {
    /// Builds the pool for `app`.
    ///
    /// # Errors
    /// If the app's CA file cannot be read.
    pub fn new(
        app: &App,
        idle: Duration,
        fail_timeout: Duration,
    ) -> Result<UpstreamPool, TlsError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(app.connect_timeout));
        let tls = client_tls(&app.upstream_tls)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(idle)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .set_host(false)
            .build(connector);
        let servers = app
            .upstreams
            .iter()
            .map(|url| Server {
                url: url.clone(),
                down_until: AtomicU64::new(0),
            })
            .collect();
        Ok(UpstreamPool {
            servers,
            next: AtomicUsize::new(0),
            client,
            response_timeout: app.response_timeout,
            fail_timeout,
            epoch: Instant::now(),
        })
    }

    /// Sends `request` (whose URI holds only path and query) to a healthy server.
    ///
    /// # Errors
    /// [`UpstreamError`] when no server could be reached or the exchange failed.
    pub async fn send(&self, request: Request<Body>) -> Result<Response<Incoming>, UpstreamError> {
        let empty = hyper::body::Body::is_end_stream(request.body());
        let mut attempts_left = if empty && is_idempotent(request.method()) {
            self.servers.len()
        } else {
            1
        };
        let (parts, body) = request.into_parts();
        let mut body = Some(body);
        loop {
            attempts_left -= 1;
            let server = self.pick();
            let body = body.take().unwrap_or_else(super::body::empty);
            let mut attempt = Request::from_parts(parts.clone(), body);
            *attempt.uri_mut() = upstream_uri(&server.url, &parts.uri);
            match self.exchange(server, attempt).await {
                Err(error @ UpstreamError::Connect { .. }) if attempts_left > 0 => {
                    tracing::debug!("retrying on another upstream: {error}");
                }
                result => return result,
            }
        }
    }

    async fn exchange(
        &self,
        server: &Server,
        request: Request<Body>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let upstream = server.url.to_string();
        let (parts, body) = request.into_parts();
        let (body, finished) = Finished::new(body);
        let sent = self
            .client
            .request(Request::from_parts(parts, body.boxed_unsync()));
        // The response timeout runs from the end of the request body, not its start.
        let deadline = async {
            let _ = finished.await;
            tokio::time::sleep(self.response_timeout).await;
        };
        let result = tokio::select! {
            result = sent => result,
            () = deadline => {
                self.mark_down(server);
                return Err(UpstreamError::Timeout { upstream, timeout: self.response_timeout });
            }
        };
        match result {
            Ok(response) => Ok(response),
            Err(source) if source.is_connect() => {
                self.mark_down(server);
                Err(UpstreamError::Connect { upstream, source })
            }
            Err(source) => Err(UpstreamError::Exchange { upstream, source }),
        }
    }

    /// The next server in rotation that is not left out; if all are, the one whose time out
    /// ends first, so a pool never refuses outright.
    fn pick(&self) -> &Server {
        let now = self.now_ms();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.servers.len();
        (0..count)
            .map(|offset| &self.servers[(start + offset) % count])
            .find(|server| server.down_until.load(Ordering::Relaxed) <= now)
            .unwrap_or_else(|| {
                let soonest = self
                    .servers
                    .iter()
                    .min_by_key(|s| s.down_until.load(Ordering::Relaxed));
                soonest.unwrap_or(&self.servers[start % count])
            })
    }

    fn mark_down(&self, server: &Server) {
        let until =
            self.now_ms() + u64::try_from(self.fail_timeout.as_millis()).unwrap_or(u64::MAX);
        server.down_until.store(until, Ordering::Relaxed);
        tracing::warn!(upstream = %server.url, "upstream failed; leaving it out for {:?}", self.fail_timeout);
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

fn upstream_uri(server: &UpstreamUrl, original: &Uri) -> Uri {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(server.scheme.clone());
    parts.authority = Some(server.authority.clone());
    parts.path_and_query = original.path_and_query().cloned();
    Uri::from_parts(parts).unwrap_or_else(|_| original.clone())
}

/// The rustls client config for an app's upstreams.
fn client_tls(settings: &UpstreamTls) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    // hyper-rustls sets ALPN itself from the enabled HTTP versions (HTTP/1.1 only here).
    let config = if settings.dangerous_skip_verify {
        tracing::warn!("upstream TLS verification is switched off (dangerous_skip_verify)");
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth()
    } else if let Some(ca) = &settings.ca {
        builder
            .with_root_certificates(read_roots(ca)?)
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(system_roots())
            .with_no_client_auth()
    };
    Ok(config)
}

/// The operating system's trusted roots, read once.
fn system_roots() -> Arc<rustls::RootCertStore> {
    static ROOTS: std::sync::OnceLock<Arc<rustls::RootCertStore>> = std::sync::OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            for error in &loaded.errors {
                tracing::warn!("reading system root certificates: {error}");
            }
            let mut roots = rustls::RootCertStore::empty();
            let (_, ignored) = roots.add_parsable_certificates(loaded.certs);
            if ignored > 0 {
                tracing::debug!("ignored {ignored} unparsable system root certificates");
            }
            Arc::new(roots)
        })
        .clone()
}

/// Accepts any upstream certificate but still checks handshake signatures.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, signature, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, signature, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
