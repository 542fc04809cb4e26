//! Administrative writes to users. Each runs in one transaction that bumps the directory
//! version; those that end access also revoke the user's sessions and bump the revocation
//! generation before committing (CASES K17).

use super::groups::insert_membership;
use super::{IdentityError, NewUser, StoreDirectory, UserRecord, Username};
use crate::authn::Secret;
use crate::session::revoke_user_sessions;
use crate::store::{self, Counter, StoreError, Tx, to_millis};

/// Longest display name, in characters.
const MAX_DISPLAY_NAME_CHARS: usize = 128;
/// Longest email address, in bytes (RFC 5321 4.5.3.1.3 path limit less the brackets).
const MAX_EMAIL_BYTES: usize = 254;

/// New values for the descriptive fields of a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProfileUpdate {
    /// New display name.
    pub display_name: Option<String>,
    /// New email address; `Some(None)` removes it.
    pub email: Option<Option<String>>,
}

impl StoreDirectory {
    /// Creates a user with a hashed password and initial groups.
    ///
    /// # Errors
    /// [`IdentityError::UserExists`], invalid display name or email, a refused password,
    /// or a store failure.
    pub async fn add_user(&self, new: NewUser) -> Result<UserRecord, IdentityError> {
        let display_name = match &new.display_name {
            Some(name) => checked_display_name(name)?,
            None => new.username.to_string(),
        };
        let email = new.email.as_deref().map(checked_email).transpose()?;
        let hash = self.hasher.hash(&new.password).await?;
        let now = to_millis(self.store.now());

        let mut tx = self.store.begin("adding user").await?;
        store::bump(&mut tx, Counter::DirectoryVersion).await?;
        let sql = "INSERT INTO users (username, display_name, email, password_hash, disabled, \
                   must_change_password, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, 0, $5, $6, $6) ON CONFLICT (username) DO NOTHING";
        let inserted = sqlx::query(sql)
            .bind(new.username.as_str())
            .bind(display_name)
            .bind(email)
            .bind(hash.as_phc().to_owned())
            .bind(i64::from(new.must_change_password))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("adding user"))?;
        if inserted.rows_affected() == 0 {
            return Err(IdentityError::UserExists(new.username));
        }
        for group in &new.groups {
            insert_membership(&mut tx, &new.username, group, now).await?;
        }
        tx.commit()
            .await
            .map_err(StoreError::query("adding user"))?;

