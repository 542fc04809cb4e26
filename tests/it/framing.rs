//! shared/CASES.md K10-K12: duplicates, upgrades and body framing.

use crate::support::{DEFAULT_APPS, TestGateway, answers, status_of};

#[tokio::test]
async fn k10_duplicate_host_authorization_and_lengths_are_refused() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    for request in [
        "GET / HTTP/1.1\r\nHost: app.example.test\r\nHost: b.test\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: app.example.test\r\nHost: app.example.test\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: app.example.test\r\nAuthorization: Basic YTpi\r\nAuthorization: Bearer x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: app.example.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "GET / HTTP/1.1\r\n\r\n",
    ] {
        let response = gateway.raw("app.example.test", request).await;
        assert_eq!(status_of(&response), 400, "{request:?}: {response}");
    }
    assert!(gateway.echo.targets().is_empty());
    // Repeated equal lengths are one length (RFC 9110 section 8.6); the body is not misread.
    let request = "POST /same HTTP/1.1\r\nHost: app.example.test\r\nContent-Length: 3\r\n\
                   Content-Length: 3\r\nConnection: close\r\n\r\nabc";
    let response = gateway.raw("app.example.test", request).await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert!(response.contains("\"body_bytes\": 3"), "{response}");
}

#[tokio::test]
async fn k11_upgrade_that_is_not_a_websocket_never_opens_a_tunnel() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let request = "GET /public/ HTTP/1.1\r\nHost: app.example.test\r\nConnection: Upgrade\r\n\
                   Upgrade: foo\r\n\r\nGET /admin/secret HTTP/1.1\r\nHost: app.example.test\r\n\
                   Connection: close\r\n\r\n";
    let response = gateway.raw("app.example.test", request).await;
    assert!(!response.contains(" 101 "), "{response}");
    assert_eq!(answers(&response), 2, "{response}");
    assert_eq!(gateway.echo.targets(), ["/public/", "/admin/secret"]);
    assert!(
        !response.contains("\"upgrade\""),
        "upstream saw an Upgrade header: {response}"
    );
    let request = "GET / HTTP/1.1\r\nHost: app.example.test\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                   Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: close\r\n\r\n";
    let response = gateway.raw("app.example.test", request).await;
    assert!(!response.contains(" 101 "), "{response}");
    assert!(
        !response.to_ascii_lowercase().contains("http2-settings"),
        "{response}"
    );
}

#[tokio::test]
async fn k12_ambiguous_body_framing_is_refused_and_the_connection_closes() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: app.example.test\r\n\r\n";
    let cases = [
        format!(
            "POST / HTTP/1.1\r\nHost: app.example.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        format!(
            "POST / HTTP/1.1\r\nHost: app.example.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        format!(
            "POST / HTTP/1.1\r\nHost: app.example.test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        format!(
            "POST / HTTP/1.1\r\nHost: app.example.test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        format!(
            "POST / HTTP/1.1\r\nHost: app.example.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        format!(
            "POST / HTTP/1.1\r\nHost: app.example.test\r\nTransfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n{smuggled}"
        ),
    ];
    for request in &cases[1..] {
        let response = gateway.raw("app.example.test", request).await;
        assert_eq!(status_of(&response), 400, "{request:?}: {response}");
        assert_eq!(answers(&response), 1, "one answer, then close: {response}");
    }
    assert!(
        gateway.echo.targets().is_empty(),
        "{:?}",
        gateway.echo.targets()
    );
    // With both Content-Length and chunked, the HTTP parser (hyper) drops Content-Length,
    // reads the chunked body as RFC 9112 section 6.1 allows, and closes the connection
    // after answering: whatever follows the body is never read as a request.
    let response = gateway.raw("app.example.test", &cases[0]).await;
    assert_eq!(answers(&response), 1, "one answer, then close: {response}");
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "{response}"
    );
    assert!(!gateway.echo.targets().contains(&"/smuggled".to_owned()));
}

#[tokio::test]
async fn k12_body_of_a_request_the_gateway_answers_itself_never_runs_as_a_request() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let hidden = "GET /smuggled HTTP/1.1\r\nHost: app.example.test\r\n\r\n";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: unknown.example.test\r\nContent-Length: {}\r\n\r\n{hidden}",
        hidden.len()
    );
    let mut stream = gateway.connect("app.example.test").await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
        .write_all(b"GET /after HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert_eq!(status_of(&response), 404, "{response}");
    assert!(
        !gateway.echo.targets().contains(&"/smuggled".to_owned()),
        "{:?}",
        gateway.echo.targets()
    );
}

#[tokio::test]
async fn k12_unauthenticated_post_answered_with_401_never_runs_its_body_as_a_request() {
    let apps = "
  - name: app
    host: app.example.test
    upstream: [\"http://{echo}\"]
    rules: [{ paths: [\"/public/**\"], auth: public }, { auth: one_factor }]
";
    let extra = format!("{}\ndefault: deny", crate::support::PORTAL);
    let gateway = TestGateway::start_with(apps, &extra).await;
    let hidden = "GET /public/smuggled HTTP/1.1\r\nHost: app.example.test\r\n\r\n";
    for framing in ["content-length", "chunked"] {
        let body = match framing {
            "chunked" => format!("{:x}\r\n{hidden}\r\n0\r\n\r\n", hidden.len()),
            _ => hidden.to_owned(),
        };
        let length = match framing {
            "chunked" => "Transfer-Encoding: chunked".to_owned(),
            _ => format!("Content-Length: {}", hidden.len()),
        };
        let request = format!(
            "POST /private HTTP/1.1\r\nHost: app.example.test\r\n{length}\r\n\r\n{body}\
             GET /public/after HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n"
        );
        let response = gateway.raw("app.example.test", &request).await;
        assert_eq!(status_of(&response), 401, "{response}");
        let targets = gateway.echo.targets();
        assert!(
            !targets.iter().any(|target| target.contains("smuggled")),
            "{targets:?}"
        );
    }
}

#[tokio::test]
async fn a_malformed_chunked_body_is_the_clients_fault_not_the_upstreams() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    for body in [
        "zz\r\nhello\r\n0\r\n\r\n",
        "3\r\nhello world\r\n0\r\n\r\n",
        "fffffffffffffffff\r\n",
    ] {
        let request = format!(
            "POST /upload HTTP/1.1\r\nHost: app.example.test\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
        );
        let response = gateway.raw("app.example.test", &request).await;
        assert_eq!(status_of(&response), 400, "{body:?}: {response}");
    }
    // The upstream was not blamed: it still serves the next request.
    let ok = "GET /after HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of(&gateway.raw("app.example.test", ok).await), 200);
}
