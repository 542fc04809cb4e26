//! The schema, embedded in the binary and applied when a store opens.
//!
//! Each file in `migrations/` is listed here by hand (sqlx's `migrate!` macro would need the
//! `macros` feature and its proc-macro build); a test checks that the list and the folder
//! agree, so a new file cannot be forgotten.

use std::borrow::Cow;

use sqlx::AnyPool;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::{DatabaseError, StoreError};

/// `(version, description, sql)` of every migration, oldest first.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/0001_initial.sql"),
    ),
    (
        2,
        "user_source",
        include_str!("../../migrations/0002_user_source.sql"),
    ),
    (
        3,
        "signing_keys",
        include_str!("../../migrations/0003_signing_keys.sql"),
    ),
];

/// Brings the schema at `pool` up to date.
pub(super) async fn apply(pool: &AnyPool) -> Result<(), StoreError> {
    migrator()
        .run(pool)
        .await
        .map_err(|error| StoreError::Migrate {
            cause: DatabaseError::from(sqlx::Error::from(error)),
        })
}

fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            let description = Cow::Borrowed(description);
            Migration::new(
                version,
                description,
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded_once_in_order() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();

        assert_eq!(files.len(), MIGRATIONS.len());
        for (file, &(version, description, _)) in files.iter().zip(MIGRATIONS) {
            assert_eq!(file, &format!("{version:04}_{description}.sql"));
        }
    }
}
