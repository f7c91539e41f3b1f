//! What one invocation adds to jira-notifications-handler's metrics (see [`shared::metrics`]):
//! changes published, notifications with nothing new (echoes of the integration's own writing,
//! or an issue as last synced), intake messages refused by class or held back, and what the
//! sweep published.

use serde_json::Value;
use shared::metrics::{CLASS_DIMENSION, InvocationMetrics, RecordFailure, RecordMetrics, names};

use crate::sweep::SweepReport;
use crate::webhook::WebhookResponse;
use crate::{BatchReport, HandlerError, InvocationReport, NotificationOutcome};

fn record_outcome(metrics: &mut InvocationMetrics, outcome: NotificationOutcome) {
    use NotificationOutcome::*;
    match outcome {
        Created | Updated | Deleted => metrics.count(names::CHANGES_PUBLISHED, 1),
        Unchanged | OwnChange => metrics.count(names::ECHOES_SKIPPED, 1),
        Busy => metrics.count(names::INTAKE_THROTTLED, 1),
        FromSir | LinkBroken | UnknownIssue | Coalesced | OutsideCaseFilter => metrics,
    };
}

/// The outcome named in a function URL answer's body (`{"outcome": "Updated"}`).
fn webhook_outcome(name: &str) -> Option<NotificationOutcome> {
    NotificationOutcome::ALL
        .into_iter()
        .find(|outcome| format!("{outcome:?}") == name)
}

impl RecordMetrics for BatchReport {
    fn record_metrics(&self, metrics: &mut InvocationMetrics) {
        for record in &self.records {
            if let Some(outcome) = record.outcome {
                record_outcome(metrics, outcome);
            }
            if let Some(class) = record.rejected {
                metrics.count_by(names::INTAKE_REJECTED, CLASS_DIMENSION, class, 1);
            }
        }
        metrics.count(names::SUCCESSFUL_RUNS, 1);
    }
}

impl RecordMetrics for SweepReport {
    fn record_metrics(&self, metrics: &mut InvocationMetrics) {
        // Only what the sweep published: it re-reads issues already in sync by design, which
        // are no echoes.
        let published = self
            .issues
            .iter()
            .chain(&self.audited)
            .filter(|issue| {
                use NotificationOutcome::*;
                matches!(issue.outcome, Created | Updated | Deleted)
            })
            .count();
        metrics.count(names::CHANGES_PUBLISHED, published);
        metrics
            .count(names::AUDITS, self.audited.len())
            .count(names::SUCCESSFUL_RUNS, 1);
    }
}

impl RecordMetrics for WebhookResponse {
    fn record_metrics(&self, metrics: &mut InvocationMetrics) {
        let body: Value = serde_json::from_str(&self.body).unwrap_or_default();
        if let Some(class) = body.get("rejected").and_then(Value::as_str) {
            metrics.count_by(names::INTAKE_REJECTED, CLASS_DIMENSION, class, 1);
        }
        if let Some(outcome) = body
            .get("outcome")
            .and_then(Value::as_str)
            .and_then(webhook_outcome)
        {
            record_outcome(metrics, outcome);
        }
        metrics.count(names::SUCCESSFUL_RUNS, 1);
    }
}

impl RecordMetrics for InvocationReport {
    fn record_metrics(&self, metrics: &mut InvocationMetrics) {
        match self {
            InvocationReport::Notifications(batch) => batch.record_metrics(metrics),
            InvocationReport::Sweep(sweep) => sweep.record_metrics(metrics),
            InvocationReport::Webhook(response) => response.record_metrics(metrics),
        }
    }
}

/// A failed event: Lambda counts the error; nothing it wrote before is reported (the retry
/// finds it written and reports the rest).
impl RecordFailure for HandlerError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::WebhookResponse;
    use shared::metrics::{InvocationMetrics, parse_emf_line};

    fn metrics_of(report: &impl RecordMetrics) -> Vec<serde_json::Map<String, Value>> {
        let mut metrics = InvocationMetrics::new("handler");
        report.record_metrics(&mut metrics);
        metrics
            .documents(1)
            .iter()
            .map(|d| parse_emf_line(&d.to_string()).unwrap())
            .collect()
    }

    #[test]
    fn every_outcome_a_webhook_answer_names_is_read_back() {
        for outcome in NotificationOutcome::ALL {
            assert_eq!(webhook_outcome(&format!("{outcome:?}")), Some(outcome));
        }
        assert_eq!(webhook_outcome("Duplicate"), None);
    }

    #[test]
    fn a_webhook_answer_counts_its_rejection_class_or_its_outcome() {
        let rejected = metrics_of(&WebhookResponse::new(401, "rejected", "bad-signature"));
        assert!(
            rejected
                .iter()
                .any(|d| d.get("Class") == Some(&Value::from("bad-signature"))
                    && d.get("IntakeRejected") == Some(&Value::from(1.0)))
        );
        let busy = metrics_of(&WebhookResponse::new(429, "outcome", "Busy"));
        assert_eq!(busy[0].get("IntakeThrottled"), Some(&Value::from(1.0)));
        let echo = metrics_of(&WebhookResponse::new(200, "outcome", "OwnChange"));
        assert_eq!(echo[0].get("EchoesSkipped"), Some(&Value::from(1.0)));
    }
}
