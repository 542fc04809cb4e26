//! The command line: `check` reports every problem with file, line and column.

use std::process::Command;

fn portcullis() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
}

#[test]
fn check_accepts_the_example_config_once_its_certificates_exist() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.yaml");
    let config = dir.path().join("portcullis.yaml");
    std::fs::copy(example, &config).unwrap();
    let output = portcullis()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "certificates are checked too"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("certs/example.crt"), "{stderr}");

    let certs = dir.path().join("certs");
    let names = ["wiki.example.com", "legacy.example.com", "auth.example.com"];
    portcullis::tls::devca::issue_with_new_ca(&certs, "example", &names).unwrap();
    std::fs::copy(certs.join("example-ca.crt"), certs.join("internal-ca.pem")).unwrap();
    let output = portcullis()
        .args(["check", "--strict", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("ok"));
}

#[test]
fn check_reports_errors_with_location_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "listen: { https: \"127.0.0.1:8443\" }\ntls: { certificates: [] }\napps:\n  - name: a\n    \
         host: a_b.test\n    upstream: [\"http://127.0.0.1:1\"]\n",
    )
    .unwrap();
    let output = portcullis()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.yaml:5:11:"), "{stderr}");
    assert!(stderr.contains("expected a host name"), "{stderr}");
}

#[test]
fn check_reports_a_missing_file_clearly() {
    let output = portcullis()
        .args(["check", "--config", "/nonexistent/p.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/p.yaml: cannot read the file"),
        "{stderr}"
    );
}
