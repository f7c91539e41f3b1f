//! What one run adds to the poller's metrics (see [`shared::metrics`]): cases listed, changes
//! published, pairs audited and deliveries the reconciler published again.

use shared::metrics::{InvocationMetrics, RecordFailure, RecordMetrics, names};

use crate::{PassReport, PollerError};

impl PassReport {
    /// What the run did, without saying whether it succeeded.
    fn record_work(&self, metrics: &mut InvocationMetrics) {
        if self.scheduled {
            metrics.level(names::OPEN_CASES, self.open);
        }
        metrics
            .count(names::CHANGES_PUBLISHED, self.published.len())
            .count(names::AUDITS, self.audited)
            .count(names::RECONCILER_REPAIRS, self.redelivered);
    }
}

impl RecordMetrics for PassReport {
    fn record_metrics(&self, metrics: &mut InvocationMetrics) {
        self.record_work(metrics);
        metrics.count(names::SUCCESSFUL_RUNS, 1);
    }
}

impl RecordFailure for PollerError {
    fn record_failure(&self, metrics: &mut InvocationMetrics) {
        if let PollerError::CasesFailed { done, .. } = self {
            done.record_work(metrics);
        }
    }
}
