//! Coalescing: a flood of messages about one issue costs a bounded number of Jira re-reads, and
//! no change is ever lost.
//!
//! Anyone can publish to the topic through the Atlassian session the topic policy admits, so
//! messages naming this project's issue keys may come by the thousand. Each re-read costs several
//! Jira calls. The state is one item per issue in the mapping table, `ISSUE#<key>` / `NOTIFIED`
//! ([`NotifiedWindow`]): when the current window closes, how many re-reads started in it, and
//! when the latest one started. It is only ever replaced by a conditional PutItem that expects
//! what was read ([`NotifiedWindowStore::swap_notified_window`]), so concurrent invocations cannot both
//! take the same slot.
//!
//! For a message that SNS published at `P` (the record's `Timestamp`, set by SNS, not by the
//! sender), [`Coalescer::admit`] decides:
//! 1. **Covered** (skip, no Jira call): a re-read of the issue started at `S >= P + margin`.
//! 2. **Read**: it takes a slot (opens a window when none is open: up to [`Coalescing::reads_per_window`]
//!    re-reads start per window) and the handler re-reads the issue.
//! 3. Otherwise (not covered, every slot of the open window taken) it waits for the window to
//!    close and decides again.
//!
//! Why nothing is lost. A change to the issue is made before Automation publishes the message
//! about it, so before `P`; a re-read that starts after `P` (Jira's issue, comment and watcher
//! reads are consistent, unlike search) sees it. Case 2 reads after `P` itself. In case 1 the
//! covering re-read started after `P`; it belongs to an invocation that either succeeds (the
//! change was seen, compared with the snapshot and published) or fails: then it gives its
//! coverage back ([`ReadSlot::give_back`] sets the window's latest start to 0, unless a later
//! re-read replaced it, which covers even more), and its own message is retried by Lambda (or
//! kept in the dead-letter queue, whose replay re-reads the issue): that retry re-reads after `P`
//! too. Case 3 never returns without case 1 or 2, except that after [`MAX_WAITS`] windows (or
//! [`MAX_SWAPS`] refused writes) of contention it reads without a slot: still lossless, merely
//! not coalesced. A message is never
//! acknowledged as handled without one of these. `margin` ([`Coalescing::clock_margin`]) absorbs
//! the skew between SNS's clock and Lambda's (both disciplined by Amazon Time Sync, well under it).
//!
//! Cost. Re-reads only start by taking a slot, so an issue is re-read at most `reads_per_window`
//! times per window, whatever the number of messages (plus one per message that gave up on a
//! slot, see case 3). A burst published before its first re-read started costs one re-read;
//! every skipped message costs one PutItem. The slots of a window let a person's quick edits
//! (and the integration's own echoes) through without waiting; only beyond them does a message
//! wait, at most about one window.

use std::time::Duration;

use shared::store::{NotifiedWindow, NotifiedWindowStore, WindowExpectation, WindowSwap};

/// How many times a message waits for a window to close before it reads without a slot (about
/// 22 s at most with the default window; tests/tests/infra_contract.rs checks the function's timeout
/// leaves room for it).
pub const MAX_WAITS: u32 = 2;

/// How many conditional writes a message tries before it reads without a slot (each refusal
/// means another invocation wrote the window meanwhile, so this is only reached under contention
/// far beyond the reserved concurrency).
pub const MAX_SWAPS: u32 = 16;

/// How messages about one issue are coalesced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coalescing {
    /// Length of a window.
    pub window: Duration,
    /// Re-reads that may start per window (at least 1).
    pub reads_per_window: u32,
    /// A re-read covers a message only if it started at least this long after the message was
    /// published.
    pub clock_margin: Duration,
}

impl Default for Coalescing {
    /// Ten-second windows with three re-reads each: at most 18 re-reads of an issue a minute.
    fn default() -> Self {
        Coalescing {
            window: Duration::from_secs(10),
            reads_per_window: 3,
            clock_margin: Duration::from_millis(100),
        }
    }
}

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A re-read that started this many milliseconds after the message was published covers it.
    Covered { read_started_after_ms: u64 },
    /// Re-read the issue (and give the slot back if that fails).
    Read(ReadSlot),
    /// Every slot of the window is taken and the caller asked not to wait: it tries again after
    /// the window closes (epoch milliseconds).
    Busy { closes_ms: u64 },
}

/// A re-read this invocation is allowed to start; `None` inside when it reads without a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSlot {
    written: Option<NotifiedWindow>,
}

