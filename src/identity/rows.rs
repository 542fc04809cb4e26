//! Reading user rows. Stored names must already be canonical; anything else is reported
//! as corrupt rather than silently re-canonicalised into another account.

use std::collections::BTreeSet;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{GroupName, UserRecord, Username};
use crate::authn::password::PasswordHash;
use crate::store::{StoreError, from_millis};

/// The user columns [`user_from_row`] reads.
#[cfg(test)]
pub(super) const USER_COLUMNS: &str = "username, display_name, email, password_hash, disabled, \
     must_change_password, created_at, updated_at, last_login_at";

/// A user row without groups.
pub(super) fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    let read = StoreError::query("reading user");
    let username: String = row.try_get("username").map_err(read)?;
    let display_name: String = row.try_get("display_name").map_err(read)?;
    let email: Option<String> = row.try_get("email").map_err(read)?;
    let password_hash: String = row.try_get("password_hash").map_err(read)?;
    let disabled: i64 = row.try_get("disabled").map_err(read)?;
    let must_change: i64 = row.try_get("must_change_password").map_err(read)?;
    let created_at: i64 = row.try_get("created_at").map_err(read)?;
    let updated_at: i64 = row.try_get("updated_at").map_err(read)?;
    let last_login_at: Option<i64> = row.try_get("last_login_at").map_err(read)?;

    let password_hash = PasswordHash::from_phc(password_hash)
        .map_err(|_| StoreError::corrupt("user password hash", "not an argon2 PHC string"))?;
    Ok(UserRecord {
        username: stored_username(username)?,
        display_name,
        email,
        groups: BTreeSet::new(),
        disabled: disabled != 0,
        must_change_password: must_change != 0,
        created_at: from_millis(created_at),
        updated_at: from_millis(updated_at),
        last_login_at: last_login_at.map(from_millis),
        password_hash,
    })
}

/// A username read from the store.
pub(crate) fn stored_username(stored: String) -> Result<Username, StoreError> {
    match Username::parse(&stored) {
        Ok(name) if name.as_str() == stored => Ok(name),
        _ => Err(StoreError::corrupt("username", "not in canonical form")),
    }
}

/// A group name read from the store.
pub(super) fn stored_group(stored: String) -> Result<GroupName, StoreError> {
    match GroupName::parse(&stored) {
        Ok(name) if name.as_str() == stored => Ok(name),
        _ => Err(StoreError::corrupt("group name", "not in canonical form")),
    }
}
