//! The in-memory session cache the request path reads, so a request with a valid session
//! costs no database round trip.
//!
//! Staleness is bounded two ways. An entry is served for at most `max_staleness` (500 ms)
//! after it was read from the store. And the store's revocation generation is re-read at
//! most every `generation_check_interval` (250 ms) when the cache is used; when it moved,
//! every entry is dropped. Revocations committed by this process drop entries at once
//! (the store's local epoch). So a revocation anywhere is honoured within a second.
//!
//! Entries carry the user record with groups, which the policy decision needs; group
//! changes bump the generation like revocations do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::{AuthMethod, Session, SessionError, SessionId, SessionKey, SessionStore};
use crate::identity::{Directory, UserRecord};
use crate::store::duration_serde;

/// Bounds on staleness and size.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Longest time an entry is served without re-reading the store.
    #[serde(with = "duration_serde")]
    pub max_staleness: Duration,
    /// Longest time between reads of the revocation generation while the cache is used.
    #[serde(with = "duration_serde")]
    pub generation_check_interval: Duration,
    /// Most entries kept; past it, stale entries go, then all.
    pub capacity: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_staleness: Duration::from_millis(500),
            generation_check_interval: Duration::from_millis(250),
            capacity: 100_000,
        }
    }
}

/// A usable session with its user, as the policy decision needs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveSession {
    /// The session.
    pub session: Session,
    /// Its user, with groups.
    pub user: UserRecord,
    /// The user's group names, in order, as the policy reads them.
    pub groups: Vec<String>,
}

/// The cache in front of [`SessionStore::lookup`].
#[derive(Debug)]
pub struct SessionCache {
    sessions: SessionStore,
    directory: Arc<dyn Directory>,
    config: CacheConfig,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<SessionKey, Entry>,
    /// Moves whenever all entries are dropped; an entry from an older epoch is never served.
    epoch: u64,
    /// The revocation generation last read from the store.
    generation: Option<u64>,
    /// When it was read.
    checked_at: Option<SystemTime>,
    /// The store's local revocation epoch last seen.
    local_revocations: u64,
}

#[derive(Debug)]
struct Entry {
    value: Arc<ActiveSession>,
    loaded_at: SystemTime,
    epoch: u64,
}

