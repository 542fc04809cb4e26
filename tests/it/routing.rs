//! Routing by host and path prefix, forwarding headers, own error pages.

use crate::support::{DEFAULT_APPS, TestGateway, echo_headers, echo_of};

#[tokio::test]
async fn request_reaches_the_app_for_its_host_with_forwarding_headers() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let response = gateway
        .client()
        .get(gateway.url("app.example.test", "/x/y?q=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers().get("x-request-id").cloned();
    let echo = echo_of(response).await;
    assert_eq!(echo["target"], "/x/y?q=1");
    assert_eq!(echo_headers(&echo, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(echo_headers(&echo, "x-forwarded-proto"), ["https"]);
    let port = gateway.address().port();
    assert_eq!(
        echo_headers(&echo, "host"),
        [format!("app.example.test:{port}")]
    );
    assert_eq!(echo_headers(&echo, "x-request-id").len(), 1);
    assert!(
        request_id.is_none(),
        "the gateway does not invent response headers"
    );
}

#[tokio::test]
async fn longest_path_prefix_picks_the_app() {
    let apps = format!(
        "{DEFAULT_APPS}  - name: prefixed\n    host: app.example.test\n    path_prefix: /api\n    \
         upstream: [\"http://{{echo}}\"]\n    request_headers:\n      add: [{{ name: x-app, value: prefixed }}]\n"
    );
    let gateway = TestGateway::start(&apps).await;
    let client = gateway.client();
    let echo = echo_of(
        client
            .get(gateway.url("app.example.test", "/api/users"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echo_headers(&echo, "x-app"), ["prefixed"]);
    let echo = echo_of(
        client
            .get(gateway.url("app.example.test", "/apix"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(echo_headers(&echo, "x-app").is_empty());
}

#[tokio::test]
async fn unknown_host_gets_a_fixed_404_page_with_request_id() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let client = gateway.client();
    let response = client
        .get(gateway.url("new.example.test", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert!(body["request_id"].as_str().is_some_and(|id| id.len() >= 32));
    let response = client
        .get(gateway.url("new.example.test", "/"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("There is no application at this address."));
    assert!(gateway.echo.targets().is_empty());
}

#[tokio::test]
async fn header_edits_and_host_rewrite_apply_both_ways() {
    let apps = "
  - name: app
    host: app.example.test
    upstream: [\"http://{echo}\"]
    host_rewrite: internal.local
    request_headers: { remove: [x-drop-me], add: [{ name: x-added, value: yes }] }
    response_headers: { remove: [content-type], add: [{ name: x-frame-options, value: DENY }] }
";
    let gateway = TestGateway::start(apps).await;
    let response = gateway
        .client()
        .get(gateway.url("app.example.test", "/"))
        .header("x-drop-me", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert!(response.headers().get("content-type").is_none());
    let echo = echo_of(response).await;
    assert_eq!(echo_headers(&echo, "host"), ["internal.local"]);
    assert_eq!(echo_headers(&echo, "x-added"), ["yes"]);
    assert!(echo_headers(&echo, "x-drop-me").is_empty());
}

#[tokio::test]
async fn request_targets_and_heads_over_the_limits_are_refused() {
    let gateway = TestGateway::start_with(
        DEFAULT_APPS,
        "limits: { max_uri_bytes: 100, max_header_bytes: 8KiB }",
    )
    .await;
    let client = gateway.client();
    let long = format!("/{}", "a".repeat(200));
    let response = client
        .get(gateway.url("app.example.test", &long))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 414);
    let response = client
        .get(gateway.url("app.example.test", "/"))
        .header("x-big", "b".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    assert!(gateway.echo.targets().is_empty());
}

#[tokio::test]
async fn plain_http_listener_redirects_known_hosts_to_https_only() {
    let gateway = TestGateway::start_with(DEFAULT_APPS, "").await;
    drop(gateway);
    let dir = tempfile::tempdir().unwrap();
    let certs =
        portcullis::tls::devca::issue_with_new_ca(dir.path(), "main", &crate::support::MAIN_NAMES)
            .unwrap();
    let text = format!(
        "listen: {{ https: \"127.0.0.1:0\", http: \"127.0.0.1:0\" }}\n\
         tls: {{ certificates: [{{ cert: {}, key: {} }}] }}\n\
         apps: [{{ name: app, host: app.example.test, upstream: [\"http://127.0.0.1:1\"] }}]\n",
        certs.server.cert.display(),
        certs.server.key.display()
    );
    let config = portcullis::Config::parse(&text, "t", dir.path()).unwrap();
    let gateway = portcullis::Gateway::start(config, None).await.unwrap();
    let http = gateway.http_address().unwrap();
    crate::support::install_crypto_provider();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .resolve("app.example.test", http)
        .resolve("evil.example", http)
        .build()
        .unwrap();
    let url = format!("http://app.example.test:{}/a/../b?x=1", http.port());
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 308);
    let port = gateway.https_address().port();
    assert_eq!(
        response.headers()["location"],
        format!("https://app.example.test:{port}/b?x=1")
    );
    let response = client
        .get(format!("http://evil.example:{}/", http.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers().get("location").is_none());
}
