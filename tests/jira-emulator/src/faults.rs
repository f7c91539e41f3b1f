//! Fault injection for the REST API: failing the next N requests, added latency, a full outage,
//! a token-bucket rate limit answering 429 with `Retry-After`, a write that is applied and then
//! answered with a failure (the answer lost on the way: a gateway timeout, a dropped
//! connection, a Lambda that stopped before it read it), or applied and never answered (the
//! caller stopped right after the write, as a Lambda killed at its timeout); and refusals of one item as Jira
//! Cloud words them: a watcher Jira will not add (400 with `errorMessages`), a transition whose
//! screen requires a field the request does not set (400 with `errors`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clock::Instant;
use serde::{Deserialize, Serialize};

use crate::lock;

/// A token bucket: `capacity` requests at once, refilled at `refill_per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub capacity: u32,
    pub refill_per_second: f64,
}

#[derive(Debug)]
struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    fn new(limit: RateLimit) -> TokenBucket {
        TokenBucket {
            limit,
            tokens: f64::from(limit.capacity),
            refilled_at: Instant::now(),
        }
    }

    /// Takes a token, or says how many whole seconds until one is there.
    fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled_at).as_secs_f64();
        self.refilled_at = now;
        self.tokens = (self.tokens + elapsed * self.limit.refill_per_second)
            .min(f64::from(self.limit.capacity));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if self.limit.refill_per_second <= 0.0 {
            return Err(60);
        }
        let wait = (1.0 - self.tokens) / self.limit.refill_per_second;
        Err(wait.ceil().max(1.0) as u64)
    }
}

/// Which of Jira Cloud's limits refused a request: the `RateLimit-Reason` of its 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    /// The tenant's budget over every endpoint (the emulator's `rateLimit`).
    Tenant,
    /// Requests per second to one endpoint and method.
    Burst,
    /// Writes to one issue.
    IssueWrite,
}

impl LimitReason {
    /// The `RateLimit-Reason` header value Jira Cloud sends for it.
    pub fn header_value(self) -> &'static str {
        match self {
            LimitReason::Tenant => "jira-quota-tenant-based",
            LimitReason::Burst => "jira-burst-based",
            LimitReason::IssueWrite => "jira-per-issue-on-write",
        }
    }
}

/// A refused request: why, and how many whole seconds until the bucket has a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limited {
    pub(crate) reason: LimitReason,
    pub(crate) retry_after_seconds: u64,
}

/// The endpoint a path is, with issue keys and ids as placeholders
/// (`/rest/api/3/issue/SEC-1/comment/10001` → `/rest/api/3/issue/{key}/comment/{id}`), and the
/// issue it names, if any.
pub(crate) fn endpoint_of(path: &str) -> (String, Option<String>) {
    let mut issue = None;
    let mut previous = "";
    let shape: Vec<String> = path
        .split('/')
        .map(|segment| {
            let shaped = if previous == "issue"
                && segment.rsplit_once('-').is_some_and(|(project, number)| {
                    !project.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
                }) {
                issue = Some(segment.to_owned());
                "{key}".to_owned()
            } else if previous != "api"
                && !segment.is_empty()
                && segment.bytes().all(|b| b.is_ascii_digit())
            {
                "{id}".to_owned()
            } else {
                segment.to_owned()
            };
            previous = segment;
            shaped
        })
        .collect();
    (shape.join("/"), issue)
}

#[derive(Debug, Default)]
struct FaultState {
    failing: Option<(u32, u16)>,
    latency: Duration,
    outage_until: Option<Instant>,
    bucket: Option<TokenBucket>,
    /// Per endpoint and method (`jira-burst-based`): the limit, and each endpoint's bucket.
    burst: Option<(RateLimit, BTreeMap<String, TokenBucket>)>,
    /// Per issue, writes only (`jira-per-issue-on-write`): the limit, and each issue's bucket.
    issue_writes: Option<(RateLimit, BTreeMap<String, TokenBucket>)>,
    /// accountId → the status and message that answer adding it as a watcher.
    refused_watchers: BTreeMap<String, (u16, String)>,
    /// Target status (lower case) → the field its transitions require, and Jira's message.
    required_transition_fields: BTreeMap<String, (String, String)>,
    /// Writes to apply and then answer with a failure, each once, in the order armed.
    fail_after_applying: Vec<AppliedThenFailed>,
    /// Writes to apply and then never answer, each once, in the order armed: (method, path part).
    hang_after_applying: Vec<(String, String)>,
}

