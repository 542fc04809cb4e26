//! Demo upstream applications for `portcullis dev` and the tests: small HTTP servers on
//! loopback that show exactly what they received.
//!
//! Endpoints of the echo app: any path answers a JSON document with the app name, method,
//! raw request target, HTTP version, every header as received, and the size of the body it
//! read; `/stream?bytes=N` answers N bytes; `/slow?ms=N` waits N milliseconds first.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::proxy::body::{self, Body};

/// A running demo app.
#[derive(Debug)]
pub struct DemoApp {
    /// Where it listens.
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl DemoApp {
    /// The request targets received so far, in order.
    pub fn targets(&self) -> Vec<String> {
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }
}

impl Drop for DemoApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the echo app called `name` on `127.0.0.1` with a free port.
///
/// # Errors
/// If no loopback port can be bound.
pub async fn spawn_echo(name: &str) -> std::io::Result<DemoApp> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let name: Arc<str> = Arc::from(name);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let name = name.clone();
            let record = record.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    if let Ok(mut seen) = record.lock() {
                        seen.push(request.uri().to_string());
                    }
                    echo(name.clone(), request)
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(DemoApp {
        address,
        seen,
        task,
    })
}

async fn echo(name: Arc<str>, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let query = request.uri().query().unwrap_or_default().to_owned();
    let number = |key: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            .and_then(|value| value.parse::<u64>().ok())
    };
    if request.uri().path() == "/slow" {
        tokio::time::sleep(Duration::from_millis(number("ms").unwrap_or(1000))).await;
    }
    if request.uri().path() == "/stream" {
        return Ok(stream_bytes(number("bytes").unwrap_or(0)));
    }
    let headers: Vec<[String; 2]> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            [
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into(),
            ]
        })
        .collect();
    let method = request.method().to_string();
    let target = request.uri().to_string();
    let version = format!("{:?}", request.version());
    let mut received = 0u64;
    let mut incoming = request.into_body();
    while let Some(Ok(frame)) = incoming.frame().await {
        received += frame.data_ref().map_or(0, |data| data.len() as u64);
    }
    let document = serde_json::json!({
        "app": &*name, "method": method, "target": target, "version": version,
        "headers": headers, "body_bytes": received,
    });
    let text = serde_json::to_string_pretty(&document).unwrap_or_default();
    let mut response = Response::new(body::full(Bytes::from(text)));
    let json = header::HeaderValue::from_static("application/json");
    response.headers_mut().insert(header::CONTENT_TYPE, json);
    Ok(response)
}

/// A streamed response of `total` bytes in 64 KiB chunks, produced as it is sent.
fn stream_bytes(total: u64) -> Response<Body> {
    const CHUNK: u64 = 64 * 1024;
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let chunks = stream::unfold(0u64, move |sent| {
        let chunk = chunk.clone();
        async move {
            if sent >= total {
                return None;
            }
            let size = CHUNK.min(total - sent);
            let piece = chunk.slice(..usize::try_from(size).unwrap_or(0));
            Some((Ok::<_, body::BoxError>(Frame::data(piece)), sent + size))
        }
    });
    Response::new(StreamBody::new(chunks).boxed_unsync())
}
