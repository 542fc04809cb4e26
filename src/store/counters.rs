//! Change counters: single rows that writers bump inside their transaction and other
//! processes read to learn, with one cheap query, that something changed.

use sqlx::AnyPool;
use sqlx::Row;

use super::{StoreError, Tx};

/// A named counter row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Bumped by every write to users, groups or memberships.
    DirectoryVersion,
    /// Bumped by every change that ends or narrows sessions.
    RevocationGeneration,
}

impl Counter {
    fn name(self) -> &'static str {
        match self {
            Counter::DirectoryVersion => "directory_version",
            Counter::RevocationGeneration => "revocation_generation",
        }
    }
}

/// Reads `counter`.
pub(super) async fn read(pool: &AnyPool, counter: Counter) -> Result<u64, StoreError> {
    let row = sqlx::query("SELECT value FROM counters WHERE name = $1")
        .bind(counter.name())
        .fetch_optional(pool)
        .await
        .map_err(StoreError::query("reading change counter"))?;
    let Some(row) = row else {
        return Err(StoreError::corrupt(
            "change counter",
            format!("{} is missing", counter.name()),
        ));
    };
    let value: i64 = row
        .try_get("value")
        .map_err(StoreError::query("reading change counter"))?;
    u64::try_from(value).map_err(|_| StoreError::corrupt("change counter", "negative value"))
}

/// Adds one to `counter` inside `tx`.
pub(super) async fn bump(tx: &mut Tx, counter: Counter) -> Result<(), StoreError> {
    let result = sqlx::query("UPDATE counters SET value = value + 1 WHERE name = $1")
        .bind(counter.name())
        .execute(&mut **tx)
        .await
        .map_err(StoreError::query("bumping change counter"))?;
    if result.rows_affected() != 1 {
        return Err(StoreError::corrupt(
            "change counter",
            format!("{} is missing", counter.name()),
        ));
    }
    Ok(())
}
