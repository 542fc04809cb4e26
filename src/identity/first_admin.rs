//! The first administrator: created once, on an empty directory, with a random one-time
//! password that is returned to the caller once and never stored in clear.

use super::groups::insert_membership;
use super::{GroupName, IdentityError, StoreDirectory, Username};
use crate::authn::{RandomError, Secret, random_bytes};
use crate::store::{self, Counter, StoreError, to_millis};

/// Username of the first administrator.
pub const FIRST_ADMIN_USERNAME: &str = "admin";
/// Group the first administrator is put in.
pub const FIRST_ADMIN_GROUP: &str = "admins";

/// Symbols of the one-time password: upper case without `I` and `O`, digits without `0`
/// and `1`, so nothing reads as something else; 32 symbols, 5 bits each.
const PASSWORD_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Groups of five symbols: 4 x 5 x 5 = 100 bits.
const PASSWORD_GROUPS: usize = 4;

/// The administrator created on an empty directory.
#[derive(Debug)]
pub struct FirstAdmin {
    /// The new user's name.
    pub username: Username,
    /// The one-time password; shown once, the user must change it at first sign-in.
    pub password: Secret,
}

impl StoreDirectory {
    /// Creates `admin` in group `admins` with a random one-time password if the directory
    /// has no user at all; `None` otherwise. Safe to run from several processes at once:
    /// the insert itself checks emptiness, so at most one of them creates the user.
    ///
    /// # Errors
    /// A store, hashing or randomness failure.
    pub async fn ensure_first_admin(&self) -> Result<Option<FirstAdmin>, IdentityError> {
        if self.has_any_user().await? {
            return Ok(None);
        }
        let username =
            Username::parse(FIRST_ADMIN_USERNAME).map_err(IdentityError::InvalidUsername)?;
        let group = GroupName::parse(FIRST_ADMIN_GROUP).map_err(IdentityError::InvalidGroupName)?;
        let password = one_time_password()?;
        let hash = self.hasher.hash(&password).await?;
        let now = to_millis(self.store.now());

        let mut tx = self.store.begin("creating first administrator").await?;
        store::bump(&mut tx, Counter::DirectoryVersion).await?;
        let sql = "INSERT INTO users (username, display_name, email, password_hash, disabled, \
                   must_change_password, created_at, updated_at) \
                   SELECT $1, $2, NULL, $3, 0, 1, $4, $4 \
                   WHERE NOT EXISTS (SELECT 1 FROM users) ON CONFLICT (username) DO NOTHING";
        let inserted = sqlx::query(sql)
            .bind(username.as_str())
            .bind("Administrator")
            .bind(hash.as_phc().to_owned())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("creating first administrator"))?;
        if inserted.rows_affected() == 0 {
            return Ok(None);
        }
        insert_membership(&mut tx, &username, &group, now).await?;
        tx.commit()
            .await
            .map_err(StoreError::query("creating first administrator"))?;

        tracing::warn!(user = %username, "created first administrator with a one-time password");
        Ok(Some(FirstAdmin { username, password }))
    }

    async fn has_any_user(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT username FROM users LIMIT 1")
            .fetch_optional(self.store.pool())
            .await
            .map_err(StoreError::query("counting users"))?;
        Ok(row.is_some())
    }
}

/// A random one-time password, four dash-separated groups of five symbols (100 bits), for
/// a person to type once and then replace. 32 symbols divide 256, so taking the low five bits of each byte
/// from the operating system generator picks every symbol with equal chance.
///
/// # Errors
/// [`RandomError`] when the operating system generator fails.
pub fn one_time_password() -> Result<Secret, RandomError> {
    let bytes: [u8; PASSWORD_GROUPS * 5] = random_bytes()?;
    let mut password = String::with_capacity(PASSWORD_GROUPS * 6);
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 && index % 5 == 0 {
            password.push('-');
        }
        password.push(char::from(PASSWORD_ALPHABET[usize::from(byte & 31)]));
    }
    Ok(Secret::new(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_passwords_have_four_groups_of_five_readable_symbols() {
        let password = one_time_password().unwrap();
        let text = password.expose();
        assert_eq!(text.len(), 23);
        for group in text.split('-') {
            assert_eq!(group.len(), 5);
            assert!(
                group.bytes().all(|b| PASSWORD_ALPHABET.contains(&b)),
                "{text}"
            );
        }
        assert_ne!(one_time_password().unwrap(), password);
    }
}
