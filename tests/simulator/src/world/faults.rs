//! Injected faults: under a [`FaultPlan`] the seed picks action steps at which one fault is
//! injected (Jira 429 bursts or 5xx, SIR throttling, a write applied and its answer lost, the
//! next Automation message dropped, doubled or delayed), and, drawn apart, steps at which the
//! invocation making the next write is stopped right after it or one side goes down for longer
//! than Lambda's retry window; and the store delays a share of calls so that concurrent
//! invocations race between a read and their conditional write ([`super::store`]).

use std::collections::BTreeMap;
use std::time::Duration;

use super::SimWorld;

/// Which faults a run injects: at each responder action step, with probability `share`, one
/// of the first eight kinds of [`FaultKind::ALL`]; apart from that, with probability
/// `severe_share`, a crash after a write or an outage; and before each store call, with
/// probability `store_race_share`, a delay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultPlan {
    pub share: f64,
    pub severe_share: f64,
    pub store_race_share: f64,
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self {
            share: 0.5,
            severe_share: 0.12,
            store_race_share: 0.25,
        }
    }
}

/// The shortest outage: Lambda retries an asynchronous event about 1 min and then 2 min after
/// it failed (plus up to 10 s of jitter each), so an event that meets the outage's start has
/// used every try before 4 minutes have passed, and goes to the DLQ.
pub const OUTAGE_MIN: Duration = Duration::from_secs(4 * 60);
/// The longest outage.
pub const OUTAGE_MAX: Duration = Duration::from_secs(15 * 60);

/// One kind of injected fault, as [`SimWorld::faults_injected`] counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// The next Jira requests are answered 429 with `Retry-After`.
    JiraRateLimited,
    /// The next Jira requests are answered with a 5xx.
    JiraServerError,
    /// The next SIR calls are throttled (429 `ThrottlingException`).
    SirThrottled,
    /// A Jira write is applied and answered 504.
    JiraAnswerLost,
    /// A SIR write is applied and answered with a failure.
    SirAnswerLost,
    /// A Jira Automation message is never delivered.
    AutomationDropped,
    /// A Jira Automation message is delivered twice.
    AutomationDoubled,
    /// A Jira Automation message is delivered up to five minutes late.
    AutomationDelayed,
    /// A Jira write (POST or PUT) is applied and never answered: the invocation that made it is
    /// stopped there, as a Lambda killed at its timeout, before it records what it did.
    JiraCrashAfterWrite,
    /// A SIR write is applied and never answered (as [`FaultKind::JiraCrashAfterWrite`]).
    SirCrashAfterWrite,
    /// Jira answers every request 503 (with `Retry-After`) for longer than the retry window.
    JiraOutage,
    /// SIR answers every call 503 for longer than the retry window.
    SirOutage,
    /// A store call waited before reaching the table (counted per call).
    StoreRace,
}

/// The kinds a plan's `share` picks from, in their original order: the new kinds are drawn by
/// another generator, so the faults a seed injected before they existed stay the same (and its
/// regression test keeps its meaning).
const STEP_FAULTS: [FaultKind; 8] = [
    FaultKind::JiraRateLimited,
    FaultKind::JiraServerError,
    FaultKind::SirThrottled,
    FaultKind::JiraAnswerLost,
    FaultKind::SirAnswerLost,
    FaultKind::AutomationDropped,
    FaultKind::AutomationDoubled,
    FaultKind::AutomationDelayed,
];

/// The kinds a plan's `severe_share` picks from.
const SEVERE_FAULTS: [FaultKind; 4] = [
    FaultKind::JiraCrashAfterWrite,
    FaultKind::SirCrashAfterWrite,
    FaultKind::JiraOutage,
    FaultKind::SirOutage,
];

impl FaultKind {
    pub const ALL: [FaultKind; 13] = [
        FaultKind::JiraRateLimited,
        FaultKind::JiraServerError,
        FaultKind::SirThrottled,
        FaultKind::JiraAnswerLost,
        FaultKind::SirAnswerLost,
        FaultKind::AutomationDropped,
        FaultKind::AutomationDoubled,
        FaultKind::AutomationDelayed,
        FaultKind::JiraCrashAfterWrite,
        FaultKind::SirCrashAfterWrite,
        FaultKind::JiraOutage,
        FaultKind::SirOutage,
        FaultKind::StoreRace,
    ];
}

/// The SIR writes the integration makes, whose answers a fault may lose.
const SIR_WRITES: [&str; 4] = [
    "CreateCase",
    "CreateCaseComment",
    "UpdateCase",
    "UpdateCaseStatus",
];
/// Parts of the Jira write paths whose answers a fault may lose.
const JIRA_WRITES: [&str; 3] = ["/comment", "/transitions", "/issue"];
/// The Jira writes (method, a part of the path) a crash may follow: a comment, a transition,
/// any POST (an issue created), an edit of an issue.
const JIRA_CRASH_WRITES: [(&str, &str); 4] = [
    ("POST", "/comment"),
    ("POST", "/transitions"),
    ("POST", "/issue"),
    ("PUT", "/issue/"),
];

