//! `portcullis dev`: one command, no setup. Creates a local CA and a certificate under a
//! certs folder, starts two demo apps on loopback, fills the embedded configuration with
//! their addresses and starts the gateway on it. `*.localhost` names resolve to loopback in
//! browsers and curl without editing a hosts file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::authn::Secret;
use crate::config::{Config, ConfigError};
use crate::demo::{self, DemoApp};
use crate::gateway::{Gateway, GatewayError};
use crate::identity::{GroupName, NewUser, Username, one_time_password};
use crate::tls::devca::{self, DevCaError};

/// The embedded configuration template used by `dev`.
pub const DEV_CONFIG: &str = include_str!("../config/dev.yaml");

/// The demo users: name, display name, groups.
const DEMO_USERS: [(&str, &str, &str); 2] = [
    ("alice", "Alice Admin", "admins"),
    ("bob", "Bob Staff", "staff"),
];

/// Names on the development certificate.
const DEV_NAMES: [&str; 5] = [
    "localhost",
    "hello.localhost",
    "echo.localhost",
    "auth.localhost",
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
    /// The folder for the SQLite database.
    pub data: PathBuf,
}

/// Why the development gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// Certificates could not be created.
    #[error(transparent)]
    Certificates(#[from] DevCaError),
    /// A demo app could not bind a loopback port.
    #[error("starting a demo app: {0}")]
    Demo(#[from] std::io::Error),
    /// The embedded configuration did not check (a bug).
    #[error("the embedded dev configuration is invalid: {0}")]
    Config(#[from] ConfigError),
    /// The gateway did not start.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The demo users could not be set up.
    #[error("setting up the demo users: {0}")]
    Users(String),
}

/// A running development setup: the gateway and its demo apps.
#[derive(Debug)]
pub struct DevGateway {
    /// The gateway.
    pub gateway: Gateway,
    /// The CA certificate to trust.
    pub ca_cert: PathBuf,
    /// Demo users and their passwords for this run.
    pub users: Vec<(String, Secret)>,
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
    let port = match options.https.port() {
        0 => free_port(options.https)?,
        port => port,
    };
    let https = SocketAddr::new(options.https.ip(), port);
    let text = DEV_CONFIG
        .replace("{https}", &https.to_string())
        .replace("{port}", &port.to_string())
        .replace("{data}", &options.data.display().to_string())
        .replace("{http}", &options.http.to_string())
        .replace("{cert}", &certificates.server.cert.display().to_string())
        .replace("{key}", &certificates.server.key.display().to_string())
        .replace("{hello}", &hello.address.to_string())
        .replace("{echo}", &echo.address.to_string());
    let config = Config::parse(&text, "<embedded dev config>", Path::new("."))?;
    let gateway = Gateway::start(config, None).await?;
    let users = demo_users(&gateway).await?;
    Ok(DevGateway {
        gateway,
        ca_cert: certificates.ca_cert,
        users,
        _apps: vec![hello, echo],
    })
}

/// Creates the demo users, or gives them new passwords, so the printed ones work.
async fn demo_users(gateway: &Gateway) -> Result<Vec<(String, Secret)>, DevError> {
    let directory = &gateway.services().directory;
    let failed = |error: &dyn std::fmt::Display| DevError::Users(error.to_string());
    let mut users = Vec::new();
    for (name, display_name, group) in DEMO_USERS {
        let username = Username::parse(name).map_err(|error| failed(&error))?;
        let password = one_time_password().map_err(|error| failed(&error))?;
        let exists = directory
            .get_user(&username)
            .await
            .map_err(|error| failed(&error))?;
        if exists.is_some() {
            let reset = directory.set_password(&username, &password, false).await;
            reset.map_err(|error| failed(&error))?;
        } else {
            let new = NewUser {
                username,
                display_name: Some(display_name.to_owned()),
                email: Some(format!("{name}@example.test")),
                groups: vec![GroupName::parse(group).map_err(|error| failed(&error))?],
                password: password.clone(),
                must_change_password: false,
            };
            directory
                .add_user(new)
                .await
                .map_err(|error| failed(&error))?;
        }
        users.push((name.to_owned(), password));
    }
    Ok(users)
}

/// A port that is free now on `address`'s interface; the portal URL must name it before
/// the listener binds.
fn free_port(address: SocketAddr) -> std::io::Result<u16> {
    let probe = std::net::TcpListener::bind(SocketAddr::new(address.ip(), 0))?;
    probe.local_addr().map(|bound| bound.port())
}

/// The lines `dev` prints once it is up: URLs to open and where the CA is.
pub fn banner(dev: &DevGateway) -> String {
    let port = dev.gateway.https_address().port();
    let ca = dev.ca_cert.display();
    let users: String = dev
        .users
        .iter()
        .map(|(name, password)| format!("    {name:<6} {}\n", password.expose()))
        .collect();
    format!(
        "Portcullis dev gateway is up.\n\n  \
         Demo apps (they show the request they received, identity headers included):\n    \
         https://hello.localhost:{port}/        any signed-in user; /public/ is open\n    \
         https://echo.localhost:{port}/         staff and admins; /admin/ only admins\n    \
         https://auth.localhost:{port}/account  the sign-in portal\n\n  \
         Demo users (new passwords at every start):\n{users}    \
         alice is an admin, bob is staff: bob gets 403 on https://echo.localhost:{port}/admin/\n\n  \
         Trust the development CA in your browser, or use it with curl:\n    \
         CA file: {ca}\n    curl --cacert {ca} https://hello.localhost:{port}/public/\n\n  \
         Press Ctrl-C to stop.\n"
    )
}
