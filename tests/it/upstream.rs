//! Upstream failures: down (502), slow (504), round robin and passive health.

use crate::support::{TestGateway, closed_port, echo_of};

#[tokio::test]
async fn upstream_down_gets_502_and_slow_upstream_gets_504() {
    let down = closed_port().await;
    let apps = format!(
        "
  - name: down
    host: down.example.test
    upstream: [\"http://{down}\"]
  - name: slow
    host: slow.example.test
    upstream: [\"http://{{echo}}\"]
    timeouts: {{ response: 300ms }}
"
    );
    let gateway = TestGateway::start(&apps).await;
    let client = gateway.client();
    let response = client
        .get(gateway.url("down.example.test", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["message"],
        "The application is not reachable right now."
    );
    assert!(
        !body.to_string().contains(&down.to_string()),
        "no internal detail leaks: {body}"
    );
    let response = client
        .get(gateway.url("slow.example.test", "/slow?ms=3000"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    let response = client
        .get(gateway.url("slow.example.test", "/fast"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "a timed-out server is not the only one asked forever"
    );
}

#[tokio::test]
async fn failed_upstream_is_skipped_and_idempotent_requests_retry_on_another() {
    let down = closed_port().await;
    let apps = format!(
        "
  - name: app
    host: app.example.test
    upstream: [\"http://{down}\", \"http://{{echo}}\"]
"
    );
    let gateway = TestGateway::start(&apps).await;
    let client = gateway.client();
    for i in 0..6 {
        let response = client
            .get(gateway.url("app.example.test", &format!("/r/{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "GET {i} was retried on the healthy upstream"
        );
    }
    // A POST is never retried, but after the failure the dead server is left out.
    let response = client
        .post(gateway.url("app.example.test", "/p"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(echo_of(response).await["body_bytes"], 1);
}

#[tokio::test]
async fn https_upstreams_are_verified_against_the_configured_ca() {
    // A second gateway serves as the TLS upstream; its certificate covers `localhost`.
    let inner = TestGateway::start(crate::support::DEFAULT_APPS).await;
    let port = inner.address().port();
    let ca = inner.main_ca.display();
    let apps = format!(
        "
  - name: app
    host: app.example.test
    upstream: [\"https://localhost:{port}\"]
    upstream_tls: {{ ca: {ca} }}
    host_rewrite: app.example.test
  - name: b
    host: b.test
    upstream: [\"https://localhost:{port}\"]
    host_rewrite: app.example.test
  - name: api
    host: api.example.test
    upstream: [\"https://localhost:{port}\"]
    upstream_tls: {{ dangerous_skip_verify: true }}
    host_rewrite: app.example.test
"
    );
    let outer = TestGateway::start(&apps).await;
    let client = outer.client();
    let response = client
        .get(outer.url("app.example.test", "/verified"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // System roots do not know the test CA: the handshake fails, so 502.
    let response = client
        .get(outer.url("b.test", "/unverified"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let response = client
        .get(outer.url("api.example.test", "/skipped"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(inner.echo.targets(), ["/verified", "/skipped"]);
}
