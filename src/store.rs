//! Database access: one connection pool over SQLite or PostgreSQL, embedded migrations,
//! change counters and the clock every stored time comes from.
//!
//! Owns: the pool, the schema (applied at [`Store::open`]), the `counters` table and the
//! conversion of times to unix milliseconds. The other modules own their tables and write
//! their own SQL through `Store::pool` and `Store::begin` (crate-private). That SQL must
//! stay portable (`$1` placeholders, TEXT and BIGINT columns, no database-specific
//! functions) because the same text runs on both databases through sqlx's `Any` driver.
//!
//! Trusts: the database to keep what was committed. Guarantees: no sqlx type appears in the
//! public API of this crate, and no error message carries a connection password.

mod clock;
mod counters;
mod error;
mod migrations;
mod url;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sqlx::any::AnyPoolOptions;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::{AnyConnection, AnyPool};

pub use self::clock::{Clock, ManualClock, SystemClock};
pub(crate) use self::clock::{
    duration_from_millis, duration_millis, duration_serde, from_millis, saturating_add, to_millis,
};
pub(crate) use self::counters::Counter;
pub use self::error::{DatabaseError, StoreError};
use self::url::StoreUrl;

/// An open transaction; commit it or it rolls back when dropped.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file in WAL mode.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A handle on the database; cheap to clone, all clones share one pool.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    clock: Arc<dyn Clock>,
    /// Bumped after this process commits a revocation, so caches in this process can drop
    /// entries at once instead of waiting for their next look at the shared counter.
    local_revocations: AtomicU64,
}

/// How long a SQLite connection waits for another writer before giving up (5 s).
const SQLITE_BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 5000";

