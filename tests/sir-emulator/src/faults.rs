//! Fault injection for the SIR API (not for the admin API or the upload/download URLs): added
//! latency, throttling (429 `ThrottlingException` with `Retry-After`) for the next N calls or a
//! share of calls, failures with a chosen status for the next N calls or for the one call a
//! caller makes after a given operation succeeded (a Lambda stopped right after that step),
//! answers lost after the call was applied (a timeout or a dropped connection after SIR made the
//! change), answers never given after the call was applied (the caller stopped right after the
//! write, as a Lambda killed at its timeout), an outage (every call answered 503 for a while),
//! and refusals of one operation as SIR refuses a request its rules do not allow (400
//! `ValidationException` with the message SIR would give).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The current fault settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSettings {
    pub throttle_next: u32,
    pub throttle_share: f64,
    pub fail_next: u32,
    pub fail_status: u16,
    pub latency_ms: u64,
    pub retry_after_seconds: u32,
    /// One failure armed by a successful call (see [`Faults::fail_after`]).
    #[serde(default)]
    pub fail_after: Option<FailAfter>,
    /// Operation name → the `ValidationException` message every call of it gets.
    #[serde(default)]
    pub refusals: BTreeMap<String, String>,
    /// Calls applied and then answered with a failure (see [`Faults::lose_answers`]).
    #[serde(default)]
    pub lose_answers: Option<LoseAnswers>,
    /// Operations whose next call is applied and never answered, each once, in the order armed
    /// (see [`Faults::hang_after_applying`]).
    #[serde(default)]
    pub hang_after_applying: Vec<String>,
    /// Until when every call is answered 503 (see [`Faults::outage`]); not in the admin API.
    #[serde(skip)]
    pub outage_until: Option<clock::Instant>,
}

/// The next `calls` calls of `operation` are applied, then answered with `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoseAnswers {
    pub operation: String,
    pub status: u16,
    #[serde(default = "one")]
    pub calls: u32,
}

/// The failure of the next call a caller makes after its `operation` succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailAfter {
    pub operation: String,
    pub status: u16,
    /// How many of the caller's calls fail (the SDK retries a failed call on its own).
    #[serde(default = "one")]
    pub calls: u32,
    /// The access key whose `operation` succeeded (set by the emulator).
    #[serde(default)]
    pub armed_for: Option<String>,
}

fn one() -> u32 {
    1
}

impl Default for FaultSettings {
    fn default() -> FaultSettings {
        FaultSettings {
            throttle_next: 0,
            throttle_share: 0.0,
            fail_next: 0,
            fail_status: 500,
            latency_ms: 0,
            retry_after_seconds: 1,
            fail_after: None,
            refusals: BTreeMap::new(),
            lose_answers: None,
            hang_after_applying: Vec::new(),
            outage_until: None,
        }
    }
}

/// A cloneable handle on the emulator's fault settings.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    settings: Arc<Mutex<FaultSettings>>,
}