impl SessionCache {
    /// A cache over `sessions`, loading users from `directory`.
    pub fn new(sessions: SessionStore, directory: Arc<dyn Directory>, config: CacheConfig) -> Self {
        SessionCache {
            sessions,
            directory,
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// The store behind the cache.
    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// The usable session behind a cookie value, with its user; `None` for a malformed
    /// value or a session that is unknown, revoked, expired, idle or whose user is gone or
    /// disabled (at most the staleness bound late).
    ///
    /// # Errors
    /// A store or directory failure; callers treat it as no session.
    pub async fn get(
        &self,
        cookie_value: &str,
    ) -> Result<Option<Arc<ActiveSession>>, SessionError> {
        let Some(id) = SessionId::from_cookie_value(cookie_value) else {
            return Ok(None);
        };
        self.get_by_key(&id.key()).await
    }

    /// As [`SessionCache::get`], by session key.
    ///
    /// # Errors
    /// A store or directory failure.
    pub async fn get_by_key(
        &self,
        key: &SessionKey,
    ) -> Result<Option<Arc<ActiveSession>>, SessionError> {
        let now = self.sessions.now();
        let epoch = self.sync_generation(now).await?;
        if let Some(hit) = self.fresh_entry(key, epoch, now) {
            return Ok(Some(hit));
        }

        let loaded = self.load(key, now).await?;
        let mut state = self.lock();
        match &loaded {
            Some(value) if state.epoch == epoch => state.insert(key, value, now, &self.config),
            Some(_) => {}
            None => {
                state.entries.remove(key);
            }
        }
        Ok(loaded)
    }

    /// Records a completed factor and drops the cached copy, so this process sees the new
    /// list at once.
    ///
    /// # Errors
    /// As [`SessionStore::add_factor`].
    pub async fn add_factor(
        &self,
        key: &SessionKey,
        method: AuthMethod,
    ) -> Result<Session, SessionError> {
        let session = self.sessions.add_factor(key, method).await;
        self.invalidate(key);
        session
    }

    /// Drops the cached copy of one session.
    pub fn invalidate(&self, key: &SessionKey) {
        self.lock().entries.remove(key);
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// How many entries are held, fresh or not.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops everything when this process committed a revocation, and re-reads the
    /// revocation generation when the last read is older than the check interval.
    /// Returns the epoch entries must carry to be served.
    async fn sync_generation(&self, now: SystemTime) -> Result<u64, SessionError> {
        let local = self.sessions.store.local_revocation_epoch();
        {
            let mut state = self.lock();
            if state.local_revocations != local {
                state.local_revocations = local;
                state.clear();
            }
            if state.generation_is_fresh(now, self.config.generation_check_interval) {
                return Ok(state.epoch);
            }
        }

        let generation = self.sessions.store.revocation_generation().await?;
        let mut state = self.lock();
        if state.generation.is_some_and(|known| known != generation) {
            state.clear();
        }
        state.generation = Some(generation);
        state.checked_at = Some(now);
        Ok(state.epoch)
    }

    fn fresh_entry(
        &self,
        key: &SessionKey,
        epoch: u64,
        now: SystemTime,
    ) -> Option<Arc<ActiveSession>> {
        let state = self.lock();
        let entry = state.entries.get(key)?;
        let fresh = entry.epoch == epoch
            && within(entry.loaded_at, now, self.config.max_staleness)
            && entry.value.session.is_active_at(now);
        fresh.then(|| Arc::clone(&entry.value))
    }

    /// Reads the session and its user from the store, touching the session when its
    /// `last_seen` is older than the touch interval.
    async fn load(
        &self,
        key: &SessionKey,
        now: SystemTime,
    ) -> Result<Option<Arc<ActiveSession>>, SessionError> {
        let Some(mut session) = self.sessions.lookup_key(key).await? else {
            return Ok(None);
        };
        let Some(user) = self.directory.lookup(&session.username).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        let touch_interval = self.sessions.config.touch_interval;
        if !within(session.last_seen_at, now, touch_interval) && self.sessions.touch(key).await? {
            session.last_seen_at = now;
        }
        let groups = user
            .groups
            .iter()
            .map(|group| group.as_str().to_owned())
            .collect();
        Ok(Some(Arc::new(ActiveSession {
            session,
            user,
            groups,
        })))
    }

    /// The state, even if a thread panicked while holding it: every update leaves it
    /// consistent, and a poisoned cache must not stop authentication.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn clear(&mut self) {
        self.entries.clear();
        self.epoch = self.epoch.wrapping_add(1);
    }

    fn generation_is_fresh(&self, now: SystemTime, interval: Duration) -> bool {
        self.generation.is_some() && self.checked_at.is_some_and(|at| within(at, now, interval))
    }

    fn insert(
        &mut self,
        key: &SessionKey,
        value: &Arc<ActiveSession>,
        now: SystemTime,
        config: &CacheConfig,
    ) {
        if self.entries.len() >= config.capacity {
            let epoch = self.epoch;
            self.entries.retain(|_, entry| {
                entry.epoch == epoch && within(entry.loaded_at, now, config.max_staleness)
            });
        }
        if self.entries.len() >= config.capacity {
            self.clear();
        }
        let entry = Entry {
            value: Arc::clone(value),
            loaded_at: now,
            epoch: self.epoch,
        };
        self.entries.insert(key.clone(), entry);
    }
}

/// Whether `now` is at or after `since` and less than `bound` later. A clock that went
/// backwards counts as stale.
fn within(since: SystemTime, now: SystemTime, bound: Duration) -> bool {
    now.duration_since(since)
        .is_ok_and(|elapsed| elapsed < bound)
}
