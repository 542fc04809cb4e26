//! The administrative command line: `portcullis user ...` and `portcullis session ...` run
//! as the real binary against a temporary SQLite store, checked through the library on the
//! same file. Every run also checks that nothing printed holds a password hash, a session
//! cookie value or a whole session key.

use std::cell::RefCell;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use portcullis::authn::Secret;
use portcullis::authn::password::{HashParams, Hasher};
use portcullis::identity::{StoreDirectory, UserRecord, Username, users_file};
use portcullis::session::{
    AuthMethod, ClientInfo, NewSession, Session, SessionConfig, SessionStore,
};
use portcullis::store::Store;
use serde_json::Value;
use tempfile::TempDir;

/// The cheapest Argon2 parameters; verification reads the parameters from each hash.
const CHEAP: HashParams = HashParams {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

/// A temporary config and store, the binary to run against them, and what must never be
/// printed.
struct Admin {
    dir: TempDir,
    config: PathBuf,
    directory: StoreDirectory,
    sessions: SessionStore,
    hasher: Hasher,
    secrets: RefCell<Vec<String>>,
}

/// What one run of the binary did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Admin {
    async fn new() -> Admin {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/p.db", dir.path().display());
        let config = dir.path().join("portcullis.yaml");
        let text = format!(
            "listen: {{ https: \"127.0.0.1:0\" }}\ntls:\n  certificates: [{{ cert: a.crt, key: a.key }}]\n\
             store: \"{url}\"\napps:\n  - name: wiki\n    host: wiki.example.test\n    \
             upstream: [\"http://127.0.0.1:9\"]\n"
        );
        std::fs::write(&config, text).unwrap();
        let store = Store::open(&url).await.unwrap();
        let hasher = Hasher::new(CHEAP).unwrap();
        Admin {
            directory: StoreDirectory::new(store.clone(), hasher.clone()),
            sessions: SessionStore::new(store, SessionConfig::default()),
            hasher,
            dir,
            config,
            secrets: RefCell::new(Vec::new()),
        }
    }

    /// Runs `portcullis ARGS --config FILE` with nothing on standard input.
    fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, "")
    }

    /// Runs `portcullis ARGS --config FILE` with `input` on standard input.
    fn run_with_input(&self, args: &[&str], input: &str) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        command.args(args).arg("--config").arg(&self.config);
        command.env_remove("PORTCULLIS_CONFIG");
        self.spawn(command, input, args.contains(&"hash-password"))
    }

    /// Runs `command`, feeding it `input`, and checks what it printed.
    fn spawn(&self, mut command: Command, input: &str, prints_hash: bool) -> Run {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let run = Run {
            code: output.status.code().unwrap(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        };
        let printed = format!("{}{}", run.stdout, run.stderr);
        assert!(prints_hash || !printed.contains("$argon2"), "{printed}");
        for secret in self.secrets.borrow().iter() {
            assert!(
                !printed.contains(secret.as_str()),
                "a secret was printed: {printed}"
            );
        }
        run
    }

    /// Adds `name` with `password` through the command line.
    fn add(&self, name: &str, password: &str) {
        let run = self.run_with_input(&["user", "add", name, "--password-stdin"], password);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }

    /// Starts a session for `name` the way the portal does; its cookie value and key join
    /// the things no output may show.
    async fn sign_in(&self, name: &str) -> (String, Session) {
        let new = NewSession {
            username: user(name),
            amr: vec![AuthMethod::Password],
            remember_me: false,
            client: ClientInfo {
                user_agent: Some("TestAgent/1.0".into()),
                ip: Some("10.1.2.3".parse::<IpAddr>().unwrap()),
            },
        };
        let (id, session) = self.sessions.create(new).await.unwrap();
        let cookie = id.cookie_value();
        let mut secrets = self.secrets.borrow_mut();
        secrets.push(cookie.clone());
        secrets.push(session.key.as_str().to_owned());
        (cookie, session)
    }

    async fn user(&self, name: &str) -> Option<UserRecord> {
        self.directory.get_user(&user(name)).await.unwrap()
    }

    async fn verifies(&self, name: &str, password: &str) -> bool {
        let record = self.user(name).await.unwrap();
        let password = Secret::new(password);
        self.hasher
            .verify(&record.password_hash, &password)
            .await
            .unwrap()
    }

    async fn is_active(&self, cookie: &str) -> bool {
        self.sessions.lookup(cookie).await.unwrap().is_some()
    }
}

