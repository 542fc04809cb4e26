//! Bodies stream both ways without buffering, and size limits hold.

use bytes::Bytes;
use futures_util::stream;

use crate::support::{TestGateway, echo_of};

const HUNDRED_MB: u64 = 100 * 1024 * 1024;

fn apps() -> &'static str {
    "
  - name: big
    host: big.example.test
    upstream: [\"http://{echo}\"]
    max_body: 200MiB
  - name: app
    host: app.example.test
    upstream: [\"http://{echo}\"]
    max_body: 1KiB
"
}

/// A request body of `total` bytes produced chunk by chunk, without a Content-Length.
fn generated(total: u64) -> reqwest::Body {
    let chunk = Bytes::from(vec![b'y'; 256 * 1024]);
    let chunks = stream::unfold(0u64, move |sent| {
        let chunk = chunk.clone();
        async move {
            if sent >= total {
                return None;
            }
            let size = (total - sent).min(chunk.len() as u64);
            Some((
                Ok::<_, std::io::Error>(chunk.slice(..size as usize)),
                sent + size,
            ))
        }
    });
    reqwest::Body::wrap_stream(chunks)
}

#[tokio::test]
async fn a_100_mb_body_streams_up_and_down() {
    let gateway = TestGateway::start(apps()).await;
    let client = gateway.client();
    let response = client
        .post(gateway.url("big.example.test", "/upload"))
        .body(generated(HUNDRED_MB))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(echo_of(response).await["body_bytes"], HUNDRED_MB);

    let url = gateway.url("big.example.test", &format!("/stream?bytes={HUNDRED_MB}"));
    let mut response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut received = 0u64;
    while let Some(chunk) = response.chunk().await.unwrap() {
        received += chunk.len() as u64;
    }
    assert_eq!(received, HUNDRED_MB);
}

#[tokio::test]
async fn bodies_over_the_app_limit_get_413_declared_or_streamed() {
    let gateway = TestGateway::start(apps()).await;
    let client = gateway.client();
    let response = client
        .post(gateway.url("app.example.test", "/declared"))
        .body(vec![0u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(
        gateway.echo.targets().is_empty(),
        "a declared oversize body is never forwarded"
    );
    let response = client
        .post(gateway.url("app.example.test", "/streamed"))
        .body(generated(64 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let response = client
        .post(gateway.url("app.example.test", "/small"))
        .body("ok")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
