//! Signing keys: generation, the `signing_keys` table, rotation and the published set.
//!
//! Owns the `signing_keys` table. Trusts the operating system random generator (through
//! rcgen and ring) for key material and the store to commit atomically. Guarantees: the
//! private half of a key never appears in Debug output, logs or errors; a key retired by
//! rotation stays published for [`super::KEY_OVERLAP`] after it stopped signing.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::AssertionError;
use super::token::Jwk;
use crate::store::{Store, StoreError, from_millis, saturating_add, to_millis};

/// The only algorithm keys are made for.
const ALGORITHM: &str = "ES256";

/// How often a process re-reads the table even when nothing is due, so keys that another
/// gateway sharing the store created are published here too.
const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// One P-256 key: the private half for signing, the public half for the JWKS.
pub(crate) struct SigningKey {
    /// Short hash of the public key, sent as `kid`.
    pub(crate) kid: String,
    /// The private key as jsonwebtoken uses it.
    pub(crate) encoding: EncodingKey,
    /// base64url of the public point's x coordinate.
    x: String,
    /// base64url of the public point's y coordinate.
    y: String,
    /// When it was made.
    created_at: SystemTime,
    /// When a newer key replaced it; `None` while it signs.
    retired_at: Option<SystemTime>,
}

impl fmt::Debug for SigningKey {
    /// The key id and times only; the private key is never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("private_key", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

impl SigningKey {
    /// The public half as a JWK.
    pub(crate) fn jwk(&self) -> Jwk {
        Jwk::p256(&self.kid, &self.x, &self.y)
    }

    /// Whether it is still in the JWKS at `now`.
    fn published_at(&self, now: SystemTime, overlap: Duration) -> bool {
        self.retired_at
            .is_none_or(|retired| now < saturating_add(retired, overlap))
    }
}

/// A new key as it is written to the table.
struct NewKey {
    kid: String,
    private_der: Vec<u8>,
    x: String,
    y: String,
}

/// Makes a P-256 key pair.
fn generate() -> Result<NewKey, AssertionError> {
    let pair = rcgen::KeyPair::generate().map_err(|_| AssertionError::Generate)?;
    let point = pair.public_key_raw();
    // Uncompressed SEC1 point: 0x04, then 32 bytes of x and 32 bytes of y.
    let (Some(0x04), 65) = (point.first().copied(), point.len()) else {
        return Err(AssertionError::Generate);
    };
    let digest = Sha256::digest(point);
    Ok(NewKey {
        kid: URL_SAFE_NO_PAD.encode(&digest[..12]),
        private_der: pair.serialize_der(),
        x: URL_SAFE_NO_PAD.encode(&point[1..33]),
        y: URL_SAFE_NO_PAD.encode(&point[33..]),
    })
}

/// The keys one process knows, newest first, as read from the table.
#[derive(Debug)]
pub(crate) struct KeyRing {
    keys: Vec<Arc<SigningKey>>,
    loaded_at: SystemTime,
}

impl KeyRing {
    /// A ring with no keys, due for loading at once.
    pub(crate) fn empty() -> KeyRing {
        KeyRing {
            keys: Vec::new(),
            loaded_at: SystemTime::UNIX_EPOCH,
        }
    }

    /// The key that signs: the newest one not retired.
    pub(crate) fn signing(&self) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|key| key.retired_at.is_none())
    }

    /// The public keys published at `now`.
    pub(crate) fn published(&self, now: SystemTime, overlap: Duration) -> Vec<Jwk> {
        self.keys
            .iter()
            .filter(|key| key.published_at(now, overlap))
            .map(|key| key.jwk())
            .collect()
    }

    /// Whether the ring must be read again (and the table maybe changed) before use: no
    /// signing key, the signing key is due for rotation, a retired key is past its overlap,
    /// or the periodic reload is due.
    pub(crate) fn needs_refresh(
        &self,
        now: SystemTime,
        rotate_every: Duration,
        overlap: Duration,
    ) -> bool {
        let Some(signing) = self.signing() else {
            return true;
        };
        now >= saturating_add(signing.created_at, rotate_every)
            || now >= saturating_add(self.loaded_at, RELOAD_EVERY)
            || now < self.loaded_at
            || self.keys.iter().any(|key| !key.published_at(now, overlap))
    }
}

