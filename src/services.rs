//! The stateful services behind the gateway: store, directory, sign-in and sessions.
//!
//! Opened once at start from the config's `store` URL, session and assertion settings; a reload keeps
//! them (a changed store URL applies after a restart). Everything that needs the database
//! reaches it through here, so the proxy path sees only the session cache.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::assertion::{AssertionError, Assertions};
use crate::authn::PasswordLogin;
use crate::authn::password::{HashParams, Hasher, PasswordError};
use crate::authn::throttle::{Throttle, ThrottlePolicy};
use crate::config::Config;
use crate::identity::{Directory, StoreDirectory};
use crate::session::{CacheConfig, SessionCache, SessionConfig, SessionStore};
use crate::store::{Clock, Store, StoreError, SystemClock};

/// Sign-in attempts (POSTs to portal forms) allowed per client address per minute.
const POSTS_PER_MINUTE: u32 = 30;

/// Why the services could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password hasher refused its parameters.
    #[error(transparent)]
    Hasher(#[from] PasswordError),
    /// The assertion signing keys could not be read or made.
    #[error("{0}")]
    Assertion(#[from] AssertionError),
}

/// The opened services.
#[derive(Debug)]
pub struct Services {
    /// The database.
    pub store: Store,
    /// Users and groups.
    pub directory: StoreDirectory,
    /// Stored sessions and hand-off codes.
    pub sessions: SessionStore,
    /// Sessions as the request path reads them, without a database round trip.
    pub cache: SessionCache,
    /// Password verification with the shared failure counter.
    pub login: PasswordLogin,
    /// Password hashing for changes.
    pub hasher: Hasher,
    /// Per-address limit on portal form submissions.
    pub posts_per_address: DefaultKeyedRateLimiter<IpAddr>,
    /// Assertion signing keys and the token cache.
    pub assertions: Assertions,
}

impl Services {
    /// Opens the store named in `config` with the system clock.
    ///
    /// # Errors
    /// See [`ServicesError`].
    pub async fn open(config: &Config) -> Result<Services, ServicesError> {
        Services::open_with(config, Arc::new(SystemClock), HashParams::OWASP).await
    }

    /// Opens the store with `clock` and password parameters (tests use a manual clock).
    ///
    /// # Errors
    /// See [`ServicesError`].
    pub async fn open_with(
        config: &Config,
        clock: Arc<dyn Clock>,
        params: HashParams,
    ) -> Result<Services, ServicesError> {
        let store = Store::open_with_clock(&config.store, clock).await?;
        let hasher = Hasher::new(params)?;
        let directory = StoreDirectory::new(store.clone(), hasher.clone());
        let settings = &config.session;
        let session_config = SessionConfig {
            idle_timeout: settings.idle_timeout,
            lifetime: settings.lifetime,
            remember_me: settings.remember_me,
            ..SessionConfig::default()
        };
        let sessions = SessionStore::new(store.clone(), session_config);
        let shared: Arc<dyn Directory> = Arc::new(directory.clone());
        let cache_config = CacheConfig {
            max_staleness: settings.cache_staleness,
            ..CacheConfig::default()
        };
        let cache = SessionCache::new(sessions.clone(), shared.clone(), cache_config);
        let throttle = Throttle::new(store.clone(), ThrottlePolicy::default());
        let login = PasswordLogin::new(shared, hasher.clone(), throttle);
        let assertions = Assertions::open(store.clone(), config.assertion.rotate_every).await?;
        let quota = Quota::per_minute(NonZeroU32::new(POSTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN));
        Ok(Services {
            store,
            directory,
            sessions,
            cache,
            login,
            hasher,
            posts_per_address: RateLimiter::keyed(quota),
            assertions,
        })
    }
}
