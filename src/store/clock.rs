//! Time: the [`Clock`] every stored time comes from, and its conversion to the unix
//! milliseconds the schema stores.
//!
//! Tests drive time with [`ManualClock`] instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to; clones share one time. For tests and tools.
#[derive(Clone, Debug)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock showing `start`, truncated to whole milliseconds like the store.
    pub fn new(start: SystemTime) -> ManualClock {
        ManualClock {
            millis: Arc::new(AtomicI64::new(to_millis(start))),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.millis.fetch_add(duration_millis(by), Ordering::AcqRel);
    }

    /// Sets the clock to `to`, which may be earlier than now.
    pub fn set(&self, to: SystemTime) {
        self.millis.store(to_millis(to), Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        from_millis(self.millis.load(Ordering::Acquire))
    }
}

/// `time` as unix milliseconds, saturating at the ends of the range.
pub(crate) fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => duration_millis(after),
        Err(before) => duration_millis(before.duration()).saturating_neg(),
    }
}

/// Unix milliseconds as a time; a value the platform cannot represent becomes the epoch,
/// which every expiry check treats as long past.
pub(crate) fn from_millis(millis: i64) -> SystemTime {
    let magnitude = Duration::from_millis(millis.unsigned_abs());
    let time = if millis >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    };
    time.unwrap_or(UNIX_EPOCH)
}

/// `time + by`, or the latest storable time when that overflows.
pub(crate) fn saturating_add(time: SystemTime, by: Duration) -> SystemTime {
    time.checked_add(by)
        .unwrap_or_else(|| from_millis(i64::MAX))
}

/// `duration` in whole milliseconds, saturating at `i64::MAX`.
pub(crate) fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Stored milliseconds as a duration; negative values (never written) count as zero.
pub(crate) fn duration_from_millis(millis: i64) -> Duration {
    Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

/// Serde support for durations written the humantime way (`30m`, `12h`, `500ms`).
pub(crate) mod duration_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Reads humantime text such as `30m`.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip_before_and_after_the_epoch() {
        for millis in [0, 1, 1_700_000_000_123, -5_000] {
            assert_eq!(to_millis(from_millis(millis)), millis);
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(from_millis(1_000));
        let shared = clock.clone();
        assert_eq!(to_millis(clock.now()), 1_000);

        shared.advance(Duration::from_millis(250));
        assert_eq!(to_millis(clock.now()), 1_250);

        clock.set(from_millis(10));
        assert_eq!(to_millis(shared.now()), 10);
    }
}
