//! Route policy through the real gateway and the command line (issue 4; CASES K4, K8, K15).

use std::process::Command;

use crate::support::{PORTAL, TestGateway};

const CONFIG: &str = "\
listen: { https: \"127.0.0.1:8443\" }
tls: { certificates: [{ cert: a.crt, key: a.key }] }
portal: { url: \"https://auth.example.test\" }
networks:
  office: [10.0.0.0/8]
roles:
  admin: { groups: [admins] }
apps:
  - name: app
    host: app.example.test
    upstream: [\"http://127.0.0.1:1\"]
    rules:
      - { paths: [\"/public/**\"], auth: public }
      - { paths: [\"/healthz\"], auth: public }
      - { paths: [\"/admin/**\"], allow: { roles: [admin] }, auth: one_factor }
      - { paths: [\"/admin/reports\"], auth: public }
      - { networks: [office], allow: { groups: [staff] }, auth: one_factor }
      - { allow: { groups: [staff] }, auth: two_factor }
";

fn portcullis() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_warns_about_a_shadowed_rule_and_strict_refuses_it_k15() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir, "p.yaml", CONFIG);
    portcullis::tls::devca::issue_with_new_ca(dir.path(), "a", &["app.example.test"]).unwrap();
    let output = portcullis()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("p.yaml:16:9: warning:"), "{stderr}");
    assert!(
        stderr.contains("rules[3]") && stderr.contains("never matches"),
        "{stderr}"
    );
    let strict = portcullis()
        .args(["check", "--strict", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(2));
}

#[test]
fn check_reports_policy_errors_at_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let bad = CONFIG.replace("networks: [office]", "networks: [nowhere]");
    let config = write(&dir, "p.yaml", &bad);
    let output = portcullis()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("p.yaml:17:9:") && stderr.contains("nowhere"),
        "{stderr}"
    );
}

#[test]
fn explain_prints_the_deciding_rule_and_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir, "p.yaml", CONFIG);
    let run = |args: &[&str]| {
        let output = portcullis()
            .arg("explain")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let anonymous = run(&["--url", "https://app.example.test/admin/users"]);
    assert!(
        anonymous.contains("rules[0]") && anonymous.contains("path does not match"),
        "{anonymous}"
    );
    assert!(anonymous.contains("decision: login"), "{anonymous}");
    let staff = run(&[
        "--url",
        "https://APP.example.test/admin/x",
        "--user",
        "alice",
        "--groups",
        "staff",
    ]);
    assert!(staff.contains("decision: deny"), "{staff}");
    let office = run(&[
        "--url",
        "https://app.example.test/wiki?x=/public/a",
        "--user",
        "alice",
        "--groups",
        "staff",
        "--ip",
        "10.1.2.3",
    ]);
    assert!(office.contains("decision: allow"), "{office}");
    let home = run(&[
        "--url",
        "https://app.example.test/wiki",
        "--user",
        "alice",
        "--groups",
        "staff",
    ]);
    assert!(
        home.contains("client address not in networks") && home.contains("step"),
        "{home}"
    );
}

#[test]
fn policy_test_runs_cases_and_fails_on_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir, "p.yaml", CONFIG);
    let good = write(
        &dir,
        "cases.yaml",
        "\
- { url: \"https://app.example.test/public/a\", expect: allow }
- { url: \"https://app.example.test/admin/export?x=/public/a\", expect: login }
- { url: \"https://app.example.test/healthz?verbose=1\", expect: allow }
- { user: alice, groups: [staff], url: \"https://app.example.test/admin/x\", expect: deny }
- { user: root, groups: [admins], url: \"https://app.example.test/admin/x\", expect: allow }
- { user: alice, groups: [staff], ip: 10.9.9.9, url: \"https://app.example.test/x\", expect: allow }
- { user: alice, groups: [staff], url: \"https://app.example.test/x\", expect: step_up }
",
    );
    let output = portcullis()
        .args(["policy", "test", "--config"])
        .arg(&config)
        .arg(&good)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("7 passed, 0 failed"), "{stdout}");

    let bad = write(
        &dir,
        "bad.yaml",
        "- { url: \"https://app.example.test/admin/x\", expect: allow }\n",
    );
    let output = portcullis()
        .args(["policy", "test", "--config"])
        .arg(&config)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("FAIL  ")
            && stdout.contains("bad.yaml:1")
            && stdout.contains("decision: login"),
        "{stdout}"
    );

    let broken = write(&dir, "broken.yaml", "- { url: x, expect: maybe }\n");
    let output = portcullis()
        .args(["policy", "test", "--config"])
        .arg(&config)
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("broken.yaml:1:"));
}

fn network_apps() -> &'static str {
    "
  - name: app
    host: app.example.test
    upstream: [\"http://{echo}\"]
    rules:
      - { networks: [10.0.0.0/8], auth: public }
      - { methods: [GET], paths: [\"/read/**\"], auth: public }
      - { paths: [\"/closed/**\"], deny: true }
      - { auth: one_factor }
"
}

#[tokio::test]
async fn network_rules_use_the_real_client_address_k8() {
    let gateway =
        TestGateway::start_with(network_apps(), &format!("{PORTAL}\ndefault: deny")).await;
    let client = gateway.client();
    let url = gateway.url("app.example.test", "/x");
    let spoofed = client
        .get(&url)
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        spoofed.status(),
        401,
        "a client's X-Forwarded-For is not its address"
    );
    let trusting = TestGateway::start_with(
        network_apps(),
        &format!("{PORTAL}\ndefault: deny\ntrusted_proxies: [127.0.0.1/32]"),
    )
    .await;
    let url = trusting.url("app.example.test", "/x");
    let proxied = trusting
        .client()
        .get(&url)
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        proxied.status(),
        200,
        "behind a trusted proxy the forwarded address counts"
    );
    let mapped = trusting
        .client()
        .get(&url)
        .header("x-forwarded-for", "::ffff:10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        mapped.status(),
        200,
        "an IPv4-mapped address counts as IPv4"
    );
}

#[tokio::test]
async fn methods_and_deny_rules_hold_for_everyone() {
    let gateway =
        TestGateway::start_with(network_apps(), &format!("{PORTAL}\ndefault: deny")).await;
    let client = gateway.client();
    let read = gateway.url("app.example.test", "/read/doc");
    assert_eq!(client.get(&read).send().await.unwrap().status(), 200);
    assert_eq!(
        client.post(&read).body("x").send().await.unwrap().status(),
        401
    );
    let closed = gateway.url("app.example.test", "/closed/x");
    assert_eq!(client.get(&closed).send().await.unwrap().status(), 403);
    assert_eq!(gateway.echo.targets(), ["/read/doc"]);
}

#[tokio::test]
async fn reload_switches_decisions_at_once() {
    let apps = "
  - name: app
    host: app.example.test
    upstream: [\"http://{echo}\"]
    rules: [{ auth: public }]
";
    let gateway = TestGateway::start_with(apps, &format!("{PORTAL}\ndefault: deny")).await;
    let client = gateway.client();
    let url = gateway.url("app.example.test", "/doc");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let closed = gateway
        .apps()
        .replace("rules: [{ auth: public }]", "rules: [{ deny: true }]");
    let extra =
        format!("{PORTAL}\ndefault: deny").replace("{port}", &gateway.address().port().to_string());
    gateway.write_config(&closed, &extra);
    gateway.gateway.reload().unwrap();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 403);
}
