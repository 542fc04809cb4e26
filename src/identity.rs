//! Users and groups: canonical names, the user records the portal signs people in against,
//! and the writes administrators make.
//!
//! Owns: the `users`, `user_groups` and `group_members` tables. Trusts: the store to commit
//! atomically. Guarantees: every name is canonical ([`Username`]); every write bumps the
//! directory version; every write that ends or narrows access (password change, disable,
//! delete, group change) also revokes or flags sessions in the same transaction and bumps
//! the revocation generation, so gateways drop cached sessions within a second (CASES K17).
//! Password hashes never appear in Debug output or errors.
//!
//! Users come from administrators (the command line, the portal), from the first start
//! ([`StoreDirectory::ensure_first_admin`]) or from the declarative [`users_file`], which
//! marks the users it creates and never changes the others.

mod directory;
mod first_admin;
mod groups;
mod name;
mod rows;
mod users;
pub mod users_file;

use std::collections::BTreeSet;
use std::time::SystemTime;

pub use self::directory::{Directory, DirectoryFuture, StoreDirectory};
pub use self::first_admin::{
    FIRST_ADMIN_GROUP, FIRST_ADMIN_USERNAME, FirstAdmin, one_time_password,
};
pub use self::groups::GroupSummary;
pub use self::name::{GroupName, MAX_NAME_CHARS, NameError, Username};
pub(crate) use self::rows::stored_username;
pub use self::users::ProfileUpdate;
use crate::authn::RandomError;
use crate::authn::password::{PasswordError, PasswordHash};
use crate::store::StoreError;

/// A user as the directory knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// Canonical username, the key everywhere.
    pub username: Username,
    /// Name shown to people and passed upstream.
    pub display_name: String,
    /// Email address, if known.
    pub email: Option<String>,
    /// Groups the user belongs to.
    pub groups: BTreeSet<GroupName>,
    /// A disabled user cannot sign in and has no sessions.
    pub disabled: bool,
    /// The user must choose a new password before anything else.
    pub must_change_password: bool,
    /// When the user was created.
    pub created_at: SystemTime,
    /// When the record last changed.
    pub updated_at: SystemTime,
    /// When the user last completed a sign-in.
    pub last_login_at: Option<SystemTime>,
    /// The Argon2id hash of the password; Debug prints `[redacted]`.
    pub password_hash: PasswordHash,
}

impl UserRecord {
    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &GroupName) -> bool {
        self.groups.contains(group)
    }
}

/// What an administrator supplies to create a user.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Canonical username.
    pub username: Username,
    /// Display name; the username when `None`.
    pub display_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Initial groups, created when missing.
    pub groups: Vec<GroupName>,
    /// Initial password; Debug prints `[redacted]`.
    pub password: crate::authn::Secret,
    /// Whether the user must change the password at first sign-in.
    pub must_change_password: bool,
}

/// A failure of a directory operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A username breaks the naming rules.
    #[error("invalid username: {0}")]
    InvalidUsername(NameError),
    /// A group name breaks the naming rules.
    #[error("invalid group name: {0}")]
    InvalidGroupName(NameError),
    /// A display name is empty after trimming, too long or holds control characters.
    #[error("invalid display name: {0}")]
    InvalidDisplayName(&'static str),
    /// An email address is not `local@domain` or holds whitespace or control characters.
    #[error("invalid email address: {0}")]
    InvalidEmail(&'static str),
    /// The username is taken.
    #[error("user {0} already exists")]
    UserExists(Username),
    /// No user has this name.
    #[error("user {0} does not exist")]
    NoSuchUser(Username),
    /// Hashing the password failed or it was refused.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// No random one-time password could be made.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
