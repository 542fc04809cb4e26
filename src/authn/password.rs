//! Password hashing with Argon2id (RFC 9106) at the OWASP Password Storage Cheat Sheet
//! parameters: 19 MiB of memory, 2 passes, 1 lane.
//!
//! Owns: hashing, verification, the rehash decision and the dummy hash that is verified
//! when there is no real one, so a missing user costs the same work as a wrong password
//! (CASES K21). Guarantees: hashing runs off the async workers and at most one hash per
//! CPU runs at once, so a burst of logins queues instead of exhausting memory; password
//! hashes print as `[redacted]`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::Error as HashError;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::secret::{Secret, random_bytes};

/// Longest password accepted for hashing; the portal's body limit bounds verification.
pub const MAX_PASSWORD_BYTES: usize = 4096;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    /// Memory per hash in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashParams {
    /// The OWASP recommendation for Argon2id: m=19456 KiB, t=2, p=1.
    pub const OWASP: HashParams = HashParams {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams::OWASP
    }
}

/// A stored password hash in PHC string form. Debug prints `[redacted]`.
#[derive(Clone)]
pub struct PasswordHash(String);

/// A failure to hash or verify a password. Messages never contain the password or hash.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The configured cost parameters are outside what Argon2 allows.
    #[error("password hash parameters are invalid: {0}")]
    Params(String),
    /// The password is empty.
    #[error("password is empty")]
    Empty,
    /// The password is longer than [`MAX_PASSWORD_BYTES`].
    #[error("password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// A stored hash is not an Argon2 PHC string.
    #[error("stored password hash is malformed")]
    MalformedHash,
    /// Argon2 failed (memory, randomness).
    #[error("hashing password: {0}")]
    Hash(String),
    /// The blocking worker that hashes was cancelled.
    #[error("password hashing worker stopped")]
    Worker,
}

/// Hashes and verifies passwords; cheap to clone, clones share the concurrency limit.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: HashParams,
    argon_params: Params,
    /// A hash of a random password nobody knows, at the current parameters.
    dummy: PasswordHash,
    /// One permit per CPU: each Argon2 run holds `memory_kib` of memory.
    permits: Semaphore,
    /// Completed verifications against stored hashes and against the dummy, for metrics
    /// and for tests that show a missing user really cost a verification.
    verified_stored: AtomicU64,
    verified_dummy: AtomicU64,
}

impl PasswordHash {
    /// Checks that `phc` is a PHC string naming an Argon2 variant.
    ///
    /// # Errors
    /// [`PasswordError::MalformedHash`] otherwise.
    pub fn from_phc(phc: impl Into<String>) -> Result<PasswordHash, PasswordError> {
        let phc = phc.into();
        let parsed = argon2::PasswordHash::new(&phc).map_err(|_| PasswordError::MalformedHash)?;
        Algorithm::try_from(parsed.algorithm.as_str()).map_err(|_| PasswordError::MalformedHash)?;
        Ok(PasswordHash(phc))
    }

    /// The PHC string, for storing.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for PasswordHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for PasswordHash {}

impl Hasher {
    /// A hasher with `params`; computes the dummy hash once, so this takes one hash's time.
    ///
    /// # Errors
    /// [`PasswordError::Params`] for parameters Argon2 rejects, [`PasswordError::Hash`] when
    /// the dummy hash cannot be made.
    pub fn new(params: HashParams) -> Result<Hasher, PasswordError> {
        let argon_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|error| PasswordError::Params(error.to_string()))?;
        let unknown: [u8; 32] =
            random_bytes().map_err(|error| PasswordError::Hash(error.to_string()))?;
        let dummy = hash_with(&argon_params, &unknown)?;

        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let permits = Semaphore::new(cpus);
        let inner = Inner {
            params,
            argon_params,
            dummy,
            permits,
            verified_stored: AtomicU64::new(0),
            verified_dummy: AtomicU64::new(0),
        };
        Ok(Hasher {
            inner: Arc::new(inner),
        })
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> HashParams {
        self.inner.params
    }

    /// Hashes `password` with a fresh random salt.
    ///
    /// # Errors
    /// [`PasswordError::Empty`], [`PasswordError::TooLong`], or a hashing failure.
    pub async fn hash(&self, password: &Secret) -> Result<PasswordHash, PasswordError> {
        check_length(password)?;
        let inner = Arc::clone(&self.inner);
        let password = password.clone();
        self.run_blocking(move || hash_with(&inner.argon_params, password.expose().as_bytes()))
            .await
    }

