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

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies_k8() {
    let spoofed = [
        ("x-forwarded-for", "10.1.2.3"),
        ("x-request-id", "from-client"),
    ];
    let untrusted = TestGateway::start(DEFAULT_APPS).await;
    let mut request = untrusted
        .client()
        .get(untrusted.url("app.example.test", "/"));
    for (name, value) in spoofed {
        request = request.header(name, value);
    }
    let echo = echo_of(request.send().await.unwrap()).await;
    assert_eq!(echo_headers(&echo, "x-forwarded-for"), ["127.0.0.1"]);
    assert_ne!(echo_headers(&echo, "x-request-id"), ["from-client"]);

    let trusted = TestGateway::start_with(DEFAULT_APPS, "trusted_proxies: [127.0.0.0/8]").await;
    let mut request = trusted.client().get(trusted.url("app.example.test", "/"));
    for (name, value) in spoofed {
        request = request.header(name, value);
    }
    let echo = echo_of(request.send().await.unwrap()).await;
    assert_eq!(
        echo_headers(&echo, "x-forwarded-for"),
        ["10.1.2.3, 127.0.0.1"]
    );
    assert_eq!(echo_headers(&echo, "x-request-id"), ["from-client"]);
    let forwarded = echo_headers(&echo, "forwarded");
    assert!(forwarded[0].starts_with("for=10.1.2.3;"), "{forwarded:?}");
    for garbage in ["a", "999.1.1.1", "", "10.1.2.3, a", "\u{0}"] {
        let response = trusted
            .client()
            .get(trusted.url("app.example.test", "/"))
            .header("x-forwarded-for", garbage.replace('\u{0}', "%00"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{garbage:?}");
    }
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish_and_stops_accepting() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let client = gateway.client();
    let url = gateway.url("app.example.test", "/slow?ms=700");
    let address = gateway.address();
    let slow = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    // Wait until the slow request has reached the upstream before shutting down.
    while gateway.echo.targets().is_empty() {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let TestGateway {
        gateway: running,
        echo: _echo,
        dir: _dir,
        ..
    } = gateway;
    let began = std::time::Instant::now();
    running.shutdown().await;
    // The upstream holds the request for 700 ms after it arrived; shutdown waited for it.
    assert!(
        began.elapsed() >= std::time::Duration::from_millis(600),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(slow.await.unwrap().unwrap(), 200);
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn dev_command_serves_the_demo_apps_on_the_embedded_defaults() {
    let certs = tempfile::tempdir().unwrap();
    let options = portcullis::dev::DevOptions {
        certs: certs.path().to_owned(),
        https: "127.0.0.1:0".parse().unwrap(),
        http: "127.0.0.1:0".parse().unwrap(),
        data: certs.path().join("data"),
    };
    let dev = portcullis::dev::start(&options).await.unwrap();
    let address = dev.gateway.https_address();
    let banner = portcullis::dev::banner(&dev);
    assert!(
        banner.contains(&format!("https://hello.localhost:{}/", address.port())),
        "{banner}"
    );
    let port = address.port();
    let browser = |jar: std::sync::Arc<reqwest::cookie::Jar>| {
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::support::client_tls(&[&dev.ca_cert]))
            .cookie_provider(jar)
            .default_headers(
                [(reqwest::header::ACCEPT, "text/html".parse().unwrap())]
                    .into_iter()
                    .collect(),
            );
        for host in ["hello.localhost", "echo.localhost", "auth.localhost"] {
            builder = builder.resolve(host, address);
        }
        builder.build().unwrap()
    };
    let sign_in = |user: &'static str| {
        let client = browser(std::sync::Arc::default());
        let password = dev
            .users
            .iter()
            .find(|(name, _)| name == user)
            .unwrap()
            .1
            .expose()
            .to_owned();
        async move {
            let page = client
                .get(format!("https://echo.localhost:{port}/"))
                .send()
                .await
                .unwrap();
            let html = page.text().await.unwrap();
            let form = [
                ("csrf", crate::support::hidden(&html, "csrf")),
                ("rd", crate::support::hidden(&html, "rd")),
                ("state", crate::support::hidden(&html, "state")),
                ("username", user.to_owned()),
                ("password", password),
            ];
            let origin = format!("https://auth.localhost:{port}");
            let landed = client
                .post(format!("{origin}/login"))
                .header("origin", origin)
                .form(&form);
            assert_eq!(echo_of(landed.send().await.unwrap()).await["app"], "echo");
            client
        }
    };
    let anonymous = browser(std::sync::Arc::default());
    let public = anonymous
        .get(format!("https://hello.localhost:{port}/public/"))
        .send()
        .await
        .unwrap();
    assert_eq!(echo_of(public).await["app"], "hello");
    let alice = sign_in("alice").await;
    let admin = alice
        .get(format!("https://echo.localhost:{port}/admin/"))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    let hello = alice
        .get(format!("https://hello.localhost:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::support::echo_headers(&echo_of(hello).await, "remote-user"),
        ["alice"]
    );
    let bob = sign_in("bob").await;
    let admin = bob
        .get(format!("https://echo.localhost:{port}/admin/"))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 403);
    // A second start reuses the CA, so a browser that trusts it keeps trusting it.
    let ca = std::fs::read(&dev.ca_cert).unwrap();
    dev.gateway.shutdown().await;
    let again = portcullis::dev::start(&options).await.unwrap();
    assert_eq!(std::fs::read(&again.ca_cert).unwrap(), ca);
}
