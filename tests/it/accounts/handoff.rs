//! Hand-off codes between the portal host and app hosts: single use, 60 s, one host,
//! exactly one winner among parallel redemptions; app sessions tied to the portal session.

use std::time::Duration;

use portcullis::session::{ClientInfo, SessionError};

use super::support::{Env, user};

const APP: &str = "app.example.test";

#[tokio::test]
async fn a_code_is_redeemed_once_for_its_portal_session() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (_, portal) = env.sign_in("alice").await;
    let code = env.sessions.create_code(&portal.key, APP).await.unwrap();

    let redeemed = env.sessions.redeem_code(&code.expose(), APP).await.unwrap();
    assert_eq!(
        redeemed.map(|session| session.key),
        Some(portal.key.clone())
    );
    assert!(
        env.sessions
            .redeem_code(&code.expose(), APP)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn hosts_match_without_case_or_trailing_dot() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (_, portal) = env.sign_in("alice").await;
    let code = env
        .sessions
        .create_code(&portal.key, "App.Example.Test.")
        .await
        .unwrap();
    assert!(
        env.sessions
            .redeem_code(&code.expose(), "APP.example.test")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_code_expires_after_sixty_seconds() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (_, portal) = env.sign_in("alice").await;
    let fresh = env.sessions.create_code(&portal.key, APP).await.unwrap();
    let stale = env.sessions.create_code(&portal.key, APP).await.unwrap();

    env.advance(Duration::from_secs(59));
    assert!(
        env.sessions
            .redeem_code(&fresh.expose(), APP)
            .await
            .unwrap()
            .is_some()
    );
    env.advance(Duration::from_secs(1));
    assert!(
        env.sessions
            .redeem_code(&stale.expose(), APP)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_code_presented_at_another_host_is_refused_and_burnt() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (_, portal) = env.sign_in("alice").await;
    let code = env.sessions.create_code(&portal.key, APP).await.unwrap();

    let elsewhere = env
        .sessions
        .redeem_code(&code.expose(), "evil.example.test")
        .await
        .unwrap();
    assert!(elsewhere.is_none());
    assert!(
        env.sessions
            .redeem_code(&code.expose(), APP)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn malformed_codes_and_hosts_are_refused_without_error() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, portal) = env.sign_in("alice").await;
    let code = env.sessions.create_code(&portal.key, APP).await.unwrap();

    for bad in ["", "%%%", &id.cookie_value(), &code.expose()[..30]] {
        assert!(
            env.sessions.redeem_code(bad, APP).await.unwrap().is_none(),
            "{bad:?}"
        );
    }
    assert!(
        env.sessions
            .redeem_code(&code.expose(), "bad host/")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.sessions
            .redeem_code(&code.expose(), APP)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_parallel_redemptions_exactly_one_wins() {
    let first = Env::new().await;
    let second = first.second_process().await;
    first.add_user("alice", "pw", &[]).await;
    let (_, portal) = first.sign_in("alice").await;

    for _ in 0..5 {
        let code = first
            .sessions
            .create_code(&portal.key, APP)
            .await
            .unwrap()
            .expose();
        let mut tasks = Vec::new();
        for index in 0..8 {
            let sessions = if index % 2 == 0 {
                &first.sessions
            } else {
                &second.sessions
            };
            let (sessions, code) = (sessions.clone(), code.clone());
            tasks.push(tokio::spawn(async move {
                sessions.redeem_code(&code, APP).await
            }));
        }
        let mut winners = 0;
        for task in tasks {
            winners += usize::from(task.await.unwrap().unwrap().is_some());
        }
        assert_eq!(winners, 1);
    }
}

#[tokio::test]
async fn codes_are_issued_only_for_usable_portal_sessions() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (_, portal) = env.sign_in("alice").await;
    let (_, app) = env
        .sessions
        .create_app_session(&portal.key, APP, ClientInfo::default())
        .await
        .unwrap();

    let from_app = env
        .sessions
        .create_code(&app.key, "other.example.test")
        .await;
    assert!(matches!(from_app, Err(SessionError::NoSuchSession)));

    let pending = env.sessions.create_code(&portal.key, APP).await.unwrap();
    env.sessions.revoke(&portal.key).await.unwrap();
    assert!(
        env.sessions
            .redeem_code(&pending.expose(), APP)
            .await
            .unwrap()
            .is_none()
    );
    let revoked = env.sessions.create_code(&portal.key, APP).await;
    assert!(matches!(revoked, Err(SessionError::NoSuchSession)));
}

#[tokio::test]
async fn an_exchanged_code_gives_an_app_session_tied_to_the_portal_session() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (_, portal) = env.sign_in("alice").await;
    let code = env.sessions.create_code(&portal.key, APP).await.unwrap();

    let exchanged = env
        .sessions
        .exchange_code(&code.expose(), APP, ClientInfo::default())
        .await;
    let (app_id, app) = exchanged.unwrap().expect("code exchanges once");
    assert_eq!(app.parent.as_ref(), Some(&portal.key));
    assert_eq!(app.app_host.as_deref(), Some(APP));
    assert!(app.serves_app_host("APP.example.test."));
    assert!(!app.serves_app_host("other.example.test"));
    assert!(!portal.serves_app_host(APP));
    assert_eq!(
        (app.expires_at, &app.amr, app.auth_time),
        (portal.expires_at, &portal.amr, portal.auth_time)
    );
    assert_eq!(
        env.sessions.lookup(&app_id.cookie_value()).await.unwrap(),
        Some(app)
    );

    let replay = env
        .sessions
        .exchange_code(&code.expose(), APP, ClientInfo::default())
        .await;
    assert!(replay.unwrap().is_none());
}

#[tokio::test]
async fn logging_out_anywhere_ends_the_portal_session_and_all_its_app_sessions() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (portal_id, portal) = env.sign_in("alice").await;
    let (other_login, _) = env.sign_in("alice").await;
    let client = ClientInfo::default();
    let (wiki, _) = env
        .sessions
        .create_app_session(&portal.key, "wiki.test", client.clone())
        .await
        .unwrap();
    let (mail, _) = env
        .sessions
        .create_app_session(&portal.key, "mail.test", client)
        .await
        .unwrap();

    assert_eq!(env.sessions.revoke_tree(&wiki.key()).await.unwrap(), 3);
    for ended in [&portal_id, &wiki, &mail] {
        assert!(
            env.sessions
                .lookup(&ended.cookie_value())
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(
        env.sessions
            .lookup(&other_login.cookie_value())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_app_session_dies_with_a_revoked_portal_session_and_keeps_it_alive_while_used() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (_, portal) = env.sign_in("alice").await;
    let (app, _) = env
        .sessions
        .create_app_session(&portal.key, APP, ClientInfo::default())
        .await
        .unwrap();

    // Using only the app keeps the sign-in alive for single sign-on to other apps.
    for _ in 0..3 {
        env.advance(Duration::from_secs(20 * 60));
        env.sessions.touch(&app.key()).await.unwrap();
    }
    assert!(
        env.sessions
            .lookup_key(&portal.key)
            .await
            .unwrap()
            .is_some()
    );

    env.sessions.revoke(&portal.key).await.unwrap();
    assert!(
        env.sessions
            .lookup(&app.cookie_value())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.sessions
            .list_for_user(&user("alice"))
            .await
            .unwrap()
            .iter()
            .all(|s| s.key != portal.key)
    );
}
