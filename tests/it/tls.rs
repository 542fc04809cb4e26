//! Certificates chosen by SNI, protocol versions and ALPN.

use crate::support::{DEFAULT_APPS, TestGateway, connect_tls};

#[tokio::test]
async fn certificate_is_chosen_by_sni_including_wildcards() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let address = gateway.address();
    let main = [&gateway.main_ca];
    let other = [&gateway.other_ca];
    assert!(
        connect_tls(address, "app.example.test", &main, &[])
            .await
            .is_ok()
    );
    assert!(
        connect_tls(address, "anything.example.test", &main, &[])
            .await
            .is_ok()
    );
    assert!(connect_tls(address, "b.test", &other, &[]).await.is_ok());
    // The other certificate is not presented for main names, and vice versa.
    assert!(
        connect_tls(address, "app.example.test", &other, &[])
            .await
            .is_err()
    );
    assert!(connect_tls(address, "b.test", &main, &[]).await.is_err());
}

#[tokio::test]
async fn alpn_offers_h2_and_http1() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let cas = [&gateway.main_ca];
    let stream = connect_tls(
        gateway.address(),
        "app.example.test",
        &cas,
        &[b"h2", b"http/1.1"],
    )
    .await
    .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let stream = connect_tls(gateway.address(), "app.example.test", &cas, &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn tls_1_1_and_older_are_not_offered() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let stream = connect_tls(
        gateway.address(),
        "app.example.test",
        &[&gateway.main_ca],
        &[],
    )
    .await
    .unwrap();
    let version = stream.get_ref().1.protocol_version().unwrap();
    assert!(matches!(
        version,
        rustls::ProtocolVersion::TLSv1_3 | rustls::ProtocolVersion::TLSv1_2
    ));
}

#[tokio::test]
async fn http2_requests_are_routed_by_authority_and_forwarded_as_http1() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let client = gateway.h2_client();
    let response = client
        .get(gateway.url("app.example.test", "/h2/./x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let echo = crate::support::echo_of(response).await;
    assert_eq!(echo["target"], "/h2/x");
    assert_eq!(echo["version"], "HTTP/1.1");
    let port = gateway.address().port();
    assert_eq!(
        crate::support::echo_headers(&echo, "host"),
        [format!("app.example.test:{port}")]
    );
    // Many requests share one HTTP/2 connection.
    let requests = (0..20).map(|i| {
        client
            .get(gateway.url("app.example.test", &format!("/n/{i}")))
            .send()
    });
    for response in futures_util::future::join_all(requests).await {
        assert_eq!(response.unwrap().status(), 200);
    }
}
