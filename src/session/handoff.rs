//! One-time hand-off codes: after sign-in on the portal host, the browser carries a code to
//! `https://<app>/.portcullis/callback`, and the gateway there exchanges it for an app
//! session tied to the portal session.
//!
//! A code is stored as its hash, names one app host and lives for the configured TTL
//! (60 s by default). Redemption claims the code in a single `UPDATE ... RETURNING`, so of
//! any number of parallel redemptions exactly one gets the row; a code presented at the
//! wrong host or too late is burnt all the same.

use sqlx::Row;

use super::rows::{stored_key, stored_user_agent};
use super::{
    ClientInfo, HandoffCode, Session, SessionError, SessionId, SessionKey, SessionStore,
    canonical_host,
};
use crate::store::{StoreError, duration_millis, to_millis};

impl SessionStore {
    /// Issues a code that carries the portal session `portal` to `app_host`.
    ///
    /// # Errors
    /// [`SessionError::InvalidAppHost`], or [`SessionError::NoSuchSession`] when `portal` is
    /// not a usable portal session.
    pub async fn create_code(
        &self,
        portal: &SessionKey,
        app_host: &str,
    ) -> Result<HandoffCode, SessionError> {
        let host = canonical_host(app_host)?;
        let code = HandoffCode::generate()?;
        let now = to_millis(self.store.now());
        let expires_at = now.saturating_add(duration_millis(self.config.handoff_code_ttl));

        let sql = "INSERT INTO handoff_codes (code_hash, session_hash, app_host, created_at, \
                   expires_at, used) \
                   SELECT $1, s.id_hash, $2, $3, $4, 0 FROM sessions s \
                   JOIN users u ON u.username = s.username \
                   WHERE s.id_hash = $5 AND s.parent_hash IS NULL AND s.revoked = 0 \
                   AND u.disabled = 0 AND s.expires_at > $3 \
                   AND s.last_seen_at + s.idle_timeout_ms > $3";
        let inserted = sqlx::query(sql)
            .bind(code.hash())
            .bind(host)
            .bind(now)
            .bind(expires_at)
            .bind(portal.as_str())
            .execute(self.store.pool())
            .await
            .map_err(StoreError::query("creating hand-off code"))?;
        if inserted.rows_affected() == 0 {
            return Err(SessionError::NoSuchSession);
        }
        Ok(code)
    }

    /// Redeems `code` at `app_host`: the portal session it carries, or `None` when the code
    /// is malformed, unknown, already used, expired, meant for another host, or its portal
    /// session is no longer usable. The code is used up by any well-formed attempt.
    ///
    /// # Errors
    /// A store failure.
    pub async fn redeem_code(
        &self,
        code: &str,
        app_host: &str,
    ) -> Result<Option<Session>, SessionError> {
        let (Some(code), Ok(host)) = (HandoffCode::parse(code), canonical_host(app_host)) else {
            return Ok(None);
        };
        let Some(claim) = self.claim_code(&code).await? else {
            return Ok(None);
        };
        let now = to_millis(self.store.now());
        if claim.app_host != host || claim.expires_at <= now {
            let portal = &claim.portal;
            tracing::debug!(session = %portal, "hand-off code refused: wrong host or expired");
            return Ok(None);
        }
        let portal = self.lookup_key(&claim.portal).await?;
        Ok(portal.filter(Session::is_portal))
    }

    /// Redeems `code` and starts an app session for `app_host` tied to the portal session.
    ///
    /// # Errors
    /// A store failure or a failure to generate the identifier.
    pub async fn exchange_code(
        &self,
        code: &str,
        app_host: &str,
        client: ClientInfo,
    ) -> Result<Option<(SessionId, Session)>, SessionError> {
        let Some(portal) = self.redeem_code(code, app_host).await? else {
            return Ok(None);
        };
        match self.create_app_session(&portal.key, app_host, client).await {
            Ok(created) => Ok(Some(created)),
            Err(SessionError::NoSuchSession) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Starts an app session for `app_host` under the portal session `portal`. Its user,
    /// factors, auth time, expiry and idle timeout are copied from the stored portal session,
    /// never from the caller.
    ///
    /// # Errors
    /// [`SessionError::NoSuchSession`] when `portal` is not a usable portal session.
    pub async fn create_app_session(
        &self,
        portal: &SessionKey,
        app_host: &str,
        client: ClientInfo,
    ) -> Result<(SessionId, Session), SessionError> {
        let host = canonical_host(app_host)?;
        let id = SessionId::generate()?;
        let now = to_millis(self.store.now());

        let sql = "INSERT INTO sessions (id_hash, username, created_at, last_seen_at, expires_at, \
                   idle_timeout_ms, remember_me, amr, auth_time, parent_hash, app_host, revoked, \
                   user_agent, client_ip) \
                   SELECT $1, s.username, $2, $2, s.expires_at, s.idle_timeout_ms, s.remember_me, \
                   s.amr, s.auth_time, s.id_hash, $3, 0, $4, $5 FROM sessions s \
                   JOIN users u ON u.username = s.username \
                   WHERE s.id_hash = $6 AND s.parent_hash IS NULL AND s.revoked = 0 \
                   AND u.disabled = 0 AND s.expires_at > $2 \
                   AND s.last_seen_at + s.idle_timeout_ms > $2";
        let inserted = sqlx::query(sql)
            .bind(id.key().as_str())
            .bind(now)
            .bind(host)
            .bind(stored_user_agent(client.user_agent.as_deref()))
            .bind(client.ip.map(|ip| ip.to_string()))
            .bind(portal.as_str())
            .execute(self.store.pool())
            .await
            .map_err(StoreError::query("creating app session"))?;
        if inserted.rows_affected() == 0 {
            return Err(SessionError::NoSuchSession);
        }
        let session = self
            .lookup_key(&id.key())
            .await?
            .ok_or(SessionError::NoSuchSession)?;
        Ok((id, session))
    }

    /// Marks the code used and returns what it was issued for, if it was unused.
    async fn claim_code(&self, code: &HandoffCode) -> Result<Option<Claim>, SessionError> {
        let sql = "UPDATE handoff_codes SET used = 1 WHERE code_hash = $1 AND used = 0 \
                   RETURNING session_hash, app_host, expires_at";
        let row = sqlx::query(sql)
            .bind(code.hash())
            .fetch_optional(self.store.pool())
            .await
            .map_err(StoreError::query("redeeming hand-off code"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let read = StoreError::query("reading hand-off code");
        Ok(Some(Claim {
            portal: stored_key(row.try_get("session_hash").map_err(read)?)?,
            app_host: row.try_get("app_host").map_err(read)?,
            expires_at: row.try_get("expires_at").map_err(read)?,
        }))
    }
}

/// What a claimed code was issued for.
struct Claim {
    portal: SessionKey,
    app_host: String,
    expires_at: i64,
}
