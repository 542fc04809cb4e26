//! The password step: verification, the dummy-hash path for users that cannot sign in
//! (CASES K21), and rehash on login.

use portcullis::authn::password::{HashParams, Hasher};
use portcullis::authn::{HashWork, PasswordVerdict, Rejection, Secret};
use portcullis::identity::Directory;

use super::support::{CHEAP, Env, user};

fn rejection(verdict: &PasswordVerdict) -> Option<Rejection> {
    match verdict {
        PasswordVerdict::Rejected(reason) => Some(*reason),
        PasswordVerdict::Accepted { .. } => None,
    }
}

#[tokio::test]
async fn right_password_is_accepted_against_the_stored_hash() {
    let env = Env::new().await;
    env.add_user("alice", "correct horse", &[]).await;

    let attempt = env
        .login
        .attempt("alice", &Secret::new("correct horse"))
        .await
        .unwrap();
    assert_eq!(attempt.hash_work, HashWork::Stored);
    let PasswordVerdict::Accepted { user, rehashed } = attempt.verdict else {
        panic!("expected acceptance");
    };
    assert_eq!(user.username.as_str(), "alice");
    assert!(!rehashed);
}

#[tokio::test]
async fn username_case_width_and_padding_do_not_matter_at_login() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    for typed in ["ALICE", " Alice ", "ａｌｉｃｅ"] {
        let attempt = env.login.attempt(typed, &Secret::new("pw")).await.unwrap();
        assert!(
            matches!(attempt.verdict, PasswordVerdict::Accepted { .. }),
            "{typed}"
        );
    }
}

#[tokio::test]
async fn wrong_password_is_checked_against_the_stored_hash() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let attempt = env
        .login
        .attempt("alice", &Secret::new("PW"))
        .await
        .unwrap();
    assert_eq!(rejection(&attempt.verdict), Some(Rejection::WrongPassword));
    assert_eq!(attempt.hash_work, HashWork::Stored);
    assert_eq!(env.hasher.verification_counts(), (1, 0));
}

#[tokio::test]
async fn users_who_cannot_sign_in_cost_a_dummy_verification() {
    let env = Env::new().await;
    env.add_user("bob", "pw", &[]).await;
    env.directory
        .set_disabled(&user("bob"), true)
        .await
        .unwrap();

    let cases = [
        ("nobody", Rejection::UnknownUser),
        ("bob", Rejection::Disabled),
        ("bad/name", Rejection::InvalidUsername),
    ];
    for (typed, expected) in cases {
        // The right password for bob still gets only the dummy check.
        let (stored_before, dummy_before) = env.hasher.verification_counts();
        let attempt = env.login.attempt(typed, &Secret::new("pw")).await.unwrap();
        assert_eq!(rejection(&attempt.verdict), Some(expected), "{typed}");
        assert_eq!(attempt.hash_work, HashWork::Dummy, "{typed}");
        let counts = env.hasher.verification_counts();
        assert_eq!(
            counts,
            (stored_before, dummy_before + 1),
            "one full verification: {typed}"
        );
    }
    assert!(env.hasher.dummy_matches_current_params());
}

#[tokio::test]
async fn the_dummy_hash_costs_what_a_real_one_does() {
    let hasher = Hasher::new(HashParams::OWASP).unwrap();
    assert!(hasher.dummy_matches_current_params());
    let cheap = Hasher::new(CHEAP).unwrap();
    assert!(cheap.dummy_matches_current_params());
    assert_ne!(hasher.params(), cheap.params());
}

#[tokio::test]
async fn outdated_hash_is_upgraded_on_successful_login() {
    let old = Env::new().await;
    old.add_user("alice", "pw", &[]).await;

    let reopened = old
        .second_process_with(Hasher::new(HashParams::OWASP).unwrap())
        .await;
    let attempt = reopened
        .login
        .attempt("alice", &Secret::new("pw"))
        .await
        .unwrap();
    let PasswordVerdict::Accepted { user, rehashed } = attempt.verdict else {
        panic!("expected acceptance");
    };
    assert!(rehashed);
    assert!(reopened.hasher.needs_rehash(&user.password_hash));

    let stored = reopened
        .directory
        .lookup(&user.username)
        .await
        .unwrap()
        .unwrap();
    assert!(!reopened.hasher.needs_rehash(&stored.password_hash));
    assert!(stored.password_hash.as_phc().contains("m=19456,t=2,p=1"));

    let again = reopened
        .login
        .attempt("alice", &Secret::new("pw"))
        .await
        .unwrap();
    assert!(matches!(
        again.verdict,
        PasswordVerdict::Accepted {
            rehashed: false,
            ..
        }
    ));
}

#[tokio::test]
async fn failed_login_does_not_rehash() {
    let old = Env::new().await;
    old.add_user("alice", "pw", &[]).await;
    let reopened = old
        .second_process_with(Hasher::new(HashParams::OWASP).unwrap())
        .await;

    let attempt = reopened
        .login
        .attempt("alice", &Secret::new("wrong"))
        .await
        .unwrap();
    assert_eq!(rejection(&attempt.verdict), Some(Rejection::WrongPassword));
    let stored = reopened
        .directory
        .lookup(&user("alice"))
        .await
        .unwrap()
        .unwrap();
    assert!(reopened.hasher.needs_rehash(&stored.password_hash));
}