    /// A hash that no known password matches: a PHC string at this hasher's parameters with
    /// a random salt and a random 32-byte output instead of a computed one. For accounts
    /// whose password is set some other way (a users file entry without a hash). Verifying
    /// against it costs the same work as against a real hash, and finding a password that
    /// matches is as hard as inverting Argon2 for a random output. No Argon2 run is needed.
    ///
    /// # Errors
    /// [`PasswordError::Hash`] when no random bytes could be had.
    pub fn unusable_hash(&self) -> Result<PasswordHash, PasswordError> {
        let random = |error: super::RandomError| PasswordError::Hash(error.to_string());
        let salt: [u8; 16] = random_bytes().map_err(random)?;
        let output: [u8; Params::DEFAULT_OUTPUT_LEN] = random_bytes().map_err(random)?;
        let params = &self.inner.params;
        // PHC string format: base64 without padding, standard alphabet.
        let phc = format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            params.memory_kib,
            params.iterations,
            params.parallelism,
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(output)
        );
        PasswordHash::from_phc(phc)
    }

    /// Whether `password` matches `hash`. The comparison inside Argon2 is constant-time.
    ///
    /// # Errors
    /// [`PasswordError::MalformedHash`] when `hash` does not parse; callers treat every
    /// error as a failed verification.
    pub async fn verify(
        &self,
        hash: &PasswordHash,
        password: &Secret,
    ) -> Result<bool, PasswordError> {
        let hash = hash.clone();
        let password = password.clone();
        let matched = self
            .run_blocking(move || verify_with(&hash, &password))
            .await?;
        self.inner.verified_stored.fetch_add(1, Ordering::Relaxed);
        Ok(matched)
    }

    /// Verifies `password` against the dummy hash and discards the answer: the same work
    /// as [`Hasher::verify`] on a current hash, for when there is no real hash to check.
    ///
    /// # Errors
    /// Only if the worker fails; the outcome of the comparison is never reported.
    pub async fn verify_dummy(&self, password: &Secret) -> Result<(), PasswordError> {
        let dummy = self.inner.dummy.clone();
        let password = password.clone();
        self.run_blocking(move || verify_with(&dummy, &password).map(|_| ()))
            .await?;
        self.inner.verified_dummy.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// How many verifications have completed: `(against stored hashes, against the dummy)`.
    pub fn verification_counts(&self) -> (u64, u64) {
        let stored = self.inner.verified_stored.load(Ordering::Relaxed);
        (stored, self.inner.verified_dummy.load(Ordering::Relaxed))
    }

    /// Whether `hash` was made with other parameters than this hasher's (or another
    /// algorithm or version) and should be replaced after a successful login.
    pub fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(parsed) = argon2::PasswordHash::new(hash.as_phc()) else {
            return true;
        };
        let Ok(stored) = Params::try_from(&parsed) else {
            return true;
        };
        let current = &self.inner.argon_params;
        let same_algorithm = parsed.algorithm == Algorithm::Argon2id.ident();
        let same_version = parsed.version == Some(Version::V0x13.into());
        let same_cost = stored.m_cost() == current.m_cost()
            && stored.t_cost() == current.t_cost()
            && stored.p_cost() == current.p_cost();
        let same_length = stored.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)
            == current.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        !(same_algorithm && same_version && same_cost && same_length)
    }

    /// Whether the dummy hash was made with this hasher's current parameters; it always is,
    /// and tests use this to show that a missing user costs a full verification.
    pub fn dummy_matches_current_params(&self) -> bool {
        !self.needs_rehash(&self.inner.dummy)
    }

    async fn run_blocking<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, PasswordError> + Send + 'static,
    {
        let permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Worker)?;
        let outcome = tokio::task::spawn_blocking(work).await;
        drop(permit);
        outcome.map_err(|_| PasswordError::Worker)?
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("params", &self.inner.params)
            .finish_non_exhaustive()
    }
}

fn check_length(password: &Secret) -> Result<(), PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    if password.expose().len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

fn hash_with(params: &Params, password: &[u8]) -> Result<PasswordHash, PasswordError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let hash = argon
        .hash_password(password)
        .map_err(|error| PasswordError::Hash(error.to_string()))?;
    Ok(PasswordHash(hash.to_string()))
}

