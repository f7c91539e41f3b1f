//! Bulk: many items created at once on one side, against the other side's limits.
//!
//! - **SIR → Jira**: `n` cases (each with two watchers who have Jira accounts) created at once,
//!   the Jira emulator limited as Jira Cloud limits a site: 10 requests/s for the tenant, per
//!   endpoint and method, and per-issue writes, each answered 429 with `Retry-After` and
//!   `RateLimit-Reason`.
//! - **Jira → SIR**: `n` issues created at once in Jira, the same Jira limits, and SIR answering
//!   a share of calls 429 `ThrottlingException` with `Retry-After`.
//!
//! The pipeline runs as Lambda runs it for asynchronous events: each message tried three times,
//! then dead-lettered (counted). Time: from the creations to the moment every item has its
//! counterpart, checked after each delivery round. Then the world runs until quiet and the other
//! side is counted: items with exactly one counterpart, duplicates, missing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use integration_tests::HarnessError;
use integration_tests::pipeline::{Integration, IntegrationOptions, Settled};
use jira_emulator::{JiraEmulatorConfig, NewIssue, RateLimit, User};
use sir_emulator::SirEmulatorConfig;

use crate::{PEOPLE, emulator, new_case};

/// Jira Cloud's limits in the bulk runs.
const TENANT: RateLimit = RateLimit {
    capacity: 10,
    refill_per_second: 10.0,
};
/// Per endpoint and method: bursts above the tenant's rate are allowed briefly.
const BURST: RateLimit = RateLimit {
    capacity: 20,
    refill_per_second: 10.0,
};
/// Writes to one issue: a handful at once, then one every half second.
const ISSUE_WRITES: RateLimit = RateLimit {
    capacity: 5,
    refill_per_second: 2.0,
};
/// The share of SIR calls throttled in the Jira → SIR run.
const SIR_THROTTLED_SHARE: f64 = 0.1;
/// How long a bulk run may take before the bench gives up on it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(3_600);

/// What one bulk run found.
#[derive(Debug, Clone)]
pub struct BulkRun {
    pub direction: &'static str,
    pub items: usize,
    /// Creations until every item had its counterpart.
    pub seconds: f64,
    /// Requests the integration made to Jira, and how many were answered 429.
    pub jira_requests: usize,
    pub jira_429: usize,
    /// Calls the functions made to SIR, and how many were throttled.
    pub sir_calls: usize,
    pub sir_throttled: usize,
    /// The Jira requests an ideal client could not do without: SIR → Jira, the create and one
    /// per watcher added; Jira → SIR, none (the Jira side is only read).
    pub necessary_jira: usize,
    /// Items with exactly one counterpart, with more than one, and with none.
    pub exact: usize,
    pub duplicated: usize,
    pub missing: usize,
    /// Messages that failed all three tries (Lambda would park them in the DLQ).
    pub dead_lettered: usize,
}

async fn limited_world(sir_throttled: bool) -> Result<Integration, HarnessError> {
    let it = Integration::start_with(IntegrationOptions {
        jira: JiraEmulatorConfig {
            rate_limit: Some(TENANT),
            ..JiraEmulatorConfig::default()
        },
        sir: SirEmulatorConfig::default(),
        async_retry_budget: Some(3),
        ..IntegrationOptions::default()
    })
    .await?;
    let faults = it.jira.faults();
    faults.burst_limit(Some(BURST));
    faults.issue_write_limit(Some(ISSUE_WRITES));
    if sir_throttled {
        it.sir.faults().throttle_share(SIR_THROTTLED_SHARE);
    }
    Ok(it)
}

fn dead_letters(settled: &Settled) -> usize {
    [
        &settled.native,
        &settled.to_jira,
        &settled.notifications,
        &settled.to_sir,
    ]
    .iter()
    .map(|route| route.dead_lettered.len())
    .sum()
}

/// Counts of counterparts per item: exactly one, more than one, none.
fn tally<'a>(
    items: impl IntoIterator<Item = &'a String>,
    counterparts: &BTreeMap<String, usize>,
) -> (usize, usize, usize) {
    let (mut exact, mut duplicated, mut missing) = (0, 0, 0);
    for item in items {
        match counterparts.get(item).copied().unwrap_or(0) {
            0 => missing += 1,
            1 => exact += 1,
            _ => duplicated += 1,
        }
    }
    (exact, duplicated, missing)
}

