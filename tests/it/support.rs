//! Test harness: a real gateway on `127.0.0.1:0` with generated certificates and a temporary
//! config file, in front of real echo upstreams, with real TLS clients.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use portcullis::authn::password::HashParams;
use portcullis::demo::{self, DemoApp};
use portcullis::services::Services;
use portcullis::store::ManualClock;
use portcullis::tls::devca;
use portcullis::{Config, Gateway};
use rustls::pki_types::ServerName;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The cheapest Argon2 parameters: these tests are not about hashing cost.
pub const CHEAP: HashParams = HashParams {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

/// Names the main test certificate covers.
pub const MAIN_NAMES: [&str; 3] = ["app.example.test", "*.example.test", "localhost"];
/// Names the second test certificate covers.
pub const OTHER_NAMES: [&str; 1] = ["b.test"];
/// Every host name a test client resolves to the gateway.
const TEST_HOSTS: [&str; 8] = [
    "app.example.test",
    "api.example.test",
    "ws.example.test",
    "big.example.test",
    "down.example.test",
    "slow.example.test",
    "new.example.test",
    "b.test",
];

/// The apps most tests use; `{echo}` is the echo upstream's address.
pub const DEFAULT_APPS: &str = "
  - name: app
    host: app.example.test
    upstream: [\"http://{echo}\"]
  - name: api
    host: api.example.test
    upstream: [\"http://{echo}\"]
    case_insensitive_paths: true
  - name: b
    host: b.test
    upstream: [\"http://{echo}\"]
";

/// A running gateway with its files and upstream.
pub struct TestGateway {
    pub gateway: Gateway,
    pub echo: DemoApp,
    pub dir: TempDir,
    pub config_path: PathBuf,
    pub main_ca: PathBuf,
    pub other_ca: PathBuf,
    pub clock: ManualClock,
    apps: String,
    port: u16,
}

impl TestGateway {
    /// Starts a gateway serving `apps` (YAML list items, `{echo}` filled in).
    pub async fn start(apps: &str) -> TestGateway {
        TestGateway::start_with(apps, "").await
    }

    /// Like [`TestGateway::start`], with extra top-level YAML; `{port}` in it is the
    /// HTTPS port, chosen before start so a portal URL can name it.
    pub async fn start_with(apps: &str, extra: &str) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        let main = devca::issue_with_new_ca(dir.path(), "main", &MAIN_NAMES).unwrap();
        let other = devca::issue_with_new_ca(dir.path(), "other", &OTHER_NAMES).unwrap();
        let echo = demo::spawn_echo("echo").await.unwrap();
        let apps = apps.replace("{echo}", &echo.address.to_string());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let extra = extra.replace("{port}", &port.to_string());
        let config_path = dir.path().join("portcullis.yaml");
        std::fs::write(&config_path, config_text(port, &apps, &extra)).unwrap();
        let config = Config::load(&config_path).unwrap();
        let clock = ManualClock::new(SystemTime::now());
        let services = Services::open_with(&config, Arc::new(clock.clone()), CHEAP)
            .await
            .unwrap();
        let gateway = Gateway::start_with(config, Some(config_path.clone()), services)
            .await
            .unwrap();
        TestGateway {
            gateway,
            echo,
            dir,
            config_path,
            main_ca: main.ca_cert,
            other_ca: other.ca_cert,
            apps,
            port,
            clock,
        }
    }

    /// The gateway's HTTPS address.
    pub fn address(&self) -> SocketAddr {
        self.gateway.https_address()
    }

    /// `https://host:port/path` on the gateway.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.address().port())
    }

    /// Rewrites the config file with `apps` and `extra` top-level YAML.
    pub fn write_config(&self, apps: &str, extra: &str) {
        std::fs::write(&self.config_path, config_text(self.port, apps, extra)).unwrap();
    }

    /// The apps YAML this gateway started with, `{echo}` filled in.
    pub fn apps(&self) -> &str {
        &self.apps
    }

    /// A reqwest client trusting both test CAs, speaking HTTP/1.1 only.
    pub fn client(&self) -> reqwest::Client {
        self.client_builder(&[b"http/1.1"]).build().unwrap()
    }

    /// A reqwest client that negotiates HTTP/2.
    pub fn h2_client(&self) -> reqwest::Client {
        self.client_builder(&[b"h2"]).build().unwrap()
    }

    fn client_builder(&self, alpn: &[&[u8]]) -> reqwest::ClientBuilder {
        let mut tls = client_tls(&[&self.main_ca, &self.other_ca]);
        tls.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(60));
        for host in TEST_HOSTS {
            builder = builder.resolve(host, self.address());
        }
        builder
    }

    /// Opens a TLS connection with `sni`, trusting both test CAs.
    pub async fn connect(&self, sni: &str) -> TlsStream<TcpStream> {
        connect_tls(
            self.address(),
            sni,
            &[&self.main_ca, &self.other_ca],
            &[b"http/1.1"],
        )
        .await
        .unwrap()
    }

    /// Sends `request` as raw bytes over TLS and returns everything the gateway sent back
    /// until it closed the connection. Requests should end with `Connection: close` or be
    /// refused in a way that closes the connection.
    pub async fn raw(&self, sni: &str, request: &str) -> String {
        let mut stream = self.connect(sni).await;
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response));
        match read.await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Ok(Err(error)) => panic!("reading raw response: {error}"),
            Err(_) => panic!(
                "gateway kept the connection open: {}",
                String::from_utf8_lossy(&response)
            ),
        }
        String::from_utf8_lossy(&response).into_owned()
    }
}

