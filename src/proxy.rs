//! The data plane: listeners, the canonical request, forwarding and upstream pools.
//!
//! A [`Runtime`] is one generation of the configuration compiled for serving: route table,
//! upstream pools and the names of protected headers. [`Shared`] holds the current runtime
//! behind an atomic pointer, so a reload swaps it in one step and requests in flight finish
//! on the generation they started with.

pub mod access;
pub mod auth;
pub mod body;
pub mod canonical;
pub mod endpoints;
pub mod forward;
pub mod handler;
pub mod listener;
pub mod reject;
pub mod route;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::portal::{self, PortalState};
use crate::proxy::route::RouteTable;
use crate::proxy::upstream::UpstreamPool;
use crate::services::Services;
use crate::tls::{Certificate, Resolver, TlsError};

/// Header names (folded: lower case, `-`) that only the gateway sets upstream. A client's
/// header with any of these names, in any spelling, is removed before forwarding; the
/// configured assertion header joins them in [`Runtime::build`].
pub const DEFAULT_PROTECTED_HEADERS: [&str; 6] = [
    "remote-user",
    "remote-email",
    "remote-name",
    "remote-groups",
    "remote-roles",
    "x-portcullis-assertion",
];

/// One configuration generation, compiled for serving.
#[derive(Debug)]
pub struct Runtime {
    /// The checked configuration.
    pub config: Arc<Config>,
    /// Host and path prefix to app.
    pub routes: Arc<RouteTable>,
    /// The portal's router, when a portal is configured.
    pub portal: Option<axum::Router>,
    /// One pool per app, in config order.
    pub pools: Vec<UpstreamPool>,
    /// Folded header names a client may never send upstream.
    pub protected_headers: Vec<String>,
}

impl Runtime {
    /// Compiles `config`; the portal's pages use `services`.
    ///
    /// # Errors
    /// If an app's upstream CA file cannot be read.
    pub fn build(config: Config, services: &Arc<Services>) -> Result<Runtime, TlsError> {
        let pools = config
            .apps
            .iter()
            .map(|app| UpstreamPool::new(app, config.timeouts.idle, config.upstream_fail_timeout))
            .collect::<Result<Vec<_>, _>>()?;
        let config = Arc::new(config);
        let routes = Arc::new(RouteTable::new(&config.apps));
        let portal = config.portal.as_ref().map(|_| {
            portal::router(PortalState::new(
                config.clone(),
                routes.clone(),
                services.clone(),
            ))
        });
        let mut protected_headers: Vec<String> = DEFAULT_PROTECTED_HEADERS
            .iter()
            .map(|&name| name.into())
            .collect();
        let configured = config
            .apps
            .iter()
            .flat_map(|app| app.identity_headers.all())
            .chain([&config.assertion.header]);
        for name in configured {
            let folded = forward::fold_name(name.as_str());
            if !protected_headers.contains(&folded) {
                protected_headers.push(folded);
            }
        }
        Ok(Runtime {
            config,
            routes,
            portal,
            pools,
            protected_headers,
        })
    }
}

/// State shared by every connection.
#[derive(Debug)]
pub struct Shared {
    /// The configuration generation new requests use.
    pub runtime: ArcSwap<Runtime>,
    /// The certificates new TLS handshakes use.
    pub resolver: Arc<Resolver>,
    /// Store, directory and sessions; kept across reloads.
    pub services: Arc<Services>,
}

/// What the gateway knows about one client connection.
#[derive(Debug)]
pub struct Connection {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The certificate presented in the handshake (none on plain HTTP).
    pub certificate: Option<Arc<Certificate>>,
    /// The last host found covered by the certificate, so the check runs once per host.
    covered_host: OnceLock<String>,
}

impl Connection {
    /// A connection from `peer` that was shown `certificate`.
    pub fn new(peer: SocketAddr, certificate: Option<Arc<Certificate>>) -> Connection {
        Connection {
            peer,
            certificate,
            covered_host: OnceLock::new(),
        }
    }

    /// Whether the certificate shown on this connection covers `host`. A browser may reuse
    /// one HTTP/2 connection for every name its certificate covers; any other name is
    /// answered with 421 so the browser opens a fresh connection (RFC 9110 section 15.5.20).
    pub fn certificate_covers(&self, host: &str) -> bool {
        let Some(certificate) = &self.certificate else {
            return true;
        };
        if self.covered_host.get().is_some_and(|known| known == host) {
            return true;
        }
        let covered = certificate.covers(host);
        if covered {
            let _ = self.covered_host.set(host.to_owned());
        }
        covered
    }
}
