//! The one clock of the product and of the emulators: every read of the current time goes
//! through here (clippy's `disallowed-methods` in clippy.toml refuses the direct reads), so a
//! deterministic simulation can run all of them on one virtual time.
//!
//! - Elapsed time is [`Instant`], tokio's: the system's monotonic clock, except in a runtime
//!   whose time is paused (`tokio::time::pause`, `#[tokio::test(start_paused = true)]`), where
//!   it stands still while tasks run and jumps to the next timer when every task waits.
//! - Wall time ([`now_system`] and the epoch readings built on it) is `SystemTime::now()`, unless
//!   this thread has a simulated origin installed ([`simulate_from`]): then it is that origin
//!   plus the [`Instant`] time passed since the installation, so it jumps with a paused runtime's
//!   clock (a `sleep` of 90 s moves it by exactly 90 s) and a replay reads the same times.
//!
//! The origin is per thread: a paused runtime is a current-thread runtime, whose tasks all run on
//! the thread that drives it, and parallel tests (each on its own thread) do not see each other's
//! origin. Work moved to another thread (`spawn_blocking`, a multi-thread runtime's workers)
//! reads the system clock. Production never installs an origin, so it reads what it always did.

use std::cell::Cell;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The monotonic clock for deadlines and elapsed time (tokio's, so a paused runtime pauses it).
pub use tokio::time::Instant;

/// A simulated wall clock: the wall time at installation and the [`Instant`] it was installed at.
#[derive(Debug, Clone, Copy)]
struct Origin {
    wall: SystemTime,
    installed_at: Instant,
}

thread_local! {
    static ORIGIN: Cell<Option<Origin>> = const { Cell::new(None) };
}

/// The current wall time: simulated when this thread has an origin installed, else the system's.
pub fn now_system() -> SystemTime {
    match ORIGIN.get() {
        Some(origin) => {
            let elapsed = Instant::now().saturating_duration_since(origin.installed_at);
            origin.wall.checked_add(elapsed).unwrap_or(origin.wall)
        }
        None => system_wall_clock(),
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the one place the system's wall clock is read"
)]
fn system_wall_clock() -> SystemTime {
    SystemTime::now()
}

/// The current wall time since the Unix epoch; zero if the clock is before 1970.
pub fn since_epoch() -> Duration {
    now_system()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// The current time in whole epoch seconds; 0 if the clock is before 1970.
pub fn now_epoch_seconds() -> u64 {
    since_epoch().as_secs()
}

/// The current time in epoch milliseconds; 0 if the clock is before 1970.
pub fn now_epoch_millis() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}

/// Whether this thread reads a simulated wall clock.
pub fn is_simulated() -> bool {
    ORIGIN.get().is_some()
}

/// Installs a simulated wall clock on this thread, reading `origin` now and then moving with
/// [`Instant`] (call it inside the runtime, so "now" is the runtime's instant); dropping the
/// returned guard puts back what was there before. The guard cannot leave the thread.
pub fn simulate_from(origin: SystemTime) -> SimulatedClock {
    let previous = ORIGIN.replace(Some(Origin {
        wall: origin,
        installed_at: Instant::now(),
    }));
    SimulatedClock {
        previous,
        not_send: PhantomData,
    }
}

/// A simulated wall clock installed on this thread (see [`simulate_from`]); uninstalled on drop.
#[derive(Debug)]
#[must_use = "the simulated clock is uninstalled when this guard is dropped"]
pub struct SimulatedClock {
    previous: Option<Origin>,
    /// The origin lives in a thread-local: the guard must be dropped on the thread it set.
    not_send: PhantomData<*const ()>,
}

impl Drop for SimulatedClock {
    fn drop(&mut self) {
        ORIGIN.set(self.previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z.
    fn new_year() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    #[allow(clippy::disallowed_methods, reason = "compares with the system clock")]
    fn system_now() -> SystemTime {
        SystemTime::now()
    }

    #[allow(clippy::disallowed_methods, reason = "measures real time")]
    fn real_instant() -> std::time::Instant {
        std::time::Instant::now()
    }

    #[test]
    fn without_an_origin_the_wall_clock_is_the_systems() {
        let before = system_now();
        let read = now_system();
        let after = system_now();
        assert!(!is_simulated());
        assert!(before <= read && read <= after);
        let seconds = now_epoch_seconds();
        let system_seconds = system_now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert!(seconds.abs_diff(system_seconds) <= 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_simulated_wall_clock_moves_exactly_with_paused_time() {
        let _clock = simulate_from(new_year());
        assert!(is_simulated());
        assert_eq!(now_system(), new_year());
        assert_eq!(now_epoch_seconds(), 1_767_225_600);
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert_eq!(now_system(), new_year() + Duration::from_secs(90));
        assert_eq!(now_epoch_seconds(), 1_767_225_690);
        assert_eq!(now_epoch_millis(), 1_767_225_690_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_sleep_of_hours_takes_no_real_time() {
        let _clock = simulate_from(new_year());
        let real = real_instant();
        tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
        assert_eq!(now_system(), new_year() + Duration::from_secs(3 * 3600));
        assert!(real_instant().duration_since(real) < Duration::from_secs(5));
    }

    #[test]
    fn dropping_the_guard_restores_the_previous_clock() {
        let outer = simulate_from(new_year());
        {
            let _inner = simulate_from(UNIX_EPOCH);
            assert!(now_system() < new_year());
        }
        assert!(now_system() >= new_year());
        drop(outer);
        assert!(!is_simulated());
        let before = system_now();
        let read = now_system();
        assert!(before <= read && read <= system_now());
    }

    #[test]
    fn another_thread_does_not_see_this_threads_origin() {
        let _clock = simulate_from(UNIX_EPOCH);
        assert_eq!(now_epoch_seconds(), 0);
        let elsewhere = std::thread::spawn(|| (is_simulated(), now_epoch_seconds()))
            .join()
            .unwrap();
        assert!(!elsewhere.0);
        assert!(elsewhere.1 > 1_767_225_600);

        let other = std::thread::spawn(|| {
            let _clock = simulate_from(new_year());
            now_epoch_seconds()
        })
        .join()
        .unwrap();
        assert_eq!(other, 1_767_225_600);
        assert_eq!(now_epoch_seconds(), 0);
    }
}
