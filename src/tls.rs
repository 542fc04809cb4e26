//! Server certificates: loading, choice by SNI, reload, and the host check behind 421.
//!
//! Owns the rustls server configuration (ring provider, TLS 1.2 and 1.3, ALPN h2 and
//! http/1.1) and the set of certificates it presents. Trusts the certificate files named by
//! the config; a set that fails to load is never swapped in, so a bad file on reload leaves
//! the previous certificates serving.

pub mod devca;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::CertificateFiles;

/// A problem loading certificates, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate file could not be read or holds no certificate.
    #[error("reading certificate {path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A key file could not be read, holds no key, or the key does not fit the certificate.
    #[error("reading private key {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The TLS library refused the configuration.
    #[error("building the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// One loaded certificate chain with its key.
pub struct Certificate {
    key: Arc<CertifiedKey>,
    source: PathBuf,
}

impl Certificate {
    /// Whether this certificate is valid for `host` (a canonical DNS name or IP address).
    pub fn covers(&self, host: &str) -> bool {
        let Some(leaf) = self.key.cert.first() else {
            return false;
        };
        let Ok(parsed) = webpki::EndEntityCert::try_from(leaf) else {
            return false;
        };
        let Ok(name) = ServerName::try_from(host) else {
            return false;
        };
        parsed.verify_is_valid_for_subject_name(&name).is_ok()
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Certificate")
            .field("source", &self.source)
            .finish()
    }
}

/// The certificates presented by the listener; the first is the default.
#[derive(Debug)]
pub struct CertificateSet {
    certificates: Vec<Arc<Certificate>>,
}

impl CertificateSet {
    /// Loads every certificate and key named in the config.
    ///
    /// # Errors
    /// The first file that cannot be read or parsed, or a key that does not match its
    /// certificate.
    pub fn load(files: &[CertificateFiles]) -> Result<CertificateSet, TlsError> {
        let provider = rustls::crypto::ring::default_provider();
        let mut certificates = Vec::with_capacity(files.len());
        for file in files {
            let chain = read_chain(&file.cert)?;
            let key = read_key(&file.key)?;
            let certified =
                CertifiedKey::from_der(chain, key, &provider).map_err(|error| TlsError::Key {
                    path: file.key.clone(),
                    reason: error.to_string(),
                })?;
            certificates.push(Arc::new(Certificate {
                key: Arc::new(certified),
                source: file.cert.clone(),
            }));
        }
        Ok(CertificateSet { certificates })
    }

    /// The certificate to present for a client that asked for `server_name` (SNI).
    ///
    /// The first certificate that covers the name wins; without a name, or when none
    /// covers it, the first certificate is presented, as most servers do.
    pub fn choose(&self, server_name: Option<&str>) -> Option<&Arc<Certificate>> {
        server_name
            .and_then(|name| self.certificates.iter().find(|cert| cert.covers(name)))
            .or_else(|| self.certificates.first())
    }
}

/// The SNI resolver handed to rustls; its set is swapped on reload.
#[derive(Debug)]
pub struct Resolver {
    current: ArcSwap<CertificateSet>,
}

impl Resolver {
    /// A resolver presenting `set`.
    pub fn new(set: CertificateSet) -> Resolver {
        Resolver {
            current: ArcSwap::from_pointee(set),
        }
    }

    /// Replaces the certificates for new handshakes; open connections keep theirs.
    pub fn replace(&self, set: CertificateSet) {
        self.current.store(Arc::new(set));
    }

    /// The certificate the resolver presents for `server_name`, for the host check.
    pub fn chosen(&self, server_name: Option<&str>) -> Option<Arc<Certificate>> {
        self.current.load().choose(server_name).cloned()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let set = self.current.load();
        set.choose(client_hello.server_name())
            .map(|cert| cert.key.clone())
    }
}

/// Builds the rustls server config around `resolver`.
///
/// # Errors
/// If rustls refuses the protocol versions (it does not for the ring provider).
pub fn server_config(resolver: Arc<Resolver>) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Reads a PEM bundle of CA certificates into a root store.
///
/// # Errors
/// If the file cannot be read, holds no certificate, or one is malformed.
pub fn read_roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_chain(path)? {
        roots.add(cert).map_err(|error| TlsError::Certificate {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
    }
    Ok(roots)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let failure = |reason: String| TlsError::Certificate {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|error| failure(error.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| failure(format!("malformed PEM: {error}")))?;
    if chain.is_empty() {
        return Err(failure("no certificate found".into()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let failure = |reason: String| TlsError::Key {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|error| failure(error.to_string()))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
        pki_types::pem::Error::NoItemsFound => failure("no private key found".into()),
        other => failure(format!("malformed PEM: {other}")),
    })
}
