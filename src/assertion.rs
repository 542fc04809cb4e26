//! The signed identity assertion: a short-lived ES256 JWT that tells an upstream app who
//! is asking, which the app can verify against the portal's JWKS instead of trusting bare
//! identity headers.
//!
//! Owns: the signing keys (made on first start, rotated every `assertion.rotate_every`,
//! kept in the store's `signing_keys` table so gateways sharing a store agree), the JWKS
//! document, the per-session token cache, and [`verify`] for app developers.
//!
//! Trusts: the store's clock for every time, the session cache for who is signed in.
//!
//! Guarantees:
//! - The request path signs nothing while a cached token for the same session, app origin
//!   and identity has more than a quarter of its lifetime left.
//! - The newest key signs; a key that stopped signing stays in the JWKS for
//!   [`KEY_OVERLAP`] (the longest token lifetime plus a margin), then is deleted.
//! - Private keys and tokens never appear in Debug output, logs or errors.

mod cache;
mod keys;
mod token;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;

pub use self::cache::{Audience, DEFAULT_CAPACITY};
use self::cache::{Signed, TokenCache};
use self::keys::KeyRing;
use self::token::unix_seconds;
pub use self::token::{Claims, Jwk, Jwks, NOT_BEFORE_BACKDATE, VERIFY_LEEWAY, VerifyError, verify};
use crate::config::AssertionSettings;
use crate::config::value::PortalUrl;
use crate::session::ActiveSession;
use crate::store::{Store, StoreError, saturating_add};

/// The header that carries the token upstream unless the config names another.
pub const DEFAULT_HEADER: &str = "x-portcullis-assertion";
/// Token lifetime unless configured.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// The longest token lifetime the config accepts.
pub const MAX_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Key rotation period unless configured.
pub const DEFAULT_ROTATE_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
/// The shortest rotation period the config accepts.
pub const MIN_ROTATE_EVERY: Duration = Duration::from_secs(60);
/// How long a key stays published after it stopped signing: the longest token lifetime,
/// plus the JWKS response's cache lifetime as margin so a verifier's copy stays usable.
pub const KEY_OVERLAP: Duration = Duration::from_secs(5 * 60 + JWKS_MAX_AGE_SECONDS);
/// `Cache-Control: max-age` of the JWKS document.
pub const JWKS_MAX_AGE_SECONDS: u64 = 300;

/// Why no token or key set could be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// The key table could not be read or written.
    #[error("signing keys: {0}")]
    Store(#[from] StoreError),
    /// A key pair could not be generated.
    #[error("generating a signing key failed")]
    Generate,
    /// Signing failed (a stored key that does not parse as PKCS#8 P-256).
    #[error("signing an assertion failed")]
    Sign,
    /// The operating system's random generator failed.
    #[error("the random generator failed")]
    Random,
}

/// Signing keys and tokens of one process; kept across reloads in `Services`.
#[derive(Debug)]
pub struct Assertions {
    store: Store,
    ring: ArcSwap<KeyRing>,
    refreshing: tokio::sync::Mutex<()>,
    cache: TokenCache,
}

impl Assertions {
    /// Opens the key set in `store`, making the first key when there is none.
    ///
    /// # Errors
    /// [`AssertionError::Store`] or [`AssertionError::Generate`].
    pub async fn open(store: Store, rotate_every: Duration) -> Result<Assertions, AssertionError> {
        let assertions = Assertions {
            store,
            ring: ArcSwap::from_pointee(KeyRing::empty()),
            refreshing: tokio::sync::Mutex::new(()),
            cache: TokenCache::new(DEFAULT_CAPACITY),
        };
        assertions.ring(rotate_every).await?;
        Ok(assertions)
    }

