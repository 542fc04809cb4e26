//! `portcullis dev`: one command, no setup. Creates a local CA and a certificate under a
//! certs folder, starts two demo apps on loopback, fills the embedded configuration with
//! their addresses and starts the gateway on it. `*.localhost` names resolve to loopback in
//! browsers and curl without editing a hosts file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};
use crate::demo::{self, DemoApp};
use crate::gateway::{Gateway, GatewayError};
use crate::tls::devca::{self, DevCaError};

/// The embedded configuration template used by `dev`.
pub const DEV_CONFIG: &str = include_str!("../config/dev.yaml");

/// Names on the development certificate.
const DEV_NAMES: [&str; 6] = [
    "localhost",
    "hello.localhost",
    "echo.localhost",
    "auth.localhost",
    "*.localhost",
    "127.0.0.1",
];

/// Where the development gateway listens and keeps its files.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// The folder for the CA and certificates.
    pub certs: PathBuf,
    /// The HTTPS address.
    pub https: SocketAddr,
    /// The plain-HTTP (redirect) address.
    pub http: SocketAddr,
}

/// Why the development gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// Certificates could not be created.
    #[error("{0}")]
    Certificates(#[from] DevCaError),
    /// A demo app could not bind a loopback port.
    #[error("starting a demo app: {0}")]
    Demo(#[from] std::io::Error),
    /// The embedded configuration did not check (a bug).
    #[error("the embedded dev configuration is invalid: {0}")]
    Config(#[from] ConfigError),
    /// The gateway did not start.
    #[error("{0}")]
    Gateway(#[from] GatewayError),
}

/// A running development setup: the gateway and its demo apps.
#[derive(Debug)]
pub struct DevGateway {
    /// The gateway.
    pub gateway: Gateway,
    /// The CA certificate to trust.
    pub ca_cert: PathBuf,
    _apps: Vec<DemoApp>,
}

/// Starts the development setup.
///
/// # Errors
/// See [`DevError`].
pub async fn start(options: &DevOptions) -> Result<DevGateway, DevError> {
    let certificates = devca::ensure(&options.certs, &DEV_NAMES)?;
    let hello = demo::spawn_echo("hello").await?;
    let echo = demo::spawn_echo("echo").await?;
    let text = DEV_CONFIG
        .replace("{https}", &options.https.to_string())
        .replace("{http}", &options.http.to_string())
        .replace("{cert}", &certificates.server.cert.display().to_string())
        .replace("{key}", &certificates.server.key.display().to_string())
        .replace("{hello}", &hello.address.to_string())
        .replace("{echo}", &echo.address.to_string());
    let config = Config::parse(&text, "<embedded dev config>", Path::new("."))?;
    let gateway = Gateway::start(config, None).await?;
    Ok(DevGateway {
        gateway,
        ca_cert: certificates.ca_cert,
        _apps: vec![hello, echo],
    })
}

/// The lines `dev` prints once it is up: URLs to open and where the CA is.
pub fn banner(dev: &DevGateway) -> String {
    let port = dev.gateway.https_address().port();
    let ca = dev.ca_cert.display();
    format!(
        "Portcullis dev gateway is up.\n\n  \
         Demo apps (they show the request they received):\n    \
         https://hello.localhost:{port}/\n    https://echo.localhost:{port}/\n\n  \
         Trust the development CA in your browser, or use it with curl:\n    \
         CA file: {ca}\n    curl --cacert {ca} https://hello.localhost:{port}/\n\n  \
         Press Ctrl-C to stop.\n"
    )
}