/// A config file text with both test certificates and `apps`.
fn config_text(port: u16, apps: &str, extra: &str) -> String {
    // Proxy tests run without rules; tests of the policy set their own `default`.
    let default = if extra.contains("default:") {
        ""
    } else {
        "default: public"
    };
    format!(
        "listen: {{ https: \"127.0.0.1:{port}\" }}
tls:
  certificates:
    - {{ cert: main.crt, key: main.key }}
    - {{ cert: other.crt, key: other.key }}
watch_interval: 50ms
timeouts: {{ connect: 2s, response: 5s }}
upstream_health: {{ fail_timeout: 1s }}
log: {{ level: debug }}
{default}
{extra}
apps:
{apps}"
    )
}

/// Makes ring the process-wide rustls provider, for clients built without a config.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A rustls client config trusting the given CA files.
pub fn client_tls(cas: &[&PathBuf]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        for cert in portcullis::tls::read_roots(ca).unwrap().roots {
            roots.roots.push(cert);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A TLS connection to `address` presenting `sni`.
pub async fn connect_tls(
    address: SocketAddr,
    sni: &str,
    cas: &[&PathBuf],
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut tls = client_tls(cas);
    tls.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    let connector = TlsConnector::from(Arc::new(tls));
    let tcp = TcpStream::connect(address).await?;
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    connector.connect(name, tcp).await
}

/// The status code of a raw HTTP/1.1 response.
pub fn status_of(raw: &str) -> u16 {
    raw.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// How many HTTP/1.1 responses a raw reply holds.
pub fn answers(raw: &str) -> usize {
    raw.match_indices("HTTP/1.1 ")
        .filter(|(at, _)| raw[at + 9..].starts_with(|c: char| c.is_ascii_digit()))
        .count()
}

/// The echo document in a response body.
pub async fn echo_of(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not an echo document: {text}"))
}

/// Every value the echo received for header `name` (lower case).
pub fn echo_headers(echo: &Value, name: &str) -> Vec<String> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap().to_owned())
        .collect()
}

/// A free loopback port with nothing listening on it.
pub async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Top-level YAML for a portal on `auth.example.test` at the test port.
pub const PORTAL: &str =
    "portal: { url: \"https://auth.example.test:{port}\", title: Test sign-in }";

/// A browser: a cookie jar shared by a client that follows redirects and one that does not.
pub struct Browser {
    pub follows: reqwest::Client,
    pub stays: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub portal: String,
}

impl TestGateway {
    /// Adds a user with `password` and `groups` to the directory.
    pub async fn add_user(&self, name: &str, password: &str, groups: &[&str]) {
        use portcullis::identity::{GroupName, NewUser, Username};
        let new = NewUser {
            username: Username::parse(name).unwrap(),
            display_name: None,
            email: Some(format!("{name}@example.test")),
            groups: groups
                .iter()
                .map(|group| GroupName::parse(group).unwrap())
                .collect(),
            password: portcullis::authn::Secret::new(password),
            must_change_password: false,
        };
        self.gateway
            .services()
            .directory
            .add_user(new)
            .await
            .unwrap();
    }

    /// A fresh browser with an empty cookie jar.
    pub fn browser(&self) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let build = |policy| {
            let mut builder = self
                .client_builder(&[b"http/1.1"])
                .cookie_provider(jar.clone())
                .redirect(policy)
                .default_headers(browser_headers());
            builder = builder.resolve("auth.example.test", self.address());
            builder.build().unwrap()
        };
        Browser {
            follows: build(reqwest::redirect::Policy::limited(10)),
            stays: build(reqwest::redirect::Policy::none()),
            jar: jar.clone(),
            portal: format!("https://auth.example.test:{}", self.port),
        }
    }
}

