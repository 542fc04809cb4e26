//! The token itself: its claims, signing with a [`SigningKey`], the JWKS document and the
//! verification an upstream app runs.
//!
//! Trusts nothing in a token it verifies: the algorithm must be ES256, the key is found by
//! `kid` in the caller's key set only, and issuer, audience and times are all checked.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::AssertionError;
use super::keys::SigningKey;

/// How far `nbf` lies before `iat`, so an upstream whose clock runs behind accepts a fresh
/// token.
pub const NOT_BEFORE_BACKDATE: Duration = Duration::from_secs(30);

/// Clock difference tolerated by [`verify`] on `exp` and `nbf`.
pub const VERIFY_LEEWAY: Duration = Duration::from_secs(10);

/// What the token says about the person and the request it was made for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The portal's origin (`https://auth.example.com`).
    pub iss: String,
    /// The app's origin as the browser used it (`https://wiki.example.com`).
    pub aud: String,
    /// The username.
    pub sub: String,
    /// The email address, when the directory has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The display name.
    pub name: String,
    /// Group names.
    pub groups: Vec<String>,
    /// Role names the route policy grants the person.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Authentication methods done in the session (RFC 8176: `pwd`, `otp`, `hwk`, `swk`).
    pub amr: Vec<String>,
    /// When the last factor was done, unix seconds.
    pub auth_time: u64,
    /// When the token was made, unix seconds.
    pub iat: u64,
    /// Not valid before, unix seconds ([`NOT_BEFORE_BACKDATE`] before `iat`).
    pub nbf: u64,
    /// Not valid from, unix seconds.
    pub exp: u64,
    /// A random id, unique per token.
    pub jti: String,
}

/// One public key as published (RFC 7517 section 4, RFC 7518 section 6.2.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type; `EC` for ours.
    pub kty: String,
    /// Curve; `P-256` for ours.
    #[serde(default)]
    pub crv: String,
    /// base64url x coordinate.
    #[serde(default)]
    pub x: String,
    /// base64url y coordinate.
    #[serde(default)]
    pub y: String,
    /// Key id.
    #[serde(default)]
    pub kid: String,
    /// Algorithm the key is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use; `sig`.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
}

impl Jwk {
    /// A P-256 signing key for ES256.
    pub(crate) fn p256(kid: &str, x: &str, y: &str) -> Jwk {
        Jwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: x.into(),
            y: y.into(),
            kid: kid.into(),
            alg: Some("ES256".into()),
            key_use: Some("sig".into()),
        }
    }
}

/// A JSON Web Key Set (RFC 7517 section 5): what `/.well-known/jwks.json` serves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not three base64url parts with JSON header and claims of the expected shape.
    #[error("assertion is not a well-formed token")]
    Malformed,
    /// The header names an algorithm other than ES256.
    #[error("assertion algorithm is not ES256")]
    Algorithm,
    /// No `kid`, or a `kid` that the key set does not hold as a P-256 key.
    #[error("assertion key id is not in the key set")]
    UnknownKey,
    /// The signature does not match the header and claims.
    #[error("assertion signature does not verify")]
    Signature,
    /// `iss` is not the expected portal.
    #[error("assertion was issued by another portal")]
    Issuer,
    /// `aud` is not this app.
    #[error("assertion was made for another app")]
    Audience,
    /// `exp` has passed.
    #[error("assertion has expired")]
    Expired,
    /// `nbf` lies ahead.
    #[error("assertion is not valid yet")]
    NotYetValid,
}

/// Signs `claims` with `key` as an ES256 JWT whose header names the key.
pub(crate) fn sign(claims: &Claims, key: &SigningKey) -> Result<String, AssertionError> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).map_err(|_| AssertionError::Sign)
}

/// Verifies an assertion the gateway sent: the ES256 signature with the key named by `kid`
/// in `jwks`, `iss` equal to `expected_issuer`, `aud` equal to `expected_audience`, and
/// `nbf <= now < exp` within [`VERIFY_LEEWAY`].
///
/// # Errors
/// The first check that failed, as a [`VerifyError`].
pub fn verify(
    token: &str,
    jwks: &Jwks,
    expected_issuer: &str,
    expected_audience: &str,
    now: SystemTime,
) -> Result<Claims, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    if header.alg != Algorithm::ES256 {
        return Err(VerifyError::Algorithm);
    }
    let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
    let jwk = jwks
        .keys
        .iter()
        .find(|jwk| jwk.kid == kid && jwk.kty == "EC" && jwk.crv == "P-256")
        .filter(|jwk| jwk.alg.as_deref().is_none_or(|alg| alg == "ES256"))
        .ok_or(VerifyError::UnknownKey)?;
    let key =
        DecodingKey::from_ec_components(&jwk.x, &jwk.y).map_err(|_| VerifyError::UnknownKey)?;

    let mut validation = Validation::new(Algorithm::ES256);
    // Times are checked below against the caller's `now`, not the system clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[expected_issuer]);
    validation.set_audience(&[expected_audience]);
    let data =
        jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|error| {
            match error.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidEcdsaKey => VerifyError::Signature,
                ErrorKind::InvalidIssuer => VerifyError::Issuer,
                ErrorKind::InvalidAudience => VerifyError::Audience,
                ErrorKind::InvalidAlgorithm => VerifyError::Algorithm,
                _ => VerifyError::Malformed,
            }
        })?;
    check_times(&data.claims, now)?;
    Ok(data.claims)
}

fn check_times(claims: &Claims, now: SystemTime) -> Result<(), VerifyError> {
    let now = unix_seconds(now);
    let leeway = VERIFY_LEEWAY.as_secs();
    if now.saturating_add(leeway) < claims.nbf {
        return Err(VerifyError::NotYetValid);
    }
    if now >= claims.exp.saturating_add(leeway) {
        return Err(VerifyError::Expired);
    }
    Ok(())
}

/// `time` as whole unix seconds (0 before the epoch).
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
