//! Per-user failure counting with lockout and exponential backoff (CASES K20).
//!
//! Owns the `login_throttle` table. One counter per canonical username is shared by every
//! factor (password now, TOTP and keys later), so neither fresh logins nor switching factors
//! resets it; only a completed sign-in does. Counters are kept for names that do not exist
//! too, so a lockout answer says nothing about whether the account exists (K21). The count
//! is bumped in one atomic statement, so parallel failures are all counted.

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use sqlx::Row;

use crate::identity::Username;
use crate::store::{Store, StoreError, duration_serde, from_millis, to_millis};

/// When to lock and for how long.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottlePolicy {
    /// Failures allowed before the first lockout.
    pub free_failures: u32,
    /// Lockout after the first failure past the free ones; doubles with each further one.
    #[serde(with = "duration_serde")]
    pub base_lockout: Duration,
    /// Longest single lockout.
    #[serde(with = "duration_serde")]
    pub max_lockout: Duration,
    /// A counter with no failure for this long starts again from zero.
    #[serde(with = "duration_serde")]
    pub forget_after: Duration,
}

impl ThrottlePolicy {
    /// The lockout that `failures` consecutive failures earn: none up to `free_failures`,
    /// then `base_lockout` doubling with each further failure, never above `max_lockout`.
    pub fn lockout_after(&self, failures: u32) -> Option<Duration> {
        let doublings = failures.checked_sub(self.free_failures)?.checked_sub(1)?;
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        Some(
            self.base_lockout
                .saturating_mul(factor)
                .min(self.max_lockout),
        )
    }
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_failures: 5,
            base_lockout: Duration::from_secs(30),
            max_lockout: Duration::from_secs(60 * 60),
            forget_after: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Whether a user may try to authenticate now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThrottleState {
    /// Attempts are allowed.
    Allowed,
    /// Attempts are refused until this time.
    LockedUntil(SystemTime),
}

/// The failure counters, kept in the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Throttle {
    store: Store,
    policy: ThrottlePolicy,
}

impl Throttle {
    /// Counters in `store` under `policy`.
    pub fn new(store: Store, policy: ThrottlePolicy) -> Throttle {
        Throttle { store, policy }
    }

    /// The policy in force.
    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    /// Whether `username` may try now.
    ///
    /// # Errors
    /// A store failure; callers must then refuse the attempt.
    pub async fn check(&self, username: &Username) -> Result<ThrottleState, StoreError> {
        let row = sqlx::query("SELECT locked_until FROM login_throttle WHERE username = $1")
            .bind(username.as_str())
            .fetch_optional(self.store.pool())
            .await
            .map_err(StoreError::query("reading login throttle"))?;
        let Some(row) = row else {
            return Ok(ThrottleState::Allowed);
        };
        let locked_until: i64 = row
            .try_get("locked_until")
            .map_err(StoreError::query("reading login throttle"))?;
        Ok(state_at(locked_until, to_millis(self.store.now())))
    }

    /// Counts a failed attempt by any factor and locks when the policy says so.
    ///
    /// # Errors
    /// A store failure.
    pub async fn record_failure(&self, username: &Username) -> Result<ThrottleState, StoreError> {
        let now = self.store.now();
        let failures = self.count_failure(username, now).await?;
        let Some(lockout) = self.policy.lockout_after(failures) else {
            return Ok(ThrottleState::Allowed);
        };
        let until = to_millis(now + lockout);

        // Never shorten a lockout that a parallel failure already extended.
        let sql = "UPDATE login_throttle SET locked_until = $1 \
                   WHERE username = $2 AND locked_until < $1";
        sqlx::query(sql)
            .bind(until)
            .bind(username.as_str())
            .execute(self.store.pool())
            .await
            .map_err(StoreError::query("locking login"))?;
        let lockout = humantime::format_duration(lockout);
        tracing::info!(user = %username, failures, %lockout, "login locked");
        Ok(ThrottleState::LockedUntil(from_millis(until)))
    }

