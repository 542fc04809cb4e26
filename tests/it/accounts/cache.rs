//! The session cache: served from memory, and revocations honoured within the staleness
//! bound across processes sharing the store (CASES K17). Time moves by the manual clock.

use std::time::Duration;

use portcullis::authn::Secret;
use portcullis::session::{AuthMethod, CacheConfig};

use super::support::{Env, group, millis, user};

#[tokio::test]
async fn a_fresh_entry_is_served_without_touching_the_database() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &["staff"]).await;
    let (id, _) = env.sign_in("alice").await;
    let cache = env.cache();

    let loaded = cache.get(&id.cookie_value()).await.unwrap().unwrap();
    assert!(loaded.user.in_group(&group("staff")));

    // With the pool closed, any database read would fail.
    env.store.close().await;
    env.advance(millis(200));
    let served = cache.get(&id.cookie_value()).await.unwrap().unwrap();
    assert_eq!(served, loaded);

    env.advance(millis(100));
    assert!(cache.get(&id.cookie_value()).await.is_err());
}

#[tokio::test]
async fn a_logout_in_this_process_takes_effect_at_once() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, _) = env.sign_in("alice").await;
    let cache = env.cache();
    assert!(cache.get(&id.cookie_value()).await.unwrap().is_some());

    env.sessions.revoke_tree(&id.key()).await.unwrap();
    assert!(cache.get(&id.cookie_value()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_logout_in_another_process_takes_effect_within_the_generation_interval() {
    let gateway = Env::new().await;
    let portal = gateway.second_process().await;
    gateway.add_user("alice", "pw", &[]).await;
    let (id, _) = gateway.sign_in("alice").await;
    let cache = gateway.cache();
    assert!(cache.get(&id.cookie_value()).await.unwrap().is_some());

    portal.sessions.revoke(&id.key()).await.unwrap();
    gateway.advance(millis(249));
    assert!(
        cache.get(&id.cookie_value()).await.unwrap().is_some(),
        "still within the bound"
    );
    gateway.advance(millis(1));
    assert!(cache.get(&id.cookie_value()).await.unwrap().is_none());
}

#[tokio::test]
async fn entries_are_reread_after_the_staleness_bound_even_without_a_generation_change() {
    let gateway = Env::new().await;
    let portal = gateway.second_process().await;
    gateway.add_user("alice", "pw", &[]).await;
    let (id, _) = gateway.sign_in("alice").await;
    let config = CacheConfig {
        generation_check_interval: Duration::from_secs(3600),
        ..CacheConfig::default()
    };
    let cache = gateway.cache_with(config);
    assert!(cache.get(&id.cookie_value()).await.unwrap().is_some());

    portal.sessions.revoke(&id.key()).await.unwrap();
    gateway.advance(millis(499));
    assert!(
        cache.get(&id.cookie_value()).await.unwrap().is_some(),
        "still within the bound"
    );
    gateway.advance(millis(1));
    assert!(cache.get(&id.cookie_value()).await.unwrap().is_none());
}

#[tokio::test]
async fn disable_password_change_and_delete_elsewhere_end_cached_sessions_within_a_second() {
    let gateway = Env::new().await;
    let admin = gateway.second_process().await;
    for name in ["alice", "bob", "carol"] {
        gateway.add_user(name, "pw", &[]).await;
    }
    let cache = gateway.cache();
    let mut cookies = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let (id, _) = gateway.sign_in(name).await;
        assert!(cache.get(&id.cookie_value()).await.unwrap().is_some());
        cookies.push(id.cookie_value());
    }

    admin
        .directory
        .set_disabled(&user("alice"), true)
        .await
        .unwrap();
    admin
        .directory
        .set_password(&user("bob"), &Secret::new("new"), false)
        .await
        .unwrap();
    admin.directory.delete_user(&user("carol")).await.unwrap();

    gateway.advance(Duration::from_secs(1));
    for cookie in &cookies {
        assert!(cache.get(cookie).await.unwrap().is_none());
    }
    assert!(cache.is_empty());
}

#[tokio::test]
async fn a_group_removal_elsewhere_reaches_the_cached_user_within_a_second() {
    let gateway = Env::new().await;
    let admin = gateway.second_process().await;
    gateway.add_user("alice", "pw", &["staff", "finance"]).await;
    let (id, _) = gateway.sign_in("alice").await;
    let cache = gateway.cache();
    assert!(
        cache
            .get(&id.cookie_value())
            .await
            .unwrap()
            .unwrap()
            .user
            .in_group(&group("finance"))
    );

    admin
        .directory
        .remove_from_group(&user("alice"), &group("finance"))
        .await
        .unwrap();
    gateway.advance(millis(250));
    let after = cache.get(&id.cookie_value()).await.unwrap().unwrap();
    assert!(!after.user.in_group(&group("finance")));
    assert!(after.user.in_group(&group("staff")));
}

#[tokio::test]
async fn a_completed_factor_is_visible_through_the_cache_at_once() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, _) = env.sign_in("alice").await;
    let cache = env.cache();
    assert!(
        !cache
            .get(&id.cookie_value())
            .await
            .unwrap()
            .unwrap()
            .session
            .has_factor(AuthMethod::Otp)
    );

    cache.add_factor(&id.key(), AuthMethod::Otp).await.unwrap();
    let after = cache.get(&id.cookie_value()).await.unwrap().unwrap();
    assert!(after.session.has_factor(AuthMethod::Otp));
}

#[tokio::test]
async fn cached_sessions_still_expire_on_time() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, session) = env.sign_in("alice").await;
    let cache = env.cache();

    // Keep the session busy until just before its absolute expiry.
    let before_expiry = session.expires_at - millis(100);
    while env.store.now() + Duration::from_secs(20 * 60) < before_expiry {
        env.advance(Duration::from_secs(20 * 60));
        assert!(cache.get(&id.cookie_value()).await.unwrap().is_some());
    }
    env.clock.set(before_expiry);
    assert!(cache.get(&id.cookie_value()).await.unwrap().is_some());
    env.advance(millis(100));
    assert!(cache.get(&id.cookie_value()).await.unwrap().is_none());
}

#[tokio::test]
async fn the_cache_touches_sessions_it_serves() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let (id, _) = env.sign_in("alice").await;
    let cache = env.cache();
    for _ in 0..4 {
        env.advance(Duration::from_secs(20 * 60));
        assert!(cache.get(&id.cookie_value()).await.unwrap().is_some());
    }
    let stored = env
        .sessions
        .lookup(&id.cookie_value())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.last_seen_at, env.store.now());
}

#[tokio::test]
async fn malformed_cookies_never_reach_the_store() {
    let env = Env::new().await;
    let cache = env.cache();
    env.store.close().await;
    for cookie in ["", "%%%", "Bearer", &"A".repeat(43)] {
        let outcome = cache.get(cookie).await;
        if cookie.len() == 43 {
            assert!(outcome.is_err(), "a well-formed value is looked up");
        } else {
            assert!(outcome.unwrap().is_none(), "{cookie:?}");
        }
    }
}

#[tokio::test]
async fn the_cache_stays_within_its_capacity() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let config = CacheConfig {
        capacity: 3,
        ..CacheConfig::default()
    };
    let cache = env.cache_with(config);
    for _ in 0..10 {
        let (id, _) = env.sign_in("alice").await;
        assert!(cache.get(&id.cookie_value()).await.unwrap().is_some());
        assert!(cache.len() <= 3);
    }
}
