//! Making the store follow a checked users file, in one transaction.
//!
//! The transaction bumps the directory version and the revocation generation first, so it
//! holds the write lock on SQLite while it reads the current users and decides; nothing is
//! committed when nothing differs. Every write to an existing user also requires that the
//! row is still marked as the file's, so a user the command line creates meanwhile is left
//! alone on PostgreSQL too. Disabling a user or changing their password hash revokes their
//! sessions in the same transaction (CASES K17).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sqlx::{AnyConnection, Row};

use super::{FileUser, USERS_FILE_SOURCE, UsersFile};
use crate::identity::groups::insert_membership;
use crate::identity::rows::{stored_group, user_from_row};
use crate::identity::{GroupName, IdentityError, StoreDirectory, UserRecord, Username};
use crate::session::revoke_user_sessions;
use crate::store::{StoreError, Tx, to_millis};

/// What a sync changed. Each user appears in at most one list; every list is ordered by
/// username.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Users created from the file.
    pub added: Vec<Username>,
    /// Users of the file whose name, email, groups or password hash changed, or who were
    /// enabled again.
    pub updated: Vec<Username>,
    /// Users of the file that it now marks `disabled: true`; their sessions ended.
    pub disabled: Vec<Username>,
    /// Users the file created earlier and no longer lists: disabled, not deleted, so the
    /// audit trail keeps them; their sessions ended.
    pub removed: Vec<Username>,
    /// Users the file lists that exist but were not created by it (command line, portal,
    /// first administrator); left as they are.
    pub skipped: Vec<Username>,
}

impl SyncReport {
    /// Whether the sync wrote nothing.
    pub fn is_unchanged(&self) -> bool {
        self.added.is_empty()
            && self.updated.is_empty()
            && self.disabled.is_empty()
            && self.removed.is_empty()
    }
}

impl fmt::Display for SyncReport {
    /// `added alice, bob; removed carol`, or `no changes`; names only, never a value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lists = [
            ("added", &self.added),
            ("updated", &self.updated),
            ("disabled", &self.disabled),
            ("removed", &self.removed),
            ("skipped (not managed by the file)", &self.skipped),
        ];
        let mut parts = Vec::new();
        for (label, names) in lists.into_iter().filter(|(_, names)| !names.is_empty()) {
            let names: Vec<&str> = names.iter().map(Username::as_str).collect();
            parts.push(format!("{label} {}", names.join(", ")));
        }
        if parts.is_empty() {
            return f.write_str("no changes");
        }
        f.write_str(&parts.join("; "))
    }
}

/// A user as the store holds them, and whether the users file manages them.
struct Current {
    record: UserRecord,
    managed: bool,
}