/// Brings the table up to date at `now` and reads it: makes a key when none signs or the
/// signing key is older than `rotate_every` (retiring the others), and deletes retired keys
/// past `overlap`. One transaction, so gateways sharing the store agree on the result.
pub(crate) async fn refresh(
    store: &Store,
    rotate_every: Duration,
    overlap: Duration,
) -> Result<KeyRing, AssertionError> {
    let now = store.now();
    let mut tx = store.begin("rotating signing keys").await?;
    let newest: Option<i64> =
        sqlx::query("SELECT MAX(created_at) FROM signing_keys WHERE retired_at IS NULL")
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query("reading signing keys"))?
            .try_get(0)
            .map_err(StoreError::query("reading signing keys"))?;
    let due =
        newest.is_none_or(|created| saturating_add(from_millis(created), rotate_every) <= now);
    if due {
        let key = generate()?;
        insert(&mut tx, &key, now).await?;
        tracing::info!(target: "portcullis::audit", event = "signing_key_created", kid = %key.kid,
            "new assertion signing key");
    }
    let expired_before = to_millis(now).saturating_sub(crate::store::duration_millis(overlap));
    sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at <= $1")
        .bind(expired_before)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("deleting retired signing keys"))?;
    tx.commit()
        .await
        .map_err(StoreError::query("rotating signing keys"))?;
    load(store, now).await
}

/// Writes `key` as the signing key and retires every other key that still signs.
async fn insert(
    tx: &mut crate::store::Tx,
    key: &NewKey,
    now: SystemTime,
) -> Result<(), StoreError> {
    let now = to_millis(now);
    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::query("retiring signing keys"))?;
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, private_key, public_x, public_y, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.kid)
    .bind(ALGORITHM)
    .bind(STANDARD.encode(&key.private_der))
    .bind(&key.x)
    .bind(&key.y)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::query("storing a signing key"))?;
    Ok(())
}

/// Reads every key, newest first.
async fn load(store: &Store, now: SystemTime) -> Result<KeyRing, AssertionError> {
    let rows = sqlx::query(
        "SELECT kid, algorithm, private_key, public_x, public_y, created_at, retired_at \
         FROM signing_keys ORDER BY created_at DESC, kid",
    )
    .fetch_all(store.pool())
    .await
    .map_err(StoreError::query("reading signing keys"))?;
    let keys = rows
        .iter()
        .map(key_from_row)
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(KeyRing {
        keys,
        loaded_at: now,
    })
}

fn key_from_row(row: &sqlx::any::AnyRow) -> Result<Arc<SigningKey>, StoreError> {
    let read = StoreError::query("reading signing keys");
    let algorithm: String = row.try_get("algorithm").map_err(read)?;
    if algorithm != ALGORITHM {
        return Err(StoreError::corrupt("signing key algorithm", algorithm));
    }
    let private: String = row.try_get("private_key").map_err(read)?;
    // The detail never names the value: it is a private key.
    let der = STANDARD
        .decode(private)
        .map_err(|_| StoreError::corrupt("signing key", "private key is not base64"))?;
    let retired_at: Option<i64> = row.try_get("retired_at").map_err(read)?;
    Ok(Arc::new(SigningKey {
        kid: row.try_get("kid").map_err(read)?,
        encoding: EncodingKey::from_ec_der(&der),
        x: row.try_get("public_x").map_err(read)?,
        y: row.try_get("public_y").map_err(read)?,
        created_at: from_millis(row.try_get("created_at").map_err(read)?),
        retired_at: retired_at.map(from_millis),
    }))
}
