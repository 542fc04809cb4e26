//! The per-user failure counter (CASES K20): lockout, backoff, case-insensitivity, no
//! difference between existing and missing users.

use std::time::Duration;

use portcullis::authn::throttle::ThrottleState;
use portcullis::authn::{HashWork, PasswordVerdict, Rejection, Secret};

use super::support::{Env, user};

fn is_locked(state: ThrottleState) -> bool {
    matches!(state, ThrottleState::LockedUntil(_))
}

async fn fail(env: &Env, typed: &str) -> Option<Rejection> {
    let attempt = env
        .login
        .attempt(typed, &Secret::new("wrong"))
        .await
        .unwrap();
    match attempt.verdict {
        PasswordVerdict::Rejected(reason) => Some(reason),
        PasswordVerdict::Accepted { .. } => None,
    }
}

#[tokio::test]
async fn five_failures_are_free_and_the_sixth_locks_for_the_base_time() {
    let env = Env::new().await;
    let alice = user("alice");
    for _ in 0..5 {
        assert_eq!(
            env.throttle.record_failure(&alice).await.unwrap(),
            ThrottleState::Allowed
        );
    }
    let locked = env.throttle.record_failure(&alice).await.unwrap();
    assert_eq!(
        locked,
        ThrottleState::LockedUntil(env.store.now() + Duration::from_secs(30))
    );
    assert_eq!(env.throttle.check(&alice).await.unwrap(), locked);

    env.advance(Duration::from_secs(30));
    assert_eq!(
        env.throttle.check(&alice).await.unwrap(),
        ThrottleState::Allowed
    );
}

#[tokio::test]
async fn each_further_failure_doubles_the_lockout() {
    let env = Env::new().await;
    let alice = user("alice");
    for _ in 0..5 {
        env.throttle.record_failure(&alice).await.unwrap();
    }
    for expected_secs in [30, 60, 120, 240] {
        let now = env.store.now();
        let state = env.throttle.record_failure(&alice).await.unwrap();
        assert_eq!(
            state,
            ThrottleState::LockedUntil(now + Duration::from_secs(expected_secs))
        );
        env.advance(Duration::from_secs(expected_secs));
    }
}

#[tokio::test]
async fn a_locked_user_is_refused_even_with_the_right_password() {
    let env = Env::new().await;
    env.add_user("alice", "right", &[]).await;
    for _ in 0..6 {
        fail(&env, "alice").await;
    }
    let (stored_before, dummy_before) = env.hasher.verification_counts();
    let attempt = env
        .login
        .attempt("alice", &Secret::new("right"))
        .await
        .unwrap();
    assert!(matches!(
        attempt.verdict,
        PasswordVerdict::Rejected(Rejection::Locked { .. })
    ));
    let counts = env.hasher.verification_counts();
    assert_eq!(
        counts,
        (stored_before, dummy_before + 1),
        "a full dummy verification"
    );
    assert_eq!(attempt.hash_work, HashWork::Dummy);
}

#[tokio::test]
async fn any_spelling_of_the_name_counts_against_one_counter() {
    let env = Env::new().await;
    env.add_user("alice", "right", &[]).await;
    for typed in ["alice", "ALICE", " Alice", "ａｌｉｃｅ", "aLiCe", "ALICE "] {
        assert_eq!(
            fail(&env, typed).await,
            Some(Rejection::WrongPassword),
            "{typed}"
        );
    }
    assert!(is_locked(env.throttle.check(&user("alice")).await.unwrap()));
}

#[tokio::test]
async fn missing_users_lock_exactly_like_existing_ones() {
    let env = Env::new().await;
    env.add_user("alice", "right", &[]).await;
    let mut existing = Vec::new();
    let mut missing = Vec::new();
    for _ in 0..7 {
        existing.push(fail(&env, "alice").await);
        missing.push(fail(&env, "mallory").await);
    }
    let same_shape = |reasons: &[Option<Rejection>]| -> Vec<bool> {
        reasons
            .iter()
            .map(|r| matches!(r, Some(Rejection::Locked { .. })))
            .collect()
    };
    assert_eq!(same_shape(&existing), same_shape(&missing));
    assert_eq!(
        same_shape(&existing),
        [false, false, false, false, false, false, true]
    );
}

#[tokio::test]
async fn fresh_logins_do_not_reset_the_counter_only_a_completed_sign_in_does() {
    let env = Env::new().await;
    env.add_user("alice", "right", &[]).await;
    let alice = user("alice");
    for _ in 0..3 {
        env.throttle.record_failure(&alice).await.unwrap();
    }
    // A right password alone is only the first step; the counter stays.
    let attempt = env
        .login
        .attempt("alice", &Secret::new("right"))
        .await
        .unwrap();
    assert!(matches!(attempt.verdict, PasswordVerdict::Accepted { .. }));
    for _ in 0..3 {
        env.throttle.record_failure(&alice).await.unwrap();
    }
    assert!(is_locked(env.throttle.check(&alice).await.unwrap()));

    env.advance(Duration::from_secs(30));
    env.login.complete_sign_in(&alice).await.unwrap();
    for _ in 0..5 {
        assert_eq!(
            env.throttle.record_failure(&alice).await.unwrap(),
            ThrottleState::Allowed
        );
    }
    let record = env.directory.get_user(&alice).await.unwrap().unwrap();
    assert_eq!(record.last_login_at, Some(env.store.now()));
}

#[tokio::test]
async fn failures_are_forgotten_after_a_quiet_day() {
    let env = Env::new().await;
    let alice = user("alice");
    for _ in 0..5 {
        env.throttle.record_failure(&alice).await.unwrap();
    }
    env.advance(Duration::from_secs(24 * 60 * 60 + 1));
    for _ in 0..5 {
        assert_eq!(
            env.throttle.record_failure(&alice).await.unwrap(),
            ThrottleState::Allowed
        );
    }
    assert_eq!(env.throttle.purge_stale().await.unwrap(), 0);
    env.advance(Duration::from_secs(24 * 60 * 60 + 1));
    assert_eq!(env.throttle.purge_stale().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_failures_from_two_processes_are_all_counted() {
    let first = Env::new().await;
    let second = first.second_process().await;
    let alice = user("alice");
    let mut tasks = Vec::new();
    for index in 0..10 {
        let throttle = if index % 2 == 0 {
            first.throttle.clone()
        } else {
            second.throttle.clone()
        };
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            throttle.record_failure(&alice).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Ten failures with five free: the tenth earned 30 s * 2^4.
    let state = first.throttle.check(&alice).await.unwrap();
    let expected = first.store.now() + Duration::from_secs(30 * 16);
    assert_eq!(state, ThrottleState::LockedUntil(expected));
}
