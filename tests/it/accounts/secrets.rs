//! Secrets (passwords, hashes, cookie values, hand-off codes, database passwords) never
//! appear in Debug output, error messages or the database file (DESIGN invariant 7).

use std::path::Path;

use portcullis::authn::Secret;
use portcullis::identity::{IdentityError, NewUser, Username};
use portcullis::store::{Store, StoreError};

use super::support::{Env, user};

const PASSWORD: &str = "s3cret-Pa55word";

#[tokio::test]
async fn debug_output_of_users_and_attempts_holds_no_password_or_hash() {
    let env = Env::new().await;
    let new = NewUser {
        username: user("alice"),
        display_name: None,
        email: None,
        groups: vec![],
        password: Secret::new(PASSWORD),
        must_change_password: false,
    };
    let debug_new = format!("{new:?}");
    let record = env.directory.add_user(new).await.unwrap();
    let attempt = env
        .login
        .attempt("alice", &Secret::new(PASSWORD))
        .await
        .unwrap();

    for text in [debug_new, format!("{record:?}"), format!("{attempt:?}")] {
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains(record.password_hash.as_phc()), "{text}");
        assert!(!text.contains("$argon2"), "{text}");
    }
}

#[tokio::test]
async fn first_admin_password_is_redacted_in_debug_output() {
    let env = Env::new().await;
    let admin = env.directory.ensure_first_admin().await.unwrap().unwrap();
    let text = format!("{admin:?}");
    assert!(!text.contains(admin.password.expose()), "{text}");
    assert!(text.contains("[redacted]"));
}

#[tokio::test]
async fn session_ids_and_codes_are_redacted_and_never_stored_in_clear() {
    let env = Env::new().await;
    env.add_user("alice", PASSWORD, &[]).await;
    let (id, session) = env.sign_in("alice").await;
    let code = env
        .sessions
        .create_code(&session.key, "app.example.test")
        .await
        .unwrap();

    let debug = format!("{id:?} {code:?} {session:?}");
    assert!(!debug.contains(&id.cookie_value()), "{debug}");
    assert!(!debug.contains(&code.expose()), "{debug}");

    let stored = database_bytes(env.dir.path());
    for secret in [id.cookie_value(), code.expose(), PASSWORD.to_owned()] {
        assert!(
            !contains(&stored, secret.as_bytes()),
            "found a secret in the database file"
        );
    }
    assert!(
        contains(&stored, session.key.as_str().as_bytes()),
        "the hash is what is stored"
    );
}

#[tokio::test]
async fn store_errors_never_show_a_database_password() {
    let urls = [
        "postgres://gate:hunter2@db.invalid:notaport/portcullis",
        "postgres://gate:hunter2@db.invalid:5432/portcullis?sslmode=bogus&password=hunter2",
        "mysql://gate:hunter2@db.invalid/portcullis",
    ];
    for url in urls {
        let error = Store::open(url).await.unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            matches!(
                error,
                StoreError::InvalidUrl { .. } | StoreError::Connect { .. }
            ),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_sqlite_path_that_cannot_be_created_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let url = format!("sqlite://{}/store.db", blocker.display());
    let error = Store::open(&url).await.unwrap_err();
    assert!(matches!(error, StoreError::CreateDir { .. }), "{error}");
    assert!(
        error.to_string().contains("creating store directory"),
        "{error}"
    );
}

#[tokio::test]
async fn naming_errors_do_not_echo_what_was_typed() {
    let typed = format!("alice {PASSWORD}");
    let error = Username::parse(&typed)
        .map_err(IdentityError::InvalidUsername)
        .unwrap_err();
    assert!(!error.to_string().contains(PASSWORD), "{error}");
    assert!(!format!("{error:?}").contains(PASSWORD));
}

/// The database file and its write-ahead log, concatenated.
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["portcullis.db", "portcullis.db-wal"] {
        if let Ok(content) = std::fs::read(dir.join("data").join(name)) {
            bytes.extend(content);
        }
    }
    assert!(!bytes.is_empty());
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
