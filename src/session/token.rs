//! Session identifiers and hand-off codes: 256 random bits from the operating system,
//! written as 43 characters of unpadded base64url (RFC 4648 section 5), stored only as their
//! SHA-256 in hex.
//!
//! Parsing is strict: exactly 43 characters of the url-safe alphabet that decode to 32 bytes
//! and encode back to the same text. Anything else is "no session" (CASES K13), never an
//! error, and never echoed.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::authn::{RandomError, random_bytes};

const TOKEN_BYTES: usize = 32;
const TOKEN_CHARS: usize = 43;

/// The secret in a session cookie. Debug prints `[redacted]`; there is no Display.
pub struct SessionId([u8; TOKEN_BYTES]);

/// The public identifier of a session: SHA-256 of the cookie value, in lowercase hex.
/// Safe to log and show; it cannot be turned back into a cookie.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey(String);

/// A one-time code that carries a portal session to an app host. Debug prints
/// `[redacted]`; there is no Display.
pub struct HandoffCode([u8; TOKEN_BYTES]);

impl SessionId {
    /// A new identifier from the operating system generator.
    pub(crate) fn generate() -> Result<SessionId, RandomError> {
        random_bytes().map(SessionId)
    }

    /// Parses a cookie value; `None` for anything that is not exactly a session identifier.
    pub fn from_cookie_value(value: &str) -> Option<SessionId> {
        decode(value).map(SessionId)
    }

    /// The value to put in the cookie.
    pub fn cookie_value(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The key the store knows this session by.
    pub fn key(&self) -> SessionKey {
        SessionKey(sha256_hex(&self.0))
    }
}

impl SessionKey {
    /// Parses the hex form (as an administrator would paste it).
    pub fn parse(text: &str) -> Option<SessionKey> {
        let is_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        let valid = text.len() == 64 && text.bytes().all(is_hex);
        valid.then(|| SessionKey(text.to_owned()))
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key read from the store, already in canonical form.
    pub(super) fn from_stored(text: String) -> Option<SessionKey> {
        SessionKey::parse(&text).map(|_| SessionKey(text))
    }
}

impl HandoffCode {
    /// A new code from the operating system generator.
    pub(crate) fn generate() -> Result<HandoffCode, RandomError> {
        random_bytes().map(HandoffCode)
    }

    /// Parses a code from a callback url; `None` for anything malformed.
    pub fn parse(text: &str) -> Option<HandoffCode> {
        decode(text).map(HandoffCode)
    }

    /// The code as it goes into the callback url.
    pub fn expose(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The hash the store keeps.
    pub(super) fn hash(&self) -> String {
        sha256_hex(&self.0)
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SessionId {}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId([redacted])")
    }
}

impl fmt::Debug for HandoffCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandoffCode([redacted])")
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKey({})", self.0)
    }
}

fn decode(text: &str) -> Option<[u8; TOKEN_BYTES]> {
    if text.len() != TOKEN_CHARS {
        return None;
    }
    let mut bytes = [0u8; TOKEN_BYTES];
    let written = URL_SAFE_NO_PAD.decode_slice(text, &mut bytes).ok()?;
    // The decoder already refuses non-zero trailing bits; re-encoding makes the canonical
    // form explicit rather than a property of the library's defaults.
    let canonical = written == TOKEN_BYTES && URL_SAFE_NO_PAD.encode(bytes) == text;
    canonical.then_some(bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_round_trip_and_hash_to_a_stable_key() {
        let id = SessionId::generate().unwrap();
        let value = id.cookie_value();
        assert_eq!(value.len(), TOKEN_CHARS);

        let parsed = SessionId::from_cookie_value(&value).unwrap();
        assert_eq!(parsed, id);
        assert_eq!(parsed.key(), id.key());
        assert_eq!(SessionKey::parse(id.key().as_str()), Some(id.key()));
    }

    #[test]
    fn malformed_cookie_values_are_no_session() {
        let good = SessionId::generate().unwrap().cookie_value();
        let cases = [
            "".to_owned(),
            "%%%".to_owned(),
            good[..42].to_owned(),
            format!("{good}A"),
            format!("{good}="),
            good.replace(['-', '_'], "+"),
            format!(" {}", &good[1..]),
            "A".repeat(42) + "B",
        ];
        for case in cases {
            if case == good {
                continue;
            }
            assert!(SessionId::from_cookie_value(&case).is_none(), "{case:?}");
        }
    }

    #[test]
    fn key_is_sha256_of_the_raw_bytes() {
        let id = SessionId([0u8; 32]);
        let expected = "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925";
        assert_eq!(id.key().as_str(), expected);
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let id = SessionId::generate().unwrap();
        let code = HandoffCode::generate().unwrap();
        assert!(!format!("{id:?}").contains(&id.cookie_value()));
        assert!(!format!("{code:?}").contains(&code.expose()));
    }
}
