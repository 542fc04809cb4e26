//! Groups and memberships. Groups exist once someone is added to them; a membership change
//! narrows or widens access, so it bumps the revocation generation like a revocation does
//! and cached sessions reload their groups within a second (CASES K17).

use sqlx::Row;

use super::rows::{stored_group, stored_username};
use super::{GroupName, IdentityError, StoreDirectory, Username};
use crate::store::{StoreError, Tx, to_millis};

/// A group and its members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSummary {
    /// The group.
    pub name: GroupName,
    /// Its members, ordered by username.
    pub members: Vec<Username>,
}

impl StoreDirectory {
    /// Adds `username` to `group`, creating the group when missing. `false` when the user
    /// was already a member (nothing is written then).
    ///
    /// # Errors
    /// [`IdentityError::NoSuchUser`] or a store failure.
    pub async fn add_to_group(
        &self,
        username: &Username,
        group: &GroupName,
    ) -> Result<bool, IdentityError> {
        let mut tx = self.begin_revoking_write("adding group member").await?;
        if !user_exists(&mut tx, username).await? {
            return Err(IdentityError::NoSuchUser(username.clone()));
        }
        let now = to_millis(self.store.now());
        if !insert_membership(&mut tx, username, group, now).await? {
            return Ok(false);
        }
        self.store
            .commit_revocation(tx, "adding group member")
            .await?;
        tracing::info!(user = %username, group = %group, "group member added");
        Ok(true)
    }

    /// Removes `username` from `group`. `false` when the user was not a member.
    ///
    /// # Errors
    /// [`IdentityError::NoSuchUser`] or a store failure.
    pub async fn remove_from_group(
        &self,
        username: &Username,
        group: &GroupName,
    ) -> Result<bool, IdentityError> {
        let mut tx = self.begin_revoking_write("removing group member").await?;
        if !user_exists(&mut tx, username).await? {
            return Err(IdentityError::NoSuchUser(username.clone()));
        }
        let deleted =
            sqlx::query("DELETE FROM group_members WHERE group_name = $1 AND username = $2")
                .bind(group.as_str())
                .bind(username.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("removing group member"))?;
        if deleted.rows_affected() == 0 {
            return Ok(false);
        }
        self.store
            .commit_revocation(tx, "removing group member")
            .await?;
        tracing::info!(user = %username, group = %group, "group member removed");
        Ok(true)
    }

    /// Every group with its members, ordered by name.
    ///
    /// # Errors
    /// A store failure or a damaged row.
    pub async fn list_groups(&self) -> Result<Vec<GroupSummary>, IdentityError> {
        let read = StoreError::query("listing groups");
        let sql = "SELECT g.name AS name, m.username AS username FROM user_groups g \
                   LEFT JOIN group_members m ON m.group_name = g.name \
                   ORDER BY g.name, m.username";
        let rows = sqlx::query(sql)
            .fetch_all(self.store.pool())
            .await
            .map_err(read)?;

        let mut groups: Vec<GroupSummary> = Vec::new();
        for row in rows {
            let name = stored_group(row.try_get("name").map_err(read)?)?;
            let member: Option<String> = row.try_get("username").map_err(read)?;
            if groups.last().is_none_or(|last| last.name != name) {
                groups.push(GroupSummary {
                    name,
                    members: Vec::new(),
                });
            }
            if let (Some(member), Some(last)) = (member, groups.last_mut()) {
                last.members.push(stored_username(member)?);
            }
        }
        Ok(groups)
    }
}

/// Creates `group` when missing and adds `username`; `false` when already a member.
pub(super) async fn insert_membership(
    tx: &mut Tx,
    username: &Username,
    group: &GroupName,
    now: i64,
) -> Result<bool, StoreError> {
    let write = StoreError::query("adding group member");
    sqlx::query(
        "INSERT INTO user_groups (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(group.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(write)?;
    let sql = "INSERT INTO group_members (group_name, username, added_at) VALUES ($1, $2, $3) \
               ON CONFLICT (group_name, username) DO NOTHING";
    let inserted = sqlx::query(sql)
        .bind(group.as_str())
        .bind(username.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(write)?;
    Ok(inserted.rows_affected() == 1)
}

async fn user_exists(tx: &mut Tx, username: &Username) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT username FROM users WHERE username = $1")
        .bind(username.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::query("reading user"))?;
    Ok(row.is_some())
}