impl Faults {
    fn with<T>(&self, change: impl FnOnce(&mut FaultSettings) -> T) -> T {
        let mut settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut settings)
    }

    /// Throttles the next `n` calls.
    pub fn throttle_next(&self, n: u32) {
        self.with(|s| s.throttle_next = n);
    }

    /// Throttles this share (0.0–1.0) of calls, at random.
    pub fn throttle_share(&self, share: f64) {
        self.with(|s| s.throttle_share = share.clamp(0.0, 1.0));
    }

    /// Fails the next `n` calls with HTTP `status` (500 → `InternalServerException`; other
    /// statuses get the model's error shape with that status, if any).
    pub fn fail_next(&self, n: u32, status: u16) {
        self.with(|s| {
            s.fail_next = n;
            s.fail_status = status;
        });
    }

    /// Fails with HTTP `status` the next `calls` calls made by the caller whose next
    /// `operation` succeeds (that call itself is answered): a handler that stops right after one
    /// step (`calls` at least the SDK's attempts, so its own retries do not hide the failure).
    pub fn fail_after(&self, operation: &str, status: u16, calls: u32) {
        self.with(|s| {
            s.fail_after = Some(FailAfter {
                operation: operation.to_owned(),
                status,
                calls,
                armed_for: None,
            });
        });
    }

    /// Applies the next `calls` calls of `operation` and answers them with HTTP `status`, as a
    /// caller sees a call whose answer was lost (`calls` at least the SDK's attempts, so that
    /// its own retries see the same).
    pub fn lose_answers(&self, operation: &str, status: u16, calls: u32) {
        self.with(|s| {
            s.lose_answers = Some(LoseAnswers {
                operation: operation.to_owned(),
                status,
                calls,
            });
        });
    }

    /// The failure answering an applied call of `operation` whose answer is to be lost, if
    /// any; counts it down.
    pub(crate) fn lost_answer(&self, operation: &str) -> Option<Error> {
        self.with(|s| {
            let lose = s.lose_answers.as_mut()?;
            if lose.operation != operation {
                return None;
            }
            lose.calls = lose.calls.saturating_sub(1);
            let status = lose.status;
            if lose.calls == 0 {
                s.lose_answers = None;
            }
            Some(injected_failure(status))
        })
    }

    /// Applies the next call of `operation` and never answers it: the answer stays pending, so
    /// its caller is stopped right after the write (until whatever bounds it, a Lambda's
    /// timeout, drops it). Once; armed several times, the matching calls take them in turn.
    pub fn hang_after_applying(&self, operation: &str) {
        self.with(|s| s.hang_after_applying.push(operation.to_owned()));
    }

    /// Whether this applied call of `operation` is to be left unanswered (then used up).
    pub(crate) fn take_hang(&self, operation: &str) -> bool {
        self.with(|s| {
            let Some(index) = s.hang_after_applying.iter().position(|o| o == operation) else {
                return false;
            };
            s.hang_after_applying.remove(index);
            true
        })
    }

    /// Every call is answered 503 `ServiceUnavailableException` for `duration` from now.
    pub fn outage(&self, duration: Duration) {
        self.with(|s| s.outage_until = Some(clock::Instant::now() + duration));
    }

    /// Answers every call of `operation` with a 400 `ValidationException` carrying `message`,
    /// until cleared (see [`Faults::accept`]).
    pub fn refuse(&self, operation: &str, message: &str) {
        self.with(|s| {
            s.refusals.insert(operation.to_owned(), message.to_owned());
        });
    }

    /// Stops refusing `operation`.
    pub fn accept(&self, operation: &str) {
        self.with(|s| {
            s.refusals.remove(operation);
        });
    }

    /// Delays every call by `latency`.
    pub fn latency(&self, latency: Duration) {
        self.with(|s| s.latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX));
    }

    /// The `Retry-After` seconds of throttling answers (default 1).
    pub fn retry_after(&self, secs: u32) {
        self.with(|s| s.retry_after_seconds = secs);
    }

    /// Back to no faults.
    pub fn clear(&self) {
        self.with(|s| *s = FaultSettings::default());
    }

    /// The current settings.
    pub fn settings(&self) -> FaultSettings {
        self.with(|s| s.clone())
    }

    /// Replaces the settings.
    pub fn set(&self, settings: FaultSettings) {
        self.with(|s| *s = settings);
    }

    /// The latency to add to the current call.
    pub(crate) fn delay(&self) -> Duration {
        Duration::from_millis(self.with(|s| s.latency_ms))
    }

    /// Arms [`Faults::fail_after`] when `operation` succeeded for `caller`.
    pub(crate) fn succeeded(&self, operation: &str, caller: &str) {
        self.with(|s| {
            if let Some(after) = s.fail_after.as_mut()
                && after.armed_for.is_none()
                && after.operation == operation
            {
                after.armed_for = Some(caller.to_owned());
            }
        });
    }

    /// The injected error for `caller`'s call of `operation`, if any; counts the call down.
    pub(crate) fn injected(&self, operation: &str, caller: &str) -> Option<Error> {
        self.with(|s| {
            if let Some(until) = s.outage_until {
                if clock::Instant::now() < until {
                    return Some(injected_failure(503));
                }
                s.outage_until = None;
            }
            let throttle = if s.throttle_next > 0 {
                s.throttle_next -= 1;
                true
            } else {
                s.throttle_share > 0.0 && fastrand::f64() < s.throttle_share
            };
            if throttle {
                return Some(Error::Throttled {
                    message: "Rate exceeded".to_owned(),
                    retry_after_seconds: s.retry_after_seconds,
                });
            }
            if s.fail_next > 0 {
                s.fail_next -= 1;
                return Some(injected_failure(s.fail_status));
            }
            if s.fail_after
                .as_ref()
                .is_some_and(|after| after.armed_for.as_deref() == Some(caller))
            {
                let mut after = s.fail_after.take()?;
                after.calls = after.calls.saturating_sub(1);
                let status = after.status;
                if after.calls > 0 {
                    s.fail_after = Some(after);
                }
                return Some(injected_failure(status));
            }
            s.refusals.get(operation).map(Error::validation)
        })
    }
}

