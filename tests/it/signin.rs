//! Sign-in, single sign-on, sign-out and sessions through the real gateway and portal
//! (issue 3; CASES K13, K14, K16, K17, K18, K21).

use std::time::Duration;

use crate::support::{PORTAL, TestGateway, echo_headers, echo_of};

const PASSWORD: &str = "correct horse battery";

/// Two apps on different hosts, both for signed-in staff, with a public area.
fn apps() -> &'static str {
    "
  - name: app
    host: app.example.test
    upstream: [\"http://{echo}\"]
    rules:
      - { paths: [\"/public/**\"], auth: public }
      - { paths: [\"/admin/**\"], allow: { groups: [admins] }, auth: one_factor }
      - { allow: { groups: [staff, admins] }, auth: one_factor }
  - name: b
    host: b.test
    upstream: [\"http://{echo}\"]
    rules:
      - { auth: one_factor }
"
}

async fn gateway() -> TestGateway {
    let gateway = TestGateway::start_with(apps(), &format!("{PORTAL}\ndefault: deny")).await;
    gateway.add_user("alice", PASSWORD, &["staff"]).await;
    gateway.add_user("root", PASSWORD, &["admins"]).await;
    gateway
}

#[tokio::test]
async fn navigation_without_session_is_sent_to_the_portal_and_api_calls_get_401() {
    let gateway = gateway().await;
    let browser = gateway.browser();
    let url = gateway.url("app.example.test", "/docs/page?x=1");
    let response = browser.stays.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    let expected = format!(
        "{}/sso?rd=https%3A%2F%2Fapp.example.test%3A",
        browser.portal
    );
    assert!(location.starts_with(&expected), "{location}");
    let api = gateway
        .client()
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    let body: serde_json::Value = api.json().await.unwrap();
    assert!(
        body["login_url"]
            .as_str()
            .unwrap()
            .starts_with(&browser.portal),
        "{body}"
    );
    let post = browser.stays.post(&url).body("x").send().await.unwrap();
    assert_eq!(post.status(), 401, "a form post is never redirected");
    assert!(gateway.echo.targets().is_empty());
    let public = browser
        .stays
        .get(gateway.url("app.example.test", "/public/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200);
}

#[tokio::test]
async fn sign_in_then_single_sign_on_to_another_host_then_sign_out_everywhere() {
    let gateway = gateway().await;
    let browser = gateway.browser();
    let response = browser
        .sign_in(
            &gateway.url("app.example.test", "/docs?x=1"),
            "alice",
            PASSWORD,
        )
        .await;
    assert_eq!(
        response.url().as_str(),
        gateway.url("app.example.test", "/docs?x=1")
    );
    let echo = echo_of(response).await;
    assert_eq!(echo["target"], "/docs?x=1");
    assert_eq!(echo_headers(&echo, "remote-user"), ["alice"]);
    assert_eq!(echo_headers(&echo, "remote-groups"), ["staff"]);
    assert!(
        echo_headers(&echo, "cookie").is_empty(),
        "gateway cookies stay at the gateway"
    );

    // Second host: no password asked, the portal session hands off with a one-time code.
    let response = browser
        .follows
        .get(gateway.url("b.test", "/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.url().host_str(), Some("b.test"));
    assert_eq!(
        echo_headers(&echo_of(response).await, "remote-user"),
        ["alice"]
    );

    // Sign out once: every app session of that sign-in ends.
    let token = browser.token("/logout").await;
    let response = browser
        .post(&format!("{}/logout", browser.portal), &[("csrf", token)])
        .await;
    assert!(response.text().await.unwrap().contains("Signed out"));
    for url in [
        gateway.url("app.example.test", "/docs"),
        gateway.url("b.test", "/other"),
    ] {
        let response = browser.stays.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 302, "{url} after sign-out");
    }
}

#[tokio::test]
async fn k13_malformed_credentials_are_no_session_and_never_an_error() {
    let gateway = gateway().await;
    let url = gateway.url("app.example.test", "/private");
    let client = gateway.client();
    let valid = {
        let browser = gateway.browser();
        browser.sign_in(&url, "alice", PASSWORD).await;
        browser.session_cookie(&url).unwrap()
    };
    let truncated = &valid[..valid.len() - 3];
    let tampered = format!("{}A", &valid[..valid.len() - 1]);
    for cookie in ["%%%", truncated, &tampered, "", "a=b=c"] {
        let response = client
            .get(&url)
            .header("cookie", format!("__Host-portcullis={cookie}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "cookie {cookie:?}");
        let cleared = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            cleared.is_some_and(|c| c.contains("Max-Age=0")),
            "cookie {cookie:?} is cleared"
        );
    }
    for authorization in ["Bearer", "Bearer ", "Basic !!!", "Basic", "Negotiate x"] {
        let response = client
            .get(&url)
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
    }
    let both = format!("__Host-portcullis={valid}; __Host-portcullis={valid}");
    let response = client
        .get(&url)
        .header("cookie", both)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        401,
        "two session cookies are no session (K10)"
    );
    let response = client
        .get(&url)
        .header("cookie", format!("__Host-portcullis={valid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the untouched cookie still works");
    assert_eq!(gateway.echo.targets(), ["/private", "/private"]);
}

#[tokio::test]
async fn k14_return_urls_that_leave_the_gateway_end_at_the_default() {
    let gateway = gateway().await;
    let browser = gateway.browser();
    let default = format!("{}/account", browser.portal);
    for rd in [
        "//evil.example/",
        "/\\evil.example",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%0d%0aSet-Cookie:x=y",
        "https:evil.example",
        "https:/evil.example",
        "\\\\evil.example",
        "%20//evil.example",
        "javascript:alert(1)",
        "data:text/html,x",
        "https://evil.example/",
        "https://app.example.test.evil.example/",
    ] {
        let browser = gateway.browser();
        // The list gives each value as it appears in the URL: decoded once by the portal.
        let query = rd.replace('\\', "%5C").replace(' ', "%20");
        let login = format!("{}/login?rd={query}", browser.portal);
        let page = browser.follows.get(&login).send().await.unwrap();
        let html = page.text().await.unwrap();
        assert_eq!(
            crate::support::hidden(&html, "rd"),
            "",
            "{rd} is not carried in the form"
        );
        let form = [
            ("csrf", crate::support::hidden(&html, "csrf")),
            (
                "rd",
                percent_encoding::percent_decode_str(rd)
                    .decode_utf8_lossy()
                    .into_owned(),
            ),
            ("username", "alice".to_owned()),
            ("password", PASSWORD.to_owned()),
        ];
        let response = browser.post_login(&form, None).await;
        assert_eq!(response.status(), 302, "{rd}");
        let location = response.headers()["location"].to_str().unwrap();
        assert_eq!(location, default, "{rd}");
    }
    drop(browser);
}

#[tokio::test]
async fn k16_session_cookie_flags_and_other_cookies_reach_the_upstream() {
    let gateway = gateway().await;
    let browser = gateway.browser();
    let url = gateway.url("app.example.test", "/cookies");
    let page = browser.follows.get(&url).send().await.unwrap();
    let html = page.text().await.unwrap();
    let form = [
        ("csrf", crate::support::hidden(&html, "csrf")),
        ("rd", crate::support::hidden(&html, "rd")),
        ("state", crate::support::hidden(&html, "state")),
        ("username", "alice".to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let response = browser.post_login(&form, None).await;
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for flag in [
        "__Host-portcullis=",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
    ] {
        assert!(set_cookie.contains(flag), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    let callback = response.headers()["location"].to_str().unwrap().to_owned();
    let response = browser.stays.get(&callback).send().await.unwrap();
    let app_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(app_cookie.starts_with("__Host-portcullis=") && !app_cookie.contains("Domain"));
    let session = browser.session_cookie(&url).unwrap();
    let response = gateway
        .client()
        .get(&url)
        .header("cookie", format!("__Host-portcullis={session}; theme=dark"))
        .header("cookie", "__host-PORTCULLIS=x; lang=en")
        .send()
        .await
        .unwrap();
    let echo = echo_of(response).await;
    assert_eq!(echo_headers(&echo, "cookie"), ["theme=dark; lang=en"]);
}

#[tokio::test]
async fn k17_revocation_takes_effect_on_the_next_request() {
    let gateway = gateway().await;
    let directory = &gateway.gateway.services().directory;
    let alice = portcullis::identity::Username::parse("alice").unwrap();
    let url = gateway.url("app.example.test", "/k17");
    let signed_in = || async {
        let browser = gateway.browser();
        browser.sign_in(&url, "alice", PASSWORD).await;
        browser.session_cookie(&url).unwrap()
    };
    let status = |cookie: String| {
        let request = gateway
            .client()
            .get(&url)
            .header("cookie", format!("__Host-portcullis={cookie}"));
        async move { request.send().await.unwrap().status().as_u16() }
    };

    // Log out, then replay the saved cookie.
    let browser = gateway.browser();
    browser.sign_in(&url, "alice", PASSWORD).await;
    let saved = browser.session_cookie(&url).unwrap();
    let token = browser.token("/logout").await;
    browser
        .post(&format!("{}/logout", browser.portal), &[("csrf", token)])
        .await;
    assert_eq!(status(saved).await, 401);

    // Disable.
    let cookie = signed_in().await;
    assert_eq!(status(cookie.clone()).await, 200);
    directory.set_disabled(&alice, true).await.unwrap();
    assert_eq!(status(cookie).await, 401);
    directory.set_disabled(&alice, false).await.unwrap();

    // Password change by an administrator.
    let cookie = signed_in().await;
    let new = portcullis::authn::Secret::new("another long password");
    directory.set_password(&alice, &new, false).await.unwrap();
    assert_eq!(status(cookie).await, 401);
    directory
        .set_password(&alice, &portcullis::authn::Secret::new(PASSWORD), false)
        .await
        .unwrap();

    // Group removal loses the access the group gave, at once.
    let cookie = signed_in().await;
    let staff = portcullis::identity::GroupName::parse("staff").unwrap();
    directory.remove_from_group(&alice, &staff).await.unwrap();
    assert_eq!(status(cookie).await, 403);
}

#[tokio::test]
async fn k18_sign_out_needs_a_same_origin_post_with_the_form_token() {
    let gateway = gateway().await;
    let browser = gateway.browser();
    let url = gateway.url("app.example.test", "/k18");
    browser.sign_in(&url, "alice", PASSWORD).await;
    let page = browser
        .follows
        .get(format!("{}/logout", browser.portal))
        .send()
        .await
        .unwrap();
    assert!(
        page.text().await.unwrap().contains("Sign out?"),
        "a GET only asks"
    );
    assert_eq!(browser.status(&url).await, 200);

    let token = browser.token("/logout").await;
    let logout = format!("{}/logout", browser.portal);
    let cross_site = browser
        .stays
        .post(&logout)
        .header("origin", "https://evil.example")
        .form(&[("csrf", token.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    let no_origin = browser
        .stays
        .post(&logout)
        .form(&[("csrf", token.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(no_origin.status(), 403);
    let no_token = browser
        .post(&logout, &[("csrf", "forged".to_owned())])
        .await;
    assert_eq!(no_token.status(), 403);
    let credentials = [
        ("username", "alice".to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let login_without_token = browser
        .post(&format!("{}/login", browser.portal), &credentials)
        .await;
    assert_eq!(login_without_token.status(), 403);
    assert_eq!(browser.status(&url).await, 200, "still signed in");
}

#[tokio::test]
async fn k21_failed_sign_ins_look_the_same_for_every_kind_of_user() {
    let gateway = gateway().await;
    gateway.add_user("carol", PASSWORD, &["staff"]).await;
    let carol = portcullis::identity::Username::parse("carol").unwrap();
    gateway
        .gateway
        .services()
        .directory
        .set_disabled(&carol, true)
        .await
        .unwrap();
    let browser = gateway.browser();
    let mut answers = Vec::new();
    for (user, password) in [
        ("alice", "wrong password"),
        ("nobody", "wrong password"),
        ("carol", PASSWORD),
    ] {
        let token = browser.token("/login").await;
        let form = [
            ("csrf", token),
            ("rd", String::new()),
            ("username", user.to_owned()),
            ("password", password.to_owned()),
        ];
        let response = browser
            .post(&format!("{}/login", browser.portal), &form)
            .await;
        let status = response.status();
        let mut names: Vec<String> = response
            .headers()
            .keys()
            .map(|name| name.to_string())
            .collect();
        names.sort();
        let body = response.text().await.unwrap();
        let body = body
            .split("Request id")
            .next()
            .unwrap()
            .replace(user, "USER");
        answers.push((status, names, body));
    }
    assert_eq!(answers[0], answers[1], "existing vs unknown user");
    assert_eq!(answers[0], answers[2], "wrong password vs disabled user");
    assert!(
        answers[0]
            .2
            .contains("The username or password is incorrect")
    );
}

#[tokio::test]
async fn sessions_end_after_idle_time_and_lifetime_unless_remembered() {
    let gateway = gateway().await;
    let url = gateway.url("app.example.test", "/expiry");
    let browser = gateway.browser();
    browser.sign_in(&url, "alice", PASSWORD).await;
    assert_eq!(browser.status(&url).await, 200);
    gateway.clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(browser.status(&url).await, 302, "idle for 31 minutes");

    // Remember me: a persistent cookie and a session that outlives idle time and 12 hours.
    let remembered = gateway.browser();
    let page = remembered.follows.get(&url).send().await.unwrap();
    let html = page.text().await.unwrap();
    let form = [
        ("csrf", crate::support::hidden(&html, "csrf")),
        ("rd", crate::support::hidden(&html, "rd")),
        ("state", crate::support::hidden(&html, "state")),
        ("username", "alice".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("remember", "1".to_owned()),
    ];
    let response = remembered.post_login(&form, None).await;
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("Max-Age=2592000"), "{set_cookie}");
    let callback = response.headers()["location"].to_str().unwrap().to_owned();
    remembered.follows.get(&callback).send().await.unwrap();
    gateway.clock.advance(Duration::from_secs(13 * 3600));
    assert_eq!(remembered.status(&url).await, 200);
    gateway.clock.advance(Duration::from_secs(30 * 24 * 3600));
    assert_eq!(remembered.status(&url).await, 302, "past 30 days");
}

#[tokio::test]
async fn signed_in_non_member_gets_403_and_the_page_names_no_rule() {
    let gateway = gateway().await;
    let browser = gateway.browser();
    browser
        .sign_in(&gateway.url("app.example.test", "/"), "alice", PASSWORD)
        .await;
    let response = browser
        .stays
        .get(gateway.url("app.example.test", "/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let html = response.text().await.unwrap();
    assert!(html.contains("signed in as alice"), "{html}");
    assert!(
        !html.contains("admins") && !html.contains("rules"),
        "{html}"
    );
    let root = gateway.browser();
    root.sign_in(
        &gateway.url("app.example.test", "/admin/users"),
        "root",
        PASSWORD,
    )
    .await;
    let response = root
        .stays
        .get(gateway.url("app.example.test", "/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn k20_repeated_failures_lock_the_account_whatever_the_spelling_or_forwarded_address() {
    let gateway = gateway().await;
    let browser = gateway.browser();
    let attempt = |user: &'static str, password: &'static str, forwarded: &'static str| {
        let browser = &browser;
        async move {
            let token = browser.token("/login").await;
            let form = [
                ("csrf", token),
                ("rd", String::new()),
                ("username", user.to_owned()),
                ("password", password.to_owned()),
            ];
            let response = browser.post_login(&form, Some(forwarded)).await;
            response.status().as_u16()
        }
    };
    // Five failures are free; the sixth locks the account for 30 seconds.
    let spellings = ["alice", "Alice", " ALICE ", "alice", "aLiCe", "ALICE"];
    for (index, user) in spellings.into_iter().enumerate() {
        let forwarded = [
            "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "::1",
        ][index];
        assert_eq!(
            attempt(user, "wrong password", forwarded).await,
            200,
            "failure {index}"
        );
    }
    assert_eq!(
        attempt("alice", PASSWORD, "10.0.0.6").await,
        200,
        "locked: the right password fails too"
    );
    gateway.clock.advance(Duration::from_secs(31));
    assert_eq!(
        attempt("alice", PASSWORD, "10.0.0.7").await,
        302,
        "unlocked after the backoff"
    );
}

#[tokio::test]
async fn users_file_people_sign_in_and_lose_access_when_removed_from_it() {
    let hasher = portcullis::authn::password::Hasher::new(crate::support::CHEAP).unwrap();
    let hash = hasher
        .hash(&portcullis::authn::Secret::new(PASSWORD))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.yaml");
    let listed = format!(
        "users:\n  dana: {{ name: Dana File, groups: [staff], password_hash: \"{}\" }}\n",
        hash.as_phc()
    );
    std::fs::write(&users, &listed).unwrap();
    let extra = format!("{PORTAL}\ndefault: deny\nusers_file: {}", users.display());
    let gateway = TestGateway::start_with(apps(), &extra).await;
    let url = gateway.url("app.example.test", "/from-file");
    let browser = gateway.browser();
    let echo = echo_of(browser.sign_in(&url, "dana", PASSWORD).await).await;
    assert_eq!(echo_headers(&echo, "remote-name"), ["Dana File"]);

    std::fs::write(&users, "users: {}\n").unwrap();
    gateway.gateway.reload().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while browser.status(&url).await == 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "removal from the file never applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(browser.status(&url).await, 302);
}

#[tokio::test]
async fn k9_login_redirects_ignore_forwarded_host_and_proto_from_clients() {
    let gateway = gateway().await;
    let browser = gateway.browser();
    let response = browser
        .stays
        .get(gateway.url("app.example.test", "/k9"))
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "evil")
        .header("forwarded", "host=evil.example;proto=http")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    let expected = format!(
        "{}/sso?rd=https%3A%2F%2Fapp.example.test%3A",
        browser.portal
    );
    assert!(location.starts_with(&expected), "{location}");
    assert!(!location.contains("evil"), "{location}");
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let logs = crate::support::LogCapture::global();
    let gateway = gateway().await;
    let browser = gateway.browser();
    let url = gateway.url("app.example.test", "/secret?code=query-secret-value");
    browser.sign_in(&url, "alice", PASSWORD).await;
    browser
        .follows
        .get(gateway.url("b.test", "/"))
        .send()
        .await
        .unwrap();
    let cookie = browser.session_cookie(&url).unwrap();
    let token = browser.token("/logout").await;
    browser
        .post(
            &format!("{}/logout", browser.portal),
            &[("csrf", token.clone())],
        )
        .await;
    let wrong = browser.token("/login").await;
    let form = [
        ("csrf", wrong),
        ("rd", String::new()),
        ("username", "alice".to_owned()),
        ("password", "a wrong password".to_owned()),
    ];
    browser
        .post(&format!("{}/login", browser.portal), &form)
        .await;
    let text = logs.text();
    assert!(
        text.contains("portcullis::access"),
        "the capture works: {text}"
    );
    for secret in [
        PASSWORD,
        "a wrong password",
        &cookie,
        &token,
        "query-secret-value",
    ] {
        assert!(!text.contains(secret), "{secret:?} appears in the logs");
    }
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_before_anything_else() {
    let gateway = gateway().await;
    let directory = &gateway.gateway.services().directory;
    let new = portcullis::identity::NewUser {
        username: portcullis::identity::Username::parse("newbie").unwrap(),
        display_name: None,
        email: None,
        groups: vec![portcullis::identity::GroupName::parse("staff").unwrap()],
        password: portcullis::authn::Secret::new("ABCDE-FGHIJ-KLMNO-PQRST"),
        must_change_password: true,
    };
    directory.add_user(new).await.unwrap();
    let browser = gateway.browser();
    let url = gateway.url("app.example.test", "/after-change");
    let page = browser
        .sign_in(&url, "newbie", "ABCDE-FGHIJ-KLMNO-PQRST")
        .await;
    assert_eq!(page.url().path(), "/account/password");
    let html = page.text().await.unwrap();
    assert!(html.contains("Please choose a new password"), "{html}");
    // The app is out of reach meanwhile, without a redirect loop.
    let again = browser.follows.get(&url).send().await.unwrap();
    assert_eq!(again.url().path(), "/account/password");
    assert!(gateway.echo.targets().is_empty());

    let form = [
        ("csrf", crate::support::hidden(&html, "csrf")),
        ("rd", crate::support::hidden(&html, "rd")),
        ("current", "ABCDE-FGHIJ-KLMNO-PQRST".to_owned()),
        ("new", "a brand new passphrase".to_owned()),
        ("confirm", "a brand new passphrase".to_owned()),
    ];
    let done = browser
        .post(&format!("{}/account/password", browser.portal), &form)
        .await;
    assert_eq!(done.url().as_str(), url);
    assert_eq!(
        echo_headers(&echo_of(done).await, "remote-user"),
        ["newbie"]
    );
}

#[tokio::test]
async fn command_line_changes_reach_the_running_gateway_on_the_next_request() {
    let gateway = gateway().await;
    let url = gateway.url("app.example.test", "/cli");
    let browser = gateway.browser();
    browser.sign_in(&url, "alice", PASSWORD).await;
    assert_eq!(browser.status(&url).await, 200);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["user", "disable", "alice", "--config"])
        .arg(&gateway.config_path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Another process changed the store: the cache notices within its check interval
    // (250 ms on the gateway's clock, which this test drives).
    gateway.clock.advance(Duration::from_millis(300));
    assert_eq!(browser.status(&url).await, 302);
}

#[tokio::test]
async fn per_app_identity_header_names_roles_and_basic_credentials() {
    let apps = "
  - name: legacy
    host: app.example.test
    upstream: [\"http://{echo}\"]
    identity_headers: { user: X-Legacy-User, groups: X-Legacy-Groups }
    basic_auth: { password: \"fixed secret\" }
    rules: [{ auth: one_factor }]
";
    let extra = format!(
        "{PORTAL}\ndefault: deny\nroles:\n  editor: {{ groups: [staff] }}\n  \
         chief: {{ roles: [editor] }}\n  other: {{ users: [root] }}"
    );
    let gateway = TestGateway::start_with(apps, &extra).await;
    gateway.add_user("alice", PASSWORD, &["staff"]).await;
    let browser = gateway.browser();
    let url = gateway.url("app.example.test", "/legacy");
    browser.sign_in(&url, "alice", PASSWORD).await;
    let response = browser
        .follows
        .get(&url)
        .header("x-legacy-user", "root")
        .header("X_Legacy_Groups", "admins")
        .header("authorization", "Basic cm9vdDpyb290")
        .send()
        .await
        .unwrap();
    let echo = echo_of(response).await;
    assert_eq!(echo_headers(&echo, "x-legacy-user"), ["alice"]);
    assert_eq!(echo_headers(&echo, "x-legacy-groups"), ["staff"]);
    assert!(
        echo_headers(&echo, "remote-user").is_empty(),
        "renamed, not duplicated"
    );
    assert_eq!(echo_headers(&echo, "remote-roles"), ["chief,editor"]);
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "alice:fixed secret",
    );
    assert_eq!(
        echo_headers(&echo, "authorization"),
        [format!("Basic {basic}")]
    );
    let token = echo_headers(&echo, "x-portcullis-assertion");
    let payload = token[0].split('.').nth(1).unwrap();
    let payload =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["roles"], serde_json::json!(["chief", "editor"]));
}