        tracing::info!(user = %new.username, "user added");
        self.get_user(&new.username)
            .await?
            .ok_or(IdentityError::NoSuchUser(new.username))
    }

    /// Sets a new password and ends every session of the user.
    ///
    /// # Errors
    /// [`IdentityError::NoSuchUser`], a refused password, or a store failure.
    pub async fn set_password(
        &self,
        username: &Username,
        password: &Secret,
        must_change_password: bool,
    ) -> Result<(), IdentityError> {
        let hash = self.hasher.hash(password).await?;
        let now = to_millis(self.store.now());

        let mut tx = self.begin_revoking_write("setting password").await?;
        let sql = "UPDATE users SET password_hash = $1, must_change_password = $2, \
                   updated_at = $3 WHERE username = $4";
        let updated = sqlx::query(sql)
            .bind(hash.as_phc().to_owned())
            .bind(i64::from(must_change_password))
            .bind(now)
            .bind(username.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("setting password"))?;
        self.finish_revoking_write(tx, username, updated.rows_affected(), "setting password")
            .await
    }

    /// Disables or re-enables a user. Disabling ends every session of the user.
    ///
    /// # Errors
    /// [`IdentityError::NoSuchUser`] or a store failure.
    pub async fn set_disabled(
        &self,
        username: &Username,
        disabled: bool,
    ) -> Result<(), IdentityError> {
        let now = to_millis(self.store.now());
        let mut tx = self.begin_revoking_write("disabling user").await?;
        let sql = "UPDATE users SET disabled = $1, updated_at = $2 WHERE username = $3";
        let updated = sqlx::query(sql)
            .bind(i64::from(disabled))
            .bind(now)
            .bind(username.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("disabling user"))?;
        self.finish_revoking_write(tx, username, updated.rows_affected(), "disabling user")
            .await
    }

    /// Deletes a user, their memberships and their sessions.
    ///
    /// # Errors
    /// [`IdentityError::NoSuchUser`] or a store failure.
    pub async fn delete_user(&self, username: &Username) -> Result<(), IdentityError> {
        // The user's sessions, and the hand-off codes and app sessions hanging off them, go
        // with the user through the foreign keys; caches find them gone on reload.
        let mut tx = self.begin_revoking_write("deleting user").await?;
        let deleted = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("deleting user"))?;
        self.finish_revoking_write(tx, username, deleted.rows_affected(), "deleting user")
            .await
    }

    /// Changes the display name or email of a user. Sessions stay; gateways show the new
    /// values once their cached copy expires (under a second).
    ///
    /// # Errors
    /// [`IdentityError::NoSuchUser`], invalid values, or a store failure.
    pub async fn update_profile(
        &self,
        username: &Username,
        update: ProfileUpdate,
    ) -> Result<(), IdentityError> {
        let Some(current) = self.get_user(username).await? else {
            return Err(IdentityError::NoSuchUser(username.clone()));
        };
        let display_name = match &update.display_name {
            Some(name) => checked_display_name(name)?,
            None => current.display_name,
        };
        let email = match update.email {
            Some(email) => email.as_deref().map(checked_email).transpose()?,
            None => current.email,
        };

        let mut tx = self.store.begin("updating user profile").await?;
        store::bump(&mut tx, Counter::DirectoryVersion).await?;
        let sql = "UPDATE users SET display_name = $1, email = $2, updated_at = $3 \
                   WHERE username = $4";
        let updated = sqlx::query(sql)
            .bind(display_name)
            .bind(email)
            .bind(to_millis(self.store.now()))
            .bind(username.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("updating user profile"))?;
        if updated.rows_affected() == 0 {
            return Err(IdentityError::NoSuchUser(username.clone()));
        }
        tx.commit()
            .await
            .map_err(StoreError::query("updating user profile"))?;
        Ok(())
    }

    /// Begins a transaction that bumps both counters first, so it holds the write lock.
    pub(super) async fn begin_revoking_write(
        &self,
        operation: &'static str,
    ) -> Result<Tx, IdentityError> {
        let mut tx = self.store.begin(operation).await?;
        store::bump(&mut tx, Counter::DirectoryVersion).await?;
        store::bump(&mut tx, Counter::RevocationGeneration).await?;
        Ok(tx)
    }

    /// Revokes the user's sessions and commits, or rolls back when no row matched.
    async fn finish_revoking_write(
        &self,
        mut tx: Tx,
        username: &Username,
        rows_affected: u64,
        operation: &'static str,
    ) -> Result<(), IdentityError> {
        if rows_affected == 0 {
            return Err(IdentityError::NoSuchUser(username.clone()));
        }
        let revoked = revoke_user_sessions(&mut tx, username).await?;
        self.store.commit_revocation(tx, operation).await?;
        tracing::info!(user = %username, sessions_revoked = revoked, "{operation}");
        Ok(())
    }
}

pub(super) fn checked_display_name(name: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(IdentityError::InvalidDisplayName("is empty"));
    }
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(IdentityError::InvalidDisplayName(
            "is longer than 128 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(IdentityError::InvalidDisplayName(
            "contains control characters",
        ));
    }
    Ok(name.to_owned())
}

pub(super) fn checked_email(email: &str) -> Result<String, IdentityError> {
    let email = email.trim();
    if email.len() > MAX_EMAIL_BYTES {
        return Err(IdentityError::InvalidEmail("is longer than 254 bytes"));
    }
    if email.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(IdentityError::InvalidEmail(
            "contains whitespace or control characters",
        ));
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(email.to_owned())
        }
        _ => Err(IdentityError::InvalidEmail("expected local@domain")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_checked() {
        assert_eq!(
            checked_display_name("  Alice Liddell ").unwrap(),
            "Alice Liddell"
        );
        assert!(checked_display_name("   ").is_err());
        assert!(checked_display_name("a\u{7}b").is_err());
        assert!(checked_display_name(&"x".repeat(129)).is_err());
    }

    #[test]
    fn emails_need_one_at_sign_and_no_spaces() {
        assert_eq!(
            checked_email(" alice@example.test ").unwrap(),
            "alice@example.test"
        );
        for bad in [
            "alice",
            "@example.test",
            "alice@",
            "a@b@c",
            "al ice@example.test",
        ] {
            assert!(checked_email(bad).is_err(), "{bad}");
        }
    }
}
