//! The session table: lookup, malformed cookies (CASES K13), expiry with the manual
//! clock, and revocation by logout, disable, delete and password change (CASES K17).

use std::net::IpAddr;
use std::time::Duration;

use portcullis::authn::Secret;
use portcullis::session::{AuthMethod, ClientInfo, NewSession, SessionError};

use super::support::{Env, minutes, user};

#[tokio::test]
async fn a_new_session_is_found_by_its_cookie_value() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, created) = env.sign_in("alice").await;

    let found = env
        .sessions
        .lookup(&id.cookie_value())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, created);
    assert_eq!(found.amr, [AuthMethod::Password]);
    assert!(found.is_portal());
    assert_eq!(
        found.expires_at,
        env.store.now() + Duration::from_secs(12 * 60 * 60)
    );
}

#[tokio::test]
async fn malformed_or_unknown_cookies_are_no_session() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, _) = env.sign_in("alice").await;
    let value = id.cookie_value();
    let tampered = format!(
        "{}{}",
        &value[..42],
        if value.ends_with('A') { 'Q' } else { 'A' }
    );
    let cases = [
        "",
        "%%%",
        "!!!",
        &value[..20],
        &tampered,
        &format!("{value};"),
        &value.to_uppercase(),
    ];
    for case in cases {
        if case == value {
            continue;
        }
        assert!(
            env.sessions.lookup(case).await.unwrap().is_none(),
            "{case:?}"
        );
    }
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout_unless_used() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (idle, _) = env.sign_in("alice").await;
    let (busy, _) = env.sign_in("alice").await;

    for _ in 0..3 {
        env.advance(minutes(20));
        assert!(env.sessions.touch(&busy.key()).await.unwrap());
    }
    assert!(
        env.sessions
            .lookup(&idle.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.sessions
            .lookup(&busy.cookie_value())
            .await
            .unwrap()
            .is_some()
    );

    env.advance(minutes(30));
    assert!(
        env.sessions
            .lookup(&busy.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn touch_writes_at_most_once_per_interval() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, _) = env.sign_in("alice").await;
    assert!(!env.sessions.touch(&id.key()).await.unwrap());
    env.advance(Duration::from_secs(59));
    assert!(!env.sessions.touch(&id.key()).await.unwrap());
    env.advance(Duration::from_secs(1));
    assert!(env.sessions.touch(&id.key()).await.unwrap());
}

#[tokio::test]
async fn busy_sessions_still_end_at_their_absolute_expiry() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, _) = env.sign_in("alice").await;
    for _ in 0..(12 * 60 / 20 - 1) {
        env.advance(minutes(20));
        env.sessions.touch(&id.key()).await.unwrap();
        assert!(
            env.sessions
                .lookup(&id.cookie_value())
                .await
                .unwrap()
                .is_some()
        );
    }
    env.advance(minutes(20));
    env.sessions.touch(&id.key()).await.unwrap();
    assert!(
        env.sessions
            .lookup(&id.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn remember_me_sessions_outlive_idle_and_lifetime_but_not_thirty_days() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, session) = env.sign_in_with("alice", true).await;
    assert!(session.remember_me);

    env.advance(Duration::from_secs(13 * 60 * 60));
    assert!(
        env.sessions
            .lookup(&id.cookie_value())
            .await
            .unwrap()
            .is_some()
    );
    env.advance(Duration::from_secs(29 * 24 * 60 * 60 - 13 * 60 * 60));
    assert!(
        env.sessions
            .lookup(&id.cookie_value())
            .await
            .unwrap()
            .is_some()
    );
    env.advance(Duration::from_secs(24 * 60 * 60));
    assert!(
        env.sessions
            .lookup(&id.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_logged_out_cookie_replayed_finds_nothing() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, _) = env.sign_in("alice").await;
    assert!(env.sessions.revoke(&id.key()).await.unwrap());
    assert!(
        env.sessions
            .lookup(&id.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
    assert!(!env.sessions.revoke(&id.key()).await.unwrap());
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_for_good() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    env.add_user("bob", "pw", &[]).await;
    let (alice, _) = env.sign_in("alice").await;
    let (bob, _) = env.sign_in("bob").await;

    env.directory
        .set_disabled(&user("alice"), true)
        .await
        .unwrap();
    assert!(
        env.sessions
            .lookup(&alice.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.sessions
            .lookup(&bob.cookie_value())
            .await
            .unwrap()
            .is_some()
    );

    let new = NewSession {
        username: user("alice"),
        amr: vec![AuthMethod::Password],
        remember_me: false,
        client: ClientInfo::default(),
    };
    assert!(matches!(
        env.sessions.create(new).await,
        Err(SessionError::UserUnavailable(_))
    ));

    env.directory
        .set_disabled(&user("alice"), false)
        .await
        .unwrap();
    assert!(
        env.sessions
            .lookup(&alice.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn changing_the_password_ends_every_session() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (first, _) = env.sign_in("alice").await;
    let (second, _) = env.sign_in_with("alice", true).await;

    env.directory
        .set_password(&user("alice"), &Secret::new("new-pw"), false)
        .await
        .unwrap();
    assert!(
        env.sessions
            .lookup(&first.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.sessions
            .lookup(&second.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.sessions
            .list_for_user(&user("alice"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn deleting_a_user_deletes_their_sessions() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, _) = env.sign_in("alice").await;
    env.directory.delete_user(&user("alice")).await.unwrap();
    assert!(
        env.sessions
            .lookup(&id.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
    assert!(env.sessions.list_all().await.unwrap().is_empty());
}

#[tokio::test]
async fn every_revocation_bumps_the_revocation_generation() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &["staff"]).await;
    let (id, _) = env.sign_in("alice").await;
    let mut generation = env.store.revocation_generation().await.unwrap();

    env.sessions.revoke(&id.key()).await.unwrap();
    generation = expect_newer(&env, generation, "revoke").await;
    env.sign_in("alice").await;
    env.sessions
        .revoke_all_for_user(&user("alice"))
        .await
        .unwrap();
    generation = expect_newer(&env, generation, "revoke_all_for_user").await;
    let staff = super::support::group("staff");
    env.directory
        .remove_from_group(&user("alice"), &staff)
        .await
        .unwrap();
    generation = expect_newer(&env, generation, "remove_from_group").await;
    env.directory
        .add_to_group(&user("alice"), &staff)
        .await
        .unwrap();
    generation = expect_newer(&env, generation, "add_to_group").await;
    env.directory
        .set_password(&user("alice"), &Secret::new("pw2"), false)
        .await
        .unwrap();
    generation = expect_newer(&env, generation, "set_password").await;
    env.directory
        .set_disabled(&user("alice"), true)
        .await
        .unwrap();
    generation = expect_newer(&env, generation, "set_disabled").await;
    env.directory.delete_user(&user("alice")).await.unwrap();
    expect_newer(&env, generation, "delete_user").await;
}

async fn expect_newer(env: &Env, before: u64, what: &str) -> u64 {
    let now = env.store.revocation_generation().await.unwrap();
    assert!(
        now > before,
        "{what} did not bump the revocation generation"
    );
    now
}

#[tokio::test]
async fn factors_are_added_once_in_order() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, _) = env.sign_in("alice").await;
    env.advance(Duration::from_secs(5));

    let session = env
        .sessions
        .add_factor(&id.key(), AuthMethod::Otp)
        .await
        .unwrap();
    assert_eq!(session.amr, [AuthMethod::Password, AuthMethod::Otp]);
    assert_eq!(session.auth_time, env.store.now());
    let again = env
        .sessions
        .add_factor(&id.key(), AuthMethod::Otp)
        .await
        .unwrap();
    assert_eq!(again.amr, [AuthMethod::Password, AuthMethod::Otp]);

    let stored = env
        .sessions
        .lookup(&id.cookie_value())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.amr, session.amr);

    env.sessions.revoke(&id.key()).await.unwrap();
    let error = env
        .sessions
        .add_factor(&id.key(), AuthMethod::HardwareKey)
        .await
        .unwrap_err();
    assert!(matches!(error, SessionError::NoSuchSession));
}

#[tokio::test]
async fn listings_show_only_usable_sessions_with_their_client() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    env.add_user("bob", "pw", &[]).await;
    let client = ClientInfo {
        user_agent: Some("Mozilla/5.0\r\nX-Injected: 1".into()),
        ip: Some("10.1.2.3".parse::<IpAddr>().unwrap()),
    };
    let new = NewSession {
        username: user("alice"),
        amr: vec![AuthMethod::Password],
        remember_me: false,
        client,
    };
    let (_, kept) = env.sessions.create(new).await.unwrap();
    let (revoked, _) = env.sign_in("alice").await;
    env.sign_in("bob").await;
    env.sessions.revoke(&revoked.key()).await.unwrap();

    let alice = env.sessions.list_for_user(&user("alice")).await.unwrap();
    assert_eq!(alice, [kept]);
    assert_eq!(
        alice[0].client.user_agent.as_deref(),
        Some("Mozilla/5.0\u{fffd}\u{fffd}X-Injected: 1")
    );
    assert_eq!(env.sessions.list_all().await.unwrap().len(), 2);
}

#[tokio::test]
async fn purge_removes_revoked_and_expired_sessions_only() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (revoked, _) = env.sign_in("alice").await;
    let (idle, _) = env.sign_in("alice").await;
    let (kept, _) = env.sign_in_with("alice", true).await;
    env.sessions.revoke(&revoked.key()).await.unwrap();
    env.advance(minutes(31));

    assert_eq!(env.sessions.purge_expired().await.unwrap(), 2);
    assert!(
        env.sessions
            .lookup(&idle.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.sessions
            .lookup(&kept.cookie_value())
            .await
            .unwrap()
            .is_some()
    );
}
