//! Secret values and randomness.
//!
//! [`Secret`] holds what a person typed (passwords, later one-time codes): its Debug prints
//! `[redacted]`, it has no Display, and equality runs in constant time. Random bytes come
//! from the operating system generator only.

use std::fmt;

use serde::Deserialize;
use subtle::ConstantTimeEq;

/// A secret string such as a password. Debug prints `[redacted]`; there is no Display.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// The operating system's random generator failed; nothing secret can be made.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("operating system random generator failed")]
pub struct RandomError;

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret text, for the one place that must use it (hashing, verification).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for Secret {
    /// Compares in time that depends only on the lengths.
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

/// `N` bytes from the operating system's random generator.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| RandomError)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("correct horse battery staple");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
    }

    #[test]
    fn equality_compares_content() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
        assert_ne!(Secret::new("a"), Secret::new("ab"));
    }

    #[test]
    fn random_bytes_differ_between_calls() {
        let first: [u8; 32] = random_bytes().unwrap();
        let second: [u8; 32] = random_bytes().unwrap();
        assert_ne!(first, second);
    }
}
