//! The password step of a sign-in: throttle, look up, verify, rehash.
//!
//! Every rejection, whatever its reason, costs one Argon2 verification at the current
//! parameters (the real hash, or the dummy when there is no usable one) and is counted
//! against the canonical username, so the answer, its cost and later lockouts are the same
//! for a wrong password, a missing user and a disabled user (CASES K21). The reason is kept
//! for logs and audit only; callers must answer every rejection identically.
//!
//! Attempts for one username run one at a time in a process (check, verify, count), so
//! parallel guesses cannot all be verified before the first failure is counted (CASES K20).
//! Gateways sharing a store can each have one attempt in flight for the same username.

use std::sync::Arc;
use std::time::SystemTime;

use super::password::{Hasher, PasswordError};
use super::secret::Secret;
use super::throttle::{Throttle, ThrottleState};
use crate::identity::{Directory, IdentityError, UserRecord, Username};
use crate::store::StoreError;

/// How many locks serialise attempts; usernames share one by hash.
const ATTEMPT_STRIPES: usize = 64;

/// Checks passwords against a [`Directory`] under a [`Throttle`].
#[derive(Clone, Debug)]
pub struct PasswordLogin {
    directory: Arc<dyn Directory>,
    hasher: Hasher,
    throttle: Throttle,
    stripes: Arc<[tokio::sync::Mutex<()>]>,
}

/// What a password attempt came to.
#[derive(Debug)]
pub struct PasswordAttempt {
    /// Accepted or rejected.
    pub verdict: PasswordVerdict,
    /// Which hash Argon2 ran against; recorded so tests and audits can show a missing user
    /// cost a full verification.
    pub hash_work: HashWork,
}

/// The outcome of a password attempt.
#[derive(Debug)]
pub enum PasswordVerdict {
    /// The password is right. The sign-in is not complete until every required factor is
    /// done; then call [`PasswordLogin::complete_sign_in`].
    Accepted {
        /// The user, as read before the password was checked.
        user: UserRecord,
        /// Whether the stored hash was upgraded to the current parameters.
        rehashed: bool,
    },
    /// The attempt failed. Answer every reason the same way.
    Rejected(Rejection),
}

/// Why an attempt was rejected; for logs and audit, never for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The username breaks the naming rules, so it cannot exist.
    InvalidUsername,
    /// No such user.
    UnknownUser,
    /// The user is disabled.
    Disabled,
    /// The password does not match.
    WrongPassword,
    /// Too many failures; nothing was checked.
    Locked {
        /// When attempts are allowed again.
        until: SystemTime,
    },
}

/// The hash a verification ran against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashWork {
    /// The user's stored hash.
    Stored,
    /// The dummy hash, because there was no usable stored one.
    Dummy,
}

/// A failure that stops a password attempt; callers deny the attempt (fail closed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthnError {
    /// The directory failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Hashing or verification failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The throttle's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PasswordLogin {
    /// Password checking over `directory`, counting failures in `throttle`.
    pub fn new(directory: Arc<dyn Directory>, hasher: Hasher, throttle: Throttle) -> PasswordLogin {
        let stripes = (0..ATTEMPT_STRIPES)
            .map(|_| tokio::sync::Mutex::new(()))
            .collect();
        PasswordLogin {
            directory,
            hasher,
            throttle,
            stripes,
        }
    }

    /// Checks `password` for the user typed as `username_input`.
    ///
    /// # Errors
    /// A store, directory or hashing failure; the attempt must then be denied.
    pub async fn attempt(
        &self,
        username_input: &str,
        password: &Secret,
    ) -> Result<PasswordAttempt, AuthnError> {
        let Ok(username) = Username::parse(username_input) else {
            return self
                .reject_with_dummy(password, Rejection::InvalidUsername)
                .await;
        };
        let _serialised = self.stripe(&username).lock().await;
        if let ThrottleState::LockedUntil(until) = self.throttle.check(&username).await? {
            return self
                .reject_with_dummy(password, Rejection::Locked { until })
                .await;
        }

        let attempt = match self.directory.lookup(&username).await? {
            None => {
                self.reject_with_dummy(password, Rejection::UnknownUser)
                    .await?
            }
            Some(user) if user.disabled => {
                self.reject_with_dummy(password, Rejection::Disabled)
                    .await?
            }
            Some(user) => self.verify_user(user, password).await?,
        };
        if let PasswordVerdict::Rejected(reason) = &attempt.verdict {
            self.throttle.record_failure(&username).await?;
            tracing::debug!(user = %username, reason = ?reason, "password rejected");
        }
        Ok(attempt)
    }

    /// The lock that serialises attempts for `username`.
    fn stripe(&self, username: &Username) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(username.as_str());
        let index = usize::try_from(hash % ATTEMPT_STRIPES as u64).unwrap_or(0);
        &self.stripes[index]
    }

    /// Finishes a sign-in once every required factor is done: clears the failure counter
    /// and records the login time.
    ///
    /// # Errors
    /// A store or directory failure.
    pub async fn complete_sign_in(&self, username: &Username) -> Result<(), AuthnError> {
        self.throttle.record_success(username).await?;
        self.directory.record_login(username).await?;
        Ok(())
    }

    async fn verify_user(
        &self,
        user: UserRecord,
        password: &Secret,
    ) -> Result<PasswordAttempt, AuthnError> {
        let hash_work = HashWork::Stored;
        if !self.hasher.verify(&user.password_hash, password).await? {
            let verdict = PasswordVerdict::Rejected(Rejection::WrongPassword);
            return Ok(PasswordAttempt { verdict, hash_work });
        }
        let rehashed = self.rehash_if_outdated(&user, password).await;
        let verdict = PasswordVerdict::Accepted { user, rehashed };
        Ok(PasswordAttempt { verdict, hash_work })
    }

    /// Replaces a hash made with old parameters. A failure here must not fail the login, so
    /// it is logged and reported as "not rehashed".
    async fn rehash_if_outdated(&self, user: &UserRecord, password: &Secret) -> bool {
        if !self.hasher.needs_rehash(&user.password_hash) {
            return false;
        }
        let upgraded = match self.hasher.hash(password).await {
            Ok(new) => {
                let directory = &self.directory;
                directory
                    .upgrade_password_hash(&user.username, &user.password_hash, new)
                    .await
            }
            Err(error) => Err(error.into()),
        };
        match upgraded {
            Ok(replaced) => replaced,
            Err(error) => {
                tracing::warn!(user = %user.username, %error, "password rehash failed");
                false
            }
        }
    }

    async fn reject_with_dummy(
        &self,
        password: &Secret,
        reason: Rejection,
    ) -> Result<PasswordAttempt, AuthnError> {
        self.hasher.verify_dummy(password).await?;
        let verdict = PasswordVerdict::Rejected(reason);
        Ok(PasswordAttempt {
            verdict,
            hash_work: HashWork::Dummy,
        })
    }
}
