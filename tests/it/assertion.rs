//! The signed identity assertion through the real gateway and portal (issue 5; CASES K7
//! for the assertion header): what the upstream receives, that it verifies against the
//! portal's JWKS for its own origin only, key rotation, token reuse, and header stripping.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::assertion::{Claims, Jwks, VerifyError, verify};
use portcullis::proxy::forward::fold_name;
use portcullis::store::Clock as _;

use crate::support::{Browser, PORTAL, TestGateway, echo_headers, echo_of};

const PASSWORD: &str = "correct horse battery";
const HEADER: &str = "x-portcullis-assertion";

/// Two apps on different hosts for signed-in staff; `app` has a public area.
const APPS: &str = "
  - name: app
    host: app.example.test
    upstream: [\"http://{echo}\"]
    rules:
      - { paths: [\"/public/**\"], auth: public }
      - { allow: { groups: [staff] }, auth: one_factor }
  - name: b
    host: b.test
    upstream: [\"http://{echo}\"]
    rules:
      - { auth: one_factor }
";

async fn gateway(assertion: &str) -> TestGateway {
    let extra = format!("{PORTAL}\ndefault: deny\n{assertion}");
    let gateway = TestGateway::start_with(APPS, &extra).await;
    gateway.add_user("alice", PASSWORD, &["staff"]).await;
    gateway
}

/// The origin a browser uses for `host` on the test gateway: the audience of its tokens.
fn origin(gateway: &TestGateway, host: &str) -> String {
    gateway.url(host, "")
}

fn now(gateway: &TestGateway) -> SystemTime {
    gateway.clock.now()
}

/// The key set as the portal serves it, checking its caching headers.
async fn jwks(browser: &Browser) -> Jwks {
    let url = format!("{}/.well-known/jwks.json", browser.portal);
    let response = browser.stays.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=300",
        "verifiers may cache the key set"
    );
    response.json().await.unwrap()
}

/// The one assertion the upstream received under `name`, failing on none or several.
fn assertion_in(echo: &serde_json::Value, name: &str) -> String {
    let values = echo_headers(echo, name);
    assert_eq!(values.len(), 1, "exactly one {name}: {values:?}");
    values[0].clone()
}

/// Signs in on `url` with a fresh browser and returns it with the token the upstream got.
async fn signed_in(gateway: &TestGateway, url: &str) -> (Browser, String) {
    let browser = gateway.browser();
    let echo = echo_of(browser.sign_in(url, "alice", PASSWORD).await).await;
    let token = assertion_in(&echo, HEADER);
    (browser, token)
}

/// The token the upstream receives for a request by `browser` to `url`.
async fn token_of(browser: &Browser, url: &str) -> String {
    let response = browser.stays.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assertion_in(&echo_of(response).await, HEADER)
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn upstream_receives_an_assertion_that_verifies_against_the_portal_jwks() {
    let gateway = gateway("").await;
    let url = gateway.url("app.example.test", "/page");
    let (browser, token) = signed_in(&gateway, &url).await;
    let keys = jwks(&browser).await;
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(keys.keys[0].kid, kid_of(&token));

    let audience = origin(&gateway, "app.example.test");
    let claims: Claims = verify(&token, &keys, &browser.portal, &audience, now(&gateway)).unwrap();
    assert_eq!(claims.iss, browser.portal);
    assert_eq!(claims.aud, audience);
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.email.as_deref(), Some("alice@example.test"));
    assert_eq!(claims.groups, ["staff"]);
    assert_eq!(claims.amr, ["pwd"]);
    assert_eq!(claims.exp - claims.iat, 60, "default lifetime");
    assert_eq!(claims.iat - claims.nbf, 30, "nbf is backdated");
    assert!(claims.auth_time <= claims.iat);
}

#[tokio::test]
async fn token_from_one_app_is_refused_for_another_and_never_relayed_by_the_gateway() {
    let gateway = gateway("").await;
    let url_a = gateway.url("app.example.test", "/a");
    let (browser, token_a) = signed_in(&gateway, &url_a).await;

    // Single sign-on to b, replaying a's token as if the client were an app.
    let url_b = gateway.url("b.test", "/b");
    browser.follows.get(&url_b).send().await.unwrap();
    let response = browser
        .stays
        .get(&url_b)
        .header("x-portcullis-assertion", &token_a)
        .send()
        .await
        .unwrap();
    let token_b = assertion_in(&echo_of(response).await, HEADER);
    assert_ne!(token_b, token_a, "the client's token never reaches b");

    let keys = jwks(&browser).await;
    let at = now(&gateway);
    let audience_b = origin(&gateway, "b.test");
    let replayed = verify(&token_a, &keys, &browser.portal, &audience_b, at);
    assert_eq!(replayed, Err(VerifyError::Audience));
    let claims = verify(&token_b, &keys, &browser.portal, &audience_b, at).unwrap();
    assert_eq!(claims.sub, "alice");
}

#[tokio::test]
async fn tampered_token_is_refused() {
    let gateway = gateway("").await;
    let url = gateway.url("app.example.test", "/t");
    let (browser, token) = signed_in(&gateway, &url).await;
    let keys = jwks(&browser).await;
    let audience = origin(&gateway, "app.example.test");
    let parts: Vec<&str> = token.split('.').collect();

    let payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    let payload = String::from_utf8(payload)
        .unwrap()
        .replace("\"staff\"", "\"admins\"");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload),
        parts[2]
    );
    let result = verify(&forged, &keys, &browser.portal, &audience, now(&gateway));
    assert_eq!(result, Err(VerifyError::Signature));

    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[10] ^= 1;
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    let result = verify(&forged, &keys, &browser.portal, &audience, now(&gateway));
    assert_eq!(result, Err(VerifyError::Signature));
}

#[tokio::test]
async fn rotation_signs_with_a_new_key_and_publishes_the_old_one_until_the_overlap_ends() {
    let gateway = gateway("assertion: { lifetime: 5m, rotate_every: 10m }").await;
    let url = gateway.url("app.example.test", "/r");
    let audience = origin(&gateway, "app.example.test");

    // A token signed shortly before the key is due, then one after.
    gateway.clock.advance(Duration::from_secs(9 * 60));
    let (browser, old) = signed_in(&gateway, &url).await;
    let old_issued = now(&gateway);
    gateway.clock.advance(Duration::from_secs(2 * 60));
    let (_, new) = signed_in(&gateway, &url).await;
    assert_ne!(kid_of(&new), kid_of(&old), "the new key signs");

    let keys = jwks(&browser).await;
    assert_eq!(keys.keys.len(), 2, "{keys:?}");
    let portal = &browser.portal;
    verify(&new, &keys, portal, &audience, now(&gateway)).unwrap();
    verify(&old, &keys, portal, &audience, now(&gateway)).unwrap();
    gateway.clock.advance(Duration::from_secs(2 * 60));
    let keys = jwks(&browser).await;
    verify(&old, &keys, portal, &audience, now(&gateway)).expect("old token valid until exp");
    gateway.clock.advance(Duration::from_secs(2 * 60));
    let expired = verify(&old, &keys, portal, &audience, now(&gateway));
    assert_eq!(expired, Err(VerifyError::Expired));

    // Ten minutes after it stopped signing, the old key leaves the key set; the second
    // key, itself rotated out at this moment, stays published.
    gateway.clock.advance(Duration::from_secs(6 * 60));
    let keys = jwks(&browser).await;
    let kids: Vec<&str> = keys.keys.iter().map(|key| key.kid.as_str()).collect();
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(!kids.contains(&kid_of(&old).as_str()), "{kids:?}");
    assert_eq!(kids[1], kid_of(&new), "{kids:?}");
    let dropped = verify(&old, &keys, portal, &audience, old_issued);
    assert_eq!(dropped, Err(VerifyError::UnknownKey));
}

#[tokio::test]
async fn requests_in_one_session_reuse_the_token_until_a_quarter_of_its_lifetime_is_left() {
    let gateway = gateway("").await;
    let url = gateway.url("app.example.test", "/c");
    let (browser, first) = signed_in(&gateway, &url).await;
    let jti = |token: &str| {
        let payload = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        claims["jti"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        token_of(&browser, &url).await,
        first,
        "same session, same app"
    );
    gateway.clock.advance(Duration::from_secs(40));
    assert_eq!(
        jti(&token_of(&browser, &url).await),
        jti(&first),
        "20 of 60 s left"
    );
    gateway.clock.advance(Duration::from_secs(6));
    let fresh = token_of(&browser, &url).await;
    assert_ne!(jti(&fresh), jti(&first), "14 of 60 s left: a fresh token");
    assert_eq!(
        token_of(&browser, &url).await,
        fresh,
        "which is reused in turn"
    );

    let other = gateway.browser();
    other.sign_in(&url, "alice", PASSWORD).await;
    assert_ne!(
        token_of(&other, &url).await,
        fresh,
        "another session, another token"
    );
}

#[tokio::test]
async fn public_routes_get_no_assertion() {
    let gateway = gateway("").await;
    let (browser, _) = signed_in(&gateway, &gateway.url("app.example.test", "/")).await;
    let response = browser
        .stays
        .get(gateway.url("app.example.test", "/public/x"))
        .header("x-portcullis-assertion", "forged")
        .send()
        .await
        .unwrap();
    let echo = echo_of(response).await;
    assert!(echo_headers(&echo, HEADER).is_empty(), "{echo}");
    assert!(echo_headers(&echo, "remote-user").is_empty(), "{echo}");
}

/// Every header the upstream got whose name folds to `folded`.
fn spellings_of(echo: &serde_json::Value, folded: &str) -> Vec<(String, String)> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            let name = pair[0].as_str().unwrap().to_owned();
            (name, pair[1].as_str().unwrap().to_owned())
        })
        .filter(|(name, _)| fold_name(name) == folded)
        .collect()
}