impl ReadSlot {
    /// The re-read failed: it covers nothing (messages it covered are covered by this message's
    /// retry). Does nothing if another re-read started since: that one covers them.
    pub async fn give_back(&self, store: &dyn NotifiedWindowStore, issue_key: &str) {
        let Some(written) = self.written else {
            return;
        };
        let uncovered = NotifiedWindow {
            last_read_started_ms: 0,
            ..written
        };
        if let Err(error) = store
            .swap_notified_window(issue_key, WindowExpectation::Exactly(written), &uncovered)
            .await
        {
            // Only costs coalescing: the messages it covered are covered by this one's retry.
            tracing::warn!(issue_key, %error, "could not give back the re-read slot");
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Decides per message whether to re-read (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Coalescer {
    pub settings: Coalescing,
}

impl Coalescer {
    /// Whether `window` has a re-read that started late enough to cover a message published at
    /// `published_ms`.
    fn covers(&self, window: &NotifiedWindow, published_ms: u64) -> Option<u64> {
        let start = window.last_read_started_ms;
        (start > 0 && start >= published_ms.saturating_add(millis(self.settings.clock_margin)))
            .then(|| start - published_ms)
    }

    /// Covered, or a slot to re-read the issue for a message SNS published at `published_ms`;
    /// with every slot taken it waits for the next window (`wait_for_slot`), or answers
    /// [`Admission::Busy`] at once (a webhook, whose sender retries and times out meanwhile).
    pub async fn admit(
        &self,
        store: &dyn NotifiedWindowStore,
        issue_key: &str,
        published_ms: u64,
        wait_for_slot: bool,
    ) -> shared::Result<Admission> {
        // What this invocation knows of the stored window (None: believed closed or absent).
        let mut known: Option<NotifiedWindow> = None;
        let mut waits = 0;
        for _ in 0..MAX_SWAPS {
            let now = shared::clock::now_epoch_millis();
            let open = known.filter(|w| w.expires_at.saturating_mul(1_000) > now);
            if let Some(after) = open.as_ref().and_then(|w| self.covers(w, published_ms)) {
                return Ok(Admission::Covered {
                    read_started_after_ms: after,
                });
            }
            let (expected, new) = match self.next_claim(open, now) {
                SlotClaim::Swap { expected, new } => (expected, new),
                SlotClaim::Full { closes_ms } => {
                    if !wait_for_slot {
                        return Ok(Admission::Busy { closes_ms });
                    }
                    if waits == MAX_WAITS {
                        tracing::warn!(
                            issue_key,
                            "no re-read slot after waiting {MAX_WAITS} windows; reading without one"
                        );
                        return Ok(Admission::Read(ReadSlot { written: None }));
                    }
                    waits += 1;
                    tracing::info!(
                        issue_key,
                        wait_ms = closes_ms - now,
                        "every re-read slot of the issue's window is taken; waiting for the next window"
                    );
                    tokio::time::sleep(Duration::from_millis(closes_ms - now)).await;
                    continue;
                }
            };
            match store
                .swap_notified_window(issue_key, expected, &new)
                .await?
            {
                WindowSwap::Written => {
                    return Ok(Admission::Read(ReadSlot { written: Some(new) }));
                }
                WindowSwap::Refused(stored) => known = stored,
            }
        }
        tracing::warn!(
            issue_key,
            "lost the race for a re-read slot {MAX_SWAPS} times; reading without one"
        );
        Ok(Admission::Read(ReadSlot { written: None }))
    }

    /// How to take a slot at `now` (epoch milliseconds) given the `open` window, if any: open a
    /// new window, take the open window's next slot, or (every slot taken) wait for it to close.
    fn next_claim(&self, open: Option<NotifiedWindow>, now: u64) -> SlotClaim {
        let window_ms = millis(self.settings.window).max(1_000);
        let reads_per_window = self.settings.reads_per_window.max(1);
        match open {
            None => SlotClaim::Swap {
                expected: WindowExpectation::NoneOpenAt(now / 1_000),
                new: NotifiedWindow {
                    expires_at: (now + window_ms).div_ceil(1_000),
                    reads: 1,
                    last_read_started_ms: now,
                },
            },
            Some(current) if current.reads < reads_per_window => SlotClaim::Swap {
                expected: WindowExpectation::Exactly(current),
                new: NotifiedWindow {
                    reads: current.reads + 1,
                    last_read_started_ms: now,
                    ..current
                },
            },
            Some(current) => SlotClaim::Full {
                closes_ms: current.expires_at.saturating_mul(1_000),
            },
        }
    }
}

/// The next step of [`Coalescer::admit`] for a message no open window covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotClaim {
    /// Write `new` if the stored window is still what `expected` says.
    Swap {
        expected: WindowExpectation,
        new: NotifiedWindow,
    },
    /// Every slot of the open window is taken; it closes at `closes_ms` (epoch milliseconds).
    Full { closes_ms: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_caller_that_may_not_wait_is_told_busy_when_every_slot_is_taken() {
        let store = shared::store::InMemoryMappingStore::new();
        let coalescer = Coalescer {
            settings: Coalescing {
                reads_per_window: 1,
                ..Coalescing::default()
            },
        };
        let first = coalescer
            .admit(&store, "SEC-1", shared::clock::now_epoch_millis(), false)
            .await
            .unwrap();
        assert!(matches!(first, Admission::Read(_)), "{first:?}");
        // Published after that re-read started: not covered, and the window's one slot is taken.
        let later = shared::clock::now_epoch_millis() + 1_000;
        let started = shared::clock::Instant::now();
        let second = coalescer
            .admit(&store, "SEC-1", later, false)
            .await
            .unwrap();
        assert!(matches!(second, Admission::Busy { .. }), "{second:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "it did not wait for the window"
        );
    }

    #[test]
    fn a_slot_opens_a_window_then_takes_the_next_one_until_the_window_is_full() {
        let coalescer = Coalescer::default();
        let now = 1_700_000_000_000;
        let SlotClaim::Swap { expected, new } = coalescer.next_claim(None, now) else {
            panic!("no window open: a new one is opened");
        };
        assert_eq!(expected, WindowExpectation::NoneOpenAt(now / 1_000));
        assert_eq!((new.reads, new.last_read_started_ms), (1, now));
        assert_eq!(new.expires_at, (now + 10_000) / 1_000);

        let later = now + 500;
        let SlotClaim::Swap {
            expected,
            new: next,
        } = coalescer.next_claim(Some(new), later)
        else {
            panic!("a slot is left");
        };
        assert_eq!(expected, WindowExpectation::Exactly(new));
        assert_eq!((next.reads, next.last_read_started_ms), (2, later));
        assert_eq!(next.expires_at, new.expires_at);

        let full = NotifiedWindow { reads: 3, ..next };
        assert_eq!(
            coalescer.next_claim(Some(full), later),
            SlotClaim::Full {
                closes_ms: full.expires_at * 1_000
            }
        );
    }
}