/// A request (method, a part of its path) that is applied and then answered with `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AppliedThenFailed {
    method: String,
    path_part: String,
    status: u16,
}

/// What to do with a request before it reaches the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// An injected failure with this status.
    Injected(u16),
    /// The outage: 503 with `Retry-After` in seconds.
    Outage { retry_after_seconds: u64 },
}

/// Handle on the emulator's faults; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

impl Faults {
    pub(crate) fn new(rate_limit: Option<RateLimit>) -> Faults {
        let faults = Faults::default();
        faults.rate_limit(rate_limit);
        faults
    }

    /// The next `count` REST requests fail with `status` (a 5xx, usually) before anything else.
    pub fn fail_next(&self, count: u32, status: u16) {
        lock(&self.state).failing = (count > 0).then_some((count, status));
    }

    /// Every REST request waits this long before it is handled (zero turns it off).
    pub fn latency(&self, delay: Duration) {
        lock(&self.state).latency = delay;
    }

    /// Every REST request is answered 503 with `Retry-After` for this long from now.
    pub fn outage(&self, duration: Duration) {
        lock(&self.state).outage_until = Some(Instant::now() + duration);
    }

    /// Replaces the rate limit (`None` turns it off); the bucket starts full.
    pub fn rate_limit(&self, limit: Option<RateLimit>) {
        lock(&self.state).bucket = limit.map(TokenBucket::new);
    }

    /// Adding `account_id` as a watcher is answered 400 with `message` (as Jira Cloud answers for
    /// a user who cannot be added, e.g. one without Browse permission on the project).
    pub fn refuse_watcher(&self, account_id: &str, message: &str) {
        self.answer_watcher(account_id, 400, message);
    }

    /// Adding `account_id` as a watcher is answered with `status` (a 5xx: failing for now) every
    /// time, the client's own retries included.
    pub fn fail_watcher(&self, account_id: &str, status: u16) {
        self.answer_watcher(
            account_id,
            status,
            "The watcher could not be added right now.",
        );
    }

    fn answer_watcher(&self, account_id: &str, status: u16, message: &str) {
        lock(&self.state)
            .refused_watchers
            .insert(account_id.to_owned(), (status, message.to_owned()));
    }

    /// Every transition to `status` requires `field` on its screen: a request that does not set
    /// it in `fields` is answered 400 with `{"errors": {field: message}}`, as Jira Cloud does.
    pub fn require_transition_field(&self, status: &str, field: &str, message: &str) {
        lock(&self.state).required_transition_fields.insert(
            status.to_lowercase(),
            (field.to_owned(), message.to_owned()),
        );
    }

    /// The next `method` request whose path contains `path_part` is applied, and then answered
    /// with `status` instead of its answer (504: the gateway gave up waiting for Jira, which
    /// made the change anyway). Once; armed several times, the matching requests take them in
    /// turn.
    pub fn fail_after_applying(&self, method: &str, path_part: &str, status: u16) {
        lock(&self.state)
            .fail_after_applying
            .push(AppliedThenFailed {
                method: method.to_uppercase(),
                path_part: path_part.to_owned(),
                status,
            });
    }

    /// The next `method` request whose path contains `path_part` is applied, and then never
    /// answered: its answer stays pending, so its caller is stopped right after the write (until
    /// whatever bounds it, a Lambda's timeout, drops it). Once; armed several times, the matching
    /// requests take them in turn.
    pub fn hang_after_applying(&self, method: &str, path_part: &str) {
        lock(&self.state)
            .hang_after_applying
            .push((method.to_uppercase(), path_part.to_owned()));
    }

    /// Removes every fault, the rate limit included.
    pub fn clear(&self) {
        *lock(&self.state) = FaultState::default();
    }

    /// The latency to add to the next request.
    pub(crate) fn current_latency(&self) -> Duration {
        lock(&self.state).latency
    }

