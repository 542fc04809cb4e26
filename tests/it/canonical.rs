//! shared/CASES.md K1-K6: one canonical request for routing and forwarding.

use crate::support::{DEFAULT_APPS, TestGateway, echo_headers, status_of};

/// Sends `GET target` for `host` over a raw connection and returns the response.
async fn get(gateway: &TestGateway, host: &str, target: &str) -> String {
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    gateway.raw("app.example.test", &request).await
}

/// The request target the echo upstream saw last.
fn last_target(gateway: &TestGateway) -> Option<String> {
    gateway.echo.targets().last().cloned()
}

#[tokio::test]
async fn k1_dot_segments_and_doubled_slashes_forward_the_authorized_path() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    for target in [
        "/public/../admin/users",
        "/public/%2e%2e/admin/users",
        "/public/%2E%2E/admin/users",
        "/./admin/users",
        "//admin/users",
        "/admin//users",
        "/%61dmin/users",
    ] {
        let response = get(&gateway, "app.example.test", target).await;
        assert_eq!(status_of(&response), 200, "{target}: {response}");
        assert_eq!(
            last_target(&gateway).as_deref(),
            Some("/admin/users"),
            "{target}"
        );
    }
    let before = gateway.echo.targets().len();
    for target in [
        "/../../etc",
        "/public/..%2fadmin/users",
        "/a/../../etc/passwd",
    ] {
        let response = get(&gateway, "app.example.test", target).await;
        assert_eq!(status_of(&response), 400, "{target}: {response}");
    }
    assert_eq!(
        gateway.echo.targets().len(),
        before,
        "nothing ambiguous reached the upstream"
    );
}

#[tokio::test]
async fn k2_encoded_reserved_characters_are_refused() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    for target in [
        "/admin%2Fusers",
        "/admin%2fusers",
        "/admin%5Cusers",
        "/admin%00/users",
        "/admin;x=1/users",
        "/admin%3F/x",
        "/admin%23/x",
        "/admin/%ZZ",
        "/admin%0d%0aX:y",
        "/admin/%C0%AE%C0%AE/x%09",
    ] {
        let response = get(&gateway, "app.example.test", target).await;
        assert_eq!(status_of(&response), 400, "{target}: {response}");
        assert!(response.contains("request_id"), "{response}");
    }
    assert!(
        gateway.echo.targets().is_empty(),
        "{:?}",
        gateway.echo.targets()
    );
}

#[tokio::test]
async fn k2_an_app_may_keep_encoded_slashes_as_data() {
    let apps = "
  - name: app
    host: app.example.test
    upstream: [\"http://{echo}\"]
    allow_encoded_slash: true
";
    let gateway = TestGateway::start(apps).await;
    let response = get(&gateway, "app.example.test", "/files/a%2fb/../c%2Fd").await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert_eq!(last_target(&gateway).as_deref(), Some("/files/c%2Fd"));
}

#[tokio::test]
async fn k3_fragments_never_reach_matching_or_the_upstream() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    for target in ["/admin/users#x", "/files/private.pdf#/x/thumb.png"] {
        let response = get(&gateway, "app.example.test", target).await;
        let status = status_of(&response);
        assert!(status == 400 || status == 200, "{target}: {response}");
        if status == 200 {
            let seen = last_target(&gateway).unwrap();
            assert!(!seen.contains('#') && !seen.contains("thumb"), "{seen}");
        }
    }
}

#[tokio::test]
async fn k4_query_is_forwarded_but_never_part_of_the_path() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let response = get(&gateway, "app.example.test", "/admin/export?x=/public/a").await;
    assert_eq!(status_of(&response), 200);
    assert_eq!(
        last_target(&gateway).as_deref(),
        Some("/admin/export?x=/public/a")
    );
    let response = get(&gateway, "app.example.test", "/admin/export?/healthz").await;
    assert_eq!(status_of(&response), 200);
    assert_eq!(
        last_target(&gateway).as_deref(),
        Some("/admin/export?/healthz")
    );
}

#[tokio::test]
async fn k5_host_case_is_ignored_and_path_case_is_kept() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let response = get(&gateway, "APP.Example.Test", "/ADMIN/users").await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert_eq!(last_target(&gateway).as_deref(), Some("/ADMIN/users"));
    assert!(response.contains("\"app.example.test\""), "{response}");
}

#[tokio::test]
async fn k6_trailing_dot_and_default_port_are_the_same_host() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    for host in [
        "app.example.test.",
        "app.example.test:443",
        "App.Example.Test.:443",
    ] {
        let response = get(&gateway, host, "/k6").await;
        assert_eq!(status_of(&response), 200, "{host}: {response}");
    }
}

#[tokio::test]
async fn k6_routing_uses_host_not_sni_and_uncovered_hosts_get_421() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    // SNI api.example.test, Host app.example.test: both on the main certificate.
    let request = "GET /via-host HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n";
    let response = gateway.raw("api.example.test", request).await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert!(response.contains("\"app.example.test\""), "{response}");
    // SNI b.test presents the other certificate, which does not cover app.example.test.
    let response = gateway.raw("b.test", request).await;
    assert_eq!(status_of(&response), 421, "{response}");
    let request = "GET /ok HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of(&gateway.raw("b.test", request).await), 200);
}

#[tokio::test]
async fn k6_absolute_form_must_agree_with_host() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let request =
        "GET https://b.test/x HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n";
    let response = gateway.raw("app.example.test", request).await;
    assert_eq!(status_of(&response), 400, "{response}");
    let request = "GET https://app.example.test/abs HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n";
    let response = gateway.raw("app.example.test", request).await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert_eq!(gateway.echo.targets(), ["/abs"]);
}

#[tokio::test]
async fn case_insensitive_app_keeps_the_path_it_was_sent() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let response = get(&gateway, "api.example.test", "/Legacy/Page.ASPX").await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert_eq!(last_target(&gateway).as_deref(), Some("/Legacy/Page.ASPX"));
}

#[tokio::test]
async fn identity_and_rewrite_headers_from_clients_never_reach_upstreams() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let mut request = String::from("GET /public/x HTTP/1.1\r\nHost: app.example.test\r\n");
    for name in [
        "Remote-User",
        "remote-user",
        "REMOTE-USER",
        "Remote_User",
        "Remote.User",
        "remote-groups",
        "X-Portcullis-Assertion",
        "X-Original-URL",
        "X-Rewrite-URL",
        "X-Forwarded-Uri",
        "X-Forwarded-Prefix",
        "X_Forwarded_For",
        "X-Forwarded-Host",
        "Forwarded",
    ] {
        request.push_str(&format!("{name}: spoofed\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    let response = gateway.raw("app.example.test", &request).await;
    assert_eq!(status_of(&response), 200, "{response}");
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    let body = body.trim_start_matches(|c: char| c.is_ascii_hexdigit() || c.is_whitespace());
    let start = body.find('{').unwrap();
    let end = body.rfind('}').unwrap();
    let echo: serde_json::Value = serde_json::from_str(&body[start..=end]).unwrap();
    assert!(!response.contains("spoofed"), "{response}");
    assert_eq!(echo_headers(&echo, "x-forwarded-for"), ["127.0.0.1"]);
}
