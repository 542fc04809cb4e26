//! Hot reload: good files swap in atomically, bad files keep the old configuration.

use std::time::{Duration, Instant};

use crate::support::{DEFAULT_APPS, TestGateway, connect_tls};

/// Waits until `check` holds, polling; fails the test after ten seconds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn with_new_app(apps: &str) -> String {
    let echo = apps
        .split("http://")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    format!("{apps}  - name: new\n    host: new.example.test\n    upstream: [\"http://{echo}\"]\n")
}

#[tokio::test]
async fn reload_swaps_in_a_good_config() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let client = gateway.client();
    let url = gateway.url("new.example.test", "/");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 404);
    gateway.write_config(&with_new_app(gateway.apps()), "");
    gateway.gateway.reload().unwrap();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn bad_config_is_refused_with_its_location_and_the_old_one_keeps_serving() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let client = gateway.client();
    let url = gateway.url("app.example.test", "/still-here");
    gateway.write_config(&format!("{}    bogus_key: 1\n", gateway.apps()), "");
    let error = gateway.gateway.reload().unwrap_err().to_string();
    assert!(error.contains("portcullis.yaml:"), "{error}");
    assert!(error.contains("unknown field `bogus_key`"), "{error}");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    // A config naming a certificate that does not exist is refused as a whole too.
    gateway.write_config(&with_new_app(gateway.apps()), "");
    std::fs::remove_file(gateway.dir.path().join("other.key")).unwrap();
    let error = gateway.gateway.reload().unwrap_err().to_string();
    assert!(error.contains("other.key"), "{error}");
    let url = gateway.url("new.example.test", "/");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn config_file_changes_are_picked_up_without_a_signal() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let client = gateway.client();
    gateway.write_config(&with_new_app(gateway.apps()), "");
    let url = gateway.url("new.example.test", "/");
    eventually("the watcher to load the new app", || {
        let request = client.get(&url).send();
        async {
            request
                .await
                .map(|response| response.status() == 200)
                .unwrap_or(false)
        }
    })
    .await;
}

#[tokio::test]
async fn certificate_files_are_reloaded_when_they_change() {
    let gateway = TestGateway::start(DEFAULT_APPS).await;
    let address = gateway.address();
    let dir = gateway.dir.path();
    let fresh = portcullis::tls::devca::issue_with_new_ca(dir, "fresh", &["b.test"]).unwrap();
    std::fs::copy(&fresh.server.cert, dir.join("other.crt")).unwrap();
    std::fs::copy(&fresh.server.key, dir.join("other.key")).unwrap();
    let fresh_ca = fresh.ca_cert.clone();
    eventually("the new certificate to be presented", || {
        let ca = fresh_ca.clone();
        async move { connect_tls(address, "b.test", &[&ca], &[]).await.is_ok() }
    })
    .await;
    assert!(
        connect_tls(address, "b.test", &[&gateway.other_ca], &[])
            .await
            .is_err()
    );
}
