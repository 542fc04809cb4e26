//! Store errors. Messages are lowercase, name the object and the operation, and never
//! carry a connection password, a cookie, a code or a password hash. Each message already
//! includes its cause, so the cause is not also exposed as `source()` (no repeated text
//! when a chain is printed).

use std::fmt;
use std::path::PathBuf;

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store url is not `sqlite://path` or `postgres://...`, or names no file.
    #[error("store url {url}: {reason}")]
    InvalidUrl {
        /// The url with any password removed.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The directory that should hold the SQLite file could not be created.
    #[error("creating store directory {}: {cause}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why it failed.
        cause: std::io::Error,
    },

    /// The database could not be reached or opened.
    #[error("connecting to store {url}: {cause}")]
    Connect {
        /// The url with any password removed.
        url: String,
        /// The driver's report.
        cause: DatabaseError,
    },

    /// The schema could not be brought up to date.
    #[error("applying store migrations: {cause}")]
    Migrate {
        /// The driver's report.
        cause: DatabaseError,
    },

    /// A statement failed.
    #[error("{operation}: {cause}")]
    Query {
        /// What was being done, naming the object ("reading user").
        operation: &'static str,
        /// The driver's report.
        cause: DatabaseError,
    },

    /// A stored value does not parse; the row was written by something other than this
    /// code or was damaged.
    #[error("stored {object} is invalid: {detail}")]
    Corrupt {
        /// The object ("session amr").
        object: &'static str,
        /// What is wrong, never the value when the value may be secret.
        detail: String,
    },
}

/// The database driver's report, kept opaque so no driver type leaks into the API.
pub struct DatabaseError(sqlx::Error);

impl StoreError {
    /// A mapper for `map_err` that labels a driver error with `operation`.
    pub(crate) fn query(operation: &'static str) -> impl Fn(sqlx::Error) -> StoreError + Copy {
        move |error| StoreError::Query {
            operation,
            cause: DatabaseError(error),
        }
    }

    /// A stored value that does not parse.
    pub(crate) fn corrupt(object: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            object,
            detail: detail.into(),
        }
    }
}

impl From<sqlx::Error> for DatabaseError {
    fn from(error: sqlx::Error) -> Self {
        DatabaseError(error)
    }
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for DatabaseError {}
