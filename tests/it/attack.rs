//! Findings of the attack review (branch `attack-review`): each test shows one fault that
//! the gateway has today and the outcome DESIGN.md and CASES.md ask for. They fail until the
//! fault is fixed.

use std::time::Duration;

use portcullis::authn::{PasswordVerdict, Rejection, Secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{PORTAL, TestGateway, echo_headers, echo_of, status_of};

const PASSWORD: &str = "correct horse battery";

fn apps() -> &'static str {
    "
  - name: app
    host: app.example.test
    upstream: [\"http://{echo}\"]
    rules:
      - { paths: [\"/public/**\"], auth: public }
      - { paths: [\"/api/**\"], methods: [DELETE], deny: true }
      - { paths: [\"/admin/**\"], allow: { groups: [admins] }, auth: one_factor }
      - { allow: { groups: [staff, admins] }, auth: one_factor }
  - name: legacy
    host: api.example.test
    upstream: [\"http://{echo}\"]
    case_insensitive_paths: true
    rules:
      - { paths: [\"/admin/**\"], allow: { groups: [admins] }, auth: one_factor }
      - { allow: { groups: [staff, admins] }, auth: one_factor }
  - name: slowup
    host: slow.example.test
    upstream: [\"http://{echo}\"]
    timeouts: { response: 1s }
    rules:
      - { auth: public }
"
}

async fn gateway() -> TestGateway {
    let gateway = TestGateway::start_with(apps(), &format!("{PORTAL}\ndefault: deny")).await;
    gateway.add_user("alice", PASSWORD, &["staff"]).await;
    gateway.add_user("mallory", PASSWORD, &["staff"]).await;
    gateway
}

/// K20: the throttle is checked before the password is verified and the failure is counted
/// after, so parallel attempts all pass the check: 20 parallel guesses are all verified
/// against the real hash, where the policy allows 5 free failures (the 6th locks). Seen
/// over HTTP too: 19 parallel wrong passwords and the right one, the right one signs in.
#[tokio::test]
async fn k20_parallel_guesses_are_not_all_verified_before_the_lockout() {
    let gateway = gateway().await;
    let login = &gateway.gateway.services().login;
    let attempts = (0..20).map(|index| async move {
        let password = Secret::new(format!("wrong password {index}"));
        login.attempt("alice", &password).await.unwrap().verdict
    });
    let verdicts = futures_util::future::join_all(attempts).await;
    let verified = verdicts
        .iter()
        .filter(|verdict| matches!(verdict, PasswordVerdict::Rejected(Rejection::WrongPassword)))
        .count();
    assert!(
        verified <= 6,
        "{verified} of 20 parallel guesses were checked against alice's password; the \
         lockout allows 5 free failures"
    );
}

/// K18 / session fixation: the hand-off code in `/.portcullis/callback` is bound to the
/// app host but not to the browser that started the sign-in, so a signed-in attacker can
/// stop before following the callback redirect and send the link to a victim. Opening it
/// replaces the victim's app session with the attacker's (login CSRF; the OAuth `state`
/// problem of RFC 6749 section 10.12).
#[tokio::test]
async fn callback_code_cannot_sign_another_browser_in_as_the_attacker() {
    let gateway = gateway().await;
    let url = gateway.url("app.example.test", "/notes");

    // The victim is signed in to the app as herself.
    let victim = gateway.browser();
    let response = victim.sign_in(&url, "alice", PASSWORD).await;
    assert_eq!(
        echo_headers(&echo_of(response).await, "remote-user"),
        ["alice"]
    );

    // The attacker signs in on the portal and keeps the callback link instead of opening it.
    let attacker = gateway.browser();
    let page = attacker.follows.get(&url).send().await.unwrap();
    let html = page.text().await.unwrap();
    let form = [
        ("csrf", crate::support::hidden(&html, "csrf")),
        ("rd", crate::support::hidden(&html, "rd")),
        ("state", crate::support::hidden(&html, "state")),
        ("username", "mallory".to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let response = attacker
        .stays
        .post(format!("{}/login", attacker.portal))
        .header("origin", &attacker.portal)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let link = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(link.contains("/.portcullis/callback?code="), "{link}");

    // The victim opens the link (an <img>, a top-level link, a redirect from anywhere).
    let _ = victim.follows.get(&link).send().await.unwrap();
    let response = victim.follows.get(&url).send().await.unwrap();
    let json = response
        .headers()
        .get("content-type")
        .is_some_and(|value| value == "application/json");
    let users = if json {
        echo_headers(&echo_of(response).await, "remote-user")
    } else {
        Vec::new()
    };
    assert_ne!(
        users,
        ["mallory"],
        "a callback link from another browser signed the victim in as the attacker"
    );
}

/// K5 class on a case-insensitive (legacy Windows) app: Windows and IIS drop trailing dots
/// and spaces from path segments, so `/admin./users` and `/admin%20/users` name
/// `/admin/users` there, but the gateway matches them against the catch-all rule and
/// forwards them. Alice (staff) gets 403 on `/ADMIN/users` and must on these too (or 400).
#[tokio::test]
async fn case_insensitive_app_refuses_windows_equivalent_spellings_of_protected_paths() {
    let gateway = gateway().await;
    let browser = gateway.browser();
    let start = gateway.url("api.example.test", "/");
    browser.sign_in(&start, "alice", PASSWORD).await;
    let response = browser
        .stays
        .get(gateway.url("api.example.test", "/ADMIN/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "the case-insensitive match works");
    for path in [
        "/admin./users",
        "/admin%2e/users",
        "/admin%20/users",
        "/ADMIN. /users",
        "/admin::$DATA/users",
    ] {
        let response = browser
            .stays
            .get(gateway.url("api.example.test", path))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            status == 403 || status == 400,
            "{path}: {status}, forwarded to the Windows app as a path it reads as /admin/users"
        );
    }
}

/// K10 class: the rule decides on the request method, but `X-HTTP-Method-Override` (read by
/// Express method-override, Symfony, ASP.NET, many API frameworks) reaches the upstream, so
/// a POST that the upstream executes as DELETE passes a rule that denies DELETE.
#[tokio::test]
async fn method_override_headers_do_not_bypass_a_method_rule() {
    let gateway = gateway().await;
    let browser = gateway.browser();
    let url = gateway.url("app.example.test", "/api/items/1");
    browser.sign_in(&url, "alice", PASSWORD).await;
    let response = browser.stays.delete(&url).send().await.unwrap();
    assert_eq!(response.status(), 403, "DELETE is denied");
    for name in [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ] {
        let response = browser
            .stays
            .post(&url)
            .header(name, "DELETE")
            .body("x")
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            let echo = echo_of(response).await;
            assert!(
                echo_headers(&echo, name).is_empty(),
                "{name}: DELETE reached the upstream as POST + {name}"
            );
        } else {
            assert_eq!(response.status(), 403, "{name}");
        }
    }
}

/// `timeouts.response` is documented as the wait for the upstream's response head, but it
/// also runs while the client is still uploading: a body that takes longer than the timeout
/// gets 504 and the healthy upstream is marked down for `fail_timeout`, so any client can
/// take upstreams out of rotation with a slow upload on a public route.
#[tokio::test]
async fn a_slow_client_upload_is_not_an_upstream_timeout() {
    let gateway = gateway().await;
    let mut stream = gateway.connect("slow.example.test").await;
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: slow.example.test:{}\r\nContent-Length: 10\r\n\
         Connection: close\r\n\r\nabcde",
        gateway.address().port()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = stream.write_all(b"fghij").await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert_eq!(
        status_of(&response),
        200,
        "the upstream answered at once when the body was complete: {response}"
    );
}