    /// Whether the outage or an injected failure answers this request instead of the API.
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        let mut state = lock(&self.state);
        if let Some(until) = state.outage_until {
            let now = Instant::now();
            if now < until {
                let left = until.duration_since(now).as_secs_f64().ceil().max(1.0) as u64;
                return Some(Refusal::Outage {
                    retry_after_seconds: left,
                });
            }
            state.outage_until = None;
        }
        if let Some((count, status)) = state.failing {
            state.failing = (count > 1).then_some((count - 1, status));
            return Some(Refusal::Injected(status));
        }
        None
    }

    /// The status replacing the answer to this request once it was applied, if one is armed
    /// for it (then used up).
    pub(crate) fn take_failure_after_applying(&self, method: &str, path: &str) -> Option<u16> {
        let mut state = lock(&self.state);
        let index = state
            .fail_after_applying
            .iter()
            .position(|armed| armed.method == method && path.contains(&armed.path_part))?;
        Some(state.fail_after_applying.remove(index).status)
    }

    /// Whether this applied request is to be left unanswered (then used up).
    pub(crate) fn take_hang_after_applying(&self, method: &str, path: &str) -> bool {
        let mut state = lock(&self.state);
        let Some(index) = state
            .hang_after_applying
            .iter()
            .position(|(armed, part)| armed == method && path.contains(part.as_str()))
        else {
            return false;
        };
        state.hang_after_applying.remove(index);
        true
    }

    /// The status and message refusing `account_id` as a watcher, if it is refused.
    pub(crate) fn watcher_refusal(&self, account_id: &str) -> Option<(u16, String)> {
        lock(&self.state).refused_watchers.get(account_id).cloned()
    }

    /// The field (and Jira's message) a transition to `status` requires, if any.
    pub(crate) fn transition_requirement(&self, status: &str) -> Option<(String, String)> {
        lock(&self.state)
            .required_transition_fields
            .get(&status.to_lowercase())
            .cloned()
    }

    /// Takes a token from the tenant's bucket, or says how many seconds to wait.
    #[cfg(test)]
    pub(crate) fn take_token(&self) -> Result<(), u64> {
        match lock(&self.state).bucket.as_mut() {
            Some(bucket) => bucket.take(),
            None => Ok(()),
        }
    }

    /// Limits requests per second to each endpoint and method, as Jira Cloud's burst limit
    /// (`None` turns it off); each endpoint's bucket starts full.
    pub fn burst_limit(&self, limit: Option<RateLimit>) {
        lock(&self.state).burst = limit.map(|limit| (limit, BTreeMap::new()));
    }

    /// Limits writes (POST, PUT, DELETE) to each issue, as Jira Cloud's per-issue write limit
    /// (`None` turns it off); each issue's bucket starts full.
    pub fn issue_write_limit(&self, limit: Option<RateLimit>) {
        lock(&self.state).issue_writes = limit.map(|limit| (limit, BTreeMap::new()));
    }

    /// Takes a token from every limit the request falls under (the tenant's, its endpoint's,
    /// and its issue's for a write), or names the first that refused it.
    pub(crate) fn admit(&self, method: &str, path: &str) -> Result<(), Limited> {
        let mut state = lock(&self.state);
        let refused = |reason| {
            move |retry_after_seconds| Limited {
                reason,
                retry_after_seconds,
            }
        };
        if let Some(bucket) = state.bucket.as_mut() {
            bucket.take().map_err(refused(LimitReason::Tenant))?;
        }
        let (endpoint, issue) = endpoint_of(path);
        if let Some((limit, buckets)) = state.burst.as_mut() {
            buckets
                .entry(format!("{method} {endpoint}"))
                .or_insert_with(|| TokenBucket::new(*limit))
                .take()
                .map_err(refused(LimitReason::Burst))?;
        }
        let write = matches!(method, "POST" | "PUT" | "DELETE");
        if let (true, Some(issue), Some((limit, buckets))) =
            (write, issue, state.issue_writes.as_mut())
        {
            buckets
                .entry(issue)
                .or_insert_with(|| TokenBucket::new(*limit))
                .take()
                .map_err(refused(LimitReason::IssueWrite))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_once_empty_and_says_when_to_retry() {
        let faults = Faults::new(Some(RateLimit {
            capacity: 2,
            refill_per_second: 0.5,
        }));
        assert_eq!(faults.take_token(), Ok(()));
        assert_eq!(faults.take_token(), Ok(()));
        assert_eq!(faults.take_token(), Err(2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_and_the_outage_run_on_the_clock_crates_time() {
        let faults = Faults::new(Some(RateLimit {
            capacity: 1,
            refill_per_second: 0.5,
        }));
        assert_eq!(faults.take_token(), Ok(()));
        assert_eq!(faults.take_token(), Err(2));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(faults.take_token(), Ok(()));

        faults.outage(Duration::from_secs(30));
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(
            faults.refusal(),
            Some(Refusal::Outage {
                retry_after_seconds: 10
            })
        );
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(faults.refusal(), None);
    }

    #[test]
    fn endpoints_are_named_with_keys_and_ids_as_placeholders() {
        assert_eq!(
            endpoint_of("/rest/api/3/issue/SEC-12/comment/10001"),
            (
                "/rest/api/3/issue/{key}/comment/{id}".to_owned(),
                Some("SEC-12".to_owned())
            )
        );
        assert_eq!(
            endpoint_of("/rest/api/3/search/jql"),
            ("/rest/api/3/search/jql".to_owned(), None)
        );
    }

    #[test]
    fn burst_and_issue_write_limits_refuse_only_their_own_part_and_say_which() {
        let faults = Faults::default();
        let one = Some(RateLimit {
            capacity: 1,
            refill_per_second: 0.5,
        });
        faults.burst_limit(one);
        assert_eq!(
            faults.admit("POST", "/rest/api/3/issue/SEC-1/comment"),
            Ok(())
        );
        let refused = faults.admit("POST", "/rest/api/3/issue/SEC-2/comment");
        assert_eq!(
            refused.map_err(|l| (l.reason.header_value(), l.retry_after_seconds)),
            Err(("jira-burst-based", 2))
        );
        // Another endpoint, or the same path with another method, has its own bucket.
        assert_eq!(
            faults.admit("GET", "/rest/api/3/issue/SEC-1/comment"),
            Ok(())
        );
        assert_eq!(faults.admit("GET", "/rest/api/3/issue/SEC-1"), Ok(()));

        faults.burst_limit(None);
        faults.issue_write_limit(one);
        assert_eq!(faults.admit("PUT", "/rest/api/3/issue/SEC-1"), Ok(()));
        assert_eq!(
            faults
                .admit("POST", "/rest/api/3/issue/SEC-1/comment")
                .map_err(|l| l.reason),
            Err(LimitReason::IssueWrite)
        );
        // Reads of that issue, and writes to another, go through.
        assert_eq!(faults.admit("GET", "/rest/api/3/issue/SEC-1"), Ok(()));
        assert_eq!(
            faults.admit("POST", "/rest/api/3/issue/SEC-2/comment"),
            Ok(())
        );
    }

    #[test]
    fn injected_failures_run_out() {
        let faults = Faults::default();
        faults.fail_next(2, 502);
        assert_eq!(faults.refusal(), Some(Refusal::Injected(502)));
        assert_eq!(faults.refusal(), Some(Refusal::Injected(502)));
        assert_eq!(faults.refusal(), None);
    }

    #[test]
    fn a_write_armed_to_fail_after_applying_fails_once_and_only_when_it_matches() {
        let faults = Faults::default();
        faults.fail_after_applying("post", "/comment", 504);
        assert_eq!(
            faults.take_failure_after_applying("GET", "/rest/api/3/issue/SEC-1/comment"),
            None
        );
        assert_eq!(
            faults.take_failure_after_applying("POST", "/rest/api/3/issue/SEC-1/comment"),
            Some(504)
        );
        assert_eq!(
            faults.take_failure_after_applying("POST", "/rest/api/3/issue/SEC-1/comment"),
            None
        );
    }

    #[test]
    fn a_write_armed_to_hang_after_applying_is_taken_once_and_only_when_it_matches() {
        let faults = Faults::default();
        faults.hang_after_applying("put", "/issue/");
        assert!(!faults.take_hang_after_applying("POST", "/rest/api/3/issue/SEC-1"));
        assert!(faults.take_hang_after_applying("PUT", "/rest/api/3/issue/SEC-1"));
        assert!(!faults.take_hang_after_applying("PUT", "/rest/api/3/issue/SEC-1"));
    }
}