impl SimWorld {
    pub(super) fn count_fault(&mut self, kind: FaultKind, detail: &str) {
        *self.faults_injected.entry(kind).or_default() += 1;
        self.log(format!("fault: {kind:?} {detail}").trim_end().to_owned());
    }

    /// The faults injected so far, by kind (an Automation fault counts when a message meets it).
    pub fn faults_injected(&self) -> &BTreeMap<FaultKind, usize> {
        &self.faults_injected
    }

    /// The store calls delayed so far, into the count of [`FaultKind::StoreRace`].
    pub(super) fn count_store_races(&mut self) {
        let delayed = self.sim_store.delayed_calls();
        if delayed > 0 {
            self.faults_injected.insert(FaultKind::StoreRace, delayed);
        }
    }

    /// Under the plan, at this action step, maybe one fault of a kind the seed picks, and maybe
    /// a crash or an outage.
    pub(super) fn maybe_inject_fault(&mut self) {
        let Some(plan) = self.fault_plan else {
            return;
        };
        self.maybe_inject_severe_fault(plan);
        if self.fault_rng.f64() >= plan.share {
            return;
        }
        let kind = STEP_FAULTS[self.fault_rng.usize(..STEP_FAULTS.len())];
        let detail = match kind {
            FaultKind::JiraRateLimited => {
                let count = self.fault_rng.u32(1..=6);
                self.jira.faults().fail_next(count, 429);
                format!("next {count} Jira requests")
            }
            FaultKind::JiraServerError => {
                let status = [500, 502, 503][self.fault_rng.usize(..3)];
                let count = self.fault_rng.u32(1..=5);
                self.jira.faults().fail_next(count, status);
                format!("next {count} Jira requests answered {status}")
            }
            FaultKind::SirThrottled => {
                let count = self.fault_rng.u32(1..=6);
                self.sir.faults().throttle_next(count);
                format!("next {count} SIR calls")
            }
            FaultKind::JiraAnswerLost => {
                let path = JIRA_WRITES[self.fault_rng.usize(..JIRA_WRITES.len())];
                self.jira.faults().fail_after_applying("POST", path, 504);
                format!("next POST …{path}")
            }
            FaultKind::SirAnswerLost => {
                let operation = SIR_WRITES[self.fault_rng.usize(..SIR_WRITES.len())];
                let calls = self.fault_rng.u32(1..=3);
                self.sir.faults().lose_answers(operation, 500, calls);
                format!("next {calls} {operation}")
            }
            FaultKind::AutomationDropped
            | FaultKind::AutomationDoubled
            | FaultKind::AutomationDelayed => {
                // Counted when the next message meets it.
                self.automation_fault = Some(kind);
                return;
            }
            // Drawn by `maybe_inject_severe_fault`, or by the store.
            FaultKind::JiraCrashAfterWrite
            | FaultKind::SirCrashAfterWrite
            | FaultKind::JiraOutage
            | FaultKind::SirOutage
            | FaultKind::StoreRace => return,
        };
        self.count_fault(kind, &detail);
    }

    /// With probability `plan.severe_share`, a crash after the next write of one side, or an
    /// outage of one side from now for [`OUTAGE_MIN`]–[`OUTAGE_MAX`] (virtual time).
    fn maybe_inject_severe_fault(&mut self, plan: FaultPlan) {
        if self.severe_rng.f64() >= plan.severe_share {
            return;
        }
        let kind = SEVERE_FAULTS[self.severe_rng.usize(..SEVERE_FAULTS.len())];
        let detail = match kind {
            FaultKind::JiraCrashAfterWrite => {
                let (method, path) =
                    JIRA_CRASH_WRITES[self.severe_rng.usize(..JIRA_CRASH_WRITES.len())];
                self.jira.faults().hang_after_applying(method, path);
                format!("next {method} …{path}")
            }
            FaultKind::SirCrashAfterWrite => {
                let operation = SIR_WRITES[self.severe_rng.usize(..SIR_WRITES.len())];
                self.sir.faults().hang_after_applying(operation);
                format!("next {operation}")
            }
            FaultKind::JiraOutage => {
                let span = self.outage_span();
                self.jira.faults().outage(span);
                format!("for {} s", span.as_secs())
            }
            FaultKind::SirOutage => {
                let span = self.outage_span();
                self.sir.faults().outage(span);
                format!("for {} s", span.as_secs())
            }
            _ => return,
        };
        self.count_fault(kind, &detail);
    }

    fn outage_span(&mut self) -> Duration {
        Duration::from_secs(
            self.severe_rng
                .u64(OUTAGE_MIN.as_secs()..=OUTAGE_MAX.as_secs()),
        )
    }
}