/// One write the sync makes.
enum Change<'a> {
    Add(&'a FileUser),
    Update {
        user: &'a FileUser,
        current: &'a UserRecord,
    },
    Remove(&'a Username),
}

/// Makes the store follow `file`: creates the users it lists, updates those it created
/// earlier to match it exactly (groups replaced, display name, email, disabled flag,
/// password hash when the file has one), and disables those it created earlier and no
/// longer lists. Users it did not create are never changed (see [`SyncReport::skipped`]).
///
/// # Errors
/// A store failure; the transaction then rolls back and nothing changes.
pub async fn sync(
    directory: &StoreDirectory,
    file: &UsersFile,
) -> Result<SyncReport, IdentityError> {
    // A first look without the write lock, so syncing an unchanged file takes no lock.
    let mut connection = directory
        .store
        .pool()
        .acquire()
        .await
        .map_err(StoreError::query("reading users"))?;
    let snapshot = read_users(&mut connection).await?;
    drop(connection);
    let (changes, report) = plan(file, &snapshot);
    if changes.is_empty() {
        return Ok(report);
    }

    let mut tx = directory
        .begin_revoking_write("applying users file")
        .await?;
    let current = read_users(&mut tx).await?;
    let (changes, mut report) = plan(file, &current);
    if changes.is_empty() {
        // Dropping the transaction rolls the counter bumps back.
        return Ok(report);
    }

    let now = to_millis(directory.store.now());
    for change in &changes {
        let applied = apply(&mut tx, directory, change, now).await?;
        report.record(change, applied);
    }
    directory
        .store
        .commit_revocation(tx, "applying users file")
        .await?;
    tracing::info!(users_file = %file.source(), changes = %report, "users file applied");
    Ok(report)
}

/// The users the users file created and still manages, listed or not.
///
/// # Errors
/// A store failure or a damaged row.
pub async fn managed_users(
    directory: &StoreDirectory,
) -> Result<BTreeSet<Username>, IdentityError> {
    let read = StoreError::query("listing users of the users file");
    let rows = sqlx::query("SELECT username FROM users WHERE source = $1")
        .bind(USERS_FILE_SOURCE)
        .fetch_all(directory.store.pool())
        .await
        .map_err(read)?;
    let mut names = BTreeSet::new();
    for row in rows {
        let name: String = row.try_get("username").map_err(read)?;
        names.insert(crate::identity::stored_username(name)?);
    }
    Ok(names)
}

impl SyncReport {
    fn record(&mut self, change: &Change<'_>, applied: bool) {
        match change {
            Change::Add(user) if applied => self.added.push(user.username.clone()),
            Change::Update { user, current } if applied => {
                if user.disabled && !current.disabled {
                    self.disabled.push(user.username.clone());
                } else {
                    self.updated.push(user.username.clone());
                }
            }
            Change::Remove(name) if applied => self.removed.push((*name).clone()),
            // Another writer got there between the read and the write.
            Change::Add(user) | Change::Update { user, .. } => {
                self.skipped.push(user.username.clone());
            }
            Change::Remove(_) => {}
        }
    }
}

/// What to write, and the users skipped because the file does not manage them.
fn plan<'a>(
    file: &'a UsersFile,
    current: &'a BTreeMap<Username, Current>,
) -> (Vec<Change<'a>>, SyncReport) {
    let mut changes = Vec::new();
    let mut report = SyncReport::default();
    for user in file.users() {
        match current.get(&user.username) {
            None => changes.push(Change::Add(user)),
            Some(existing) if !existing.managed => report.skipped.push(user.username.clone()),
            Some(existing) if differs(user, &existing.record) => changes.push(Change::Update {
                user,
                current: &existing.record,
            }),
            Some(_) => {}
        }
    }

    let listed: BTreeSet<&Username> = file.users().iter().map(|user| &user.username).collect();
    for (name, existing) in current {
        if existing.managed && !existing.record.disabled && !listed.contains(name) {
            changes.push(Change::Remove(name));
        }
    }
    (changes, report)
}

fn differs(user: &FileUser, current: &UserRecord) -> bool {
    current.display_name != user.display_name
        || current.email != user.email
        || current.groups != user.groups
        || current.disabled != user.disabled
        || hash_changes(user, current)
}

fn hash_changes(user: &FileUser, current: &UserRecord) -> bool {
    user.password_hash
        .as_ref()
        .is_some_and(|hash| *hash != current.password_hash)
}

async fn apply(
    tx: &mut Tx,
    directory: &StoreDirectory,
    change: &Change<'_>,
    now: i64,
) -> Result<bool, IdentityError> {
    match change {
        Change::Add(user) => add(tx, directory, user, now).await,
        Change::Update { user, current } => update(tx, user, current, now).await,
        Change::Remove(name) => remove(tx, name, now).await,
    }
}

/// Creates a user marked as the file's; `false` when the name was taken meanwhile.
async fn add(
    tx: &mut Tx,
    directory: &StoreDirectory,
    user: &FileUser,
    now: i64,
) -> Result<bool, IdentityError> {
    let hash = match &user.password_hash {
        Some(hash) => hash.clone(),
        None => directory.hasher.unusable_hash()?,
    };
    let sql = "INSERT INTO users (username, display_name, email, password_hash, disabled, \
               must_change_password, created_at, updated_at, source) \
               VALUES ($1, $2, $3, $4, $5, 0, $6, $6, $7) ON CONFLICT (username) DO NOTHING";
    let inserted = sqlx::query(sql)
        .bind(user.username.as_str())
        .bind(user.display_name.clone())
        .bind(user.email.clone())
        .bind(hash.as_phc().to_owned())
        .bind(i64::from(user.disabled))
        .bind(now)
        .bind(USERS_FILE_SOURCE)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::query("adding user from users file"))?;
    if inserted.rows_affected() == 0 {
        return Ok(false);
    }
    for group in &user.groups {
        insert_membership(tx, &user.username, group, now).await?;
    }
    Ok(true)
}

