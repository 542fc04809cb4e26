//! Authentication: secrets, password hashing, the password step of a sign-in and the
//! failure throttle every factor shares.
//!
//! Owns: [`Secret`], Argon2id hashing ([`password`]), failure counters ([`throttle`]) and
//! [`PasswordLogin`]. Trusts: the directory for user records, the store for counters.
//! Guarantees: passwords and hashes never reach Debug output or error text; every rejected
//! attempt costs the same Argon2 work and is counted the same way whether or not the user
//! exists (CASES K20, K21); any error means the attempt is denied.

mod login;
pub mod password;
mod secret;
pub mod throttle;

pub use self::login::{
    AuthnError, HashWork, PasswordAttempt, PasswordLogin, PasswordVerdict, Rejection,
};
pub(crate) use self::secret::random_bytes;
pub use self::secret::{RandomError, Secret};