impl Store {
    /// Opens the store at `url` (`sqlite://path` or `postgres://...`) with the system clock
    /// and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreError::InvalidUrl`], [`StoreError::CreateDir`], [`StoreError::Connect`] or
    /// [`StoreError::Migrate`]; messages name the url with any password removed.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Self::open_with_clock(url, Arc::new(SystemClock)).await
    }

    /// Opens the store like [`Store::open`], taking every time from `clock`.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub async fn open_with_clock(url: &str, clock: Arc<dyn Clock>) -> Result<Store, StoreError> {
        let url = StoreUrl::parse(url)?;
        url.prepare()?;
        sqlx::any::install_default_drivers();

        let pool = connect(&url).await?;
        migrations::apply(&pool).await?;
        tracing::debug!(store = %url.redacted(), "store opened");

        let backend = url.backend();
        let local_revocations = AtomicU64::new(0);
        let inner = Inner {
            pool,
            backend,
            clock,
            local_revocations,
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// The database behind this store.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The current time according to the store's clock.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// The clock this store was opened with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Closes every connection; later queries fail.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    /// The change counter of the user directory, bumped by every directory write.
    ///
    /// # Errors
    /// [`StoreError::Query`] when the database cannot be read.
    pub async fn directory_version(&self) -> Result<u64, StoreError> {
        counters::read(self.pool(), Counter::DirectoryVersion).await
    }

    /// The revocation generation, bumped by every change that must end or narrow sessions
    /// (logout, revoke, disable, delete, password change, group change).
    ///
    /// # Errors
    /// [`StoreError::Query`] when the database cannot be read.
    pub async fn revocation_generation(&self) -> Result<u64, StoreError> {
        counters::read(self.pool(), Counter::RevocationGeneration).await
    }

    /// How many revocations this process has committed; a cheap in-memory check that lets
    /// a cache in the same process react without reading the database.
    pub fn local_revocation_epoch(&self) -> u64 {
        self.inner.local_revocations.load(Ordering::Acquire)
    }

    /// The pool, for the modules that own tables.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Begins a transaction that holds the write lock from its first statement on SQLite, so
    /// concurrent writers queue on the busy timeout instead of failing on lock upgrade.
    pub(crate) async fn begin(&self, operation: &'static str) -> Result<Tx, StoreError> {
        let statement = match self.inner.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let pool = &self.inner.pool;
        pool.begin_with(statement)
            .await
            .map_err(StoreError::query(operation))
    }

    /// Commits a transaction that revoked sessions, then tells caches in this process.
    ///
    /// The local epoch moves only after the commit: a cache that reloads on seeing it must
    /// read the revoked state, never the state before.
    pub(crate) async fn commit_revocation(
        &self,
        tx: Tx,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        tx.commit().await.map_err(StoreError::query(operation))?;
        self.inner.local_revocations.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}

impl std::fmt::Debug for Inner {
    /// Backend and clock only: nothing that could ever carry the connection url.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Bumps `counter` inside `tx`.
pub(crate) async fn bump(tx: &mut Tx, counter: Counter) -> Result<(), StoreError> {
    counters::bump(tx, counter).await
}

async fn connect(url: &StoreUrl) -> Result<AnyPool, StoreError> {
    let max_connections = match url.backend() {
        Backend::Sqlite => 4,
        Backend::Postgres => 10,
    };
    let options = AnyPoolOptions::new().max_connections(max_connections);
    let options = match url.backend() {
        Backend::Sqlite => {
            options.after_connect(|connection, meta| Box::pin(configure_sqlite(connection, meta)))
        }
        Backend::Postgres => options,
    };

    let connect_error = |cause| StoreError::Connect {
        url: url.redacted(),
        cause,
    };
    options
        .connect(url.driver_url())
        .await
        .map_err(|error| connect_error(DatabaseError::from(error)))
}

/// Per-connection SQLite settings: WAL (readers never wait for the writer), enforced
/// foreign keys, a busy timeout so writers queue, and `synchronous = NORMAL`, which is
/// durable across application crashes in WAL mode (SQLite docs, "pragma synchronous").
async fn configure_sqlite(
    connection: &mut AnyConnection,
    _meta: PoolConnectionMetadata,
) -> Result<(), sqlx::Error> {
    sqlx::query(SQLITE_BUSY_TIMEOUT)
        .execute(&mut *connection)
        .await?;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *connection)
        .await?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut *connection)
        .await?;
    sqlx::query("PRAGMA synchronous = NORMAL")
        .execute(&mut *connection)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;

    async fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/dir/store.db", dir.path().display());
        let store = Store::open(&url).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn sqlite_store_creates_parent_directories_and_uses_wal() {
        let (dir, store) = temp_store().await;
        assert!(dir.path().join("nested/dir/store.db").exists());

        let row = sqlx::query("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let mode: String = row.try_get(0).unwrap();
        assert_eq!(mode.to_lowercase(), "wal");

        let row = sqlx::query("PRAGMA foreign_keys")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let enabled: i64 = row.try_get(0).unwrap();
        assert_eq!(enabled, 1);
    }

    #[tokio::test]
    async fn reopening_applies_no_migration_twice() {
        let (dir, store) = temp_store().await;
        store.close().await;
        let url = format!("sqlite://{}/nested/dir/store.db", dir.path().display());
        let again = Store::open(&url).await.unwrap();
        assert_eq!(again.directory_version().await.unwrap(), 0);
        assert_eq!(again.backend(), Backend::Sqlite);
    }

    #[tokio::test]
    async fn counters_start_at_zero_and_bump_by_one() {
        let (_dir, store) = temp_store().await;
        assert_eq!(store.revocation_generation().await.unwrap(), 0);

        let mut tx = store.begin("test").await.unwrap();
        bump(&mut tx, Counter::RevocationGeneration).await.unwrap();
        store.commit_revocation(tx, "test").await.unwrap();

        assert_eq!(store.revocation_generation().await.unwrap(), 1);
        assert_eq!(store.directory_version().await.unwrap(), 0);
        assert_eq!(store.local_revocation_epoch(), 1);
    }
}