/// Rewrites a user of the file to match it; `false` when the row is no longer the file's.
async fn update(
    tx: &mut Tx,
    user: &FileUser,
    current: &UserRecord,
    now: i64,
) -> Result<bool, IdentityError> {
    let write = StoreError::query("updating user from users file");
    let sql = "UPDATE users SET display_name = $1, email = $2, disabled = $3, updated_at = $4 \
               WHERE username = $5 AND source = $6";
    let updated = sqlx::query(sql)
        .bind(user.display_name.clone())
        .bind(user.email.clone())
        .bind(i64::from(user.disabled))
        .bind(now)
        .bind(user.username.as_str())
        .bind(USERS_FILE_SOURCE)
        .execute(&mut **tx)
        .await
        .map_err(write)?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }

    if let Some(hash) = user
        .password_hash
        .as_ref()
        .filter(|_| hash_changes(user, current))
    {
        // The file's hash is the password now; nothing is left to change at sign-in.
        let sql = "UPDATE users SET password_hash = $1, must_change_password = 0 \
                   WHERE username = $2";
        sqlx::query(sql)
            .bind(hash.as_phc().to_owned())
            .bind(user.username.as_str())
            .execute(&mut **tx)
            .await
            .map_err(write)?;
    }
    replace_groups(tx, &user.username, &current.groups, &user.groups, now).await?;
    if (user.disabled && !current.disabled) || hash_changes(user, current) {
        revoke_user_sessions(tx, &user.username).await?;
    }
    Ok(true)
}

async fn replace_groups(
    tx: &mut Tx,
    username: &Username,
    old: &BTreeSet<GroupName>,
    new: &BTreeSet<GroupName>,
    now: i64,
) -> Result<(), StoreError> {
    for group in old.difference(new) {
        sqlx::query("DELETE FROM group_members WHERE group_name = $1 AND username = $2")
            .bind(group.as_str())
            .bind(username.as_str())
            .execute(&mut **tx)
            .await
            .map_err(StoreError::query("removing group member"))?;
    }
    for group in new.difference(old) {
        insert_membership(tx, username, group, now).await?;
    }
    Ok(())
}

/// Disables a user the file no longer lists and ends their sessions.
async fn remove(tx: &mut Tx, username: &Username, now: i64) -> Result<bool, IdentityError> {
    let sql = "UPDATE users SET disabled = 1, updated_at = $1 \
               WHERE username = $2 AND source = $3 AND disabled = 0";
    let disabled = sqlx::query(sql)
        .bind(now)
        .bind(username.as_str())
        .bind(USERS_FILE_SOURCE)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::query("disabling user removed from users file"))?;
    if disabled.rows_affected() == 0 {
        return Ok(false);
    }
    revoke_user_sessions(tx, username).await?;
    Ok(true)
}