    /// The key ring, rotated and re-read first when due.
    async fn ring(&self, rotate_every: Duration) -> Result<Arc<KeyRing>, AssertionError> {
        let due = |ring: &KeyRing| ring.needs_refresh(self.store.now(), rotate_every, KEY_OVERLAP);
        let ring = self.ring.load_full();
        if !due(&ring) {
            return Ok(ring);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        let ring = self.ring.load_full();
        if !due(&ring) {
            return Ok(ring);
        }
        let ring = Arc::new(keys::refresh(&self.store, rotate_every, KEY_OVERLAP).await?);
        self.ring.store(ring.clone());
        Ok(ring)
    }

    /// Every published public key: the signing key and those retired less than
    /// [`KEY_OVERLAP`] ago.
    ///
    /// # Errors
    /// When a due rotation cannot be written.
    pub async fn jwks(&self, settings: &AssertionSettings) -> Result<Jwks, AssertionError> {
        let ring = self.ring(settings.rotate_every).await?;
        Ok(Jwks {
            keys: ring.published(self.store.now(), KEY_OVERLAP),
        })
    }

    /// The token for `active` on `audience`, issued by the portal at `issuer`: the cached
    /// one when it is fresh enough, else a new one signed with the current key.
    ///
    /// # Errors
    /// When a due rotation cannot be written or signing fails.
    pub async fn token_for(
        &self,
        settings: &AssertionSettings,
        issuer: &PortalUrl,
        audience: Audience<'_>,
        active: &ActiveSession,
        roles: &[String],
    ) -> Result<HeaderValue, AssertionError> {
        let session = active.session.key.as_str();
        let identity = identity_digest(active, roles);
        let now = self.store.now();
        if let Some(token) = self.cache.get(session, audience, identity, now) {
            return Ok(token);
        }
        let signed = self
            .sign(settings, issuer, audience, (active, roles), identity)
            .await?;
        let token = signed.token.clone();
        self.cache.insert(session, audience, signed, now);
        Ok(token)
    }

    /// Signs a fresh token; not on the hot path.
    async fn sign(
        &self,
        settings: &AssertionSettings,
        issuer: &PortalUrl,
        audience: Audience<'_>,
        (active, roles): (&ActiveSession, &[String]),
        identity: u64,
    ) -> Result<Signed, AssertionError> {
        let ring = self.ring(settings.rotate_every).await?;
        let key = ring.signing().ok_or(AssertionError::Sign)?;
        let now = self.store.now();
        let lifetime = settings.lifetime.min(MAX_LIFETIME);
        let expires_at = saturating_add(now, lifetime);
        let claims = claims(&issuer.origin(), audience, active, roles, now, expires_at)?;
        let text = token::sign(&claims, key)?;
        let token = HeaderValue::try_from(text).map_err(|_| AssertionError::Sign)?;
        Ok(Signed {
            token,
            identity,
            refresh_at: saturating_add(now, lifetime.mul_f64(0.75)),
            expires_at,
        })
    }
}

/// The claims for `active` on `audience`, valid from `now` (backdated) to `expires_at`.
fn claims(
    issuer: &str,
    audience: Audience<'_>,
    active: &ActiveSession,
    roles: &[String],
    now: SystemTime,
    expires_at: SystemTime,
) -> Result<Claims, AssertionError> {
    let mut jti = [0u8; 16];
    getrandom::fill(&mut jti).map_err(|_| AssertionError::Random)?;
    let user = &active.user;
    let iat = unix_seconds(now);
    Ok(Claims {
        iss: issuer.to_owned(),
        aud: crate::portal::redirect::origin(audience.host, audience.port),
        sub: user.username.as_str().to_owned(),
        email: user.email.clone(),
        name: user.display_name.clone(),
        groups: active.groups.clone(),
        roles: roles.to_vec(),
        amr: active
            .session
            .amr
            .iter()
            .map(|method| method.as_str().to_owned())
            .collect(),
        auth_time: unix_seconds(active.session.auth_time),
        iat,
        nbf: iat.saturating_sub(NOT_BEFORE_BACKDATE.as_secs()),
        exp: unix_seconds(expires_at),
        jti: URL_SAFE_NO_PAD.encode(jti),
    })
}

/// A digest of everything a token says about the person, so a cached token is not served
/// after their name, email, groups or factors changed.
fn identity_digest(active: &ActiveSession, roles: &[String]) -> u64 {
    let mut hasher = DefaultHasher::new();
    let user = &active.user;
    user.username.as_str().hash(&mut hasher);
    user.display_name.hash(&mut hasher);
    user.email.hash(&mut hasher);
    active.groups.hash(&mut hasher);
    roles.hash(&mut hasher);
    active.session.amr.hash(&mut hasher);
    active.session.auth_time.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests;