/// Issues per case id (their `sir-case-<id>` labels).
fn issues_per_case(it: &Integration) -> BTreeMap<String, usize> {
    let mut per_case = BTreeMap::new();
    for issue in it.jira.issues() {
        for label in &issue.labels {
            if let Some(case_id) = label.strip_prefix(shared::jira::CASE_LABEL_PREFIX) {
                *per_case.entry(case_id.to_owned()).or_default() += 1;
            }
        }
    }
    per_case
}

/// Cases per issue key (their `jira-issue-key` tags).
fn cases_per_issue(it: &Integration) -> BTreeMap<String, usize> {
    let mut per_issue = BTreeMap::new();
    for case in it.sir.cases() {
        if let Some(key) = case.tags.get(shared::sir::JIRA_ISSUE_TAG) {
            *per_issue.entry(key.clone()).or_default() += 1;
        }
    }
    per_issue
}

/// What [`drive`] found: seconds until every item had a counterpart, dead letters, and the
/// tally of counterparts per item once quiet (exactly one, more, none).
struct Driven {
    seconds: f64,
    dead_lettered: usize,
    tally: (usize, usize, usize),
}

/// Drives the pipeline until every one of `items` has a counterpart (`counterparts` counts them
/// per item; the seconds it took from `started`), then until quiet, and counts again.
async fn drive(
    it: &Integration,
    started: Instant,
    items: &[String],
    counterparts: impl Fn(&Integration) -> BTreeMap<String, usize>,
) -> Result<Driven, HarnessError> {
    let mut dead = 0;
    let mut seconds = None;
    let mut reported = Instant::now();
    while seconds.is_none() {
        if reported.elapsed() >= Duration::from_secs(30) {
            reported = Instant::now();
            eprintln!(
                "bulk: {:.0} s in, {} of {} items have their counterpart",
                started.elapsed().as_secs_f64(),
                counterparts(it).len(),
                items.len()
            );
        }
        if started.elapsed() > GIVE_UP_AFTER {
            return Err(HarnessError::Setup(format!(
                "the bulk run did not finish within {GIVE_UP_AFTER:?}"
            )));
        }
        let settled = it
            .settle_for(Duration::ZERO, Duration::from_secs(10))
            .await?;
        dead += dead_letters(&settled);
        let found = counterparts(it);
        if items.iter().all(|item| found.contains_key(item)) {
            seconds = Some(started.elapsed().as_secs_f64());
        } else if settled.native.handled
            + settled.to_jira.handled
            + settled.notifications.handled
            + settled.to_sir.handled
            == 0
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let settled = it
        .settle_for(Duration::from_secs(3), Duration::from_secs(600))
        .await?;
    dead += dead_letters(&settled);
    Ok(Driven {
        seconds: seconds.unwrap_or_default(),
        dead_lettered: dead,
        tally: tally(items, &counterparts(it)),
    })
}

/// How many of `statuses` there are, and how many were 429 (refused by a limit or throttled).
fn made_and_refused(statuses: impl Iterator<Item = u16>) -> (usize, usize) {
    statuses.fold((0, 0), |(made, refused), status| {
        (made + 1, refused + usize::from(status == 429))
    })
}

/// The integration account's Jira requests since `from`, and its 429s.
fn jira_counts(it: &Integration, from: usize) -> (usize, usize) {
    let me = it.jira.integration_account_id();
    made_and_refused(
        it.jira
            .requests()
            .into_iter()
            .skip(from)
            .filter(|r| r.account_id.as_deref() == Some(me.as_str()))
            .map(|r| r.status),
    )
}

/// The functions' SIR calls since `from`, and how many were throttled.
fn sir_counts(it: &Integration, from: usize) -> (usize, usize) {
    let keys = it.world.access_keys();
    made_and_refused(
        it.sir
            .requests()
            .into_iter()
            .skip(from)
            .filter(|r| r.access_key_id.as_ref().is_some_and(|k| keys.contains(k)))
            .map(|r| r.status),
    )
}

/// `n` cases created at once in SIR, against Jira's limits.
pub async fn sir_to_jira(n: usize) -> Result<BulkRun, HarnessError> {
    let it = limited_world(false).await?;
    for (name, email) in PEOPLE {
        it.jira.add_user(User::new(name, email));
    }
    let (jira_from, sir_from) = (it.jira.requests().len(), it.sir.requests().len());
    let started = Instant::now();
    let ids: Vec<String> = (0..n)
        .map(|i| {
            it.sir
                .create_case(
                    crate::HUMAN,
                    new_case(
                        &format!("Bulk case {i}"),
                        &["ann@example.com", "bob@example.com"],
                    ),
                )
                .case_id
        })
        .collect();
    let Driven {
        seconds,
        dead_lettered,
        tally: (exact, duplicated, missing),
    } = drive(&it, started, &ids, issues_per_case).await?;
    let (jira_requests, jira_429) = jira_counts(&it, jira_from);
    let (sir_calls, sir_throttled) = sir_counts(&it, sir_from);
    let me = it.jira.integration_account_id();
    let necessary_jira = it
        .jira
        .issues()
        .iter()
        .filter(|issue| {
            issue
                .labels
                .iter()
                .any(|l| l.starts_with(shared::jira::CASE_LABEL_PREFIX))
        })
        .map(|issue| 1 + issue.watchers.iter().filter(|w| **w != me).count())
        .sum();
    Ok(BulkRun {
        direction: "SIR → Jira",
        items: n,
        seconds,
        jira_requests,
        jira_429,
        sir_calls,
        sir_throttled,
        necessary_jira,
        exact,
        duplicated,
        missing,
        dead_lettered,
    })
}

/// `n` issues created at once in Jira, against Jira's limits and SIR's throttling.
pub async fn jira_to_sir(n: usize) -> Result<BulkRun, HarnessError> {
    let it = limited_world(true).await?;
    let ann = it
        .jira
        .add_user(User::new("Ann Analyst", "ann@example.com"))
        .account_id;
    let (jira_from, sir_from) = (it.jira.requests().len(), it.sir.requests().len());
    let started = Instant::now();
    let keys = (0..n)
        .map(|i| {
            it.jira
                .create_issue(&ann, NewIssue::new(format!("Bulk issue {i}")))
                .map_err(|e| emulator("creating an issue")(e.to_string()))
        })
        .collect::<Result<Vec<String>, HarnessError>>()?;
    let Driven {
        seconds,
        dead_lettered,
        tally: (exact, duplicated, missing),
    } = drive(&it, started, &keys, cases_per_issue).await?;
    let (jira_requests, jira_429) = jira_counts(&it, jira_from);
    let (sir_calls, sir_throttled) = sir_counts(&it, sir_from);
    Ok(BulkRun {
        direction: "Jira → SIR",
        items: n,
        seconds,
        jira_requests,
        jira_429,
        sir_calls,
        sir_throttled,
        necessary_jira: 0,
        exact,
        duplicated,
        missing,
        dead_lettered,
    })
}

/// The limits, for the method text.
pub fn limits_text() -> String {
    format!(
        "Jira: tenant {} requests/s (bucket of {}), each endpoint and method {}/s (bucket of {}), \
         writes to one issue {}/s (bucket of {}); SIR (Jira → SIR only): {:.0} % of calls \
         answered 429 `ThrottlingException` with `Retry-After: 1`",
        TENANT.refill_per_second,
        TENANT.capacity,
        BURST.refill_per_second,
        BURST.capacity,
        ISSUE_WRITES.refill_per_second,
        ISSUE_WRITES.capacity,
        SIR_THROTTLED_SHARE * 100.0
    )
}

/// The seconds a client spacing its requests perfectly at the tenant's rate would need for
/// `requests` requests (the bucket's first burst included).
pub fn floor_seconds(requests: usize) -> f64 {
    (requests as f64 - f64::from(TENANT.capacity)).max(0.0) / TENANT.refill_per_second
}