fn injected_failure(status: u16) -> Error {
    let message = format!("injected failure (HTTP {status})");
    match status {
        400 => Error::validation(message),
        402 => Error::QuotaExceeded {
            message,
            resource_id: String::new(),
            resource_type: String::new(),
            quota_code: "injected".to_owned(),
        },
        403 => Error::AccessDenied { message },
        404 => Error::NotFound { message },
        409 => Error::Conflict {
            message,
            resource_id: String::new(),
            resource_type: String::new(),
        },
        423 => Error::InvalidToken { message },
        429 => Error::Throttled {
            message,
            retry_after_seconds: 1,
        },
        500 => Error::Internal { message },
        503 => Error::Injected {
            status,
            code: "ServiceUnavailableException".to_owned(),
            message,
        },
        _ => Error::Injected {
            status,
            code: "InternalFailure".to_owned(),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_exactly_the_next_n_calls_then_fails_the_next_m() {
        let faults = Faults::default();
        faults.throttle_next(2);
        faults.fail_next(1, 500);
        assert!(matches!(
            faults.injected("GetCase", "k"),
            Some(Error::Throttled { .. })
        ));
        assert!(matches!(
            faults.injected("GetCase", "k"),
            Some(Error::Throttled { .. })
        ));
        assert!(matches!(
            faults.injected("GetCase", "k"),
            Some(Error::Internal { .. })
        ));
        assert!(faults.injected("GetCase", "k").is_none());
    }

    #[test]
    fn fail_after_fails_only_the_next_call_of_the_caller_whose_operation_succeeded() {
        let faults = Faults::default();
        faults.fail_after("CreateCase", 429, 2);
        faults.succeeded("GetCase", "lambda");
        assert!(faults.injected("GetCase", "lambda").is_none());
        faults.succeeded("CreateCase", "lambda");
        assert!(faults.injected("GetCase", "poller").is_none());
        assert!(matches!(
            faults.injected("GetCase", "lambda"),
            Some(Error::Throttled { .. })
        ));
        assert!(faults.injected("CreateCaseComment", "lambda").is_some());
        assert!(faults.injected("GetCase", "lambda").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_answers_every_call_503_until_it_ends() {
        let faults = Faults::default();
        faults.outage(Duration::from_secs(600));
        assert!(matches!(
            faults.injected("GetCase", "k"),
            Some(Error::Injected { status: 503, .. })
        ));
        tokio::time::sleep(Duration::from_secs(599)).await;
        assert!(faults.injected("UpdateCase", "k").is_some());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(faults.injected("GetCase", "k").is_none());
    }

    #[test]
    fn a_call_armed_to_hang_is_taken_once_and_only_for_its_operation() {
        let faults = Faults::default();
        faults.hang_after_applying("CreateCaseComment");
        assert!(!faults.take_hang("UpdateCase"));
        assert!(faults.take_hang("CreateCaseComment"));
        assert!(!faults.take_hang("CreateCaseComment"));
    }

    #[test]
    fn a_refused_operation_gets_a_validation_exception_until_accepted() {
        let faults = Faults::default();
        faults.refuse("UpdateCaseStatus", "Invalid status transition");
        assert!(faults.injected("GetCase", "k").is_none());
        assert!(matches!(
            faults.injected("UpdateCaseStatus", "k"),
            Some(Error::Validation { message, .. }) if message == "Invalid status transition"
        ));
        faults.accept("UpdateCaseStatus");
        assert!(faults.injected("UpdateCaseStatus", "k").is_none());
    }

    #[test]
    fn share_of_one_throttles_everything_and_clear_stops_it() {
        let faults = Faults::default();
        faults.throttle_share(1.0);
        assert!((0..20).all(|_| faults.injected("GetCase", "k").is_some()));
        faults.clear();
        assert!(faults.injected("GetCase", "k").is_none());
    }
}
