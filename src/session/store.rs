//! The session table: create, look up, touch, add factors, revoke, list, purge.

use std::time::SystemTime;

use super::rows::{format_amr, select_sessions, session_from_row, stored_user_agent};
use super::{
    AuthMethod, ClientInfo, MAX_SESSION_DURATION, NewSession, Session, SessionConfig, SessionError,
    SessionId, SessionKey, revoke_user_sessions,
};
use crate::identity::Username;
use crate::store::{
    self, Counter, Store, StoreError, duration_millis, from_millis, saturating_add, to_millis,
};

/// The sessions kept in the [`Store`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct SessionStore {
    pub(super) store: Store,
    pub(super) config: SessionConfig,
}

/// A session that is usable as far as the database can tell: not revoked, user enabled,
/// portal session (if any) not revoked. Times are checked in Rust with the store's clock.
const LOOKUP: &str = select_sessions!(
    "WHERE s.id_hash = $1 AND s.revoked = 0 AND u.disabled = 0 AND NOT EXISTS \
     (SELECT 1 FROM sessions p WHERE p.id_hash = s.parent_hash AND p.revoked = 1)"
);

const LIST_FOR_USER: &str = select_sessions!(
    "WHERE s.username = $1 AND s.revoked = 0 AND s.expires_at > $2 ORDER BY s.created_at"
);

const LIST_ALL: &str =
    select_sessions!("WHERE s.revoked = 0 AND s.expires_at > $1 ORDER BY s.created_at");

impl SessionStore {
    /// Sessions in `store` with `config` lifetimes.
    pub fn new(store: Store, config: SessionConfig) -> SessionStore {
        SessionStore { store, config }
    }

    /// The lifetimes in force.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The store's current time.
    pub fn now(&self) -> SystemTime {
        self.store.now()
    }

    /// Starts a portal session with a fresh identifier. The identifier is returned once,
    /// for the cookie; the store keeps only its hash.
    ///
    /// # Errors
    /// [`SessionError::UserUnavailable`] when the user does not exist or is disabled.
    pub async fn create(&self, new: NewSession) -> Result<(SessionId, Session), SessionError> {
        let id = SessionId::generate()?;
        // Whole milliseconds, as stored, so the returned session equals a later lookup.
        let now = from_millis(to_millis(self.store.now()));
        let (lifetime, idle_timeout) = if new.remember_me {
            (self.config.remember_me, self.config.remember_me)
        } else {
            (self.config.lifetime, self.config.idle_timeout)
        };
        let session = Session {
            key: id.key(),
            username: new.username,
            created_at: now,
            last_seen_at: now,
            expires_at: saturating_add(now, lifetime.min(MAX_SESSION_DURATION)),
            idle_timeout: idle_timeout.min(MAX_SESSION_DURATION),
            remember_me: new.remember_me,
            amr: dedup(new.amr),
            auth_time: now,
            parent: None,
            app_host: None,
            revoked: false,
            client: ClientInfo {
                user_agent: stored_user_agent(new.client.user_agent.as_deref()),
                ip: new.client.ip,
            },
        };
        self.insert_portal_session(&session).await?;
        tracing::debug!(user = %session.username, session = %session.key, "session created");
        Ok((id, session))
    }

    /// The usable session behind a cookie value; `None` for a malformed value, an unknown
    /// session, or one that is revoked, expired, idle too long or whose user is disabled.
    ///
    /// # Errors
    /// A store failure; callers treat it as no session.
    pub async fn lookup(&self, cookie_value: &str) -> Result<Option<Session>, SessionError> {
        let Some(id) = SessionId::from_cookie_value(cookie_value) else {
            return Ok(None);
        };
        self.lookup_key(&id.key()).await
    }