/// Verifies with the parameters recorded in `hash`, so old hashes keep working.
fn verify_with(hash: &PasswordHash, password: &Secret) -> Result<bool, PasswordError> {
    let parsed =
        argon2::PasswordHash::new(hash.as_phc()).map_err(|_| PasswordError::MalformedHash)?;
    match Argon2::default().verify_password(password.expose().as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(HashError::PasswordInvalid) => Ok(false),
        Err(HashError::Algorithm | HashError::Version | HashError::ParamsInvalid) => {
            Err(PasswordError::MalformedHash)
        }
        Err(error) => Err(PasswordError::Hash(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cheapest parameters Argon2 accepts, for tests that are not about cost.
    const CHEAP: HashParams = HashParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn owasp_hash_verifies_only_the_right_password() {
        let hasher = Hasher::new(HashParams::OWASP).unwrap();
        let hash = hasher.hash(&Secret::new("Tr0ub4dor&3")).await.unwrap();

        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            hasher
                .verify(&hash, &Secret::new("Tr0ub4dor&3"))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&hash, &Secret::new("tr0ub4dor&3"))
                .await
                .unwrap()
        );
        assert!(!hasher.needs_rehash(&hash));
    }

    #[tokio::test]
    async fn hashes_of_the_same_password_differ_by_salt() {
        let hasher = Hasher::new(CHEAP).unwrap();
        let first = hasher.hash(&Secret::new("same")).await.unwrap();
        let second = hasher.hash(&Secret::new("same")).await.unwrap();
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn hash_from_other_parameters_needs_rehash_and_still_verifies() {
        let old = Hasher::new(CHEAP).unwrap();
        let current = Hasher::new(HashParams::OWASP).unwrap();
        let hash = old.hash(&Secret::new("pw")).await.unwrap();

        assert!(current.needs_rehash(&hash));
        assert!(current.verify(&hash, &Secret::new("pw")).await.unwrap());
    }

    #[test]
    fn other_algorithms_and_garbage_need_rehash() {
        let hasher = Hasher::new(CHEAP).unwrap();
        let argon2i = hash_with_algorithm(Algorithm::Argon2i);
        assert!(hasher.needs_rehash(&argon2i));
        assert!(PasswordHash::from_phc("$2b$12$abcdefghijklmnopqrstuv").is_err());
        assert!(PasswordHash::from_phc("not a hash").is_err());
    }

    #[tokio::test]
    async fn unusable_hashes_parse_at_current_parameters_and_match_nothing() {
        let hasher = Hasher::new(CHEAP).unwrap();
        let first = hasher.unusable_hash().unwrap();
        let second = hasher.unusable_hash().unwrap();

        assert!(first.as_phc().starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
        assert!(!hasher.needs_rehash(&first));
        assert_ne!(first, second);
        for guess in ["", "password", "admin"] {
            let matched = hasher.verify(&first, &Secret::new(guess)).await.unwrap();
            assert!(!matched, "{guess:?}");
        }
    }

    #[test]
    fn dummy_hash_uses_current_parameters() {
        let hasher = Hasher::new(CHEAP).unwrap();
        assert!(hasher.dummy_matches_current_params());
    }

    #[tokio::test]
    async fn empty_and_oversized_passwords_are_refused_for_hashing() {
        let hasher = Hasher::new(CHEAP).unwrap();
        let empty = hasher.hash(&Secret::new("")).await.unwrap_err();
        assert!(matches!(empty, PasswordError::Empty));
        let long = Secret::new("x".repeat(MAX_PASSWORD_BYTES + 1));
        assert!(matches!(
            hasher.hash(&long).await.unwrap_err(),
            PasswordError::TooLong
        ));
    }

    #[tokio::test]
    async fn hashes_never_show_in_debug_output() {
        let hasher = Hasher::new(CHEAP).unwrap();
        let hash = hasher.hash(&Secret::new("pw")).await.unwrap();
        assert_eq!(format!("{hash:?}"), "[redacted]");
        assert!(!format!("{hasher:?}").contains("argon2id$"));
    }

    fn hash_with_algorithm(algorithm: Algorithm) -> PasswordHash {
        let params = Params::new(CHEAP.memory_kib, 1, 1, None).unwrap();
        let argon = Argon2::new(algorithm, Version::V0x13, params);
        PasswordHash(argon.hash_password(b"pw").unwrap().to_string())
    }
}