fn browser_headers() -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("accept", "text/html,application/xhtml+xml".parse().unwrap());
    headers.insert("user-agent", "portcullis-tests".parse().unwrap());
    headers
}

impl Browser {
    /// Opens `url`, follows redirects, and if it lands on the sign-in form, signs in as
    /// `user`; returns the final response.
    pub async fn sign_in(&self, url: &str, user: &str, password: &str) -> reqwest::Response {
        let page = self.follows.get(url).send().await.unwrap();
        assert!(
            page.url().path() == "/login",
            "expected the sign-in form, got {}",
            page.url()
        );
        self.submit_login(page, user, password).await
    }

    /// Fills in and posts the sign-in form shown in `page`, following redirects.
    pub async fn submit_login(
        &self,
        page: reqwest::Response,
        user: &str,
        password: &str,
    ) -> reqwest::Response {
        let html = page.text().await.unwrap();
        let form = [
            ("csrf", hidden(&html, "csrf")),
            ("rd", hidden(&html, "rd")),
            ("state", hidden(&html, "state")),
            ("username", user.to_owned()),
            ("password", password.to_owned()),
        ];
        self.post(&format!("{}/login", self.portal), &form).await
    }

    /// Posts a form to the portal with the portal's Origin, following redirects.
    pub async fn post(&self, url: &str, form: &[(&str, String)]) -> reqwest::Response {
        self.follows
            .post(url)
            .header("origin", &self.portal)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The status of a GET to `url`, redirects not followed.
    pub async fn status(&self, url: &str) -> reqwest::StatusCode {
        self.stays.get(url).send().await.unwrap().status()
    }

    /// Posts the sign-in form without following the answer, optionally with an
    /// X-Forwarded-For header.
    pub async fn post_login(
        &self,
        form: &[(&str, String)],
        forwarded: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .stays
            .post(format!("{}/login", self.portal))
            .header("origin", &self.portal);
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        request.form(form).send().await.unwrap()
    }

    /// The CSRF token of the portal form at `path`.
    pub async fn token(&self, path: &str) -> String {
        let html = self
            .follows
            .get(format!("{}{path}", self.portal))
            .send()
            .await
            .unwrap();
        hidden(&html.text().await.unwrap(), "csrf")
    }

    /// The session cookie value the jar holds for `url`.
    pub fn session_cookie(&self, url: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let cookies = self.jar.cookies(&url.parse().unwrap())?;
        cookies
            .to_str()
            .unwrap()
            .split("; ")
            .find_map(|pair| pair.strip_prefix("__Host-portcullis=").map(str::to_owned))
    }
}

/// The value of the hidden input `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&#x2f;", "/")
        .replace("&#x3a;", ":")
        .replace("&amp;", "&")
}

/// Captures the log events of every test in this binary as text. One global subscriber,
/// installed on first use: per-thread subscribers miss events whose callsites another
/// thread registered first.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// The capture, installing it as the global subscriber the first time.
    pub fn global() -> LogCapture {
        static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        CAPTURE
            .get_or_init(|| {
                let capture = LogCapture::default();
                let subscriber = tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::new("portcullis=trace,warn"))
                    .with_writer(capture.clone())
                    .with_ansi(false)
                    .finish();
                tracing::subscriber::set_global_default(subscriber).unwrap();
                capture
            })
            .clone()
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
