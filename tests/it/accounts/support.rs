//! One test environment: a temporary SQLite store, a manual clock, the directory, the
//! password login and the session store, plus a way to open a second "process" on the
//! same file.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use portcullis::authn::password::{HashParams, Hasher};
use portcullis::authn::throttle::{Throttle, ThrottlePolicy};
use portcullis::authn::{PasswordLogin, Secret};
use portcullis::identity::{GroupName, NewUser, StoreDirectory, UserRecord, Username};
use portcullis::session::{
    AuthMethod, CacheConfig, ClientInfo, NewSession, Session, SessionCache, SessionConfig,
    SessionId, SessionStore,
};
use portcullis::store::{ManualClock, Store};
use tempfile::TempDir;

/// The cheapest Argon2 parameters, for tests that are not about hashing cost.
pub const CHEAP: HashParams = HashParams {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

/// 2026-01-01T00:00:00Z.
pub fn start_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

pub struct Env {
    /// Kept so the directory outlives the test.
    pub dir: Arc<TempDir>,
    pub clock: ManualClock,
    pub store: Store,
    pub hasher: Hasher,
    pub directory: StoreDirectory,
    pub sessions: SessionStore,
    pub throttle: Throttle,
    pub login: PasswordLogin,
}

impl Env {
    pub async fn new() -> Env {
        Env::with_hasher(Hasher::new(CHEAP).unwrap()).await
    }

    pub async fn with_hasher(hasher: Hasher) -> Env {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let clock = ManualClock::new(start_time());
        Env::open(dir, clock, hasher).await
    }

    /// Another process on the same database file and the same clock.
    pub async fn second_process(&self) -> Env {
        self.second_process_with(self.hasher.clone()).await
    }

    /// Another process on the same database and clock, hashing with `hasher`.
    pub async fn second_process_with(&self, hasher: Hasher) -> Env {
        Env::open(Arc::clone(&self.dir), self.clock.clone(), hasher).await
    }

    async fn open(dir: Arc<TempDir>, clock: ManualClock, hasher: Hasher) -> Env {
        let url = format!("sqlite://{}/data/portcullis.db", dir.path().display());
        let store = Store::open_with_clock(&url, Arc::new(clock.clone()))
            .await
            .unwrap();
        let directory = StoreDirectory::new(store.clone(), hasher.clone());
        let sessions = SessionStore::new(store.clone(), SessionConfig::default());
        let throttle = Throttle::new(store.clone(), ThrottlePolicy::default());
        let shared = Arc::new(directory.clone());
        let login = PasswordLogin::new(shared, hasher.clone(), throttle.clone());
        Env {
            dir,
            clock,
            store,
            hasher,
            directory,
            sessions,
            throttle,
            login,
        }
    }

    pub fn cache(&self) -> SessionCache {
        self.cache_with(CacheConfig::default())
    }

    pub fn cache_with(&self, config: CacheConfig) -> SessionCache {
        let directory = Arc::new(self.directory.clone());
        SessionCache::new(self.sessions.clone(), directory, config)
    }

    pub async fn add_user(&self, name: &str, password: &str, groups: &[&str]) -> UserRecord {
        let new = NewUser {
            username: Username::parse(name).unwrap(),
            display_name: None,
            email: None,
            groups: groups
                .iter()
                .map(|group| GroupName::parse(group).unwrap())
                .collect(),
            password: Secret::new(password),
            must_change_password: false,
        };
        self.directory.add_user(new).await.unwrap()
    }

    pub async fn sign_in(&self, name: &str) -> (SessionId, Session) {
        self.sign_in_with(name, false).await
    }

    pub async fn sign_in_with(&self, name: &str, remember_me: bool) -> (SessionId, Session) {
        let new = NewSession {
            username: Username::parse(name).unwrap(),
            amr: vec![AuthMethod::Password],
            remember_me,
            client: ClientInfo::default(),
        };
        self.sessions.create(new).await.unwrap()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

pub fn user(name: &str) -> Username {
    Username::parse(name).unwrap()
}

pub fn group(name: &str) -> GroupName {
    GroupName::parse(name).unwrap()
}

pub fn millis(count: u64) -> Duration {
    Duration::from_millis(count)
}

pub fn minutes(count: u64) -> Duration {
    Duration::from_secs(count * 60)
}
