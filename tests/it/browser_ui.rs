//! The sign-in page as a person meets it, in real headless Chromium (issue 3): reached from
//! an app, used with the keyboard alone, styled, labelled, and captured in a screenshot.
//!
//! These tests need Debian's Chromium (`scripts/install-test-deps`); without it they fail
//! and say so. Set `PORTCULLIS_SCREENSHOTS` to a folder to keep the screenshots they take.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cdp::{Chromium, Key, Page};
use crate::support::{PORTAL, TestGateway, echo_headers};

const PASSWORD: &str = "correct horse battery";

/// The portal's accent colour (`--accent` in templates/base.html) as computed styles give it.
const ACCENT: &str = "rgb(37, 83, 216)";

/// An app that lets signed-in staff in with a password.
const APPS: &str = "
  - name: app
    host: app.example.test
    upstream: [\"http://{echo}\"]
    rules:
      - { allow: { groups: [staff] }, auth: one_factor }
";

/// A gateway with the portal on `auth.example.test` and alice in staff.
async fn gateway() -> TestGateway {
    let gateway = TestGateway::start_with(APPS, &format!("{PORTAL}\ndefault: deny")).await;
    gateway.add_user("alice", PASSWORD, &["staff"]).await;
    gateway
}

/// Chromium that resolves the test hosts to the gateway and accepts its certificate.
async fn chromium_for(gateway: &TestGateway) -> Chromium {
    // The gateway's test CA is not in Chromium's trust store, and adding it would need NSS
    // tools and a profile database. Instead Chromium accepts the one key the gateway's
    // certificate carries, and nothing else: these tests are about the page; TLS itself is
    // tested in tls.rs with real verification.
    let certificate = gateway.dir.path().join("main.crt");
    let args = [
        "--host-resolver-rules=MAP *.example.test 127.0.0.1".to_owned(),
        format!(
            "--ignore-certificate-errors-spki-list={}",
            spki_hash(&certificate)
        ),
    ];
    Chromium::launch(&args).await
}

/// Base64 of the SHA-256 of the first certificate's SubjectPublicKeyInfo in `pem`, the form
/// Chromium's `--ignore-certificate-errors-spki-list` takes.
fn spki_hash(pem: &Path) -> String {
    let certificate = CertificateDer::pem_file_iter(pem)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let parsed = webpki::EndEntityCert::try_from(&certificate).unwrap();
    let spki = parsed.subject_public_key_info();
    STANDARD.encode(Sha256::digest(spki.as_ref()))
}

#[tokio::test]
async fn a_person_signs_in_with_the_keyboard_alone() {
    let gateway = gateway().await;
    let portal = gateway.url("auth.example.test", "/login");
    let app = gateway.url("app.example.test", "/private");
    let mut chromium = chromium_for(&gateway).await;
    let mut page = chromium.open_page().await;

    page.navigate(&app).await;
    let landed = page.evaluate("location.origin + location.pathname").await;
    assert_eq!(
        landed,
        portal.as_str(),
        "the app sends the person to sign in"
    );
    let focus = "document.activeElement.id === 'username'";
    page.wait_until(focus, "focus in the username field").await;

    page.type_text("alice").await;
    page.press(Key::Tab).await;
    let focused = page.evaluate("document.activeElement.id").await;
    assert_eq!(focused, "password", "Tab goes from username to password");
    page.type_text(PASSWORD).await;
    page.press(Key::Enter).await;
    page.wait_for_next_load().await;

    let body = page_text(&mut page).await;
    let location = page.evaluate("location.href").await;
    assert_eq!(
        location,
        app.as_str(),
        "back at the app after signing in: {body}"
    );
    let echo: Value = serde_json::from_str(&body)
        .unwrap_or_else(|_| panic!("the app's page is not the echo document: {body}"));
    assert_eq!(echo["target"], "/private");
    assert_eq!(echo_headers(&echo, "remote-user"), ["alice"]);
}

#[tokio::test]
async fn the_login_page_renders_with_its_styles() {
    let gateway = gateway().await;
    let mut chromium = chromium_for(&gateway).await;
    let mut page = chromium.open_page().await;
    page.set_viewport(1280, 800, false).await;
    page.navigate(&gateway.url("auth.example.test", "/login"))
        .await;

    let facts = page.evaluate(PAGE_FACTS).await;
    assert_eq!(facts["lang"], "en", "html[lang] is set: {facts}");
    assert_ne!(
        facts["card"], "rgba(0, 0, 0, 0)",
        "the card has a background"
    );
    let radius = facts["radius"].as_f64().unwrap_or_default();
    assert!(radius > 0.0, "the card has rounded corners: {facts}");
    assert_eq!(facts["button"], ACCENT, "the button has the accent colour");
    assert_eq!(
        facts["unlabelled"],
        serde_json::json!([]),
        "every input has a label"
    );
    assert_eq!(facts["inputs"], 3, "username, password, keep me signed in");
    assert_eq!(
        facts["overflows"], false,
        "nothing is wider than the window"
    );

    let png = page.screenshot().await;
    assert_png(&png, 1280, 800);
    keep_screenshot(&gateway.dir.path().join("login.png"), &png);

    page.set_viewport(360, 740, true).await;
    let overflows = page.evaluate(OVERFLOWS).await;
    assert_eq!(overflows, false, "the page fits a 360 px wide phone");
    let png = page.screenshot().await;
    assert_png(&png, 360, 740);
    keep_screenshot(&gateway.dir.path().join("login-phone.png"), &png);
}

/// Whether anything on the page is wider than the window (a horizontal scroll bar).
const OVERFLOWS: &str = "document.documentElement.scrollWidth > window.innerWidth";

/// What the styles test checks, read from the rendered page in one go.
const PAGE_FACTS: &str = "(() => {
  const card = getComputedStyle(document.querySelector('main'));
  const button = getComputedStyle(document.querySelector('button[type=submit]'));
  const inputs = [...document.querySelectorAll('input:not([type=hidden])')];
  const labelled = (input) =>
    input.id !== '' && document.querySelector(`label[for=\"${CSS.escape(input.id)}\"]`);
  return {
    lang: document.documentElement.lang,
    card: card.backgroundColor,
    radius: parseFloat(card.borderTopLeftRadius),
    button: button.backgroundColor,
    inputs: inputs.length,
    unlabelled: inputs.filter((input) => !labelled(input)).map((input) => input.name),
    overflows: document.documentElement.scrollWidth > window.innerWidth,
  };
})()";

/// The text of the page: the JSON itself when Chromium shows a JSON response.
async fn page_text(page: &mut Page<'_>) -> String {
    let text = "(document.querySelector('body > pre') ?? document.body).innerText";
    let value = page.evaluate(text).await;
    value.as_str().unwrap_or_default().to_owned()
}

/// Asserts that `png` is a PNG image of `width` by `height` pixels with real content.
fn assert_png(png: &[u8], width: u32, height: u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // The IHDR chunk comes first: length, type, then width and height (PNG spec 11.2.2).
    assert_eq!(&png[12..16], b"IHDR");
    let dimension = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((dimension(16), dimension(20)), (width, height));
    // A blank page of one colour compresses to well under a kilobyte.
    assert!(
        png.len() > 8 * 1024,
        "a {} byte screenshot is blank",
        png.len()
    );
}

/// Writes a screenshot to `path`, and into `PORTCULLIS_SCREENSHOTS` if that is set.
fn keep_screenshot(path: &Path, png: &[u8]) {
    std::fs::write(path, png).unwrap();
    if let Some(folder) = std::env::var_os("PORTCULLIS_SCREENSHOTS") {
        let name = path.file_name().unwrap();
        std::fs::write(Path::new(&folder).join(name), png).unwrap();
    }
}
