//! Tokens already signed, kept per session and app origin so a request with a valid session
//! costs a map lookup instead of a signature.
//!
//! Owns nothing persistent. Guarantees: a token is served only for the session, origin and
//! identity it was signed for, and only until a quarter of its lifetime is left; the map
//! holds at most its capacity of sessions, and expired tokens are swept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use http::HeaderValue;

/// Sessions whose tokens are kept, at most.
pub const DEFAULT_CAPACITY: usize = 50_000;

/// How often expired tokens are swept, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Which app a token is for: the host and port the browser used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Audience<'a> {
    /// The canonical host.
    pub host: &'a str,
    /// The port, when not 443.
    pub port: Option<u16>,
}

/// A signed token with the times that decide its reuse.
#[derive(Clone)]
pub(crate) struct Signed {
    /// The token, ready to be a header value.
    pub(crate) token: HeaderValue,
    /// A digest of the identity it carries (see `super::identity_digest`).
    pub(crate) identity: u64,
    /// From here on a fresh token is made.
    pub(crate) refresh_at: SystemTime,
    /// Its `exp`.
    pub(crate) expires_at: SystemTime,
}

struct Entry {
    host: String,
    port: Option<u16>,
    signed: Signed,
}

#[derive(Default)]
struct State {
    /// Session key to its tokens, one per app origin (few per session).
    sessions: HashMap<String, Vec<Entry>>,
    swept_at: Option<SystemTime>,
}

/// The cache; shared by every request.
pub(crate) struct TokenCache {
    capacity: usize,
    state: Mutex<State>,
}

impl std::fmt::Debug for TokenCache {
    /// Counts only: the tokens are credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity)
            .field("sessions", &self.len())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// An empty cache for `capacity` sessions (at least one).
    pub(crate) fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
        }
    }

    /// The token for `session` and `audience` if one was signed for `identity` and is not
    /// yet due for refresh at `now`.
    pub(crate) fn get(
        &self,
        session: &str,
        audience: Audience<'_>,
        identity: u64,
        now: SystemTime,
    ) -> Option<HeaderValue> {
        let state = self.state.lock().ok()?;
        let entries = state.sessions.get(session)?;
        let entry = entries
            .iter()
            .find(|entry| entry.host == audience.host && entry.port == audience.port)?;
        let fresh = entry.signed.identity == identity && now < entry.signed.refresh_at;
        fresh.then(|| entry.signed.token.clone())
    }

    /// Keeps `signed` for `session` and `audience`, replacing an older one.
    pub(crate) fn insert(
        &self,
        session: &str,
        audience: Audience<'_>,
        signed: Signed,
        now: SystemTime,
    ) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let sweep_due = state
            .swept_at
            .is_none_or(|at| now < at || now >= at + SWEEP_EVERY);
        let full = state.sessions.len() >= self.capacity && !state.sessions.contains_key(session);
        if sweep_due || full {
            state.sweep(now);
        }
        if state.sessions.len() >= self.capacity && !state.sessions.contains_key(session) {
            state.evict_soonest();
        }
        let entries = state.sessions.entry(session.to_owned()).or_default();
        let same = |entry: &Entry| entry.host == audience.host && entry.port == audience.port;
        match entries.iter_mut().find(|entry| same(entry)) {
            Some(entry) => entry.signed = signed,
            None => entries.push(Entry {
                host: audience.host.to_owned(),
                port: audience.port,
                signed,
            }),
        }
    }

    /// Sessions with tokens kept.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().map_or(0, |state| state.sessions.len())
    }
}

impl State {
    /// Drops expired tokens and sessions left without any.
    fn sweep(&mut self, now: SystemTime) {
        self.sessions.retain(|_, entries| {
            entries.retain(|entry| now < entry.signed.expires_at);
            !entries.is_empty()
        });
        self.swept_at = Some(now);
    }

    /// Drops the session whose tokens all expire first.
    fn evict_soonest(&mut self) {
        let soonest = self
            .sessions
            .iter()
            .min_by_key(|(_, entries)| entries.iter().map(|entry| entry.signed.expires_at).max())
            .map(|(session, _)| session.clone());
        if let Some(session) = soonest {
            self.sessions.remove(&session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: Audience<'static> = Audience {
        host: "app.example.test",
        port: None,
    };

    fn signed(token: &'static str, now: SystemTime, identity: u64) -> Signed {
        Signed {
            token: HeaderValue::from_static(token),
            identity,
            refresh_at: now + Duration::from_secs(45),
            expires_at: now + Duration::from_secs(60),
        }
    }

    #[test]
    fn token_is_reused_for_the_same_session_origin_and_identity_until_refresh() {
        let cache = TokenCache::new(10);
        let now = SystemTime::now();
        cache.insert("s1", APP, signed("t1", now, 7), now);
        assert_eq!(cache.get("s1", APP, 7, now).unwrap(), "t1");
        assert!(cache.get("s2", APP, 7, now).is_none(), "another session");
        let other_port = Audience {
            port: Some(8443),
            ..APP
        };
        assert!(
            cache.get("s1", other_port, 7, now).is_none(),
            "another origin"
        );
        assert!(cache.get("s1", APP, 8, now).is_none(), "changed identity");
        let later = now + Duration::from_secs(45);
        assert!(cache.get("s1", APP, 7, later).is_none(), "due for refresh");
    }

    #[test]
    fn cache_stays_within_capacity_and_sweeps_expired_tokens() {
        let cache = TokenCache::new(2);
        let now = SystemTime::now();
        cache.insert("s1", APP, signed("t1", now, 1), now);
        let later = now + Duration::from_secs(1);
        cache.insert("s2", APP, signed("t2", later, 1), later);
        cache.insert("s3", APP, signed("t3", later, 1), later);
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get("s1", APP, 1, later).is_none(),
            "soonest expiry went"
        );
        assert!(cache.get("s3", APP, 1, later).is_some());

        let much_later = later + Duration::from_secs(120);
        cache.insert("s4", APP, signed("t4", much_later, 1), much_later);
        assert_eq!(cache.len(), 1, "expired tokens were swept");
    }
}