    /// Clears the counter after a completed sign-in (every required factor done). Calling
    /// it after the password step alone would let "fresh login, five wrong codes" repeat
    /// forever.
    ///
    /// # Errors
    /// A store failure.
    pub async fn record_success(&self, username: &Username) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_throttle WHERE username = $1")
            .bind(username.as_str())
            .execute(self.store.pool())
            .await
            .map_err(StoreError::query("clearing login throttle"))?;
        Ok(())
    }

    /// Deletes counters that are neither locked nor recent; returns how many.
    ///
    /// # Errors
    /// A store failure.
    pub async fn purge_stale(&self) -> Result<u64, StoreError> {
        let now = self.store.now();
        let forgotten = to_millis(now.checked_sub(self.policy.forget_after).unwrap_or(now));
        let sql = "DELETE FROM login_throttle WHERE last_failure_at < $1 AND locked_until < $2";
        let deleted = sqlx::query(sql)
            .bind(forgotten)
            .bind(to_millis(now))
            .execute(self.store.pool())
            .await
            .map_err(StoreError::query("purging login throttle"))?;
        Ok(deleted.rows_affected())
    }

    /// Adds one failure in a single statement and returns the new count; a counter idle for
    /// `forget_after` starts again at one.
    async fn count_failure(&self, username: &Username, now: SystemTime) -> Result<u32, StoreError> {
        let forgotten = now.checked_sub(self.policy.forget_after).unwrap_or(now);
        let sql = "INSERT INTO login_throttle (username, failures, last_failure_at, locked_until) \
                   VALUES ($1, 1, $2, 0) \
                   ON CONFLICT (username) DO UPDATE SET \
                   failures = CASE WHEN login_throttle.last_failure_at < $3 THEN 1 \
                   ELSE login_throttle.failures + 1 END, \
                   last_failure_at = $2 \
                   RETURNING failures";
        let row = sqlx::query(sql)
            .bind(username.as_str())
            .bind(to_millis(now))
            .bind(to_millis(forgotten))
            .fetch_one(self.store.pool())
            .await
            .map_err(StoreError::query("counting login failure"))?;
        let failures: i64 = row
            .try_get("failures")
            .map_err(StoreError::query("counting login failure"))?;
        Ok(u32::try_from(failures).unwrap_or(u32::MAX))
    }
}

fn state_at(locked_until: i64, now: i64) -> ThrottleState {
    if locked_until > now {
        ThrottleState::LockedUntil(from_millis(locked_until))
    } else {
        ThrottleState::Allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lockouts(policy: &ThrottlePolicy) -> Vec<Option<u64>> {
        (1..=9)
            .map(|failures| policy.lockout_after(failures).map(|d| d.as_secs()))
            .collect()
    }

    #[test]
    fn lockout_starts_after_the_free_failures_and_doubles_up_to_the_cap() {
        let policy = ThrottlePolicy {
            free_failures: 3,
            base_lockout: Duration::from_secs(10),
            max_lockout: Duration::from_secs(50),
            ..ThrottlePolicy::default()
        };
        let expected = [
            None,
            None,
            None,
            Some(10),
            Some(20),
            Some(40),
            Some(50),
            Some(50),
            Some(50),
        ];
        assert_eq!(lockouts(&policy), expected);
        assert_eq!(
            policy.lockout_after(u32::MAX),
            Some(Duration::from_secs(50))
        );
    }

    #[test]
    fn policy_reads_humantime_durations() {
        let text = r#"{"free_failures": 2, "base_lockout": "1m", "max_lockout": "2h"}"#;
        let policy: ThrottlePolicy = serde_json::from_str(text).unwrap();
        assert_eq!(policy.base_lockout, Duration::from_secs(60));
        assert_eq!(policy.max_lockout, Duration::from_secs(7200));
        assert_eq!(policy.forget_after, ThrottlePolicy::default().forget_after);
        assert!(serde_json::from_str::<ThrottlePolicy>(r#"{"lockout": "1m"}"#).is_err());
    }
}