/// Every user with groups and whether the file manages them, read on `connection` (a
/// transaction's, to decide under its lock).
async fn read_users(
    connection: &mut AnyConnection,
) -> Result<BTreeMap<Username, Current>, IdentityError> {
    let read = StoreError::query("reading users");
    let sql = "SELECT username, display_name, email, password_hash, disabled, \
               must_change_password, created_at, updated_at, last_login_at, source FROM users";
    let rows = sqlx::query(sql)
        .fetch_all(&mut *connection)
        .await
        .map_err(read)?;
    let mut users = BTreeMap::new();
    for row in rows {
        let record = user_from_row(&row)?;
        let source: Option<String> = row.try_get("source").map_err(read)?;
        let managed = source.as_deref() == Some(USERS_FILE_SOURCE);
        users.insert(record.username.clone(), Current { record, managed });
    }

    let memberships = sqlx::query("SELECT username, group_name FROM group_members")
        .fetch_all(&mut *connection)
        .await
        .map_err(read)?;
    for row in memberships {
        let username: String = row.try_get("username").map_err(read)?;
        let group = stored_group(row.try_get("group_name").map_err(read)?)?;
        let username = crate::identity::stored_username(username)?;
        if let Some(user) = users.get_mut(&username) {
            user.record.groups.insert(group);
        }
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::Secret;
    use crate::authn::password::{HashParams, Hasher, PasswordHash};
    use crate::identity::NewUser;
    use crate::identity::users_file::parse;
    use crate::session::{AuthMethod, ClientInfo, NewSession, SessionConfig, SessionStore};
    use crate::store::Store;

    const CHEAP: HashParams = HashParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    struct Env {
        _dir: tempfile::TempDir,
        directory: StoreDirectory,
        sessions: SessionStore,
        hasher: Hasher,
    }

    async fn env() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/p.db", dir.path().display());
        let store = Store::open(&url).await.unwrap();
        let hasher = Hasher::new(CHEAP).unwrap();
        let directory = StoreDirectory::new(store.clone(), hasher.clone());
        let sessions = SessionStore::new(store, SessionConfig::default());
        Env {
            _dir: dir,
            directory,
            sessions,
            hasher,
        }
    }

    impl Env {
        async fn sync(&self, text: &str) -> SyncReport {
            let file = parse(text, "users.yaml").unwrap();
            sync(&self.directory, &file).await.unwrap()
        }

        async fn user(&self, name: &str) -> UserRecord {
            let name = Username::parse(name).unwrap();
            self.directory.get_user(&name).await.unwrap().unwrap()
        }

        async fn hash(&self, password: &str) -> PasswordHash {
            self.hasher.hash(&Secret::new(password)).await.unwrap()
        }

        async fn session_count(&self, name: &str) -> usize {
            let name = Username::parse(name).unwrap();
            self.sessions.list_for_user(&name).await.unwrap().len()
        }

        async fn sign_in(&self, name: &str) {
            let new = NewSession {
                username: Username::parse(name).unwrap(),
                amr: vec![AuthMethod::Password],
                remember_me: false,
                client: ClientInfo::default(),
            };
            self.sessions.create(new).await.unwrap();
        }
    }

    fn names(list: &[Username]) -> Vec<&str> {
        list.iter().map(Username::as_str).collect()
    }

    fn groups(user: &UserRecord) -> Vec<&str> {
        user.groups.iter().map(GroupName::as_str).collect()
    }

    #[tokio::test]
    async fn listed_users_are_created_as_the_files_own() {
        let env = env().await;
        let hash = env.hash("alice-pw").await;
        let text = format!(
            "users:\n  alice: {{ name: Alice Example, email: alice@example.test, \
             groups: [staff], password_hash: \"{}\" }}\n  bob: {{ disabled: true }}\n",
            hash.as_phc()
        );
        let report = env.sync(&text).await;
        assert_eq!(names(&report.added), ["alice", "bob"]);
        assert_eq!(report.to_string(), "added alice, bob");

        let alice = env.user("alice").await;
        assert_eq!(alice.display_name, "Alice Example");
        assert_eq!(groups(&alice), ["staff"]);
        assert_eq!(alice.password_hash, hash);
        assert!(!alice.must_change_password);
        let bob = env.user("bob").await;
        assert!(bob.disabled);
        for guess in ["", "bob", "password"] {
            let guess = Secret::new(guess);
            let matched = env.hasher.verify(&bob.password_hash, &guess).await.unwrap();
            assert!(!matched, "{guess:?}");
        }
        let managed = managed_users(&env.directory).await.unwrap();
        assert_eq!(managed.len(), 2);
    }

    #[tokio::test]
    async fn managed_users_follow_the_file_exactly() {
        let env = env().await;
        env.sync("users:\n  alice: { email: a@example.test, groups: [staff, wiki] }\n")
            .await;
        env.sign_in("alice").await;

        let report = env
            .sync("users:\n  alice: { name: Alice, groups: [wiki, admins] }\n")
            .await;
        assert_eq!(names(&report.updated), ["alice"]);
        let alice = env.user("alice").await;
        assert_eq!(alice.display_name, "Alice");
        assert_eq!(alice.email, None);
        assert_eq!(groups(&alice), ["admins", "wiki"]);
        assert_eq!(
            env.session_count("alice").await,
            1,
            "a group change keeps sessions"
        );

        let hash = env.hash("new").await;
        let text = format!(
            "users:\n  alice: {{ name: Alice, groups: [wiki, admins], password_hash: \"{}\" }}\n",
            hash.as_phc()
        );
        assert_eq!(names(&env.sync(&text).await.updated), ["alice"]);
        assert_eq!(env.user("alice").await.password_hash, hash);
        assert_eq!(
            env.session_count("alice").await,
            0,
            "a new hash ends sessions"
        );
    }

    #[tokio::test]
    async fn users_marked_disabled_or_no_longer_listed_are_disabled_and_signed_out() {
        let env = env().await;
        env.sync("users:\n  alice: { groups: [staff] }\n  bob: {}\n")
            .await;
        env.sign_in("alice").await;
        env.sign_in("bob").await;

        let report = env
            .sync("users:\n  alice: { groups: [staff], disabled: true }\n")
            .await;
        assert_eq!(names(&report.disabled), ["alice"]);
        assert_eq!(names(&report.removed), ["bob"]);
        let bob = env.user("bob").await;
        assert!(bob.disabled, "kept for the audit trail, disabled");
        assert!(env.user("alice").await.disabled);
        assert_eq!(env.session_count("alice").await, 0);
        assert_eq!(env.session_count("bob").await, 0);

        let report = env
            .sync("users:\n  alice: { groups: [staff] }\n  bob: {}\n")
            .await;
        assert_eq!(names(&report.updated), ["alice", "bob"]);
        assert!(!env.user("bob").await.disabled);
    }

    #[tokio::test]
    async fn users_made_elsewhere_are_never_touched() {
        let env = env().await;
        let admin = env.directory.ensure_first_admin().await.unwrap().unwrap();
        let carol = NewUser {
            username: Username::parse("carol").unwrap(),
            display_name: None,
            email: None,
            groups: vec![GroupName::parse("staff").unwrap()],
            password: Secret::new("carol-pw"),
            must_change_password: false,
        };
        env.directory.add_user(carol).await.unwrap();
        let before = env.user("carol").await;

        let report = env
            .sync("users:\n  carol: { groups: [admins], disabled: true }\n")
            .await;
        assert_eq!(names(&report.skipped), ["carol"]);
        assert!(report.is_unchanged());
        assert_eq!(env.user("carol").await, before);

        let report = env.sync("users:\n  dave: {}\n").await;
        assert_eq!(names(&report.added), ["dave"]);
        assert!(report.removed.is_empty());
        assert!(!env.user("carol").await.disabled);
        assert!(!env.user(admin.username.as_str()).await.disabled);
    }

    #[tokio::test]
    async fn a_sync_without_differences_writes_nothing() {
        let env = env().await;
        let text = "users:\n  alice: { groups: [staff] }\n";
        env.sync(text).await;
        let store = env.directory.store();
        let version = store.directory_version().await.unwrap();
        let generation = store.revocation_generation().await.unwrap();

        let report = env.sync(text).await;
        assert!(report.is_unchanged());
        assert_eq!(report.to_string(), "no changes");
        assert_eq!(store.directory_version().await.unwrap(), version);
        assert_eq!(store.revocation_generation().await.unwrap(), generation);
    }

    #[tokio::test]
    async fn a_bad_file_changes_nothing() {
        let env = env().await;
        env.sync("users:\n  alice: { groups: [staff] }\n").await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.yaml");
        std::fs::write(&path, "users:\n  bob: {}\n  carol: { groups: ['a b'] }\n").unwrap();
        let version = env.directory.store().directory_version().await.unwrap();

        let error = crate::identity::users_file::load(&path).unwrap_err();
        assert!(error.to_string().contains("users.yaml:3:"), "{error}");
        assert_eq!(
            env.directory.store().directory_version().await.unwrap(),
            version
        );
        let alice = env.user("alice").await;
        assert!(
            !alice.disabled,
            "alice stays although the bad file omits her"
        );
        let bob = Username::parse("bob").unwrap();
        assert!(env.directory.get_user(&bob).await.unwrap().is_none());
    }
}
