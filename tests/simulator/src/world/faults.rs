//! Injected faults: under a [`FaultPlan`] the seed picks action steps at which one fault is
//! injected (Jira 429 bursts or 5xx, SIR throttling, a write applied and its answer lost, the
//! next Automation message dropped, doubled or delayed).

use std::collections::BTreeMap;

use super::SimWorld;

/// Which faults a run injects: at each responder action step, with probability `share`, one
/// fault of a kind the seed picks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultPlan {
    pub share: f64,
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self { share: 0.5 }
    }
}

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
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::JiraRateLimited,
        FaultKind::JiraServerError,
        FaultKind::SirThrottled,
        FaultKind::JiraAnswerLost,
        FaultKind::SirAnswerLost,
        FaultKind::AutomationDropped,
        FaultKind::AutomationDoubled,
        FaultKind::AutomationDelayed,
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

impl SimWorld {
    pub(super) fn count_fault(&mut self, kind: FaultKind, detail: &str) {
        *self.faults_injected.entry(kind).or_default() += 1;
        self.log(format!("fault: {kind:?} {detail}").trim_end().to_owned());
    }

    /// The faults injected so far, by kind (an Automation fault counts when a message meets it).
    pub fn faults_injected(&self) -> &BTreeMap<FaultKind, usize> {
        &self.faults_injected
    }

    /// Under the plan, at this action step, maybe one fault of a kind the seed picks.
    pub(super) fn maybe_inject_fault(&mut self) {
        let Some(plan) = self.fault_plan else {
            return;
        };
        if self.fault_rng.f64() >= plan.share {
            return;
        }
        let kind = FaultKind::ALL[self.fault_rng.usize(..FaultKind::ALL.len())];
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
        };
        self.count_fault(kind, &detail);
    }
}