    /// The usable session with `key`; see [`SessionStore::lookup`].
    ///
    /// # Errors
    /// A store failure.
    pub async fn lookup_key(&self, key: &SessionKey) -> Result<Option<Session>, SessionError> {
        let row = sqlx::query(LOOKUP)
            .bind(key.as_str())
            .fetch_optional(self.store.pool())
            .await
            .map_err(StoreError::query("reading session"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let session = session_from_row(&row)?;
        Ok(session.is_active_at(self.store.now()).then_some(session))
    }

    /// Records use of a session (and of its portal session, so a login stays alive while
    /// any of its app sessions is used). Writes only when `last_seen` is older than the
    /// touch interval; `true` when something was written.
    ///
    /// # Errors
    /// A store failure.
    pub async fn touch(&self, key: &SessionKey) -> Result<bool, SessionError> {
        let now = self.store.now();
        let stale_before = now.checked_sub(self.config.touch_interval).unwrap_or(now);
        let sql = "UPDATE sessions SET last_seen_at = $1 \
                   WHERE (id_hash = $2 OR id_hash IN \
                   (SELECT parent_hash FROM sessions WHERE id_hash = $2)) \
                   AND revoked = 0 AND last_seen_at <= $3 \
                   AND last_seen_at + idle_timeout_ms > $1 AND expires_at > $1";
        let updated = sqlx::query(sql)
            .bind(to_millis(now))
            .bind(key.as_str())
            .bind(to_millis(stale_before))
            .execute(self.store.pool())
            .await
            .map_err(StoreError::query("touching session"))?;
        Ok(updated.rows_affected() > 0)
    }

    /// Records that `method` was completed in the session now. Adding authority needs no
    /// revocation: a cache that still holds the old list errs toward less access.
    ///
    /// # Errors
    /// [`SessionError::NoSuchSession`] when the session is not usable or changed meanwhile.
    pub async fn add_factor(
        &self,
        key: &SessionKey,
        method: AuthMethod,
    ) -> Result<Session, SessionError> {
        let Some(mut session) = self.lookup_key(key).await? else {
            return Err(SessionError::NoSuchSession);
        };
        let old_amr = format_amr(&session.amr);
        session.amr = dedup(session.amr.into_iter().chain([method]).collect());
        session.auth_time = self.store.now();

        let sql = "UPDATE sessions SET amr = $1, auth_time = $2 \
                   WHERE id_hash = $3 AND revoked = 0 AND amr = $4";
        let updated = sqlx::query(sql)
            .bind(format_amr(&session.amr))
            .bind(to_millis(session.auth_time))
            .bind(key.as_str())
            .bind(old_amr)
            .execute(self.store.pool())
            .await
            .map_err(StoreError::query("adding session factor"))?;
        if updated.rows_affected() == 0 {
            return Err(SessionError::NoSuchSession);
        }
        Ok(session)
    }

    /// Revokes one session; `false` when it was unknown or already revoked.
    ///
    /// # Errors
    /// A store failure.
    pub async fn revoke(&self, key: &SessionKey) -> Result<bool, SessionError> {
        let mut tx = self.store.begin("revoking session").await?;
        store::bump(&mut tx, Counter::RevocationGeneration).await?;
        let revoked =
            sqlx::query("UPDATE sessions SET revoked = 1 WHERE id_hash = $1 AND revoked = 0")
                .bind(key.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("revoking session"))?;
        if revoked.rows_affected() == 0 {
            return Ok(false);
        }
        self.store.commit_revocation(tx, "revoking session").await?;
        tracing::debug!(session = %key, "session revoked");
        Ok(true)
    }

    /// Ends a whole sign-in: the portal session and every app session handed off from it.
    /// `key` may name the portal session or any of its app sessions (logout anywhere ends
    /// it everywhere). Returns how many sessions were revoked.
    ///
    /// # Errors
    /// A store failure.
    pub async fn revoke_tree(&self, key: &SessionKey) -> Result<u64, SessionError> {
        let mut tx = self.store.begin("revoking sign-in").await?;
        store::bump(&mut tx, Counter::RevocationGeneration).await?;
        let sql = "UPDATE sessions SET revoked = 1 WHERE revoked = 0 AND ( \
                   id_hash = $1 OR parent_hash = $1 \
                   OR id_hash IN (SELECT parent_hash FROM sessions WHERE id_hash = $1) \
                   OR parent_hash IN (SELECT parent_hash FROM sessions WHERE id_hash = $1))";
        let revoked = sqlx::query(sql)
            .bind(key.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("revoking sign-in"))?;
        let count = revoked.rows_affected();
        if count > 0 {
            self.store.commit_revocation(tx, "revoking sign-in").await?;
            tracing::debug!(session = %key, revoked = count, "sign-in revoked");
        }
        Ok(count)
    }

    /// Revokes every session of `username`. Returns how many.
    ///
    /// # Errors
    /// A store failure.
    pub async fn revoke_all_for_user(&self, username: &Username) -> Result<u64, SessionError> {
        let mut tx = self.store.begin("revoking sessions of user").await?;
        store::bump(&mut tx, Counter::RevocationGeneration).await?;
        let count = revoke_user_sessions(&mut tx, username).await?;
        if count > 0 {
            self.store
                .commit_revocation(tx, "revoking sessions of user")
                .await?;
            tracing::info!(user = %username, revoked = count, "sessions of user revoked");
        }
        Ok(count)
    }

    /// The usable sessions of `username`, oldest first.
    ///
    /// # Errors
    /// A store failure or a damaged row.
    pub async fn list_for_user(&self, username: &Username) -> Result<Vec<Session>, SessionError> {
        let now = self.store.now();
        let rows = sqlx::query(LIST_FOR_USER)
            .bind(username.as_str())
            .bind(to_millis(now))
            .fetch_all(self.store.pool())
            .await
            .map_err(StoreError::query("listing sessions of user"))?;
        active_sessions(&rows, now)
    }

    /// Every usable session, oldest first.
    ///
    /// # Errors
    /// A store failure or a damaged row.
    pub async fn list_all(&self) -> Result<Vec<Session>, SessionError> {
        let now = self.store.now();
        let rows = sqlx::query(LIST_ALL)
            .bind(to_millis(now))
            .fetch_all(self.store.pool())
            .await
            .map_err(StoreError::query("listing sessions"))?;
        active_sessions(&rows, now)
    }

    /// Deletes used or expired hand-off codes and sessions that are revoked, expired or
    /// idle too long. Returns how many sessions went.
    ///
    /// # Errors
    /// A store failure.
    pub async fn purge_expired(&self) -> Result<u64, SessionError> {
        let now = to_millis(self.store.now());
        let pool = self.store.pool();
        sqlx::query("DELETE FROM handoff_codes WHERE used = 1 OR expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await
            .map_err(StoreError::query("purging hand-off codes"))?;
        let sql = "DELETE FROM sessions WHERE revoked = 1 OR expires_at <= $1 \
                   OR last_seen_at + idle_timeout_ms <= $1";
        let deleted = sqlx::query(sql)
            .bind(now)
            .execute(pool)
            .await
            .map_err(StoreError::query("purging sessions"))?;
        Ok(deleted.rows_affected())
    }

    /// Inserts a portal session for an existing, enabled user.
    async fn insert_portal_session(&self, session: &Session) -> Result<(), SessionError> {
        let sql = "INSERT INTO sessions (id_hash, username, created_at, last_seen_at, expires_at, \
                   idle_timeout_ms, remember_me, amr, auth_time, parent_hash, app_host, revoked, \
                   user_agent, client_ip) \
                   SELECT $1, u.username, $2, $2, $3, $4, $5, $6, $2, NULL, NULL, 0, $7, $8 \
                   FROM users u WHERE u.username = $9 AND u.disabled = 0";
        let inserted = sqlx::query(sql)
            .bind(session.key.as_str())
            .bind(to_millis(session.created_at))
            .bind(to_millis(session.expires_at))
            .bind(duration_millis(session.idle_timeout))
            .bind(i64::from(session.remember_me))
            .bind(format_amr(&session.amr))
            .bind(session.client.user_agent.clone())
            .bind(session.client.ip.map(|ip| ip.to_string()))
            .bind(session.username.as_str())
            .execute(self.store.pool())
            .await
            .map_err(StoreError::query("creating session"))?;
        if inserted.rows_affected() == 0 {
            return Err(SessionError::UserUnavailable(session.username.clone()));
        }
        Ok(())
    }
}

fn active_sessions(
    rows: &[sqlx::any::AnyRow],
    now: SystemTime,
) -> Result<Vec<Session>, SessionError> {
    let mut sessions = Vec::with_capacity(rows.len());
    for row in rows {
        let session = session_from_row(row)?;
        if session.is_active_at(now) {
            sessions.push(session);
        }
    }
    Ok(sessions)
}

/// `amr` without repeats, first occurrence kept.
fn dedup(amr: Vec<AuthMethod>) -> Vec<AuthMethod> {
    let mut unique = Vec::with_capacity(amr.len());
    for method in amr {
        if !unique.contains(&method) {
            unique.push(method);
        }
    }
    unique
}
