//! The running gateway: binds listeners, holds the current configuration, reloads it, and
//! shuts down gracefully. This is the one place that knows every part.
//!
//! A reload reads the config file and every certificate again and swaps them in together;
//! if anything fails, nothing is swapped and the error is returned and logged, so a bad file
//! never takes the running configuration down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, ConfigError};
use crate::identity::users_file;
use crate::proxy::{Runtime, Shared, listener};
use crate::services::{Services, ServicesError};
use crate::tls::{self, CertificateSet, Resolver, TlsError};

/// Why the gateway could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A certificate, key or CA file could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The store could not be opened.
    #[error(transparent)]
    Services(#[from] ServicesError),
    /// The users file is invalid or could not be applied.
    #[error("{0}")]
    UsersFile(String),
    /// A listener could not be bound.
    #[error("listening on {address}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    reloader: Arc<Reloader>,
    https_address: SocketAddr,
    http_address: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    graceful: Arc<GracefulShutdown>,
    tasks: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Binds the listeners and starts serving `config`. With `config_path`, the file is
    /// watched and [`Gateway::reload`] reads it again.
    ///
    /// # Errors
    /// Certificates that cannot be loaded, CA files that cannot be read, addresses that
    /// cannot be bound.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
    ) -> Result<Gateway, GatewayError> {
        let services = Services::open(&config).await?;
        Gateway::start_with(config, config_path, services).await
    }

    /// Like [`Gateway::start`], with services opened by the caller (tests pass a manual
    /// clock and cheap password hashing this way).
    ///
    /// # Errors
    /// As [`Gateway::start`].
    pub async fn start_with(
        config: Config,
        config_path: Option<PathBuf>,
        services: Services,
    ) -> Result<Gateway, GatewayError> {
        log_warnings(&config);
        let certificates = CertificateSet::load(&config.certificates)?;
        let resolver = Arc::new(Resolver::new(certificates));
        let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(resolver.clone())?));
        let listen = config.listen.clone();
        if let Some(path) = &config.users_file {
            sync_users_file(&services, path).await?;
        }
        let services = Arc::new(services);
        let runtime = Runtime::build(config, &services)?;
        let shared = Arc::new(Shared {
            runtime: ArcSwap::from_pointee(runtime),
            resolver,
            services,
        });
        let (stop, stopped) = watch::channel(false);
        let graceful = Arc::new(GracefulShutdown::new());

        let https = bind(listen.https).await?;
        let https_address = local_address(&https, listen.https)?;
        let mut tasks = vec![tokio::spawn(listener::serve_https(
            https,
            shared.clone(),
            acceptor,
            stopped.clone(),
            graceful.clone(),
        ))];
        let mut http_address = None;
        if let Some(address) = listen.http {
            let http = bind(address).await?;
            http_address = Some(local_address(&http, address)?);
            let port = https_address.port();
            let redirect = listener::serve_redirect(
                http,
                shared.clone(),
                port,
                stopped.clone(),
                graceful.clone(),
            );
            tasks.push(tokio::spawn(redirect));
        }
        let reloader = Arc::new(Reloader {
            shared,
            config_path,
        });
        let mut gateway = Gateway {
            reloader,
            https_address,
            http_address,
            stop,
            graceful,
            tasks,
        };
        gateway.watch_files(stopped);
        Ok(gateway)
    }

    /// The bound HTTPS address (useful when the config asked for port 0).
    pub fn https_address(&self) -> SocketAddr {
        self.https_address
    }

    /// The bound plain-HTTP address, if that listener is on.
    pub fn http_address(&self) -> Option<SocketAddr> {
        self.http_address
    }

    /// The store, directory and sessions behind the gateway.
    pub fn services(&self) -> &Services {
        &self.reloader.shared.services
    }

    /// The configuration currently serving.
    pub fn config(&self) -> Arc<Config> {
        self.reloader.shared.runtime.load().config.clone()
    }

    /// Reads the config file and certificates again and swaps them in; on any error the
    /// running configuration stays and the error is returned.
    ///
    /// # Errors
    /// The problems found in the new configuration or its files.
    pub fn reload(&self) -> Result<(), GatewayError> {
        self.reloader.reload()
    }

    /// Swaps in `config` (and its certificates) for new requests.
    ///
    /// # Errors
    /// Certificates or CA files that cannot be used; nothing is changed then.
    pub fn apply(&self, config: Config) -> Result<(), GatewayError> {
        self.reloader.apply(config)
    }

    /// Stops accepting, lets open requests finish for up to the configured grace period,
    /// then returns.
    pub async fn shutdown(self) {
        let grace = self.config().timeouts.shutdown_grace;
        let _ = self.stop.send(true);
        // The accept loops and the watcher end on the stop signal and drop their handles on
        // the shutdown coordinator, which can then wait for the open connections alone.
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::warn!("a gateway task ended abnormally: {error}");
            }
        }
        let Ok(graceful) = Arc::try_unwrap(self.graceful) else {
            tracing::error!("shutdown coordinator still shared; not waiting for requests");
            return;
        };
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("requests still open after the {grace:?} grace period were cut");
        }
    }

    /// Polls the config and certificate files for changes and reloads when one changes.
    fn watch_files(&mut self, mut stopped: watch::Receiver<bool>) {
        let reloader = self.reloader.clone();
        let mut seen = reloader.fingerprint();
        let task = tokio::spawn(async move {
            loop {
                let interval = reloader.shared.runtime.load().config.watch_interval;
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stopped.changed() => return,
                }
                let now = reloader.fingerprint();
                if now != seen {
                    seen = now;
                    if let Err(error) = reloader.reload() {
                        tracing::error!(
                            target: "portcullis::config",
                            "files changed but the new configuration was refused; \
                             the old one stays:\n{error}"
                        );
                    }
                }
            }
        });
        self.tasks.push(task);
    }
}