fn user(name: &str) -> Username {
    Username::parse(name).unwrap()
}

fn groups(record: &UserRecord) -> Vec<&str> {
    record.groups.iter().map(|group| group.as_str()).collect()
}

/// The password printed after `one-time password for `NAME`: `.
fn printed_password(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|line| line.starts_with("one-time password for"))
        .unwrap();
    line.rsplit(": ").next().unwrap().to_owned()
}

fn json(run: &Run) -> Value {
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[tokio::test]
async fn add_generates_a_one_time_password_that_is_printed_once() {
    let admin = Admin::new().await;
    let args = [
        "user",
        "add",
        "Alice",
        "--name",
        "Alice Example",
        "--email",
        "alice@example.test",
        "--group",
        "staff",
        "--group",
        "wiki",
    ];
    let run = admin.run(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("added user `alice`\n"),
        "{}",
        run.stdout
    );

    let password = printed_password(&run.stdout);
    assert_eq!(password.len(), 23, "{password}");
    assert!(admin.verifies("alice", &password).await);
    let record = admin.user("alice").await.unwrap();
    assert!(record.must_change_password);
    assert_eq!(record.display_name, "Alice Example");
    assert_eq!(record.email.as_deref(), Some("alice@example.test"));
    assert_eq!(groups(&record), ["staff", "wiki"]);

    admin.secrets.borrow_mut().push(password);
    admin.run(&["user", "show", "alice"]);
    admin.run(&["user", "list", "--format", "json"]);
}

#[tokio::test]
async fn add_with_password_stdin_takes_the_first_line_and_prints_no_password() {
    let admin = Admin::new().await;
    admin.secrets.borrow_mut().push("correct horse".into());
    let run = admin.run_with_input(
        &["user", "add", "bob", "--password-stdin"],
        "correct horse\nnext line\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "added user `bob`\n");
    assert!(admin.verifies("bob", "correct horse").await);
    assert!(!admin.user("bob").await.unwrap().must_change_password);

    let run = admin.run(&["user", "add", "carol", "--password-stdin"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no password on standard input"),
        "{}",
        run.stderr
    );
    assert!(admin.user("carol").await.is_none());

    let run = admin.run_with_input(&["user", "add", "BOB", "--password-stdin"], "pw\n");
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "error: user `bob` already exists\n")
    );
}

/// `alice` (display name, group `staff`, one session) and `bob`.
async fn two_users(admin: &Admin) {
    let args = [
        "user",
        "add",
        "alice",
        "--name",
        "Alice Example",
        "--group",
        "staff",
    ];
    let run = admin.run_with_input(&[&args[..], &["--password-stdin"]].concat(), "a\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    admin.add("bob", "b");
    admin.sign_in("alice").await;
}

#[tokio::test]
async fn list_prints_an_aligned_table_and_parseable_json() {
    let admin = Admin::new().await;
    two_users(&admin).await;

    let run = admin.run(&["user", "list"]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines[0].starts_with("USER "), "{}", run.stdout);
    let name_column = lines[0].find("NAME").unwrap();
    assert_eq!(&lines[1][name_column..name_column + 13], "Alice Example");
    assert_eq!(&lines[2][name_column..name_column + 3], "bob");
    let groups_column = lines[0].find("GROUPS").unwrap();
    assert!(
        lines[1][groups_column..].starts_with("staff "),
        "{}",
        run.stdout
    );

    let listed = json(&admin.run(&["user", "list", "--format", "json"]));
    let users = listed.as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["username"], "alice");
    assert_eq!(users[0]["groups"], serde_json::json!(["staff"]));
    assert_eq!(users[0]["sessions"], 1);
    assert_eq!(users[1]["email"], Value::Null);
    assert!(users[0].get("password_hash").is_none());
}

#[tokio::test]
async fn show_prints_labelled_fields_and_parseable_json() {
    let admin = Admin::new().await;
    two_users(&admin).await;

    let shown = json(&admin.run(&["user", "show", "ALICE", "--format", "json"]));
    assert_eq!(shown["display_name"], "Alice Example");
    assert_eq!(shown["disabled"], false);
    assert_eq!(shown["source"], "local");
    assert_eq!(shown["last_login_at"], Value::Null);
    let created = shown["created_at"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(created).is_ok(), "{created}");
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");

    let run = admin.run(&["user", "show", "alice"]);
    let expected = [
        "groups:                staff\n".to_owned(),
        "active sessions:       1\n".to_owned(),
        format!("created:               {created}\n"),
    ];
    for line in expected {
        assert!(run.stdout.contains(&line), "{line:?} in {}", run.stdout);
    }
}

#[tokio::test]
async fn disable_ends_sessions_at_once_and_enable_lets_the_user_back() {
    let admin = Admin::new().await;
    admin.add("bob", "pw");
    let (cookie, _) = admin.sign_in("bob").await;
    assert!(admin.is_active(&cookie).await);

    let run = admin.run(&["user", "disable", "bob"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(admin.user("bob").await.unwrap().disabled);
    assert!(!admin.is_active(&cookie).await);
    let shown = json(&admin.run(&["user", "show", "bob", "--format", "json"]));
    assert_eq!(shown["disabled"], true);

    assert_eq!(admin.run(&["user", "enable", "bob"]).code, 0);
    assert!(!admin.user("bob").await.unwrap().disabled);
    let (cookie, _) = admin.sign_in("bob").await;
    assert!(admin.is_active(&cookie).await);
}

#[tokio::test]
async fn groups_add_and_remove_change_memberships() {
    let admin = Admin::new().await;
    admin.add("carol", "pw");

    let run = admin.run(&["user", "groups", "add", "carol", "Staff", "admins"]);
    assert_eq!(run.stdout, "`carol` added to: staff, admins\n");
    assert_eq!(
        groups(&admin.user("carol").await.unwrap()),
        ["admins", "staff"]
    );

    let run = admin.run(&["user", "groups", "remove", "carol", "staff", "ghosts"]);
    assert_eq!(
        run.stdout,
        "`carol` removed from: staff\n`carol` was not in: ghosts\n"
    );
    assert_eq!(groups(&admin.user("carol").await.unwrap()), ["admins"]);

    let run = admin.run(&["user", "groups", "add", "carol"]);
    assert_eq!(run.code, 2, "a group is required");
}

#[tokio::test]
async fn delete_needs_yes_and_then_removes_user_and_sessions() {
    let admin = Admin::new().await;
    admin.add("dave", "pw");
    let (cookie, _) = admin.sign_in("dave").await;

    let run = admin.run(&["user", "delete", "dave"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("add --yes"), "{}", run.stderr);
    assert!(admin.user("dave").await.is_some());
    assert!(admin.is_active(&cookie).await);

    let run = admin.run(&["user", "delete", "dave", "--yes"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "user `dave` deleted\n")
    );
    assert!(admin.user("dave").await.is_none());
    assert!(!admin.is_active(&cookie).await);
}

#[tokio::test]
async fn passwd_generates_a_one_time_password_and_ends_sessions() {
    let admin = Admin::new().await;
    admin.add("erin", "old password");
    let (cookie, _) = admin.sign_in("erin").await;

    let run = admin.run(&["user", "passwd", "erin"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let password = printed_password(&run.stdout);
    assert!(admin.verifies("erin", &password).await);
    assert!(!admin.verifies("erin", "old password").await);
    assert!(admin.user("erin").await.unwrap().must_change_password);
    assert!(!admin.is_active(&cookie).await);

    let run = admin.run_with_input(&["user", "passwd", "erin", "--password-stdin"], "chosen\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("chosen"));
    assert!(admin.verifies("erin", "chosen").await);
    assert!(!admin.user("erin").await.unwrap().must_change_password);
}

#[tokio::test]
async fn sessions_are_listed_by_key_prefix_and_revoked() {
    let admin = Admin::new().await;
    admin.add("alice", "a");
    admin.add("bob", "b");
    let (first, first_session) = admin.sign_in("alice").await;
    let (second, _) = admin.sign_in("alice").await;
    let (bobs, _) = admin.sign_in("bob").await;

    let listed = json(&admin.run(&["session", "list", "--format", "json"]));
    let sessions = listed.as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let prefix = sessions[0]["id"].as_str().unwrap();
    assert_eq!(prefix.len(), 12);
    assert!(first_session.key.as_str().starts_with(prefix));
    assert_eq!(sessions[0]["user"], "alice");
    assert_eq!(sessions[0]["client_ip"], "10.1.2.3");
    assert_eq!(sessions[0]["user_agent"], "TestAgent/1.0");
    assert!(humantime::parse_rfc3339(sessions[0]["expires_at"].as_str().unwrap()).is_ok());

    let run = admin.run(&["session", "list", "--user", "bob"]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("ID "), "{}", run.stdout);
    assert!(lines[1].contains(" bob ") && lines[1].ends_with("TestAgent/1.0"));

    let run = admin.run(&["session", "revoke", &prefix.to_uppercase()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!admin.is_active(&first).await);
    assert!(admin.is_active(&second).await);
    let run = admin.run(&["session", "revoke", prefix]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no active session id starts with"),
        "{}",
        run.stderr
    );

    let run = admin.run(&["session", "revoke", "--all-for", "alice"]);
    assert_eq!(run.stdout, "revoked 1 session(s) of `alice`\n");
    assert!(!admin.is_active(&second).await);
    assert_eq!(admin.run(&["session", "revoke", "--user", "bob"]).code, 0);
    assert!(!admin.is_active(&bobs).await);
    assert_eq!(
        admin.run(&["session", "list"]).stdout,
        "no active sessions\n"
    );
}

#[tokio::test]
async fn unknown_users_are_named_and_exit_1() {
    let admin = Admin::new().await;
    let commands: [&[&str]; 9] = [
        &["user", "show", "bob"],
        &["user", "disable", "bob"],
        &["user", "enable", "bob"],
        &["user", "passwd", "bob"],
        &["user", "delete", "bob", "--yes"],
        &["user", "groups", "add", "bob", "staff"],
        &["user", "groups", "remove", "bob", "staff"],
        &["session", "list", "--user", "bob"],
        &["session", "revoke", "--all-for", "bob"],
    ];
    for args in commands {
        let run = admin.run(args);
        assert_eq!(run.code, 1, "{args:?}");
        assert_eq!(run.stderr, "error: user `bob` does not exist\n", "{args:?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[tokio::test]
async fn bad_usage_exits_2_and_changes_nothing() {
    let admin = Admin::new().await;
    admin.secrets.borrow_mut().push("hunter2".into());
    let run = admin.run(&["user", "add", "bob", "--password", "hunter2"]);
    assert_eq!(run.code, 2, "a password is never an argument");
    assert!(admin.user("bob").await.is_none());

    for args in [
        &["user", "add", "a/b"][..],
        &["user", "add", "bob", "--email", "not-an-address"],
        &["session", "revoke"],
        &["session", "revoke", "xyz123"],
    ] {
        assert_eq!(admin.run(args).code, 2, "{args:?}");
    }
    assert!(admin.directory.list_users().await.unwrap().is_empty());

    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args(["user", "list"])
        .env_remove("PORTCULLIS_CONFIG");
    let run = admin.spawn(command, "", false);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("--config FILE or set PORTCULLIS_CONFIG")
    );

    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args(["user", "list"])
        .env("PORTCULLIS_CONFIG", &admin.config);
    let run = admin.spawn(command, "", false);
    assert_eq!((run.code, run.stdout.as_str()), (0, "no users\n"));
}

#[tokio::test]
async fn hash_password_output_works_in_a_users_file() {
    let admin = Admin::new().await;
    let run = admin.run_with_input(&["user", "hash-password", "--password-stdin"], "s3cret\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let hash = run.stdout.trim_end();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert_eq!(run.stdout.lines().count(), 1);

    let path = admin.dir.path().join("users.yaml");
    let text = format!("users:\n  frank: {{ groups: [staff], password_hash: \"{hash}\" }}\n");
    std::fs::write(&path, text).unwrap();
    let file = users_file::load(&path).unwrap();
    let report = users_file::sync(&admin.directory, &file).await.unwrap();
    assert_eq!(report.added, [user("frank")]);
    assert!(admin.verifies("frank", "s3cret").await);

    let shown = json(&admin.run(&["user", "show", "frank", "--format", "json"]));
    assert_eq!(shown["source"], "users_file");

    let run = admin.run(&["user", "hash-password"]);
    let password = run
        .stdout
        .lines()
        .next()
        .unwrap()
        .strip_prefix("password: ")
        .unwrap();
    let hash = run.stdout.lines().nth(1).unwrap();
    let hash = hash
        .strip_prefix("password_hash: \"")
        .unwrap()
        .trim_end_matches('"');
    let hash = portcullis::authn::password::PasswordHash::from_phc(hash).unwrap();
    let password = Secret::new(password);
    assert!(admin.hasher.verify(&hash, &password).await.unwrap());
}