#[tokio::test]
async fn k7_client_assertion_headers_never_reach_the_upstream_in_any_spelling() {
    let gateway = gateway("").await;
    let url = gateway.url("app.example.test", "/k7");
    let (browser, _) = signed_in(&gateway, &url).await;
    let response = browser
        .stays
        .get(&url)
        .header("X-Portcullis-Assertion", "forged-1")
        .header("x_portcullis_assertion", "forged-2")
        .header("X.Portcullis.Assertion", "forged-3")
        .header("X-PORTCULLIS_ASSERTION", "forged-4")
        .send()
        .await
        .unwrap();
    let echo = echo_of(response).await;
    let received = spellings_of(&echo, HEADER);
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].0, HEADER);
    assert!(!received[0].1.starts_with("forged"), "{received:?}");
}

#[tokio::test]
async fn k7_a_configured_header_name_is_used_and_protected_like_the_default() {
    let gateway = gateway("assertion: { header: X-Identity-Token }").await;
    let url = gateway.url("app.example.test", "/k7");
    let browser = gateway.browser();
    browser.sign_in(&url, "alice", PASSWORD).await;
    let response = browser
        .stays
        .get(&url)
        .header("X_Identity_Token", "forged-1")
        .header("x.identity.token", "forged-2")
        .header("X-Portcullis-Assertion", "forged-3")
        .send()
        .await
        .unwrap();
    let echo = echo_of(response).await;
    assert!(spellings_of(&echo, HEADER).is_empty(), "{echo}");
    let received = spellings_of(&echo, "x-identity-token");
    assert_eq!(received.len(), 1, "{received:?}");
    let keys = jwks(&browser).await;
    let audience = origin(&gateway, "app.example.test");
    let claims = verify(
        &received[0].1,
        &keys,
        &browser.portal,
        &audience,
        now(&gateway),
    );
    assert_eq!(claims.unwrap().sub, "alice");
}
