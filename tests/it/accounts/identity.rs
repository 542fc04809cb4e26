//! The user directory: canonical names, first administrator, groups, change counters.

use portcullis::authn::{PasswordVerdict, Secret};
use portcullis::identity::{
    Directory, FIRST_ADMIN_GROUP, GroupName, IdentityError, NewUser, ProfileUpdate, Username,
};

use super::support::{Env, group, user};

#[tokio::test]
async fn users_are_stored_and_found_under_their_canonical_name() {
    let env = Env::new().await;
    let added = env.add_user("  Ａｌｉｃｅ ", "pw-alice", &["Staff"]).await;
    assert_eq!(added.username.as_str(), "alice");
    assert_eq!(added.display_name, "alice");
    assert!(added.in_group(&group("staff")));

    let found = env
        .directory
        .lookup(&Username::parse("ALICE").unwrap())
        .await
        .unwrap();
    assert_eq!(found.unwrap().username, added.username);
}

#[tokio::test]
async fn a_second_user_with_the_same_canonical_name_is_refused() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let again = NewUser {
        username: Username::parse("ALICE").unwrap(),
        display_name: Some("Other Alice".into()),
        email: None,
        groups: vec![],
        password: Secret::new("pw2"),
        must_change_password: false,
    };
    let error = env.directory.add_user(again).await.unwrap_err();
    assert!(matches!(error, IdentityError::UserExists(name) if name.as_str() == "alice"));
}

#[tokio::test]
async fn first_admin_is_created_once_with_a_working_one_time_password() {
    let env = Env::new().await;
    let admin = env
        .directory
        .ensure_first_admin()
        .await
        .unwrap()
        .expect("first run creates admin");
    assert_eq!(admin.username.as_str(), "admin");

    let record = env
        .directory
        .get_user(&admin.username)
        .await
        .unwrap()
        .unwrap();
    assert!(record.must_change_password);
    assert!(record.in_group(&GroupName::parse(FIRST_ADMIN_GROUP).unwrap()));

    let attempt = env.login.attempt("admin", &admin.password).await.unwrap();
    assert!(matches!(attempt.verdict, PasswordVerdict::Accepted { .. }));

    assert!(env.directory.ensure_first_admin().await.unwrap().is_none());
    assert_eq!(env.directory.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn no_first_admin_when_any_user_exists() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    assert!(env.directory.ensure_first_admin().await.unwrap().is_none());
    assert!(
        env.directory
            .get_user(&user("admin"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_racing_create_exactly_one_first_admin() {
    let first = Env::new().await;
    let second = first.second_process().await;
    let (a, b) = tokio::join!(
        first.directory.ensure_first_admin(),
        second.directory.ensure_first_admin()
    );
    let created = [a.unwrap(), b.unwrap()].into_iter().flatten().count();
    assert_eq!(created, 1);
    assert_eq!(first.directory.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn every_directory_write_bumps_the_version() {
    let env = Env::new().await;
    let mut version = env.directory.directory_version().await.unwrap();
    let mut expect_bump = async |what: &str| {
        let now = env.directory.directory_version().await.unwrap();
        assert!(now > version, "{what} did not bump the directory version");
        version = now;
    };

    env.add_user("alice", "pw", &[]).await;
    expect_bump("add_user").await;
    env.directory
        .add_to_group(&user("alice"), &group("staff"))
        .await
        .unwrap();
    expect_bump("add_to_group").await;
    env.directory
        .remove_from_group(&user("alice"), &group("staff"))
        .await
        .unwrap();
    expect_bump("remove_from_group").await;
    env.directory
        .set_password(&user("alice"), &Secret::new("pw2"), false)
        .await
        .unwrap();
    expect_bump("set_password").await;
    env.directory
        .set_disabled(&user("alice"), true)
        .await
        .unwrap();
    expect_bump("set_disabled").await;
    let update = ProfileUpdate {
        display_name: Some("Alice L.".into()),
        email: None,
    };
    env.directory
        .update_profile(&user("alice"), update)
        .await
        .unwrap();
    expect_bump("update_profile").await;
    env.directory.delete_user(&user("alice")).await.unwrap();
    expect_bump("delete_user").await;
}

#[tokio::test]
async fn groups_list_their_members_and_memberships_report_changes() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &["staff"]).await;
    env.add_user("root", "pw", &["admins", "staff"]).await;

    assert!(
        !env.directory
            .add_to_group(&user("alice"), &group("staff"))
            .await
            .unwrap()
    );
    assert!(
        env.directory
            .remove_from_group(&user("root"), &group("staff"))
            .await
            .unwrap()
    );
    assert!(
        !env.directory
            .remove_from_group(&user("root"), &group("staff"))
            .await
            .unwrap()
    );

    let groups = env.directory.list_groups().await.unwrap();
    let summary: Vec<(&str, Vec<&str>)> = groups
        .iter()
        .map(|g| {
            (
                g.name.as_str(),
                g.members.iter().map(Username::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("admins", vec!["root"]), ("staff", vec!["alice"])]
    );
}

#[tokio::test]
async fn writes_to_a_missing_user_say_so() {
    let env = Env::new().await;
    let ghost = user("ghost");
    let errors = [
        env.directory.set_disabled(&ghost, true).await.unwrap_err(),
        env.directory
            .set_password(&ghost, &Secret::new("pw"), false)
            .await
            .unwrap_err(),
        env.directory.delete_user(&ghost).await.unwrap_err(),
        env.directory
            .add_to_group(&ghost, &group("staff"))
            .await
            .unwrap_err(),
    ];
    for error in errors {
        assert!(matches!(error, IdentityError::NoSuchUser(_)), "{error}");
    }
}

#[tokio::test]
async fn deleting_a_user_removes_memberships_and_keeps_the_group() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &["staff"]).await;
    env.directory.delete_user(&user("alice")).await.unwrap();

    assert!(
        env.directory
            .get_user(&user("alice"))
            .await
            .unwrap()
            .is_none()
    );
    let groups = env.directory.list_groups().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert!(groups[0].members.is_empty());
}

#[tokio::test]
async fn profile_updates_are_checked_and_stored() {
    let env = Env::new().await;
    env.add_user("alice", "pw", &[]).await;
    let update = ProfileUpdate {
        display_name: Some(" Alice Liddell ".into()),
        email: Some(Some("alice@example.test".into())),
    };
    env.directory
        .update_profile(&user("alice"), update)
        .await
        .unwrap();
    let alice = env
        .directory
        .get_user(&user("alice"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.display_name, "Alice Liddell");
    assert_eq!(alice.email.as_deref(), Some("alice@example.test"));

    let bad = ProfileUpdate {
        email: Some(Some("not an email".into())),
        ..Default::default()
    };
    let error = env
        .directory
        .update_profile(&user("alice"), bad)
        .await
        .unwrap_err();
    assert!(matches!(error, IdentityError::InvalidEmail(_)));
}
