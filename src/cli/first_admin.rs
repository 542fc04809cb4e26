//! The first-start announcement: creates the first administrator on an empty directory
//! and prints, once, how to sign in with it.

use std::io::Write;

use super::{CliError, emit};
use crate::identity::StoreDirectory;

/// Creates the first administrator when the directory has no user at all
/// ([`StoreDirectory::ensure_first_admin`]) and, when it did, prints to `out` a block with
/// the username and the one-time password, which must be changed at first sign-in.
/// Returns whether the administrator was created. The password is shown here only: it is
/// never logged and cannot be read back.
///
/// # Errors
/// A store, hashing or randomness failure, or [`CliError::Output`].
pub async fn announce_first_admin(
    directory: &StoreDirectory,
    out: &mut dyn Write,
) -> Result<bool, CliError> {
    let Some(admin) = directory.ensure_first_admin().await? else {
        return Ok(false);
    };
    let rule = "=".repeat(72);
    let text = format!(
        "{rule}\n\
         The user directory was empty, so a first administrator was created:\n\
         \n    username: {}\n    password: {}\n\n\
         This one-time password is shown only now. Sign in with it at the portal;\n\
         you will have to choose a new password at first sign-in.\n\
         {rule}\n",
        admin.username,
        admin.password.expose()
    );
    emit(out, &text)?;
    out.flush().map_err(CliError::Output)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::Secret;
    use crate::authn::password::{HashParams, Hasher};
    use crate::store::Store;

    #[tokio::test]
    async fn the_first_admin_is_announced_once_with_a_working_password() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/p.db", dir.path().display());
        let store = Store::open(&url).await.unwrap();
        let cheap = HashParams {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        };
        let hasher = Hasher::new(cheap).unwrap();
        let directory = StoreDirectory::new(store, hasher.clone());

        let mut first = Vec::new();
        assert!(announce_first_admin(&directory, &mut first).await.unwrap());
        let text = String::from_utf8(first).unwrap();
        assert!(text.contains("username: admin"), "{text}");
        assert!(
            text.contains("choose a new password at first sign-in"),
            "{text}"
        );
        let password = text
            .lines()
            .find_map(|line| line.trim().strip_prefix("password: "))
            .unwrap();
        let admin = crate::identity::Username::parse("admin").unwrap();
        let record = directory.get_user(&admin).await.unwrap().unwrap();
        let password = Secret::new(password);
        assert!(
            hasher
                .verify(&record.password_hash, &password)
                .await
                .unwrap()
        );
        assert!(record.must_change_password);

        let mut second = Vec::new();
        assert!(!announce_first_admin(&directory, &mut second).await.unwrap());
        assert!(second.is_empty());
    }
}