/// Reads and swaps in configurations; shared by the gateway and its file watcher.
#[derive(Debug)]
struct Reloader {
    shared: Arc<Shared>,
    config_path: Option<PathBuf>,
}

impl Reloader {
    fn reload(&self) -> Result<(), GatewayError> {
        let config = match &self.config_path {
            Some(path) => Config::load(path)?,
            None => Config::clone(&self.shared.runtime.load().config),
        };
        self.apply(config)
    }

    fn apply(&self, config: Config) -> Result<(), GatewayError> {
        let old = self.shared.runtime.load().config.clone();
        if config.listen.https != old.listen.https || config.listen.http != old.listen.http {
            tracing::warn!("listen addresses changed in the config; they apply after a restart");
        }
        let certificates = CertificateSet::load(&config.certificates)?;
        log_warnings(&config);
        if config.store != old.store {
            tracing::warn!("the store URL changed in the config; it applies after a restart");
        }
        let runtime = Runtime::build(config, &self.shared.services)?;
        self.shared.resolver.replace(certificates);
        let users_file = runtime.config.users_file.clone();
        self.shared.runtime.store(Arc::new(runtime));
        tracing::info!(target: "portcullis::config", "configuration reloaded");
        if let Some(path) = users_file {
            let shared = self.shared.clone();
            tokio::spawn(async move {
                if let Err(error) = sync_users_file(&shared.services, &path).await {
                    tracing::error!(target: "portcullis::config", "{error}; the store keeps its users");
                }
            });
        }
        Ok(())
    }

    /// Modification times and sizes of the config file and every certificate and key.
    fn fingerprint(&self) -> Vec<Option<(SystemTime, u64)>> {
        let config = self.shared.runtime.load().config.clone();
        let files = self
            .config_path
            .iter()
            .cloned()
            .chain(config.users_file.clone())
            .chain(
                config
                    .certificates
                    .iter()
                    .flat_map(|files| [files.cert.clone(), files.key.clone()]),
            );
        files
            .map(|path| {
                let meta = std::fs::metadata(path).ok()?;
                Some((meta.modified().ok()?, meta.len()))
            })
            .collect()
    }
}

/// Makes the store follow the users file; a file that does not load changes nothing.
async fn sync_users_file(services: &Services, path: &std::path::Path) -> Result<(), GatewayError> {
    let failed = |error: &dyn std::fmt::Display| GatewayError::UsersFile(error.to_string());
    let file = users_file::load(path).map_err(|error| failed(&error))?;
    let report = users_file::sync(&services.directory, &file)
        .await
        .map_err(|error| failed(&error))?;
    if !report.is_unchanged() {
        tracing::info!(target: "portcullis::config", "users file {} applied: {report}", path.display());
    }
    Ok(())
}

/// Logs the policy warnings of a config being put in service.
fn log_warnings(config: &Config) {
    for warning in &config.warnings {
        tracing::warn!(target: "portcullis::config", "{warning}");
    }
}

async fn bind(address: SocketAddr) -> Result<TcpListener, GatewayError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| GatewayError::Bind { address, source })
}

fn local_address(listener: &TcpListener, address: SocketAddr) -> Result<SocketAddr, GatewayError> {
    listener
        .local_addr()
        .map_err(|source| GatewayError::Bind { address, source })
}
