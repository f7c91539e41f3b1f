//! Running work under a claim: a short lease kept alive by a heartbeat while the work runs, and
//! a delivery that finds the claim held waiting for it (bounded) instead of failing at once.
//!
//! Lambda retries a failed asynchronous event about a minute later, then about two minutes after
//! that, then parks it in the dead-letter queue. A claim that outlives its dead holder by minutes
//! (a crash, an out-of-memory kill, a timeout) would make both retries find it held; so the lease
//! is short ([`CLAIM_LEASE`]) and the live holder renews it every [`CLAIM_RENEW_EVERY`]: a holder
//! that dies stops renewing, and its claim is free at most one lease later. And since two
//! deliveries of one case's events often overlap (a change, its echo, a native event and the
//! schedule), a delivery that finds the claim held polls for it for up to [`CLAIM_WAIT`], longer
//! than a lease, so it always outwaits a dead holder, and well inside the function's 300 s. The
//! numbers are the contract's (`claimLeaseSeconds`, `claimRenewSeconds`, `claimWaitSeconds` in
//! cdk/contract.json), which the CDK stack and tests/tests/infra_contract.rs check against the
//! claiming functions' timeout.

use std::future::Future;
use std::time::Duration;

use super::{Claim, ClaimKey, ClaimStore};
use crate::clock::Instant;
use crate::error::Error;

/// How long a claim lasts unless its holder renews it.
pub const CLAIM_LEASE: Duration = Duration::from_secs(60);
/// How often a holder renews its claim while its work runs: a third of the lease, so two renewals
/// in a row may fail (DynamoDB throttling) before the claim runs out.
pub const CLAIM_RENEW_EVERY: Duration = Duration::from_secs(20);
/// How long a delivery that finds the claim held waits for it before giving up with a retryable
/// error: longer than a lease (a dead holder's claim is free by then), at most half the claiming
/// functions' 300 s timeout (the work keeps the other half).
pub const CLAIM_WAIT: Duration = Duration::from_secs(75);
/// How often a waiting delivery tries to take the claim.
pub const CLAIM_POLL: Duration = Duration::from_secs(2);

/// How [`run_claimed`] holds and waits for a claim; [`ClaimTiming::default`] is the contract's,
/// tests shorten it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimTiming {
    /// How long the claim lasts unless renewed.
    pub lease: Duration,
    /// How often the holder renews it while its work runs (well under `lease`).
    pub renew_every: Duration,
    /// How long a delivery that finds the claim held waits for it.
    pub wait: Duration,
    /// How often the waiting delivery tries again.
    pub poll: Duration,
}

impl Default for ClaimTiming {
    fn default() -> Self {
        ClaimTiming {
            lease: CLAIM_LEASE,
            renew_every: CLAIM_RENEW_EVERY,
            wait: CLAIM_WAIT,
            poll: CLAIM_POLL,
        }
    }
}

/// Runs `work` holding the claim on `key`, so concurrent deliveries cannot both create the other
/// side or copy the same item. A claim held by someone else is waited for (polled every
/// `timing.poll`, for up to `timing.wait`); `Ok(None)`: it was still held (the caller's
/// retryable error says so). While `work` runs, the claim is renewed every
/// `timing.renew_every`; if a renewal finds the claim gone (it ran out while renewals failed,
/// and another delivery took it), `work` is stopped where it is — as a crash would stop it, which
/// every handler tolerates — and the answer is the retryable [`Error::ClaimLost`]. The claim is
/// released whatever `work` returns; a release that fails only leaves the lease to expire.
pub async fn run_claimed<T, E: From<Error>>(
    store: &dyn ClaimStore,
    key: &ClaimKey,
    timing: &ClaimTiming,
    work: impl Future<Output = Result<T, E>>,
) -> Result<Option<T>, E> {
    let Some(claim) = take_or_wait(store, key, timing).await? else {
        return Ok(None);
    };
    let result = tokio::select! {
        biased;
        result = work => result.map(Some),
        lost = keep_renewed(store, &claim, timing) => Err(lost.into()),
    };
    if let Err(error) = store.release(&claim).await {
        tracing::warn!(?key, %error, "could not release the claim; it will expire");
    }
    result
}

/// The claim on `key`, taken now or within `timing.wait`; `None` when it stayed held.
async fn take_or_wait(
    store: &dyn ClaimStore,
    key: &ClaimKey,
    timing: &ClaimTiming,
) -> Result<Option<Claim>, Error> {
    let deadline = Instant::now() + timing.wait;
    loop {
        if let Some(claim) = store.claim(key, timing.lease).await? {
            return Ok(Some(claim));
        }
        let now = Instant::now();
        if now >= deadline {
            tracing::info!(?key, waited = ?timing.wait, "the claim stayed held");
            return Ok(None);
        }
        tracing::debug!(?key, "the claim is held; waiting for it");
        tokio::time::sleep(timing.poll.min(deadline - now)).await;
    }
}

/// Renews `claim` every `timing.renew_every` for as long as it is polled; returns only when the
/// claim was lost. A renewal that fails (DynamoDB unavailable) is tried again at the next beat:
/// the lease lasts several beats, and a claim that ran out meanwhile is refused by the next
/// renewal (only an unexpired claim of this owner is extended).
async fn keep_renewed(store: &dyn ClaimStore, claim: &Claim, timing: &ClaimTiming) -> Error {
    let mut held = claim.clone();
    loop {
        tokio::time::sleep(timing.renew_every).await;
        match store.renew(&held, timing.lease).await {
            Ok(Some(renewed)) => held = renewed,
            Ok(None) => {
                tracing::warn!(key = ?claim.key, "the claim was lost; stopping the work");
                return Error::ClaimLost {
                    key: match &claim.key {
                        ClaimKey::Case(id) => format!("case {id}"),
                        ClaimKey::Issue(key) => format!("issue {key}"),
                    },
                };
            }
            Err(error) => {
                tracing::warn!(key = ?claim.key, %error, "could not renew the claim; trying again");
            }
        }
    }
}
