//! A tiny upstream app that trusts nobody's headers but the gateway's signature.
//!
//! It fetches the key set from the portal, then checks the `X-Portcullis-Assertion` of each
//! request for its own origin and answers with the identity (200) or the reason (401):
//!
//! ```sh
//! cargo run --example assertion_verifier -- \
//!     https://auth.localhost:8443 certs/dev-ca.crt https://hello.localhost:8443 127.0.0.1:9100
//! ```
//!
//! Arguments: the portal origin (the token's issuer), a CA file to trust for the portal's
//! certificate, this app's origin as browsers see it (the token's audience), and the
//! address to listen on. Point an app's `upstream` at that address.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use portcullis::assertion::{Jwks, VerifyError, verify};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

/// How soon after a fetch an unknown `kid` may make the app fetch the key set again.
const REFETCH_AFTER: Duration = Duration::from_secs(10);

type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// What every request needs: the expected issuer and audience and the current key set.
struct Verifier {
    issuer: String,
    audience: String,
    client: HttpsClient,
    keys: Mutex<(Jwks, Instant)>,
}

impl Verifier {
    /// Fetches `/.well-known/jwks.json` from the portal.
    async fn fetch(&self) -> Result<Jwks, Box<dyn std::error::Error + Send + Sync>> {
        let url = format!("{}/.well-known/jwks.json", self.issuer).parse::<http::Uri>()?;
        let response = self.client.get(url).await?;
        if response.status() != StatusCode::OK {
            return Err(format!("key set answered {}", response.status()).into());
        }
        let body = response.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice(&body)?)
    }

    /// Verifies `token`; a key id this app has not seen yet (the portal rotated its key)
    /// makes it fetch the key set again, at most every [`REFETCH_AFTER`].
    async fn check(&self, token: &str) -> Result<portcullis::assertion::Claims, VerifyError> {
        let mut keys = self.keys.lock().await;
        let result = verify(
            token,
            &keys.0,
            &self.issuer,
            &self.audience,
            SystemTime::now(),
        );
        if result != Err(VerifyError::UnknownKey) || keys.1.elapsed() < REFETCH_AFTER {
            return result;
        }
        match self.fetch().await {
            Ok(fresh) => *keys = (fresh, Instant::now()),
            Err(error) => eprintln!("refreshing the key set failed: {error}"),
        }
        verify(
            token,
            &keys.0,
            &self.issuer,
            &self.audience,
            SystemTime::now(),
        )
    }
}

async fn answer(
    verifier: Arc<Verifier>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let token = request
        .headers()
        .get("x-portcullis-assertion")
        .and_then(|value| value.to_str().ok());
    let (status, document) = match token {
        None => (
            StatusCode::UNAUTHORIZED,
            serde_json::json!({ "error": "no assertion" }),
        ),
        Some(token) => match verifier.check(token).await {
            Ok(claims) => (StatusCode::OK, serde_json::json!({ "identity": claims })),
            Err(error) => (
                StatusCode::UNAUTHORIZED,
                serde_json::json!({ "error": error.to_string() }),
            ),
        },
    };
    let mut response = Response::new(Full::new(Bytes::from(document.to_string())));
    *response.status_mut() = status;
    let json = header::HeaderValue::from_static("application/json");
    response.headers_mut().insert(header::CONTENT_TYPE, json);
    Ok(response)
}

fn client(ca_file: &Path) -> Result<HttpsClient, Box<dyn std::error::Error>> {
    let roots = portcullis::tls::read_roots(ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [issuer, ca_file, audience, listen] = args.as_slice() else {
        eprintln!("usage: assertion_verifier PORTAL_ORIGIN CA_FILE APP_ORIGIN LISTEN_ADDRESS");
        std::process::exit(2);
    };
    let mut verifier = Verifier {
        issuer: issuer.trim_end_matches('/').to_owned(),
        audience: audience.trim_end_matches('/').to_owned(),
        client: client(Path::new(ca_file))?,
        keys: Mutex::new((Jwks::default(), Instant::now())),
    };
    let keys = verifier.fetch().await.map_err(|error| error.to_string())?;
    eprintln!(
        "fetched {} key(s) from {}",
        keys.keys.len(),
        verifier.issuer
    );
    verifier.keys = Mutex::new((keys, Instant::now()));
    let verifier = Arc::new(verifier);

    let listener = TcpListener::bind(listen.parse::<SocketAddr>()?).await?;
    eprintln!(
        "verifying assertions for {} on {}",
        verifier.audience,
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let verifier = verifier.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(verifier.clone(), request));
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
