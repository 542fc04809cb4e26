//! The read side the portal and the gateway use ([`Directory`]), and its store-backed
//! implementation ([`StoreDirectory`]), which also carries the administrative writes.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;

use sqlx::Row;

use super::rows::{stored_group, user_from_row};
use super::{GroupName, IdentityError, UserRecord, Username};
use crate::authn::password::{Hasher, PasswordHash};
use crate::store::{Store, StoreError, to_millis};

/// The future a [`Directory`] method returns.
pub type DirectoryFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, IdentityError>> + Send + 'a>>;

/// Where users are looked up. Object safe, so the portal can hold `Arc<dyn Directory>` over
/// any backend (the store today, a users file or LDAP later).
pub trait Directory: Send + Sync + std::fmt::Debug {
    /// The user named `username` with their groups, or `None` when there is no such user.
    fn lookup<'a>(&'a self, username: &'a Username) -> DirectoryFuture<'a, Option<UserRecord>>;

    /// A number that changes whenever any user or group changes.
    fn version(&self) -> DirectoryFuture<'_, u64>;

    /// Records that `username` completed a sign-in now. Does not bump the version: nothing
    /// another process decides on has changed.
    fn record_login<'a>(&'a self, username: &'a Username) -> DirectoryFuture<'a, ()>;

    /// Replaces the password hash of `username` with `new` if it is still `old` (rehash on
    /// login after the parameters changed); `false` when it had changed meanwhile.
    fn upgrade_password_hash<'a>(
        &'a self,
        username: &'a Username,
        old: &'a PasswordHash,
        new: PasswordHash,
    ) -> DirectoryFuture<'a, bool>;
}

/// The user directory kept in the [`Store`].
#[derive(Clone, Debug)]
pub struct StoreDirectory {
    pub(super) store: Store,
    pub(super) hasher: Hasher,
}

impl StoreDirectory {
    /// A directory over `store`, hashing new passwords with `hasher`.
    pub fn new(store: Store, hasher: Hasher) -> StoreDirectory {
        StoreDirectory { store, hasher }
    }

    /// The store this directory writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The user named `username`, or `None`.
    ///
    /// # Errors
    /// [`IdentityError::Store`] when the store fails or holds a damaged row.
    pub async fn get_user(&self, username: &Username) -> Result<Option<UserRecord>, IdentityError> {
        let row = sqlx::query(USER_BY_NAME)
            .bind(username.as_str())
            .fetch_optional(self.store.pool())
            .await
            .map_err(StoreError::query("reading user"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut user = user_from_row(&row)?;
        user.groups = self.groups_of(username).await?;
        Ok(Some(user))
    }

    /// Every user with their groups, ordered by username.
    ///
    /// # Errors
    /// [`IdentityError::Store`] when the store fails or holds a damaged row.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, IdentityError> {
        let read = StoreError::query("listing users");
        let pool = self.store.pool();
        let rows = sqlx::query(ALL_USERS).fetch_all(pool).await.map_err(read)?;
        let memberships = sqlx::query("SELECT username, group_name FROM group_members")
            .fetch_all(pool)
            .await
            .map_err(read)?;

        let mut groups: BTreeMap<String, BTreeSet<GroupName>> = BTreeMap::new();
        for row in memberships {
            let username: String = row.try_get("username").map_err(read)?;
            let group: String = row.try_get("group_name").map_err(read)?;
            groups
                .entry(username)
                .or_default()
                .insert(stored_group(group)?);
        }
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            let mut user = user_from_row(&row)?;
            user.groups = groups.remove(user.username.as_str()).unwrap_or_default();
            users.push(user);
        }
        Ok(users)
    }

    /// The change counter other processes poll; see [`Store::directory_version`].
    ///
    /// # Errors
    /// [`IdentityError::Store`] when the store cannot be read.
    pub async fn directory_version(&self) -> Result<u64, IdentityError> {
        Ok(self.store.directory_version().await?)
    }

    async fn groups_of(&self, username: &Username) -> Result<BTreeSet<GroupName>, IdentityError> {
        let read = StoreError::query("reading group memberships");
        let rows = sqlx::query("SELECT group_name FROM group_members WHERE username = $1")
            .bind(username.as_str())
            .fetch_all(self.store.pool())
            .await
            .map_err(read)?;
        let mut groups = BTreeSet::new();
        for row in rows {
            let group: String = row.try_get("group_name").map_err(read)?;
            groups.insert(stored_group(group)?);
        }
        Ok(groups)
    }

    async fn mark_login(&self, username: &Username) -> Result<(), IdentityError> {
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE username = $2")
            .bind(to_millis(self.store.now()))
            .bind(username.as_str())
            .execute(self.store.pool())
            .await
            .map_err(StoreError::query("recording login"))?;
        Ok(())
    }

    async fn replace_hash(
        &self,
        username: &Username,
        old: &PasswordHash,
        new: PasswordHash,
    ) -> Result<bool, IdentityError> {
        let sql = "UPDATE users SET password_hash = $1 WHERE username = $2 AND password_hash = $3";
        let result = sqlx::query(sql)
            .bind(new.as_phc().to_owned())
            .bind(username.as_str())
            .bind(old.as_phc().to_owned())
            .execute(self.store.pool())
            .await
            .map_err(StoreError::query("upgrading password hash"))?;
        Ok(result.rows_affected() == 1)
    }
}

impl Directory for StoreDirectory {
    fn lookup<'a>(&'a self, username: &'a Username) -> DirectoryFuture<'a, Option<UserRecord>> {
        Box::pin(self.get_user(username))
    }

    fn version(&self) -> DirectoryFuture<'_, u64> {
        Box::pin(self.directory_version())
    }

    fn record_login<'a>(&'a self, username: &'a Username) -> DirectoryFuture<'a, ()> {
        Box::pin(self.mark_login(username))
    }

    fn upgrade_password_hash<'a>(
        &'a self,
        username: &'a Username,
        old: &'a PasswordHash,
        new: PasswordHash,
    ) -> DirectoryFuture<'a, bool> {
        Box::pin(self.replace_hash(username, old, new))
    }
}

// sqlx takes only `&'static str` SQL, so the column list is spelled out; a test checks it
// against `USER_COLUMNS`.
const USER_BY_NAME: &str = "SELECT username, display_name, email, password_hash, disabled, \
     must_change_password, created_at, updated_at, last_login_at FROM users WHERE username = $1";

const ALL_USERS: &str = "SELECT username, display_name, email, password_hash, disabled, \
     must_change_password, created_at, updated_at, last_login_at FROM users ORDER BY username";

#[cfg(test)]
mod tests {
    use super::super::rows::{USER_COLUMNS, stored_username};
    use super::*;

    #[test]
    fn queries_select_the_columns_rows_are_read_by() {
        let expected = format!("SELECT {USER_COLUMNS} FROM users");
        assert!(USER_BY_NAME.starts_with(&expected));
        assert!(ALL_USERS.starts_with(&expected));
    }

    #[test]
    fn stored_names_must_already_be_canonical() {
        assert!(stored_username("alice".to_owned()).is_ok());
        assert!(stored_username("Alice".to_owned()).is_err());
    }
}
