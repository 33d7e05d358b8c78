//! Time, injected: the daemon asks a [`Clock`] for the time and to sleep,
//! so the scheduler's tests run on a [`TestClock`] that they move by hand,
//! never on real sleeps.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Mutex;
use tokio::sync::watch;

#[async_trait]
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
    /// Returns once the clock reads `at` or later.
    async fn sleep_until(&self, at: DateTime<Utc>);
}

/// The wall clock.
#[derive(Debug)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
    }
}

/// A clock that moves only when told to. Sleepers wake when it passes
/// their time.
#[derive(Debug)]
pub struct TestClock {
    now: Mutex<DateTime<Utc>>,
    moved: watch::Sender<DateTime<Utc>>,
}

impl TestClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        TestClock {
            now: Mutex::new(start),
            moved: watch::Sender::new(start),
        }
    }

    pub fn set(&self, at: DateTime<Utc>) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now = at;
        self.moved.send_replace(at);
    }

    pub fn advance(&self, by: chrono::Duration) {
        let at = self.now() + by;
        self.set(at);
    }
}

#[async_trait]
impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let mut moved = self.moved.subscribe();
        loop {
            if *moved.borrow_and_update() >= at {
                return;
            }
            if moved.changed().await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_sleeper_wakes_when_the_test_clock_passes_its_time() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Arc::new(TestClock::new(start));
        let sleeper = {
            let clock = Arc::clone(&clock);
            tokio::spawn(async move { clock.sleep_until(start + chrono::Duration::hours(1)).await })
        };
        clock.advance(chrono::Duration::minutes(59));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(chrono::Duration::minutes(1));
        tokio::time::timeout(std::time::Duration::from_secs(5), sleeper)
            .await
            .expect("woke")
            .unwrap();
    }
}
